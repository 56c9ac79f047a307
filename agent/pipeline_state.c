/*
 * The pipeline's durable state: checkpoints of changed windows and stream
 * clocks into the store, and their restore at start.
 */
#include "pipeline_internal.h"

#include "plat_io.h"
#include <string.h>

#include "plat_log.h"
#include "plat_time.h"
#include "wr_error.h"

#define MOD "pipeline"

/*
 * The bytes written so far, to bracket one checkpoint: the kernel's count
 * when it can be read (nothing else writes files during a checkpoint), else
 * the store's own estimate.
 */
static uint64_t written_so_far(const struct wr_pipeline *p)
{
    struct plat_io_counters io;
    struct wr_store_stats ss;

    if (plat_io_self(&io) == WR_OK)
        return io.write_bytes;
    wr_store_get_stats(p->store, &ss);
    return ss.written_bytes_estimate;
}

/* What this checkpoint wrote, physical and logical, into the metrics. */
static void count_checkpoint_bytes(struct wr_pipeline *p, uint64_t written_before,
                                   uint64_t logical_before)
{
    uint64_t written_after = written_so_far(p);
    struct wr_store_stats ss;

    wr_store_get_stats(p->store, &ss);
    if (written_after > written_before)
        wr_metrics_add(p->metrics, WR_C_CHECKPOINT_WRITTEN_BYTES, written_after - written_before);
    if (ss.checkpoint_logical_bytes > logical_before)
        wr_metrics_add(p->metrics, WR_C_CHECKPOINT_LOGICAL_BYTES,
                       ss.checkpoint_logical_bytes - logical_before);
}

static void checkpoint(struct wr_pipeline *p, bool all_fields)
{
    uint64_t start = plat_time_mono_ms();
    struct wr_store_stats before;
    struct wr_pipeline_ckpt next;
    uint64_t written_before;
    struct wr_now now;
    int rc;

    if (p->store == NULL)
        return;
    written_before = written_so_far(p);
    wr_store_get_stats(p->store, &before);
    /* Emit what is due first: a revision pending in the engine is not part of
     * a window's checkpointed state, so it must reach the outbox before. */
    now = wr_pipeline__now(p);
    wr_pipeline__emit_due(p, &now);
    memset(&next, 0, sizeof(next));
    rc = wr_store_checkpoint_begin(p->store);
    if (rc == WR_OK)
        rc = wr_pipeline__write_windows(p, all_fields, &next);
    for (uint16_t s = 0; rc == WR_OK && s < p->cfg->n_streams; s++) {
        int64_t clock_ms = INT64_MIN;
        int64_t floor_ms = INT64_MIN;

        wr_window_stream_clock(p->window, s, &clock_ms);
        wr_window_retention_floor(p->window, s, &now, &floor_ms);
        if (clock_ms != INT64_MIN)
            rc = wr_store_put_stream_clock(p->store, s, clock_ms);
        if (rc == WR_OK && floor_ms != INT64_MIN)
            rc = wr_store_delete_windows_before(p->store, s, floor_ms);
        if (rc == WR_OK)
            rc = wr_store_set_sealed_before(p->store, s, floor_ms);
    }
    /* Write-behind: what upstream has not acknowledged yet goes in this
     * transaction, so no window is recorded as closed, or deleted by the
     * retention floor, while its result exists only in memory. */
    if (rc == WR_OK)
        rc = wr_outbox_checkpoint_write(p->outbox);
    if (rc == WR_OK)
        rc = wr_store_checkpoint_commit(p->store);
    wr_outbox_checkpoint_end(p->outbox, rc == WR_OK);
    wr_pipeline__ckpt_commit(p, &next, rc == WR_OK);
    if (rc != WR_OK) {
        static struct plat_log_limiter lim;

        wr_store_checkpoint_rollback(p->store);
        /* The walk marked windows clean; they must be written next time. */
        wr_window_mark_all_dirty(p->window);
        wr_metrics_add(p->metrics, WR_C_STORE_WRITE_FAILURES, 1);
        plat_log_limited(&lim, 30000, PLAT_LOG_ERROR, MOD,
                         "checkpoint failed: %s; window state stays in memory", wr_strerror(rc));
        return;
    }
    count_checkpoint_bytes(p, written_before, before.checkpoint_logical_bytes);
    wr_metrics_add(p->metrics, WR_C_CHECKPOINTS, 1);
    wr_metrics_set(p->metrics, WR_G_CHECKPOINT_DURATION_MS, plat_time_mono_ms() - start);
}

void wr_pipeline__checkpoint(struct wr_pipeline *p)
{
    checkpoint(p, false);
}

void wr_pipeline__checkpoint_all_fields(struct wr_pipeline *p)
{
    checkpoint(p, true);
}

static int restore_window(void *ctx, const struct wr_window_state *st)
{
    struct wr_pipeline *p = ctx;
    int rc = wr_window_restore(p->window, st);

    if (rc != WR_OK)
        PLAT_WARN(MOD, "cannot restore a window of stream %u: %s", st->stream, wr_strerror(rc));
    return WR_OK; /* one window that no longer fits must not stop the others */
}

static int restore_clock(void *ctx, uint16_t stream, int64_t max_event_ms)
{
    struct wr_pipeline *p = ctx;
    struct wr_now now = wr_pipeline__now(p);

    return wr_window_set_stream_clock(p->window, stream, max_event_ms, &now);
}

int wr_pipeline__restore_state(struct wr_pipeline *p)
{
    uint64_t start = plat_time_mono_ms();
    struct wr_window_stats ws;
    uint64_t rows = 0;
    uint64_t bytes = 0;
    size_t skipped = 0;
    int rc;

    /* The RAM snapshot and journal, when this boot's and intact, are newer than SQLite. */
    if (wr_pipeline__crash_restore(p)) {
        wr_window_mark_all_dirty(p->window);
    } else if (p->store != NULL) {
        rc = wr_store_load_windows(p->store, restore_window, p, &skipped);
        if (rc == WR_OK)
            rc = wr_store_load_stream_clocks(p->store, restore_clock, p);
        if (rc != WR_OK) {
            PLAT_ERROR(MOD, "cannot restore window state: %s", wr_strerror(rc));
            return rc;
        }
    }
    /* The state just restored is what a crash from now on starts from. */
    wr_pipeline__crash_snapshot(p);
    wr_window_get_stats(p->window, &ws);
    wr_outbox_stats(p->outbox, &rows, &bytes);
    wr_forward_notify_backlog(p->forward, rows);
    wr_metrics_set(p->metrics, WR_G_RESTORE_TIME_MS, plat_time_mono_ms() - start);
    PLAT_INFO(MOD,
              "restored %zu open and %zu revisable windows (%zu skipped: stream gone) and %llu "
              "outbox results in %llu ms",
              ws.windows_open, ws.windows_retained, skipped, (unsigned long long)rows,
              (unsigned long long)(plat_time_mono_ms() - start));
    return WR_OK;
}

