/* Counters read from an absolute source (wr_metrics_raise) and their carry-over across reloads. */
#include "test_support.h"

#include <string.h>

#include "metrics.h"
#include "wr_error.h"

static void test_metrics_raise_never_lowers(void **state)
{
    struct wr_metrics *m = NULL;

    (void)state;
    assert_int_equal(wr_metrics_create(&m), WR_OK);
    wr_metrics_raise(m, WR_C_STORAGE_WRITTEN_BYTES, 4096);
    assert_int_equal(wr_metrics_counter(m, WR_C_STORAGE_WRITTEN_BYTES), 4096);
    wr_metrics_raise(m, WR_C_STORAGE_WRITTEN_BYTES, 100);
    assert_int_equal(wr_metrics_counter(m, WR_C_STORAGE_WRITTEN_BYTES), 4096);
    wr_metrics_raise(m, WR_C_STORAGE_WRITTEN_BYTES, 8192);
    assert_int_equal(wr_metrics_counter(m, WR_C_STORAGE_WRITTEN_BYTES), 8192);
    wr_metrics_raise(m, WR_COUNTER_COUNT, 1); /* ignored */
    wr_metrics_raise(NULL, WR_C_STORAGE_WRITTEN_BYTES, 1);
    wr_metrics_destroy(m);
}

/* main.c's reload: totals take the old pipeline's counters, the new one takes totals. */
static void test_metrics_raise_after_absorb_keeps_the_process_total(void **state)
{
    struct wr_metrics *old = NULL;
    struct wr_metrics *totals = NULL;
    struct wr_metrics *fresh = NULL;
    static char buf[64 * 1024];
    size_t len = 0;

    (void)state;
    assert_int_equal(wr_metrics_create(&old), WR_OK);
    assert_int_equal(wr_metrics_create(&totals), WR_OK);
    assert_int_equal(wr_metrics_create(&fresh), WR_OK);
    wr_metrics_raise(old, WR_C_STORAGE_WRITTEN_BYTES, 10000);
    wr_metrics_add(old, WR_C_OUTBOX_PERSISTED, 3);
    wr_metrics_absorb(totals, old);
    wr_metrics_absorb(fresh, totals);
    wr_metrics_raise(fresh, WR_C_STORAGE_WRITTEN_BYTES, 12000); /* the process wrote 2000 more */
    wr_metrics_add(fresh, WR_C_OUTBOX_PERSISTED, 1);
    assert_int_equal(wr_metrics_counter(fresh, WR_C_STORAGE_WRITTEN_BYTES), 12000);
    assert_int_equal(wr_metrics_counter(fresh, WR_C_OUTBOX_PERSISTED), 4);
    assert_int_equal(wr_metrics_render_prometheus(fresh, buf, sizeof(buf), &len), WR_OK);
    assert_non_null(strstr(buf, "# TYPE windrow_storage_written_bytes_total counter\n"
                                "windrow_storage_written_bytes_total 12000\n"));
    assert_non_null(strstr(buf, "windrow_outbox_persisted_results_total 4\n"));
    wr_metrics_destroy(old);
    wr_metrics_destroy(totals);
    wr_metrics_destroy(fresh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_raise_never_lowers),
        cmocka_unit_test(test_metrics_raise_after_absorb_keeps_the_process_total),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
