/*
 * wr_config_to_json: prints the effective config by walking the same field
 * table the parser uses, so whatever is printed parses back to the same
 * config. Written by hand rather than through a cJSON tree: one growing
 * buffer, one out-of-memory check at the end, and two-space indentation.
 */
#include "wr_config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "plat_mem.h"

struct out_buf {
    char *p;
    size_t len;
    size_t cap;
    bool oom; /* sticky: once set, appends do nothing */
};

static void put(struct out_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap == 0 ? 4096 : b->cap;
        char *np;

        while (b->len + n + 1 > ncap)
            ncap *= 2;
        np = plat_realloc(b->p, ncap);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(struct out_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void putf(struct out_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct out_buf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void indent(struct out_buf *b, int depth)
{
    for (int i = 0; i < depth; i++)
        put(b, "  ", 2);
}

static void put_json_string(struct out_buf *b, const char *s)
{
    put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        switch (*p) {
        case '"':
            put(b, "\\\"", 2);
            break;
        case '\\':
            put(b, "\\\\", 2);
            break;
        case '\n':
            put(b, "\\n", 2);
            break;
        case '\r':
            put(b, "\\r", 2);
            break;
        case '\t':
            put(b, "\\t", 2);
            break;
        default:
            if (*p < 0x20)
                putf(b, "\\u%04x", (unsigned)*p);
            else
                put(b, (const char *)p, 1);
        }
    }
    put(b, "\"", 1);
}

/* Shortest of %.15g / %.17g that reads back as the same double. */
static void put_double(struct out_buf *b, double d)
{
    char tmp[40];

    snprintf(tmp, sizeof(tmp), "%.15g", d);
    if (strtod(tmp, NULL) != d)
        snprintf(tmp, sizeof(tmp), "%.17g", d);
    puts_(b, tmp);
}

static const void *member(const void *base, size_t off)
{
    return (const char *)base + off;
}

static void put_fields(struct out_buf *b, const struct wr_cfg__field *fields, const void *base,
                       const struct wr_config *cfg, int depth);

static void put_object(struct out_buf *b, const struct wr_cfg__field *fields, const void *base,
                       const struct wr_config *cfg, int depth)
{
    puts_(b, "{\n");
    put_fields(b, fields, base, cfg, depth + 1);
    puts_(b, "\n");
    indent(b, depth);
    puts_(b, "}");
}

static void put_value(struct out_buf *b, const struct wr_cfg__field *f, const void *base,
                      const struct wr_config *cfg, int depth)
{
    const void *p = member(base, f->off);

    switch ((enum wr_cfg__kind)f->kind) {
    case WR_CFG__STR:
    case WR_CFG__STR_ENUM:
        put_json_string(b, p);
        break;
    case WR_CFG__ENUM: {
        int idx = *(const int *)p;
        int n = 0;

        while (f->names[n] != NULL)
            n++;
        /* An out-of-range value cannot come from the parser; print null so a re-parse fails. */
        if (idx >= 0 && idx < n)
            put_json_string(b, f->names[idx]);
        else
            puts_(b, "null");
        break;
    }
    case WR_CFG__U8:
        putf(b, "%u", (unsigned)*(const uint8_t *)p);
        break;
    case WR_CFG__U32:
        putf(b, "%lu", (unsigned long)*(const uint32_t *)p);
        break;
    case WR_CFG__U64:
        putf(b, "%llu", (unsigned long long)*(const uint64_t *)p);
        break;
    case WR_CFG__INT:
        putf(b, "%d", *(const int *)p);
        break;
    case WR_CFG__BOOL:
        puts_(b, *(const bool *)p ? "true" : "false");
        break;
    case WR_CFG__DOUBLE:
    case WR_CFG__OPT_DOUBLE:
        put_double(b, *(const double *)p);
        break;
    case WR_CFG__AGGS: {
        unsigned bits = *(const unsigned *)p;
        bool first = true;

        puts_(b, "[");
        for (unsigned k = 0; k < WR_CFG__AGG_COUNT; k++) {
            if ((bits & (1u << k)) == 0)
                continue;
            puts_(b, first ? "" : ", ");
            put_json_string(b, f->names[k]);
            first = false;
        }
        puts_(b, "]");
        break;
    }
    case WR_CFG__QUANTILES: {
        const double *q = (const double *)p;
        size_t n = *(const size_t *)((const char *)base + f->has_off);

        puts_(b, "[");
        for (size_t k = 0; k < n && k < WR_CFG_MAX_QUANTILES; k++) {
            puts_(b, k == 0 ? "" : ", ");
            put_double(b, q[k]);
        }
        puts_(b, "]");
        break;
    }
    case WR_CFG__OBJECT:
        put_object(b, f->sub, base, cfg, depth);
        break;
    case WR_CFG__STREAMS:
        if (cfg->n_streams == 0) {
            puts_(b, "[]");
            break;
        }
        puts_(b, "[\n");
        for (size_t i = 0; i < cfg->n_streams && i < WR_CFG_MAX_STREAMS; i++) {
            indent(b, depth + 1);
            put_object(b, wr_config__stream_fields, &cfg->streams[i], cfg, depth + 1);
            puts_(b, i + 1 < cfg->n_streams ? ",\n" : "\n");
        }
        indent(b, depth);
        puts_(b, "]");
        break;
    }
}

static void put_fields(struct out_buf *b, const struct wr_cfg__field *fields, const void *base,
                       const struct wr_config *cfg, int depth)
{
    bool first = true;

    for (const struct wr_cfg__field *f = fields; f->name != NULL; f++) {
        if (f->kind == WR_CFG__OPT_DOUBLE && !*(const bool *)member(base, f->has_off))
            continue;
        if (!first)
            puts_(b, ",\n");
        first = false;
        indent(b, depth);
        put_json_string(b, f->name);
        puts_(b, ": ");
        put_value(b, f, base, cfg, depth);
    }
}

char *wr_config_to_json(const struct wr_config *cfg)
{
    struct out_buf b = {NULL, 0, 0, false};

    if (cfg == NULL)
        return NULL;
    put_object(&b, wr_config__top_fields, cfg, cfg, 0);
    puts_(&b, "\n");
    if (b.oom) {
        plat_free(b.p);
        return NULL;
    }
    return b.p;
}
