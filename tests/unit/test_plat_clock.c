#include "test_support.h"

#include "plat_clock.h"

static void test_clock_first_sample_is_no_jump(void **state)
{
    struct plat_clock c;

    (void)state;
    plat_clock_init(&c, 2000);
    assert_int_equal(plat_clock_sample(&c, 1700000000000, 5000), 0);
}

static void test_clock_steady_progress_is_no_jump(void **state)
{
    struct plat_clock c;

    (void)state;
    plat_clock_init(&c, 2000);
    plat_clock_sample(&c, 1700000000000, 5000);
    assert_int_equal(plat_clock_sample(&c, 1700000001000, 6000), 0);
    /* Slewing by less than the threshold is not a jump. */
    assert_int_equal(plat_clock_sample(&c, 1700000003500, 7000), 0);
}

static void test_clock_rtc_less_boot_jump_forward(void **state)
{
    struct plat_clock c;
    int64_t jump;

    (void)state;
    plat_clock_init(&c, 2000);
    plat_clock_sample(&c, 30000, 30000); /* 1970, 30 s after boot */
    jump = plat_clock_sample(&c, 1700000000000, 31000);
    assert_int_equal(jump, 1700000000000 - 31000);
    /* Reported once: the next sample is measured from the new reading. */
    assert_int_equal(plat_clock_sample(&c, 1700000001000, 32000), 0);
}

static void test_clock_backward_step(void **state)
{
    struct plat_clock c;

    (void)state;
    plat_clock_init(&c, 2000);
    plat_clock_sample(&c, 1700000000000, 1000);
    assert_int_equal(plat_clock_sample(&c, 1700000000000 - 3600000 + 1000, 2000), -3600000);
}

static void test_clock_plausible(void **state)
{
    (void)state;
    assert_false(plat_clock_plausible(0));
    assert_false(plat_clock_plausible(PLAT_CLOCK_PLAUSIBLE_MS - 1));
    assert_true(plat_clock_plausible(PLAT_CLOCK_PLAUSIBLE_MS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_first_sample_is_no_jump),
        cmocka_unit_test(test_clock_steady_progress_is_no_jump),
        cmocka_unit_test(test_clock_rtc_less_boot_jump_forward),
        cmocka_unit_test(test_clock_backward_step),
        cmocka_unit_test(test_clock_plausible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
