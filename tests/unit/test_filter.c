#include "test_support.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "filter.h"
#include "wr_error.h"

/*
 * The filter never reads a clock: every test passes now_mono_ms by hand.
 * Unless a test says otherwise each check is its own batch (check, then
 * commit), as if every message carried one event that was queued.
 */

static struct wr_event mkev(uint16_t stream, const char *key, int64_t t_ms, double value)
{
    struct wr_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.stream = stream;
    ev.time_ms = t_ms;
    ev.value = value;
    ev.has_time = true;
    snprintf(ev.key, sizeof(ev.key), "%s", key);
    return ev;
}

static struct wr_filter_config no_filter(void)
{
    struct wr_filter_config c;

    memset(&c, 0, sizeof(c));
    return c;
}

static struct wr_filter *make(const struct wr_filter_config *cfgs, size_t n, uint32_t max_keys,
                              uint32_t max_batch, uint64_t horizon_ms)
{
    struct wr_filter_params p;
    struct wr_filter *f = NULL;

    p.streams = cfgs;
    p.n_streams = n;
    p.max_keys = max_keys;
    p.max_batch = max_batch;
    p.horizon_ms = horizon_ms;
    assert_int_equal(wr_filter_create(&p, &f), WR_OK);
    assert_non_null(f);
    return f;
}

static struct wr_filter *make1(struct wr_filter_config c)
{
    return make(&c, 1, 16, 16, 0);
}

#define ACCEPT WR_DROP_REASON_COUNT

/* Check one event of stream 0 as its own committed batch; ACCEPT (below) if accepted. */
static enum wr_drop_reason one(struct wr_filter *f, const char *key, int64_t t_ms, double value,
                               uint64_t now_ms)
{
    struct wr_event ev = mkev(0, key, t_ms, value);
    enum wr_drop_reason reason = WR_DROP_REASON_COUNT;
    bool ok = wr_filter_check(f, &ev, now_ms, &reason);

    wr_filter_commit(f);
    if (ok) {
        assert_int_equal(reason, WR_DROP_REASON_COUNT); /* untouched on accept */
        return WR_DROP_REASON_COUNT;
    }
    return reason;
}

/* ---- creation ------------------------------------------------------------------------------ */

static void test_filter_create_rejects_bad_params(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter_params p;
    struct wr_filter *f = NULL;

    (void)state;
    p.streams = &c;
    p.n_streams = 1;
    p.max_keys = 4;
    p.max_batch = 4;
    p.horizon_ms = 0;
    assert_int_equal(wr_filter_create(NULL, &f), WR_E_INVAL);
    assert_int_equal(wr_filter_create(&p, NULL), WR_E_INVAL);
    p.n_streams = 0;
    assert_int_equal(wr_filter_create(&p, &f), WR_E_INVAL);
    p.n_streams = 1;
    p.max_batch = 0;
    assert_int_equal(wr_filter_create(&p, &f), WR_E_INVAL);
    p.max_batch = 4;
    c.has_min = c.has_max = true;
    c.min = 2.0;
    c.max = 1.0;
    assert_int_equal(wr_filter_create(&p, &f), WR_E_INVAL);
    c.max = INFINITY;
    assert_int_equal(wr_filter_create(&p, &f), WR_E_INVAL);
    c = no_filter();
    c.deadband = -0.5;
    assert_int_equal(wr_filter_create(&p, &f), WR_E_INVAL);
    c.deadband = NAN;
    assert_int_equal(wr_filter_create(&p, &f), WR_E_INVAL);
    /* A stateful stream needs a table. */
    c.deadband = 1.0;
    p.max_keys = 0;
    assert_int_equal(wr_filter_create(&p, &f), WR_E_INVAL);
    p.max_keys = WR_FILTER_MAX_KEYS + 1u;
    assert_int_equal(wr_filter_create(&p, &f), WR_E_INVAL);
    /* ...a stateless one does not. */
    c.deadband = 0.0;
    p.max_keys = 0;
    assert_int_equal(wr_filter_create(&p, &f), WR_OK);
    assert_int_equal(wr_filter_stats(f).max_keys, 0);
    wr_filter_destroy(f);
    wr_filter_destroy(NULL);
}

static void test_filter_create_alloc_failure(void **state)
{
    struct wr_filter_config c[2];
    struct wr_filter_params p;
    struct wr_filter *f = NULL;
    struct wr_event ev = mkev(1, "k", 1000, 1.0);
    long n;
    int rc;

    (void)state;
    c[0] = no_filter();
    c[1] = no_filter();
    c[1].dedup = true;
    c[1].deadband = 0.5;
    p.streams = c;
    p.n_streams = 2;
    p.max_keys = 100;
    p.max_batch = 8;
    p.horizon_ms = 1000;
    for (n = 1;; n++) {
        wr_test_alloc_fail_at(n);
        f = NULL;
        rc = wr_filter_create(&p, &f);
        if (rc == WR_OK)
            break;
        assert_int_equal(rc, WR_E_NOMEM);
        assert_null(f);
    }
    assert_true(n > 4); /* the filter, configs, flags, cells, staging; the pool grows later */

    /*
     * The pool grows with the keys: a growth that fails leaves that key
     * untracked (counted), and the next key grows the pool after all.
     */
    wr_test_alloc_fail_at(1);
    snprintf(ev.key, sizeof(ev.key), "g0");
    assert_true(wr_filter_check(f, &ev, 0, NULL));
    wr_filter_commit(f);
    assert_true(wr_test_alloc_count() >= 1);
    assert_int_equal(wr_filter_stats(f).untracked, 1);
    wr_test_alloc_fail_at(0);
    snprintf(ev.key, sizeof(ev.key), "g1");
    assert_true(wr_filter_check(f, &ev, 0, NULL));
    wr_filter_commit(f);
    assert_int_equal(wr_filter_stats(f).untracked, 1);

    /*
     * Once the keys are in (the pool has grown to max_keys), the event path
     * never allocates: fail the very next allocation and count attempts.
     */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            wr_test_alloc_fail_at(1);
        for (int i = 0; i < 1000; i++) {
            ev.time_ms = 1000 + i + pass * 1000;
            snprintf(ev.key, sizeof(ev.key), "k%d", i % 300);
            (void)wr_filter_check(f, &ev, (uint64_t)(i + pass * 1000), NULL);
            if (i % 3 == 0)
                wr_filter_rollback(f);
            else
                wr_filter_commit(f);
        }
    }
    assert_int_equal(wr_test_alloc_count(), 0);
    wr_test_alloc_fail_at(0);
    wr_filter_destroy(f);
}

static void test_filter_check_rejects_bad_input(void **state)
{
    struct wr_filter *f = make1(no_filter());
    struct wr_event ev = mkev(1, "k", 0, 1.0);
    enum wr_drop_reason reason = WR_DROP_REASON_COUNT;

    (void)state;
    assert_false(wr_filter_check(f, &ev, 0, &reason)); /* stream 1 of 1 */
    assert_int_equal(reason, WR_DROP_MALFORMED);
    assert_false(wr_filter_check(f, NULL, 0, &reason));
    assert_false(wr_filter_check(NULL, &ev, 0, NULL));
    ev.stream = 0;
    assert_true(wr_filter_check(f, &ev, 0, NULL)); /* reason may be NULL */
    wr_filter_commit(NULL);
    wr_filter_rollback(NULL);
    assert_int_equal(wr_filter_stats(NULL).keys, 0);
    wr_filter_destroy(f);
}

/* ---- the four filters ---------------------------------------------------------------------- */

static void test_filter_range_bounds_inclusive(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;

    (void)state;
    c.has_min = true;
    c.min = -10.0;
    c.has_max = true;
    c.max = 10.0;
    f = make1(c);
    assert_int_equal(one(f, "k", 0, -10.0, 0), ACCEPT);
    assert_int_equal(one(f, "k", 0, 10.0, 0), ACCEPT);
    assert_int_equal(one(f, "k", 0, nextafter(10.0, 11.0), 0), WR_DROP_FILTER_RANGE);
    assert_int_equal(one(f, "k", 0, nextafter(-10.0, -11.0), 0), WR_DROP_FILTER_RANGE);
    assert_int_equal(one(f, "k", 0, -1e300, 0), WR_DROP_FILTER_RANGE);
    assert_int_equal(one(f, "k", 0, NAN, 0), WR_DROP_FILTER_RANGE);
    /* A stateless stream keeps no key state. */
    assert_int_equal(wr_filter_stats(f).keys, 0);
    wr_filter_destroy(f);
}

static void test_filter_range_one_sided(void **state)
{
    struct wr_filter_config c[2];
    struct wr_filter *f;
    struct wr_event ev;
    enum wr_drop_reason reason;

    (void)state;
    c[0] = no_filter();
    c[0].has_min = true;
    c[0].min = 0.0;
    c[0].max = -5.0; /* ignored: has_max is false */
    c[1] = no_filter();
    c[1].has_max = true;
    c[1].max = 0.0;
    f = make(c, 2, 4, 4, 0);
    ev = mkev(0, "k", 0, 1e300);
    assert_true(wr_filter_check(f, &ev, 0, &reason));
    ev.value = -0.001;
    assert_false(wr_filter_check(f, &ev, 0, &reason));
    assert_int_equal(reason, WR_DROP_FILTER_RANGE);
    ev = mkev(1, "k", 0, -1e300);
    assert_true(wr_filter_check(f, &ev, 0, &reason));
    ev.value = 0.001;
    assert_false(wr_filter_check(f, &ev, 0, &reason));
    assert_int_equal(reason, WR_DROP_FILTER_RANGE);
    wr_filter_commit(f);
    wr_filter_destroy(f);
}

static void test_filter_dedup_catches_redelivery_within_depth(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;

    (void)state;
    c.dedup = true;
    f = make1(c);
    assert_int_equal(one(f, "k", 1000, 1.5, 0), ACCEPT);
    assert_int_equal(one(f, "k", 1000, 1.5, 0), WR_DROP_FILTER_DUPLICATE);
    /* Same time, other value; same value, other time: both real data. */
    assert_int_equal(one(f, "k", 1000, 2.5, 0), ACCEPT);
    assert_int_equal(one(f, "k", 1001, 1.5, 0), ACCEPT);
    /* Bit-exact: -0.0 is not 0.0's duplicate. */
    assert_int_equal(one(f, "k", 5, 0.0, 0), ACCEPT);
    assert_int_equal(one(f, "k", 5, -0.0, 0), ACCEPT);
    /* Ring now holds (1000,2.5) (1001,1.5) (5,0) (5,-0): the oldest accepted (1000,1.5)
     * fell out after WR_FILTER_DEDUP_DEPTH newer ones. */
    assert_int_equal(one(f, "k", 1000, 2.5, 0), WR_DROP_FILTER_DUPLICATE);
    assert_int_equal(one(f, "k", 1001, 1.5, 0), WR_DROP_FILTER_DUPLICATE);
    assert_int_equal(one(f, "k", 1000, 1.5, 0), ACCEPT);
    /* That pushed (1000,2.5) out in turn. */
    assert_int_equal(one(f, "k", 1000, 2.5, 0), ACCEPT);
    wr_filter_destroy(f);
}

static void test_filter_interval_from_last_accepted(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;

    (void)state;
    c.min_interval_ms = 1000;
    f = make1(c);
    assert_int_equal(one(f, "k", 10000, 1.0, 0), ACCEPT);
    assert_int_equal(one(f, "k", 10999, 2.0, 0), WR_DROP_FILTER_INTERVAL);
    assert_int_equal(one(f, "k", 11000, 3.0, 0), ACCEPT); /* exactly the interval passes */
    /* Measured from the last accepted (11000), not the dropped event. */
    assert_int_equal(one(f, "k", 11500, 3.0, 0), WR_DROP_FILTER_INTERVAL);
    assert_int_equal(one(f, "k", 11999, 3.0, 0), WR_DROP_FILTER_INTERVAL);
    assert_int_equal(one(f, "k", 12000, 3.0, 0), ACCEPT);
    /* Going back in time counts as inside the interval, however far back. */
    assert_int_equal(one(f, "k", 5000, 3.0, 0), WR_DROP_FILTER_INTERVAL);
    assert_int_equal(one(f, "k", INT64_MIN, 3.0, 0), WR_DROP_FILTER_INTERVAL);
    /* A huge forward jump does not overflow into a small difference. */
    assert_int_equal(one(f, "k", INT64_MAX, 3.0, 0), ACCEPT);
    wr_filter_destroy(f);
}

static void test_filter_interval_extreme_times(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;

    (void)state;
    c.min_interval_ms = 86400000u;
    f = make1(c);
    assert_int_equal(one(f, "k", INT64_MIN, 1.0, 0), ACCEPT);
    /* INT64_MAX - INT64_MIN does not fit int64_t; the unsigned difference is exact. */
    assert_int_equal(one(f, "k", INT64_MAX, 1.0, 0), ACCEPT);
    assert_int_equal(one(f, "k", INT64_MAX - 1, 1.0, 0), WR_DROP_FILTER_INTERVAL);
    wr_filter_destroy(f);
}

static void test_filter_deadband_against_last_accepted(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;

    (void)state;
    c.deadband = 1.0;
    f = make1(c);
    assert_int_equal(one(f, "k", 1, 20.0, 0), ACCEPT); /* first value always */
    assert_int_equal(one(f, "k", 2, 20.5, 0), WR_DROP_FILTER_DEADBAND);
    assert_int_equal(one(f, "k", 3, 19.01, 0), WR_DROP_FILTER_DEADBAND);
    /* Slow drift: the baseline stays at the last accepted 20.0, so drift is not lost. */
    assert_int_equal(one(f, "k", 4, 20.9, 0), WR_DROP_FILTER_DEADBAND);
    assert_int_equal(one(f, "k", 5, 21.0, 0), ACCEPT); /* |diff| == deadband passes */
    assert_int_equal(one(f, "k", 6, 20.0, 0), ACCEPT);
    assert_int_equal(one(f, "k", 7, 1e308, 0), ACCEPT);
    /* -1e308 - 1e308 overflows to -inf: far away, not inside the band. */
    assert_int_equal(one(f, "k", 8, -1e308, 0), ACCEPT);
    wr_filter_destroy(f);
}

/* ---- heartbeat (max_silence_ms) ------------------------------------------------------------ */

static void test_filter_heartbeat_after_silence(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;

    (void)state;
    c.deadband = 1.0;
    c.max_silence_ms = 10000;
    f = make1(c);
    /* The clock is the injected now_ms: accepted at 1000, flat signal every second after. */
    assert_int_equal(one(f, "k", 1, 20.0, 1000), ACCEPT);
    for (uint64_t now = 2000; now < 11000; now += 1000)
        assert_int_equal(one(f, "k", (int64_t)now, 20.1, now), WR_DROP_FILTER_DEADBAND);
    assert_int_equal(wr_filter_stats(f).heartbeats, 0);
    /* One millisecond short of the silence, still suppressed; at it, let through. */
    assert_int_equal(one(f, "k", 10999, 20.1, 10999), WR_DROP_FILTER_DEADBAND);
    assert_int_equal(one(f, "k", 11000, 20.1, 11000), ACCEPT);
    assert_int_equal(wr_filter_stats(f).heartbeats, 1);
    assert_int_equal(wr_filter_take_heartbeats(f), 1);
    assert_int_equal(wr_filter_take_heartbeats(f), 0);
    /* The heartbeat is an accepted event: the silence restarts from it, and so does the band. */
    assert_int_equal(one(f, "k", 12000, 20.9, 12000), WR_DROP_FILTER_DEADBAND);
    assert_int_equal(one(f, "k", 20999, 20.9, 20999), WR_DROP_FILTER_DEADBAND);
    assert_int_equal(one(f, "k", 21000, 20.9, 21000), ACCEPT);
    assert_int_equal(wr_filter_stats(f).heartbeats, 2);
    /* A real change passes as usual and is not a heartbeat. */
    assert_int_equal(one(f, "k", 22000, 25.0, 22000), ACCEPT);
    assert_int_equal(wr_filter_stats(f).heartbeats, 2);
    wr_filter_destroy(f);
}

static void test_filter_heartbeat_per_key_and_only_deadband(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;

    (void)state;
    c.deadband = 1.0;
    c.dedup = true;
    c.min_interval_ms = 100;
    c.max_silence_ms = 5000;
    f = make1(c);
    assert_int_equal(one(f, "a", 0, 1.0, 0), ACCEPT);
    assert_int_equal(one(f, "b", 0, 1.0, 3000), ACCEPT);
    /* a has been silent 5 s, b only 2 s. */
    assert_int_equal(one(f, "a", 5000, 1.0, 5000), ACCEPT);
    assert_int_equal(one(f, "b", 5000, 1.0, 5000), WR_DROP_FILTER_DEADBAND);
    /* A redelivery (same time and value) stays a duplicate, however long the silence. */
    assert_int_equal(one(f, "b", 0, 1.0, 60000), WR_DROP_FILTER_DUPLICATE);
    /* An event inside min_interval stays an interval drop. */
    assert_int_equal(one(f, "b", 50, 1.0, 60000), WR_DROP_FILTER_INTERVAL);
    assert_int_equal(one(f, "b", 9000, 1.0, 60000), ACCEPT);
    assert_int_equal(wr_filter_stats(f).heartbeats, 2);
    wr_filter_destroy(f);
}

static void test_filter_heartbeat_rolled_back_with_batch(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;
    struct wr_event ev = mkev(0, "k", 5000, 1.0);

    (void)state;
    c.deadband = 1.0;
    c.max_silence_ms = 5000;
    f = make1(c);
    assert_int_equal(one(f, "k", 0, 1.0, 0), ACCEPT);
    assert_true(wr_filter_check(f, &ev, 5000, NULL));
    wr_filter_rollback(f);
    assert_int_equal(wr_filter_stats(f).heartbeats, 0);
    assert_int_equal(wr_filter_take_heartbeats(f), 0);
    /* The redelivered copy is a heartbeat again, and this time it counts. */
    assert_true(wr_filter_check(f, &ev, 5000, NULL));
    /* A second event of the key in the same batch sees the staged heartbeat: silence 0. */
    ev.time_ms = 5001;
    assert_false(wr_filter_check(f, &ev, 5001, NULL));
    wr_filter_commit(f);
    assert_int_equal(wr_filter_stats(f).heartbeats, 1);
    assert_int_equal(wr_filter_take_heartbeats(f), 1);
    wr_filter_destroy(f);
}

/* Key expiry never comes before a heartbeat: the horizon is raised to max_silence_ms. */
static void test_filter_heartbeat_outlives_horizon(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;

    (void)state;
    c.deadband = 1.0;
    c.max_silence_ms = 50000;
    f = make(&c, 1, 16, 16, 1000);
    assert_int_equal(one(f, "k", 0, 1.0, 0), ACCEPT);
    assert_int_equal(one(f, "k", 1, 1.0, 20000), WR_DROP_FILTER_DEADBAND);
    assert_int_equal(one(f, "k", 2, 1.0, 50000), ACCEPT);
    assert_int_equal(wr_filter_stats(f).heartbeats, 1);
    wr_filter_destroy(f);
}

static void test_filter_order_of_checks(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;

    (void)state;
    c.has_max = true;
    c.max = 100.0;
    c.dedup = true;
    c.min_interval_ms = 1000;
    c.deadband = 5.0;
    f = make1(c);
    assert_int_equal(one(f, "k", 10000, 50.0, 0), ACCEPT);
    /* Range is checked first and needs no state. */
    assert_int_equal(one(f, "k", 10000, 500.0, 0), WR_DROP_FILTER_RANGE);
    /* An exact repeat also sits in the interval and the deadband: named a duplicate. */
    assert_int_equal(one(f, "k", 10000, 50.0, 0), WR_DROP_FILTER_DUPLICATE);
    /* Too soon and inside the deadband: named the interval. */
    assert_int_equal(one(f, "k", 10500, 51.0, 0), WR_DROP_FILTER_INTERVAL);
    /* Late enough but inside the deadband. */
    assert_int_equal(one(f, "k", 11000, 51.0, 0), WR_DROP_FILTER_DEADBAND);
    /* Dropped events changed nothing: the state is still (10000, 50). */
    assert_int_equal(one(f, "k", 11000, 55.0, 0), ACCEPT);
    assert_int_equal(one(f, "k", 10000, 50.0, 0), WR_DROP_FILTER_DUPLICATE);
    wr_filter_destroy(f);
}

static void test_filter_keys_and_streams_independent(void **state)
{
    struct wr_filter_config c[2];
    struct wr_filter *f;
    struct wr_event ev;
    enum wr_drop_reason reason;

    (void)state;
    c[0] = no_filter();
    c[0].deadband = 1.0;
    c[1] = c[0];
    f = make(c, 2, 16, 16, 0);
    assert_int_equal(one(f, "a", 1, 10.0, 0), ACCEPT);
    assert_int_equal(one(f, "b", 1, 10.1, 0), ACCEPT);
    assert_int_equal(one(f, "ab", 1, 10.2, 0), ACCEPT);
    assert_int_equal(one(f, "", 1, 10.3, 0), ACCEPT);
    assert_int_equal(one(f, "a", 2, 10.5, 0), WR_DROP_FILTER_DEADBAND);
    assert_int_equal(one(f, "b", 2, 10.5, 0), WR_DROP_FILTER_DEADBAND);
    /* The same key on another stream has its own state. */
    ev = mkev(1, "a", 2, 10.5);
    assert_true(wr_filter_check(f, &ev, 0, &reason));
    wr_filter_commit(f);
    ev.value = 10.6;
    assert_false(wr_filter_check(f, &ev, 0, &reason));
    assert_int_equal(reason, WR_DROP_FILTER_DEADBAND);
    wr_filter_rollback(f);
    assert_int_equal(wr_filter_stats(f).keys, 5);
    wr_filter_destroy(f);
}

/* ---- transactions -------------------------------------------------------------------------- */

static void test_filter_rollback_keeps_state(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;
    struct wr_event ev[3];
    enum wr_drop_reason reason;

    (void)state;
    c.dedup = true;
    c.min_interval_ms = 100;
    c.deadband = 1.0;
    f = make1(c);
    ev[0] = mkev(0, "old", 1000, 5.0);
    assert_true(wr_filter_check(f, &ev[0], 0, &reason));
    wr_filter_commit(f);

    /* A message: one known key, one new key. The queue is full: roll back. */
    ev[1] = mkev(0, "old", 2000, 9.0);
    ev[2] = mkev(0, "new", 2000, 1.0);
    for (int round = 0; round < 3; round++) {
        assert_true(wr_filter_check(f, &ev[1], 10, &reason));
        assert_true(wr_filter_check(f, &ev[2], 10, &reason));
        wr_filter_rollback(f);
        assert_int_equal(wr_filter_stats(f).keys, 1); /* "new" got no slot */
    }
    /* The redelivery is finally queued: accepted as the first time, then committed. */
    assert_true(wr_filter_check(f, &ev[1], 20, &reason));
    assert_true(wr_filter_check(f, &ev[2], 20, &reason));
    wr_filter_commit(f);
    assert_int_equal(wr_filter_stats(f).keys, 2);
    /* Now a further redelivery is a duplicate. */
    assert_false(wr_filter_check(f, &ev[1], 30, &reason));
    assert_int_equal(reason, WR_DROP_FILTER_DUPLICATE);
    assert_false(wr_filter_check(f, &ev[2], 30, &reason));
    assert_int_equal(reason, WR_DROP_FILTER_DUPLICATE);
    wr_filter_rollback(f);
    wr_filter_destroy(f);
}

static void test_filter_batch_sees_its_own_staged_events(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;
    struct wr_event a = mkev(0, "k", 1000, 1.0);
    struct wr_event b = mkev(0, "k", 1050, 1.0);
    struct wr_event d = mkev(0, "k", 2000, 3.0);
    enum wr_drop_reason reason;

    (void)state;
    c.dedup = true;
    c.min_interval_ms = 100;
    f = make1(c);
    /* One SenML pack carrying a repeat and an event too soon after the first. */
    assert_true(wr_filter_check(f, &a, 0, &reason));
    assert_false(wr_filter_check(f, &a, 0, &reason));
    assert_int_equal(reason, WR_DROP_FILTER_DUPLICATE);
    assert_false(wr_filter_check(f, &b, 0, &reason));
    assert_int_equal(reason, WR_DROP_FILTER_INTERVAL);
    assert_true(wr_filter_check(f, &d, 0, &reason));
    wr_filter_rollback(f);
    /* Rolled back: the same pack gives the same answers. */
    assert_true(wr_filter_check(f, &a, 0, &reason));
    assert_false(wr_filter_check(f, &a, 0, &reason));
    assert_false(wr_filter_check(f, &b, 0, &reason));
    assert_true(wr_filter_check(f, &d, 0, &reason));
    wr_filter_commit(f);
    /* Both accepted events are in the committed state. */
    assert_int_equal(one(f, "k", 1000, 1.0, 0), WR_DROP_FILTER_DUPLICATE);
    assert_int_equal(one(f, "k", 2000, 3.0, 0), WR_DROP_FILTER_DUPLICATE);
    assert_int_equal(one(f, "k", 2050, 4.0, 0), WR_DROP_FILTER_INTERVAL);
    wr_filter_destroy(f);
}

/* ---- capacity and expiry ------------------------------------------------------------------- */

static void test_filter_table_full_goes_untracked_not_dropped(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;

    (void)state;
    c.dedup = true;
    f = make(&c, 1, 2, 8, 0); /* horizon 0: nothing ever expires */
    assert_int_equal(one(f, "a", 1, 1.0, 0), ACCEPT);
    assert_int_equal(one(f, "b", 1, 1.0, 0), ACCEPT);
    assert_int_equal(wr_filter_stats(f).untracked, 0);
    /* "c" gets no state, so even its exact repeats pass, and each is counted. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(one(f, "c", 1, 1.0, 1000000u * (uint64_t)i), ACCEPT);
    assert_int_equal(wr_filter_stats(f).untracked, 5);
    assert_int_equal(wr_filter_stats(f).keys, 2);
    assert_int_equal(wr_filter_stats(f).evicted, 0);
    /* The tracked keys still filter. */
    assert_int_equal(one(f, "a", 1, 1.0, 0), WR_DROP_FILTER_DUPLICATE);
    wr_filter_destroy(f);
}

static void test_filter_batch_full_goes_untracked(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;
    struct wr_event a = mkev(0, "a", 1, 1.0);
    struct wr_event b = mkev(0, "b", 1, 1.0);
    enum wr_drop_reason reason;

    (void)state;
    c.dedup = true;
    f = make(&c, 1, 8, 1, 0);
    assert_true(wr_filter_check(f, &a, 0, &reason));
    assert_false(wr_filter_check(f, &a, 0, &reason)); /* staged key still filters */
    assert_true(wr_filter_check(f, &b, 0, &reason));
    assert_true(wr_filter_check(f, &b, 0, &reason)); /* no room to stage "b" */
    wr_filter_rollback(f);
    assert_int_equal(wr_filter_stats(f).untracked, 0); /* rolled back, not counted */
    assert_true(wr_filter_check(f, &a, 0, &reason));
    assert_true(wr_filter_check(f, &b, 0, &reason));
    wr_filter_commit(f);
    assert_int_equal(wr_filter_stats(f).untracked, 1);
    assert_int_equal(wr_filter_stats(f).keys, 1);
    wr_filter_destroy(f);
}

static void test_filter_evicts_least_recently_accepted_expired_key(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;

    (void)state;
    c.dedup = true;
    f = make(&c, 1, 2, 8, 1000);
    assert_int_equal(one(f, "a", 1, 1.0, 0), ACCEPT);
    assert_int_equal(one(f, "b", 1, 1.0, 100), ACCEPT);
    /* Not yet expired: no room for "c". */
    assert_int_equal(one(f, "c", 1, 1.0, 999), ACCEPT);
    assert_int_equal(wr_filter_stats(f).untracked, 1);
    /* "a" accepts again at 600 (drops do not refresh: "b"'s duplicate at 1050 does not). */
    assert_int_equal(one(f, "a", 2, 1.0, 600), ACCEPT);
    assert_int_equal(one(f, "b", 1, 1.0, 1050), WR_DROP_FILTER_DUPLICATE);
    /* At 1100 "b" (accepted at 100) is the oldest and expired; "a" (600) is not. */
    assert_int_equal(one(f, "c", 1, 1.0, 1100), ACCEPT);
    assert_int_equal(wr_filter_stats(f).evicted, 1);
    assert_int_equal(wr_filter_stats(f).keys, 2);
    assert_int_equal(one(f, "c", 1, 1.0, 1101), WR_DROP_FILTER_DUPLICATE);
    assert_int_equal(one(f, "a", 2, 1.0, 1101), WR_DROP_FILTER_DUPLICATE);
    /* "b" was forgotten: its old event is new data again, but the table is full of live keys. */
    assert_int_equal(one(f, "b", 1, 1.0, 1102), ACCEPT);
    assert_int_equal(wr_filter_stats(f).untracked, 2);
    wr_filter_destroy(f);
}

static void test_filter_expired_key_state_forgotten(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;

    (void)state;
    c.deadband = 1.0;
    f = make(&c, 1, 4, 4, 5000);
    assert_int_equal(one(f, "k", 1, 10.0, 0), ACCEPT);
    assert_int_equal(one(f, "k", 2, 10.1, 4999), WR_DROP_FILTER_DEADBAND);
    /* 5000 ms after the last acceptance the key counts as new: a heartbeat for a flat signal. */
    assert_int_equal(one(f, "k", 3, 10.1, 5000), ACCEPT);
    assert_int_equal(one(f, "k", 4, 10.2, 5001), WR_DROP_FILTER_DEADBAND);
    /* It reused its own slot. */
    assert_int_equal(wr_filter_stats(f).keys, 1);
    assert_int_equal(wr_filter_stats(f).evicted, 0);
    wr_filter_destroy(f);
}

static void test_filter_horizon_never_shortens_interval(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;

    (void)state;
    c.min_interval_ms = 60000;
    f = make(&c, 1, 4, 4, 1000); /* horizon raised to 60000 */
    assert_int_equal(one(f, "k", 0, 1.0, 0), ACCEPT);
    assert_int_equal(one(f, "k", 59999, 1.0, 59999), WR_DROP_FILTER_INTERVAL);
    assert_int_equal(one(f, "k", 60000, 1.0, 60000), ACCEPT);
    wr_filter_destroy(f);
}

static void test_filter_commit_refreshes_before_evicting(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;
    struct wr_event a = mkev(0, "a", 5, 2.0);
    struct wr_event b = mkev(0, "b", 5, 2.0);
    enum wr_drop_reason reason;

    (void)state;
    c.dedup = true;
    f = make(&c, 1, 1, 4, 100);
    assert_int_equal(one(f, "a", 1, 1.0, 0), ACCEPT);
    /* One batch at 200: "a" (expired, its own slot) and a new key "b". "a" must keep the
     * single slot; "b" finds no expired entry left and goes untracked. */
    assert_true(wr_filter_check(f, &b, 200, &reason));
    assert_true(wr_filter_check(f, &a, 200, &reason));
    wr_filter_commit(f);
    assert_int_equal(wr_filter_stats(f).untracked, 1);
    assert_int_equal(wr_filter_stats(f).evicted, 0);
    assert_int_equal(one(f, "a", 5, 2.0, 201), WR_DROP_FILTER_DUPLICATE);
    wr_filter_destroy(f);
}

static void test_filter_long_key_without_nul_is_cut(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;
    struct wr_event ev = mkev(0, "", 1, 1.0);
    enum wr_drop_reason reason;

    (void)state;
    c.dedup = true;
    f = make1(c);
    memset(ev.key, 'x', sizeof(ev.key)); /* no NUL at all: must not read past */
    assert_true(wr_filter_check(f, &ev, 0, &reason));
    wr_filter_commit(f);
    assert_false(wr_filter_check(f, &ev, 0, &reason));
    assert_int_equal(reason, WR_DROP_FILTER_DUPLICATE);
    wr_filter_rollback(f);
    wr_filter_destroy(f);
}

/*
 * Many keys through a small table against a model of the documented
 * semantics: deadband per key, state expiring horizon after the last
 * acceptance, new keys taking a free slot or evicting the least recently
 * accepted expired key. Exercises collisions and backward-shift deletion.
 */
#define M_KEYS 64u
#define M_NAMES 300u
#define M_HORIZON 200u

struct model_key {
    bool tracked;
    double value;
    uint64_t accepted;
};

static void test_filter_matches_model_under_churn(void **state)
{
    struct wr_filter_config c = no_filter();
    struct wr_filter *f;
    static struct model_key m[M_NAMES];
    uint32_t n_tracked = 0;
    uint64_t untracked = 0;
    uint64_t evicted = 0;
    uint32_t rng = 12345;

    (void)state;
    memset(m, 0, sizeof(m));
    c.deadband = 3.0;
    f = make(&c, 1, M_KEYS, 4, M_HORIZON);
    for (uint64_t now = 1; now <= 60000; now++) {
        uint32_t k;
        double v;
        char name[16];
        bool expect;
        enum wr_drop_reason got;

        rng = rng * 1103515245u + 12345u;
        /* Skewed: a hot set of 40 keys and a long tail that churns. */
        k = (rng >> 16) % 4u == 0 ? (rng >> 8) % M_NAMES : (rng >> 8) % 40u;
        rng = rng * 1103515245u + 12345u;
        v = (double)((rng >> 16) % 10u);
        snprintf(name, sizeof(name), "key-%u", k);

        if (m[k].tracked && now - m[k].accepted < M_HORIZON) {
            expect = fabs(v - m[k].value) >= 3.0;
            if (expect) {
                m[k].value = v;
                m[k].accepted = now;
            }
        } else if (m[k].tracked) {
            expect = true; /* expired: forgotten, own slot reused */
            m[k].value = v;
            m[k].accepted = now;
        } else {
            expect = true;
            if (n_tracked < M_KEYS) {
                n_tracked++;
                m[k].tracked = true;
            } else {
                uint32_t oldest = M_NAMES;

                for (uint32_t i = 0; i < M_NAMES; i++)
                    if (m[i].tracked && (oldest == M_NAMES || m[i].accepted < m[oldest].accepted))
                        oldest = i;
                if (now - m[oldest].accepted >= M_HORIZON) {
                    m[oldest].tracked = false;
                    m[k].tracked = true;
                    evicted++;
                } else {
                    untracked++;
                }
            }
            m[k].value = v;
            m[k].accepted = now;
        }
        got = one(f, name, (int64_t)now, v, now);
        if (expect)
            assert_int_equal(got, ACCEPT);
        else
            assert_int_equal(got, WR_DROP_FILTER_DEADBAND);
    }
    assert_int_equal(wr_filter_stats(f).untracked, untracked);
    assert_int_equal(wr_filter_stats(f).evicted, evicted);
    assert_true(evicted > 100);
    assert_true(untracked > 100);
    wr_filter_destroy(f);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, wr_test_alloc_setup, wr_test_alloc_teardown)
    const struct CMUnitTest tests[] = {
        T(test_filter_create_rejects_bad_params),
        T(test_filter_create_alloc_failure),
        T(test_filter_check_rejects_bad_input),
        T(test_filter_range_bounds_inclusive),
        T(test_filter_range_one_sided),
        T(test_filter_dedup_catches_redelivery_within_depth),
        T(test_filter_interval_from_last_accepted),
        T(test_filter_interval_extreme_times),
        T(test_filter_deadband_against_last_accepted),
        T(test_filter_heartbeat_after_silence),
        T(test_filter_heartbeat_per_key_and_only_deadband),
        T(test_filter_heartbeat_rolled_back_with_batch),
        T(test_filter_heartbeat_outlives_horizon),
        T(test_filter_order_of_checks),
        T(test_filter_keys_and_streams_independent),
        T(test_filter_rollback_keeps_state),
        T(test_filter_batch_sees_its_own_staged_events),
        T(test_filter_table_full_goes_untracked_not_dropped),
        T(test_filter_batch_full_goes_untracked),
        T(test_filter_evicts_least_recently_accepted_expired_key),
        T(test_filter_expired_key_state_forgotten),
        T(test_filter_horizon_never_shortens_interval),
        T(test_filter_commit_refreshes_before_evicting),
        T(test_filter_long_key_without_nul_is_cut),
        T(test_filter_matches_model_under_churn),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
