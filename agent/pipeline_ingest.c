/*
 * The ingest side of the pipeline, on the source's (Paho's) callback thread: route a message
 * to its streams, decode it, then admit its events — backpressure state,
 * shedding by priority, filters — and push them to the queue, or leave the
 * message with Paho when Windrow cannot take it now.
 */
#include "pipeline_internal.h"

#include "plat_log.h"
#include "plat_time.h"
#include "topic.h"
#include "wr_error.h"

#define MOD "pipeline"
/*
 * A callback waiting for queue room re-checks, this often, that the pipeline
 * still drains. The wait itself ends when the pipeline pops (it signals
 * every waiter), so this is not a timeout and costs no wake-up while room
 * comes.
 */
#define ROOM_RECHECK_MS 1000u
/* Filter state for a key is forgotten an hour after its last accepted event. */
#define FILTER_HORIZON_MS (3600u * 1000u)

static void count_drops(struct wr_metrics *m, const uint32_t *drops)
{
    for (unsigned r = 0; r < WR_DROP_REASON_COUNT; r++)
        if (drops[r] > 0)
            wr_metrics_drop(m, (enum wr_drop_reason)r, drops[r]);
}

/* Re-read the queue depth into the state machine; a change is logged once. */
enum wr_bp_state wr_pipeline__update_backpressure(struct wr_pipeline *p)
{
    size_t depth = plat_queue_depth(p->events);
    size_t cap = plat_queue_capacity(p->events);
    bool changed = false;
    enum wr_bp_state state;

    plat_mutex_lock(p->backpressure_lock);
    state = wr_backpressure_update(p->backpressure, depth, cap, &changed);
    plat_mutex_unlock(p->backpressure_lock);
    if (changed)
        PLAT_WARN(MOD, "backpressure %s (queue %zu of %zu)", wr_backpressure_state_name(state),
                  depth, cap);
    return state;
}

static bool should_shed(struct wr_pipeline *p, uint16_t stream)
{
    bool shed;

    plat_mutex_lock(p->backpressure_lock);
    shed = wr_backpressure_should_shed(p->backpressure, stream);
    plat_mutex_unlock(p->backpressure_lock);
    return shed;
}

/* Decoded events plus what decoding dropped: the events this message counts as received. */
static uint64_t received_total(const uint32_t *drops, size_t kept, size_t decode_dropped)
{
    uint64_t shed_or_filtered = drops[WR_DROP_SHED] + drops[WR_DROP_FILTER_RANGE] +
                                drops[WR_DROP_FILTER_DEADBAND] + drops[WR_DROP_FILTER_INTERVAL] +
                                drops[WR_DROP_FILTER_DUPLICATE];

    return kept + shed_or_filtered + decode_dropped;
}

/*
 * Backpressure, shedding and filters for the decoded events in p->scratch,
 * then the queue.
 *
 * When the queue has no room (the critical state), this thread waits for the
 * pipeline to make some: while it waits Paho reads nothing more, the TCP
 * window closes and the local broker queues for the persistent session.
 * That is the end-to-end backpressure. The wait is not bounded by a timeout
 * but by the pipeline's pace: the pipeline thread never calls into Paho and
 * never waits for the uplink (pipeline.h), so it keeps popping whatever the
 * uplink does, and each pop wakes this thread. Paho runs this callback under
 * its process-wide mutex, which is exactly why nothing the pipeline thread
 * needs may take that mutex.
 *
 * Returning "not taken" to Paho (a hold, counted) is left only for a
 * pipeline that no longer drains, which its shutdown order rules out: Paho
 * acknowledges a QoS 1 message to the broker as soon as we return, taken or
 * not, and offers a refused message again only when more data arrives on
 * the socket (eclipse-paho/paho.mqtt.c#1345).
 *
 * Returns false when the message stays with Paho: then no filter state has
 * moved and nothing is counted, so the redelivery is judged afresh. On true,
 * *n is the number of events queued and drops[] holds the shed and filtered
 * ones.
 */
static bool admit(struct wr_pipeline *p, uint32_t *drops, size_t *n, uint64_t mono_ms)
{
    enum wr_bp_state state = wr_pipeline__update_backpressure(p);
    size_t kept = 0;
    int rc = WR_OK;

    for (size_t i = 0; i < *n; i++) {
        const struct wr_event *ev = &p->scratch[i];
        enum wr_drop_reason reason = WR_DROP_MALFORMED;

        if (state != WR_BP_NORMAL && should_shed(p, ev->stream)) {
            drops[WR_DROP_SHED]++;
            continue;
        }
        if (!wr_filter_check(p->filter, ev, mono_ms, &reason)) {
            drops[reason]++;
            continue;
        }
        if (kept != i)
            p->scratch[kept] = *ev;
        kept++;
    }
    if (kept > 0) {
        rc = plat_queue_push_wait(p->events, p->scratch, kept, 0);
        while (rc == WR_E_FULL && atomic_load(&p->draining))
            rc = plat_queue_push_wait(p->events, p->scratch, kept, ROOM_RECHECK_MS);
    }
    if (rc != WR_OK) {
        wr_filter_rollback(p->filter);
        wr_metrics_add(p->metrics, WR_C_BACKPRESSURE_HOLDS, 1);
        return false;
    }
    /* Queued: now journaled, before the callback returns and Paho acknowledges the message. */
    if (kept > 0)
        wr_pipeline__journal_append(p, kept);
    wr_filter_commit(p->filter);
    wr_metrics_add(p->metrics, WR_C_EVENTS_HEARTBEAT, wr_filter_take_heartbeats(p->filter));
    *n = kept;
    return true;
}

/* One rate-limited line for bad input, naming the topic and the first reason. */
static void log_drops(const char *topic, size_t topic_len, const uint32_t *drops)
{
    static struct plat_log_limiter lim;

    for (unsigned r = 0; r < WR_DROP_REASON_COUNT; r++) {
        if (drops[r] > 0) {
            plat_log_limited(&lim, 10000, PLAT_LOG_WARN, MOD,
                             "dropped %u event(s) from %.*s: %s (see windrow_events_dropped_total)",
                             drops[r], (int)topic_len, topic,
                             wr_drop_reason_name((enum wr_drop_reason)r));
            return;
        }
    }
}

bool wr_pipeline__on_message(struct wr_ingest_sink *sink, const char *topic, size_t topic_len,
                             const void *payload, size_t payload_len)
{
    static struct plat_log_limiter unknown_lim;
    struct wr_pipeline *p = sink->p;
    uint32_t drops[WR_DROP_REASON_COUNT] = {0};
    const struct wr_decode_spec *matching[WR_DECODE_MAX_SPECS];
    size_t n_matching = 0;
    size_t cap = plat_queue_capacity(p->events);
    size_t n = 0;
    size_t dropped = 0;
    bool matched = false;
    struct wr_now now = wr_pipeline__now(p);
    int64_t wall_ms = now.wall_ms;
    uint64_t mono_ms = now.mono_ms;

    if (cap > EVENTS_PER_MESSAGE)
        cap = EVENTS_PER_MESSAGE;
    /* Every matching stream is decoded from one reading of the payload. */
    for (size_t s = 0; s < p->cfg->n_streams; s++)
        if (wr_topic_match(p->filters[s], topic, topic_len))
            matching[n_matching++] = &p->specs[s];
    matched = n_matching > 0;
    if (matched) {
        struct wr_decode_result res;

        /* Only bad arguments fail, and the specs were checked when they were built. */
        (void)wr_decode_message_multi(matching, n_matching, topic, topic_len, payload,
                                      payload_len, p->scratch, cap, &res);
        n = res.n_events;
        for (unsigned r = 0; r < WR_DROP_REASON_COUNT; r++) {
            drops[r] += res.drops[r];
            dropped += res.drops[r];
        }
    }
    if (!matched) {
        drops[WR_DROP_UNKNOWN_TOPIC]++;
        dropped++;
        plat_log_limited(&unknown_lim, 10000, PLAT_LOG_WARN, MOD,
                         "message on a topic no stream matches: %.*s", (int)topic_len, topic);
    }
    for (size_t i = 0; i < n; i++) {
        p->scratch[i].arrival_mono_ms = mono_ms;
        if (!p->scratch[i].has_time)
            p->scratch[i].time_ms = wall_ms;
    }
    if (!admit(p, drops, &n, mono_ms))
        return false;
    wr_metrics_add(p->metrics, WR_C_MESSAGES_RECEIVED, 1);
    wr_metrics_add(p->metrics, WR_C_EVENTS_RECEIVED, received_total(drops, n, dropped));
    if (dropped > 0 && matched)
        log_drops(topic, topic_len, drops);
    count_drops(p->metrics, drops);
    return true;
}

void wr_pipeline__on_source_connection(struct wr_ingest_sink *sink, bool up)
{
    struct wr_pipeline *p = sink->p;

    wr_metrics_set(p->metrics, WR_G_SOURCE_CONNECTED, up ? 1 : 0);
}

int wr_pipeline__create_admission(struct wr_pipeline *p)
{
    const struct wr_config *cfg = p->cfg;
    struct wr_filter_config fc[WR_CFG_MAX_STREAMS];
    uint8_t priorities[WR_CFG_MAX_STREAMS];
    struct wr_filter_params fp;
    struct wr_backpressure_params bp;
    uint64_t stateful_keys = 0;
    int rc;

    for (size_t s = 0; s < cfg->n_streams; s++) {
        const struct wr_filter_config *f = &cfg->streams[s].filter;

        fc[s] = *f;
        priorities[s] = cfg->streams[s].priority;
        if (f->deadband > 0 || f->min_interval_ms > 0 || f->dedup)
            stateful_keys += cfg->streams[s].max_keys;
    }
    fp.streams = fc;
    fp.n_streams = cfg->n_streams;
    fp.max_keys =
        (uint32_t)(stateful_keys > WR_FILTER_MAX_KEYS ? WR_FILTER_MAX_KEYS : stateful_keys);
    fp.max_batch = EVENTS_PER_MESSAGE;
    fp.horizon_ms = FILTER_HORIZON_MS;
    rc = wr_filter_create(&fp, &p->filter);
    if (rc == WR_OK)
        rc = plat_mutex_create(&p->backpressure_lock);
    if (rc != WR_OK)
        return rc;
    bp.shed_enter_pct = cfg->backpressure.shed_enter_pct;
    bp.shed_leave_pct = cfg->backpressure.shed_leave_pct;
    bp.critical_enter_pct = cfg->backpressure.critical_enter_pct;
    bp.critical_leave_pct = cfg->backpressure.critical_leave_pct;
    bp.shed_mode = cfg->backpressure.shed_mode;
    bp.sample_keep_one_in = cfg->backpressure.sample_keep_one_in;
    bp.priorities = priorities;
    bp.n_streams = cfg->n_streams;
    return wr_backpressure_create(&bp, &p->backpressure);
}
