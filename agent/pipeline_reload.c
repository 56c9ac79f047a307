/*
 * What a reload needs from a pipeline that has stopped (wr_pipeline_run
 * returned): cut short the open windows of streams the new config removes
 * or redefines, and tell whether the upstream link came up after a start.
 * The reload itself, building a new pipeline from the new config with the
 * state carried over through the store, is main.c's loop (see
 * config/SCHEMA.md, "Reload").
 */
#include "pipeline_internal.h"

#include "plat_log.h"
#include "plat_time.h"
#include "wr_error.h"

#define MOD "reload"

static void on_cut_result(void *ctx, const struct wr_result *r)
{
    struct wr_pipeline *p = ctx;

    wr_outbox_append(p->outbox, r, 1);
    wr_forward_notify_appended(p->forward, 1, plat_time_mono_ms());
    wr_metrics_add(p->metrics, WR_C_RESULTS_EMITTED, 1);
    wr_metrics_add(p->metrics, WR_C_RESULTS_CUT_SHORT, 1);
}

int wr_pipeline_cut_streams(struct wr_pipeline *p, const bool *cut, size_t n)
{
    int total = 0;

    if (p == NULL || cut == NULL || n > p->cfg->n_streams)
        return WR_E_INVAL;
    for (size_t s = 0; s < n; s++) {
        int emitted;

        if (!cut[s])
            continue;
        emitted = wr_window_cut_stream(p->window, (uint16_t)s, on_cut_result, p);
        if (emitted < 0)
            return emitted;
        if (emitted > 0)
            PLAT_INFO(MOD, "stream %s: %d open window(s) emitted early (cut short by the reload)",
                      p->cfg->streams[s].name, emitted);
        total += emitted;
    }
    /* The outbox has them already; this records the windows as emitted. */
    if (total > 0)
        wr_pipeline__checkpoint(p);
    return total;
}

bool wr_pipeline_upstream_connected(const struct wr_pipeline *p)
{
    return p != NULL && p->deps.uplink_ops->connected(p->deps.uplink);
}
