/*
 * The decode + fold path in isolation, for instruction counts: decode each
 * message and fold its events into a window engine, as the pipeline does on
 * its two threads, minus the queue between them. scripts/callgrind-decode.sh
 * runs it under callgrind, collecting only inside measured_loop, so the
 * figure is instructions per event in steady state (keys and windows
 * already exist; windows keep closing as event time moves on).
 *     bench_decode_fold object|senml [messages]
 * Prints the events folded, the outcomes, and the plat allocations made in
 * the measured loop (the per-event path must make none).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_payloads.h"
#include "plat_mem.h"
#include "window.h"
#include "wr_error.h"

#define OBJECT_MAX 64
#define SENML_MAX 2048
#define ADVANCE_EVERY 100 /* messages between watermark advances */

struct message {
    char topic[32];
    size_t topic_len;
    char *payload;
    size_t len;
};

struct run {
    struct wr_window *window;
    struct wr_decode_spec spec;
    struct message *msgs;
    size_t n_msgs;
    int64_t t0_ms;
    unsigned long long events;
    unsigned long long outcomes[WR_WINDOW_NO_MEMORY + 1];
    unsigned long long results;
};

static long allocations;

static void *count_malloc(size_t n)
{
    allocations++;
    return malloc(n);
}

static void *count_calloc(size_t c, size_t n)
{
    allocations++;
    return calloc(c, n);
}

static void *count_realloc(void *p, size_t n)
{
    allocations++;
    return realloc(p, n);
}

static void on_result(void *ctx, const struct wr_result *result)
{
    struct run *r = ctx;

    (void)result;
    r->results++;
}

/* Messages [from, to): decode, stamp as ingest does, fold; advance now and then. */
static void fold_loop(struct run *r, size_t from, size_t to)
{
    static struct wr_event events[BENCH_SENML_RECORDS];

    for (size_t i = from; i < to; i++) {
        const struct message *m = &r->msgs[i];
        struct wr_now now;
        struct wr_decode_result res;

        now.wall_ms = r->t0_ms + (int64_t)i * 10;
        now.mono_ms = (uint64_t)i * 10;
        now.wall_plausible = true;
        if (wr_decode_message(&r->spec, m->topic, m->topic_len, m->payload, m->len, events,
                              BENCH_SENML_RECORDS, &res) != WR_OK)
            abort();
        for (size_t e = 0; e < res.n_events; e++) {
            enum wr_window_outcome out;

            events[e].arrival_mono_ms = now.mono_ms;
            if (!events[e].has_time)
                events[e].time_ms = now.wall_ms;
            if (wr_window_add(r->window, &events[e], &now, &out) != WR_OK)
                abort();
            r->outcomes[out]++;
        }
        r->events += res.n_events;
        if (i % ADVANCE_EVERY == ADVANCE_EVERY - 1)
            (void)wr_window_advance(r->window, &now, on_result, r);
    }
}

/* The only function callgrind collects in (--toggle-collect=measured_loop). */
__attribute__((noinline)) void measured_loop(struct run *r, size_t from, size_t to);
__attribute__((noinline)) void measured_loop(struct run *r, size_t from, size_t to)
{
    fold_loop(r, from, to);
}

int main(int argc, char **argv)
{
    static const struct plat_mem_hooks counting = {count_malloc, count_calloc, count_realloc, free};
    bool senml = argc > 1 && strcmp(argv[1], "senml") == 0;
    size_t n = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : (senml ? 2000 : 20000);
    size_t warm = n / 4;
    struct wr_window_stream_params sp;
    struct wr_window_params wp;
    struct run r;
    unsigned long long warm_events;

    if (argc < 2 || (!senml && strcmp(argv[1], "object") != 0) || n < 8) {
        fprintf(stderr, "usage: %s object|senml [messages >= 8]\n", argv[0]);
        return 2;
    }
    memset(&r, 0, sizeof(r));
    memset(&sp, 0, sizeof(sp));
    sp.size_s = 1;
    sp.allowed_lateness_s = 10;
    sp.max_future_s = 3600;
    sp.max_keys = senml ? 10 * BENCH_KEYS : BENCH_KEYS;
    memset(&wp, 0, sizeof(wp));
    wp.streams = &sp;
    wp.n_streams = 1;
    if (wr_window_create(&wp, &r.window) != WR_OK) {
        fprintf(stderr, "bench_decode_fold: cannot create the window engine\n");
        return 1;
    }
    r.spec = bench_spec(WR_FORMAT_AUTO, senml ? "{topic[1]}/{name}" : "{topic[1]}");
    r.t0_ms = 1700000000000;
    r.n_msgs = n;
    r.msgs = calloc(n, sizeof(*r.msgs));
    if (r.msgs == NULL)
        return 1;
    /*
     * Message i comes from device i % 1000 at 10 ms steps of event time (a
     * pack's records span 5 s), so windows open and close throughout.
     */
    for (size_t i = 0; i < n; i++) {
        struct message *m = &r.msgs[i];
        size_t cap = senml ? SENML_MAX : OBJECT_MAX;
        unsigned dev = (unsigned)(i % BENCH_KEYS);

        m->topic_len = (size_t)snprintf(m->topic, sizeof(m->topic), "site/dev%u/temp", dev);
        m->payload = malloc(cap);
        if (m->payload == NULL)
            return 1;
        m->len =
            senml
                ? bench_senml_payload(m->payload, cap, (r.t0_ms + (int64_t)i * 10) / 1000 - 5, dev)
                : bench_object_payload(m->payload, cap, r.t0_ms + (int64_t)i * 10, (unsigned)i);
        if (m->len == 0)
            return 1;
    }

    fold_loop(&r, 0, warm); /* keys and windows exist before measuring */
    warm_events = r.events;
    memset(r.outcomes, 0, sizeof(r.outcomes));
    plat_mem_set_hooks(&counting);
    measured_loop(&r, warm, n);
    plat_mem_set_hooks(NULL);

    printf("form=%s messages=%zu events=%llu results=%llu added=%llu late=%llu future=%llu "
           "key_limit=%llu no_memory=%llu allocations=%ld\n",
           senml ? "senml" : "object", n - warm, r.events - warm_events, r.results,
           r.outcomes[WR_WINDOW_ADDED], r.outcomes[WR_WINDOW_LATE], r.outcomes[WR_WINDOW_FUTURE],
           r.outcomes[WR_WINDOW_KEY_LIMIT], r.outcomes[WR_WINDOW_NO_MEMORY], allocations);
    for (size_t i = 0; i < n; i++)
        free(r.msgs[i].payload);
    free(r.msgs);
    wr_window_destroy(r.window);
    return r.outcomes[WR_WINDOW_ADDED] == r.events - warm_events ? 0 : 1;
}
