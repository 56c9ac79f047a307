#ifndef WR_PIPELINE_H
#define WR_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest.h"
#include "metrics.h"
#include "uplink.h"
#include "wr_config.h"

/*
 * The wiring: ingest -> decode -> filter -> queue -> window engine ->
 * outbox -> forwarder -> uplink, plus checkpoints and metrics. Stages do
 * not call each other; this module connects them.
 *
 * Like coreMQTT's MQTT_Init, the pipeline is given its clock, its source and
 * its uplink (struct wr_pipeline_deps), so that its wiring is unit-tested
 * with fakes; main.c passes the real ones (Paho clients, plat_time).
 *
 * Threads: the source's thread (Paho's) runs ingest (decode, filter, queue
 * push) and may wait there for queue room; the uplink reports from its own
 * threads. Everything else runs on the thread that calls wr_pipeline_run
 * (or wr_pipeline_run_once), which never calls into Paho and never waits for
 * the uplink, so it always drains the queue and a waiting source callback
 * always gets its room at the pipeline's pace. The loop sleeps until its next
 * deadline (window close, checkpoint, metrics, batch delay, watchdog ping)
 * or until an event or an uplink report arrives.
 */

struct wr_pipeline;
struct plat_notify;

/** Polled by wr_pipeline_run after every pass; return true to shut down. */
typedef bool (*wr_pipeline_stop_fn)(void *ctx);

/** The clocks the pipeline reads (plat_time.h's in production, a fake in tests). */
struct wr_pipeline_clock {
    uint64_t (*mono_ms)(void);
    int64_t (*wall_ms)(void);
};

struct wr_pipeline_deps {
    struct wr_pipeline_clock clock; /* both NULL: plat_time_mono_ms / plat_time_wall_ms */
    const struct wr_ingest_ops *source_ops;
    struct wr_ingest *source; /* borrowed; stopped by the pipeline's shutdown */
    const struct wr_uplink_ops *uplink_ops;
    struct wr_uplink *uplink;   /* borrowed; stopped by the pipeline's shutdown */
    struct plat_notify *notify; /* borrowed; NULL: no service manager to tell */
};

/**
 * Build every stage from cfg (borrowed; must outlive the pipeline), open
 * and restore the state store. Nothing connects yet. deps is copied; what it
 * points to is borrowed and must outlive the pipeline. Returns WR_OK,
 * WR_E_INVAL, WR_E_NOMEM or a storage error that makes running impossible.
 */
int wr_pipeline_create(const struct wr_config *cfg, const struct wr_pipeline_deps *deps,
                       struct wr_pipeline **out);

/**
 * Start the uplink and the source, and tell the service manager the agent is
 * ready. Returns WR_OK, WR_E_STATE (started twice) or the error of the
 * source or uplink start (then nothing is left running).
 */
int wr_pipeline_start(struct wr_pipeline *p);

/**
 * One pass of the loop: wait up to max_wait_ms (less when a deadline is
 * nearer) for events or uplink reports, fold what came, then do what is due.
 * Returns the time in ms until the next deadline (0: something is due now).
 */
uint32_t wr_pipeline_run_once(struct wr_pipeline *p, uint32_t max_wait_ms);

/**
 * Shut down cleanly: stop the source while still draining the queue, fold
 * what it gave, checkpoint (open windows are not closed early), give the
 * uplink up to flush_ms to take the outbox, stop the uplink. After return no
 * callback of the source or the uplink runs.
 */
void wr_pipeline_shutdown(struct wr_pipeline *p, uint32_t flush_ms);

/**
 * wr_pipeline_start, passes until should_stop returns true, then
 * wr_pipeline_shutdown(flush_ms). Returns WR_OK or the error that ended it.
 */
int wr_pipeline_run(struct wr_pipeline *p, wr_pipeline_stop_fn should_stop, void *ctx,
                    uint32_t flush_ms);

/** Make the current or next pass return at once (e.g. a signal arrived). Thread-safe. */
void wr_pipeline_wake(struct wr_pipeline *p);

/**
 * Test-only: spend delay_us more per event in the window stage, so that tests
 * can offer more load than the agent processes without a huge machine.
 */
void wr_pipeline_set_test_delay_us(struct wr_pipeline *p, uint32_t delay_us);

/**
 * Test-only: while a file exists at path the loop stands still, as a
 * pipeline wedged in a stage would (no draining, no watchdog pings). path is
 * borrowed and must outlive the pipeline; NULL turns it off.
 */
void wr_pipeline_set_test_stall_file(struct wr_pipeline *p, const char *path);

/** The pipeline's metrics (owned by the pipeline). */
struct wr_metrics *wr_pipeline_metrics(struct wr_pipeline *p);

/**
 * After wr_pipeline_run returned, before wr_pipeline_destroy, for a reload:
 * emit now the open windows of every stream s < n with cut[s] (by index in
 * this pipeline's config), as results that hold the events so far, and
 * checkpoint so the store records them emitted. Returns the number of
 * results (>= 0) or WR_E_INVAL. Pipeline thread only.
 */
int wr_pipeline_cut_streams(struct wr_pipeline *p, const bool *cut, size_t n);

/** True while the upstream connection is up. Any thread. */
bool wr_pipeline_upstream_connected(const struct wr_pipeline *p);

/** Free everything; NULL does nothing. */
void wr_pipeline_destroy(struct wr_pipeline *p);

#endif /* WR_PIPELINE_H */
