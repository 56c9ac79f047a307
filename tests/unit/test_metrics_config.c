/* Config identity and reload outcomes in both metric renderings. */
#include "test_support.h"

#include <string.h>

#include "metrics.h"
#include "wr_error.h"

static void test_metrics_config_rendered(void **state)
{
    struct wr_metrics *m = NULL;
    static char buf[64 * 1024];
    size_t len = 0;

    (void)state;
    assert_int_equal(wr_metrics_create(&m), WR_OK);
    wr_metrics_reload(m, WR_RELOAD_APPLIED);
    wr_metrics_reload(m, WR_RELOAD_REFUSED);
    wr_metrics_reload(m, WR_RELOAD_REFUSED);
    wr_metrics_reload(m, WR_RELOAD_RESULT_COUNT); /* ignored */
    wr_metrics_set_config(m, 17, "00ff\"bad");
    assert_int_equal(wr_metrics_reloads(m, WR_RELOAD_REFUSED), 2);
    assert_int_equal(wr_metrics_render_prometheus(m, buf, sizeof(buf), &len), WR_OK);
    assert_non_null(strstr(buf, "windrow_config_reloads_total{result=\"applied\"} 1\n"));
    assert_non_null(strstr(buf, "windrow_config_reloads_total{result=\"refused\"} 2\n"));
    assert_non_null(strstr(buf, "windrow_config_reloads_total{result=\"rolled_back\"} 0\n"));
    assert_non_null(strstr(buf, "windrow_config_version 17\n"));
    /* Only the hex prefix is kept: the label can never be broken by the input. */
    assert_non_null(strstr(buf, "windrow_config_info{hash=\"00ff\"} 1\n"));
    assert_int_equal(wr_metrics_render_json(m, "gw-1", 5, buf, sizeof(buf), &len), WR_OK);
    assert_non_null(strstr(buf, "\"status\":\"online\",\"config\":{\"version\":17,\"hash\":\"00ff\"}"));
    assert_non_null(strstr(buf, "\"config_reloads_total.refused\":2"));
    wr_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_config_rendered),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
