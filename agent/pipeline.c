#include "pipeline_internal.h"

#include <stdio.h>
#include <string.h>

#include "plat_file.h"
#include "plat_io.h"
#include "plat_log.h"
#include "plat_mem.h"
#include "plat_notify.h"
#include "plat_time.h"
#include "wr_error.h"

#define MOD "pipeline"

/* Posted from Paho's threads to the pipeline thread. */
enum notice_kind { NOTICE_ACK, NOTICE_UP, NOTICE_DOWN };

struct notice {
    uint32_t tag;
    uint8_t kind;
    bool ok;
};

#define NOTICES_CAPACITY 4096u
#define METRICS_TEXT_MAX (32u * 1024u)
#define CLOCK_JUMP_THRESHOLD_MS 2000
#define MEMORY_OUTBOX_RESULTS 10000u
#define STORE_RETRY_MS 5000u
/* With nothing due the loop still wakes this often (a bound, not a tick). */
#define IDLE_WAIT_MS 60000u
/* The uplink's mailbox was full: try the forwarder again after this. */
#define FORWARD_RETRY_MS 10u
/* Longest a due checkpoint waits for PUBACKs of results on their way upstream. */
#define CHECKPOINT_ACK_GRACE_MS 2000u
/* How long the source and the uplink get to close their connections. */
#define SOURCE_STOP_MS 2000u
#define UPLINK_STOP_MS 1000u

uint64_t wr_pipeline__mono_ms(const struct wr_pipeline *p)
{
    return p->deps.clock.mono_ms();
}

struct wr_now wr_pipeline__now(const struct wr_pipeline *p)
{
    struct wr_now now;

    now.wall_ms = p->deps.clock.wall_ms();
    now.mono_ms = p->deps.clock.mono_ms();
    now.wall_plausible = plat_clock_plausible(now.wall_ms);
    return now;
}

/* ---- uplink reports (the uplink's threads) -------------------------------------------------- */

/*
 * Reports come in on the uplink's threads and are handed to the pipeline
 * thread through the notices queue; pushing never blocks, and the wake makes
 * a sleeping loop look at them.
 */
static void post_notice(struct wr_pipeline *p, enum notice_kind kind, uint32_t tag, bool ok)
{
    struct notice n = {tag, (uint8_t)kind, ok};

    /* Sized for every message in flight many times over; if it ever fills,
     * losing an ack only means a resend, which the idempotency key absorbs. */
    if (plat_queue_push_all(p->notices, &n, 1) != WR_OK)
        PLAT_WARN(MOD, "notice queue full; an acknowledgement will be resent");
    plat_queue_wake(p->events);
}

static void on_uplink_ack(struct wr_uplink_sink *sink, uint32_t tag, bool ok)
{
    post_notice(sink->p, NOTICE_ACK, tag, ok);
}

static void on_uplink_connection(struct wr_uplink_sink *sink, bool up)
{
    post_notice(sink->p, up ? NOTICE_UP : NOTICE_DOWN, 0, true);
}

/* ---- window results -> outbox -------------------------------------------------------------- */

static void flush_results(struct wr_pipeline *p, uint64_t now_mono_ms)
{
    if (p->n_results == 0)
        return;
    wr_forward_notify_appended(p->forward, p->n_results, now_mono_ms);
    wr_metrics_add(p->metrics, WR_C_RESULTS_EMITTED, p->n_results);
    p->n_results = 0;
}

static void on_window_result(void *ctx, const struct wr_result *r)
{
    struct wr_pipeline *p = ctx;

    /* The sketch bytes are the window engine's for this call only: the outbox copies them now. */
    wr_outbox_append(p->outbox, r, 1);
    if (++p->n_results == RESULTS_PER_FLUSH)
        flush_results(p, wr_pipeline__mono_ms(p));
}

void wr_pipeline__emit_due(struct wr_pipeline *p, const struct wr_now *now)
{
    wr_window_advance(p->window, now, on_window_result, p);
    flush_results(p, now->mono_ms);
}

/* Why the window engine turned an event away. */
static enum wr_drop_reason outcome_drop_reason(enum wr_window_outcome outcome)
{
    switch (outcome) {
    case WR_WINDOW_FUTURE:
        return WR_DROP_FUTURE;
    case WR_WINDOW_KEY_LIMIT:
        return WR_DROP_KEY_LIMIT;
    case WR_WINDOW_NO_MEMORY:
        return WR_DROP_MEMORY;
    default:
        return WR_DROP_LATE;
    }
}

void wr_pipeline__fold(struct wr_pipeline *p, const struct wr_event *evs, size_t n,
                       const struct wr_now *now)
{
    uint64_t added = 0;
    uint64_t revised = 0;

    for (size_t i = 0; i < n; i++) {
        enum wr_window_outcome outcome = WR_WINDOW_LATE;

        if (wr_window_add(p->window, &evs[i], now, &outcome) != WR_OK) {
            wr_metrics_drop(p->metrics, WR_DROP_MALFORMED, 1);
            continue;
        }
        if (outcome == WR_WINDOW_ADDED)
            added++;
        else if (outcome == WR_WINDOW_REVISED)
            revised++;
        else
            wr_metrics_drop(p->metrics, outcome_drop_reason(outcome), 1);
    }
    /* The queue hands out events in journal order: n more are folded in. */
    p->crash.consumed_seq += n;
    wr_metrics_add(p->metrics, WR_C_EVENTS_AGGREGATED, added + revised);
    wr_metrics_add(p->metrics, WR_C_EVENTS_REVISED, revised);
    if (p->test_delay_us > 0)
        plat_sleep_us((uint64_t)p->test_delay_us * n);
}

/*
 * Move queued events into the windows, waiting up to timeout_ms for the
 * first (or for a wake: an uplink report, a stop request). Under sustained
 * load the queue never empties, so this returns after budget_ms to let due
 * work run; 0 drains everything (shutdown, when the source has stopped).
 */
static void drain_events(struct wr_pipeline *p, uint32_t timeout_ms, uint32_t budget_ms)
{
    uint64_t deadline = wr_pipeline__mono_ms(p) + budget_ms;
    size_t n = 0;
    struct wr_now now;

    if (plat_queue_pop(p->events, p->popped, EVENTS_PER_POP, &n, timeout_ms) != WR_OK || n == 0)
        return;
    now = wr_pipeline__now(p);
    wr_pipeline__fold(p, p->popped, n, &now);
    /* A trickle would wake this thread (and cost Paho's thread a wake-up call)
     * per message; letting a few milliseconds of events gather first turns
     * that into one wake-up per batch. */
    if (n < EVENTS_PER_POP / 4 && budget_ms > 0)
        plat_sleep_ms(COALESCE_MS);
    while ((budget_ms == 0 || wr_pipeline__mono_ms(p) < deadline) &&
           plat_queue_pop(p->events, p->popped, EVENTS_PER_POP, &n, 0) == WR_OK && n > 0) {
        now = wr_pipeline__now(p);
        wr_pipeline__fold(p, p->popped, n, &now);
    }
}

/* ---- metrics ------------------------------------------------------------------------------- */

static bool uplink_connected(const struct wr_pipeline *p)
{
    return p->deps.uplink_ops->connected(p->deps.uplink);
}

/*
 * windrow_storage_written_bytes_total: what the kernel counts as written by
 * this process (every file, SQLite's database and WAL above all; tmpfs, so
 * the crash journal, not at all). Without /proc the store's own estimate of
 * its writes stands in, added as it grows.
 */
static void update_written_bytes(struct wr_pipeline *p)
{
    struct plat_io_counters io;
    struct wr_store_stats ss;

    if (plat_io_self(&io) == WR_OK) {
        wr_metrics_raise(p->metrics, WR_C_STORAGE_WRITTEN_BYTES, io.write_bytes);
        return;
    }
    if (p->store == NULL)
        return;
    wr_store_get_stats(p->store, &ss);
    if (ss.written_bytes_estimate > p->store_written_seen)
        wr_metrics_add(p->metrics, WR_C_STORAGE_WRITTEN_BYTES,
                       ss.written_bytes_estimate - p->store_written_seen);
    p->store_written_seen = ss.written_bytes_estimate;
}

static void update_gauges(struct wr_pipeline *p)
{
    struct wr_window_stats ws;
    struct wr_forward_stats fs;
    uint64_t rows = 0;
    uint64_t bytes = 0;

    wr_window_get_stats(p->window, &ws);
    wr_forward_get_stats(p->forward, &fs);
    wr_outbox_stats(p->outbox, &rows, &bytes);
    wr_metrics_set(p->metrics, WR_G_QUEUE_DEPTH, plat_queue_depth(p->events));
    wr_metrics_set(p->metrics, WR_G_WINDOWS_OPEN, ws.windows_open);
    wr_metrics_set(p->metrics, WR_G_KEYS, ws.keys);
    wr_metrics_set(p->metrics, WR_G_OUTBOX_ROWS, rows);
    wr_metrics_set(p->metrics, WR_G_OUTBOX_BYTES, bytes);
    wr_metrics_set(p->metrics, WR_G_UPSTREAM_CONNECTED, uplink_connected(p) ? 1 : 0);
    wr_metrics_set(p->metrics, WR_G_INFLIGHT_MESSAGES, fs.inflight_messages);
    wr_metrics_set(p->metrics, WR_G_PUBLISH_LATENCY_MS, fs.last_ack_latency_ms);
    if (p->store != NULL)
        wr_metrics_set(p->metrics, WR_G_STORE_BYTES, wr_store_bytes(p->store));
    wr_metrics_set(p->metrics, WR_G_BACKPRESSURE_STATE,
                   (uint64_t)wr_backpressure_current(p->backpressure));
    update_written_bytes(p);
}

/* The service manager's one-line status: sent when it changes, at metrics time. */
static void update_notify_status(struct wr_pipeline *p)
{
    char status[sizeof(p->notify_status)];
    uint64_t rows = 0;
    uint64_t bytes = 0;

    if (p->deps.notify == NULL)
        return;
    wr_outbox_stats(p->outbox, &rows, &bytes);
    snprintf(status, sizeof(status), "upstream %s, %llu result(s) waiting, backpressure %s",
             uplink_connected(p) ? "connected" : "disconnected", (unsigned long long)rows,
             wr_backpressure_state_name(wr_backpressure_current(p->backpressure)));
    if (strcmp(status, p->notify_status) == 0)
        return;
    memcpy(p->notify_status, status, sizeof(status));
    plat_notify_send(p->deps.notify, NULL, status);
}

static void export_metrics(struct wr_pipeline *p, int64_t now_wall_ms)
{
    size_t len = 0;

    if (p->cfg->metrics.file[0] != '\0' &&
        wr_metrics_render_prometheus(p->metrics, p->metrics_text, METRICS_TEXT_MAX, &len) == WR_OK)
        plat_file_write_atomic(p->cfg->metrics.file, p->metrics_text, len);
    if (p->status_topic[0] != '\0' && uplink_connected(p) &&
        wr_metrics_render_json(p->metrics, p->cfg->agent.id, now_wall_ms, p->metrics_text,
                               METRICS_TEXT_MAX, &len) == WR_OK)
        p->deps.uplink_ops->publish_status(p->deps.uplink, p->status_topic, p->metrics_text, len);
    update_notify_status(p);
}

/* ---- the loop ------------------------------------------------------------------------------ */

static int open_store(struct wr_pipeline *p);

/* Without a store (state dir unusable at start), try again now and then. */
static void retry_store(struct wr_pipeline *p, uint64_t now_mono_ms)
{
    if (p->store != NULL || now_mono_ms < p->next_store_retry_mono_ms)
        return;
    p->next_store_retry_mono_ms = now_mono_ms + STORE_RETRY_MS;
    open_store(p);
    if (p->store == NULL)
        return;
    PLAT_INFO(MOD, "state store in %s available again: checkpoints and results are persisted",
              p->cfg->agent.state_dir);
    wr_outbox_set_store(p->outbox, p->store);
    wr_window_mark_all_dirty(p->window);
}

static void handle_notices(struct wr_pipeline *p)
{
    struct notice batch[64];
    size_t n = 0;

    while (plat_queue_pop(p->notices, batch, 64, &n, 0) == WR_OK && n > 0) {
        for (size_t i = 0; i < n; i++) {
            switch ((enum notice_kind)batch[i].kind) {
            case NOTICE_ACK:
                if (!batch[i].ok)
                    wr_metrics_add(p->metrics, WR_C_MESSAGES_FAILED, 1);
                wr_forward_on_ack(p->forward, &p->fio, batch[i].tag, batch[i].ok,
                                  wr_pipeline__mono_ms(p));
                break;
            case NOTICE_UP:
                break;
            case NOTICE_DOWN:
                wr_forward_on_disconnect(p->forward, &p->fio);
                break;
            }
        }
    }
}

/* The forwarder keeps its own totals; the metrics get what changed since last time. */
static void sync_forward_counters(struct wr_pipeline *p)
{
    struct wr_forward_stats fs;

    wr_forward_get_stats(p->forward, &fs);
    wr_metrics_add(p->metrics, WR_C_MESSAGES_SENT,
                   fs.messages_sent - p->forward_seen.messages_sent);
    wr_metrics_add(p->metrics, WR_C_RESULTS_ACKED,
                   fs.results_acked - p->forward_seen.results_acked);
    p->forward_seen = fs;
}

/* Windows, results and the forwarder: what every pass does, cheap when nothing is due. */
static void advance(struct wr_pipeline *p, const struct wr_now *now)
{
    int64_t jump_ms = plat_clock_sample(&p->clock, now->wall_ms, now->mono_ms);

    if (jump_ms != 0) {
        PLAT_WARN(MOD, "wall clock jumped by %lld ms; processing-time windows follow it",
                  (long long)jump_ms);
        wr_metrics_add(p->metrics, WR_C_CLOCK_JUMPS, 1);
        wr_window_clock_jump(p->window, jump_ms);
    }
    wr_pipeline__emit_due(p, now);
    handle_notices(p);
    if (uplink_connected(p))
        wr_forward_pump(p->forward, &p->fio, now->mono_ms, now->wall_ms);
    sync_forward_counters(p);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/*
 * Is the checkpoint to be written now? Write-behind means a result that
 * upstream acknowledges before the checkpoint never touches storage; a
 * checkpoint that came due while results were on their way (in flight, or
 * waiting for the batch delay) would write them, and delete them again a
 * few milliseconds later. So with the uplink connected a due checkpoint
 * first sends what waits, without the batch delay, and waits for those
 * acknowledgements: it is written as soon as nothing waits only in memory,
 * or after a grace of CHECKPOINT_ACK_GRACE_MS (at most half the interval),
 * or when the uplink goes away. The power-loss bound grows by that grace.
 */
static bool checkpoint_now(struct wr_pipeline *p, uint64_t mono)
{
    struct wr_outbox_stats os;
    uint64_t grace;

    if (mono < p->next_checkpoint_mono_ms && !p->checkpoint_waiting)
        return false;
    wr_outbox_get_stats(p->outbox, &os);
    if (os.memory_rows == 0 || p->store == NULL || !uplink_connected(p))
        return true;
    if (p->checkpoint_waiting)
        return mono >= p->next_checkpoint_mono_ms;
    grace = min_u64(CHECKPOINT_ACK_GRACE_MS, p->cfg->storage.checkpoint_interval_ms / 2);
    if (grace == 0)
        return true;
    p->checkpoint_waiting = true;
    p->next_checkpoint_mono_ms = mono + grace;
    wr_forward_notify_backlog(p->forward, os.memory_rows);
    return false;
}

/* Checkpoint, metrics, watchdog, backpressure: each at its own deadline. */
static void run_due(struct wr_pipeline *p, const struct wr_now *now)
{
    uint64_t mono = now->mono_ms;
    uint64_t ping_ms = plat_notify_watchdog_interval_ms(p->deps.notify) / 2;

    /* Ingest updates the state per message; this lets it settle when messages
     * stop. The state may have left normal on ingest's thread since the last pass. */
    if (wr_backpressure_current(p->backpressure) != WR_BP_NORMAL &&
        p->next_bp_check_mono_ms == UINT64_MAX)
        p->next_bp_check_mono_ms = mono;
    if (mono >= p->next_bp_check_mono_ms) {
        enum wr_bp_state state = wr_pipeline__update_backpressure(p);

        p->next_bp_check_mono_ms =
            state == WR_BP_NORMAL ? UINT64_MAX : mono + BACKPRESSURE_CHECK_MS;
    }
    if (mono >= p->next_checkpoint_mono_ms)
        retry_store(p, mono);
    if (checkpoint_now(p, mono)) {
        wr_pipeline__checkpoint(p);
        p->checkpoint_waiting = false;
        p->next_checkpoint_mono_ms = mono + p->cfg->storage.checkpoint_interval_ms;
    }
    if (wr_pipeline__crash_snapshot_due(p, mono))
        wr_pipeline__crash_snapshot(p);
    if (mono >= p->next_metrics_mono_ms) {
        update_gauges(p);
        export_metrics(p, now->wall_ms);
        p->next_metrics_mono_ms = mono + p->cfg->metrics.interval_ms;
    }
    if (ping_ms > 0 && mono >= p->next_ping_mono_ms) {
        plat_notify_watchdog(p->deps.notify);
        p->next_ping_mono_ms = mono + (ping_ms > 0 ? ping_ms : 1);
    }
}

/* The nearest deadline of anything the loop does by time. */
static uint64_t next_deadline(const struct wr_pipeline *p, uint64_t now_mono_ms)
{
    uint64_t due = min_u64(p->next_checkpoint_mono_ms, p->next_metrics_mono_ms);

    due = min_u64(due, wr_pipeline__crash_next_due(p));

    if (wr_backpressure_current(p->backpressure) != WR_BP_NORMAL)
        due = min_u64(due, min_u64(p->next_bp_check_mono_ms, now_mono_ms + BACKPRESSURE_CHECK_MS));
    due = min_u64(due, wr_window_next_due_mono_ms(p->window, now_mono_ms));
    if (plat_notify_watchdog_interval_ms(p->deps.notify) > 0)
        due = min_u64(due, p->next_ping_mono_ms);
    if (p->store == NULL)
        due = min_u64(due, p->next_store_retry_mono_ms);
    if (uplink_connected(p)) {
        uint64_t fw = wr_forward_next_due_ms(p->forward, now_mono_ms);

        /* The pump just ran: still due now means the uplink refused for the
         * moment (mailbox full); look again shortly instead of spinning. */
        if (fw <= now_mono_ms)
            fw = now_mono_ms + FORWARD_RETRY_MS;
        due = min_u64(due, fw);
    }
    return due;
}

/* Test-only fault point: a loop wedged in a stage, as far as anyone outside can tell. */
static void test_stall(const struct wr_pipeline *p)
{
    while (p->test_stall_file != NULL && plat_file_exists(p->test_stall_file))
        plat_sleep_ms(50);
}

uint32_t wr_pipeline_run_once(struct wr_pipeline *p, uint32_t max_wait_ms)
{
    uint64_t mono;
    uint64_t due;
    uint32_t wait_ms = max_wait_ms;
    struct wr_now now;

    if (p == NULL)
        return 0;
    test_stall(p);
    mono = wr_pipeline__mono_ms(p);
    due = next_deadline(p, mono);
    if (due <= mono)
        wait_ms = 0;
    else if (due - mono < wait_ms)
        wait_ms = (uint32_t)(due - mono);
    drain_events(p, wait_ms, DRAIN_BUDGET_MS);
    now = wr_pipeline__now(p);
    advance(p, &now);
    run_due(p, &now);
    due = next_deadline(p, now.mono_ms);
    if (due <= now.mono_ms)
        return 0;
    return due - now.mono_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)(due - now.mono_ms);
}

static bool outbox_empty(struct wr_pipeline *p)
{
    uint64_t rows = 0;
    uint64_t bytes = 0;

    wr_outbox_stats(p->outbox, &rows, &bytes);
    return rows == 0;
}

/* Runs the source's stop on a thread of its own, so the pipeline can drain meanwhile. */
struct source_closer {
    struct wr_pipeline *p;
    atomic_bool done;
};

static void close_source(void *arg)
{
    struct source_closer *c = arg;

    c->p->deps.source_ops->stop(c->p->deps.source, SOURCE_STOP_MS);
    atomic_store(&c->done, true);
    plat_queue_wake(c->p->events);
}

/*
 * Stop the source. Its stop may have to wait for a callback that waits for
 * queue room, so the queue is drained until the stop has returned; if the
 * helper thread cannot start, the stop runs here after one last drain, and a
 * callback still waiting then gives up (a counted hold).
 */
static void stop_source(struct wr_pipeline *p)
{
    struct source_closer closer;
    struct plat_thread *t = NULL;

    if (!p->source_running)
        return;
    closer.p = p;
    atomic_init(&closer.done, false);
    if (plat_thread_start(&t, close_source, &closer, "wr-srcstop") == WR_OK) {
        while (!atomic_load(&closer.done))
            drain_events(p, 100, DRAIN_BUDGET_MS);
        plat_thread_join(t);
    } else {
        drain_events(p, 0, 0);
        atomic_store(&p->draining, false);
        close_source(&closer);
    }
    atomic_store(&p->draining, false);
    p->source_running = false;
}

void wr_pipeline_shutdown(struct wr_pipeline *p, uint32_t flush_ms)
{
    uint64_t checkpoints;
    uint64_t deadline;
    struct wr_now now;

    if (p == NULL)
        return;
    /* No new events: stop the source first, then fold what it already gave us. */
    stop_source(p);
    drain_events(p, 0, 0);
    now = wr_pipeline__now(p);
    advance(p, &now);
    checkpoints = wr_metrics_counter(p->metrics, WR_C_CHECKPOINTS);
    /* Every field of every window: a reload restores from this, and may change the aggregates. */
    wr_pipeline__checkpoint_all_fields(p);
    deadline = wr_pipeline__mono_ms(p) + flush_ms;
    while (p->uplink_running && !outbox_empty(p) && uplink_connected(p) &&
           wr_pipeline__mono_ms(p) < deadline) {
        uint64_t left = deadline - wr_pipeline__mono_ms(p);

        /* Acknowledgements wake this wait; nothing else arrives now. */
        drain_events(p, (uint32_t)min_u64(left, 100), 0);
        now = wr_pipeline__now(p);
        advance(p, &now);
    }
    handle_notices(p);
    sync_forward_counters(p);
    /* Everything ingest gave is folded: RAM state is only kept if SQLite lacks some of it. */
    wr_pipeline__crash_shutdown(p, wr_metrics_counter(p->metrics, WR_C_CHECKPOINTS) > checkpoints);
    update_gauges(p);
    export_metrics(p, wr_pipeline__now(p).wall_ms);
    if (!outbox_empty(p))
        PLAT_INFO(MOD, "shutting down with results in the outbox; they are sent after restart");
    if (p->uplink_running) {
        p->deps.uplink_ops->stop(p->deps.uplink, UPLINK_STOP_MS);
        p->uplink_running = false;
    }
}

int wr_pipeline_start(struct wr_pipeline *p)
{
    uint64_t mono;
    int rc;

    if (p == NULL)
        return WR_E_INVAL;
    if (p->uplink_running || p->source_running)
        return WR_E_STATE;
    rc = p->deps.uplink_ops->start(p->deps.uplink, &p->uplink_reports);
    if (rc != WR_OK)
        return rc;
    p->uplink_running = true;
    atomic_store(&p->draining, true);
    rc = p->deps.source_ops->start(p->deps.source, &p->source_handlers);
    if (rc != WR_OK) {
        p->deps.uplink_ops->stop(p->deps.uplink, 0);
        p->uplink_running = false;
        return rc;
    }
    p->source_running = true;
    mono = wr_pipeline__mono_ms(p);
    p->next_checkpoint_mono_ms = mono + p->cfg->storage.checkpoint_interval_ms;
    p->next_metrics_mono_ms = mono;
    p->next_ping_mono_ms = mono;
    p->next_bp_check_mono_ms = mono;
    /* State is restored and the store open: the service manager may start dependants. */
    plat_notify_ready(p->deps.notify, "running");
    return WR_OK;
}

int wr_pipeline_run(struct wr_pipeline *p, wr_pipeline_stop_fn should_stop, void *ctx,
                    uint32_t flush_ms)
{
    int rc;

    if (p == NULL || should_stop == NULL)
        return WR_E_INVAL;
    rc = wr_pipeline_start(p);
    if (rc != WR_OK)
        return rc;
    while (!should_stop(ctx))
        wr_pipeline_run_once(p, IDLE_WAIT_MS);
    PLAT_INFO(MOD, "shutting down");
    wr_pipeline_shutdown(p, flush_ms);
    return WR_OK;
}

void wr_pipeline_wake(struct wr_pipeline *p)
{
    if (p != NULL)
        plat_queue_wake(p->events);
}

/* ---- construction -------------------------------------------------------------------------- */

static void build_specs(struct wr_pipeline *p)
{
    for (size_t s = 0; s < p->cfg->n_streams; s++) {
        const struct wr_stream_config *sc = &p->cfg->streams[s];
        struct wr_decode_spec *spec = &p->specs[s];

        spec->format = sc->format;
        spec->value_field = sc->value_field;
        spec->time_field = sc->time_field;
        spec->time_unit = sc->time_unit;
        spec->key_template = sc->key;
        spec->max_payload_bytes = p->cfg->source.max_payload_bytes;
        spec->stream = (uint16_t)s;
        p->filters[s] = sc->match;
        p->stream_names[s] = sc->name;
        p->stream_aggs[s] = sc->aggregates;
    }
}

static int create_window(struct wr_pipeline *p)
{
    struct wr_window_stream_params sp[WR_CFG_MAX_STREAMS];
    struct wr_window_params wp;

    for (size_t s = 0; s < p->cfg->n_streams; s++) {
        const struct wr_stream_config *sc = &p->cfg->streams[s];

        sp[s].size_s = sc->window_size_s;
        sp[s].allowed_lateness_s = sc->allowed_lateness_s;
        sp[s].max_future_s = sc->max_future_s;
        sp[s].max_keys = sc->max_keys;
        sp[s].revise_late = sc->late_policy == WR_LATE_REVISE;
        sp[s].revise_horizon_s = sc->revise_horizon_s;
        sp[s].sketch = sc->n_quantiles > 0 || sc->sketch.upstream;
        sp[s].sketch_accuracy = sc->sketch.accuracy;
        sp[s].sketch_max_buckets = sc->sketch.max_buckets;
        sp[s].quantiles = sc->quantiles;
        sp[s].n_quantiles = sc->n_quantiles;
    }
    wp.streams = sp;
    wp.n_streams = p->cfg->n_streams;
    wp.max_keys_total = p->cfg->backpressure.max_keys_total;
    wp.memory_budget_bytes = p->cfg->backpressure.memory_budget_bytes;
    return wr_window_create(&wp, &p->window);
}

/*
 * Open the state store. A state dir that cannot be used is not fatal: the
 * agent runs from memory and the loop tries again (retry_store).
 */
static int open_store(struct wr_pipeline *p)
{
    const double *quantiles[WR_CFG_MAX_STREAMS];
    size_t n_quantiles[WR_CFG_MAX_STREAMS];
    struct wr_store_options so;
    int rc;

    memset(&so, 0, sizeof(so));
    rc = plat_file_mkdir_p(p->cfg->agent.state_dir, 0750);
    if (rc != WR_OK) {
        PLAT_ERROR(MOD, "state dir %s unusable (%s): results are kept in memory only",
                   p->cfg->agent.state_dir, wr_strerror(rc));
        return WR_OK;
    }
    so.dir = p->cfg->agent.state_dir;
    so.stream_names = p->stream_names;
    so.n_streams = p->cfg->n_streams;
    so.stream_aggregates = p->stream_aggs;
    so.max_bytes = p->cfg->storage.max_bytes;
    so.on_full = p->cfg->storage.on_full;
    for (size_t s = 0; s < p->cfg->n_streams; s++) {
        quantiles[s] = p->cfg->streams[s].quantiles;
        n_quantiles[s] = p->cfg->streams[s].n_quantiles;
    }
    so.stream_quantiles = quantiles;
    so.stream_n_quantiles = n_quantiles;
    rc = wr_store_open(&so, &p->store);
    if (rc != WR_OK) {
        PLAT_ERROR(MOD, "cannot open the state store in %s (%s): results are kept in memory only",
                   p->cfg->agent.state_dir, wr_strerror(rc));
        p->store = NULL;
        return WR_OK;
    }
    if (so.recovered_from_corruption)
        wr_metrics_add(p->metrics, WR_C_STORE_CORRUPTIONS, 1);
    return WR_OK;
}

static int create_forward(struct wr_pipeline *p)
{
    const struct wr_config *cfg = p->cfg;
    const double *quantiles[WR_CFG_MAX_STREAMS];
    size_t n_quantiles[WR_CFG_MAX_STREAMS];
    bool sketch[WR_CFG_MAX_STREAMS];
    struct wr_forward_params fp;

    memset(&fp, 0, sizeof(fp));
    for (size_t s = 0; s < cfg->n_streams; s++) {
        quantiles[s] = cfg->streams[s].quantiles;
        n_quantiles[s] = cfg->streams[s].n_quantiles;
        sketch[s] = cfg->streams[s].sketch.upstream;
    }
    fp.stream_quantiles = quantiles;
    fp.stream_n_quantiles = n_quantiles;
    fp.stream_sketch = sketch;
    fp.encoding = cfg->upstream.encoding == WR_UPSTREAM_CBOR ? WR_ENCODING_CBOR : WR_ENCODING_JSON;
    fp.compression = cfg->upstream.compression == WR_UPSTREAM_COMPRESS_ZSTD ? WR_COMPRESSION_ZSTD
                                                                            : WR_COMPRESSION_NONE;
    fp.agent_id = cfg->agent.id;
    fp.topic = p->results_topic;
    fp.stream_names = p->stream_names;
    fp.stream_aggregates = p->stream_aggs;
    fp.n_streams = cfg->n_streams;
    fp.max_results = cfg->upstream.batch.max_results;
    fp.max_bytes = cfg->upstream.batch.max_bytes;
    fp.max_delay_ms = cfg->upstream.batch.max_delay_ms;
    fp.max_inflight = cfg->upstream.max_inflight;
    fp.resend_per_s = cfg->upstream.resend_per_s;
    p->fio.outbox = p->outbox;
    p->fio.peek = wr_outbox_peek;
    p->fio.mark_sent = wr_outbox_mark_sent;
    p->fio.acknowledge = wr_outbox_acknowledge;
    p->fio.release = wr_outbox_release;
    /* The uplink's publish copies into its mailbox and never waits (see pipeline.h). */
    p->fio.publish = p->deps.uplink_ops->publish;
    p->fio.uplink = p->deps.uplink;
    return wr_forward_create(&fp, &p->forward);
}

/* windrow_config_version: a hash of the effective config, so a fleet can see which one runs. */
static void publish_config_version(struct wr_pipeline *p)
{
    char *text = wr_config_to_json(p->cfg);
    uint32_t hash = 2166136261u; /* FNV-1a 32 */

    if (text == NULL)
        return;
    for (const char *c = text; *c != '\0'; c++)
        hash = (hash ^ (uint8_t)*c) * 16777619u;
    plat_free(text);
    wr_metrics_set(p->metrics, WR_G_CONFIG_VERSION, hash);
}

static bool deps_valid(const struct wr_pipeline_deps *d)
{
    const struct wr_ingest_ops *s = d->source_ops;
    const struct wr_uplink_ops *u = d->uplink_ops;

    if ((d->clock.mono_ms == NULL) != (d->clock.wall_ms == NULL))
        return false;
    return s != NULL && s->start != NULL && s->stop != NULL && u != NULL && u->start != NULL &&
           u->publish != NULL && u->publish_status != NULL && u->connected != NULL &&
           u->stop != NULL;
}

int wr_pipeline_create(const struct wr_config *cfg, const struct wr_pipeline_deps *deps,
                       struct wr_pipeline **out)
{
    struct wr_pipeline *p;
    struct wr_outbox_params op;
    int rc;

    if (cfg == NULL || deps == NULL || out == NULL || cfg->n_streams == 0 || !deps_valid(deps))
        return WR_E_INVAL;
    p = plat_calloc(1, sizeof(*p));
    if (p == NULL)
        return WR_E_NOMEM;
    p->cfg = cfg;
    p->deps = *deps;
    if (p->deps.clock.mono_ms == NULL) {
        p->deps.clock.mono_ms = plat_time_mono_ms;
        p->deps.clock.wall_ms = plat_time_wall_ms;
    }
    p->ingest_sink.p = p;
    p->uplink_sink.p = p;
    p->source_handlers.message = wr_pipeline__on_message;
    p->source_handlers.connection = wr_pipeline__on_source_connection;
    p->source_handlers.sink = &p->ingest_sink;
    p->uplink_reports.acked = on_uplink_ack;
    p->uplink_reports.connection = on_uplink_connection;
    p->uplink_reports.sink = &p->uplink_sink;
    atomic_init(&p->draining, false);
    build_specs(p);
    plat_clock_init(&p->clock, CLOCK_JUMP_THRESHOLD_MS);
    rc = wr_config_expand_topic(cfg->upstream.topic, cfg->agent.id, p->results_topic,
                                sizeof(p->results_topic));
    if (rc == WR_OK)
        rc = wr_config_expand_topic(cfg->upstream.status_topic, cfg->agent.id, p->status_topic,
                                    sizeof(p->status_topic));
    if (rc == WR_OK)
        rc = wr_metrics_create(&p->metrics);
    if (rc == WR_OK)
        publish_config_version(p);
    if (rc == WR_OK)
        rc = plat_queue_create(sizeof(struct wr_event), cfg->backpressure.queue_capacity,
                               &p->events);
    if (rc == WR_OK)
        rc = plat_queue_create(sizeof(struct notice), NOTICES_CAPACITY, &p->notices);
    if (rc == WR_OK) {
        p->metrics_text = plat_malloc(METRICS_TEXT_MAX);
        rc = p->metrics_text != NULL ? WR_OK : WR_E_NOMEM;
    }
    if (rc == WR_OK)
        rc = create_window(p);
    if (rc == WR_OK)
        rc = open_store(p);
    if (rc == WR_OK) {
        op.store = p->store;
        op.memory_capacity = MEMORY_OUTBOX_RESULTS;
        op.max_bytes = cfg->storage.max_bytes;
        op.metrics = p->metrics;
        rc = wr_outbox_create(&op, &p->outbox);
    }
    if (rc == WR_OK)
        rc = create_forward(p);
    if (rc == WR_OK)
        rc = wr_pipeline__restore_state(p);
    if (rc == WR_OK)
        rc = wr_pipeline__create_admission(p);
    if (rc != WR_OK) {
        wr_pipeline_destroy(p);
        return rc;
    }
    *out = p;
    return WR_OK;
}

void wr_pipeline_set_test_delay_us(struct wr_pipeline *p, uint32_t delay_us)
{
    if (p != NULL)
        p->test_delay_us = delay_us;
}

void wr_pipeline_set_test_stall_file(struct wr_pipeline *p, const char *path)
{
    if (p != NULL)
        p->test_stall_file = path;
}

struct wr_metrics *wr_pipeline_metrics(struct wr_pipeline *p)
{
    return p != NULL ? p->metrics : NULL;
}

void wr_pipeline_destroy(struct wr_pipeline *p)
{
    if (p == NULL)
        return;
    /* Source and uplink first (if a run did not stop them): after this no
     * callback can touch the rest. */
    stop_source(p);
    if (p->uplink_running)
        p->deps.uplink_ops->stop(p->deps.uplink, 0);
    wr_filter_destroy(p->filter);
    wr_backpressure_destroy(p->backpressure);
    plat_mutex_destroy(p->backpressure_lock);
    wr_forward_destroy(p->forward);
    wr_outbox_destroy(p->outbox);
    wr_store_close(p->store);
    wr_window_destroy(p->window);
    wr_pipeline__ckpt_free(p);
    wr_pipeline__crash_close(p);
    plat_queue_destroy(p->events);
    plat_queue_destroy(p->notices);
    wr_metrics_destroy(p->metrics);
    plat_free(p->metrics_text);
    plat_free(p);
}
