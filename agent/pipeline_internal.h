#ifndef WR_PIPELINE_INTERNAL_H
#define WR_PIPELINE_INTERNAL_H

/*
 * The pipeline's parts, shared by its three files only:
 *   pipeline.c         construction, the loop, results -> outbox -> forwarder, metrics
 *   pipeline_ingest.c  what runs on Paho's callback thread: routing, decoding,
 *                      backpressure, shedding, filters, the queue
 *   pipeline_state.c   checkpoints to the store and restore at start
 *   pipeline_checkpoint.c  what a checkpoint writes of the windows: a set per period
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "backpressure.h"
#include "decode.h"
#include "filter.h"
#include "forward.h"
#include "ingest.h"
#include "journal.h"
#include "outbox.h"
#include "pipeline.h"
#include "plat_boot.h"
#include "plat_clock.h"
#include "plat_queue.h"
#include "plat_thread.h"
#include "store.h"
#include "uplink.h"
#include "window.h"

/* While backpressure is not normal its state is re-read at least this often. */
#define BACKPRESSURE_CHECK_MS 100u
/* Under load a pass folds events for at most this long before due work runs. */
#define DRAIN_BUDGET_MS 100u
#define EVENTS_PER_MESSAGE 256u
#define EVENTS_PER_POP 256u
#define COALESCE_MS 2u
#define RESULTS_PER_FLUSH 1024u

/* A period (stream, window start) whose windows this pipeline has written to the store. */
struct wr_pipeline_ckpt_period {
    uint16_t stream;
    int64_t start_ms;
    uint64_t added_since_replace; /* records written by adding sets since it was replaced */
};

/* The periods written, sorted by (stream, start) (pipeline_checkpoint.c). */
struct wr_pipeline_ckpt {
    struct wr_pipeline_ckpt_period *periods;
    size_t n;
};

/* The pipeline as the receiver of its source's messages and its uplink's reports. */
struct wr_ingest_sink {
    struct wr_pipeline *p;
};
struct wr_uplink_sink {
    struct wr_pipeline *p;
};

/* Crash safety in the runtime dir (pipeline_crash.c). */
struct wr_pipeline_crash {
    struct wr_journal *journal; /* NULL: no crash protection */
    char boot_id[PLAT_BOOT_ID_LEN];
    uint64_t fingerprint;
    uint64_t consumed_seq; /* journal number of the last event folded */
    uint64_t snapshot_seq;
    uint64_t next_snapshot_mono_ms;
    uint64_t overruns_seen;
    bool restored_from_ram;
};

struct wr_pipeline {
    const struct wr_config *cfg;
    struct wr_metrics *metrics;
    struct wr_pipeline_deps deps;
    struct wr_ingest_handlers source_handlers;
    struct wr_uplink_reports uplink_reports;
    struct wr_ingest_sink ingest_sink;
    struct wr_uplink_sink uplink_sink;
    bool source_running;
    bool uplink_running;
    /* False only once the source is stopped: a callback that still waited for
     * room then would wait for nothing (a hold). Never seen false by design. */
    atomic_bool draining;

    /* ingest side, used on the source's callback thread */
    struct wr_decode_spec specs[WR_CFG_MAX_STREAMS];
    const char *filters[WR_CFG_MAX_STREAMS];
    struct wr_event scratch[EVENTS_PER_MESSAGE];
    struct wr_filter *filter;
    struct wr_backpressure *backpressure;
    /* The state machine is single-threaded; ingest updates it per message and
     * the pipeline thread per tick, so that it settles when messages stop. */
    struct plat_mutex *backpressure_lock;

    struct plat_queue *events;
    struct plat_queue *notices;

    /* pipeline thread */
    struct wr_window *window;
    struct wr_store *store;
    struct wr_outbox *outbox;
    struct wr_forward *forward;
    struct wr_forward_io fio;
    struct wr_forward_stats forward_seen;
    struct plat_clock clock;
    struct wr_event popped[EVENTS_PER_POP];
    size_t n_results; /* appended to the outbox, not yet told to the forwarder */
    char results_topic[WR_CFG_STR_MAX];
    char status_topic[WR_CFG_STR_MAX];
    char *metrics_text;
    const char *stream_names[WR_CFG_MAX_STREAMS];
    unsigned stream_aggs[WR_CFG_MAX_STREAMS];
    uint64_t next_store_retry_mono_ms;
    /* The store's own written-bytes estimate last added to the wear metric
     * (used only where the kernel's I/O accounting cannot be read). */
    uint64_t store_written_seen;
    /* The loop's deadlines (monotonic ms). */
    uint64_t next_checkpoint_mono_ms; /* while checkpoint_waiting: the end of its grace */
    bool checkpoint_waiting;          /* due, waiting for results on their way upstream */
    uint64_t next_metrics_mono_ms;
    uint64_t next_ping_mono_ms;
    uint64_t next_bp_check_mono_ms;
    char notify_status[128];
    uint32_t test_delay_us;      /* test-only: extra processing time per event */
    const char *test_stall_file; /* test-only: the loop stands still while it exists */
    struct wr_pipeline_crash crash;
    struct wr_pipeline_ckpt ckpt;
};

/** Both clocks (the injected ones), read once. */
struct wr_now wr_pipeline__now(const struct wr_pipeline *p);

/** The injected monotonic clock. */
uint64_t wr_pipeline__mono_ms(const struct wr_pipeline *p);

/* pipeline.c */
/** Close what the watermark has passed and move the results into the outbox. */
void wr_pipeline__emit_due(struct wr_pipeline *p, const struct wr_now *now);

/** Fold popped events into the windows and count them as consumed (pipeline thread). */
void wr_pipeline__fold(struct wr_pipeline *p, const struct wr_event *evs, size_t n,
                       const struct wr_now *now);

/* pipeline_ingest.c */
/** wr_ingest_message_fn: route, decode, admit and queue one message (the source's thread). */
bool wr_pipeline__on_message(struct wr_ingest_sink *sink, const char *topic, size_t topic_len,
                             const void *payload, size_t payload_len);
/** wr_ingest_connection_fn. */
void wr_pipeline__on_source_connection(struct wr_ingest_sink *sink, bool up);
/** Re-read the queue depth into the backpressure state machine (any thread). */
enum wr_bp_state wr_pipeline__update_backpressure(struct wr_pipeline *p);
/** Create the filters and the backpressure state machine from the config. */
int wr_pipeline__create_admission(struct wr_pipeline *p);

/* pipeline_state.c */
/** Write the changed windows, stream clocks and retention deletes in one transaction. */
void wr_pipeline__checkpoint(struct wr_pipeline *p);
/** Restore windows and stream clocks from the store; log what and how long. */
int wr_pipeline__restore_state(struct wr_pipeline *p);

/* pipeline_crash.c */
/**
 * Open the crash journal and, when the RAM snapshot and journal are this
 * boot's and intact, restore the windows from them and replay. Returns true
 * when the window state came from RAM (the SQLite windows are then not loaded).
 */
bool wr_pipeline__crash_restore(struct wr_pipeline *p);
/** Write a window snapshot now (emits what is due first). */
void wr_pipeline__crash_snapshot(struct wr_pipeline *p);
/**
 * Clean shutdown, everything folded: when the final checkpoint succeeded
 * and no result waits only in memory, the RAM state is removed (SQLite is
 * complete); otherwise a last snapshot keeps it for a restart in this boot.
 */
void wr_pipeline__crash_shutdown(struct wr_pipeline *p, bool checkpointed);
/** A snapshot is due: by time or by journal fill. */
bool wr_pipeline__crash_snapshot_due(struct wr_pipeline *p, uint64_t now_mono_ms);
/** When the next snapshot is due by time (UINT64_MAX without a journal). */
uint64_t wr_pipeline__crash_next_due(const struct wr_pipeline *p);
/** Journal p->scratch[0..n), just queued (the source's thread). */
void wr_pipeline__journal_append(struct wr_pipeline *p, size_t n);
/** Unmap the journal (its file stays). */
void wr_pipeline__crash_close(struct wr_pipeline *p);

/*
 * Inside an open store checkpoint: write the window sets (pipeline_checkpoint.c)
 * and mark the windows clean. all_fields keeps every aggregate field (the
 * last checkpoint before a reload, which may change the aggregates) and
 * replaces every period. *next receives the tracked periods to keep if the
 * checkpoint commits: pass it to wr_pipeline__ckpt_commit either way.
 */
int wr_pipeline__write_windows(struct wr_pipeline *p, bool all_fields,
                               struct wr_pipeline_ckpt *next);
void wr_pipeline__ckpt_commit(struct wr_pipeline *p, struct wr_pipeline_ckpt *next, bool committed);
void wr_pipeline__ckpt_free(struct wr_pipeline *p);

/** A checkpoint that keeps every aggregate field of every window: before a reload or stop. */
void wr_pipeline__checkpoint_all_fields(struct wr_pipeline *p);

#endif /* WR_PIPELINE_INTERNAL_H */
