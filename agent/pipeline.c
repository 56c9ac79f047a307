#include "pipeline_internal.h"

#include <stdio.h>
#include <string.h>

#include "plat_file.h"
#include "plat_log.h"
#include "plat_mem.h"
#include "plat_time.h"
#include "plat_uri.h"
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

struct wr_now wr_pipeline__now(void)
{
    struct wr_now now;

    now.wall_ms = plat_time_wall_ms();
    now.mono_ms = plat_time_mono_ms();
    now.wall_plausible = plat_clock_plausible(now.wall_ms);
    return now;
}

/* ---- uplink notices (Paho's thread) -------------------------------------------------------- */

static void post_notice(struct wr_pipeline *p, enum notice_kind kind, uint32_t tag, bool ok)
{
    struct notice n = {tag, (uint8_t)kind, ok};

    /* Sized for every message in flight many times over; if it ever fills,
     * losing an ack only means a resend, which the idempotency key absorbs. */
    if (plat_queue_push_all(p->notices, &n, 1) != WR_OK)
        PLAT_WARN(MOD, "notice queue full; an acknowledgement will be resent");
}

static void on_uplink_ack(void *ctx, uint32_t tag, bool ok)
{
    post_notice(ctx, NOTICE_ACK, tag, ok);
}

static void on_uplink_connection(void *ctx, bool up)
{
    post_notice(ctx, up ? NOTICE_UP : NOTICE_DOWN, 0, true);
}

static int forward_publish(void *ctx, const char *topic, const void *payload, size_t len,
                           uint32_t tag)
{
    struct wr_pipeline *p = ctx;

    return wr_uplink_publish(p->uplink, topic, payload, len, tag);
}

static int forward_read(void *ctx, struct wr_forward_cursor *cursor, struct wr_forward_row *rows,
                        size_t max, size_t *n)
{
    struct wr_pipeline *p = ctx;

    return wr_outbox_read(p->outbox, cursor, rows, max, n);
}

static int forward_remove(void *ctx, const uint64_t *ids, size_t n)
{
    struct wr_pipeline *p = ctx;

    return wr_outbox_remove(p->outbox, ids, n);
}

/* ---- window results -> outbox -------------------------------------------------------------- */

static void flush_results(struct wr_pipeline *p, uint64_t now_mono_ms)
{
    if (p->n_results == 0)
        return;
    wr_outbox_append(p->outbox, p->results, p->n_results);
    wr_forward_notify_appended(p->forward, p->n_results, now_mono_ms);
    wr_metrics_add(p->metrics, WR_C_RESULTS_EMITTED, p->n_results);
    p->n_results = 0;
    /* The checkpoint runs the budget check too; appending is what grows the
     * outbox, so a burst of results is brought back under budget at once. */
    if (p->store != NULL && wr_store_bytes(p->store) > p->cfg->storage.max_bytes)
        wr_outbox_enforce_budget(p->outbox, wr_forward_held_floor(p->forward));
}

static void on_window_result(void *ctx, const struct wr_result *r)
{
    struct wr_pipeline *p = ctx;

    /* The sketch is the window's and only borrowed for this call; the values travel. */
    p->results[p->n_results] = *r;
    p->results[p->n_results++].agg.sketch = NULL;
    if (p->n_results == RESULTS_PER_FLUSH)
        flush_results(p, plat_time_mono_ms());
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

static void fold_events(struct wr_pipeline *p, const struct wr_event *evs, size_t n,
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
    wr_metrics_add(p->metrics, WR_C_EVENTS_AGGREGATED, added + revised);
    wr_metrics_add(p->metrics, WR_C_EVENTS_REVISED, revised);
    if (p->test_delay_us > 0)
        plat_sleep_us((uint64_t)p->test_delay_us * n);
}

/*
 * Move queued events into the windows, waiting up to timeout_ms for the
 * first. Under sustained load the queue never empties, so this returns after
 * budget_ms to let ticks, checkpoints and metrics run; 0 drains everything
 * (shutdown, when ingest has stopped).
 */
static void drain_events(struct wr_pipeline *p, uint32_t timeout_ms, uint32_t budget_ms)
{
    uint64_t deadline = plat_time_mono_ms() + budget_ms;
    size_t n = 0;
    struct wr_now now;

    if (plat_queue_pop(p->events, p->popped, EVENTS_PER_POP, &n, timeout_ms) != WR_OK || n == 0)
        return;
    now = wr_pipeline__now();
    fold_events(p, p->popped, n, &now);
    /* A trickle would wake this thread (and cost Paho's thread a wake-up call)
     * per message; letting a few milliseconds of events gather first turns
     * that into one wake-up per batch. */
    if (n < EVENTS_PER_POP / 4 && budget_ms > 0)
        plat_sleep_ms(COALESCE_MS);
    while ((budget_ms == 0 || plat_time_mono_ms() < deadline) &&
           plat_queue_pop(p->events, p->popped, EVENTS_PER_POP, &n, 0) == WR_OK && n > 0) {
        now = wr_pipeline__now();
        fold_events(p, p->popped, n, &now);
    }
}

/* ---- metrics ------------------------------------------------------------------------------- */

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
    wr_metrics_set(p->metrics, WR_G_UPSTREAM_CONNECTED, wr_uplink_connected(p->uplink) ? 1 : 0);
    wr_metrics_set(p->metrics, WR_G_INFLIGHT_MESSAGES, fs.inflight_messages);
    wr_metrics_set(p->metrics, WR_G_PUBLISH_LATENCY_MS, fs.last_ack_latency_ms);
    if (p->store != NULL)
        wr_metrics_set(p->metrics, WR_G_STORE_BYTES, wr_store_bytes(p->store));
    wr_metrics_set(p->metrics, WR_G_BACKPRESSURE_STATE,
                   (uint64_t)wr_backpressure_current(p->backpressure));
}

static void export_metrics(struct wr_pipeline *p, int64_t now_wall_ms)
{
    size_t len = 0;

    if (p->cfg->metrics.file[0] != '\0' &&
        wr_metrics_render_prometheus(p->metrics, p->metrics_text, METRICS_TEXT_MAX, &len) ==
            WR_OK)
        plat_file_write_atomic(p->cfg->metrics.file, p->metrics_text, len);
    if (p->status_topic[0] != '\0' && wr_uplink_connected(p->uplink) &&
        wr_metrics_render_json(p->metrics, p->cfg->agent.id, now_wall_ms, p->metrics_text,
                               METRICS_TEXT_MAX, &len) == WR_OK)
        wr_uplink_publish_untracked(p->uplink, p->status_topic, p->metrics_text, len);
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
                                  plat_time_mono_ms());
                break;
            case NOTICE_UP:
                break;
            case NOTICE_DOWN:
                wr_forward_on_disconnect(p->forward);
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
    wr_metrics_add(p->metrics, WR_C_RESULTS_ACKED, fs.results_acked - p->forward_seen.results_acked);
    p->forward_seen = fs;
}

static void tick(struct wr_pipeline *p, const struct wr_now *now)
{
    int64_t jump_ms = plat_clock_sample(&p->clock, now->wall_ms, now->mono_ms);

    if (jump_ms != 0) {
        PLAT_WARN(MOD, "wall clock jumped by %lld ms; processing-time windows follow it",
                  (long long)jump_ms);
        wr_metrics_add(p->metrics, WR_C_CLOCK_JUMPS, 1);
        wr_window_clock_jump(p->window, jump_ms);
    }
    wr_pipeline__update_backpressure(p);
    wr_pipeline__emit_due(p, now);
    wr_uplink_poll(p->uplink, now->mono_ms);
    handle_notices(p);
    if (wr_uplink_connected(p->uplink))
        wr_forward_pump(p->forward, &p->fio, now->mono_ms, now->wall_ms);
    sync_forward_counters(p);
}

static bool outbox_empty(struct wr_pipeline *p)
{
    uint64_t rows = 0;
    uint64_t bytes = 0;

    wr_outbox_stats(p->outbox, &rows, &bytes);
    return rows == 0;
}

static void shutdown_flush(struct wr_pipeline *p, uint32_t flush_ms)
{
    uint64_t deadline = plat_time_mono_ms() + flush_ms;
    struct wr_now now;

    /* No new events: stop the source first, then fold what it already gave us. */
    wr_ingest_destroy(p->ingest, 2000);
    p->ingest = NULL;
    drain_events(p, 0, 0);
    now = wr_pipeline__now();
    tick(p, &now);
    wr_pipeline__checkpoint(p);
    while (!outbox_empty(p) && wr_uplink_connected(p->uplink) && plat_time_mono_ms() < deadline) {
        handle_notices(p);
        now = wr_pipeline__now();
        wr_forward_pump(p->forward, &p->fio, now.mono_ms, now.wall_ms);
        plat_sleep_ms(10);
    }
    handle_notices(p);
    sync_forward_counters(p);
    update_gauges(p);
    export_metrics(p, plat_time_wall_ms());
    if (!outbox_empty(p))
        PLAT_INFO(MOD, "shutting down with results in the outbox; they are sent after restart");
}

int wr_pipeline_run(struct wr_pipeline *p, wr_pipeline_stop_fn should_stop, void *ctx,
                    uint32_t flush_ms)
{
    uint64_t next_tick = 0;
    uint64_t next_checkpoint;
    uint64_t next_metrics = 0;
    int rc;

    if (p == NULL || should_stop == NULL)
        return WR_E_INVAL;
    rc = wr_ingest_start(p->ingest);
    if (rc != WR_OK)
        return rc;
    next_checkpoint = plat_time_mono_ms() + p->cfg->storage.checkpoint_interval_ms;
    while (!should_stop(ctx)) {
        uint64_t mono;

        drain_events(p, 20, TICK_MS);
        mono = plat_time_mono_ms();
        if (mono >= next_tick) {
            struct wr_now now = wr_pipeline__now();

            tick(p, &now);
            next_tick = mono + TICK_MS;
        }
        if (mono >= next_checkpoint) {
            retry_store(p, mono);
            wr_pipeline__checkpoint(p);
            wr_outbox_enforce_budget(p->outbox, wr_forward_held_floor(p->forward));
            next_checkpoint = mono + p->cfg->storage.checkpoint_interval_ms;
        }
        if (mono >= next_metrics) {
            update_gauges(p);
            export_metrics(p, plat_time_wall_ms());
            next_metrics = mono + p->cfg->metrics.interval_ms;
        }
    }
    PLAT_INFO(MOD, "shutting down");
    shutdown_flush(p, flush_ms);
    return WR_OK;
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
    so.max_bytes = p->cfg->storage.max_bytes;
    so.on_full = p->cfg->storage.on_full;
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

static void on_bridge_event(void *ctx, enum plat_bridge_event ev, const char *detail)
{
    static struct plat_log_limiter lim;

    (void)ctx;
    switch (ev) {
    case PLAT_BRIDGE_TLS_UP:
        PLAT_INFO(MOD, "TLS session up: %s", detail != NULL ? detail : "");
        break;
    case PLAT_BRIDGE_TLS_FAILED:
        plat_log_limited(&lim, 10000, PLAT_LOG_ERROR, MOD, "upstream TLS failed: %s",
                         detail != NULL ? detail : "no reason");
        break;
    case PLAT_BRIDGE_FOREIGN_REFUSED:
        PLAT_WARN(MOD, "refused a connection to the TLS bridge from another process: %s",
                  detail != NULL ? detail : "");
        break;
    default:
        break;
    }
}

static int create_uplink(struct wr_pipeline *p)
{
    const struct wr_config *cfg = p->cfg;
    struct wr_uplink_params up;
    struct plat_uri uri;
    char bridge_uri[64];
    int rc;

    rc = plat_uri_parse(cfg->upstream.uri, &uri);
    if (rc != WR_OK) {
        PLAT_ERROR(MOD, "upstream.uri: cannot parse %s", cfg->upstream.uri);
        return rc;
    }
    memset(&up, 0, sizeof(up));
    up.uri = cfg->upstream.uri;
    if (uri.tls) {
        struct plat_bridge_config bc;
        struct plat_tls_config tc;

        memset(&bc, 0, sizeof(bc));
        memset(&tc, 0, sizeof(tc));
        tc.ca_file = cfg->upstream.tls.ca_file;
        tc.cert_file = cfg->upstream.tls.cert_file[0] ? cfg->upstream.tls.cert_file : NULL;
        tc.key_file = cfg->upstream.tls.key_file[0] ? cfg->upstream.tls.key_file : NULL;
        tc.server_name = cfg->upstream.tls.server_name[0] ? cfg->upstream.tls.server_name : NULL;
        bc.host = uri.host;
        bc.port = uri.port;
        bc.tls = tc;
        bc.connect_timeout_ms = 10000;
        bc.on_event = on_bridge_event;
        rc = plat_bridge_start(&bc, &p->bridge);
        if (rc != WR_OK) {
            PLAT_ERROR(MOD, "cannot start the TLS bridge: %s", wr_strerror(rc));
            return rc;
        }
        snprintf(bridge_uri, sizeof(bridge_uri), "tcp://127.0.0.1:%u",
                 (unsigned)plat_bridge_port(p->bridge));
        up.uri = bridge_uri;
        PLAT_INFO(MOD, "upstream %s over TLS (mbedTLS) via in-process bridge", cfg->upstream.uri);
    } else {
        PLAT_WARN(MOD, "upstream %s is plain TCP: results travel unencrypted", cfg->upstream.uri);
    }
    up.client_id = cfg->upstream.client_id;
    up.username = cfg->upstream.username;
    up.password = cfg->upstream.password;
    up.keepalive_s = cfg->upstream.keepalive_s;
    up.qos = cfg->upstream.qos;
    up.max_inflight = cfg->upstream.max_inflight;
    up.reconnect_min_ms = cfg->upstream.reconnect_min_ms;
    up.reconnect_max_ms = cfg->upstream.reconnect_max_ms;
    up.jitter_seed = (uint64_t)plat_time_wall_ms() ^ (uint64_t)plat_time_mono_ms() << 17;
    up.on_ack = on_uplink_ack;
    up.on_connection = on_uplink_connection;
    up.ctx = p;
    return wr_uplink_create(&up, &p->uplink);
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
    p->fio.read = forward_read;
    p->fio.remove = forward_remove;
    p->fio.publish = forward_publish;
    p->fio.ctx = p;
    return wr_forward_create(&fp, &p->forward);
}

static int create_ingest(struct wr_pipeline *p)
{
    const struct wr_config *cfg = p->cfg;
    struct wr_ingest_params ip;

    memset(&ip, 0, sizeof(ip));
    ip.uri = cfg->source.uri;
    ip.client_id = cfg->source.client_id;
    ip.username = cfg->source.username;
    ip.password = cfg->source.password;
    ip.keepalive_s = cfg->source.keepalive_s;
    ip.qos = cfg->source.qos;
    ip.filters = p->filters;
    ip.n_filters = cfg->n_streams;
    ip.on_message = wr_pipeline__on_message;
    ip.on_connection = wr_pipeline__on_source_connection;
    ip.ctx = p;
    return wr_ingest_create(&ip, &p->ingest);
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

int wr_pipeline_create(const struct wr_config *cfg, struct wr_pipeline **out)
{
    struct wr_pipeline *p;
    struct wr_outbox_params op;
    int rc;

    if (cfg == NULL || out == NULL || cfg->n_streams == 0)
        return WR_E_INVAL;
    p = plat_calloc(1, sizeof(*p));
    if (p == NULL)
        return WR_E_NOMEM;
    p->cfg = cfg;
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
        op.metrics = p->metrics;
        rc = wr_outbox_create(&op, &p->outbox);
    }
    if (rc == WR_OK)
        rc = create_forward(p);
    if (rc == WR_OK)
        rc = wr_pipeline__restore_state(p);
    if (rc == WR_OK)
        rc = create_uplink(p);
    if (rc == WR_OK)
        rc = wr_pipeline__create_admission(p);
    if (rc == WR_OK)
        rc = create_ingest(p);
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

struct wr_metrics *wr_pipeline_metrics(struct wr_pipeline *p)
{
    return p != NULL ? p->metrics : NULL;
}

void wr_pipeline_destroy(struct wr_pipeline *p)
{
    if (p == NULL)
        return;
    /* Paho clients first: after this no callback can touch the rest. */
    wr_ingest_destroy(p->ingest, 0);
    wr_uplink_destroy(p->uplink, 1000);
    plat_bridge_stop(p->bridge);
    wr_filter_destroy(p->filter);
    wr_backpressure_destroy(p->backpressure);
    plat_mutex_destroy(p->backpressure_lock);
    wr_forward_destroy(p->forward);
    wr_outbox_destroy(p->outbox);
    wr_store_close(p->store);
    wr_window_destroy(p->window);
    plat_queue_destroy(p->events);
    plat_queue_destroy(p->notices);
    wr_metrics_destroy(p->metrics);
    plat_free(p->metrics_text);
    plat_free(p);
}
