#ifndef WR_BENCH_PAYLOADS_H
#define WR_BENCH_PAYLOADS_H

/*
 * The payloads the decoder benchmarks measure, shared by bench_decode.c
 * (wall time) and bench_decode_fold.c (instruction counts under callgrind):
 * the object form the load generator publishes, {"ts":<ms>,"v":<x>}, and a
 * SenML pack of 50 records from one device, as a batching device sends it.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "decode.h"

#define BENCH_SENML_RECORDS 50
#define BENCH_KEYS 1000

/* {"ts":<ms>,"v":<x>} for time t_ms and a value that varies with i. */
static inline size_t bench_object_payload(char *buf, size_t cap, int64_t t_ms, unsigned i)
{
    int n =
        snprintf(buf, cap, "{\"ts\":%lld,\"v\":%u.%02u}", (long long)t_ms, 20 + i % 10, i % 100);

    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/*
 * A pack of BENCH_SENML_RECORDS records: base name and base time in the
 * first, then one name, value and time offset per record.
 */
static inline size_t bench_senml_payload(char *buf, size_t cap, int64_t t_s, unsigned dev)
{
    size_t used = 0;
    int n =
        snprintf(buf, cap, "[{\"bn\":\"dev%u/\",\"bt\":%lld,\"n\":\"s0\",\"u\":\"Cel\",\"v\":21.5}",
                 dev, (long long)t_s);

    if (n <= 0 || (size_t)n >= cap)
        return 0;
    used = (size_t)n;
    for (unsigned r = 1; r < BENCH_SENML_RECORDS; r++) {
        n = snprintf(buf + used, cap - used, ",{\"n\":\"s%u\",\"v\":%u.%u,\"t\":%u}", r % 10,
                     20 + r % 7, r % 10, r / 10);
        if (n <= 0 || (size_t)n >= cap - used)
            return 0;
        used += (size_t)n;
    }
    if (used + 2 > cap)
        return 0;
    buf[used++] = ']';
    buf[used] = '\0';
    return used;
}

static inline struct wr_decode_spec bench_spec(enum wr_payload_format format, const char *tmpl)
{
    struct wr_decode_spec spec;

    memset(&spec, 0, sizeof(spec));
    spec.format = format;
    spec.value_field = "v";
    spec.time_field = "ts";
    spec.time_unit = WR_TIME_AUTO;
    spec.key_template = tmpl;
    spec.max_payload_bytes = 65536;
    spec.stream = 0;
    return spec;
}

#endif /* WR_BENCH_PAYLOADS_H */
