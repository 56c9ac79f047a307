/*
 * Micro-benchmark of the payload decoder alone: ns per message for the
 * object form {"ts":<ms>,"v":<x>} and ns per record for SenML packs of 50
 * records. Not a test (timings depend on the machine and its load); run by
 * hand on a quiet machine:
 *     bench_decode [seconds per form, default 1]
 * Each form runs over 1,000 distinct topics and payloads prepared in advance,
 * so the loop measures decoding, not formatting.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_payloads.h"
#include "wr_error.h"

#define N_PAYLOADS 1000
#define OBJECT_MAX 64
#define SENML_MAX 2048

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct corpus {
    char topic[N_PAYLOADS][32];
    size_t topic_len[N_PAYLOADS];
    char *payload[N_PAYLOADS];
    size_t len[N_PAYLOADS];
};

/* Decode the corpus round after round for about `seconds`; returns ns per event. */
static double run(const struct corpus *c, const struct wr_decode_spec *spec, double seconds,
                  size_t events_per_message, unsigned long long *events_out)
{
    static struct wr_event events[BENCH_SENML_RECORDS];
    unsigned long long events_total = 0;
    double start = now_s();
    double elapsed;

    do {
        for (unsigned i = 0; i < N_PAYLOADS; i++) {
            struct wr_decode_result res;

            if (wr_decode_message(spec, c->topic[i], c->topic_len[i], c->payload[i], c->len[i],
                                  events, BENCH_SENML_RECORDS, &res) != WR_OK ||
                res.n_events != events_per_message) {
                fprintf(stderr, "bench_decode: payload %u decoded to %zu events\n", i,
                        res.n_events);
                exit(1);
            }
            events_total += res.n_events;
        }
        elapsed = now_s() - start;
    } while (elapsed < seconds);
    *events_out = events_total;
    return elapsed * 1e9 / (double)events_total;
}

int main(int argc, char **argv)
{
    static struct corpus objects;
    static struct corpus packs;
    static char object_buf[N_PAYLOADS][OBJECT_MAX];
    static char senml_buf[N_PAYLOADS][SENML_MAX];
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    struct wr_decode_spec obj_spec = bench_spec(WR_FORMAT_AUTO, "{topic[1]}");
    struct wr_decode_spec senml_spec = bench_spec(WR_FORMAT_AUTO, "{topic[1]}/{name}");
    unsigned long long n_obj;
    unsigned long long n_senml;
    double ns_obj;
    double ns_senml;

    if (!(seconds > 0.0))
        seconds = 1.0;
    for (unsigned i = 0; i < N_PAYLOADS; i++) {
        int n = snprintf(objects.topic[i], sizeof(objects.topic[i]), "site/dev%u/temp", i);

        objects.topic_len[i] = (size_t)n;
        memcpy(packs.topic[i], objects.topic[i], (size_t)n + 1);
        packs.topic_len[i] = (size_t)n;
        objects.payload[i] = object_buf[i];
        objects.len[i] =
            bench_object_payload(object_buf[i], OBJECT_MAX, 1700000000000 + (int64_t)i * 7, i);
        packs.payload[i] = senml_buf[i];
        packs.len[i] = bench_senml_payload(senml_buf[i], SENML_MAX, 1700000000 + i, i);
        if (objects.len[i] == 0 || packs.len[i] == 0) {
            fprintf(stderr, "bench_decode: payload buffer too small\n");
            return 1;
        }
    }
    ns_obj = run(&objects, &obj_spec, seconds, 1, &n_obj);
    ns_senml = run(&packs, &senml_spec, seconds, BENCH_SENML_RECORDS, &n_senml);
    printf("form,unit,ns,events\n");
    printf("object {\"ts\":<ms>,\"v\":<x>},ns/message,%.1f,%llu\n", ns_obj, n_obj);
    printf("senml pack of %d,ns/record,%.1f,%llu\n", BENCH_SENML_RECORDS, ns_senml, n_senml);
    printf("example object: %.*s\n", (int)objects.len[1], objects.payload[1]);
    printf("example pack (%zu bytes): %.80s...\n", packs.len[1], packs.payload[1]);
    return 0;
}
