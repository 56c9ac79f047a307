#include "test_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sketch.h"
#include "window.h"
#include "wr_error.h"

/*
 * Every test drives time by hand through struct wr_now: the engine never
 * reads a clock. Unless a test says otherwise the wall clock is marked
 * implausible, so the FUTURE check stays out of the way.
 */

#define MAX_RESULTS 256

struct sink {
    struct wr_result r[MAX_RESULTS];
    size_t n;
    /* The last result's sketch bytes: a result's view lasts only for the emit call. */
    uint8_t sketch[8192];
    uint32_t sketch_len;
};

static struct sink sink;
static struct sink sink2;

static void sink_emit(void *ctx, const struct wr_result *r)
{
    struct sink *s = ctx;

    assert_true(s->n < MAX_RESULTS);
    assert_null(r->agg.sketch);
    assert_true(r->sketch_len <= sizeof(s->sketch));
    s->sketch_len = r->sketch_len;
    if (r->sketch_len > 0)
        memcpy(s->sketch, r->sketch, r->sketch_len);
    s->r[s->n] = *r;
    s->r[s->n++].sketch = NULL;
}

static struct wr_now at(uint64_t mono_ms)
{
    struct wr_now now;

    memset(&now, 0, sizeof(now));
    now.mono_ms = mono_ms;
    now.wall_plausible = false;
    return now;
}

static struct wr_event mkev(uint16_t stream, const char *key, int64_t t_ms, double value,
                            bool has_time)
{
    struct wr_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.stream = stream;
    ev.time_ms = t_ms;
    ev.value = value;
    ev.has_time = has_time;
    snprintf(ev.key, sizeof(ev.key), "%s", key);
    return ev;
}

static enum wr_window_outcome add_full(struct wr_window *w, uint16_t stream, const char *key,
                                       int64_t t_ms, double value, bool has_time, uint64_t mono_ms)
{
    struct wr_event ev = mkev(stream, key, t_ms, value, has_time);
    struct wr_now now = at(mono_ms);
    enum wr_window_outcome out = WR_WINDOW_NO_MEMORY;

    assert_int_equal(wr_window_add(w, &ev, &now, &out), WR_OK);
    return out;
}

static enum wr_window_outcome add(struct wr_window *w, const char *key, int64_t t_ms, double value,
                                  uint64_t mono_ms)
{
    return add_full(w, 0, key, t_ms, value, true, mono_ms);
}

static int advance(struct wr_window *w, uint64_t mono_ms, struct sink *s)
{
    struct wr_now now = at(mono_ms);

    s->n = 0;
    return wr_window_advance(w, &now, sink_emit, s);
}

static struct wr_window_stream_params stream_params(void)
{
    struct wr_window_stream_params sp;

    memset(&sp, 0, sizeof(sp));
    sp.size_s = 10;
    sp.allowed_lateness_s = 0;
    sp.max_future_s = 60;
    sp.max_keys = 16;
    sp.revise_late = false;
    sp.revise_horizon_s = 0;
    return sp;
}

static struct wr_window *make(const struct wr_window_stream_params *sp, size_t n_streams,
                              uint32_t max_keys_total, uint64_t budget)
{
    struct wr_window_params p;
    struct wr_window *w = NULL;

    memset(&p, 0, sizeof(p));
    p.streams = sp;
    p.n_streams = n_streams;
    p.max_keys_total = max_keys_total;
    p.memory_budget_bytes = budget;
    assert_int_equal(wr_window_create(&p, &w), WR_OK);
    assert_non_null(w);
    return w;
}

static struct wr_window *make1(const struct wr_window_stream_params *sp)
{
    return make(sp, 1, 0, 0);
}

static void assert_result(const struct wr_result *r, int64_t start, const char *key,
                          uint32_t revision, uint64_t count)
{
    assert_int_equal(r->start_ms, start);
    assert_string_equal(r->key, key);
    assert_int_equal(r->revision, revision);
    assert_int_equal(r->agg.count, count);
}

/* ---- create and argument checks ------------------------------------------------------------ */

static void test_window_create_rejects_bad_params(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window_params p;
    struct wr_window *w = NULL;

    (void)state;
    memset(&p, 0, sizeof(p));
    p.streams = &sp;
    p.n_streams = 1;
    assert_int_equal(wr_window_create(NULL, &w), WR_E_INVAL);
    assert_int_equal(wr_window_create(&p, NULL), WR_E_INVAL);
    p.n_streams = 0;
    assert_int_equal(wr_window_create(&p, &w), WR_E_INVAL);
    p.n_streams = 1;
    sp.size_s = 0;
    assert_int_equal(wr_window_create(&p, &w), WR_E_INVAL);
    sp.size_s = 10;
    sp.max_keys = 0;
    assert_int_equal(wr_window_create(&p, &w), WR_E_INVAL);
    sp.max_keys = 4;
    p.memory_budget_bytes = 64; /* not even the engine itself fits */
    assert_int_equal(wr_window_create(&p, &w), WR_E_NOMEM);
    assert_null(w);
    wr_window_destroy(NULL);
}

static void test_window_add_rejects_invalid(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w = make1(&sp);
    struct wr_now now = at(0);
    struct wr_event ev = mkev(0, "k", 10000, 1.0, true);
    enum wr_window_outcome out;
    struct wr_window_stats st;

    (void)state;
    assert_int_equal(wr_window_add(NULL, &ev, &now, &out), WR_E_INVAL);
    assert_int_equal(wr_window_add(w, NULL, &now, &out), WR_E_INVAL);
    assert_int_equal(wr_window_add(w, &ev, NULL, &out), WR_E_INVAL);
    assert_int_equal(wr_window_add(w, &ev, &now, NULL), WR_E_INVAL);
    ev.value = NAN;
    assert_int_equal(wr_window_add(w, &ev, &now, &out), WR_E_INVAL);
    ev.value = INFINITY;
    assert_int_equal(wr_window_add(w, &ev, &now, &out), WR_E_INVAL);
    ev.value = 1.0;
    ev.stream = 1;
    assert_int_equal(wr_window_add(w, &ev, &now, &out), WR_E_INVAL);
    ev.stream = 0;
    memset(ev.key, 'x', sizeof(ev.key)); /* no terminator */
    assert_int_equal(wr_window_add(w, &ev, &now, &out), WR_E_INVAL);
    assert_int_equal(advance(w, 0, &sink), 0);
    assert_int_equal(wr_window_advance(w, NULL, sink_emit, &sink), WR_E_INVAL);
    assert_int_equal(wr_window_advance(w, &now, NULL, &sink), WR_E_INVAL);
    wr_window_get_stats(w, &st);
    assert_int_equal(st.windows_open, 0);
    assert_int_equal(st.keys, 0);
    wr_window_destroy(w);
}

/* ---- assignment and closing ---------------------------------------------------------------- */

static void test_window_assigns_epoch_aligned(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w = make1(&sp);

    (void)state;
    /* A negative time belongs to [-10000, 0): floor, not truncation. */
    assert_int_equal(add(w, "k", -1, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "k", 20000, 2.0, 0), WR_WINDOW_ADDED); /* exactly at start */
    assert_int_equal(add(w, "k", 29999, 3.0, 0), WR_WINDOW_ADDED); /* end - 1 ms */
    assert_int_equal(add(w, "k", 30000, 4.0, 0), WR_WINDOW_ADDED); /* end: next window */
    assert_int_equal(advance(w, 100000, &sink), 3);
    assert_result(&sink.r[0], -10000, "k", 0, 1);
    assert_result(&sink.r[1], 20000, "k", 0, 2);
    assert_true(sink.r[1].agg.sum == 5.0);
    assert_result(&sink.r[2], 30000, "k", 0, 1);
    assert_int_equal(sink.r[2].size_s, 10);
    assert_int_equal(sink.r[2].stream, 0);
    wr_window_destroy(w);
}

static void test_window_closes_only_when_watermark_passes_end(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w = make1(&sp);
    struct wr_window_stats st;

    (void)state;
    assert_int_equal(add(w, "k", 10500, 1.0, 1000), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 1000, &sink), 0);
    assert_int_equal(advance(w, 1000 + 9499, &sink), 0); /* W = 19999 */
    wr_window_get_stats(w, &st);
    assert_int_equal(st.windows_open, 1);
    assert_int_equal(advance(w, 1000 + 9500, &sink), 1); /* W = 20000 = end */
    assert_result(&sink.r[0], 10000, "k", 0, 1);
    assert_int_equal(advance(w, 1000 + 9500, &sink), 0); /* emitted once only */
    wr_window_get_stats(w, &st);
    assert_int_equal(st.windows_open, 0);
    assert_int_equal(st.windows_retained, 0);
    assert_int_equal(st.keys, 0);
    wr_window_destroy(w);
}

static void test_window_quiet_stream_closes_via_mono_clock(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w = make1(&sp);

    (void)state;
    /* One event, then silence: the stream clock runs on with the monotonic clock. */
    assert_int_equal(add(w, "k", 1005000, 7.0, 500), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 500 + 4999, &sink), 0);
    assert_int_equal(advance(w, 500 + 5000, &sink), 1);
    assert_result(&sink.r[0], 1000000, "k", 0, 1);
    wr_window_destroy(w);
}

static void test_window_allowed_lateness_keeps_window_open(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;

    (void)state;
    sp.allowed_lateness_s = 5;
    w = make1(&sp);
    assert_int_equal(add(w, "k", 10500, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "k", 21000, 2.0, 0), WR_WINDOW_ADDED); /* W = 16000 */
    assert_int_equal(advance(w, 0, &sink), 0);
    assert_int_equal(add(w, "k", 15000, 3.0, 0), WR_WINDOW_ADDED); /* in time thanks to lateness */
    assert_int_equal(advance(w, 3999, &sink), 0);                  /* W = 19999 */
    assert_int_equal(advance(w, 4000, &sink), 1);                  /* W = 20000 */
    assert_result(&sink.r[0], 10000, "k", 0, 2);
    assert_true(sink.r[0].agg.sum == 4.0);
    wr_window_destroy(w);
}

static void test_window_watermark_never_moves_back(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;
    int64_t clock;

    (void)state;
    sp.allowed_lateness_s = 5;
    w = make1(&sp);
    assert_int_equal(add(w, "k", 10500, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 14500, &sink), 1); /* quiet stream: W = 25000 - 5000 */
    /*
     * The next event's time lags real time (a device that buffers): it is
     * accepted and is now the highest event time, yet the clock must not
     * fall back to it, or [10000, 20000) would open again and be emitted a
     * second time as revision 0.
     */
    assert_int_equal(add(w, "k", 21000, 2.0, 14600), WR_WINDOW_ADDED);
    assert_int_equal(wr_window_stream_clock(w, 0, &clock), WR_OK);
    assert_int_equal(clock, 21000);
    assert_int_equal(add(w, "k", 15000, 3.0, 14700), WR_WINDOW_LATE);
    assert_int_equal(advance(w, 24499, &sink), 0); /* W = 10500 + 24499 - 5000 */
    assert_int_equal(advance(w, 24500, &sink), 1);
    assert_result(&sink.r[0], 20000, "k", 0, 1);
    wr_window_destroy(w);
}

static void test_window_late_event_dropped(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w = make1(&sp);

    (void)state;
    assert_int_equal(add(w, "k", 10500, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "k", 25000, 2.0, 0), WR_WINDOW_ADDED); /* W = 25000 */
    /* Past the watermark but advance has not closed it yet: still folded. */
    assert_int_equal(add(w, "k", 11000, 3.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 0, &sink), 1);
    assert_result(&sink.r[0], 10000, "k", 0, 2);
    assert_int_equal(add(w, "k", 12000, 4.0, 0), WR_WINDOW_LATE);
    assert_int_equal(add(w, "other", 12000, 4.0, 0), WR_WINDOW_LATE);
    assert_int_equal(add(w, "k", 19999, 4.0, 0), WR_WINDOW_LATE);
    assert_int_equal(add(w, "k", 20000, 5.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 0, &sink), 0);
    /* A late event does not move the clock. */
    assert_int_equal(advance(w, 4999, &sink), 0);
    assert_int_equal(advance(w, 5000, &sink), 1);
    assert_result(&sink.r[0], 20000, "k", 0, 2);
    wr_window_destroy(w);
}

static void test_window_revise_emits_revisions(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;
    struct wr_window_stats st;

    (void)state;
    sp.revise_late = true;
    sp.revise_horizon_s = 60;
    w = make1(&sp);
    assert_int_equal(add(w, "k", 10500, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "k", 25000, 10.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 0, &sink), 1);
    assert_result(&sink.r[0], 10000, "k", 0, 1);
    wr_window_get_stats(w, &st);
    assert_int_equal(st.windows_retained, 1);

    assert_int_equal(add(w, "k", 11000, 3.0, 0), WR_WINDOW_REVISED);
    assert_int_equal(advance(w, 0, &sink), 1);
    assert_result(&sink.r[0], 10000, "k", 1, 2);
    assert_true(sink.r[0].agg.sum == 4.0);
    assert_true(sink.r[0].agg.mean == 2.0);
    assert_true(sink.r[0].agg.max == 3.0);

    assert_int_equal(add(w, "k", 12000, 5.0, 0), WR_WINDOW_REVISED);
    assert_int_equal(add(w, "k", 10000, -1.0, 0), WR_WINDOW_REVISED);
    assert_int_equal(advance(w, 0, &sink), 1);
    assert_result(&sink.r[0], 10000, "k", 2, 4);
    assert_true(sink.r[0].agg.sum == 8.0);
    assert_true(sink.r[0].agg.first == -1.0);
    assert_true(sink.r[0].agg.last == 5.0);
    assert_int_equal(advance(w, 0, &sink), 0);

    /* A late window that never existed is created closed and first emitted as revision 0. */
    assert_int_equal(add(w, "new", 13000, 6.0, 0), WR_WINDOW_REVISED);
    wr_window_get_stats(w, &st);
    assert_int_equal(st.windows_open, 2); /* k@20000 and new@10000, neither emitted */
    assert_int_equal(st.windows_retained, 1);
    assert_int_equal(add(w, "new", 14000, 1.0, 0), WR_WINDOW_REVISED);
    assert_int_equal(advance(w, 0, &sink), 1);
    assert_result(&sink.r[0], 10000, "new", 0, 2);
    assert_int_equal(add(w, "new", 15000, 1.0, 0), WR_WINDOW_REVISED);
    assert_int_equal(advance(w, 0, &sink), 1);
    assert_result(&sink.r[0], 10000, "new", 1, 3);
    wr_window_destroy(w);
}

static void test_window_revise_beyond_horizon_is_late(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;
    struct wr_window_stats st;

    (void)state;
    sp.revise_late = true;
    sp.revise_horizon_s = 10;
    w = make1(&sp);
    assert_int_equal(add(w, "k", 10500, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "k", 25000, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 0, &sink), 1);
    /* W = 29999: [10000, 20000) is still inside its horizon (20000 + 10000 > W). */
    assert_int_equal(add(w, "k", 29999, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "k", 11000, 1.0, 0), WR_WINDOW_REVISED);
    /* W = 30000: past the horizon, even before advance forgets the window. */
    assert_int_equal(add(w, "k", 30000, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "k", 11000, 1.0, 0), WR_WINDOW_LATE);
    assert_int_equal(add(w, "fresh", 11000, 1.0, 0), WR_WINDOW_LATE);
    /* The pending revision still goes out, then the window is forgotten. */
    assert_int_equal(advance(w, 0, &sink), 2);
    assert_result(&sink.r[0], 10000, "k", 1, 2);
    assert_result(&sink.r[1], 20000, "k", 0, 2);
    wr_window_get_stats(w, &st);
    assert_int_equal(st.windows_retained, 1); /* only k@20000 */
    assert_int_equal(st.windows_open, 1);     /* k@30000 */
    assert_int_equal(add(w, "k", 11000, 1.0, 0), WR_WINDOW_LATE);
    wr_window_destroy(w);
}

static void test_window_future_drop(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w = make1(&sp);
    struct wr_event ev = mkev(0, "k", 1060000, 1.0, true);
    struct wr_now now = at(0);
    enum wr_window_outcome out;
    int64_t clock;

    (void)state;
    now.wall_ms = 1000000;
    now.wall_plausible = true;
    assert_int_equal(wr_window_add(w, &ev, &now, &out), WR_OK);
    assert_int_equal(out, WR_WINDOW_ADDED); /* exactly max_future ahead is allowed */
    ev.time_ms = 1060001;
    assert_int_equal(wr_window_add(w, &ev, &now, &out), WR_OK);
    assert_int_equal(out, WR_WINDOW_FUTURE);
    ev.time_ms = INT64_MAX;
    assert_int_equal(wr_window_add(w, &ev, &now, &out), WR_OK);
    assert_int_equal(out, WR_WINDOW_FUTURE);
    /* A future event must not drag the clock. */
    assert_int_equal(wr_window_stream_clock(w, 0, &clock), WR_OK);
    assert_int_equal(clock, 1060000);

    /* Without a plausible wall clock there is nothing to compare against. */
    now.wall_plausible = false;
    ev.time_ms = 1000000000000;
    assert_int_equal(wr_window_add(w, &ev, &now, &out), WR_OK);
    assert_int_equal(out, WR_WINDOW_ADDED);
    assert_int_equal(wr_window_stream_clock(w, 0, &clock), WR_OK);
    assert_int_equal(clock, 1000000000000);
    wr_window_destroy(w);
}

/* ---- keys and memory ----------------------------------------------------------------------- */

static void test_window_key_limit_per_stream(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;
    struct wr_window_stats st;

    (void)state;
    sp.max_keys = 2;
    w = make1(&sp);
    assert_int_equal(add(w, "a", 10500, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "b", 10600, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "c", 10700, 1.0, 0), WR_WINDOW_KEY_LIMIT);
    assert_int_equal(add(w, "a", 25000, 1.0, 0), WR_WINDOW_ADDED); /* known key, new window */
    assert_int_equal(add(w, "c", 25100, 1.0, 0), WR_WINDOW_KEY_LIMIT);
    wr_window_get_stats(w, &st);
    assert_int_equal(st.keys, 2);
    /* Closing b's only window frees its key; a still holds a window. */
    assert_int_equal(advance(w, 0, &sink), 2);
    wr_window_get_stats(w, &st);
    assert_int_equal(st.keys, 1);
    assert_int_equal(add(w, "c", 25200, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "b", 25300, 1.0, 0), WR_WINDOW_KEY_LIMIT);
    wr_window_destroy(w);
}

static void test_window_key_limit_total(void **state)
{
    struct wr_window_stream_params sp[2];
    struct wr_window *w;
    struct wr_window_stats st;

    (void)state;
    sp[0] = stream_params();
    sp[1] = stream_params();
    sp[0].max_keys = 3;
    sp[1].max_keys = 3;
    w = make(sp, 2, 4, 0);
    assert_int_equal(add_full(w, 0, "a", 10500, 1.0, true, 0), WR_WINDOW_ADDED);
    assert_int_equal(add_full(w, 0, "b", 10500, 1.0, true, 0), WR_WINDOW_ADDED);
    assert_int_equal(add_full(w, 0, "c", 10500, 1.0, true, 0), WR_WINDOW_ADDED);
    assert_int_equal(add_full(w, 0, "d", 10500, 1.0, true, 0), WR_WINDOW_KEY_LIMIT);
    /* The same key name in another stream is another key. */
    assert_int_equal(add_full(w, 1, "a", 10500, 1.0, true, 0), WR_WINDOW_ADDED);
    assert_int_equal(add_full(w, 1, "b", 10500, 1.0, true, 0), WR_WINDOW_KEY_LIMIT);
    wr_window_get_stats(w, &st);
    assert_int_equal(st.keys, 4);
    /* Once stream 0's windows close, their keys are free for stream 1. */
    assert_int_equal(advance(w, 10000, &sink), 4);
    assert_int_equal(add_full(w, 1, "b", 20500, 1.0, true, 10000), WR_WINDOW_ADDED);
    assert_int_equal(add_full(w, 1, "c", 20500, 1.0, true, 10000), WR_WINDOW_ADDED);
    wr_window_destroy(w);
}

static void test_window_memory_budget_no_memory(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;
    struct wr_window_stats st;
    size_t added = 0;
    size_t no_memory = 0;
    char key[16];

    (void)state;
    sp.max_keys = 1000;
    w = make(&sp, 1, 0, 16384);
    wr_window_get_stats(w, &st);
    assert_true(st.memory_bytes > 0);
    assert_true(st.memory_bytes <= 16384);
    for (int i = 0; i < 1000; i++) {
        enum wr_window_outcome out;

        snprintf(key, sizeof(key), "k%d", i);
        out = add(w, key, 10500, 1.0, 0);
        assert_true(out == WR_WINDOW_ADDED || out == WR_WINDOW_NO_MEMORY);
        if (out == WR_WINDOW_ADDED)
            added++;
        else
            no_memory++;
    }
    assert_true(added > 0);
    assert_true(no_memory > 0);
    wr_window_get_stats(w, &st);
    assert_int_equal(st.windows_open, added);
    /* Grown to the ceiling the budget allows, and not past it. */
    assert_true(st.memory_bytes <= 16384);
    /* Closing the windows gives the slots back. */
    assert_int_equal(advance(w, 20000, &sink), (int)added);
    assert_int_equal(add(w, "k999", 31000, 1.0, 20000), WR_WINDOW_ADDED);
    wr_window_destroy(w);
}

static void test_window_streams_independent(void **state)
{
    struct wr_window_stream_params sp[2];
    struct wr_window *w;

    (void)state;
    sp[0] = stream_params();
    sp[1] = stream_params();
    sp[1].size_s = 60;
    w = make(sp, 2, 0, 0);
    assert_int_equal(add_full(w, 0, "x", 10500, 1.0, true, 0), WR_WINDOW_ADDED);
    assert_int_equal(add_full(w, 1, "x", 10500, 2.0, true, 0), WR_WINDOW_ADDED);
    assert_int_equal(add_full(w, 0, "x", 25000, 3.0, true, 0), WR_WINDOW_ADDED);
    /* Stream 0's clock moved; stream 1's did not. */
    assert_int_equal(advance(w, 0, &sink), 1);
    assert_int_equal(sink.r[0].stream, 0);
    assert_int_equal(sink.r[0].size_s, 10);
    assert_result(&sink.r[0], 10000, "x", 0, 1);
    /* An old event for stream 1 is still on time there. */
    assert_int_equal(add_full(w, 1, "x", 1000, 4.0, true, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 50000, &sink), 2);
    assert_int_equal(sink.r[0].stream, 0);
    assert_result(&sink.r[0], 20000, "x", 0, 1);
    assert_int_equal(sink.r[1].stream, 1);
    assert_int_equal(sink.r[1].size_s, 60);
    assert_result(&sink.r[1], 0, "x", 0, 2);
    assert_true(sink.r[1].agg.sum == 6.0);
    wr_window_destroy(w);
}

static void test_window_emission_order_by_start(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;

    (void)state;
    sp.allowed_lateness_s = 100;
    w = make1(&sp);
    assert_int_equal(add(w, "z", 30000, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "b", 10000, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "a", 20000, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "c", 10000, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "a", 10000, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "y", 40000, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 0, &sink), 0);
    assert_int_equal(advance(w, 100000, &sink), 5); /* W = 40000: y@40000 stays open */
    assert_result(&sink.r[0], 10000, "a", 0, 1);
    assert_result(&sink.r[1], 10000, "b", 0, 1);
    assert_result(&sink.r[2], 10000, "c", 0, 1);
    assert_result(&sink.r[3], 20000, "a", 0, 1);
    assert_result(&sink.r[4], 30000, "z", 0, 1);
    wr_window_destroy(w);
}

/* ---- checkpoint and restore ---------------------------------------------------------------- */

#define MAX_STATES 64

struct state_sink {
    struct wr_window_state s[MAX_STATES];
    size_t n;
    size_t fail_at; /* 1-based visit to fail; 0 never */
    size_t calls;
};

static int state_visit(void *ctx, const struct wr_window_state *st)
{
    struct state_sink *ss = ctx;

    ss->calls++;
    if (ss->fail_at != 0 && ss->calls == ss->fail_at)
        return WR_E_IO;
    assert_true(ss->n < MAX_STATES);
    ss->s[ss->n++] = *st;
    return WR_OK;
}

static int checkpoint(struct wr_window *w, struct state_sink *ss)
{
    ss->n = 0;
    ss->calls = 0;
    return wr_window_checkpoint(w, state_visit, ss);
}

static const struct wr_window_state *find_state(const struct state_sink *ss, const char *key,
                                                int64_t start)
{
    for (size_t i = 0; i < ss->n; i++) {
        if (strcmp(ss->s[i].key, key) == 0 && ss->s[i].start_ms == start)
            return &ss->s[i];
    }
    fail_msg("no state for %s@%lld", key, (long long)start);
    return NULL;
}

static void test_window_checkpoint_dirty_tracking(void **state)
{
    static struct state_sink ss;
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;
    const struct wr_window_state *st;

    (void)state;
    memset(&ss, 0, sizeof(ss));
    sp.revise_late = true;
    sp.revise_horizon_s = 60;
    w = make1(&sp);
    assert_int_equal(wr_window_checkpoint(w, NULL, &ss), WR_E_INVAL);
    assert_int_equal(add(w, "a", 10500, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "b", 15000, 2.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(checkpoint(w, &ss), WR_OK);
    assert_int_equal(ss.n, 2);
    st = find_state(&ss, "a", 10000);
    assert_false(st->closed);
    assert_int_equal(st->agg.count, 1);
    assert_int_equal(checkpoint(w, &ss), WR_OK);
    assert_int_equal(ss.n, 0);

    assert_int_equal(add(w, "a", 11000, 3.0, 0), WR_WINDOW_ADDED);
    /* A failing visit keeps everything dirty. */
    ss.fail_at = 1;
    assert_int_equal(checkpoint(w, &ss), WR_E_IO);
    ss.fail_at = 0;
    assert_int_equal(checkpoint(w, &ss), WR_OK);
    assert_int_equal(ss.n, 1);
    assert_int_equal(ss.s[0].agg.count, 2);

    /* Closing makes windows dirty: they are visited as closed, revision 0. */
    assert_int_equal(add(w, "b", 25000, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 0, &sink), 2);
    assert_int_equal(checkpoint(w, &ss), WR_OK);
    assert_int_equal(ss.n, 3);
    st = find_state(&ss, "a", 10000);
    assert_true(st->closed);
    assert_int_equal(st->revision, 0);
    st = find_state(&ss, "b", 20000);
    assert_false(st->closed);

    /* A revision marks only that window. */
    assert_int_equal(add(w, "a", 12000, 3.0, 0), WR_WINDOW_REVISED);
    assert_int_equal(advance(w, 0, &sink), 1);
    assert_int_equal(checkpoint(w, &ss), WR_OK);
    assert_int_equal(ss.n, 1);
    assert_true(ss.s[0].closed);
    assert_int_equal(ss.s[0].revision, 1);
    assert_int_equal(ss.s[0].agg.count, 3);
    assert_int_equal(checkpoint(w, &ss), WR_OK);
    assert_int_equal(ss.n, 0);
    wr_window_destroy(w);
}

static void test_window_visit_all_leaves_dirty_state_alone(void **state)
{
    static struct state_sink ss;
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;

    (void)state;
    memset(&ss, 0, sizeof(ss));
    sp.revise_late = true;
    sp.revise_horizon_s = 60;
    w = make1(&sp);
    assert_int_equal(wr_window_visit_all(w, NULL, &ss), WR_E_INVAL);
    assert_int_equal(wr_window_visit_all(NULL, state_visit, &ss), WR_E_INVAL);
    assert_int_equal(add(w, "a", 10500, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "b", 25000, 2.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 0, &sink), 1); /* a@10000 closes, kept for revisions */
    assert_int_equal(checkpoint(w, &ss), WR_OK);
    assert_int_equal(ss.n, 2);
    /* Everything is clean now, yet a snapshot sees every window held. */
    ss.n = 0;
    assert_int_equal(wr_window_visit_all(w, state_visit, &ss), WR_OK);
    assert_int_equal(ss.n, 2);
    assert_true(find_state(&ss, "a", 10000)->closed);
    assert_false(find_state(&ss, "b", 20000)->closed);
    /* It changed nothing the next checkpoint writes. */
    assert_int_equal(checkpoint(w, &ss), WR_OK);
    assert_int_equal(ss.n, 0);
    assert_int_equal(add(w, "b", 26000, 2.0, 0), WR_WINDOW_ADDED);
    ss.n = 0;
    assert_int_equal(wr_window_visit_all(w, state_visit, &ss), WR_OK);
    assert_int_equal(checkpoint(w, &ss), WR_OK);
    assert_int_equal(ss.n, 1);
    /* A failing visit stops the walk with its code. */
    ss.calls = 0;
    ss.fail_at = 1;
    assert_int_equal(wr_window_visit_all(w, state_visit, &ss), WR_E_IO);
    wr_window_destroy(w);
}

static void assert_same_results(const struct sink *a, const struct sink *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct wr_result *x = &a->r[i];
        const struct wr_result *y = &b->r[i];

        assert_int_equal(x->start_ms, y->start_ms);
        assert_int_equal(x->size_s, y->size_s);
        assert_int_equal(x->revision, y->revision);
        assert_int_equal(x->stream, y->stream);
        assert_string_equal(x->key, y->key);
        assert_int_equal(x->agg.count, y->agg.count);
        assert_true(x->agg.sum == y->agg.sum);
        assert_true(x->agg.min == y->agg.min);
        assert_true(x->agg.max == y->agg.max);
        assert_true(x->agg.mean == y->agg.mean);
        assert_true(x->agg.m2 == y->agg.m2);
        assert_true(x->agg.first == y->agg.first);
        assert_true(x->agg.last == y->agg.last);
        assert_int_equal(x->agg.first_ms, y->agg.first_ms);
        assert_int_equal(x->agg.last_ms, y->agg.last_ms);
    }
}

static void test_window_restore_round_trip(void **state)
{
    static struct state_sink ss;
    static struct state_sink after;
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *a;
    struct wr_window *b;
    struct wr_window_state bad;
    struct wr_now now0 = at(0);
    int64_t clock;

    (void)state;
    memset(&ss, 0, sizeof(ss));
    memset(&after, 0, sizeof(after));
    sp.revise_late = true;
    sp.revise_horizon_s = 100;
    a = make1(&sp);
    assert_int_equal(add(a, "a", 10500, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(a, "b", 11000, 2.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(a, "a", 21000, 3.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(a, "c", 35000, 4.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(a, 0, &sink), 3);
    assert_int_equal(add(a, "a", 12000, 5.0, 0), WR_WINDOW_REVISED);
    assert_int_equal(advance(a, 0, &sink), 1);
    assert_int_equal(add(a, "d", 36000, 6.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(checkpoint(a, &ss), WR_OK);
    assert_int_equal(ss.n, 5);
    assert_int_equal(find_state(&ss, "a", 10000)->revision, 1);
    assert_true(find_state(&ss, "a", 10000)->closed);
    assert_false(find_state(&ss, "d", 30000)->closed);
    assert_int_equal(wr_window_stream_clock(a, 0, &clock), WR_OK);
    assert_int_equal(clock, 36000);

    /* The original goes on: one more revision, then everything closes. */
    assert_int_equal(add(a, "b", 13000, 7.0, 0), WR_WINDOW_REVISED);
    assert_int_equal(advance(a, 20000, &sink), 3);
    wr_window_destroy(a);

    b = make1(&sp);
    for (size_t i = 0; i < ss.n; i++)
        assert_int_equal(wr_window_restore(b, &ss.s[i]), WR_OK);
    assert_int_equal(wr_window_set_stream_clock(b, 0, clock, &now0), WR_OK);
    assert_int_equal(checkpoint(b, &after), WR_OK);
    assert_int_equal(after.n, 0); /* restored windows are clean */
    assert_int_equal(add(b, "b", 13000, 7.0, 0), WR_WINDOW_REVISED);
    assert_int_equal(advance(b, 20000, &sink2), 3);
    assert_same_results(&sink, &sink2);
    assert_result(&sink2.r[0], 10000, "b", 1, 2);

    /* Bad states. */
    bad = ss.s[0];
    bad.start_ms += 1;
    assert_int_equal(wr_window_restore(b, &bad), WR_E_INVAL);
    bad = ss.s[0];
    bad.stream = 1;
    assert_int_equal(wr_window_restore(b, &bad), WR_E_INVAL);
    assert_int_equal(wr_window_restore(b, NULL), WR_E_INVAL);
    wr_window_destroy(b);
}

/* Checkpoints may hold a window open, then closed: the closed state removes it (no revisions). */
static void test_window_restore_closed_after_open_removes(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;
    struct wr_window_state st;
    struct wr_window_stats stats;

    (void)state;
    w = make1(&sp);
    memset(&st, 0, sizeof(st));
    snprintf(st.key, sizeof(st.key), "%s", "one");
    st.start_ms = 10000;
    wr_agg_init(&st.agg);
    wr_agg_add(&st.agg, 1.0, 10500);
    assert_int_equal(wr_window_restore(w, &st), WR_OK);
    wr_window_get_stats(w, &stats);
    assert_int_equal(stats.windows_open, 1);
    st.closed = true;
    st.revision = 0;
    assert_int_equal(wr_window_restore(w, &st), WR_OK);
    wr_window_get_stats(w, &stats);
    assert_int_equal(stats.windows_open, 0);
    assert_int_equal(stats.windows_retained, 0);
    /* Nothing left to emit, however far the clock goes. */
    {
        struct wr_now now = at(1000000);

        assert_int_equal(wr_window_set_stream_clock(w, 0, 20000, &now), WR_OK);
    }
    assert_int_equal(advance(w, 1000000, &sink), 0);
    wr_window_destroy(w);
}

static void test_window_restore_respects_key_limit(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;
    struct wr_window_state st;
    struct wr_window_stats stats;

    (void)state;
    sp.max_keys = 1;
    w = make1(&sp);
    memset(&st, 0, sizeof(st));
    snprintf(st.key, sizeof(st.key), "%s", "one");
    st.start_ms = 10000;
    wr_agg_init(&st.agg);
    wr_agg_add(&st.agg, 1.0, 10500);
    assert_int_equal(wr_window_restore(w, &st), WR_OK);
    /* Restoring the same window again replaces it rather than adding a second one. */
    assert_int_equal(wr_window_restore(w, &st), WR_OK);
    wr_window_get_stats(w, &stats);
    assert_int_equal(stats.windows_open, 1);
    snprintf(st.key, sizeof(st.key), "%s", "two");
    assert_int_equal(wr_window_restore(w, &st), WR_E_FULL);
    /* Without a stream clock nothing closes; with one, the restored window does. */
    assert_int_equal(advance(w, 1000000, &sink), 0);
    {
        struct wr_now now = at(1000000);

        assert_int_equal(wr_window_set_stream_clock(w, 0, 20000, &now), WR_OK);
    }
    assert_int_equal(advance(w, 1000000, &sink), 1);
    assert_result(&sink.r[0], 10000, "one", 0, 1);
    wr_window_destroy(w);
}

static void test_window_retention_floor(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;
    struct wr_now n0 = at(0);
    int64_t floor;

    (void)state;
    w = make1(&sp);
    assert_int_equal(wr_window_retention_floor(w, 0, &n0, &floor), WR_OK);
    assert_int_equal(floor, INT64_MIN);
    assert_int_equal(wr_window_retention_floor(w, 1, &n0, &floor), WR_E_INVAL);
    assert_int_equal(add(w, "k", 25000, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(wr_window_retention_floor(w, 0, &n0, &floor), WR_OK);
    assert_int_equal(floor, 10000);
    /* An open window older than the clock-derived bound holds the floor back. */
    assert_int_equal(add(w, "k", 95000, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(wr_window_retention_floor(w, 0, &n0, &floor), WR_OK);
    assert_int_equal(floor, 20000);
    assert_int_equal(advance(w, 0, &sink), 1);
    assert_int_equal(wr_window_retention_floor(w, 0, &n0, &floor), WR_OK);
    assert_int_equal(floor, 80000);
    wr_window_destroy(w);

    sp.revise_late = true;
    sp.revise_horizon_s = 60;
    w = make1(&sp);
    assert_int_equal(add(w, "k", 25000, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(wr_window_retention_floor(w, 0, &n0, &floor), WR_OK);
    assert_int_equal(floor, -50000);
    wr_window_destroy(w);
}

/* A quiet stream's clock runs on, and so does its floor, even when later
 * events trail the clock and never move its anchor. */
static void test_window_retention_floor_follows_idle_clock(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;
    struct wr_now later = at(50000);
    int64_t floor;

    (void)state;
    w = make1(&sp);
    assert_int_equal(add(w, "k", 25000, 1.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "k", 30000, 1.0, 50000), WR_WINDOW_LATE);
    assert_int_equal(advance(w, 50000, &sink), 1);
    assert_int_equal(wr_window_retention_floor(w, 0, &later, &floor), WR_OK);
    assert_int_equal(floor, 60000);
    wr_window_destroy(w);
}

/* ---- clock jumps --------------------------------------------------------------------------- */

#define T0 INT64_C(1000000000)

static void test_window_clock_jump_moves_processing_time_only(void **state)
{
    struct wr_window_stream_params sp[2];
    struct wr_window *w;
    int64_t clock;

    (void)state;
    sp[0] = stream_params();
    sp[1] = stream_params();
    w = make(sp, 2, 0, 0);
    assert_int_equal(add_full(w, 0, "p", T0 + 100, 1.0, false, 0), WR_WINDOW_ADDED);
    assert_int_equal(add_full(w, 1, "e", T0 + 200, 2.0, true, 0), WR_WINDOW_ADDED);

    /* A jump that rounds to zero windows does nothing. */
    wr_window_clock_jump(w, 4999);
    assert_int_equal(wr_window_stream_clock(w, 0, &clock), WR_OK);
    assert_int_equal(clock, T0 + 100);

    wr_window_clock_jump(w, 3600004);
    assert_int_equal(wr_window_stream_clock(w, 0, &clock), WR_OK);
    assert_int_equal(clock, T0 + 3600000 + 100);
    assert_int_equal(wr_window_stream_clock(w, 1, &clock), WR_OK);
    assert_int_equal(clock, T0 + 200);
    /* Nothing closed by the jump. */
    assert_int_equal(advance(w, 0, &sink), 0);
    /* The next processing-time event lands in the moved window. */
    assert_int_equal(add_full(w, 0, "p", T0 + 3605000, 3.0, false, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 20000, &sink), 2);
    assert_int_equal(sink.r[0].stream, 0);
    assert_result(&sink.r[0], T0 + 3600000, "p", 0, 2);
    assert_int_equal(sink.r[1].stream, 1);
    assert_result(&sink.r[1], T0, "e", 0, 1);

    /* Backwards, and halves round away from zero: -5000 is one window back. */
    assert_int_equal(add_full(w, 0, "q", T0 + 9000000, 1.0, false, 20000), WR_WINDOW_ADDED);
    wr_window_clock_jump(w, -5000);
    assert_int_equal(wr_window_stream_clock(w, 0, &clock), WR_OK);
    assert_int_equal(clock, T0 + 9000000 - 10000);
    assert_int_equal(advance(w, 40000, &sink), 1);
    assert_result(&sink.r[0], T0 + 8990000, "q", 0, 1);
    wr_window_destroy(w);
}

static void test_window_clock_jump_merges_into_existing(void **state)
{
    static struct state_sink ss;
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;
    struct wr_window_stats st;

    (void)state;
    memset(&ss, 0, sizeof(ss));
    w = make1(&sp);
    assert_int_equal(add_full(w, 0, "p", T0 + 100, 1.0, false, 0), WR_WINDOW_ADDED);
    /* An event-time sample already sits where the processing-time window will land. */
    assert_int_equal(add_full(w, 0, "p", T0 + 3600050, 5.0, true, 0), WR_WINDOW_ADDED);
    assert_int_equal(checkpoint(w, &ss), WR_OK);
    wr_window_clock_jump(w, 3600000);
    wr_window_get_stats(w, &st);
    assert_int_equal(st.windows_open, 1);
    assert_int_equal(st.keys, 1);
    assert_int_equal(checkpoint(w, &ss), WR_OK);
    assert_int_equal(ss.n, 1);
    assert_int_equal(ss.s[0].start_ms, T0 + 3600000);
    assert_false(ss.s[0].processing_time);
    assert_int_equal(ss.s[0].agg.count, 2);
    assert_int_equal(advance(w, 100000, &sink), 1);
    assert_result(&sink.r[0], T0 + 3600000, "p", 0, 2);
    assert_true(sink.r[0].agg.sum == 6.0);
    wr_window_destroy(w);
}

/* ---- randomized churn --------------------------------------------------------------------- */

#define CHURN_NAMES 80

static int64_t churn_last_start[CHURN_NAMES];
static uint64_t churn_emitted;

static void churn_emit(void *ctx, const struct wr_result *r)
{
    int idx = atoi(r->key + 1);

    (void)ctx;
    assert_true(idx >= 0 && idx < CHURN_NAMES);
    assert_int_equal(r->revision, 0);
    /* Without revisions a key's windows close in strictly increasing start order, once each. */
    assert_true(r->start_ms > churn_last_start[idx]);
    churn_last_start[idx] = r->start_ms;
    churn_emitted += r->agg.count;
}

static void test_window_random_churn_consistent(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;
    struct wr_window_stats st;
    struct wr_now now;
    uint64_t rng = 0x9e3779b97f4a7c15u;
    uint64_t added = 0;
    uint64_t mono = 0;
    int64_t clock = 1000000;
    size_t outcomes[WR_WINDOW_NO_MEMORY + 1] = {0};
    char key[16];

    (void)state;
    /* Small windows and a tight key limit: many windows and keys come and go. */
    sp.size_s = 1;
    sp.allowed_lateness_s = 2;
    sp.max_keys = 50;
    w = make1(&sp);
    for (int i = 0; i < CHURN_NAMES; i++)
        churn_last_start[i] = INT64_MIN;
    churn_emitted = 0;
    for (int i = 0; i < 100000; i++) {
        struct wr_event ev;
        enum wr_window_outcome out;

        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        /* Event time wanders ahead of and behind the monotonic clock. */
        mono += rng % 7;
        clock += (int64_t)((rng >> 8) % 9);
        snprintf(key, sizeof(key), "k%d", (int)((rng >> 20) % CHURN_NAMES));
        ev = mkev(0, key, clock - (int64_t)((rng >> 32) % 5000), 1.0, true);
        now = at(mono);
        assert_int_equal(wr_window_add(w, &ev, &now, &out), WR_OK);
        outcomes[out]++;
        if (out == WR_WINDOW_ADDED)
            added++;
        if ((rng >> 40) % 16 == 0)
            assert_true(wr_window_advance(w, &now, churn_emit, NULL) >= 0);
    }
    now = at(mono + 100000);
    assert_true(wr_window_advance(w, &now, churn_emit, NULL) > 0);
    /* The scenario provokes every outcome it is meant to. */
    assert_true(outcomes[WR_WINDOW_ADDED] > 0);
    assert_true(outcomes[WR_WINDOW_LATE] > 0);
    assert_true(outcomes[WR_WINDOW_KEY_LIMIT] > 0);
    assert_int_equal(churn_emitted, added);
    wr_window_get_stats(w, &st);
    assert_int_equal(st.windows_open, 0);
    assert_int_equal(st.keys, 0);
    wr_window_destroy(w);
}

/* ---- allocation ---------------------------------------------------------------------------- */

static void test_window_create_alloc_failure(void **state)
{
    struct wr_window_stream_params sp[2];
    struct wr_window_params p;
    struct wr_window *w = NULL;
    int rc;
    long n;

    (void)state;
    sp[0] = stream_params();
    sp[1] = stream_params();
    sp[1].revise_late = true;
    sp[1].revise_horizon_s = 30;
    memset(&p, 0, sizeof(p));
    p.streams = sp;
    p.n_streams = 2;
    for (n = 1;; n++) {
        wr_test_alloc_fail_at(n);
        rc = wr_window_create(&p, &w);
        if (rc == WR_OK)
            break;
        assert_int_equal(rc, WR_E_NOMEM);
        assert_null(w);
    }
    assert_true(n > 1);
    wr_test_alloc_fail_at(0);
    assert_int_equal(add_full(w, 1, "k", 10500, 1.0, true, 0), WR_WINDOW_ADDED);
    wr_window_destroy(w);
}

static uint64_t stress_count;
static size_t stress_results;

static void stress_emit(void *ctx, const struct wr_result *r)
{
    (void)ctx;
    assert_true(r->agg.count >= 1);
    assert_int_equal(r->revision, 0);
    stress_count += r->agg.count;
    stress_results++;
}

static void test_window_stress_no_allocation(void **state)
{
    enum { EVENTS = 200000, KEYS = 10000 };
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;
    struct wr_window_stats st;
    const int64_t base = INT64_C(1700000000000);
    uint64_t mono = 0;
    char key[16];

    (void)state;
    sp.size_s = 60;
    sp.allowed_lateness_s = 5;
    sp.max_keys = KEYS;
    w = make1(&sp);
    /*
     * The tables grow while the first pass brings the keys in; the second
     * pass, the same traffic an hour later, must run on what the first one
     * left (freed windows and keys are reused) without a single allocation.
     */
    for (int pass = 0; pass < 2; pass++) {
        int64_t pass_base = base + (int64_t)pass * 3600000;
        uint64_t pass_mono = (uint64_t)pass * 3600000;

        stress_count = 0;
        stress_results = 0;
        if (pass == 1)
            wr_test_alloc_fail_at(1); /* counts from here; the first would fail */
        for (uint32_t i = 0; i < EVENTS; i++) {
            struct wr_event ev;
            struct wr_now now;
            enum wr_window_outcome out;
            /* Mostly in order, with a little jitter backwards inside the lateness. */
            int64_t t = pass_base + (int64_t)i * 10 - (int64_t)((i * 7919u) % 4000u);

            snprintf(key, sizeof(key), "k%05u", (unsigned)((i * 7u) % KEYS));
            mono = pass_mono + (uint64_t)i * 10;
            ev = mkev(0, key, t, (double)(i % 100), true);
            now = at(mono);
            assert_int_equal(wr_window_add(w, &ev, &now, &out), WR_OK);
            assert_int_equal(out, WR_WINDOW_ADDED);
            if (i % 1000 == 999) {
                now = at(mono);
                assert_true(wr_window_advance(w, &now, stress_emit, NULL) >= 0);
            }
        }
        {
            struct wr_now now = at(mono + 1000000);

            assert_true(wr_window_advance(w, &now, stress_emit, NULL) > 0);
        }
    }
    assert_int_equal(stress_count, EVENTS);
    assert_true(stress_results >= KEYS);
    wr_window_get_stats(w, &st);
    assert_int_equal(st.windows_open, 0);
    assert_int_equal(st.keys, 0);
    assert_int_equal(wr_test_alloc_count(), 0);
    wr_test_alloc_fail_at(0);
    wr_window_destroy(w);
}

/* ---- quantile sketches --------------------------------------------------------------------- */

static const double test_qs[] = {0.0, 0.5, 0.9, 1.0};

static struct wr_window_stream_params sketch_params(void)
{
    struct wr_window_stream_params sp = stream_params();

    sp.sketch = true;
    sp.sketch_accuracy = 0.01;
    sp.sketch_max_buckets = 512;
    sp.quantiles = test_qs;
    sp.n_quantiles = 4;
    return sp;
}

static void assert_within(double got, double exact)
{
    if (!(fabs(got - exact) <= 0.01 * fabs(exact) * (1 + 1e-9)))
        fail_msg("quantile %.17g, exact %.17g", got, exact);
}

static void test_window_results_carry_quantiles(void **state)
{
    struct wr_window_stream_params sp = sketch_params();
    struct wr_window *w;

    (void)state;
    w = make1(&sp);
    /* 1..100 in a shuffled order: rank floor(q * 99) is value floor(q * 99) + 1. */
    for (int i = 0; i < 100; i++)
        assert_int_equal(add(w, "k", 1000 + i, (double)((i * 37) % 100 + 1), 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "z", 25000, 0.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 0, &sink), 1);
    assert_int_equal(sink.r[0].n_quantiles, 4);
    assert_within(sink.r[0].quantiles[0], 1.0);
    assert_within(sink.r[0].quantiles[1], 50.0);
    assert_within(sink.r[0].quantiles[2], 90.0);
    assert_within(sink.r[0].quantiles[3], 100.0);
    wr_window_destroy(w);
}

/* The bytes a sketch fed these values serializes to (a = 0.01, 512 buckets). */
static size_t sketch_of(const double *v, size_t n, uint8_t *out, size_t cap)
{
    struct wr_sketch *sk = NULL;
    size_t len = 0;

    assert_int_equal(wr_sketch_create(0.01, 512, &sk), WR_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(wr_sketch_add(sk, v[i]), WR_OK);
    assert_int_equal(wr_sketch_serialize(sk, out, cap, &len), WR_OK);
    wr_sketch_destroy(sk);
    return len;
}

/*
 * A result carries its window's sketch as bytes (for rollup and
 * sketch.upstream): exactly those of a sketch fed the window's values. A
 * result cut short by a reload carries its quantiles and sketch too.
 */
static void test_window_results_carry_sketch_bytes(void **state)
{
    struct wr_window_stream_params sp = sketch_params();
    static const double z[] = {3.0};
    struct wr_window *w;
    double v[100];
    uint8_t want[8192];
    size_t len;

    (void)state;
    w = make1(&sp);
    for (int i = 0; i < 100; i++) {
        v[i] = exp(0.07 * i) - 20.0;
        assert_int_equal(add(w, "k", 1000 + i, v[i], 0), WR_WINDOW_ADDED);
    }
    len = sketch_of(v, 100, want, sizeof(want));
    assert_int_equal(add(w, "z", 25000, z[0], 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 0, &sink), 1);
    assert_int_equal(sink.sketch_len, len);
    assert_memory_equal(sink.sketch, want, len);

    /* Cut short (reload): the open window of z, with its quantiles and sketch. */
    sink.n = 0;
    assert_int_equal(wr_window_cut_stream(w, 0, sink_emit, &sink), 1);
    assert_int_equal(sink.r[0].n_quantiles, 4);
    assert_true(sink.r[0].quantiles[0] == 3.0);
    len = sketch_of(z, 1, want, sizeof(want));
    assert_int_equal(sink.sketch_len, len);
    assert_memory_equal(sink.sketch, want, len);
    wr_window_destroy(w);
}

static void test_window_without_sketch_has_no_quantiles(void **state)
{
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;

    (void)state;
    w = make1(&sp);
    assert_int_equal(add(w, "k", 1000, 5.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "z", 25000, 0.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 0, &sink), 1);
    assert_int_equal(sink.r[0].n_quantiles, 0);
    assert_null(sink.r[0].agg.sketch);
    assert_int_equal(sink.sketch_len, 0);
    wr_window_destroy(w);
}

/* A revision's quantiles cover the window's earlier values too: the sketch stays with it. */
static void test_window_revision_quantiles_cover_all_values(void **state)
{
    struct wr_window_stream_params sp = sketch_params();
    struct wr_window *w;

    (void)state;
    sp.revise_late = true;
    sp.revise_horizon_s = 60;
    w = make1(&sp);
    for (int i = 0; i < 10; i++)
        assert_int_equal(add(w, "k", 1000 + i, 10.0 + i, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(w, "z", 25000, 0.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 0, &sink), 1);
    assert_within(sink.r[0].quantiles[3], 19.0);
    assert_int_equal(add(w, "k", 2000, 1000.0, 0), WR_WINDOW_REVISED);
    assert_int_equal(advance(w, 0, &sink), 1);
    assert_int_equal(sink.r[0].revision, 1);
    assert_int_equal(sink.r[0].agg.count, 11);
    assert_within(sink.r[0].quantiles[0], 10.0);
    assert_within(sink.r[0].quantiles[3], 1000.0);
    assert_within(sink.r[0].quantiles[1], 15.0);
    wr_window_destroy(w);
}

/* The sketch is part of the checkpointed state: restored, the window gives the same quantiles. */
static void test_window_sketch_checkpoint_restore(void **state)
{
    struct wr_window_stream_params sp = sketch_params();
    struct state_sink ss;
    struct wr_window *a;
    struct wr_window *b;
    double want[4];

    (void)state;
    memset(&ss, 0, sizeof(ss));
    a = make1(&sp);
    b = make1(&sp);
    for (int i = 0; i < 50; i++)
        assert_int_equal(add(a, "k", 1000 + i, exp(0.1 * i), 0), WR_WINDOW_ADDED);
    assert_int_equal(checkpoint(a, &ss), WR_OK);
    assert_int_equal(ss.n, 1);
    assert_non_null(ss.s[0].agg.sketch);
    assert_int_equal(wr_window_restore(b, &ss.s[0]), WR_OK);
    assert_int_equal(add(a, "z", 25000, 0.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(add(b, "z", 25000, 0.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(a, 0, &sink), 1);
    memcpy(want, sink.r[0].quantiles, sizeof(want));
    assert_int_equal(advance(b, 0, &sink2), 1);
    assert_int_equal(sink2.r[0].n_quantiles, 4);
    assert_memory_equal(sink2.r[0].quantiles, want, sizeof(want));
    /* An older checkpoint without a sketch restores with an empty one. */
    ss.s[0].agg.sketch = NULL;
    ss.s[0].start_ms = 100000;
    assert_int_equal(wr_window_restore(b, &ss.s[0]), WR_OK);
    wr_window_destroy(a);
    wr_window_destroy(b);
}

/* No memory for a window's sketch: the event is dropped whole, nothing half-folded. */
static void test_window_sketch_no_memory_drops_event(void **state)
{
    struct wr_window_stream_params sp = sketch_params();
    struct wr_window *w;

    (void)state;
    w = make1(&sp);
    wr_test_alloc_fail_at(1); /* the new window: its tables growing, then its sketch */
    assert_int_equal(add(w, "k", 1000, 5.0, 0), WR_WINDOW_NO_MEMORY);
    wr_test_alloc_fail_at(0);
    assert_int_equal(add(w, "k", 1001, 6.0, 0), WR_WINDOW_ADDED);
    wr_test_alloc_fail_at(1); /* the bucket array growing for a far value */
    assert_int_equal(add(w, "k", 1002, 6e9, 0), WR_WINDOW_NO_MEMORY);
    wr_test_alloc_fail_at(0);
    assert_int_equal(add(w, "z", 25000, 0.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 0, &sink), 1);
    assert_int_equal(sink.r[0].agg.count, 1);
    assert_true(sink.r[0].agg.max == 6.0);
    assert_within(sink.r[0].quantiles[3], 6.0);
    wr_window_destroy(w);
}

static void test_window_clock_jump_merges_sketches(void **state)
{
    struct wr_window_stream_params sp = sketch_params();
    struct wr_window *w;

    (void)state;
    w = make1(&sp);
    /* A processing-time window moved by a one-window jump onto an event-time one: they merge. */
    assert_int_equal(add_full(w, 0, "k", 1000, 1.0, false, 0), WR_WINDOW_ADDED);
    assert_int_equal(add_full(w, 0, "k", 11000, 100.0, true, 0), WR_WINDOW_ADDED);
    wr_window_clock_jump(w, 10000);
    assert_int_equal(add(w, "z", 60000, 0.0, 0), WR_WINDOW_ADDED);
    assert_int_equal(advance(w, 0, &sink), 1);
    for (size_t i = 0; i < sink.n; i++) {
        if (strcmp(sink.r[i].key, "k") != 0)
            continue;
        assert_int_equal(sink.r[i].agg.count, 2);
        assert_within(sink.r[i].quantiles[0], 1.0);
        assert_within(sink.r[i].quantiles[3], 100.0);
    }
    wr_window_destroy(w);
}

/* Limits are ceilings: an engine for 100,000 keys starts small and grows with the keys in use. */
static void test_window_grows_with_keys(void **state)
{
    enum { KEYS = 20000 };
    struct wr_window_stream_params sp = stream_params();
    struct wr_window *w;
    struct wr_window_stats st;
    size_t empty_bytes;
    size_t bytes_1k = 0;
    char key[16];

    (void)state;
    sp.max_keys = 100000;
    w = make(&sp, 1, 0, 0);
    wr_window_get_stats(w, &st);
    empty_bytes = st.memory_bytes;
    assert_true(empty_bytes < 4096);
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(add(w, key, 10500, (double)i, 0), WR_WINDOW_ADDED);
        if (i == 999) {
            wr_window_get_stats(w, &st);
            bytes_1k = st.memory_bytes;
        }
    }
    wr_window_get_stats(w, &st);
    assert_int_equal(st.keys, KEYS);
    assert_int_equal(st.windows_open, KEYS);
    assert_true(bytes_1k > empty_bytes);
    assert_true(st.memory_bytes > bytes_1k);
    /* About what 20,000 keys need (a record, a slot, index cells), not 100,000's worth. */
    assert_true(st.memory_bytes < (size_t)KEYS * 1024);
    /* Every key is still found after the tables rehashed: same keys fold into the same windows. */
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(add(w, key, 10600, (double)i, 0), WR_WINDOW_ADDED);
    }
    wr_window_get_stats(w, &st);
    assert_int_equal(st.keys, KEYS);
    assert_int_equal(st.windows_open, KEYS);
    stress_count = 0;
    stress_results = 0;
    {
        struct wr_now now = at(1000000);

        assert_int_equal(wr_window_advance(w, &now, stress_emit, NULL), KEYS);
    }
    assert_int_equal(stress_count, 2 * KEYS);
    wr_window_destroy(w);
}

/*
 * Growth that fails to allocate refuses that one add as NO_MEMORY and
 * changes nothing else: fail the Nth allocation for N = 1, 2, ... while
 * 3,000 keys arrive, until a run needs fewer allocations than N.
 */
static void test_window_growth_alloc_failure(void **state)
{
    enum { KEYS = 3000 };
    char key[16];

    (void)state;
    for (long nth = 1;; nth++) {
        struct wr_window_stream_params sp = stream_params();
        struct wr_window *w;
        struct wr_window_stats st;
        size_t added = 0;
        size_t no_memory = 0;
        long used;

        sp.max_keys = KEYS;
        wr_test_alloc_fail_at(0);
        w = make(&sp, 1, 0, 0);
        wr_test_alloc_fail_at(nth);
        for (int i = 0; i < KEYS; i++) {
            enum wr_window_outcome out;

            snprintf(key, sizeof(key), "k%d", i);
            out = add(w, key, 10500, 1.0, 0);
            assert_true(out == WR_WINDOW_ADDED || out == WR_WINDOW_NO_MEMORY);
            if (out == WR_WINDOW_ADDED)
                added++;
            else
                no_memory++;
        }
        used = wr_test_alloc_count();
        wr_test_alloc_fail_at(0);
        /* Exactly the add that hit the failure was refused, the rest went in. */
        assert_int_equal(no_memory, used >= nth ? 1 : 0);
        assert_int_equal(added + no_memory, KEYS);
        wr_window_get_stats(w, &st);
        assert_int_equal(st.keys, added);
        assert_int_equal(st.windows_open, added);
        /* Nothing corrupt: every window that went in closes with its event. */
        stress_count = 0;
        stress_results = 0;
        {
            struct wr_now now = at(1000000);

            assert_int_equal(wr_window_advance(w, &now, stress_emit, NULL), (int)added);
        }
        assert_int_equal(stress_count, added);
        wr_window_get_stats(w, &st);
        assert_int_equal(st.keys, 0);
        /* The refused key can come in now. */
        assert_int_equal(add(w, "again", 1010500, 1.0, 1000000), WR_WINDOW_ADDED);
        wr_window_destroy(w);
        if (used < nth)
            break;
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, wr_test_alloc_setup, wr_test_alloc_teardown)
    const struct CMUnitTest tests[] = {
        T(test_window_create_rejects_bad_params),
        T(test_window_results_carry_quantiles),
        T(test_window_results_carry_sketch_bytes),
        T(test_window_without_sketch_has_no_quantiles),
        T(test_window_revision_quantiles_cover_all_values),
        T(test_window_sketch_checkpoint_restore),
        T(test_window_sketch_no_memory_drops_event),
        T(test_window_clock_jump_merges_sketches),
        T(test_window_add_rejects_invalid),
        T(test_window_assigns_epoch_aligned),
        T(test_window_closes_only_when_watermark_passes_end),
        T(test_window_quiet_stream_closes_via_mono_clock),
        T(test_window_allowed_lateness_keeps_window_open),
        T(test_window_watermark_never_moves_back),
        T(test_window_late_event_dropped),
        T(test_window_revise_emits_revisions),
        T(test_window_revise_beyond_horizon_is_late),
        T(test_window_future_drop),
        T(test_window_key_limit_per_stream),
        T(test_window_key_limit_total),
        T(test_window_memory_budget_no_memory),
        T(test_window_streams_independent),
        T(test_window_emission_order_by_start),
        T(test_window_checkpoint_dirty_tracking),
        T(test_window_visit_all_leaves_dirty_state_alone),
        T(test_window_restore_round_trip),
        T(test_window_restore_closed_after_open_removes),
        T(test_window_restore_respects_key_limit),
        T(test_window_retention_floor),
        T(test_window_retention_floor_follows_idle_clock),
        T(test_window_clock_jump_moves_processing_time_only),
        T(test_window_clock_jump_merges_into_existing),
        T(test_window_random_churn_consistent),
        T(test_window_create_alloc_failure),
        T(test_window_stress_no_allocation),
        T(test_window_grows_with_keys),
        T(test_window_growth_alloc_failure),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
