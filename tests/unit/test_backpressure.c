#include "test_support.h"

#include <string.h>

#include "backpressure.h"
#include "wr_error.h"

/*
 * Thresholds used unless a test says otherwise: leave shedding at 50 %,
 * enter at 75 %, leave critical at 80 %, enter at 95 %, over a queue of
 * 100 so that depth reads as percent.
 */

static struct wr_backpressure_params params(const uint8_t *prio, size_t n)
{
    struct wr_backpressure_params p;

    memset(&p, 0, sizeof(p));
    p.shed_leave_pct = 50;
    p.shed_enter_pct = 75;
    p.critical_leave_pct = 80;
    p.critical_enter_pct = 95;
    p.shed_mode = WR_SHED_DROP;
    p.sample_keep_one_in = 10;
    p.priorities = prio;
    p.n_streams = n;
    return p;
}

static struct wr_backpressure *make(const struct wr_backpressure_params *p)
{
    struct wr_backpressure *bp = NULL;

    assert_int_equal(wr_backpressure_create(p, &bp), WR_OK);
    assert_non_null(bp);
    return bp;
}

static enum wr_bp_state upd(struct wr_backpressure *bp, size_t depth, bool expect_changed)
{
    bool changed = !expect_changed;
    enum wr_bp_state s = wr_backpressure_update(bp, depth, 100, &changed);

    assert_int_equal(changed, expect_changed);
    assert_int_equal(wr_backpressure_current(bp), s);
    return s;
}

static void test_backpressure_create_rejects_bad_params(void **state)
{
    uint8_t prio[2] = {1, 5};
    struct wr_backpressure_params p = params(prio, 2);
    struct wr_backpressure *bp = NULL;

    (void)state;
    assert_int_equal(wr_backpressure_create(NULL, &bp), WR_E_INVAL);
    assert_int_equal(wr_backpressure_create(&p, NULL), WR_E_INVAL);
    p.n_streams = 0;
    assert_int_equal(wr_backpressure_create(&p, &bp), WR_E_INVAL);
    p = params(NULL, 2);
    assert_int_equal(wr_backpressure_create(&p, &bp), WR_E_INVAL);
    p = params(prio, 2);
    p.shed_leave_pct = 75; /* not below enter */
    assert_int_equal(wr_backpressure_create(&p, &bp), WR_E_INVAL);
    p = params(prio, 2);
    p.critical_leave_pct = 70; /* below shed_enter */
    assert_int_equal(wr_backpressure_create(&p, &bp), WR_E_INVAL);
    p = params(prio, 2);
    p.critical_enter_pct = 80; /* not above critical_leave */
    assert_int_equal(wr_backpressure_create(&p, &bp), WR_E_INVAL);
    p = params(prio, 2);
    p.critical_enter_pct = 101;
    assert_int_equal(wr_backpressure_create(&p, &bp), WR_E_INVAL);
    p = params(prio, 2);
    p.shed_mode = WR_SHED_SAMPLE;
    p.sample_keep_one_in = 0;
    assert_int_equal(wr_backpressure_create(&p, &bp), WR_E_INVAL);
    prio[1] = 10;
    p = params(prio, 2);
    assert_int_equal(wr_backpressure_create(&p, &bp), WR_E_INVAL);
    assert_null(bp);
    /* shed_enter == critical_leave is allowed. */
    prio[1] = 9;
    p = params(prio, 2);
    p.critical_leave_pct = 75;
    bp = make(&p);
    assert_int_equal(wr_backpressure_current(bp), WR_BP_NORMAL);
    wr_backpressure_destroy(bp);
    wr_backpressure_destroy(NULL);
}

static void test_backpressure_create_alloc_failure(void **state)
{
    uint8_t prio[3] = {1, 5, 9};
    struct wr_backpressure_params p = params(prio, 3);
    struct wr_backpressure *bp = NULL;
    long n;
    int rc;

    (void)state;
    for (n = 1;; n++) {
        wr_test_alloc_fail_at(n);
        bp = NULL;
        rc = wr_backpressure_create(&p, &bp);
        if (rc == WR_OK)
            break;
        assert_int_equal(rc, WR_E_NOMEM);
        assert_null(bp);
    }
    assert_true(n > 1);
    wr_test_alloc_fail_at(0);
    assert_int_equal(upd(bp, 80, true), WR_BP_SHEDDING);
    wr_backpressure_destroy(bp);
}

static void test_backpressure_transitions_with_hysteresis(void **state)
{
    uint8_t prio[1] = {5};
    struct wr_backpressure_params p = params(prio, 1);
    struct wr_backpressure *bp = make(&p);

    (void)state;
    assert_int_equal(upd(bp, 0, false), WR_BP_NORMAL);
    assert_int_equal(upd(bp, 74, false), WR_BP_NORMAL);
    assert_int_equal(upd(bp, 75, true), WR_BP_SHEDDING);
    assert_int_equal(upd(bp, 75, false), WR_BP_SHEDDING); /* reported once */
    assert_int_equal(upd(bp, 94, false), WR_BP_SHEDDING);
    assert_int_equal(upd(bp, 95, true), WR_BP_CRITICAL);
    assert_int_equal(upd(bp, 100, false), WR_BP_CRITICAL);
    assert_int_equal(upd(bp, 81, false), WR_BP_CRITICAL);
    assert_int_equal(upd(bp, 80, true), WR_BP_SHEDDING);
    assert_int_equal(upd(bp, 51, false), WR_BP_SHEDDING);
    assert_int_equal(upd(bp, 50, true), WR_BP_NORMAL);
    assert_int_equal(upd(bp, 50, false), WR_BP_NORMAL);
    wr_backpressure_destroy(bp);
}

static void test_backpressure_no_flapping_between_thresholds(void **state)
{
    uint8_t prio[1] = {5};
    struct wr_backpressure_params p = params(prio, 1);
    struct wr_backpressure *bp = make(&p);
    int changes = 0;

    (void)state;
    /* Rising from empty, oscillating inside the shedding band's hysteresis: stays NORMAL. */
    for (int i = 0; i < 100; i++) {
        bool changed;

        wr_backpressure_update(bp, i % 2 ? 51u : 74u, 100, &changed);
        changes += changed;
    }
    assert_int_equal(changes, 0);
    assert_int_equal(wr_backpressure_current(bp), WR_BP_NORMAL);
    /* Once in SHEDDING the same oscillation keeps it there. */
    assert_int_equal(upd(bp, 76, true), WR_BP_SHEDDING);
    for (int i = 0; i < 100; i++) {
        bool changed;

        wr_backpressure_update(bp, i % 2 ? 51u : 94u, 100, &changed);
        changes += changed;
    }
    assert_int_equal(changes, 0);
    /* CRITICAL held between 81 and 100. */
    assert_int_equal(upd(bp, 96, true), WR_BP_CRITICAL);
    for (int i = 0; i < 100; i++) {
        bool changed;

        wr_backpressure_update(bp, i % 2 ? 81u : 100u, 100, &changed);
        changes += changed;
    }
    assert_int_equal(changes, 0);
    assert_int_equal(wr_backpressure_current(bp), WR_BP_CRITICAL);
    /* Crossing both thresholds each round does flip, and each flip is reported once. */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(upd(bp, 80, true), WR_BP_SHEDDING);
        assert_int_equal(upd(bp, 95, true), WR_BP_CRITICAL);
    }
    wr_backpressure_destroy(bp);
}

static void test_backpressure_jumps_skip_shedding(void **state)
{
    uint8_t prio[1] = {5};
    struct wr_backpressure_params p = params(prio, 1);
    struct wr_backpressure *bp = make(&p);

    (void)state;
    assert_int_equal(upd(bp, 99, true), WR_BP_CRITICAL);
    assert_int_equal(upd(bp, 10, true), WR_BP_NORMAL); /* one change, straight down */
    assert_int_equal(upd(bp, 95, true), WR_BP_CRITICAL);
    assert_int_equal(upd(bp, 50, true), WR_BP_NORMAL); /* <= shed_leave exactly */
    wr_backpressure_destroy(bp);
}

static void test_backpressure_exact_fractions(void **state)
{
    uint8_t prio[1] = {5};
    struct wr_backpressure_params p = params(prio, 1);
    struct wr_backpressure *bp;
    bool changed;

    (void)state;
    p.shed_enter_pct = 67;
    p.shed_leave_pct = 66;
    bp = make(&p);
    /* 2/3 = 66.67 %: at least 66, below 67. No rounding either way. */
    assert_int_equal(wr_backpressure_update(bp, 2, 3, &changed), WR_BP_NORMAL);
    assert_false(changed);
    /* 6144 / 8192 = 75 % exactly; 6143 is just under. */
    wr_backpressure_destroy(bp);
    p = params(prio, 1);
    bp = make(&p);
    assert_int_equal(wr_backpressure_update(bp, 6143, 8192, &changed), WR_BP_NORMAL);
    assert_int_equal(wr_backpressure_update(bp, 6144, 8192, &changed), WR_BP_SHEDDING);
    assert_true(changed);
    assert_int_equal(wr_backpressure_update(bp, 4097, 8192, &changed), WR_BP_SHEDDING);
    assert_int_equal(wr_backpressure_update(bp, 4096, 8192, &changed), WR_BP_NORMAL);
    /* Depth over capacity counts as full; capacity 0 changes nothing. */
    assert_int_equal(wr_backpressure_update(bp, 9000, 8192, &changed), WR_BP_CRITICAL);
    assert_int_equal(wr_backpressure_update(bp, 0, 0, &changed), WR_BP_CRITICAL);
    assert_false(changed);
    assert_int_equal(wr_backpressure_update(NULL, 0, 100, &changed), WR_BP_NORMAL);
    assert_int_equal(wr_backpressure_current(NULL), WR_BP_NORMAL);
    wr_backpressure_destroy(bp);
}

static void test_backpressure_sheds_lowest_priority_first(void **state)
{
    /* Streams 0..4 with priorities 2, 5, 5, 9, 2: levels 2 < 5 < 9. */
    uint8_t prio[5] = {2, 5, 5, 9, 2};
    struct wr_backpressure_params p = params(prio, 5);
    struct wr_backpressure *bp = make(&p);
    bool shed[5];

    (void)state;
    upd(bp, 74, false);
    for (size_t s = 0; s < 5; s++)
        assert_false(wr_backpressure_should_shed(bp, s));
    assert_int_equal(wr_backpressure_shed_below(bp), 0);

    /* Band 75..95 split in two: [75, 85) sheds level 2, [85, 95) levels 2 and 5. */
    upd(bp, 75, true);
    assert_int_equal(wr_backpressure_shed_below(bp), 5);
    for (size_t s = 0; s < 5; s++)
        shed[s] = wr_backpressure_should_shed(bp, s);
    assert_true(shed[0] && shed[4]);
    assert_false(shed[1] || shed[2] || shed[3]);
    upd(bp, 84, false);
    assert_int_equal(wr_backpressure_shed_below(bp), 5);
    upd(bp, 85, false);
    assert_int_equal(wr_backpressure_shed_below(bp), 9);
    assert_true(wr_backpressure_should_shed(bp, 1));
    assert_true(wr_backpressure_should_shed(bp, 2));
    upd(bp, 94, false);
    /* The highest level is never shed in SHEDDING. */
    assert_false(wr_backpressure_should_shed(bp, 3));
    /* Falling back inside the hysteresis band: only the lowest level again. */
    upd(bp, 60, false);
    assert_int_equal(wr_backpressure_shed_below(bp), 5);
    assert_false(wr_backpressure_should_shed(bp, 1));
    assert_true(wr_backpressure_should_shed(bp, 0));
    /* CRITICAL: everything but the highest level, for a caller that takes messages anyway. */
    upd(bp, 95, true);
    assert_int_equal(wr_backpressure_shed_below(bp), 9);
    assert_false(wr_backpressure_should_shed(bp, 3));
    assert_true(wr_backpressure_should_shed(bp, 4));
    upd(bp, 10, true);
    assert_false(wr_backpressure_should_shed(bp, 0));
    /* Unknown streams and NULL are never shed. */
    upd(bp, 80, true);
    assert_false(wr_backpressure_should_shed(bp, 5));
    assert_false(wr_backpressure_should_shed(NULL, 0));
    wr_backpressure_destroy(bp);
}

static void test_backpressure_levels_spread_over_band(void **state)
{
    /* Ten levels, 0..9: nine sheddable levels over the 20-point band (75..95). */
    uint8_t prio[10] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
    struct wr_backpressure_params p = params(prio, 10);
    struct wr_backpressure *bp = make(&p);
    unsigned last = 0;

    (void)state;
    upd(bp, 75, true);
    assert_int_equal(wr_backpressure_shed_below(bp), 1);
    /* Rising through the band on a fine-grained queue: monotonic, never sheds 9. */
    for (size_t d = 7500; d < 9500; d++) {
        unsigned below;

        wr_backpressure_update(bp, d, 10000, NULL);
        below = wr_backpressure_shed_below(bp);
        assert_true(below >= last);
        assert_true(below >= 1 && below <= 9);
        last = below;
    }
    assert_int_equal(last, 9);
    /* k = 1 + floor((fill - 75) * 9 / 20) reaches 9 (levels 0..8 shed) at fill
     * 75 + 20 * 8 / 9 = 92.78 %: 9277 of 10000 is just under, 9278 just over. */
    wr_backpressure_update(bp, 9277, 10000, NULL);
    assert_int_equal(wr_backpressure_shed_below(bp), 8);
    wr_backpressure_update(bp, 9278, 10000, NULL);
    assert_int_equal(wr_backpressure_shed_below(bp), 9);
    assert_false(wr_backpressure_should_shed(bp, 0)); /* stream 0 has priority 9 */
    assert_true(wr_backpressure_should_shed(bp, 1));
    wr_backpressure_destroy(bp);
}

static void test_backpressure_single_level_never_sheds(void **state)
{
    uint8_t prio[3] = {4, 4, 4};
    struct wr_backpressure_params p = params(prio, 3);
    struct wr_backpressure *bp = make(&p);

    (void)state;
    upd(bp, 94, true);
    assert_int_equal(wr_backpressure_current(bp), WR_BP_SHEDDING);
    assert_int_equal(wr_backpressure_shed_below(bp), 0);
    for (size_t s = 0; s < 3; s++)
        assert_false(wr_backpressure_should_shed(bp, s));
    wr_backpressure_destroy(bp);
}

static void test_backpressure_sample_keeps_one_in_n(void **state)
{
    uint8_t prio[3] = {1, 1, 9};
    struct wr_backpressure_params p = params(prio, 3);
    struct wr_backpressure *bp;
    unsigned kept0 = 0;
    unsigned kept1 = 0;

    (void)state;
    p.shed_mode = WR_SHED_SAMPLE;
    p.sample_keep_one_in = 7;
    bp = make(&p);
    upd(bp, 80, true);
    /* The first event of each run of seven is kept, the others shed. */
    for (unsigned i = 0; i < 700; i++) {
        bool s0 = wr_backpressure_should_shed(bp, 0);

        assert_int_equal(s0, i % 7 != 0);
        kept0 += !s0;
        if (i % 2 == 0) /* stream 1 has its own counter */
            kept1 += !wr_backpressure_should_shed(bp, 1);
        assert_false(wr_backpressure_should_shed(bp, 2)); /* never shed, never counted */
    }
    assert_int_equal(kept0, 100);
    assert_int_equal(kept1, 50);
    /* NORMAL does not advance the counter. */
    upd(bp, 0, true);
    for (int i = 0; i < 3; i++)
        assert_false(wr_backpressure_should_shed(bp, 0));
    upd(bp, 80, true);
    assert_false(wr_backpressure_should_shed(bp, 0)); /* 700 % 7 == 0: a keeper */
    assert_true(wr_backpressure_should_shed(bp, 0));
    wr_backpressure_destroy(bp);
}

static void test_backpressure_sample_one_in_one_keeps_all(void **state)
{
    uint8_t prio[2] = {1, 9};
    struct wr_backpressure_params p = params(prio, 2);
    struct wr_backpressure *bp;

    (void)state;
    p.shed_mode = WR_SHED_SAMPLE;
    p.sample_keep_one_in = 1;
    bp = make(&p);
    upd(bp, 90, true);
    for (int i = 0; i < 50; i++)
        assert_false(wr_backpressure_should_shed(bp, 0));
    wr_backpressure_destroy(bp);
}

static void test_backpressure_state_names(void **state)
{
    (void)state;
    assert_string_equal(wr_backpressure_state_name(WR_BP_NORMAL), "normal");
    assert_string_equal(wr_backpressure_state_name(WR_BP_SHEDDING), "shedding");
    assert_string_equal(wr_backpressure_state_name(WR_BP_CRITICAL), "critical");
    assert_string_equal(wr_backpressure_state_name((enum wr_bp_state)7), "unknown");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, wr_test_alloc_setup, wr_test_alloc_teardown)
    const struct CMUnitTest tests[] = {
        T(test_backpressure_create_rejects_bad_params),
        T(test_backpressure_create_alloc_failure),
        T(test_backpressure_transitions_with_hysteresis),
        T(test_backpressure_no_flapping_between_thresholds),
        T(test_backpressure_jumps_skip_shedding),
        T(test_backpressure_exact_fractions),
        T(test_backpressure_sheds_lowest_priority_first),
        T(test_backpressure_levels_spread_over_band),
        T(test_backpressure_single_level_never_sheds),
        T(test_backpressure_sample_keeps_one_in_n),
        T(test_backpressure_sample_one_in_one_keeps_all),
        T(test_backpressure_state_names),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
