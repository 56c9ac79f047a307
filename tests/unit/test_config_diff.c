/* The config diff: what a reload keeps, retunes, cuts short, reconnects or refuses. */
#include "test_support.h"

#include <stdio.h>
#include <string.h>

#include "wr_config.h"
#include "wr_config_diff.h"
#include "wr_error.h"

#define BASE_HEAD                                                                                  \
    "{\"agent\":{\"id\":\"gw-1\",\"state_dir\":\"/tmp/x\"},"                                       \
    "\"upstream\":{\"uri\":\"tcp://127.0.0.1:1884\"},"

#define S_TEMP "{\"name\":\"temp\",\"match\":\"s/+/temp\",\"window\":{\"size_s\":60}}"
#define S_HUM "{\"name\":\"hum\",\"match\":\"s/+/hum\"}"
#define S_PWR "{\"name\":\"pwr\",\"match\":\"m/#\"}"

static struct wr_config *parse(const char *json)
{
    struct wr_config_errors errs;
    struct wr_config *cfg = NULL;
    int rc = wr_config_parse(json, strlen(json), &cfg, &errs);

    for (size_t i = 0; rc != WR_OK && i < errs.count; i++)
        print_message("%s\n", errs.msg[i]);
    assert_int_equal(rc, WR_OK);
    return cfg;
}

static void diff_of(const char *a, const char *b, struct wr_config_diff *d)
{
    struct wr_config *ca = parse(a);
    struct wr_config *cb = parse(b);

    assert_int_equal(wr_config_diff(ca, cb, d), WR_OK);
    wr_config_free(ca);
    wr_config_free(cb);
}

static bool has_path(const struct wr_config_diff *d, const char *path)
{
    for (size_t i = 0; i < d->n_paths; i++)
        if (strcmp(d->paths[i], path) == 0)
            return true;
    return false;
}

static void test_diff_identical_is_empty(void **state)
{
    struct wr_config_diff d;
    const char *cfg = BASE_HEAD "\"streams\":[" S_TEMP "," S_HUM "]}";

    (void)state;
    diff_of(cfg, cfg, &d);
    assert_false(d.any);
    assert_false(d.streams_changed);
    assert_false(d.subscriptions_changed);
    assert_int_equal(d.n_paths, 0);
    assert_int_equal(d.stream[0], WR_STREAM_SAME);
    assert_int_equal(d.stream[1], WR_STREAM_SAME);
    assert_int_equal(d.old_index[1], 1);
}

static void test_diff_filter_or_priority_is_tuned(void **state)
{
    struct wr_config_diff d;

    (void)state;
    diff_of(BASE_HEAD "\"streams\":[" S_TEMP "," S_HUM "]}",
            BASE_HEAD "\"streams\":[" S_TEMP ",{\"name\":\"hum\",\"match\":\"s/+/hum\","
                      "\"filter\":{\"max\":100,\"deadband\":0.5},\"priority\":9}]}",
            &d);
    assert_true(d.any);
    assert_int_equal(d.stream[0], WR_STREAM_SAME);
    assert_int_equal(d.stream[1], WR_STREAM_TUNED);
    assert_true(has_path(&d, "streams[hum].filter.max"));
    assert_true(has_path(&d, "streams[hum].filter.deadband"));
    assert_true(has_path(&d, "streams[hum].priority"));
    assert_false(d.subscriptions_changed);
    assert_false(d.source_changed);
    assert_false(d.upstream_changed);
}

static void test_diff_window_change_is_redefined(void **state)
{
    struct wr_config_diff d;

    (void)state;
    diff_of(BASE_HEAD "\"streams\":[" S_TEMP "]}",
            BASE_HEAD "\"streams\":[{\"name\":\"temp\",\"match\":\"s/+/temp\","
                      "\"window\":{\"size_s\":30},\"priority\":1}]}",
            &d);
    assert_int_equal(d.stream[0], WR_STREAM_REDEFINED);
    assert_true(has_path(&d, "streams[temp].window.size_s"));
    assert_true(has_path(&d, "streams[temp].priority"));
    diff_of(BASE_HEAD "\"streams\":[" S_TEMP "]}",
            BASE_HEAD "\"streams\":[{\"name\":\"temp\",\"match\":\"s/+/t\","
                      "\"window\":{\"size_s\":60}}]}",
            &d);
    assert_int_equal(d.stream[0], WR_STREAM_REDEFINED);
    assert_true(d.subscriptions_changed);
}

static void test_diff_added_removed_reordered(void **state)
{
    struct wr_config_diff d;

    (void)state;
    diff_of(BASE_HEAD "\"streams\":[" S_TEMP "," S_HUM "]}",
            BASE_HEAD "\"streams\":[" S_PWR "," S_TEMP "]}", &d);
    assert_true(d.streams_changed);
    assert_true(d.streams_reordered);
    assert_true(d.subscriptions_changed);
    assert_int_equal(d.stream[0], WR_STREAM_ADDED);
    assert_int_equal(d.old_index[0], -1);
    assert_int_equal(d.stream[1], WR_STREAM_SAME);
    assert_int_equal(d.old_index[1], 0);
    assert_false(d.removed[0]);
    assert_true(d.removed[1]);
    assert_int_equal(d.n_removed, 1);
    assert_true(has_path(&d, "streams[hum].(removed)"));
    assert_true(has_path(&d, "streams[pwr].(added)"));

    /* Same streams, other order: nothing but the order changed. */
    diff_of(BASE_HEAD "\"streams\":[" S_TEMP "," S_HUM "]}",
            BASE_HEAD "\"streams\":[" S_HUM "," S_TEMP "]}", &d);
    assert_true(d.any);
    assert_true(d.streams_reordered);
    assert_false(d.subscriptions_changed);
    assert_int_equal(d.stream[0], WR_STREAM_SAME);
    assert_int_equal(d.stream[1], WR_STREAM_SAME);
}

static void test_diff_links(void **state)
{
    struct wr_config_diff d;

    (void)state;
    diff_of(BASE_HEAD "\"streams\":[" S_TEMP "]}",
            "{\"agent\":{\"id\":\"gw-1\",\"state_dir\":\"/tmp/x\"},"
            "\"upstream\":{\"uri\":\"tcp://127.0.0.1:1885\"},\"streams\":[" S_TEMP "]}",
            &d);
    assert_true(d.upstream_changed);
    assert_true(d.upstream_link_changed);
    assert_false(d.source_changed);
    assert_false(d.streams_changed);
    assert_true(has_path(&d, "upstream.uri"));

    diff_of(BASE_HEAD "\"streams\":[" S_TEMP "]}",
            "{\"agent\":{\"id\":\"gw-1\",\"state_dir\":\"/tmp/x\"},"
            "\"upstream\":{\"uri\":\"tcp://127.0.0.1:1884\",\"batch\":{\"max_results\":7}},"
            "\"source\":{\"keepalive_s\":10},\"streams\":[" S_TEMP "]}",
            &d);
    assert_true(d.upstream_changed);
    assert_false(d.upstream_link_changed);
    assert_true(d.source_changed);
    assert_true(has_path(&d, "upstream.batch.max_results"));
    assert_true(has_path(&d, "source.keepalive_s"));
}

static void test_diff_identity_needs_restart(void **state)
{
    struct wr_config_diff d;

    (void)state;
    diff_of(BASE_HEAD "\"streams\":[" S_TEMP "]}",
            "{\"agent\":{\"id\":\"gw-2\",\"state_dir\":\"/tmp/x\"},"
            "\"upstream\":{\"uri\":\"tcp://127.0.0.1:1884\"},\"streams\":[" S_TEMP "]}",
            &d);
    assert_true(d.restart_required);
    diff_of(BASE_HEAD "\"streams\":[" S_TEMP "]}",
            "{\"agent\":{\"id\":\"gw-1\",\"state_dir\":\"/tmp/y\"},"
            "\"upstream\":{\"uri\":\"tcp://127.0.0.1:1884\"},\"streams\":[" S_TEMP "]}",
            &d);
    assert_true(d.restart_required);
    diff_of(BASE_HEAD "\"streams\":[" S_TEMP "]}",
            "{\"agent\":{\"id\":\"gw-1\",\"state_dir\":\"/tmp/x\",\"log_level\":\"debug\"},"
            "\"upstream\":{\"uri\":\"tcp://127.0.0.1:1884\"},\"fleet\":{\"enabled\":true},"
            "\"streams\":[" S_TEMP "]}",
            &d);
    assert_false(d.restart_required);
    assert_true(d.fleet_changed);
    assert_true(has_path(&d, "agent.log_level"));
    assert_true(has_path(&d, "fleet.enabled"));
}

static void test_diff_arguments_checked(void **state)
{
    struct wr_config_diff d;

    (void)state;
    assert_int_equal(wr_config_diff(NULL, NULL, &d), WR_E_INVAL);
    assert_string_equal(wr_stream_change_name(WR_STREAM_TUNED), "tuned");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_identical_is_empty),
        cmocka_unit_test(test_diff_filter_or_priority_is_tuned),
        cmocka_unit_test(test_diff_window_change_is_redefined),
        cmocka_unit_test(test_diff_added_removed_reordered),
        cmocka_unit_test(test_diff_links),
        cmocka_unit_test(test_diff_identity_needs_restart),
        cmocka_unit_test(test_diff_arguments_checked),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
