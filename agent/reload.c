#include "reload.h"

#include <stdio.h>
#include <string.h>

#include "plat_file.h"
#include "plat_log.h"
#include "plat_mem.h"
#include "wr_error.h"

#define MOD "reload"
#define CONFIG_MAX_BYTES (1024u * 1024u)

struct wr_reload {
    char path[WR_CFG_STR_MAX * 2];
    const struct wr_config *running;
    bool requested;
    bool changed;
    char seen_hash[PLAT_SIG_SHA256_HEX_LEN];
};

int wr_reload_create(const char *path, const struct wr_config *cfg, const char *running_hash,
                     struct wr_reload **out)
{
    struct wr_reload *r;

    if (path == NULL || cfg == NULL || running_hash == NULL || out == NULL ||
        strlen(path) >= sizeof(r->path))
        return WR_E_INVAL;
    r = plat_calloc(1, sizeof(*r));
    if (r == NULL)
        return WR_E_NOMEM;
    snprintf(r->path, sizeof(r->path), "%s", path);
    snprintf(r->seen_hash, sizeof(r->seen_hash), "%s", running_hash);
    r->running = cfg;
    *out = r;
    return WR_OK;
}

void wr_reload_request(struct wr_reload *r)
{
    if (r != NULL)
        r->requested = true;
}

void wr_reload_file_changed(struct wr_reload *r)
{
    if (r != NULL)
        r->changed = true;
}

int wr_reload_file_hash(const char *path, char hash[PLAT_SIG_SHA256_HEX_LEN])
{
    char *text = NULL;
    size_t len = 0;
    int rc = plat_file_read_all(path, CONFIG_MAX_BYTES, &text, &len);

    if (rc != WR_OK)
        return rc;
    rc = plat_sig_sha256_hex(text, len, hash);
    plat_free(text);
    return rc;
}

static void add_err(struct wr_config_errors *errs, const char *path, const char *why)
{
    if (errs->count < WR_CFG_MAX_ERRORS)
        snprintf(errs->msg[errs->count++], WR_CFG_ERROR_LEN, "%s: %s", path, why);
}

/* Read, hash and validate the file; NONE if its bytes are those already judged. */
static enum wr_reload_outcome judge_file(struct wr_reload *r, bool forced, struct wr_config **next,
                                         struct wr_config_diff *diff,
                                         struct wr_config_errors *errs, char *hash)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    rc = plat_file_read_all(r->path, CONFIG_MAX_BYTES, &text, &len);
    if (rc != WR_OK) {
        /* An editor between unlink and create, or a file being replaced: the
         * next event brings the new one. A SIGHUP deserves an answer. */
        if (!forced)
            return WR_RELOAD_NONE;
        snprintf(errs->msg[0], WR_CFG_ERROR_LEN, "config file: cannot read: %.160s",
                 wr_strerror(rc));
        errs->count = 1;
        return WR_RELOAD_INVALID;
    }
    plat_sig_sha256_hex(text, len, hash);
    if (strcmp(hash, r->seen_hash) == 0) {
        plat_free(text);
        if (forced)
            PLAT_INFO(MOD, "SIGHUP: %s is unchanged; nothing to reload", r->path);
        return WR_RELOAD_NONE;
    }
    snprintf(r->seen_hash, sizeof(r->seen_hash), "%s", hash);
    rc = wr_config_parse(text, len, next, errs);
    plat_free(text);
    if (rc != WR_OK)
        return WR_RELOAD_INVALID;
    wr_config_diff(r->running, *next, diff);
    if (diff->restart_required) {
        if (strcmp(r->running->agent.id, (*next)->agent.id) != 0)
            add_err(errs, "agent.id", "cannot change while running; restart windrow to apply");
        if (strcmp(r->running->agent.state_dir, (*next)->agent.state_dir) != 0)
            add_err(errs, "agent.state_dir", "cannot change while running; restart windrow");
        wr_config_free(*next);
        *next = NULL;
        return WR_RELOAD_INVALID;
    }
    return WR_RELOAD_APPLY;
}

enum wr_reload_outcome wr_reload_poll(struct wr_reload *r,
                                      struct wr_config **next, struct wr_config_diff *diff,
                                      struct wr_config_errors *errs,
                                      char hash[PLAT_SIG_SHA256_HEX_LEN])
{
    bool forced;
    bool changed;
    enum wr_reload_outcome out;

    if (r == NULL || next == NULL || diff == NULL || errs == NULL || hash == NULL)
        return WR_RELOAD_NONE;
    *next = NULL;
    memset(errs, 0, sizeof(*errs));
    forced = r->requested;
    changed = r->changed;
    if (!forced && !changed)
        return WR_RELOAD_NONE;
    r->requested = false;
    r->changed = false;
    out = judge_file(r, forced, next, diff, errs, hash);
    if (out == WR_RELOAD_INVALID) {
        PLAT_ERROR(MOD, "%s: new config refused (%zu problem%s); the running config stays:",
                   r->path, errs->count, errs->count == 1 ? "" : "s");
        for (size_t i = 0; i < errs->count; i++)
            PLAT_ERROR(MOD, "  %s", errs->msg[i]);
    }
    return out;
}

void wr_reload_set_running(struct wr_reload *r, const struct wr_config *cfg,
                           const char *seen_hash)
{
    if (r == NULL || cfg == NULL)
        return;
    r->running = cfg;
    if (seen_hash != NULL)
        snprintf(r->seen_hash, sizeof(r->seen_hash), "%s", seen_hash);
}

void wr_reload_set_seen(struct wr_reload *r, const char *seen_hash)
{
    if (r != NULL && seen_hash != NULL)
        snprintf(r->seen_hash, sizeof(r->seen_hash), "%s", seen_hash);
}

void wr_reload_destroy(struct wr_reload *r)
{
    plat_free(r);
}
