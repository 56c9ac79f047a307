#include "fleet.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plat_file.h"
#include "plat_log.h"
#include "plat_mem.h"
#include "wr_error.h"

#define MOD "fleet"
#define RECORD_MAX_BYTES 256u

const char *wr_fleet_result_name(enum wr_fleet_result r)
{
    switch (r) {
    case WR_FLEET_APPLIED:
        return "applied";
    case WR_FLEET_REFUSED:
        return "refused";
    case WR_FLEET_ROLLED_BACK:
        return "rolled_back";
    case WR_FLEET_IGNORED:
        return "ignored";
    case WR_FLEET_ACCEPTED:
        return "accepted";
    }
    return "?";
}

static int record_path(const char *dir, const char *name, char *out, size_t n)
{
    int w = snprintf(out, n, "%s/%s", dir, name);

    return w > 0 && (size_t)w < n ? WR_OK : WR_E_INVAL;
}

static bool is_hex64(const char *s)
{
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[64] == '\0';
}

int wr_fleet_record_load(const char *dir, struct wr_fleet_record *rec)
{
    return wr_fleet_record_load_file(dir, WR_FLEET_RECORD_FILE, rec);
}

int wr_fleet_record_save(const char *dir, const struct wr_fleet_record *rec)
{
    return wr_fleet_record_save_file(dir, WR_FLEET_RECORD_FILE, rec);
}

int wr_fleet_record_load_file(const char *dir, const char *name, struct wr_fleet_record *rec)
{
    char path[WR_CFG_STR_MAX + 32];
    char hash[PLAT_SIG_SHA256_HEX_LEN + 1];
    char *text = NULL;
    size_t len = 0;
    unsigned long long v = 0;
    int rc;

    if (dir == NULL || name == NULL || rec == NULL ||
        record_path(dir, name, path, sizeof(path)) != WR_OK)
        return WR_E_INVAL;
    memset(rec, 0, sizeof(*rec));
    rc = plat_file_read_all(path, RECORD_MAX_BYTES, &text, &len);
    if (rc == WR_E_NOTFOUND)
        return WR_OK;
    if (rc == WR_E_TOOBIG)
        return WR_E_CORRUPT;
    if (rc != WR_OK)
        return rc;
    memset(hash, 0, sizeof(hash));
    if (sscanf(text, "%llu %65s", &v, hash) != 2 || v == 0 || !is_hex64(hash)) {
        PLAT_ERROR(MOD, "%s: not a fleet version record; pushes are refused until it is fixed",
                   path);
        plat_free(text);
        return WR_E_CORRUPT;
    }
    plat_free(text);
    rec->version = v;
    memcpy(rec->hash, hash, sizeof(rec->hash));
    return WR_OK;
}

int wr_fleet_record_save_file(const char *dir, const char *name, const struct wr_fleet_record *rec)
{
    char path[WR_CFG_STR_MAX + 32];
    char text[128];
    int n;

    if (dir == NULL || name == NULL || rec == NULL ||
        record_path(dir, name, path, sizeof(path)) != WR_OK)
        return WR_E_INVAL;
    n = snprintf(text, sizeof(text), "%" PRIu64 " %s\n", rec->version, rec->hash);
    if (n < 0 || (size_t)n >= sizeof(text))
        return WR_E_INVAL;
    return plat_file_write_atomic(path, text, (size_t)n);
}

static void reason(struct wr_fleet_verdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reason(struct wr_fleet_verdict *v, const char *fmt, ...)
{
    va_list ap;

    if (v->reasons.count >= WR_CFG_MAX_ERRORS)
        return;
    va_start(ap, fmt);
    vsnprintf(v->reasons.msg[v->reasons.count++], WR_CFG_ERROR_LEN, fmt, ap);
    va_end(ap);
}

/* The key file for key_id, if it is installed. */
static bool key_installed(const char *keys_dir, const char *key_id, char *path, size_t n)
{
    int w = snprintf(path, n, "%s/%s.pem", keys_dir, key_id);

    return w > 0 && (size_t)w < n && plat_file_exists(path);
}

static int check_envelope(const struct wr_fleet_params *fp, const struct wr_envelope *env,
                          struct wr_fleet_verdict *v)
{
    char key_path[WR_CFG_STR_MAX + WR_CFG_NAME_MAX + 8];
    int rc;

    if (strcmp(env->agent, fp->agent_id) != 0) {
        reason(v, "envelope.agent: \"%s\" is not this agent (\"%s\")", env->agent, fp->agent_id);
        return WR_E_INVAL;
    }
    if (!key_installed(fp->keys_dir, env->key_id, key_path, sizeof(key_path))) {
        reason(v, "envelope.key_id: no trusted key \"%s\" in %s", env->key_id, fp->keys_dir);
        return WR_E_INVAL;
    }
    rc = plat_sig_verify_p256(key_path, env->signed_bytes, env->signed_len, env->signature,
                              env->signature_len);
    if (rc == WR_E_SIGNATURE) {
        reason(v, "envelope.signature: does not verify with key \"%s\"", env->key_id);
        return WR_E_INVAL;
    }
    if (rc != WR_OK) {
        reason(v, "envelope.key_id: key \"%s\" unusable: %s", env->key_id, wr_strerror(rc));
        return WR_E_INVAL;
    }
    /* The same version again (a retained message redelivered) is not news;
     * nor is the one that was rolled back, whose outcome was reported then. */
    if ((env->version == fp->last.version && strcmp(v->hash, fp->last.hash) == 0) ||
        (env->version == fp->rolled_back.version && strcmp(v->hash, fp->rolled_back.hash) == 0)) {
        v->result = WR_FLEET_IGNORED;
        return WR_OK;
    }
    return wr_envelope_version_check(fp->last.version, env->version, &v->reasons);
}

int wr_fleet_judge(const struct wr_fleet_params *fp, const void *payload, size_t len,
                   struct wr_fleet_verdict *out)
{
    struct wr_envelope *env = NULL;
    struct wr_config_errors errs;
    int rc;

    if (fp == NULL || fp->agent_id == NULL || fp->keys_dir == NULL || out == NULL ||
        (payload == NULL && len > 0 && len <= fp->max_envelope_bytes))
        return WR_E_INVAL;
    memset(out, 0, sizeof(*out));
    out->result = WR_FLEET_REFUSED;
    if (len > fp->max_envelope_bytes) {
        /* Refused unread: the same words as the parser's. */
        reason(out, "envelope: %zu bytes, more than fleet.max_envelope_bytes (%zu)", len,
               fp->max_envelope_bytes);
        return WR_OK;
    }
    rc = wr_envelope_parse(payload != NULL ? payload : "", len, fp->max_envelope_bytes, &env,
                           &out->reasons);
    if (rc == WR_E_NOMEM)
        return rc;
    if (rc != WR_OK)
        return WR_OK;
    out->version = env->version;
    rc = plat_sig_sha256_hex(env->config, env->config_len, out->hash);
    if (rc == WR_OK && check_envelope(fp, env, out) != WR_OK)
        goto done;
    if (rc != WR_OK || out->result == WR_FLEET_IGNORED)
        goto done;
    memset(&errs, 0, sizeof(errs));
    rc = wr_config_parse(env->config, env->config_len, &out->cfg, &errs);
    if (rc == WR_E_NOMEM)
        goto done;
    if (rc != WR_OK) {
        out->reasons = errs;
        rc = WR_OK;
        goto done;
    }
    if (strcmp(out->cfg->agent.id, fp->agent_id) != 0) {
        reason(out, "agent.id: a push cannot change the agent's identity (\"%s\" -> \"%s\")",
               fp->agent_id, out->cfg->agent.id);
        wr_config_free(out->cfg);
        out->cfg = NULL;
        goto done;
    }
    /* Hand the exact bytes over: they are what gets written to the config file. */
    out->config_text = env->config;
    out->config_len = env->config_len;
    env->config = NULL;
    out->result = WR_FLEET_ACCEPTED;
done:
    wr_envelope_free(env);
    if (rc == WR_E_NOMEM)
        wr_fleet_verdict_clear(out);
    return rc;
}

void wr_fleet_verdict_clear(struct wr_fleet_verdict *v)
{
    if (v == NULL)
        return;
    wr_config_free(v->cfg);
    plat_free(v->config_text);
    memset(v, 0, sizeof(*v));
}

/* Append s as a JSON string (quotes included). */
static bool put_json_string(char *out, size_t n, size_t *used, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    if (*used + 1 >= n)
        return false;
    out[(*used)++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        char esc[7];
        size_t elen = 0;

        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            elen = 2;
        } else if (*p < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 0xf];
            elen = 6;
        } else {
            esc[0] = (char)*p;
            elen = 1;
        }
        if (*used + elen + 1 >= n)
            return false;
        memcpy(out + *used, esc, elen);
        *used += elen;
    }
    out[(*used)++] = '"';
    out[*used] = '\0';
    return true;
}

static bool put_raw(char *out, size_t n, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool put_raw(char *out, size_t n, size_t *used, const char *fmt, ...)
{
    va_list ap;
    int w;

    va_start(ap, fmt);
    w = vsnprintf(out + *used, n - *used, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= n - *used)
        return false;
    *used += (size_t)w;
    return true;
}

int wr_fleet_render_state(const char *agent_id, enum wr_fleet_result result, uint64_t version,
                          const char *hash, const char *source,
                          const struct wr_config_errors *reasons, int64_t time_ms, char *out,
                          size_t out_len, size_t *written)
{
    size_t used = 0;
    bool ok;

    if (agent_id == NULL || out == NULL || out_len == 0 || written == NULL)
        return WR_E_INVAL;
    out[0] = '\0';
    ok = put_raw(out, out_len, &used, "{\"agent\":") &&
         put_json_string(out, out_len, &used, agent_id) &&
         put_raw(out, out_len, &used, ",\"result\":\"%s\",\"version\":%" PRIu64 ",\"hash\":",
                 wr_fleet_result_name(result), version) &&
         put_json_string(out, out_len, &used, hash != NULL ? hash : "") &&
         put_raw(out, out_len, &used, ",\"source\":") &&
         put_json_string(out, out_len, &used, source != NULL ? source : "") &&
         put_raw(out, out_len, &used, ",\"time_ms\":%" PRId64 ",\"reasons\":[", time_ms);
    for (size_t i = 0; ok && reasons != NULL && i < reasons->count; i++)
        ok = (i == 0 || put_raw(out, out_len, &used, ",")) &&
             put_json_string(out, out_len, &used, reasons->msg[i]);
    ok = ok && put_raw(out, out_len, &used, "]}");
    if (!ok)
        return WR_E_TOOBIG;
    *written = used;
    return WR_OK;
}
