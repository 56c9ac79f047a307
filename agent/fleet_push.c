#include "fleet_push.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "plat_file.h"
#include "plat_log.h"
#include "plat_mem.h"
#include "plat_time.h"
#include "wr_error.h"

#define MOD "fleet"
/* The config file is read back at most this large (as reload.c reads it). */
#define CONFIG_MAX_BYTES (1024u * 1024u)
/* A report with every reason escaped at its worst (\u00XX for each byte) still fits. */
#define REPORT_MAX (WR_CFG_MAX_ERRORS * WR_CFG_ERROR_LEN * 6u + 1024u)

struct wr_fleet_push {
    char path[WR_CFG_STR_MAX * 2];
    char state_dir[WR_CFG_STR_MAX];
    char agent_id[WR_CFG_NAME_MAX];
    struct wr_reload *reload;
    struct wr_fleet_inbox *inbox;

    struct wr_fleet_record applied;     /* anti-rollback: the last push applied */
    struct wr_fleet_record rolled_back; /* the last push rolled back */
    int record_rc;                      /* WR_OK, or why the record could not be read */

    /* Where reports go now. */
    const struct wr_uplink_ops *ops;
    struct wr_uplink *up;
    char state_topic[WR_CFG_STR_MAX];
    char *report; /* the latest, REPORT_MAX bytes */
    size_t report_len;
    bool report_unsent; /* no uplink has it acknowledged: give it to the next one */

    /* The accepted push being applied, and what the file held before it. */
    bool pending;
    struct wr_fleet_record pushed;
    char *prev_text;
    size_t prev_len;
    bool prev_exists;
    char prev_hash[PLAT_SIG_SHA256_HEX_LEN];
};

static void add_reason(struct wr_config_errors *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_reason(struct wr_config_errors *e, const char *fmt, ...)
{
    va_list ap;

    if (e->count >= WR_CFG_MAX_ERRORS)
        return;
    va_start(ap, fmt);
    vsnprintf(e->msg[e->count++], WR_CFG_ERROR_LEN, fmt, ap);
    va_end(ap);
}

int wr_fleet_push_create(const struct wr_fleet_push_params *pp, const struct wr_config *running,
                         struct wr_fleet_push **out)
{
    struct wr_fleet_push *fp;
    int rc;

    if (pp == NULL || pp->config_path == NULL || pp->reload == NULL || running == NULL ||
        out == NULL || strlen(pp->config_path) >= sizeof(fp->path))
        return WR_E_INVAL;
    fp = plat_calloc(1, sizeof(*fp));
    if (fp == NULL)
        return WR_E_NOMEM;
    snprintf(fp->path, sizeof(fp->path), "%s", pp->config_path);
    snprintf(fp->state_dir, sizeof(fp->state_dir), "%s", running->agent.state_dir);
    snprintf(fp->agent_id, sizeof(fp->agent_id), "%s", running->agent.id);
    fp->reload = pp->reload;
    fp->report = plat_malloc(REPORT_MAX);
    rc = fp->report != NULL ? WR_OK : WR_E_NOMEM;
    if (rc == WR_OK)
        rc = wr_fleet_inbox_create(running->fleet.max_envelope_bytes, pp->wake, &fp->inbox);
    if (rc != WR_OK) {
        wr_fleet_push_destroy(fp);
        return rc;
    }
    fp->record_rc = wr_fleet_record_load(fp->state_dir, &fp->applied);
    if (fp->record_rc != WR_OK)
        PLAT_ERROR(MOD, "cannot read %s/%s (%s): every push is refused until it is fixed",
                   fp->state_dir, WR_FLEET_RECORD_FILE, wr_strerror(fp->record_rc));
    /* Only a memory of what not to try again: unreadable means none. */
    if (wr_fleet_record_load_file(fp->state_dir, WR_FLEET_ROLLED_BACK_FILE, &fp->rolled_back) !=
        WR_OK)
        memset(&fp->rolled_back, 0, sizeof(fp->rolled_back));
    *out = fp;
    return WR_OK;
}

void wr_fleet_push_destroy(struct wr_fleet_push *fp)
{
    if (fp == NULL)
        return;
    wr_fleet_inbox_destroy(fp->inbox);
    plat_free(fp->report);
    plat_free(fp->prev_text);
    plat_free(fp);
}

const struct wr_uplink_inbound *wr_fleet_push_inbound(struct wr_fleet_push *fp)
{
    return fp != NULL ? wr_fleet_inbox_inbound(fp->inbox) : NULL;
}

uint64_t wr_fleet_push_version_of(const struct wr_fleet_push *fp, const char *hash)
{
    if (fp == NULL || hash == NULL || fp->applied.version == 0 ||
        strcmp(fp->applied.hash, hash) != 0)
        return 0;
    return fp->applied.version;
}

static void publish_report(struct wr_fleet_push *fp)
{
    int rc;

    if (fp->report_len == 0 || fp->state_topic[0] == '\0')
        return;
    if (fp->ops == NULL || fp->up == NULL) {
        fp->report_unsent = true;
        return;
    }
    rc = fp->ops->publish_report(fp->up, fp->state_topic, fp->report, fp->report_len);
    fp->report_unsent = rc != WR_OK;
    if (rc != WR_OK)
        PLAT_WARN(MOD, "outcome report not queued for %s: %s", fp->state_topic, wr_strerror(rc));
}

void wr_fleet_push_attach(struct wr_fleet_push *fp, const struct wr_config *running,
                          const struct wr_uplink_ops *ops, struct wr_uplink *up)
{
    if (fp == NULL || running == NULL)
        return;
    /* The uplink going away (stopped: it had its last chance) may not have got it through. */
    if (fp->ops != NULL && fp->up != NULL && fp->ops->report_pending != NULL &&
        fp->ops->report_pending(fp->up))
        fp->report_unsent = true;
    fp->ops = ops != NULL && ops->publish_report != NULL ? ops : NULL;
    fp->up = up;
    if (wr_config_expand_topic(running->fleet.state_topic, fp->agent_id, fp->state_topic,
                               sizeof(fp->state_topic)) != WR_OK)
        fp->state_topic[0] = '\0';
    wr_fleet_inbox_set_limit(fp->inbox, running->fleet.max_envelope_bytes);
    if (fp->report_unsent && fp->ops != NULL)
        publish_report(fp);
}

static void report(struct wr_fleet_push *fp, enum wr_fleet_result result, uint64_t version,
                   const char *hash, const struct wr_config_errors *reasons)
{
    size_t len = 0;
    int rc = wr_fleet_render_state(fp->agent_id, result, version, hash, "push", reasons,
                                   plat_time_wall_ms(), fp->report, REPORT_MAX, &len);

    if (rc != WR_OK) {
        PLAT_ERROR(MOD, "cannot render the outcome report: %s", wr_strerror(rc));
        return;
    }
    fp->report_len = len;
    publish_report(fp);
}

static enum wr_fleet_result refuse(struct wr_fleet_push *fp, const struct wr_fleet_verdict *v)
{
    PLAT_ERROR(MOD, "push (version %" PRIu64 ") refused (%zu problem%s); the running config stays:",
               v->version, v->reasons.count, v->reasons.count == 1 ? "" : "s");
    for (size_t i = 0; i < v->reasons.count; i++)
        PLAT_ERROR(MOD, "  %s", v->reasons.msg[i]);
    report(fp, WR_FLEET_REFUSED, v->version, v->hash, &v->reasons);
    return WR_FLEET_REFUSED;
}

/* Save the anti-rollback record; a failure is said in the report, not hidden. */
static void record_applied(struct wr_fleet_push *fp, uint64_t version, const char *hash,
                           struct wr_config_errors *notes)
{
    int rc;

    fp->applied.version = version;
    snprintf(fp->applied.hash, sizeof(fp->applied.hash), "%s", hash);
    rc = wr_fleet_record_save(fp->state_dir, &fp->applied);
    if (rc != WR_OK) {
        PLAT_ERROR(MOD, "cannot save %s/%s: %s; a restart may accept older versions", fp->state_dir,
                   WR_FLEET_RECORD_FILE, wr_strerror(rc));
        add_reason(notes, "agent.state_dir: cannot save the version record: %s", wr_strerror(rc));
    }
}

/* Keep what the file holds now, to put it back if the push is rolled back. */
static int keep_previous(struct wr_fleet_push *fp)
{
    int rc;

    plat_free(fp->prev_text);
    fp->prev_text = NULL;
    fp->prev_len = 0;
    rc = plat_file_read_all(fp->path, CONFIG_MAX_BYTES, &fp->prev_text, &fp->prev_len);
    fp->prev_exists = rc == WR_OK;
    if (rc == WR_E_NOTFOUND)
        rc = WR_OK;
    if (rc == WR_OK)
        rc = plat_sig_sha256_hex(fp->prev_exists ? fp->prev_text : "", fp->prev_len, fp->prev_hash);
    return rc;
}

static enum wr_fleet_result accept(struct wr_fleet_push *fp, const struct wr_config *running,
                                   const char *running_hash, struct wr_fleet_verdict *v,
                                   struct wr_config **next, struct wr_config_diff *diff,
                                   char *next_hash)
{
    struct wr_config_errors notes;
    int rc;

    memset(&notes, 0, sizeof(notes));
    if (strcmp(v->hash, running_hash) == 0) {
        /* The bytes that run already, under a new version: nothing to reload. */
        record_applied(fp, v->version, v->hash, &notes);
        PLAT_INFO(MOD, "pushed config version %" PRIu64 " is the running config; recorded",
                  v->version);
        report(fp, WR_FLEET_APPLIED, v->version, v->hash, &notes);
        return WR_FLEET_APPLIED;
    }
    wr_config_diff(running, v->cfg, diff);
    if (diff->restart_required) {
        if (strcmp(running->agent.state_dir, v->cfg->agent.state_dir) != 0)
            add_reason(&v->reasons, "agent.state_dir: cannot change while running; restart "
                                    "windrow to apply it");
        if (v->reasons.count == 0)
            add_reason(&v->reasons, "agent: cannot change while running");
        return refuse(fp, v);
    }
    rc = keep_previous(fp);
    if (rc != WR_OK) {
        add_reason(&v->reasons, "config file: cannot read %.160s: %s", fp->path, wr_strerror(rc));
        return refuse(fp, v);
    }
    /* Our own write is not news to the file watch: the reload of it is this one. */
    wr_reload_set_seen(fp->reload, v->hash);
    rc = plat_file_replace(fp->path, v->config_text, v->config_len);
    if (rc != WR_OK) {
        wr_reload_set_seen(fp->reload, fp->prev_hash);
        add_reason(&v->reasons, "config file: cannot write %.160s: %s", fp->path, wr_strerror(rc));
        return refuse(fp, v);
    }
    fp->pending = true;
    fp->pushed.version = v->version;
    snprintf(fp->pushed.hash, sizeof(fp->pushed.hash), "%s", v->hash);
    memcpy(next_hash, v->hash, PLAT_SIG_SHA256_HEX_LEN);
    *next = v->cfg;
    v->cfg = NULL;
    PLAT_INFO(MOD, "applying pushed config version %" PRIu64 " (written to %s)", v->version,
              fp->path);
    return WR_FLEET_ACCEPTED;
}

enum wr_fleet_result wr_fleet_push_poll(struct wr_fleet_push *fp, const struct wr_config *running,
                                        const char *running_hash, struct wr_config **next,
                                        struct wr_config_diff *diff,
                                        char next_hash[PLAT_SIG_SHA256_HEX_LEN])
{
    struct wr_fleet_inbox_item item;
    struct wr_fleet_params params;
    struct wr_fleet_verdict v;
    enum wr_fleet_result result;
    int rc;

    if (fp == NULL || running == NULL || running_hash == NULL || next == NULL || diff == NULL ||
        next_hash == NULL || fp->pending || !wr_fleet_inbox_take(fp->inbox, &item))
        return WR_FLEET_IGNORED;
    *next = NULL;
    if (item.superseded > 0)
        PLAT_INFO(MOD, "%" PRIu64 " push(es) replaced by a newer one before being judged",
                  item.superseded);
    if (!running->fleet.enabled) {
        wr_fleet_inbox_item_clear(&item);
        return WR_FLEET_IGNORED;
    }
    memset(&params, 0, sizeof(params));
    params.agent_id = fp->agent_id;
    params.keys_dir = running->fleet.keys_dir;
    params.max_envelope_bytes = running->fleet.max_envelope_bytes;
    params.last = fp->applied;
    params.rolled_back = fp->rolled_back;
    rc = wr_fleet_judge(&params, item.payload, item.len, &v);
    wr_fleet_inbox_item_clear(&item);
    if (rc != WR_OK) {
        PLAT_ERROR(MOD, "cannot judge a push: %s", wr_strerror(rc));
        return WR_FLEET_IGNORED;
    }
    if (v.result == WR_FLEET_ACCEPTED && fp->record_rc != WR_OK)
        add_reason(&v.reasons,
                   "agent.state_dir: %s/%s unreadable (%s): pushes are refused until "
                   "it is fixed or removed",
                   fp->state_dir, WR_FLEET_RECORD_FILE, wr_strerror(fp->record_rc));
    if (v.result == WR_FLEET_IGNORED)
        PLAT_INFO(MOD, "push version %" PRIu64 " delivered again; already %s, ignored", v.version,
                  v.version == fp->applied.version ? "applied" : "rolled back");
    if (v.result == WR_FLEET_ACCEPTED && v.reasons.count == 0)
        result = accept(fp, running, running_hash, &v, next, diff, next_hash);
    else if (v.result == WR_FLEET_IGNORED)
        result = WR_FLEET_IGNORED;
    else
        result = refuse(fp, &v);
    wr_fleet_verdict_clear(&v);
    return result;
}

bool wr_fleet_push_pending(const struct wr_fleet_push *fp)
{
    return fp != NULL && fp->pending;
}

/* The file gets back what it held before the push (or loses the push if it held nothing). */
static void restore_previous(struct wr_fleet_push *fp)
{
    int rc;

    if (!fp->prev_exists) {
        PLAT_WARN(MOD, "%s held nothing before the push; it keeps the pushed config", fp->path);
        return;
    }
    wr_reload_set_seen(fp->reload, fp->prev_hash);
    rc = plat_file_replace(fp->path, fp->prev_text, fp->prev_len);
    if (rc != WR_OK)
        PLAT_ERROR(MOD,
                   "cannot put the previous config back into %s (%s): a restart would run "
                   "the rolled-back one",
                   fp->path, wr_strerror(rc));
}

void wr_fleet_push_finish(struct wr_fleet_push *fp, enum wr_fleet_result result, const char *why)
{
    struct wr_config_errors notes;
    int rc;

    if (fp == NULL || !fp->pending)
        return;
    memset(&notes, 0, sizeof(notes));
    if (why != NULL)
        add_reason(&notes, "%s", why);
    if (result == WR_FLEET_APPLIED) {
        record_applied(fp, fp->pushed.version, fp->pushed.hash, &notes);
        PLAT_INFO(MOD, "pushed config version %" PRIu64 " applied", fp->pushed.version);
    } else {
        result = WR_FLEET_ROLLED_BACK;
        fp->rolled_back = fp->pushed;
        rc = wr_fleet_record_save_file(fp->state_dir, WR_FLEET_ROLLED_BACK_FILE, &fp->rolled_back);
        if (rc != WR_OK)
            PLAT_WARN(MOD, "cannot save %s/%s (%s): after a restart the push is tried again",
                      fp->state_dir, WR_FLEET_ROLLED_BACK_FILE, wr_strerror(rc));
        restore_previous(fp);
        PLAT_ERROR(MOD, "pushed config version %" PRIu64 " rolled back: %s", fp->pushed.version,
                   why != NULL ? why : "no reason given");
    }
    report(fp, result, fp->pushed.version, fp->pushed.hash, &notes);
    fp->pending = false;
    plat_free(fp->prev_text);
    fp->prev_text = NULL;
    fp->prev_len = 0;
}
