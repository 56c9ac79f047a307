#include "test_support.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "agg.h"

/* Relative-or-absolute closeness for values that went through different rounding. */
static void assert_close(double got, double want, double rel)
{
    double tol = rel * fmax(1.0, fabs(want));

    if (!(fabs(got - want) <= tol))
        fail_msg("got %.17g, want %.17g (tolerance %.3g)", got, want, tol);
}

static void fold_all(struct wr_agg *a, const double *v, const int64_t *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        wr_agg_add(a, v[i], t[i]);
}

/* Small deterministic generator so failures reproduce. */
static uint64_t rng_state = 88172645463325252u;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_agg_init_is_empty(void **state)
{
    struct wr_agg a;

    (void)state;
    memset(&a, 0x5a, sizeof(a));
    wr_agg_init(&a);
    assert_int_equal(a.count, 0);
    assert_true(a.sum == 0.0);
    assert_true(isinf(a.min) && a.min > 0);
    assert_true(isinf(a.max) && a.max < 0);
    assert_true(wr_agg_stddev(&a) == 0.0);
}

static void test_agg_known_values(void **state)
{
    static const double v[] = {2, 4, 4, 4, 5, 5, 7, 9};
    static const int64_t t[] = {10, 20, 30, 40, 50, 60, 70, 80};
    struct wr_agg a;

    (void)state;
    wr_agg_init(&a);
    fold_all(&a, v, t, 8);
    assert_int_equal(a.count, 8);
    assert_close(a.sum, 40.0, 1e-15);
    assert_close(a.mean, 5.0, 1e-15);
    assert_true(a.min == 2.0);
    assert_true(a.max == 9.0);
    assert_close(wr_agg_stddev(&a), 2.0, 1e-15);
    assert_true(a.first == 2.0);
    assert_int_equal(a.first_ms, 10);
    assert_true(a.last == 9.0);
    assert_int_equal(a.last_ms, 80);
}

static void test_agg_negative_values(void **state)
{
    static const double v[] = {-3.5, -1.0, -7.25, -0.5};
    static const int64_t t[] = {1, 2, 3, 4};
    struct wr_agg a;
    double mean = (-3.5 - 1.0 - 7.25 - 0.5) / 4.0;
    double ss = 0.0;

    (void)state;
    for (int i = 0; i < 4; i++)
        ss += (v[i] - mean) * (v[i] - mean);
    wr_agg_init(&a);
    fold_all(&a, v, t, 4);
    assert_true(a.min == -7.25);
    assert_true(a.max == -0.5);
    assert_close(a.sum, -12.25, 1e-15);
    assert_close(a.mean, mean, 1e-15);
    assert_close(wr_agg_stddev(&a), sqrt(ss / 4.0), 1e-14);
}

static void test_agg_single_event_has_zero_stddev(void **state)
{
    struct wr_agg a;

    (void)state;
    wr_agg_init(&a);
    wr_agg_add(&a, 42.5, 1000);
    assert_int_equal(a.count, 1);
    assert_true(a.min == 42.5 && a.max == 42.5 && a.mean == 42.5);
    assert_true(a.first == 42.5 && a.last == 42.5);
    assert_true(wr_agg_stddev(&a) == 0.0);
}

static void test_agg_identical_values_never_negative(void **state)
{
    struct wr_agg a;

    (void)state;
    wr_agg_init(&a);
    for (int i = 0; i < 1000; i++)
        wr_agg_add(&a, 0.1, i);
    assert_true(wr_agg_stddev(&a) >= 0.0);
    assert_true(wr_agg_stddev(&a) < 1e-12);
    /* A negative m2 left by rounding must clamp to 0, not give NaN. */
    a.m2 = -1e-18;
    assert_true(wr_agg_stddev(&a) == 0.0);
}

static void test_agg_large_offset_keeps_precision(void **state)
{
    struct wr_agg a;
    struct wr_agg b;
    struct wr_agg c;

    (void)state;
    wr_agg_init(&a);
    for (int i = 1; i <= 4; i++)
        wr_agg_add(&a, 1e9 + i, i);
    assert_close(wr_agg_stddev(&a), sqrt(1.25), 1e-6);
    assert_close(a.mean, 1e9 + 2.5, 1e-15);

    /* The same through a merge of two halves. */
    wr_agg_init(&b);
    wr_agg_init(&c);
    wr_agg_add(&b, 1e9 + 1, 1);
    wr_agg_add(&b, 1e9 + 2, 2);
    wr_agg_add(&c, 1e9 + 3, 3);
    wr_agg_add(&c, 1e9 + 4, 4);
    wr_agg_merge(&b, &c);
    assert_close(wr_agg_stddev(&b), sqrt(1.25), 1e-6);

    /* An even larger offset: the naive sum-of-squares formula would give garbage here. */
    wr_agg_init(&a);
    for (int i = 1; i <= 4; i++)
        wr_agg_add(&a, 1e12 + i, i);
    assert_close(wr_agg_stddev(&a), sqrt(1.25), 1e-4);
}

static void test_agg_merge_equals_sequential(void **state)
{
    enum { N = 200 };
    double v[N];
    int64_t t[N];

    (void)state;
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)(1 + rng_next() % N);
        size_t split = (size_t)(rng_next() % (n + 1));
        struct wr_agg seq;
        struct wr_agg left;
        struct wr_agg right;

        for (size_t i = 0; i < n; i++) {
            /* Mix scales and a common offset; times out of order with ties. */
            v[i] = 1000.0 + (double)(int64_t)(rng_next() % 2000001 - 1000000) / 1000.0;
            t[i] = (int64_t)(rng_next() % 50);
        }
        wr_agg_init(&seq);
        fold_all(&seq, v, t, n);
        wr_agg_init(&left);
        wr_agg_init(&right);
        fold_all(&left, v, t, split);
        fold_all(&right, v + split, t + split, n - split);
        wr_agg_merge(&left, &right);

        assert_int_equal(left.count, seq.count);
        assert_close(left.sum, seq.sum, 1e-12);
        assert_true(left.min == seq.min);
        assert_true(left.max == seq.max);
        assert_close(left.mean, seq.mean, 1e-12);
        assert_close(left.m2, seq.m2, 1e-9);
        assert_close(wr_agg_stddev(&left), wr_agg_stddev(&seq), 1e-9);
        /* First/last, ties included, follow arrival order exactly as sequential adds do. */
        assert_true(left.first == seq.first);
        assert_int_equal(left.first_ms, seq.first_ms);
        assert_true(left.last == seq.last);
        assert_int_equal(left.last_ms, seq.last_ms);
    }
}

static void test_agg_merge_with_empty_is_identity(void **state)
{
    struct wr_agg a;
    struct wr_agg empty;
    struct wr_agg copy;

    (void)state;
    wr_agg_init(&a);
    wr_agg_add(&a, 3.0, 5);
    wr_agg_add(&a, -1.0, 2);
    copy = a;
    wr_agg_init(&empty);

    wr_agg_merge(&a, &empty);
    assert_memory_equal(&a, &copy, sizeof(a));

    wr_agg_merge(&empty, &a);
    assert_memory_equal(&empty, &copy, sizeof(a));

    /* Empty into empty stays empty. */
    wr_agg_init(&a);
    wr_agg_init(&empty);
    wr_agg_merge(&a, &empty);
    assert_int_equal(a.count, 0);
    assert_true(isinf(a.min));
}

static void test_agg_first_last_by_event_time(void **state)
{
    struct wr_agg a;

    (void)state;
    wr_agg_init(&a);
    /* Out of order: the earliest event time is first, whatever the arrival order. */
    wr_agg_add(&a, 30.0, 300);
    wr_agg_add(&a, 10.0, 100);
    wr_agg_add(&a, 50.0, 500);
    wr_agg_add(&a, 20.0, 200);
    assert_true(a.first == 10.0);
    assert_int_equal(a.first_ms, 100);
    assert_true(a.last == 50.0);
    assert_int_equal(a.last_ms, 500);

    /* Ties: first keeps the earlier arrival, last takes the later arrival. */
    wr_agg_add(&a, 11.0, 100);
    wr_agg_add(&a, 51.0, 500);
    assert_true(a.first == 10.0);
    assert_true(a.last == 51.0);

    /* Negative and extreme times still work for the very first value. */
    wr_agg_init(&a);
    wr_agg_add(&a, 7.0, INT64_MAX);
    assert_true(a.first == 7.0 && a.last == 7.0);
    wr_agg_init(&a);
    wr_agg_add(&a, 8.0, INT64_MIN);
    assert_true(a.first == 8.0 && a.last == 8.0);
    assert_int_equal(a.last_ms, INT64_MIN);
}

static void test_agg_merge_first_last_ties(void **state)
{
    struct wr_agg a;
    struct wr_agg b;

    (void)state;
    wr_agg_init(&a);
    wr_agg_init(&b);
    wr_agg_add(&a, 1.0, 100);
    wr_agg_add(&a, 2.0, 200);
    wr_agg_add(&b, 3.0, 100);
    wr_agg_add(&b, 4.0, 200);
    wr_agg_merge(&a, &b);
    assert_true(a.first == 1.0); /* equal first_ms: a's first kept */
    assert_true(a.last == 4.0);  /* equal last_ms: b's last taken */

    wr_agg_init(&a);
    wr_agg_init(&b);
    wr_agg_add(&a, 1.0, 150);
    wr_agg_add(&b, 3.0, 50);
    wr_agg_add(&b, 4.0, 120);
    wr_agg_merge(&a, &b);
    assert_true(a.first == 3.0);
    assert_int_equal(a.first_ms, 50);
    assert_true(a.last == 1.0);
    assert_int_equal(a.last_ms, 150);
}

static void test_agg_kind_names_round_trip(void **state)
{
    static const char *const expected[WR_AGG_KIND_COUNT] = {
        "count", "sum", "min", "max", "mean", "first", "last", "stddev",
    };
    unsigned all = 0;

    (void)state;
    for (unsigned i = 0; i < WR_AGG_KIND_COUNT; i++) {
        enum wr_agg_kind k = (enum wr_agg_kind)(1u << i);
        const char *name = wr_agg_kind_name(k);

        assert_non_null(name);
        assert_string_equal(name, expected[i]);
        assert_int_equal(wr_agg_kind_parse(name), 1u << i);
        all |= wr_agg_kind_parse(name);
    }
    assert_int_equal(all, WR_AGG_ALL);
    assert_null(wr_agg_kind_name((enum wr_agg_kind)0));
    assert_null(wr_agg_kind_name((enum wr_agg_kind)(WR_AGG_MIN | WR_AGG_MAX)));
    assert_null(wr_agg_kind_name((enum wr_agg_kind)(1u << 8)));
    assert_int_equal(wr_agg_kind_parse("median"), 0);
    assert_int_equal(wr_agg_kind_parse("COUNT"), 0);
    assert_int_equal(wr_agg_kind_parse(""), 0);
    assert_int_equal(wr_agg_kind_parse(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agg_init_is_empty),
        cmocka_unit_test(test_agg_known_values),
        cmocka_unit_test(test_agg_negative_values),
        cmocka_unit_test(test_agg_single_event_has_zero_stddev),
        cmocka_unit_test(test_agg_identical_values_never_negative),
        cmocka_unit_test(test_agg_large_offset_keeps_precision),
        cmocka_unit_test(test_agg_merge_equals_sequential),
        cmocka_unit_test(test_agg_merge_with_empty_is_identity),
        cmocka_unit_test(test_agg_first_last_by_event_time),
        cmocka_unit_test(test_agg_merge_first_last_ties),
        cmocka_unit_test(test_agg_kind_names_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
