#ifndef WR_PIPELINE_H
#define WR_PIPELINE_H

#include <stdbool.h>

#include "metrics.h"
#include "wr_config.h"

/*
 * The wiring: ingest -> decode -> filter -> queue -> window engine ->
 * outbox -> forwarder -> uplink, plus checkpoints and metrics. Stages do
 * not call each other; this module connects them.
 *
 * Threads: Paho's callback threads run ingest (decode, filter, queue push)
 * and post upstream acknowledgements; everything else runs on the thread
 * that calls wr_pipeline_run.
 */

struct wr_pipeline;

/** Polled by wr_pipeline_run between ticks; return true to shut down. */
typedef bool (*wr_pipeline_stop_fn)(void *ctx);

/**
 * Build every stage from cfg (borrowed; must outlive the pipeline), open
 * and restore the state store. Nothing connects yet. Returns WR_OK,
 * WR_E_INVAL, WR_E_NOMEM or a storage/TLS error that makes running impossible.
 */
int wr_pipeline_create(const struct wr_config *cfg, struct wr_pipeline **out);

/**
 * Connect and run until should_stop returns true, then shut down cleanly:
 * stop ingest, fold queued events into windows, checkpoint (open windows
 * are not closed early), and give the uplink up to flush_ms to take the
 * outbox. Returns WR_OK or the error that ended the run.
 */
int wr_pipeline_run(struct wr_pipeline *p, wr_pipeline_stop_fn should_stop, void *ctx,
                    uint32_t flush_ms);

/**
 * Test-only: spend delay_us more per event in the window stage, so that tests
 * can offer more load than the agent processes without a huge machine.
 */
void wr_pipeline_set_test_delay_us(struct wr_pipeline *p, uint32_t delay_us);

/** The pipeline's metrics (owned by the pipeline). */
struct wr_metrics *wr_pipeline_metrics(struct wr_pipeline *p);

/** Free everything; NULL does nothing. */
void wr_pipeline_destroy(struct wr_pipeline *p);

#endif /* WR_PIPELINE_H */
