#include "test_support.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sketch.h"
#include "wr_error.h"

/* Small deterministic generator so failures reproduce. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Uniform in (0, 1). */
static double rng_unit(void)
{
    return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_normal(void)
{
    return sqrt(-2.0 * log(rng_unit())) * cos(6.283185307179586 * rng_unit());
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

static const double qs[] = {0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0};

/* The value of rank floor(q * (n - 1)) in sorted v: what the sketch promises to approximate. */
static double exact_quantile(const double *sorted, size_t n, double q)
{
    return sorted[(size_t)floor(q * (double)(n - 1))];
}

/*
 * Check the documented bound for every q in qs: |est - x| <= a * |x|, with a
 * few ulps of slack for the logarithm at bucket edges; magnitudes below
 * WR_SKETCH_MIN_INDEXABLE are reported as 0.
 */
static void check_bound(const struct wr_sketch *sk, double *v, size_t n, double accuracy)
{
    qsort(v, n, sizeof(*v), cmp_double);
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        double x = exact_quantile(v, n, qs[i]);
        double est = 0;
        double tol;

        assert_int_equal(wr_sketch_quantile(sk, qs[i], &est), WR_OK);
        if (fabs(x) < WR_SKETCH_MIN_INDEXABLE) {
            if (est != 0.0)
                fail_msg("q=%g: exact %.17g below min indexable, got %.17g", qs[i], x, est);
            continue;
        }
        tol = accuracy * fabs(x) * (1.0 + 1e-9);
        if (!(fabs(est - x) <= tol))
            fail_msg("q=%g: exact %.17g, estimate %.17g, error %.3g > %.3g", qs[i], x, est,
                     fabs(est - x) / fabs(x), accuracy);
    }
}

static struct wr_sketch *make(double accuracy, uint32_t max_buckets)
{
    struct wr_sketch *sk = NULL;

    assert_int_equal(wr_sketch_create(accuracy, max_buckets, &sk), WR_OK);
    assert_non_null(sk);
    return sk;
}

static void add_all(struct wr_sketch *sk, const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(wr_sketch_add(sk, v[i]), WR_OK);
}

typedef double (*gen_fn)(void);

static double gen_uniform(void)
{
    return 10.0 + 90.0 * rng_unit();
}

static double gen_lognormal(void)
{
    return exp(1.0 + 2.0 * rng_normal());
}

static double gen_pareto(void)
{
    /* alpha 1.1: a heavy tail, max/median in the thousands. */
    return pow(rng_unit(), -1.0 / 1.1);
}

static double gen_signed(void)
{
    return 50.0 * rng_normal();
}

static double gen_temperature(void)
{
    return -5.0 + 30.0 * rng_unit();
}

static void run_distribution(gen_fn gen, size_t n, double accuracy, uint32_t max_buckets)
{
    double *v = malloc(n * sizeof(*v));
    struct wr_sketch *sk = make(accuracy, max_buckets);

    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = gen();
    add_all(sk, v, n);
    assert_int_equal(wr_sketch_count(sk), n);
    check_bound(sk, v, n, accuracy);
    wr_sketch_destroy(sk);
    free(v);
}

static void test_sketch_bound_uniform(void **state)
{
    (void)state;
    rng_state = 1;
    run_distribution(gen_uniform, 20000, 0.01, 512);
    run_distribution(gen_uniform, 20000, 0.001, 4096);
    run_distribution(gen_uniform, 3, 0.05, 64);
}

static void test_sketch_bound_lognormal(void **state)
{
    (void)state;
    rng_state = 2;
    run_distribution(gen_lognormal, 20000, 0.01, 2048);
}

static void test_sketch_bound_heavy_tail(void **state)
{
    (void)state;
    rng_state = 3;
    run_distribution(gen_pareto, 20000, 0.01, 2048);
    run_distribution(gen_pareto, 20000, 0.02, 512);
}

static void test_sketch_bound_negative_and_mixed(void **state)
{
    double neg[1000];
    struct wr_sketch *sk = make(0.01, 512);

    (void)state;
    rng_state = 4;
    run_distribution(gen_signed, 20000, 0.01, 512);
    run_distribution(gen_temperature, 5000, 0.01, 512);
    for (size_t i = 0; i < 1000; i++)
        neg[i] = -1.0 - (double)i;
    add_all(sk, neg, 1000);
    check_bound(sk, neg, 1000, 0.01);
    wr_sketch_destroy(sk);
}

static void test_sketch_constant_and_one_value(void **state)
{
    double one[1] = {42.5};
    double same[500];
    struct wr_sketch *sk = make(0.01, 512);
    double est = 0;

    (void)state;
    add_all(sk, one, 1);
    check_bound(sk, one, 1, 0.01);
    wr_sketch_destroy(sk);
    sk = make(0.01, 512);
    for (size_t i = 0; i < 500; i++)
        same[i] = -7.25;
    add_all(sk, same, 500);
    check_bound(sk, same, 500, 0.01);
    /* One occupied bucket: the sketch holds one count, whatever the number of values. */
    /* version, accuracy, max_buckets (2), zero, pos n, neg n, lo 100 (zigzag 200: 2), count 500 (2)
     */
    assert_int_equal(wr_sketch_serialized_size(sk), 1 + 8 + 2 + 1 + 1 + 1 + 2 + 2);
    assert_int_equal(wr_sketch_quantile(sk, 0.5, &est), WR_OK);
    assert_true(est < -7.25 * 0.99 && est > -7.25 * 1.01);
    wr_sketch_destroy(sk);
}

static void test_sketch_zero_and_tiny(void **state)
{
    double v[] = {0.0, -0.0, 1e-12, -1e-10, 0.0, 5.0, -5.0, 1e-9, 2e-9};
    /* 1e-9 .. 5 spans about 1120 buckets at 1 %: room for all of them, no collapse. */
    struct wr_sketch *sk = make(0.01, 2048);
    uint64_t zero = 0;

    (void)state;
    add_all(sk, v, sizeof(v) / sizeof(v[0]));
    assert_int_equal(wr_sketch_view(sk, NULL, NULL, &zero), WR_OK);
    assert_int_equal(zero, 5);
    check_bound(sk, v, sizeof(v) / sizeof(v[0]), 0.01);
    wr_sketch_destroy(sk);
}

static void test_sketch_huge_range_collapses_low_end(void **state)
{
    const size_t n = 20000;
    double *v = malloc(n * sizeof(*v));
    struct wr_sketch *sk = make(0.01, 512);
    struct wr_sketch_store_view pos;
    double est = 0;
    double top;

    (void)state;
    assert_non_null(v);
    rng_state = 5;
    /* Magnitudes from 1e-6 to 1e300: far more than 512 buckets. */
    for (size_t i = 0; i < n; i++)
        v[i] = pow(10.0, -6.0 + 306.0 * rng_unit());
    add_all(sk, v, n);
    assert_int_equal(wr_sketch_view(sk, &pos, NULL, NULL), WR_OK);
    assert_true(pos.n <= 512);
    assert_true(wr_sketch_memory_bytes(sk) <= 512 * sizeof(uint64_t) + 256);
    qsort(v, n, sizeof(*v), cmp_double);
    /* Quantiles whose value lies above the collapsed range keep the bound. */
    top = exact_quantile(v, n, 1.0);
    for (double q = 0.999; q <= 1.0; q += 0.0002) {
        double x = exact_quantile(v, n, q);

        if (x < top / exp(500 * log1p(0.02 / 0.99)))
            continue;
        assert_int_equal(wr_sketch_quantile(sk, q, &est), WR_OK);
        assert_true(fabs(est - x) <= 0.01 * x * (1 + 1e-9));
    }
    /* Collapsed ones are over-estimated in magnitude, never under. */
    assert_int_equal(wr_sketch_quantile(sk, 0.0, &est), WR_OK);
    assert_true(est >= v[0]);
    wr_sketch_destroy(sk);
    free(v);
}

static void test_sketch_extreme_magnitudes(void **state)
{
    double v[] = {1.7976931348623157e308, -1.7976931348623157e308, 1e-9, 4.9e-324, 1e308};
    struct wr_sketch *sk = make(0.01, WR_SKETCH_MAX_BUCKETS_MAX);
    double est = 0;

    (void)state;
    add_all(sk, v, sizeof(v) / sizeof(v[0]));
    assert_int_equal(wr_sketch_quantile(sk, 1.0, &est), WR_OK);
    assert_true(isfinite(est));
    assert_true(fabs(est - v[0]) <= 0.01 * v[0]);
    assert_int_equal(wr_sketch_quantile(sk, 0.0, &est), WR_OK);
    assert_true(isfinite(est));
    assert_true(fabs(est - v[1]) <= 0.01 * -v[1]);
    wr_sketch_destroy(sk);
}

static void serialize_to(const struct wr_sketch *sk, uint8_t **buf, size_t *len)
{
    size_t need = wr_sketch_serialized_size(sk);

    *buf = malloc(need);
    assert_non_null(*buf);
    assert_int_equal(wr_sketch_serialize(sk, *buf, need, len), WR_OK);
    assert_int_equal(*len, need);
}

static void assert_same_sketch(const struct wr_sketch *a, const struct wr_sketch *b)
{
    uint8_t *ba;
    uint8_t *bb;
    size_t la;
    size_t lb;

    serialize_to(a, &ba, &la);
    serialize_to(b, &bb, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    free(ba);
    free(bb);
}

/* Merging in any grouping equals adding everything to one sketch, collapse included. */
static void test_sketch_merge_exact_and_associative(void **state)
{
    const uint32_t limits[] = {16, 512};

    (void)state;
    for (size_t li = 0; li < 2; li++) {
        struct wr_sketch *all = make(0.01, limits[li]);
        struct wr_sketch *part[3];
        struct wr_sketch *left = make(0.01, limits[li]);
        struct wr_sketch *right = make(0.01, limits[li]);
        struct wr_sketch *bc = make(0.01, limits[li]);

        rng_state = 6 + li;
        for (int p = 0; p < 3; p++)
            part[p] = make(0.01, limits[li]);
        for (int i = 0; i < 3000; i++) {
            /* Each part gets a different range, so merges must widen and collapse. */
            int p = i % 3;
            double x = (p == 0 ? 1.0 : p == 1 ? 1e4 : -30.0) * gen_lognormal();

            assert_int_equal(wr_sketch_add(all, x), WR_OK);
            assert_int_equal(wr_sketch_add(part[p], x), WR_OK);
        }
        /* (a + b) + c */
        assert_int_equal(wr_sketch_merge(left, part[0]), WR_OK);
        assert_int_equal(wr_sketch_merge(left, part[1]), WR_OK);
        assert_int_equal(wr_sketch_merge(left, part[2]), WR_OK);
        /* a + (b + c), built as c then b into bc, then bc into a copy of a. */
        assert_int_equal(wr_sketch_merge(bc, part[2]), WR_OK);
        assert_int_equal(wr_sketch_merge(bc, part[1]), WR_OK);
        assert_int_equal(wr_sketch_merge(right, bc), WR_OK);
        assert_int_equal(wr_sketch_merge(right, part[0]), WR_OK);
        assert_same_sketch(all, left);
        assert_same_sketch(all, right);
        assert_int_equal(wr_sketch_count(left), 3000);
        for (int p = 0; p < 3; p++)
            wr_sketch_destroy(part[p]);
        wr_sketch_destroy(all);
        wr_sketch_destroy(left);
        wr_sketch_destroy(right);
        wr_sketch_destroy(bc);
    }
}

static void test_sketch_merge_keeps_bound(void **state)
{
    const size_t n = 10000;
    double *v = malloc(n * sizeof(*v));
    struct wr_sketch *sum = make(0.01, 2048);

    (void)state;
    assert_non_null(v);
    rng_state = 9;
    /* Ten windows of ten keys' worth, rolled up one by one as store_budget does. */
    for (size_t w = 0; w < 10; w++) {
        struct wr_sketch *one = make(0.01, 2048);

        for (size_t i = 0; i < n / 10; i++) {
            v[w * (n / 10) + i] = gen_lognormal() * (double)(w + 1);
            assert_int_equal(wr_sketch_add(one, v[w * (n / 10) + i]), WR_OK);
        }
        assert_int_equal(wr_sketch_merge(sum, one), WR_OK);
        wr_sketch_destroy(one);
    }
    check_bound(sum, v, n, 0.01);
    wr_sketch_destroy(sum);
    free(v);
}

static void test_sketch_merge_refuses_other_params(void **state)
{
    struct wr_sketch *a = make(0.01, 512);
    struct wr_sketch *b = make(0.02, 512);
    struct wr_sketch *c = make(0.01, 256);

    (void)state;
    assert_int_equal(wr_sketch_add(b, 1.0), WR_OK);
    assert_int_equal(wr_sketch_merge(a, b), WR_E_INVAL);
    assert_int_equal(wr_sketch_merge(a, c), WR_E_INVAL);
    assert_int_equal(wr_sketch_merge(a, NULL), WR_E_INVAL);
    assert_int_equal(wr_sketch_count(a), 0);
    wr_sketch_destroy(a);
    wr_sketch_destroy(b);
    wr_sketch_destroy(c);
}

static void test_sketch_serialize_round_trip(void **state)
{
    struct wr_sketch *sk = make(0.01, 512);
    struct wr_sketch *back = NULL;
    struct wr_sketch *empty = make(0.005, 64);
    uint8_t *buf;
    size_t len;
    uint8_t small[4];
    size_t need = 0;

    (void)state;
    rng_state = 10;
    for (int i = 0; i < 2000; i++)
        assert_int_equal(wr_sketch_add(sk, gen_signed()), WR_OK);
    assert_int_equal(wr_sketch_add(sk, 0.0), WR_OK);
    serialize_to(sk, &buf, &len);
    assert_int_equal(wr_sketch_deserialize(buf, len, &back), WR_OK);
    assert_same_sketch(sk, back);
    assert_true(wr_sketch_accuracy(back) == 0.01);
    assert_int_equal(wr_sketch_max_buckets(back), 512);
    assert_int_equal(wr_sketch_count(back), 2001);
    assert_int_equal(wr_sketch_serialize(sk, small, sizeof(small), &need), WR_E_TOOBIG);
    assert_int_equal(need, len);
    free(buf);
    wr_sketch_destroy(back);
    back = NULL;
    serialize_to(empty, &buf, &len);
    assert_int_equal(len, 1 + 8 + 1 + 1 + 1 + 1);
    assert_int_equal(wr_sketch_deserialize(buf, len, &back), WR_OK);
    assert_int_equal(wr_sketch_count(back), 0);
    free(buf);
    wr_sketch_destroy(back);
    wr_sketch_destroy(empty);
    wr_sketch_destroy(sk);
}

/* The binary form of a known sketch, byte for byte (docs/upstream-schema.md). */
static void test_sketch_binary_fixture(void **state)
{
    /* a = 0.125: gamma = 9/7, a bucket spans a factor of 1.29. */
    static const uint8_t want[] = {
        0x01,                                           /* version */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x3f, /* 0.125 little-endian */
        0x10,                                           /* max_buckets 16 */
        0x01,                                           /* zero count */
        0x02, 0x00, 0x02, 0x01,                         /* pos: n 2, lo 0, counts 2 1 */
        0x01, 0x03, 0x01,                               /* neg: n 1, lo -2 (zigzag 3), count 1 */
    };
    struct wr_sketch *sk;
    uint8_t buf[64];
    size_t len = 0;

    (void)state;
    sk = make(0.125, 16);
    /* 1.0 -> index 0; 1.2 -> ceil(ln 1.2 / ln(9/7)) = 1; -0.6 -> ceil(ln 0.6 / ln(9/7)) = -2 */
    assert_int_equal(wr_sketch_add(sk, 1.0), WR_OK);
    assert_int_equal(wr_sketch_add(sk, 1.0), WR_OK);
    assert_int_equal(wr_sketch_add(sk, 1.2), WR_OK);
    assert_int_equal(wr_sketch_add(sk, -0.6), WR_OK);
    assert_int_equal(wr_sketch_add(sk, 0.0), WR_OK);
    assert_int_equal(wr_sketch_serialize(sk, buf, sizeof(buf), &len), WR_OK);
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
    wr_sketch_destroy(sk);
}

static void test_sketch_deserialize_refuses_bad_input(void **state)
{
    static const uint8_t good[] = {0x01, 0,    0,    0,    0,    0,    0,    0xc0, 0x3f,
                                   0x10, 0x01, 0x02, 0x00, 0x02, 0x01, 0x01, 0x03, 0x01};
    uint8_t b[sizeof(good) + 1];
    struct wr_sketch *sk = NULL;

    (void)state;
    assert_int_equal(wr_sketch_deserialize(good, sizeof(good), &sk), WR_OK);
    wr_sketch_destroy(sk);
    sk = NULL;
    /* Every truncation is refused. */
    for (size_t n = 0; n < sizeof(good); n++) {
        assert_int_not_equal(wr_sketch_deserialize(good, n, &sk), WR_OK);
        assert_null(sk);
    }
    /* A trailing byte. */
    memcpy(b, good, sizeof(good));
    b[sizeof(good)] = 0;
    assert_int_equal(wr_sketch_deserialize(b, sizeof(good) + 1, &sk), WR_E_PARSE);
    /* Unknown version. */
    memcpy(b, good, sizeof(good));
    b[0] = 2;
    assert_int_equal(wr_sketch_deserialize(b, sizeof(good), &sk), WR_E_CORRUPT);
    /* Accuracy 0.25 (0x3fd0...) is out of range. */
    memcpy(b, good, sizeof(good));
    b[8] = 0x3f;
    b[7] = 0xd0;
    assert_int_equal(wr_sketch_deserialize(b, sizeof(good), &sk), WR_E_CORRUPT);
    /* max_buckets 15 is below the minimum. */
    memcpy(b, good, sizeof(good));
    b[9] = 0x0f;
    assert_int_equal(wr_sketch_deserialize(b, sizeof(good), &sk), WR_E_CORRUPT);
    /* A store wider than max_buckets (17 > 16). */
    memcpy(b, good, sizeof(good));
    b[11] = 0x11;
    assert_int_equal(wr_sketch_deserialize(b, sizeof(good), &sk), WR_E_CORRUPT);
    /* A zero edge count. */
    memcpy(b, good, sizeof(good));
    b[14] = 0x00;
    assert_int_equal(wr_sketch_deserialize(b, sizeof(good), &sk), WR_E_CORRUPT);
    /* A padded varint (0x80 0x00 for zero). */
    {
        static const uint8_t padded[] = {0x01, 0,    0,    0,    0,    0,    0,
                                         0xc0, 0x3f, 0x10, 0x80, 0x00, 0x00, 0x00};
        assert_int_equal(wr_sketch_deserialize(padded, sizeof(padded), &sk), WR_E_PARSE);
    }
    assert_null(sk);
    assert_int_equal(wr_sketch_deserialize(good, sizeof(good), NULL), WR_E_INVAL);
}

static void test_sketch_invalid_arguments(void **state)
{
    struct wr_sketch *sk = NULL;
    double est = 0;

    (void)state;
    assert_int_equal(wr_sketch_create(0.0, 512, &sk), WR_E_INVAL);
    assert_int_equal(wr_sketch_create(0.5, 512, &sk), WR_E_INVAL);
    assert_int_equal(wr_sketch_create(NAN, 512, &sk), WR_E_INVAL);
    assert_int_equal(wr_sketch_create(0.01, 8, &sk), WR_E_INVAL);
    assert_int_equal(wr_sketch_create(0.01, 100000, &sk), WR_E_INVAL);
    assert_int_equal(wr_sketch_create(0.01, 512, NULL), WR_E_INVAL);
    sk = make(0.01, 512);
    assert_int_equal(wr_sketch_add(sk, NAN), WR_E_INVAL);
    assert_int_equal(wr_sketch_add(sk, INFINITY), WR_E_INVAL);
    assert_int_equal(wr_sketch_add(NULL, 1.0), WR_E_INVAL);
    assert_int_equal(wr_sketch_quantile(sk, 0.5, &est), WR_E_EMPTY);
    assert_int_equal(wr_sketch_add(sk, 1.0), WR_OK);
    assert_int_equal(wr_sketch_quantile(sk, -0.1, &est), WR_E_INVAL);
    assert_int_equal(wr_sketch_quantile(sk, 1.5, &est), WR_E_INVAL);
    assert_int_equal(wr_sketch_quantile(sk, NAN, &est), WR_E_INVAL);
    wr_sketch_clear(sk);
    assert_int_equal(wr_sketch_count(sk), 0);
    assert_int_equal(wr_sketch_quantile(sk, 0.5, &est), WR_E_EMPTY);
    wr_sketch_destroy(sk);
    wr_sketch_destroy(NULL);
}

/* Memory follows the range in use: a narrow signal keeps a small array. */
static void test_sketch_memory_grows_with_range(void **state)
{
    struct wr_sketch *sk = make(0.01, 512);
    size_t empty = wr_sketch_memory_bytes(sk);

    (void)state;
    rng_state = 11;
    for (int i = 0; i < 10000; i++)
        assert_int_equal(wr_sketch_add(sk, 20.0 + rng_unit()), WR_OK);
    /* 20..21 spans 3 buckets at 1 %: one chunk of GROW_MIN. */
    assert_true(wr_sketch_memory_bytes(sk) <= empty + 8 * sizeof(uint64_t));
    for (int i = 0; i < 10000; i++)
        assert_int_equal(wr_sketch_add(sk, pow(10.0, 12.0 * rng_unit())), WR_OK);
    assert_true(wr_sketch_memory_bytes(sk) <= empty + 512 * sizeof(uint64_t));
    wr_sketch_destroy(sk);
}

static void test_sketch_alloc_failure(void **state)
{
    (void)state;
    for (long nth = 1;; nth++) {
        struct wr_sketch *sk = NULL;
        struct wr_sketch *copy = NULL;
        struct wr_sketch *back = NULL;
        uint8_t buf[256];
        size_t len = 0;
        int rc;

        wr_test_alloc_fail_at(nth);
        rc = wr_sketch_create(0.01, 64, &sk);
        if (rc == WR_OK)
            rc = wr_sketch_add(sk, 1.0);
        if (rc == WR_OK)
            rc = wr_sketch_add(sk, 1e6); /* widens past the first chunk */
        if (rc == WR_OK)
            rc = wr_sketch_copy(sk, &copy);
        if (rc == WR_OK)
            rc = wr_sketch_serialize(sk, buf, sizeof(buf), &len);
        if (rc == WR_OK)
            rc = wr_sketch_deserialize(buf, len, &back);
        if (rc == WR_OK) {
            assert_int_equal(wr_sketch_count(copy), 2);
            assert_int_equal(wr_sketch_count(back), 2);
        } else {
            assert_int_equal(rc, WR_E_NOMEM);
            /* A failed add leaves the sketch as it was. */
            if (sk != NULL)
                assert_true(wr_sketch_count(sk) <= 2);
        }
        wr_sketch_destroy(sk);
        wr_sketch_destroy(copy);
        wr_sketch_destroy(back);
        wr_test_alloc_fail_at(0);
        if (rc == WR_OK)
            break;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sketch_bound_uniform),
        cmocka_unit_test(test_sketch_bound_lognormal),
        cmocka_unit_test(test_sketch_bound_heavy_tail),
        cmocka_unit_test(test_sketch_bound_negative_and_mixed),
        cmocka_unit_test(test_sketch_constant_and_one_value),
        cmocka_unit_test(test_sketch_zero_and_tiny),
        cmocka_unit_test(test_sketch_huge_range_collapses_low_end),
        cmocka_unit_test(test_sketch_extreme_magnitudes),
        cmocka_unit_test(test_sketch_merge_exact_and_associative),
        cmocka_unit_test(test_sketch_merge_keeps_bound),
        cmocka_unit_test(test_sketch_merge_refuses_other_params),
        cmocka_unit_test(test_sketch_serialize_round_trip),
        cmocka_unit_test(test_sketch_binary_fixture),
        cmocka_unit_test(test_sketch_deserialize_refuses_bad_input),
        cmocka_unit_test(test_sketch_invalid_arguments),
        cmocka_unit_test(test_sketch_memory_grows_with_range),
        cmocka_unit_test_setup_teardown(test_sketch_alloc_failure, wr_test_alloc_setup,
                                        wr_test_alloc_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
