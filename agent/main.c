/*
 * windrow: edge pre-aggregation agent. Command line, config loading and the
 * signal loop; the work happens in pipeline.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "plat_file.h"
#include "plat_log.h"
#include "plat_mem.h"
#include "plat_notify.h"
#include "plat_signal.h"
#include "plat_time.h"
#include "wr_config.h"
#include "wr_error.h"

#define SHUTDOWN_FLUSH_MS 5000u

static const char *stall_file; /* WINDROW_TEST_STALL_FILE, test-only */

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

static bool stop_requested(void *ctx)
{
    struct plat_notify *notify = ctx;
    static uint64_t next_ping_mono_ms;
    uint64_t interval_ms = plat_notify_watchdog_interval_ms(notify);
    int which = PLAT_SIGNAL_NONE;

    /* Test-only fault point: while this file exists the loop is stuck here,
     * as a pipeline wedged in a stage would be. Never set in production. */
    while (stall_file != NULL && plat_file_exists(stall_file))
        plat_sleep_ms(50);
    /* The pipeline loop polls this between passes, so a stalled loop stops
     * the pings and systemd's watchdog restarts the agent. */
    if (interval_ms > 0 && plat_time_mono_ms() >= next_ping_mono_ms) {
        plat_notify_watchdog(notify);
        next_ping_mono_ms = plat_time_mono_ms() + interval_ms / 2;
    }
    if (plat_signal_wait(0, &which) != WR_OK)
        return false;
    if (which == PLAT_SIGNAL_HUP)
        PLAT_WARN("main", "SIGHUP: live reload is not implemented yet; restart to apply a config");
    if (which != PLAT_SIGNAL_TERM)
        return false;
    plat_notify_stopping(notify);
    return true;
}

static int run(const char *path)
{
    struct wr_config *cfg = NULL;
    struct wr_pipeline *p = NULL;
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
        rc = wr_pipeline_create(cfg, &p);
    if (rc == WR_OK && getenv("WINDROW_TEST_EVENT_DELAY_US") != NULL) {
        /* Test-only knob (see wr_pipeline_set_test_delay_us); never set in production. */
        uint32_t us = (uint32_t)strtoul(getenv("WINDROW_TEST_EVENT_DELAY_US"), NULL, 10);

        PLAT_WARN("main", "test setting: %u us of extra work per event", us);
        wr_pipeline_set_test_delay_us(p, us);
    }
    if (rc == WR_OK && getenv("WINDROW_TEST_STALL_FILE") != NULL) {
        stall_file = getenv("WINDROW_TEST_STALL_FILE");
        PLAT_WARN("main", "test setting: the loop stalls while %s exists", stall_file);
    }
    if (rc == WR_OK) {
        PLAT_INFO("main", "windrow %s running as %s with %zu stream(s)", WINDROW_VERSION,
                  cfg->agent.id, cfg->n_streams);
        /* State is restored and the store open: systemd may order dependants after us. */
        plat_notify_ready(notify, "running");
        rc = wr_pipeline_run(p, stop_requested, notify, SHUTDOWN_FLUSH_MS);
    }
    if (rc != WR_OK)
        PLAT_ERROR("main", "cannot run: %s", wr_strerror(rc));
    wr_pipeline_destroy(p);
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
