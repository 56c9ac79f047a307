/*
 * windrow: edge pre-aggregation agent. Command line, config loading and the
 * signal loop; the work happens in pipeline.c.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_push.h"
#include "links.h"
#include "pipeline.h"
#include "plat_inotify.h"
#include "plat_log.h"
#include "plat_mem.h"
#include "plat_notify.h"
#include "plat_sig.h"
#include "plat_signal.h"
#include "plat_thread.h"
#include "plat_time.h"
#include "reload.h"
#include "wr_config.h"
#include "wr_config_diff.h"
#include "wr_error.h"

#define SHUTDOWN_FLUSH_MS 5000u
/* The signal thread's wait is cut into slices this long (a bound, not a tick). */
#define SIGNAL_WAIT_MS 60000u
/* While a reload is being confirmed, the pipeline loop is woken this often to check. */
#define CONFIRM_SLICE_MS 100u

static void usage(FILE *out)
{
    fprintf(out, "usage: windrow -c FILE          run with the config in FILE\n"
                 "       windrow --check-config FILE   validate FILE, exit 0 if valid\n"
                 "       windrow --print-config FILE   print the effective config with defaults\n"
                 "       windrow --version\n");
}

static int load(const char *path, struct wr_config **cfg)
{
    struct wr_config_errors errs;
    int rc;

    memset(&errs, 0, sizeof(errs));
    rc = wr_config_load_file(path, cfg, &errs);
    if (rc != WR_OK) {
        fprintf(stderr, "windrow: %s: invalid config (%zu problem%s):\n", path, errs.count,
                errs.count == 1 ? "" : "s");
        for (size_t i = 0; i < errs.count && i < WR_CFG_MAX_ERRORS; i++)
            fprintf(stderr, "  %s\n", errs.msg[i]);
    }
    return rc;
}

static int check_config(const char *path)
{
    struct wr_config *cfg = NULL;

    if (load(path, &cfg) != WR_OK)
        return 1;
    printf("%s: valid (%zu stream%s)\n", path, cfg->n_streams, cfg->n_streams == 1 ? "" : "s");
    wr_config_free(cfg);
    return 0;
}

static int print_config(const char *path)
{
    struct wr_config *cfg = NULL;
    char *text;

    if (load(path, &cfg) != WR_OK)
        return 1;
    text = wr_config_to_json(cfg);
    wr_config_free(cfg);
    if (text == NULL) {
        fprintf(stderr, "windrow: out of memory\n");
        return 1;
    }
    printf("%s\n", text);
    plat_free(text);
    return 0;
}

/* Why the pipeline loop was asked to stop. */
enum run_end { END_NONE = 0, END_STOP, END_RELOAD, END_ROLLBACK };

struct runner;

/* What a fleet push arriving on Paho's thread wakes: the runner's loop. */
struct wr_fleet_waker {
    struct runner *r;
};

/*
 * One agent run across reloads. Signals and the config file watch are taken
 * by a thread of their own (the watcher), which sleeps in poll on the
 * signalfd and the inotify descriptor until a signal, a file event or the
 * end of a debounce: the pipeline loop sleeps until its next deadline and is
 * woken for a SIGTERM, a SIGHUP or a file change instead of polling for them. Everything else
 * here belongs to the main thread, which runs the pipeline loop.
 */
struct runner {
    struct plat_mutex *lock; /* guards pipeline against the watcher's wake */
    struct wr_pipeline *pipeline;
    struct wr_links links;
    struct plat_notify *notify;
    atomic_bool stop;
    atomic_bool quit;
    atomic_bool hup;
    atomic_bool file_changed;
    atomic_bool confirming;
    const char *path;
    bool watch;
    uint32_t debounce_ms;
    /* main thread only */
    struct wr_reload *reload;
    struct wr_config *cfg;      /* running */
    struct wr_config *prev_cfg; /* the last good one, while a change is being confirmed */
    struct wr_config *next;     /* validated, to apply */
    struct wr_config_diff diff;
    char hash[PLAT_SIG_SHA256_HEX_LEN];
    char prev_hash[PLAT_SIG_SHA256_HEX_LEN];
    char next_hash[PLAT_SIG_SHA256_HEX_LEN];
    uint64_t confirm_deadline_ms;
    enum run_end end;
    struct wr_fleet_push *push; /* pushes over upstream (docs/fleet.md) */
    struct wr_fleet_waker waker;
};

static void wake(struct runner *r)
{
    plat_mutex_lock(r->lock);
    if (r->pipeline != NULL)
        wr_pipeline_wake(r->pipeline);
    plat_mutex_unlock(r->lock);
}

/*
 * How long the watcher may sleep: until a pending file change ends its
 * debounce, at most CONFIRM_SLICE_MS while a reload is being confirmed,
 * otherwise SIGNAL_WAIT_MS. Signals and file events end the wait earlier.
 */
static uint32_t watch_slice_ms(const struct plat_inotify *watch, bool confirming)
{
    uint64_t slice = confirming ? CONFIRM_SLICE_MS : SIGNAL_WAIT_MS;
    uint64_t due = plat_inotify_due_ms(watch);

    if (due != UINT64_MAX) {
        uint64_t now = plat_time_mono_ms();

        if (due <= now)
            return 0;
        if (due - now < slice)
            slice = due - now;
    }
    return (uint32_t)slice;
}

static void fleet_wake(struct wr_fleet_waker *w)
{
    wake(w->r);
}

/* The running config's identity in the metrics and the status message. */
static void show_config(struct runner *r)
{
    wr_metrics_set_config(wr_pipeline_metrics(r->pipeline),
                          wr_fleet_push_version_of(r->push, r->hash), r->hash);
}

/* A pushed config's outcome, once known (fleet_push.h). */
static void finish_push(struct runner *r, enum wr_fleet_result result, const char *why)
{
    if (!wr_fleet_push_pending(r->push))
        return;
    wr_fleet_push_finish(r->push, result, why);
    show_config(r);
}

static void watch_signals(void *arg)
{
    struct runner *r = arg;
    struct plat_inotify *watch = NULL;

    /* watch_config and reload_debounce_ms are read once, at start. */
    if (r->watch && plat_inotify_create(r->path, r->debounce_ms, &watch) != WR_OK)
        PLAT_WARN("main", "cannot watch %s for changes; reload with SIGHUP instead", r->path);
    while (!atomic_load(&r->quit)) {
        int which = PLAT_SIGNAL_NONE;
        bool changed = false;
        uint32_t slice = watch_slice_ms(watch, atomic_load(&r->confirming));

        /* Whatever ended the wait, the watch is read below (it never blocks). */
        if (plat_signal_wait_fd(slice, plat_inotify_fd(watch), &which, NULL) != WR_OK)
            break;
        if (which == PLAT_SIGNAL_HUP) {
            atomic_store(&r->hup, true);
            wake(r);
        }
        if (which == PLAT_SIGNAL_TERM && !atomic_load(&r->quit) &&
            !atomic_exchange(&r->stop, true)) {
            plat_notify_stopping(r->notify);
            wake(r);
        }
        if (watch != NULL && plat_inotify_poll(watch, plat_time_mono_ms(), &changed) != WR_OK) {
            /* The directory was replaced or removed: watch it again, and look. */
            plat_inotify_destroy(watch);
            watch = NULL;
            plat_inotify_create(r->path, r->debounce_ms, &watch);
            changed = true;
        }
        if (changed) {
            atomic_store(&r->file_changed, true);
            wake(r);
        }
        if (atomic_load(&r->confirming))
            wake(r);
    }
    plat_inotify_destroy(watch);
}

/* A changed upstream link must come up within fleet.confirm_timeout_ms. */
static bool confirm_links(struct runner *r)
{
    if (!atomic_load(&r->confirming) || r->prev_cfg == NULL)
        return false;
    if (wr_pipeline_upstream_connected(r->pipeline)) {
        atomic_store(&r->confirming, false);
        PLAT_INFO("main", "reload confirmed: the new upstream link is up");
        finish_push(r, WR_FLEET_APPLIED, NULL);
        return false;
    }
    if (plat_time_mono_ms() < r->confirm_deadline_ms)
        return false;
    PLAT_ERROR("main",
               "the new upstream link did not come up within %u ms: rolling back to the previous "
               "config",
               r->cfg->fleet.confirm_timeout_ms);
    r->end = END_ROLLBACK;
    return true;
}

/*
 * A push fleet.c accepts becomes the next config, as a changed file would.
 * One change at a time: a push waits while another is being confirmed.
 */
static bool take_push(struct runner *r)
{
    enum wr_fleet_result res;

    if (atomic_load(&r->confirming))
        return false;
    res = wr_fleet_push_poll(r->push, r->cfg, r->hash, &r->next, &r->diff, r->next_hash);
    if (res == WR_FLEET_REFUSED)
        wr_metrics_reload(wr_pipeline_metrics(r->pipeline), WR_RELOAD_REFUSED);
    if (res == WR_FLEET_APPLIED)
        show_config(r);
    if (res != WR_FLEET_ACCEPTED)
        return false;
    r->end = END_RELOAD;
    return true;
}

static bool stop_requested(void *ctx)
{
    struct runner *r = ctx;
    struct wr_config_errors errs;
    enum wr_reload_outcome out;

    if (atomic_load(&r->stop)) {
        r->end = END_STOP;
        return true;
    }
    if (atomic_exchange(&r->hup, false)) {
        PLAT_INFO("main", "SIGHUP: reloading %s", r->path);
        wr_reload_request(r->reload);
    }
    if (atomic_exchange(&r->file_changed, false))
        wr_reload_file_changed(r->reload);
    if (confirm_links(r))
        return true;
    if (take_push(r))
        return true;
    /* File changes wait while a pushed config is confirmed (at most fleet.confirm_timeout_ms). */
    if (wr_fleet_push_pending(r->push))
        return false;
    out = wr_reload_poll(r->reload, &r->next, &r->diff, &errs, r->next_hash);
    if (out == WR_RELOAD_INVALID)
        wr_metrics_reload(wr_pipeline_metrics(r->pipeline), WR_RELOAD_REFUSED);
    if (out != WR_RELOAD_APPLY)
        return false;
    /* A change is applied only on top of a confirmed one. */
    if (atomic_exchange(&r->confirming, false)) {
        wr_config_free(r->prev_cfg);
        r->prev_cfg = NULL;
    }
    r->end = END_RELOAD;
    return true;
}

static void apply_test_settings(struct wr_pipeline *p)
{
    /* Test-only knobs (see pipeline.h); never set in production. */
    if (getenv("WINDROW_TEST_EVENT_DELAY_US") != NULL) {
        uint32_t us = (uint32_t)strtoul(getenv("WINDROW_TEST_EVENT_DELAY_US"), NULL, 10);

        PLAT_WARN("main", "test setting: %u us of extra work per event", us);
        wr_pipeline_set_test_delay_us(p, us);
    }
    if (getenv("WINDROW_TEST_STALL_FILE") != NULL) {
        PLAT_WARN("main", "test setting: the loop stalls while %s exists",
                  getenv("WINDROW_TEST_STALL_FILE"));
        wr_pipeline_set_test_stall_file(p, getenv("WINDROW_TEST_STALL_FILE"));
    }
}

/*
 * Streams whose open windows a reload emits at once: removed ones, and those
 * whose window size changed (their new windows have other boundaries). Every
 * other stream keeps its windows: the new pipeline restores them by name.
 */
static size_t mark_cuts(const struct wr_config *old_cfg, const struct wr_config *new_cfg,
                        const struct wr_config_diff *d, bool *cut)
{
    size_t n = 0;

    for (size_t s = 0; s < old_cfg->n_streams; s++)
        cut[s] = d->removed[s];
    for (size_t i = 0; i < new_cfg->n_streams; i++) {
        int oi = d->old_index[i];

        if (oi >= 0 && old_cfg->streams[oi].window_size_s != new_cfg->streams[i].window_size_s)
            cut[oi] = true;
    }
    for (size_t s = 0; s < old_cfg->n_streams; s++)
        n += cut[s] ? 1u : 0u;
    return n;
}

static void log_changes(const struct wr_config_diff *d)
{
    for (size_t i = 0; i < d->n_paths; i++)
        PLAT_INFO("main", "  changed: %s", d->paths[i]);
    if (d->paths_dropped > 0)
        PLAT_INFO("main", "  and %zu more changes", d->paths_dropped);
}

/* Free the pipeline that ran (it has shut down cleanly), keeping its counters in totals. */
static void retire(struct runner *r, struct wr_metrics *totals)
{
    struct wr_pipeline *p = r->pipeline;

    if (totals != NULL)
        wr_metrics_absorb(totals, wr_pipeline_metrics(p));
    wr_fleet_push_attach(r->push, r->cfg, NULL, NULL); /* its uplink goes now */
    plat_mutex_lock(r->lock);
    r->pipeline = NULL;
    plat_mutex_unlock(r->lock);
    wr_pipeline_destroy(p);
    wr_links_close(&r->links);
    memset(&r->links, 0, sizeof(r->links));
}

/* Build links and pipeline for r->cfg; on success the pipeline takes totals' counters. */
static int start(struct runner *r, struct wr_metrics *totals)
{
    struct wr_pipeline_deps deps;
    struct wr_pipeline *p = NULL;
    int rc;

    memset(&deps, 0, sizeof(deps));
    rc = wr_links_open(r->cfg, wr_fleet_push_inbound(r->push), &r->links);
    if (rc != WR_OK)
        return rc;
    deps.source_ops = &wr_ingest_paho_ops;
    deps.source = r->links.source;
    deps.uplink_ops = &wr_uplink_paho_ops;
    deps.uplink = r->links.uplink;
    deps.notify = r->notify;
    rc = wr_pipeline_create(r->cfg, &deps, &p);
    if (rc != WR_OK) {
        wr_links_close(&r->links);
        memset(&r->links, 0, sizeof(r->links));
        return rc;
    }
    apply_test_settings(p);
    wr_metrics_absorb(wr_pipeline_metrics(p), totals);
    plat_mutex_lock(r->lock);
    r->pipeline = p;
    plat_mutex_unlock(r->lock);
    show_config(r);
    wr_fleet_push_attach(r->push, r->cfg, &wr_uplink_paho_ops, r->links.uplink);
    return WR_OK;
}

static void take_prev(struct runner *r)
{
    wr_config_free(r->cfg);
    r->cfg = r->prev_cfg;
    r->prev_cfg = NULL;
    snprintf(r->hash, sizeof(r->hash), "%s", r->prev_hash);
    atomic_store(&r->confirming, false);
}

/*
 * Take the stopped pipeline down and bring one up with the new config (or,
 * for a rollback, the previous one). If the new one cannot even be built,
 * the previous config comes back at once.
 */
static int switch_config(struct runner *r)
{
    struct wr_metrics *totals = NULL;
    enum wr_reload_result result = WR_RELOAD_APPLIED;
    bool cut[WR_CFG_MAX_STREAMS];
    char why[WR_CFG_ERROR_LEN];
    int rc = wr_metrics_create(&totals);

    if (rc != WR_OK)
        return rc;
    why[0] = '\0';
    if (r->end == END_ROLLBACK) {
        snprintf(why, sizeof(why),
                 "upstream: the new link did not come up within %u ms; the previous config runs "
                 "again",
                 r->cfg->fleet.confirm_timeout_ms);
        retire(r, totals);
        /* The reload module still points at the failed config until told otherwise. */
        wr_reload_set_running(r->reload, r->prev_cfg, NULL);
        take_prev(r);
        result = WR_RELOAD_ROLLED_BACK;
    } else {
        PLAT_INFO("main", "applying the new config from %s:", r->path);
        log_changes(&r->diff);
        if (mark_cuts(r->cfg, r->next, &r->diff, cut) > 0)
            wr_pipeline_cut_streams(r->pipeline, cut, r->cfg->n_streams);
        retire(r, totals);
        wr_config_free(r->prev_cfg);
        r->prev_cfg = r->cfg;
        snprintf(r->prev_hash, sizeof(r->prev_hash), "%s", r->hash);
        r->cfg = r->next;
        r->next = NULL;
        snprintf(r->hash, sizeof(r->hash), "%s", r->next_hash);
        wr_reload_set_running(r->reload, r->cfg, NULL);
        if (r->diff.upstream_link_changed) {
            r->confirm_deadline_ms = plat_time_mono_ms() + r->cfg->fleet.confirm_timeout_ms;
            atomic_store(&r->confirming, true);
        } else {
            wr_config_free(r->prev_cfg);
            r->prev_cfg = NULL;
        }
    }
    wr_metrics_reload(totals, result);
    rc = start(r, totals);
    if (rc != WR_OK && result == WR_RELOAD_APPLIED && r->prev_cfg != NULL) {
        PLAT_ERROR("main", "cannot run the new config (%s): rolling back", wr_strerror(rc));
        snprintf(why, sizeof(why), "cannot run the new config: %s; the previous config runs again",
                 wr_strerror(rc));
        wr_reload_set_running(r->reload, r->prev_cfg, NULL);
        take_prev(r);
        wr_metrics_reload(totals, WR_RELOAD_ROLLED_BACK);
        result = WR_RELOAD_ROLLED_BACK;
        rc = start(r, totals);
    }
    wr_metrics_destroy(totals);
    if (rc == WR_OK && result == WR_RELOAD_ROLLED_BACK)
        finish_push(r, WR_FLEET_ROLLED_BACK, why);
    else if (rc == WR_OK && !atomic_load(&r->confirming))
        finish_push(r, WR_FLEET_APPLIED, NULL);
    return rc;
}

static int run(const char *path)
{
    struct plat_thread *watcher = NULL;
    struct wr_metrics *totals = NULL;
    struct runner r;
    int level;
    int rc;

    memset(&r, 0, sizeof(r));
    atomic_init(&r.stop, false);
    atomic_init(&r.quit, false);
    atomic_init(&r.hup, false);
    atomic_init(&r.file_changed, false);
    atomic_init(&r.confirming, false);
    r.path = path;
    if (load(path, &r.cfg) != WR_OK)
        return 1;
    r.watch = r.cfg->agent.watch_config;
    r.debounce_ms = r.cfg->agent.reload_debounce_ms;
    level = plat_log_level_parse(r.cfg->agent.log_level);
    plat_log_set_level(level >= 0 ? (enum plat_log_level)level : PLAT_LOG_INFO);
    /* Before any thread exists, so that Paho's threads inherit the blocked mask. */
    rc = plat_signal_install();
    if (rc == WR_OK)
        rc = plat_notify_open(&r.notify);
    if (rc == WR_OK)
        rc = plat_mutex_create(&r.lock);
    if (rc == WR_OK)
        rc = wr_reload_file_hash(path, r.hash);
    if (rc == WR_OK)
        rc = wr_reload_create(path, r.cfg, r.hash, &r.reload);
    if (rc == WR_OK) {
        struct wr_fleet_wake wk = {fleet_wake, &r.waker};
        struct wr_fleet_push_params pp = {path, r.reload, &wk};

        r.waker.r = &r;
        rc = wr_fleet_push_create(&pp, r.cfg, &r.push);
    }
    if (rc == WR_OK)
        rc = wr_metrics_create(&totals);
    if (rc == WR_OK)
        rc = start(&r, totals);
    wr_metrics_destroy(totals);
    if (rc == WR_OK)
        rc = plat_thread_start(&watcher, watch_signals, &r, "wr-signals");
    if (rc == WR_OK)
        PLAT_INFO("main", "windrow %s running as %s with %zu stream(s)", WINDROW_VERSION,
                  r.cfg->agent.id, r.cfg->n_streams);
    while (rc == WR_OK) {
        r.end = END_NONE;
        rc = wr_pipeline_run(r.pipeline, stop_requested, &r, SHUTDOWN_FLUSH_MS);
        if (rc != WR_OK || r.end == END_STOP || r.end == END_NONE)
            break;
        rc = switch_config(&r);
        if (rc == WR_OK)
            PLAT_INFO("main", "running with %zu stream(s) after the reload", r.cfg->n_streams);
    }
    if (watcher != NULL) {
        atomic_store(&r.quit, true);
        plat_signal_raise_term(); /* ends the watcher's wait now */
        plat_thread_join(watcher);
    }
    if (rc != WR_OK)
        PLAT_ERROR("main", "cannot run: %s", wr_strerror(rc));
    if (r.pipeline != NULL)
        retire(&r, NULL);
    wr_fleet_push_destroy(r.push);
    wr_reload_destroy(r.reload);
    plat_mutex_destroy(r.lock);
    plat_notify_close(r.notify);
    wr_config_free(r.cfg);
    wr_config_free(r.prev_cfg);
    wr_config_free(r.next);
    if (rc == WR_OK)
        PLAT_INFO("main", "stopped cleanly");
    return rc == WR_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("windrow %s\n", WINDROW_VERSION);
        return 0;
    }
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "-c") == 0)
        return run(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--check-config") == 0)
        return check_config(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--print-config") == 0)
        return print_config(argv[2]);
    usage(stderr);
    return 2;
}
