#include "wr_envelope.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "plat_mem.h"
#include "wr_error.h"
#include "wr_json.h"

static void err_add(struct wr_config_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void err_add(struct wr_config_errors *errs, const char *fmt, ...)
{
    va_list ap;

    if (errs == NULL || errs->count >= WR_CFG_MAX_ERRORS)
        return;
    va_start(ap, fmt);
    vsnprintf(errs->msg[errs->count++], WR_CFG_ERROR_LEN, fmt, ap);
    va_end(ap);
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int wr_envelope_base64_decode(const char *in, size_t in_len, uint8_t *out, size_t out_cap,
                              size_t *out_len)
{
    size_t n = 0;

    if (in == NULL || out_len == NULL || (out == NULL && out_cap > 0))
        return WR_E_INVAL;
    if (in_len % 4 != 0)
        return WR_E_PARSE;
    for (size_t i = 0; i < in_len; i += 4) {
        bool last = i + 4 == in_len;
        int v[4];
        size_t pad = 0;
        uint32_t bits;

        for (size_t j = 0; j < 4; j++) {
            if (in[i + j] == '=' && last && j >= 2) {
                v[j] = 0;
                pad++;
                continue;
            }
            if (pad > 0) /* data after padding */
                return WR_E_PARSE;
            v[j] = b64_value(in[i + j]);
            if (v[j] < 0)
                return WR_E_PARSE;
        }
        bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* Bits under the padding must be zero: one text per byte string. */
        if ((pad == 1 && (bits & 0xffu) != 0) || (pad == 2 && (bits & 0xffffu) != 0))
            return WR_E_PARSE;
        if (n + 3 - pad > out_cap)
            return WR_E_TOOBIG;
        out[n++] = (uint8_t)(bits >> 16);
        if (pad < 2)
            out[n++] = (uint8_t)(bits >> 8);
        if (pad < 1)
            out[n++] = (uint8_t)bits;
    }
    *out_len = n;
    return WR_OK;
}

bool wr_envelope_key_id_valid(const char *key_id)
{
    size_t n;

    if (key_id == NULL || key_id[0] == '\0' || key_id[0] == '.')
        return false;
    n = strlen(key_id);
    if (n >= WR_CFG_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = key_id[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

int wr_envelope_version_check(uint64_t last_applied, uint64_t version,
                              struct wr_config_errors *errs)
{
    if (version > last_applied)
        return WR_OK;
    err_add(errs,
            "envelope.version: %llu is not above the last applied version %llu (rollback refused)",
            (unsigned long long)version, (unsigned long long)last_applied);
    return WR_E_RANGE;
}

static const char *const known_members[] = {"format", "agent",  "version",
                                            "key_id", "config", "signature", NULL};

/* A string member, or NULL with an error named by its path. */
static const char *string_member(const cJSON *root, const char *name,
                                 struct wr_config_errors *errs)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, name);

    if (it == NULL) {
        err_add(errs, "envelope.%s: missing", name);
        return NULL;
    }
    if (!cJSON_IsString(it) || it->valuestring == NULL) {
        err_add(errs, "envelope.%s: must be a string", name);
        return NULL;
    }
    return it->valuestring;
}

static void check_members(const cJSON *root, struct wr_config_errors *errs, bool *ok)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, root)
    {
        bool known = false;

        for (size_t i = 0; known_members[i] != NULL; i++)
            known = known || (it->string != NULL && strcmp(it->string, known_members[i]) == 0);
        if (!known) {
            err_add(errs, "envelope.%s: unknown member", it->string != NULL ? it->string : "?");
            *ok = false;
        }
    }
}

static void parse_version(const cJSON *root, struct wr_envelope *env,
                          struct wr_config_errors *errs, bool *ok)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, "version");
    double v;

    if (it == NULL) {
        err_add(errs, "envelope.version: missing");
        *ok = false;
        return;
    }
    v = cJSON_IsNumber(it) ? it->valuedouble : -1.0;
    if (!cJSON_IsNumber(it) || !isfinite(v) || v < 1.0 || v != floor(v) ||
        v > (double)WR_ENVELOPE_VERSION_MAX) {
        err_add(errs, "envelope.version: must be an integer from 1 to 2^53");
        *ok = false;
        return;
    }
    env->version = (uint64_t)v;
}

static void copy_name(const char *value, const char *name, char *dst, size_t dst_len,
                      struct wr_config_errors *errs, bool *ok)
{
    if (value == NULL) {
        *ok = false;
        return;
    }
    if (!wr_envelope_key_id_valid(value)) {
        err_add(errs, "envelope.%s: 1 to %u characters from A-Z a-z 0-9 _ . -, not starting with "
                      "'.'",
                name, (unsigned)(dst_len - 1));
        *ok = false;
        return;
    }
    snprintf(dst, dst_len, "%s", value);
}

static int decode_config(const char *b64, struct wr_envelope *env, struct wr_config_errors *errs)
{
    size_t in_len = strlen(b64);
    size_t cap = in_len / 4 * 3;
    int rc;

    env->config = plat_malloc(cap + 1);
    if (env->config == NULL)
        return WR_E_NOMEM;
    rc = wr_envelope_base64_decode(b64, in_len, (uint8_t *)env->config, cap, &env->config_len);
    if (rc != WR_OK) {
        err_add(errs, "envelope.config: not valid base64 (RFC 4648, padded, no whitespace)");
        return WR_E_INVAL;
    }
    env->config[env->config_len] = '\0';
    if (env->config_len == 0) {
        err_add(errs, "envelope.config: empty");
        return WR_E_INVAL;
    }
    return WR_OK;
}

static int decode_signature(const char *b64, struct wr_envelope *env,
                            struct wr_config_errors *errs)
{
    int rc = wr_envelope_base64_decode(b64, strlen(b64), env->signature, sizeof(env->signature),
                                       &env->signature_len);

    if (rc == WR_E_TOOBIG) {
        err_add(errs, "envelope.signature: longer than a P-256 signature (%u bytes max)",
                (unsigned)WR_ENVELOPE_SIG_MAX);
        return WR_E_INVAL;
    }
    if (rc != WR_OK || env->signature_len == 0) {
        err_add(errs, "envelope.signature: not valid base64 (RFC 4648, padded, no whitespace)");
        return WR_E_INVAL;
    }
    return WR_OK;
}

static int build_signed_bytes(struct wr_envelope *env)
{
    char head[WR_CFG_NAME_MAX + 64];
    int n = snprintf(head, sizeof(head), "%s\n%s\n%llu\n", WR_ENVELOPE_FORMAT, env->agent,
                     (unsigned long long)env->version);

    if (n < 0 || (size_t)n >= sizeof(head))
        return WR_E_INVAL;
    env->signed_len = (size_t)n + env->config_len;
    env->signed_bytes = plat_malloc(env->signed_len + 1);
    if (env->signed_bytes == NULL)
        return WR_E_NOMEM;
    memcpy(env->signed_bytes, head, (size_t)n);
    memcpy(env->signed_bytes + n, env->config, env->config_len);
    env->signed_bytes[env->signed_len] = '\0';
    return WR_OK;
}

static int parse_root(const cJSON *root, struct wr_envelope *env, struct wr_config_errors *errs)
{
    const char *format;
    const char *config;
    const char *signature;
    bool ok = true;
    int rc = WR_OK;

    check_members(root, errs, &ok);
    format = string_member(root, "format", errs);
    if (format == NULL) {
        ok = false;
    } else if (strcmp(format, WR_ENVELOPE_FORMAT) != 0) {
        err_add(errs, "envelope.format: must be \"%s\"", WR_ENVELOPE_FORMAT);
        ok = false;
    }
    copy_name(string_member(root, "agent", errs), "agent", env->agent, sizeof(env->agent), errs,
              &ok);
    parse_version(root, env, errs, &ok);
    copy_name(string_member(root, "key_id", errs), "key_id", env->key_id, sizeof(env->key_id),
              errs, &ok);
    config = string_member(root, "config", errs);
    if (config == NULL)
        ok = false;
    else
        rc = decode_config(config, env, errs);
    if (rc == WR_E_NOMEM)
        return rc;
    ok = ok && rc == WR_OK;
    signature = string_member(root, "signature", errs);
    if (signature == NULL || decode_signature(signature, env, errs) != WR_OK)
        ok = false;
    if (!ok)
        return WR_E_INVAL;
    return build_signed_bytes(env);
}

int wr_envelope_parse(const char *buf, size_t len, size_t max_bytes, struct wr_envelope **out,
                      struct wr_config_errors *errs)
{
    struct wr_envelope *env = NULL;
    cJSON *root = NULL;
    int rc;

    if (errs != NULL)
        memset(errs, 0, sizeof(*errs));
    if (buf == NULL || out == NULL)
        return WR_E_INVAL;
    if (len > max_bytes) {
        err_add(errs, "envelope: %zu bytes, more than fleet.max_envelope_bytes (%zu)", len,
                max_bytes);
        return WR_E_TOOBIG;
    }
    wr_json_begin();
    root = cJSON_ParseWithLength(buf, len);
    if (root == NULL) {
        if (wr_json_out_of_memory())
            return WR_E_NOMEM;
        err_add(errs, "envelope: not valid JSON");
        return WR_E_PARSE;
    }
    if (!cJSON_IsObject(root)) {
        err_add(errs, "envelope: must be a JSON object");
        rc = WR_E_PARSE;
        goto done;
    }
    env = plat_calloc(1, sizeof(*env));
    if (env == NULL) {
        rc = WR_E_NOMEM;
        goto done;
    }
    rc = parse_root(root, env, errs);
done:
    cJSON_Delete(root);
    if (rc != WR_OK) {
        wr_envelope_free(env);
        if (errs != NULL && rc == WR_E_NOMEM)
            errs->count = 0;
        return rc;
    }
    *out = env;
    return WR_OK;
}

void wr_envelope_free(struct wr_envelope *env)
{
    if (env == NULL)
        return;
    plat_free(env->config);
    plat_free(env->signed_bytes);
    plat_free(env);
}
