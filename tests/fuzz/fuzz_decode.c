/*
 * Fuzz target for the payload decoder: every input is decoded under each
 * payload format and several time units, and the decoder's promises are
 * checked: it never fails on bad input, every event is well formed, and the
 * single-value forms account for exactly one event or one drop. Then the
 * input is decoded for three streams at once, which must give per stream the
 * events decoding for that stream alone gives, and the drops summed.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "fuzz.h"
#include "wr_error.h"

#define FUZZ_MAX_EVENTS 8

/* 10000-01-01T00:00:00Z in Unix ms, the decoder's upper bound for times. */
#define FUZZ_TIME_MS_LIMIT 253402300800000LL

static void check(int ok)
{
    if (!ok)
        abort();
}

static void decode_once(const struct wr_decode_spec *spec, const uint8_t *data, size_t size)
{
    static const char topic[] = "site/dev42/temp";
    struct wr_event events[FUZZ_MAX_EVENTS];
    struct wr_decode_result res;
    uint64_t drops = 0;
    int rc;

    rc = wr_decode_message(spec, topic, sizeof(topic) - 1, data, size, events, FUZZ_MAX_EVENTS,
                           &res);
    check(rc == WR_OK || rc == WR_E_NOMEM);
    if (rc != WR_OK)
        return;
    check(res.n_events <= FUZZ_MAX_EVENTS);
    for (int i = 0; i < WR_DROP_REASON_COUNT; i++)
        drops += res.drops[i];
    for (size_t i = 0; i < res.n_events; i++) {
        const struct wr_event *ev = &events[i];
        const char *key_end = memchr(ev->key, '\0', sizeof(ev->key));

        check(key_end != NULL && key_end != ev->key);
        check(isfinite(ev->value));
        check(ev->stream == spec->stream);
        check(ev->arrival_mono_ms == 0);
        if (ev->has_time)
            check(ev->time_ms >= 0 && ev->time_ms < FUZZ_TIME_MS_LIMIT);
        else
            check(ev->time_ms == 0);
    }
    /* Only a SenML pack can yield several results, or none (the empty pack). */
    if (spec->format == WR_FORMAT_JSON || spec->format == WR_FORMAT_NUMBER)
        check(res.n_events + drops == 1);
    if (res.drops[WR_DROP_OVERSIZE] != 0)
        check(res.n_events == 0 && drops == 1);
}

/* wr_decode_message_multi over specs == wr_decode_message per spec. */
static void check_multi(const struct wr_decode_spec *const *specs, size_t n, const uint8_t *data,
                        size_t size)
{
    static const char topic[] = "site/dev42/temp";
    struct wr_event all[FUZZ_MAX_EVENTS * 3];
    struct wr_decode_result res;
    uint64_t drops[WR_DROP_REASON_COUNT] = {0};
    size_t total = 0;

    check(wr_decode_message_multi(specs, n, topic, sizeof(topic) - 1, data, size, all,
                                  FUZZ_MAX_EVENTS * 3, &res) == WR_OK);
    check(res.n_events <= FUZZ_MAX_EVENTS * 3);
    for (size_t s = 0; s < n; s++) {
        struct wr_event one[FUZZ_MAX_EVENTS * 3];
        struct wr_decode_result r1;

        check(wr_decode_message(specs[s], topic, sizeof(topic) - 1, data, size, one,
                                FUZZ_MAX_EVENTS * 3, &r1) == WR_OK);
        total += r1.n_events + r1.drops[WR_DROP_TOO_MANY_RECORDS];
    }
    /* Only when everything fits does the shared array not shift events into TOO_MANY. */
    if (total > FUZZ_MAX_EVENTS * 3)
        return;
    for (size_t s = 0; s < n; s++) {
        struct wr_event one[FUZZ_MAX_EVENTS * 3];
        struct wr_decode_result r1;
        size_t k = 0;

        check(wr_decode_message(specs[s], topic, sizeof(topic) - 1, data, size, one,
                                FUZZ_MAX_EVENTS * 3, &r1) == WR_OK);
        for (int r = 0; r < WR_DROP_REASON_COUNT; r++)
            drops[r] += r1.drops[r];
        for (size_t i = 0; i < res.n_events; i++) {
            if (all[i].stream != specs[s]->stream)
                continue;
            check(k < r1.n_events);
            check(strcmp(all[i].key, one[k].key) == 0);
            check(memcmp(&all[i].value, &one[k].value, sizeof(double)) == 0);
            check(all[i].has_time == one[k].has_time && all[i].time_ms == one[k].time_ms);
            k++;
        }
        check(k == r1.n_events);
    }
    for (int r = 0; r < WR_DROP_REASON_COUNT; r++)
        check(res.drops[r] == drops[r]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum wr_payload_format formats[] = {WR_FORMAT_AUTO, WR_FORMAT_JSON,
                                                     WR_FORMAT_NUMBER, WR_FORMAT_SENML};
    static const enum wr_time_unit units[] = {WR_TIME_AUTO, WR_TIME_S, WR_TIME_MS};
    struct wr_decode_spec spec;

    memset(&spec, 0, sizeof(spec));
    spec.value_field = "value";
    spec.time_field = "ts";
    spec.key_template = "{topic[1]}/{name}";
    spec.max_payload_bytes = 1u << 16;
    spec.stream = 3;
    for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
        spec.format = formats[f];
        for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
            spec.time_unit = units[u];
            decode_once(&spec, data, size);
        }
    }
    /* A tight size limit and a template without {name}. */
    spec.format = WR_FORMAT_AUTO;
    spec.time_unit = WR_TIME_AUTO;
    spec.key_template = "{topic}";
    spec.max_payload_bytes = 16;
    decode_once(&spec, data, size);

    {
        struct wr_decode_spec a = spec;
        struct wr_decode_spec b = spec;
        struct wr_decode_spec c = spec;
        const struct wr_decode_spec *three[] = {&a, &b, &c};

        a.stream = 0;
        a.max_payload_bytes = 1u << 16;
        a.key_template = "{topic[1]}/{name}";
        b.stream = 1;
        b.max_payload_bytes = 1u << 16;
        b.value_field = "v";
        b.time_field = "t";
        b.time_unit = WR_TIME_MS;
        b.key_template = "{name}-{topic[0]}-{name}";
        c.stream = 2;
        c.format = WR_FORMAT_SENML;
        c.max_payload_bytes = 1u << 16;
        c.key_template = "{name}";
        check_multi(three, 3, data, size);
    }
    return 0;
}
