/*
 * The pipeline's wiring on fakes: a clock the test advances, a source the
 * test pushes messages through, an uplink that records publishes and
 * acknowledges them when the test says so, and a real SQLite store in a
 * temporary directory. Events in -> the window closes at the right (fake)
 * time -> the result is published -> acknowledged -> removed.
 */
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "pipeline.h"
#include "wr_config.h"
#include "wr_error.h"

/* ---- fake clock ---------------------------------------------------------------------------- */

static uint64_t fake_mono;
static int64_t fake_wall;

static uint64_t fake_mono_ms(void)
{
    return fake_mono;
}

static int64_t fake_wall_ms(void)
{
    return fake_wall;
}

static void advance_ms(uint64_t ms)
{
    fake_mono += ms;
    fake_wall += (int64_t)ms;
}

/* ---- fake source: the test plays Paho's callback thread ------------------------------------- */

struct wr_ingest {
    const struct wr_ingest_handlers *handlers;
    int starts;
    int stops;
};

static int fake_source_start(struct wr_ingest *src, const struct wr_ingest_handlers *h)
{
    src->handlers = h;
    src->starts++;
    return WR_OK;
}

static void fake_source_stop(struct wr_ingest *src, uint32_t timeout_ms)
{
    (void)timeout_ms;
    src->stops++;
}

static const struct wr_ingest_ops fake_source_ops = {fake_source_start, fake_source_stop};

/* ---- fake uplink: records publishes, acknowledges on command -------------------------------- */

#define MAX_PUBLISHED 16

struct published {
    char topic[64];
    char payload[4096];
    uint32_t tag;
};

struct wr_uplink {
    const struct wr_uplink_reports *reports;
    bool connected;
    struct published msgs[MAX_PUBLISHED];
    size_t n_msgs;
    size_t n_status;
    int stops;
};

static int fake_up_start(struct wr_uplink *up, const struct wr_uplink_reports *r)
{
    up->reports = r;
    return WR_OK;
}

static int fake_up_publish(struct wr_uplink *up, const char *topic, const void *payload, size_t len,
                           uint32_t tag)
{
    struct published *m;

    if (!up->connected)
        return WR_E_STATE;
    if (up->n_msgs == MAX_PUBLISHED || len >= sizeof(m->payload))
        return WR_E_FULL;
    m = &up->msgs[up->n_msgs++];
    snprintf(m->topic, sizeof(m->topic), "%s", topic);
    memcpy(m->payload, payload, len);
    m->payload[len] = '\0';
    m->tag = tag;
    return WR_OK;
}

static int fake_up_status(struct wr_uplink *up, const char *topic, const void *payload, size_t len)
{
    (void)topic;
    (void)payload;
    (void)len;
    if (!up->connected)
        return WR_E_STATE;
    up->n_status++;
    return WR_OK;
}

static bool fake_up_connected(const struct wr_uplink *up)
{
    return up->connected;
}

static void fake_up_stop(struct wr_uplink *up, uint32_t timeout_ms)
{
    (void)timeout_ms;
    up->stops++;
}

static const struct wr_uplink_ops fake_uplink_ops = {.start = fake_up_start,
                                                     .publish = fake_up_publish,
                                                     .publish_status = fake_up_status,
                                                     .connected = fake_up_connected,
                                                     .stop = fake_up_stop};

static void uplink_set_connected(struct wr_uplink *up, bool connected)
{
    up->connected = connected;
    up->reports->connection(up->reports->sink, connected);
}

static void uplink_ack(struct wr_uplink *up, size_t i, bool ok)
{
    up->reports->acked(up->reports->sink, up->msgs[i].tag, ok);
}

/* ---- fixture ------------------------------------------------------------------------------- */

/* 2023-11-14T22:13:20Z, a multiple of 10 s: window starts are easy to name. */
#define T0_MS INT64_C(1700000000000)

struct fixture {
    char dir[128];
    struct wr_config *cfg;
    struct wr_ingest source;
    struct wr_uplink uplink;
    struct wr_pipeline *p;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct wr_config_errors errs;
    struct wr_pipeline_deps deps;
    char json[1024];
    int n;

    if (f == NULL || wr_test_tmpdir(f->dir, sizeof(f->dir), "wr-pipeline") != 0)
        return -1;
    n = snprintf(json, sizeof(json),
                 "{\"agent\": {\"id\": \"gw\", \"state_dir\": \"%s/state\"},"
                 " \"source\": {\"uri\": \"tcp://127.0.0.1:1\"},"
                 " \"upstream\": {\"uri\": \"tcp://127.0.0.1:2\","
                 "   \"batch\": {\"max_results\": 10, \"max_delay_ms\": 500}},"
                 " \"storage\": {\"checkpoint_interval_ms\": 5000, \"runtime_dir\": \"%s/run\","
                 "   \"snapshot_interval_ms\": 60000},"
                 " \"metrics\": {\"file\": \"%s/metrics.prom\", \"interval_ms\": 10000},"
                 " \"streams\": [{\"name\": \"temp\", \"match\": \"s/+\", \"key\": \"{topic[1]}\","
                 "   \"window\": {\"size_s\": 10, \"allowed_lateness_s\": 2}}]}",
                 f->dir, f->dir, f->dir);
    if (n < 0 || (size_t)n >= sizeof(json))
        return -1;
    memset(&errs, 0, sizeof(errs));
    if (wr_config_parse(json, strlen(json), &f->cfg, &errs) != WR_OK) {
        fprintf(stderr, "config: %s\n", errs.count > 0 ? errs.msg[0] : "?");
        return -1;
    }
    fake_mono = 1000;
    fake_wall = T0_MS;
    memset(&deps, 0, sizeof(deps));
    deps.clock.mono_ms = fake_mono_ms;
    deps.clock.wall_ms = fake_wall_ms;
    deps.source_ops = &fake_source_ops;
    deps.source = &f->source;
    deps.uplink_ops = &fake_uplink_ops;
    deps.uplink = &f->uplink;
    if (wr_pipeline_create(f->cfg, &deps, &f->p) != WR_OK)
        return -1;
    if (wr_pipeline_start(f->p) != WR_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    wr_pipeline_destroy(f->p);
    wr_config_free(f->cfg);
    wr_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* One message on s/<key> with value v at event time t_ms, as Paho's thread would deliver it. */
static void offer(struct fixture *f, const char *key, double v, int64_t t_ms)
{
    char topic[32];
    char payload[96];
    const struct wr_ingest_handlers *h = f->source.handlers;

    snprintf(topic, sizeof(topic), "s/%s", key);
    snprintf(payload, sizeof(payload), "{\"value\": %g, \"ts\": %lld}", v, (long long)t_ms);
    assert_true(h->message(h->sink, topic, strlen(topic), payload, strlen(payload)));
}

static uint64_t counter(struct fixture *f, enum wr_counter c)
{
    return wr_metrics_counter(wr_pipeline_metrics(f->p), c);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_pipeline_window_closes_at_fake_time_and_is_acked(void **state)
{
    struct fixture *f = *state;
    uint32_t wait_ms;

    assert_int_equal(f->source.starts, 1);
    uplink_set_connected(&f->uplink, true);
    offer(f, "a", 1, T0_MS + 1000);
    offer(f, "a", 2, T0_MS + 2000);
    offer(f, "b", 5, T0_MS + 3000);
    wait_ms = wr_pipeline_run_once(f->p, 0);
    assert_int_equal(counter(f, WR_C_EVENTS_AGGREGATED), 3);
    assert_int_equal(f->uplink.n_msgs, 0);
    /*
     * The stream clock stands at the last event (T0 + 3 s) now; window
     * [T0, T0 + 10 s) closes when the clock passes its end plus the 2 s of
     * lateness: 9 s from now, and the loop says it sleeps no longer than that.
     */
    assert_true(wait_ms <= 9000);
    assert_true(wait_ms > 0);
    advance_ms(8999);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(counter(f, WR_C_RESULTS_EMITTED), 0);
    advance_ms(1);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(counter(f, WR_C_RESULTS_EMITTED), 2);
    /* The batch waits max_delay_ms for more results, then goes. */
    assert_int_equal(f->uplink.n_msgs, 0);
    advance_ms(500);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(f->uplink.n_msgs, 1);
    assert_string_equal(f->uplink.msgs[0].topic, "windrow/gw/results");
    assert_non_null(strstr(f->uplink.msgs[0].payload, "\"count\":2"));
    assert_non_null(strstr(f->uplink.msgs[0].payload, "\"sum\":3"));
    assert_non_null(strstr(f->uplink.msgs[0].payload, "\"sum\":5"));
    assert_int_equal(counter(f, WR_C_RESULTS_ACKED), 0);
    uplink_ack(&f->uplink, 0, true);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(counter(f, WR_C_RESULTS_ACKED), 2);
    /* Removed from the outbox: the gauge says so at the next metrics export. */
    advance_ms(10000);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(wr_metrics_gauge(wr_pipeline_metrics(f->p), WR_G_OUTBOX_ROWS), 0);
    assert_true(f->uplink.n_status > 0);
}

static void test_pipeline_lost_connection_resends_same_results(void **state)
{
    struct fixture *f = *state;

    uplink_set_connected(&f->uplink, true);
    offer(f, "a", 4, T0_MS + 1000);
    wr_pipeline_run_once(f->p, 0);
    advance_ms(11000);
    wr_pipeline_run_once(f->p, 0);
    advance_ms(500);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(f->uplink.n_msgs, 1);
    /* Gone before the PUBACK: nothing may be removed, and the reconnect resends. */
    uplink_set_connected(&f->uplink, false);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(f->uplink.n_msgs, 1);
    uplink_set_connected(&f->uplink, true);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(f->uplink.n_msgs, 2);
    assert_string_equal(f->uplink.msgs[1].payload + strcspn(f->uplink.msgs[1].payload, "["),
                        f->uplink.msgs[0].payload + strcspn(f->uplink.msgs[0].payload, "["));
    /* The stale tag of the first message changes nothing; the second one's ack counts. */
    uplink_ack(&f->uplink, 0, true);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(counter(f, WR_C_RESULTS_ACKED), 0);
    uplink_ack(&f->uplink, 1, true);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(counter(f, WR_C_RESULTS_ACKED), 1);
}

/*
 * Two results close at mono 10 s (9 s after the last event), and the
 * checkpoint after the one at 6 s is due at 11 s. The window closes but
 * the results stay unsent until then (the loop does not run at 10.5 s).
 */
static void close_two_windows_before_checkpoint(struct fixture *f)
{
    uplink_set_connected(&f->uplink, true);
    offer(f, "a", 1, T0_MS + 1000);
    offer(f, "b", 5, T0_MS + 3000);
    wr_pipeline_run_once(f->p, 0);
    advance_ms(5000); /* mono 6 s: the first checkpoint, nothing to send */
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(counter(f, WR_C_CHECKPOINTS), 1);
    advance_ms(4000); /* mono 10 s: the window closes */
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(counter(f, WR_C_RESULTS_EMITTED), 2);
    assert_int_equal(f->uplink.n_msgs, 0);
    advance_ms(1000); /* mono 11 s: the checkpoint is due */
}

/* Write-behind: a due checkpoint sends what waits and lets its PUBACK arrive first. */
static void test_pipeline_checkpoint_waits_for_acks(void **state)
{
    struct fixture *f = *state;
    uint32_t wait_ms;

    close_two_windows_before_checkpoint(f);
    wait_ms = wr_pipeline_run_once(f->p, 0);
    assert_int_equal(f->uplink.n_msgs, 1);
    assert_int_equal(counter(f, WR_C_CHECKPOINTS), 1); /* waiting, not written */
    /* It sleeps until the grace ends (2 s) or an acknowledgement wakes it: no spinning. */
    assert_true(wait_ms > 0 && wait_ms <= 2000);
    advance_ms(10);
    uplink_ack(&f->uplink, 0, true);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(counter(f, WR_C_RESULTS_ACKED), 2);
    assert_int_equal(counter(f, WR_C_CHECKPOINTS), 2);
    assert_int_equal(counter(f, WR_C_OUTBOX_PERSISTED), 0);
    /* The next checkpoint is one interval after this one. */
    wait_ms = wr_pipeline_run_once(f->p, 0);
    assert_true(wait_ms <= 5000);
    advance_ms(5000);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(counter(f, WR_C_CHECKPOINTS), 3);
    assert_int_equal(counter(f, WR_C_OUTBOX_PERSISTED), 0);
}

/* No acknowledgement within the grace: the checkpoint writes the results it waited for. */
static void test_pipeline_checkpoint_grace_ends_with_results_written(void **state)
{
    struct fixture *f = *state;

    close_two_windows_before_checkpoint(f);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(f->uplink.n_msgs, 1);
    advance_ms(1999);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(counter(f, WR_C_CHECKPOINTS), 1);
    advance_ms(1);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(counter(f, WR_C_CHECKPOINTS), 2);
    assert_int_equal(counter(f, WR_C_OUTBOX_PERSISTED), 2);
    /* The late acknowledgement still completes them (deleted from storage). */
    uplink_ack(&f->uplink, 0, true);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(counter(f, WR_C_RESULTS_ACKED), 2);
}

/* With the uplink down there is nothing to wait for: the checkpoint writes them at once. */
static void test_pipeline_checkpoint_does_not_wait_without_uplink(void **state)
{
    struct fixture *f = *state;

    close_two_windows_before_checkpoint(f);
    uplink_set_connected(&f->uplink, false);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(counter(f, WR_C_CHECKPOINTS), 2);
    assert_int_equal(counter(f, WR_C_OUTBOX_PERSISTED), 2);
}

/* A new pipeline on the fixture's config, state dir and fakes; the old one is gone. */
static void recreate(struct fixture *f)
{
    struct wr_pipeline_deps deps;

    memset(&deps, 0, sizeof(deps));
    deps.clock.mono_ms = fake_mono_ms;
    deps.clock.wall_ms = fake_wall_ms;
    deps.source_ops = &fake_source_ops;
    deps.source = &f->source;
    deps.uplink_ops = &fake_uplink_ops;
    deps.uplink = &f->uplink;
    f->uplink.n_msgs = 0;
    assert_int_equal(wr_pipeline_create(f->cfg, &deps, &f->p), WR_OK);
    assert_int_equal(wr_pipeline_start(f->p), WR_OK);
}

/*
 * A crash that the RAM state does not survive (its files gone): the windows
 * come back from the compact SQLite checkpoints, the second of which wrote
 * only what changed, and close with every event that was checkpointed.
 */
static void test_pipeline_restores_compact_checkpoints(void **state)
{
    struct fixture *f = *state;
    char path[256];

    uplink_set_connected(&f->uplink, true);
    offer(f, "a", 1, T0_MS + 1000);
    offer(f, "b", 5, T0_MS + 1500);
    wr_pipeline_run_once(f->p, 0);
    advance_ms(5000); /* the first checkpoint */
    wr_pipeline_run_once(f->p, 0);
    offer(f, "a", 2, T0_MS + 2000);
    offer(f, "a", 4, T0_MS + 2500);
    wr_pipeline_run_once(f->p, 0);
    advance_ms(5000); /* the second: only a changed */
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(counter(f, WR_C_CHECKPOINTS), 2);
    assert_true(counter(f, WR_C_CHECKPOINT_LOGICAL_BYTES) > 0);
    assert_int_equal(counter(f, WR_C_RESULTS_EMITTED), 0);
    /* The crash: no shutdown, and the RAM journal and snapshot are lost too. */
    wr_pipeline_destroy(f->p);
    f->p = NULL;
    snprintf(path, sizeof(path), "%s/run/journal", f->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/run/snapshot", f->dir);
    unlink(path);
    recreate(f);
    assert_int_equal(wr_metrics_gauge(wr_pipeline_metrics(f->p), WR_G_RESTORE_SOURCE), 0);
    uplink_set_connected(&f->uplink, true);
    /* The restored clock (T0 + 2.5 s) plus the lateness passes the window's end 9.5 s on. */
    offer(f, "z", 0, T0_MS + 13000);
    wr_pipeline_run_once(f->p, 0);
    advance_ms(500);
    wr_pipeline_run_once(f->p, 0);
    assert_int_equal(f->uplink.n_msgs, 1);
    assert_non_null(strstr(f->uplink.msgs[0].payload, "\"count\":3,\"sum\":7"));
    assert_non_null(strstr(f->uplink.msgs[0].payload, "\"count\":1,\"sum\":5"));
}

static void test_pipeline_idle_sleeps_until_next_deadline(void **state)
{
    struct fixture *f = *state;
    uint32_t wait_ms;

    /* Nothing open, nothing to send: the next deadline is the checkpoint (5 s;
     * metrics come at 10 s, crash snapshots at 60 s), not a 100 ms tick. */
    wr_pipeline_run_once(f->p, 0);
    wait_ms = wr_pipeline_run_once(f->p, 0);
    assert_true(wait_ms >= 4900 && wait_ms <= 5000);
}

static void test_pipeline_shutdown_stops_source_and_uplink(void **state)
{
    struct fixture *f = *state;

    uplink_set_connected(&f->uplink, true);
    offer(f, "a", 1, T0_MS + 1000);
    wr_pipeline_shutdown(f->p, 0);
    assert_int_equal(f->source.stops, 1);
    assert_int_equal(f->uplink.stops, 1);
    /* The queued event was folded, and its open window is not closed early. */
    assert_int_equal(counter(f, WR_C_EVENTS_AGGREGATED), 1);
    assert_int_equal(counter(f, WR_C_RESULTS_EMITTED), 0);
    /* A second shutdown (or destroy) does not stop them again. */
    wr_pipeline_shutdown(f->p, 0);
    assert_int_equal(f->source.stops, 1);
    assert_int_equal(f->uplink.stops, 1);
}

static void test_pipeline_create_refuses_missing_deps(void **state)
{
    struct fixture *f = *state;
    struct wr_pipeline_deps deps;
    struct wr_pipeline *p = NULL;

    memset(&deps, 0, sizeof(deps));
    assert_int_equal(wr_pipeline_create(f->cfg, &deps, &p), WR_E_INVAL);
    deps.source_ops = &fake_source_ops;
    deps.uplink_ops = &fake_uplink_ops;
    deps.clock.mono_ms = fake_mono_ms; /* one clock without the other */
    assert_int_equal(wr_pipeline_create(f->cfg, &deps, &p), WR_E_INVAL);
    assert_int_equal(wr_pipeline_create(f->cfg, NULL, &p), WR_E_INVAL);
    assert_null(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipeline_window_closes_at_fake_time_and_is_acked,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_lost_connection_resends_same_results, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_checkpoint_waits_for_acks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_checkpoint_grace_ends_with_results_written,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_checkpoint_does_not_wait_without_uplink,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_restores_compact_checkpoints, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_idle_sleeps_until_next_deadline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_shutdown_stops_source_and_uplink, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_create_refuses_missing_deps, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
