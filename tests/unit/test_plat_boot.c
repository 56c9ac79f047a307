#include "test_support.h"

#include <string.h>

#include "plat_boot.h"
#include "wr_error.h"

static void test_boot_id_is_a_stable_uuid(void **state)
{
    char a[PLAT_BOOT_ID_LEN];
    char b[PLAT_BOOT_ID_LEN];

    (void)state;
    assert_int_equal(plat_boot_id(a, sizeof(a)), WR_OK);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[8], '-');
    assert_int_equal(a[23], '-');
    assert_int_equal(plat_boot_id(b, sizeof(b)), WR_OK);
    assert_string_equal(a, b);
}

static void test_boot_id_bad_arguments(void **state)
{
    char small[8];

    (void)state;
    assert_int_equal(plat_boot_id(NULL, PLAT_BOOT_ID_LEN), WR_E_INVAL);
    assert_int_equal(plat_boot_id(small, sizeof(small)), WR_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boot_id_is_a_stable_uuid),
        cmocka_unit_test(test_boot_id_bad_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
