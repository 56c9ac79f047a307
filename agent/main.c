/*
 * windrow: edge pre-aggregation agent. Command line, config loading and the
 * signal loop; the work happens in pipeline.c.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "links.h"
#include "pipeline.h"
#include "plat_log.h"
#include "plat_mem.h"
#include "plat_notify.h"
#include "plat_signal.h"
#include "plat_thread.h"
#include "wr_config.h"
#include "wr_error.h"

#define SHUTDOWN_FLUSH_MS 5000u
/* The signal thread's wait is cut into slices this long (a bound, not a tick). */
#define SIGNAL_WAIT_MS 60000u

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

/*
 * Signals are taken by a thread of their own, which sleeps in sigtimedwait:
 * the pipeline loop sleeps until its next deadline and is woken for a
 * SIGTERM instead of polling for it.
 */
struct runner {
    struct wr_pipeline *pipeline;
    struct plat_notify *notify;
    atomic_bool stop;
    atomic_bool quit;
};

static void watch_signals(void *arg)
{
    struct runner *r = arg;

    while (!atomic_load(&r->quit)) {
        int which = PLAT_SIGNAL_NONE;

        if (plat_signal_wait(SIGNAL_WAIT_MS, &which) != WR_OK)
            return;
        if (which == PLAT_SIGNAL_HUP)
            PLAT_WARN("main",
                      "SIGHUP: live reload is not implemented yet; restart to apply a config");
        if (which == PLAT_SIGNAL_TERM && !atomic_load(&r->quit) &&
            !atomic_exchange(&r->stop, true)) {
            plat_notify_stopping(r->notify);
            wr_pipeline_wake(r->pipeline);
        }
    }
}

static bool stop_requested(void *ctx)
{
    struct runner *r = ctx;

    return atomic_load(&r->stop);
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

static int run_pipeline(const struct wr_config *cfg, struct plat_notify *notify)
{
    struct wr_links links;
    struct wr_pipeline_deps deps;
    struct runner r;
    struct plat_thread *watcher = NULL;
    int rc;

    memset(&deps, 0, sizeof(deps));
    memset(&r, 0, sizeof(r));
    atomic_init(&r.stop, false);
    atomic_init(&r.quit, false);
    rc = wr_links_open(cfg, &links);
    if (rc != WR_OK)
        return rc;
    deps.source_ops = &wr_ingest_paho_ops;
    deps.source = links.source;
    deps.uplink_ops = &wr_uplink_paho_ops;
    deps.uplink = links.uplink;
    deps.notify = notify;
    rc = wr_pipeline_create(cfg, &deps, &r.pipeline);
    if (rc == WR_OK) {
        apply_test_settings(r.pipeline);
        r.notify = notify;
        rc = plat_thread_start(&watcher, watch_signals, &r, "wr-signals");
    }
    if (rc == WR_OK) {
        PLAT_INFO("main", "windrow %s running as %s with %zu stream(s)", WINDROW_VERSION,
                  cfg->agent.id, cfg->n_streams);
        rc = wr_pipeline_run(r.pipeline, stop_requested, &r, SHUTDOWN_FLUSH_MS);
        atomic_store(&r.quit, true);
        plat_signal_raise_term(); /* ends the watcher's wait now */
        plat_thread_join(watcher);
    }
    wr_pipeline_destroy(r.pipeline);
    wr_links_close(&links);
    return rc;
}

static int run(const char *path)
{
    struct wr_config *cfg = NULL;
    struct plat_notify *notify = NULL;
    int level;
    int rc;

    if (load(path, &cfg) != WR_OK)
        return 1;
    level = plat_log_level_parse(cfg->agent.log_level);
    plat_log_set_level(level >= 0 ? (enum plat_log_level)level : PLAT_LOG_INFO);
    /* Before any thread exists, so that Paho's threads inherit the blocked mask. */
    rc = plat_signal_install();
    if (rc == WR_OK)
        rc = plat_notify_open(&notify);
    if (rc == WR_OK)
        rc = run_pipeline(cfg, notify);
    if (rc != WR_OK)
        PLAT_ERROR("main", "cannot run: %s", wr_strerror(rc));
    plat_notify_close(notify);
    wr_config_free(cfg);
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
