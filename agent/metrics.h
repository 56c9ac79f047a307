#ifndef WR_METRICS_H
#define WR_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "drop.h"

/*
 * Counters and gauges named windrow_*. Counters are updated from Paho's
 * threads and the pipeline thread alike, so every value is a C11 atomic;
 * rendering reads them without a lock (each value is individually exact).
 * Written as Prometheus text (node_exporter textfile convention) and as a
 * JSON status message for the upstream status topic.
 */

#define WR_COUNTERS(X)                                                                             \
    X(MESSAGES_RECEIVED, "messages_received_total", "MQTT messages received from the local broker") \
    X(EVENTS_RECEIVED, "events_received_total", "events decoded or dropped while decoding")        \
    X(EVENTS_AGGREGATED, "events_aggregated_total", "events folded into a window")                 \
    X(EVENTS_REVISED, "events_revised_total", "late events folded into a revision")                \
    X(EVENTS_HEARTBEAT, "events_heartbeat_total", "events let through by filter.max_silence_ms")   \
    X(RESULTS_EMITTED, "results_emitted_total", "window results (incl. revisions) emitted")        \
    X(RESULTS_ACKED, "results_acked_total", "results acknowledged by the upstream broker")         \
    X(MESSAGES_SENT, "upstream_messages_sent_total", "upstream messages published")               \
    X(MESSAGES_FAILED, "upstream_messages_failed_total", "upstream publishes that failed")        \
    X(OUTBOX_ROLLED_UP, "outbox_rolled_up_total", "outbox results merged into coarser windows")    \
    X(OUTBOX_DROPPED, "outbox_dropped_total", "outbox results dropped by the storage budget")       \
    X(STORE_WRITE_FAILURES, "store_write_failures_total", "failed storage transactions")          \
    X(RESULTS_UNPERSISTED, "results_unpersisted_total", "results kept in memory: storage failed")  \
    X(STORE_CORRUPTIONS, "store_corruptions_total", "corrupt databases moved aside")              \
    X(STORAGE_WRITTEN_BYTES, "storage_written_bytes_total",                                        \
      "bytes this process wrote to storage (/proc/self/io write_bytes)")                           \
    X(OUTBOX_PERSISTED, "outbox_persisted_results_total",                                          \
      "results written to storage: unacknowledged at a checkpoint, or spilled")                    \
    X(CHECKPOINT_WRITTEN_BYTES, "checkpoint_written_bytes_total",                                  \
      "bytes checkpoints wrote to storage (/proc/self/io around each)")                            \
    X(CHECKPOINT_LOGICAL_BYTES, "checkpoint_logical_bytes_total",                                  \
      "bytes of the state rows checkpoints wrote (keys, columns, aggregates)")                     \
    X(CLOCK_JUMPS, "clock_jumps_total", "wall-clock jumps detected")                               \
    X(CHECKPOINTS, "checkpoints_total", "checkpoints written")                                     \
    X(BACKPRESSURE_HOLDS, "backpressure_holds_total", "messages left with Paho: queue full")     \
    X(JOURNAL_REPLAYED, "journal_replayed_events_total", "events replayed from the crash journal") \
    X(JOURNAL_OVERRUNS, "journal_overruns_total", "journal records overwritten while uncovered")  \
    X(CRASH_STATE_IGNORED, "crash_state_ignored_total", "unusable RAM journal/snapshot at start") \
    X(SNAPSHOTS, "snapshots_total", "window snapshots written to the runtime dir")                 \
    X(SNAPSHOT_FAILURES, "snapshot_failures_total", "window snapshots that could not be written") \
    X(RESULTS_CUT_SHORT, "results_cut_short_total", "open windows emitted early by a reload")

#define WR_GAUGES(X)                                                                               \
    X(QUEUE_DEPTH, "queue_depth", "events waiting for the window engine")                          \
    X(BACKPRESSURE_STATE, "backpressure_state", "0 normal, 1 shedding, 2 critical")                \
    X(WINDOWS_OPEN, "windows_open", "windows not yet emitted")                                     \
    X(KEYS, "keys", "distinct (stream, key) pairs tracked")                                        \
    X(OUTBOX_ROWS, "outbox_rows", "results waiting for an upstream acknowledgement")               \
    X(OUTBOX_BYTES, "outbox_bytes", "bytes of results waiting in the outbox")                      \
    X(STORE_BYTES, "store_bytes", "size of the state database")                                    \
    X(UPSTREAM_CONNECTED, "upstream_connected", "1 while connected upstream")                      \
    X(SOURCE_CONNECTED, "source_connected", "1 while subscribed on the local broker")              \
    X(INFLIGHT_MESSAGES, "upstream_inflight_messages", "messages awaiting PUBACK")                 \
    X(PUBLISH_LATENCY_MS, "publish_latency_ms", "last publish-to-PUBACK time")                     \
    X(CHECKPOINT_DURATION_MS, "checkpoint_duration_ms", "last checkpoint transaction time")        \
    X(RESTORE_TIME_MS, "restore_time_ms", "time to restore state at start")                        \
    X(RESTORE_SOURCE, "restore_source", "state restored from: 0 SQLite, 1 RAM snapshot + journal") \
    X(CONFIG_VERSION, "config_version", "fleet version of the running config (0: not pushed)")

enum wr_counter {
#define WR_COUNTER_ENUM(id, name, help) WR_C_##id,
    WR_COUNTERS(WR_COUNTER_ENUM)
#undef WR_COUNTER_ENUM
        WR_COUNTER_COUNT
};

enum wr_gauge {
#define WR_GAUGE_ENUM(id, name, help) WR_G_##id,
    WR_GAUGES(WR_GAUGE_ENUM)
#undef WR_GAUGE_ENUM
        WR_GAUGE_COUNT
};

/* Outcomes of a reload (SIGHUP, file change or fleet push): windrow_config_reloads_total{result}. */
enum wr_reload_result {
    WR_RELOAD_APPLIED = 0,
    WR_RELOAD_REFUSED,
    WR_RELOAD_ROLLED_BACK,
    WR_RELOAD_RESULT_COUNT
};

#define WR_METRICS_HASH_LEN 65 /* SHA-256 in hex and the NUL */

struct wr_metrics;

/** Create zeroed metrics. Returns WR_OK, WR_E_INVAL or WR_E_NOMEM. */
int wr_metrics_create(struct wr_metrics **out);
void wr_metrics_destroy(struct wr_metrics *m);

/** Thread-safe updates. */
void wr_metrics_add(struct wr_metrics *m, enum wr_counter c, uint64_t n);

/**
 * Raise counter c to value if it is lower (a counter read from an absolute
 * source, such as the process's I/O accounting, never goes back). After a
 * reload the new pipeline's counter holds the old total (wr_metrics_absorb)
 * before its first raise, so the total stays the process's. Thread-safe.
 */
void wr_metrics_raise(struct wr_metrics *m, enum wr_counter c, uint64_t value);
void wr_metrics_drop(struct wr_metrics *m, enum wr_drop_reason reason, uint64_t n);
void wr_metrics_set(struct wr_metrics *m, enum wr_gauge g, uint64_t value);

/**
 * Add every counter of src (events, drops, reload outcomes) to dst, so that
 * totals run on across a reload that builds a new pipeline. Gauges are not
 * copied (the new pipeline sets its own). Call while nothing updates src.
 */
void wr_metrics_absorb(struct wr_metrics *dst, const struct wr_metrics *src);

/** Count one reload outcome. Thread-safe. */
void wr_metrics_reload(struct wr_metrics *m, enum wr_reload_result result);
uint64_t wr_metrics_reloads(const struct wr_metrics *m, enum wr_reload_result result);

/**
 * The running config's identity: its fleet version (also the config_version
 * gauge) and the SHA-256 (hex) of its file's bytes, shown as
 * windrow_config_info{hash="..."} 1 and in the status message. Call and
 * render from one thread (the pipeline's): the hash is not atomic.
 */
void wr_metrics_set_config(struct wr_metrics *m, uint64_t version, const char *hash_hex);

uint64_t wr_metrics_counter(const struct wr_metrics *m, enum wr_counter c);
uint64_t wr_metrics_dropped(const struct wr_metrics *m, enum wr_drop_reason reason);
uint64_t wr_metrics_dropped_total(const struct wr_metrics *m);
uint64_t wr_metrics_gauge(const struct wr_metrics *m, enum wr_gauge g);

/**
 * Render Prometheus text exposition into buf. Returns WR_OK with *len set,
 * or WR_E_TOOBIG if cap is too small.
 */
int wr_metrics_render_prometheus(const struct wr_metrics *m, char *buf, size_t cap, size_t *len);

/** Render {"v":1,"agent":..,"ts":..,"metrics":{name:value,...}}. Same returns. */
int wr_metrics_render_json(const struct wr_metrics *m, const char *agent_id, int64_t now_wall_ms,
                           char *buf, size_t cap, size_t *len);

#endif /* WR_METRICS_H */
