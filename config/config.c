#include "wr_config.h"
#include "wr_json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config_internal.h"
#include "plat_mem.h"
#include "wr_error.h"

/* A config file is small; anything bigger is a mistake (wrong file) rather than a config. */
#define CFG_FILE_MAX_BYTES (1024u * 1024u)
#define CFG_PATH_LEN 160
#define CFG_WHY_LEN 200
#define CFG_MAX_TABLE_ROWS 64

struct parse_ctx {
    struct wr_config_errors *errs;
    size_t dropped; /* errors beyond WR_CFG_MAX_ERRORS */
};

static void fmt_into(char *out, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fmt_into(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

static void err_add(struct parse_ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void err_add(struct parse_ctx *c, const char *path, const char *fmt, ...)
{
    char why[CFG_WHY_LEN];
    va_list ap;

    if (c->errs->count == WR_CFG_MAX_ERRORS) {
        c->dropped++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    fmt_into(c->errs->msg[c->errs->count++], WR_CFG_ERROR_LEN, "%s: %s", path, why);
}

/* The last slot says how many were left out rather than silently hiding them. */
static void err_finish(struct parse_ctx *c)
{
    if (c->dropped > 0)
        fmt_into(c->errs->msg[WR_CFG_MAX_ERRORS - 1], WR_CFG_ERROR_LEN,
                 "config: %zu more errors not shown", c->dropped + 1);
}

static void path_join(char *out, const char *prefix, const char *name)
{
    if (prefix[0] == '\0')
        fmt_into(out, CFG_PATH_LEN, "%s", name);
    else
        fmt_into(out, CFG_PATH_LEN, "%s.%s", prefix, name);
}

static void *member(void *base, size_t off)
{
    return (char *)base + off;
}

static void names_list(const char *const *names, char *out, size_t n)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; names[i] != NULL && used < n; i++) {
        int w = snprintf(out + used, n - used, "%s%s", i > 0 ? ", " : "", names[i]);

        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static int find_name(const char *const *names, const char *s)
{
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(names[i], s) == 0)
            return i;
    }
    return -1;
}

static void store_integer(void *base, const struct wr_cfg__field *f, double v)
{
    void *p = member(base, f->off);

    switch ((enum wr_cfg__kind)f->kind) {
    case WR_CFG__U8:
        *(uint8_t *)p = (uint8_t)v;
        break;
    case WR_CFG__U32:
        *(uint32_t *)p = (uint32_t)v;
        break;
    case WR_CFG__U64:
        *(uint64_t *)p = (uint64_t)v;
        break;
    case WR_CFG__INT:
        *(int *)p = (int)v;
        break;
    default:
        break;
    }
}

static void apply_defaults(const struct wr_cfg__field *fields, void *base, struct wr_config *cfg)
{
    for (const struct wr_cfg__field *f = fields; f->name != NULL; f++) {
        void *p = member(base, f->off);

        switch ((enum wr_cfg__kind)f->kind) {
        case WR_CFG__STR:
        case WR_CFG__STR_ENUM: {
            const char *d = f->def_str != NULL ? f->def_str : "";

            fmt_into(p, f->size, "%s", d);
            break;
        }
        case WR_CFG__ENUM:
            *(int *)p = (int)f->def;
            break;
        case WR_CFG__U8:
        case WR_CFG__U32:
        case WR_CFG__U64:
        case WR_CFG__INT:
            store_integer(base, f, f->def);
            break;
        case WR_CFG__BOOL:
            *(bool *)p = f->def != 0.0;
            break;
        case WR_CFG__DOUBLE:
            *(double *)p = f->def;
            break;
        case WR_CFG__OPT_DOUBLE:
            *(double *)p = 0.0;
            *(bool *)member(base, f->has_off) = false;
            break;
        case WR_CFG__AGGS:
            *(unsigned *)p = (unsigned)f->def;
            break;
        case WR_CFG__QUANTILES:
            *(size_t *)member(base, f->has_off) = 0;
            break;
        case WR_CFG__OBJECT:
            apply_defaults(f->sub, base, cfg);
            break;
        case WR_CFG__STREAMS:
            for (size_t i = 0; i < WR_CFG_MAX_STREAMS; i++)
                apply_defaults(wr_config__stream_fields, &cfg->streams[i], cfg);
            cfg->n_streams = 0;
            break;
        }
    }
}

void wr_config_defaults(struct wr_config *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof(*cfg));
    apply_defaults(wr_config__top_fields, cfg, cfg);
}

static void parse_object(struct parse_ctx *c, const cJSON *obj, const struct wr_cfg__field *fields,
                         void *base, const char *path, struct wr_config *cfg);

static void parse_string(struct parse_ctx *c, const cJSON *v, const struct wr_cfg__field *f,
                         void *base, const char *path)
{
    const char *s;
    size_t len;

    if (!cJSON_IsString(v) || v->valuestring == NULL) {
        err_add(c, path, "must be a string");
        return;
    }
    s = v->valuestring;
    len = strlen(s);
    if (f->kind == WR_CFG__ENUM || f->kind == WR_CFG__STR_ENUM) {
        int idx = find_name(f->names, s);

        if (idx < 0) {
            char list[CFG_WHY_LEN / 2];

            names_list(f->names, list, sizeof(list));
            err_add(c, path, "must be one of %s", list);
            return;
        }
        if (f->kind == WR_CFG__ENUM)
            *(int *)member(base, f->off) = idx;
        else
            fmt_into(member(base, f->off), f->size, "%s", s);
        return;
    }
    if (len >= f->size) {
        err_add(c, path, "too long (max %zu)", (size_t)f->size - 1);
        return;
    }
    if ((f->flags & WR_CFG__NONEMPTY) != 0 && len == 0) {
        err_add(c, path, "must not be empty");
        return;
    }
    if (f->check_str != NULL) {
        char why[CFG_WHY_LEN];

        if (!f->check_str(s, why, sizeof(why))) {
            err_add(c, path, "%s", why);
            return;
        }
    }
    memcpy(member(base, f->off), s, len + 1);
}

static void parse_integer(struct parse_ctx *c, const cJSON *v, const struct wr_cfg__field *f,
                          void *base, const char *path)
{
    double d;

    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
        floor(v->valuedouble) != v->valuedouble) {
        err_add(c, path, "must be a %s integer", f->min >= 1.0 ? "positive" : "non-negative");
        return;
    }
    d = v->valuedouble;
    if (d < f->min || d > f->max) {
        /* 64-bit fields have no meaningful upper bound to quote unless it was hit. */
        if (f->max < WR_CFG__U64_LIMIT)
            err_add(c, path, "must be between %.0f and %.0f", f->min, f->max);
        else if (d < f->min)
            err_add(c, path, "must be at least %.0f", f->min);
        else
            err_add(c, path, "must be at most %.0f", f->max);
        return;
    }
    if (f->check_num != NULL) {
        char why[CFG_WHY_LEN];

        if (!f->check_num(d, why, sizeof(why))) {
            err_add(c, path, "%s", why);
            return;
        }
    }
    store_integer(base, f, d);
}

static void parse_double(struct parse_ctx *c, const cJSON *v, const struct wr_cfg__field *f,
                         void *base, const char *path)
{
    double d;

    if (!cJSON_IsNumber(v)) {
        err_add(c, path, "must be a number");
        return;
    }
    d = v->valuedouble;
    if (!isfinite(d)) {
        err_add(c, path, "must be a finite number");
        return;
    }
    if (f->kind == WR_CFG__DOUBLE && (d < f->min || d > f->max)) {
        err_add(c, path, "must be a number >= %g", f->min);
        return;
    }
    *(double *)member(base, f->off) = d;
    if (f->kind == WR_CFG__OPT_DOUBLE)
        *(bool *)member(base, f->has_off) = true;
}

static void parse_aggregates(struct parse_ctx *c, const cJSON *v, const struct wr_cfg__field *f,
                             void *base, const char *path)
{
    const cJSON *el;
    unsigned bits = 0;
    size_t i = 0;
    bool ok = true;
    char list[CFG_WHY_LEN / 2];

    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
        err_add(c, path, "must be a non-empty array of aggregate names");
        return;
    }
    names_list(f->names, list, sizeof(list));
    cJSON_ArrayForEach(el, v)
    {
        char epath[CFG_PATH_LEN];
        int k;

        fmt_into(epath, sizeof(epath), "%s[%zu]", path, i++);
        if (!cJSON_IsString(el) || el->valuestring == NULL) {
            err_add(c, epath, "must be a string");
            ok = false;
            continue;
        }
        k = find_name(f->names, el->valuestring);
        if (k < 0) {
            err_add(c, epath, "unknown aggregate '%.40s' (expected one of %s)", el->valuestring,
                    list);
            ok = false;
        } else if ((bits & (1u << k)) != 0) {
            err_add(c, epath, "duplicate aggregate '%s'", el->valuestring);
            ok = false;
        } else {
            bits |= 1u << k;
        }
    }
    if (ok)
        *(unsigned *)member(base, f->off) = bits;
}

/* An increasing list of at most WR_CFG_MAX_QUANTILES numbers in [0, 1]. */
static void parse_quantiles(struct parse_ctx *c, const cJSON *v, const struct wr_cfg__field *f,
                            void *base, const char *path)
{
    double q[WR_CFG_MAX_QUANTILES];
    const cJSON *el;
    size_t n = 0;
    bool ok = true;

    if (!cJSON_IsArray(v)) {
        err_add(c, path, "must be an array of numbers in [0, 1]");
        return;
    }
    if (cJSON_GetArraySize(v) > WR_CFG_MAX_QUANTILES) {
        err_add(c, path, "too many quantiles: %d (max %d)", cJSON_GetArraySize(v),
                WR_CFG_MAX_QUANTILES);
        return;
    }
    cJSON_ArrayForEach(el, v)
    {
        char epath[CFG_PATH_LEN];

        fmt_into(epath, sizeof(epath), "%s[%zu]", path, n);
        if (!cJSON_IsNumber(el) || !(el->valuedouble >= 0.0 && el->valuedouble <= 1.0)) {
            err_add(c, epath, "must be a number in [0, 1]");
            ok = false;
        } else if (n > 0 && ok && !(el->valuedouble > q[n - 1])) {
            err_add(c, epath, "must be greater than the quantile before it (%g)", q[n - 1]);
            ok = false;
        } else {
            q[n] = el->valuedouble;
        }
        n++;
    }
    if (!ok)
        return;
    memcpy(member(base, f->off), q, n * sizeof(q[0]));
    *(size_t *)member(base, f->has_off) = n;
}

static void parse_streams(struct parse_ctx *c, const cJSON *v, struct wr_config *cfg,
                          const char *path)
{
    const cJSON *el;
    size_t i = 0;
    int n;

    if (!cJSON_IsArray(v) || (n = cJSON_GetArraySize(v)) == 0) {
        err_add(c, path, "must be a non-empty array");
        return;
    }
    if ((size_t)n > WR_CFG_MAX_STREAMS) {
        err_add(c, path, "too many streams: %d (max %d)", n, WR_CFG_MAX_STREAMS);
        return;
    }
    cJSON_ArrayForEach(el, v)
    {
        char epath[CFG_PATH_LEN];

        fmt_into(epath, sizeof(epath), "%s[%zu]", path, i);
        parse_object(c, el, wr_config__stream_fields, &cfg->streams[i], epath, cfg);
        i++;
    }
    cfg->n_streams = i;
}

static void parse_value(struct parse_ctx *c, const cJSON *v, const struct wr_cfg__field *f,
                        void *base, const char *path, struct wr_config *cfg)
{
    switch ((enum wr_cfg__kind)f->kind) {
    case WR_CFG__STR:
    case WR_CFG__STR_ENUM:
    case WR_CFG__ENUM:
        parse_string(c, v, f, base, path);
        break;
    case WR_CFG__U8:
    case WR_CFG__U32:
    case WR_CFG__U64:
    case WR_CFG__INT:
        parse_integer(c, v, f, base, path);
        break;
    case WR_CFG__BOOL:
        if (!cJSON_IsBool(v))
            err_add(c, path, "must be a boolean");
        else
            *(bool *)member(base, f->off) = cJSON_IsTrue(v) != 0;
        break;
    case WR_CFG__DOUBLE:
    case WR_CFG__OPT_DOUBLE:
        parse_double(c, v, f, base, path);
        break;
    case WR_CFG__AGGS:
        parse_aggregates(c, v, f, base, path);
        break;
    case WR_CFG__QUANTILES:
        parse_quantiles(c, v, f, base, path);
        break;
    case WR_CFG__OBJECT:
        parse_object(c, v, f->sub, base, path, cfg);
        break;
    case WR_CFG__STREAMS:
        parse_streams(c, v, cfg, path);
        break;
    }
}

/* obj == NULL means the section is absent: only its required fields are reported. */
static void parse_object(struct parse_ctx *c, const cJSON *obj, const struct wr_cfg__field *fields,
                         void *base, const char *path, struct wr_config *cfg)
{
    bool seen[CFG_MAX_TABLE_ROWS] = {false};
    const cJSON *child;
    size_t i;

    if (obj != NULL && !cJSON_IsObject(obj)) {
        err_add(c, path, "must be an object");
        return;
    }
    if (obj != NULL) {
        cJSON_ArrayForEach(child, obj)
        {
            char cpath[CFG_PATH_LEN];
            const char *key = child->string != NULL ? child->string : "";

            path_join(cpath, path, key);
            for (i = 0; fields[i].name != NULL; i++) {
                if (strcmp(fields[i].name, key) == 0)
                    break;
            }
            if (fields[i].name == NULL) {
                err_add(c, cpath, "unknown key");
                continue;
            }
            if (seen[i]) {
                err_add(c, cpath, "duplicate key");
                continue;
            }
            seen[i] = true;
            parse_value(c, child, &fields[i], base, cpath, cfg);
        }
    }
    for (i = 0; fields[i].name != NULL; i++) {
        char cpath[CFG_PATH_LEN];

        if (seen[i])
            continue;
        path_join(cpath, path, fields[i].name);
        if ((fields[i].flags & WR_CFG__REQUIRED) != 0)
            err_add(c, cpath, "required");
        else if (fields[i].kind == WR_CFG__OBJECT)
            parse_object(c, NULL, fields[i].sub, base, cpath, cfg);
    }
}

/* True if the user wrote section.key (as opposed to it holding its default). */
static bool given(const cJSON *root, const char *section, const char *key)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, section);

    return cJSON_IsObject(s) && cJSON_GetObjectItemCaseSensitive(s, key) != NULL;
}

/*
 * Enforce lo < hi (or lo <= hi when !strict) between two backpressure
 * thresholds, blaming the one the user set when only one of them was set.
 */
static void check_order(struct parse_ctx *c, const cJSON *root, const char *lo_name, unsigned lo,
                        const char *hi_name, unsigned hi, bool strict)
{
    char path[CFG_PATH_LEN];

    if (strict ? lo < hi : lo <= hi)
        return;
    if (given(root, "backpressure", hi_name) && !given(root, "backpressure", lo_name)) {
        fmt_into(path, sizeof(path), "backpressure.%s", hi_name);
        err_add(c, path, "must be %s %s (%u)", strict ? "above" : "at least", lo_name, lo);
    } else {
        fmt_into(path, sizeof(path), "backpressure.%s", lo_name);
        err_add(c, path, "must be %s %s (%u)", strict ? "below" : "at most", hi_name, hi);
    }
}

static void derive_client_id(struct parse_ctx *c, char *id, const char *prefix, const char *agent,
                             const char *path)
{
    if (id[0] != '\0' || agent[0] == '\0')
        return;
    if (strlen(prefix) + strlen(agent) >= WR_CFG_NAME_MAX) {
        err_add(c, path, "default '%s<agent.id>' is too long (max %d); set it explicitly", prefix,
                WR_CFG_NAME_MAX - 1);
        return;
    }
    fmt_into(id, WR_CFG_NAME_MAX, "%s%s", prefix, agent);
}

static void check_topic_fits(struct parse_ctx *c, const struct wr_config *cfg, const char *tmpl,
                             const char *path)
{
    char buf[WR_CFG_STR_MAX];

    if (cfg->agent.id[0] == '\0')
        return;
    if (wr_config_expand_topic(tmpl, cfg->agent.id, buf, sizeof(buf)) != WR_OK)
        err_add(c, path, "too long once {agent} is replaced (max %d)", WR_CFG_STR_MAX - 1);
}

/* Rules that involve more than one field; run after every field is parsed. */
static void check_cross(struct parse_ctx *c, struct wr_config *cfg, const cJSON *root)
{
    const struct wr_tls_config *tls = &cfg->upstream.tls;
    const char *uri = cfg->upstream.uri;

    derive_client_id(c, cfg->source.client_id, "windrow-", cfg->agent.id, "source.client_id");
    derive_client_id(c, cfg->upstream.client_id, "windrow-up-", cfg->agent.id,
                     "upstream.client_id");
    check_topic_fits(c, cfg, cfg->upstream.topic, "upstream.topic");
    check_topic_fits(c, cfg, cfg->upstream.status_topic, "upstream.status_topic");

    if ((strncmp(uri, "ssl://", 6) == 0 || strncmp(uri, "mqtts://", 8) == 0) &&
        tls->ca_file[0] == '\0')
        err_add(c, "upstream.tls.ca_file", "required with an ssl:// or mqtts:// uri");
    if (tls->cert_file[0] != '\0' && tls->key_file[0] == '\0')
        err_add(c, "upstream.tls.key_file", "required when upstream.tls.cert_file is set");
    if (tls->key_file[0] != '\0' && tls->cert_file[0] == '\0')
        err_add(c, "upstream.tls.cert_file", "required when upstream.tls.key_file is set");

    if (cfg->upstream.reconnect_max_ms < cfg->upstream.reconnect_min_ms)
        err_add(c, "upstream.reconnect.max_ms", "must be at least reconnect.min_ms (%u)",
                (unsigned)cfg->upstream.reconnect_min_ms);

    check_order(c, root, "shed_leave_pct", cfg->backpressure.shed_leave_pct, "shed_enter_pct",
                cfg->backpressure.shed_enter_pct, true);
    check_order(c, root, "shed_enter_pct", cfg->backpressure.shed_enter_pct, "critical_leave_pct",
                cfg->backpressure.critical_leave_pct, false);
    check_order(c, root, "critical_leave_pct", cfg->backpressure.critical_leave_pct,
                "critical_enter_pct", cfg->backpressure.critical_enter_pct, true);

    for (size_t i = 0; i < cfg->n_streams; i++) {
        const struct wr_stream_config *s = &cfg->streams[i];
        char path[CFG_PATH_LEN];

        if (s->filter.has_min && s->filter.has_max && s->filter.min > s->filter.max) {
            fmt_into(path, sizeof(path), "streams[%zu].filter.min", i);
            err_add(c, path, "must not exceed filter.max (%g)", s->filter.max);
        }
        if (s->filter.max_silence_ms > 0 && !(s->filter.deadband > 0.0)) {
            fmt_into(path, sizeof(path), "streams[%zu].filter.max_silence_ms", i);
            err_add(c, path, "needs filter.deadband > 0 (it lets deadband drops through)");
        }
        if (s->name[0] == '\0')
            continue;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfg->streams[j].name, s->name) == 0) {
                fmt_into(path, sizeof(path), "streams[%zu].name", i);
                err_add(c, path, "duplicate stream name '%s' (also streams[%zu])", s->name, j);
                break;
            }
        }
    }
}

/* 1-based line and column of offset pos in text, for error messages. */
static void text_position(const char *text, size_t pos, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < pos; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static bool is_json_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static int parse_text(const char *json, size_t len, const char *origin, struct wr_config **out,
                      struct parse_ctx *c)
{
    cJSON *root = NULL;
    struct wr_config *cfg = NULL;
    const char *end = NULL;
    size_t pos;
    size_t line;
    size_t col;
    int rc;

    for (pos = 0; pos < len && is_json_space(json[pos]); pos++)
        ;
    if (pos == len) {
        err_add(c, origin, "empty, expected a JSON object");
        rc = WR_E_PARSE;
        goto done;
    }

    wr_json_begin();
    root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (root == NULL) {
        if (wr_json_out_of_memory()) {
            err_add(c, origin, "out of memory");
            rc = WR_E_NOMEM;
            goto done;
        }
        pos = len;
        if (end != NULL && end >= json && end <= json + len)
            pos = (size_t)(end - json);
        text_position(json, pos, &line, &col);
        err_add(c, origin, "not valid JSON near line %zu, column %zu", line, col);
        rc = WR_E_PARSE;
        goto done;
    }
    for (pos = (size_t)(end - json); pos < len && is_json_space(json[pos]); pos++)
        ;
    if (pos < len) {
        text_position(json, pos, &line, &col);
        err_add(c, origin,
                "not valid JSON: unexpected text after the value at line %zu, column %zu", line,
                col);
        rc = WR_E_PARSE;
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        err_add(c, origin, "must be a JSON object");
        rc = WR_E_INVAL;
        goto done;
    }

    cfg = plat_calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        err_add(c, origin, "out of memory");
        rc = WR_E_NOMEM;
        goto done;
    }
    wr_config_defaults(cfg);
    parse_object(c, root, wr_config__top_fields, cfg, "", cfg);
    check_cross(c, cfg, root);
    if (c->errs->count > 0) {
        rc = WR_E_INVAL;
        goto done;
    }
    *out = cfg;
    cfg = NULL;
    rc = WR_OK;
done:
    err_finish(c);
    cJSON_Delete(root);
    wr_config_free(cfg);
    return rc;
}

int wr_config_parse(const char *json, size_t len, struct wr_config **out,
                    struct wr_config_errors *errs)
{
    struct wr_config_errors local;
    struct parse_ctx c = {errs != NULL ? errs : &local, 0};

    c.errs->count = 0;
    if (json == NULL || out == NULL)
        return WR_E_INVAL;
    return parse_text(json, len, "config", out, &c);
}

static int read_file(const char *path, char **text, size_t *len, struct parse_ctx *c)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t cap = 4096;
    size_t used = 0;
    int rc;

    f = fopen(path, "rb");
    if (f == NULL) {
        err_add(c, path, "cannot read: %s", strerror(errno));
        return WR_E_IO;
    }
    buf = plat_malloc(cap);
    if (buf == NULL) {
        rc = WR_E_NOMEM;
        goto fail;
    }
    /* Read one byte past the cap so that an oversized file is noticed, not truncated. */
    for (;;) {
        size_t want;
        size_t got;

        if (used == cap) {
            size_t ncap = cap * 2 > CFG_FILE_MAX_BYTES + 1 ? CFG_FILE_MAX_BYTES + 1 : cap * 2;
            char *nbuf;

            if (cap > CFG_FILE_MAX_BYTES)
                break;
            nbuf = plat_realloc(buf, ncap);
            if (nbuf == NULL) {
                rc = WR_E_NOMEM;
                goto fail;
            }
            buf = nbuf;
            cap = ncap;
        }
        want = cap - used;
        got = fread(buf + used, 1, want, f);
        used += got;
        if (got < want) {
            if (ferror(f)) {
                err_add(c, path, "cannot read: %s", strerror(errno));
                rc = WR_E_IO;
                goto fail;
            }
            break;
        }
    }
    if (used > CFG_FILE_MAX_BYTES) {
        err_add(c, path, "cannot read: larger than %u bytes", CFG_FILE_MAX_BYTES);
        rc = WR_E_IO;
        goto fail;
    }
    fclose(f);
    *text = buf;
    *len = used;
    return WR_OK;
fail:
    if (rc == WR_E_NOMEM)
        err_add(c, path, "out of memory");
    plat_free(buf);
    fclose(f);
    return rc;
}

int wr_config_load_file(const char *path, struct wr_config **out, struct wr_config_errors *errs)
{
    struct wr_config_errors local;
    struct parse_ctx c = {errs != NULL ? errs : &local, 0};
    char *text = NULL;
    size_t len = 0;
    int rc;

    c.errs->count = 0;
    if (path == NULL || out == NULL)
        return WR_E_INVAL;
    rc = read_file(path, &text, &len, &c);
    if (rc != WR_OK)
        return rc;
    rc = parse_text(text, len, path, out, &c);
    plat_free(text);
    return rc;
}

void wr_config_free(struct wr_config *cfg)
{
    plat_free(cfg);
}

int wr_config_expand_topic(const char *tmpl, const char *agent_id, char *out, size_t out_len)
{
    static const char placeholder[] = "{agent}";
    const size_t plen = sizeof(placeholder) - 1;
    size_t alen;
    size_t used = 0;
    const char *p;

    if (tmpl == NULL || agent_id == NULL || out == NULL)
        return WR_E_INVAL;
    if (out_len == 0)
        return WR_E_TOOBIG;
    alen = strlen(agent_id);
    p = tmpl;
    while (*p != '\0') {
        const char *hit = strstr(p, placeholder);
        size_t lit = hit != NULL ? (size_t)(hit - p) : strlen(p);
        size_t need = lit + (hit != NULL ? alen : 0);

        if (need >= out_len - used) {
            out[0] = '\0';
            return WR_E_TOOBIG;
        }
        memcpy(out + used, p, lit);
        used += lit;
        if (hit == NULL)
            break;
        memcpy(out + used, agent_id, alen);
        used += alen;
        p = hit + plen;
    }
    out[used] = '\0';
    return WR_OK;
}
