#include "test_support.h"

#include <string.h>

#include "plat_backoff.h"
#include "wr_error.h"

#define DRAWS 10000

struct bounds {
    uint32_t min_ms;
    uint32_t max_ms;
};

static const struct bounds pairs[] = {
    {1, 1},
    {1, 2},
    {100, 30000},
    {500, 60000},
    {1000, 1000},
    {7, 1000000},
    {1, UINT32_MAX},
    {UINT32_MAX - 1, UINT32_MAX},
    {UINT32_MAX, UINT32_MAX},
};

static void test_backoff_always_within_bounds(void **state)
{
    size_t p;

    (void)state;
    for (p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
        struct plat_backoff b;
        uint32_t lo = UINT32_MAX;
        uint32_t hi = 0;
        int i;

        assert_int_equal(plat_backoff_init(&b, pairs[p].min_ms, pairs[p].max_ms, 42 + p), WR_OK);
        for (i = 0; i < DRAWS; i++) {
            uint32_t d = plat_backoff_next_ms(&b);

            if (d < pairs[p].min_ms || d > pairs[p].max_ms)
                fail_msg("pair %zu draw %d: %u outside [%u, %u]", p, i, d, pairs[p].min_ms,
                         pairs[p].max_ms);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
            /* Resets now and then so the small attempts are covered too. */
            if (i % 97 == 96)
                plat_backoff_reset(&b);
        }
        if (pairs[p].max_ms - pairs[p].min_ms >= 1000u) {
            /* Full jitter spreads over the range: both ends are approached. */
            assert_true(lo < pairs[p].min_ms + (pairs[p].max_ms - pairs[p].min_ms) / 100u);
            assert_true(hi > pairs[p].max_ms - (pairs[p].max_ms - pairs[p].min_ms) / 100u);
        }
    }
}

static void test_backoff_cap_doubles_per_attempt(void **state)
{
    const uint32_t min_ms = 100;
    const uint32_t max_ms = 10000;
    uint32_t seen_max[12];
    uint64_t seed;
    int k;

    (void)state;
    memset(seen_max, 0, sizeof(seen_max));
    for (seed = 1; seed <= 2000; seed++) {
        struct plat_backoff b;

        assert_int_equal(plat_backoff_init(&b, min_ms, max_ms, seed), WR_OK);
        for (k = 0; k < 12; k++) {
            uint32_t d = plat_backoff_next_ms(&b);
            uint64_t cap = (uint64_t)min_ms << k;

            if (cap > max_ms)
                cap = max_ms;
            if (d > cap)
                fail_msg("attempt %d: %u above cap %u", k, d, (unsigned)cap);
            seen_max[k] = d > seen_max[k] ? d : seen_max[k];
        }
    }
    /* Attempt 0 is exactly min; afterwards the observed top tracks min * 2^k up to max. */
    assert_int_equal(seen_max[0], min_ms);
    for (k = 1; k < 12; k++) {
        uint64_t cap = (uint64_t)min_ms << k;

        if (cap > max_ms)
            cap = max_ms;
        assert_true(seen_max[k] >= (uint32_t)(cap * 95u / 100u));
    }
}

static void test_backoff_reset_restarts_growth(void **state)
{
    struct plat_backoff b;
    int i;

    (void)state;
    assert_int_equal(plat_backoff_init(&b, 250, 64000, 7), WR_OK);
    for (i = 0; i < 40; i++)
        (void)plat_backoff_next_ms(&b);
    plat_backoff_reset(&b);
    assert_int_equal(plat_backoff_next_ms(&b), 250);
    assert_true(plat_backoff_next_ms(&b) <= 500);
    assert_true(plat_backoff_next_ms(&b) <= 1000);
    plat_backoff_reset(NULL);
}

static void test_backoff_attempts_saturate(void **state)
{
    struct plat_backoff b;
    int i;

    (void)state;
    /* Thousands of failures must not overflow the exponent into small delays. */
    assert_int_equal(plat_backoff_init(&b, 3, 5000, 99), WR_OK);
    for (i = 0; i < 100000; i++) {
        uint32_t d = plat_backoff_next_ms(&b);

        assert_true(d >= 3 && d <= 5000);
    }
    assert_true(b.attempt < 32);
}

static void test_backoff_deterministic_per_seed(void **state)
{
    struct plat_backoff a;
    struct plat_backoff b;
    struct plat_backoff c;
    int differ = 0;
    int i;

    (void)state;
    assert_int_equal(plat_backoff_init(&a, 100, 60000, 12345), WR_OK);
    assert_int_equal(plat_backoff_init(&b, 100, 60000, 12345), WR_OK);
    assert_int_equal(plat_backoff_init(&c, 100, 60000, 12346), WR_OK);
    for (i = 0; i < 1000; i++) {
        uint32_t da = plat_backoff_next_ms(&a);

        assert_int_equal(da, plat_backoff_next_ms(&b));
        differ += da != plat_backoff_next_ms(&c);
        if (i % 50 == 49) {
            plat_backoff_reset(&a);
            plat_backoff_reset(&b);
            plat_backoff_reset(&c);
        }
    }
    /* Attempt 0 always draws min, so not every draw differs; most do. */
    assert_true(differ > 900);
}

static void test_backoff_known_sequence(void **state)
{
    struct plat_backoff b;
    uint32_t first[6];
    uint32_t again[6];
    int i;

    (void)state;
    /* Seed 0 is valid and the sequence is a pure function of the seed. */
    assert_int_equal(plat_backoff_init(&b, 1000, 32000, 0), WR_OK);
    for (i = 0; i < 6; i++)
        first[i] = plat_backoff_next_ms(&b);
    assert_int_equal(plat_backoff_init(&b, 1000, 32000, 0), WR_OK);
    for (i = 0; i < 6; i++)
        again[i] = plat_backoff_next_ms(&b);
    assert_memory_equal(first, again, sizeof(first));
    assert_int_equal(first[0], 1000);
}

static void test_backoff_invalid_arguments(void **state)
{
    struct plat_backoff b;

    (void)state;
    memset(&b, 0, sizeof(b));
    assert_int_equal(plat_backoff_init(NULL, 1, 2, 0), WR_E_INVAL);
    assert_int_equal(plat_backoff_init(&b, 0, 2, 0), WR_E_INVAL);
    assert_int_equal(plat_backoff_init(&b, 3, 2, 0), WR_E_INVAL);
    assert_int_equal(plat_backoff_next_ms(NULL), 0);
    assert_int_equal(plat_backoff_next_ms(&b), 0); /* never initialised */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_always_within_bounds),
        cmocka_unit_test(test_backoff_cap_doubles_per_attempt),
        cmocka_unit_test(test_backoff_reset_restarts_growth),
        cmocka_unit_test(test_backoff_attempts_saturate),
        cmocka_unit_test(test_backoff_deterministic_per_seed),
        cmocka_unit_test(test_backoff_known_sequence),
        cmocka_unit_test(test_backoff_invalid_arguments),
    };

    return cmocka_run_group_tests_name("plat_backoff", tests, NULL, NULL);
}
