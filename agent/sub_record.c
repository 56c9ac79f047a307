#include "sub_record.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "plat_file.h"
#include "plat_log.h"
#include "plat_mem.h"
#include "plat_sig.h"
#include "topic.h"
#include "wr_error.h"

#define MOD "ingest"
/* "end " + count + ' ' + 64 hex digits + '\n' */
#define END_LINE_MAX 96u

int wr_sub_record_init(struct wr_sub_record *rec, const char *uri, const char *client_id)
{
    if (rec == NULL)
        return WR_E_INVAL;
    memset(rec, 0, sizeof(*rec));
    if (uri == NULL || client_id == NULL || strlen(uri) >= sizeof(rec->uri) ||
        strlen(client_id) >= sizeof(rec->client_id))
        return WR_E_INVAL;
    memcpy(rec->uri, uri, strlen(uri) + 1);
    memcpy(rec->client_id, client_id, strlen(client_id) + 1);
    return WR_OK;
}

bool wr_sub_record_has(const struct wr_sub_record *rec, const char *filter)
{
    if (rec == NULL || filter == NULL)
        return false;
    for (size_t i = 0; i < rec->n_filters; i++)
        if (strcmp(rec->filters[i], filter) == 0)
            return true;
    return false;
}

bool wr_sub_record_same_filters(const struct wr_sub_record *a, const struct wr_sub_record *b)
{
    if (a == NULL || b == NULL || a->n_filters != b->n_filters)
        return false;
    /* Both hold distinct filters, so equal sizes and one inclusion make equal sets. */
    for (size_t i = 0; i < a->n_filters; i++)
        if (!wr_sub_record_has(b, a->filters[i]))
            return false;
    return true;
}

int wr_sub_record_add(struct wr_sub_record *rec, const char *filter)
{
    char *copy;

    if (rec == NULL || filter == NULL || strlen(filter) >= WR_CFG_STR_MAX ||
        !wr_topic_filter_valid(filter, NULL))
        return WR_E_INVAL;
    if (wr_sub_record_has(rec, filter))
        return WR_OK;
    if (rec->n_filters >= WR_SUB_RECORD_MAX_FILTERS)
        return WR_E_FULL;
    if (rec->n_filters == rec->cap) {
        size_t cap = rec->cap == 0 ? 16u : rec->cap * 2u;
        char **grown = plat_realloc(rec->filters, cap * sizeof(*grown));

        if (grown == NULL)
            return WR_E_NOMEM;
        rec->filters = grown;
        rec->cap = cap;
    }
    copy = plat_strdup(filter);
    if (copy == NULL)
        return WR_E_NOMEM;
    rec->filters[rec->n_filters++] = copy;
    return WR_OK;
}

void wr_sub_record_clear(struct wr_sub_record *rec)
{
    if (rec == NULL)
        return;
    for (size_t i = 0; i < rec->n_filters; i++)
        plat_free(rec->filters[i]);
    plat_free(rec->filters);
    rec->filters = NULL;
    rec->n_filters = 0;
    rec->cap = 0;
}

/* ---- format ---------------------------------------------------------------------------------- */

static bool needs_escape(unsigned char c)
{
    return c <= 0x20 || c == 0x7f || c == '%';
}

static size_t escaped_len(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += needs_escape((unsigned char)*s) ? 3u : 1u;
    return n;
}

static char *put_escaped(char *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (needs_escape(c)) {
            *out++ = '%';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 0x0f];
        } else {
            *out++ = (char)c;
        }
    }
    return out;
}

static char *put_line(char *out, const char *keyword, const char *value)
{
    size_t k = strlen(keyword);

    memcpy(out, keyword, k);
    out += k;
    *out++ = ' ';
    out = put_escaped(out, value);
    *out++ = '\n';
    return out;
}

int wr_sub_record_format(const struct wr_sub_record *rec, char **text, size_t *len)
{
    char hash[PLAT_SIG_SHA256_HEX_LEN];
    size_t cap;
    size_t body;
    char *buf;
    char *w;
    int n;

    if (rec == NULL || text == NULL || len == NULL)
        return WR_E_INVAL;
    cap = sizeof(WR_SUB_RECORD_FORMAT) + sizeof("uri \n") + escaped_len(rec->uri) +
          sizeof("client_id \n") + escaped_len(rec->client_id) + END_LINE_MAX;
    for (size_t i = 0; i < rec->n_filters; i++)
        cap += sizeof("filter \n") + escaped_len(rec->filters[i]);
    buf = plat_malloc(cap);
    if (buf == NULL)
        return WR_E_NOMEM;
    w = buf;
    memcpy(w, WR_SUB_RECORD_FORMAT "\n", sizeof(WR_SUB_RECORD_FORMAT));
    w += sizeof(WR_SUB_RECORD_FORMAT);
    w = put_line(w, "uri", rec->uri);
    w = put_line(w, "client_id", rec->client_id);
    for (size_t i = 0; i < rec->n_filters; i++)
        w = put_line(w, "filter", rec->filters[i]);
    body = (size_t)(w - buf);
    plat_sig_sha256_hex(buf, body, hash);
    n = snprintf(w, cap - body, "end %zu %s\n", rec->n_filters, hash);
    if (n < 0 || (size_t)n >= cap - body) {
        plat_free(buf);
        return WR_E_INVAL;
    }
    *text = buf;
    *len = body + (size_t)n;
    return WR_OK;
}

/* ---- parse ----------------------------------------------------------------------------------- */

struct parser {
    const char *text;
    size_t len;
    size_t pos;
    size_t line_no;
    const char *line; /* the current line, without its '\n' */
    size_t line_len;
    char *why;
    size_t why_len;
};

static int fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *ps, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(ps->why, ps->why_len, "line %zu: ", ps->line_no);

    if (n >= 0 && (size_t)n < ps->why_len) {
        va_start(ap, fmt);
        vsnprintf(ps->why + n, ps->why_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return WR_E_CORRUPT;
}

/* Move to the next line; false at the end of the text or on a last line with no '\n'. */
static bool next_line(struct parser *ps)
{
    const char *nl;

    if (ps->pos >= ps->len)
        return false;
    nl = memchr(ps->text + ps->pos, '\n', ps->len - ps->pos);
    if (nl == NULL)
        return false;
    ps->line = ps->text + ps->pos;
    ps->line_len = (size_t)(nl - ps->line);
    ps->pos += ps->line_len + 1;
    ps->line_no++;
    return true;
}

static bool line_is(const struct parser *ps, const char *keyword)
{
    size_t k = strlen(keyword);

    return ps->line_len > k && memcmp(ps->line, keyword, k) == 0 && ps->line[k] == ' ';
}

/* The next line, which must start with keyword; a missing one is named by its number. */
static int expect_line(struct parser *ps, const char *keyword)
{
    if (!next_line(ps)) {
        ps->line_no++;
        return fail(ps, "expected \"%s\"", keyword);
    }
    if (!line_is(ps, keyword))
        return fail(ps, "expected \"%s\"", keyword);
    return WR_OK;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Unescape the value after "keyword " into out (NUL-terminated). */
static int line_value(struct parser *ps, const char *keyword, char *out, size_t out_len)
{
    size_t i = strlen(keyword) + 1;
    size_t o = 0;

    for (; i < ps->line_len; i++) {
        unsigned char c = (unsigned char)ps->line[i];

        if (c == '%') {
            int hi = i + 2 < ps->line_len ? hex_digit(ps->line[i + 1]) : -1;
            int lo = hi >= 0 ? hex_digit(ps->line[i + 2]) : -1;

            if (lo < 0)
                return fail(ps, "%s: bad %%-escape", keyword);
            c = (unsigned char)(hi * 16 + lo);
            if (c == 0)
                return fail(ps, "%s: contains NUL", keyword);
            i += 2;
        } else if (needs_escape(c)) {
            return fail(ps, "%s: unescaped byte 0x%02x", keyword, c);
        }
        if (o + 1 >= out_len)
            return fail(ps, "%s: longer than %zu bytes", keyword, out_len - 1);
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return WR_OK;
}

static int parse_end(struct parser *ps, size_t body_len, size_t n_lines)
{
    char want[PLAT_SIG_SHA256_HEX_LEN];
    char line[END_LINE_MAX];
    char hash[PLAT_SIG_SHA256_HEX_LEN];
    char tail;
    size_t count;

    if (!line_is(ps, "end"))
        return fail(ps, "expected \"end\" after the filters");
    if (ps->line_len >= sizeof(line))
        return fail(ps, "end: too long");
    memcpy(line, ps->line, ps->line_len);
    line[ps->line_len] = '\0';
    /* %64[0-9a-f] then nothing: exactly one count and one lower-case digest. */
    if (sscanf(line, "end %zu %64[0-9a-f]%c", &count, hash, &tail) != 2 || strlen(hash) != 64)
        return fail(ps, "end: expected \"end <count> <sha256>\"");
    if (count != n_lines)
        return fail(ps, "end: says %zu filter(s), the record has %zu (cut short?)", count, n_lines);
    plat_sig_sha256_hex(ps->text, body_len, want);
    if (strcmp(want, hash) != 0)
        return fail(ps, "end: checksum does not match the content");
    if (ps->pos != ps->len)
        return fail(ps, "text after the end line");
    return WR_OK;
}

static int parse_filters(struct parser *ps, struct wr_sub_record *out)
{
    char filter[WR_CFG_STR_MAX];
    size_t n_lines = 0;
    size_t body_len;
    int rc;

    for (;;) {
        body_len = ps->pos;
        if (!next_line(ps)) {
            ps->line_no++;
            return fail(ps, "missing end line (cut short?)");
        }
        if (!line_is(ps, "filter"))
            return parse_end(ps, body_len, n_lines);
        rc = line_value(ps, "filter", filter, sizeof(filter));
        if (rc != WR_OK)
            return rc;
        if (!wr_topic_filter_valid(filter, NULL))
            return fail(ps, "filter: not a valid MQTT topic filter");
        rc = wr_sub_record_add(out, filter);
        if (rc == WR_E_FULL)
            return fail(ps, "more than %u filters", WR_SUB_RECORD_MAX_FILTERS);
        if (rc != WR_OK)
            return rc;
        n_lines++;
    }
}

int wr_sub_record_parse(const char *text, size_t len, struct wr_sub_record *out, char *why,
                        size_t why_len)
{
    struct parser ps;
    int rc;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (text == NULL || out == NULL || why == NULL || why_len == 0)
        return WR_E_INVAL;
    why[0] = '\0';
    memset(&ps, 0, sizeof(ps));
    ps.text = text;
    ps.len = len;
    ps.why = why;
    ps.why_len = why_len;
    if (!next_line(&ps) || ps.line_len != strlen(WR_SUB_RECORD_FORMAT) ||
        memcmp(ps.line, WR_SUB_RECORD_FORMAT, ps.line_len) != 0) {
        ps.line_no = 1;
        return fail(&ps, "not a subscription record (expected \"%s\")", WR_SUB_RECORD_FORMAT);
    }
    rc = expect_line(&ps, "uri");
    if (rc == WR_OK)
        rc = line_value(&ps, "uri", out->uri, sizeof(out->uri));
    if (rc == WR_OK)
        rc = expect_line(&ps, "client_id");
    if (rc == WR_OK)
        rc = line_value(&ps, "client_id", out->client_id, sizeof(out->client_id));
    if (rc == WR_OK)
        rc = parse_filters(&ps, out);
    if (rc != WR_OK)
        wr_sub_record_clear(out);
    return rc;
}

/* ---- files ----------------------------------------------------------------------------------- */

int wr_sub_record_path(const char *state_dir, const char *uri, const char *client_id, char *out,
                       size_t n)
{
    uint8_t digest[PLAT_SIG_SHA256_LEN];
    char id[2 * WR_CFG_STR_MAX];
    size_t ul;
    size_t cl;
    int w;

    if (state_dir == NULL || uri == NULL || client_id == NULL || out == NULL)
        return WR_E_INVAL;
    ul = strlen(uri);
    cl = strlen(client_id);
    if (ul >= WR_CFG_STR_MAX || cl >= WR_CFG_STR_MAX)
        return WR_E_INVAL;
    /* The NUL between them keeps ("ab", "c") and ("a", "bc") apart. */
    memcpy(id, uri, ul + 1);
    memcpy(id + ul + 1, client_id, cl);
    plat_sig_sha256(id, ul + 1 + cl, digest);
    w = snprintf(out, n, "%s/source-subscriptions-%02x%02x%02x%02x%02x%02x%02x%02x", state_dir,
                 digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6],
                 digest[7]);
    return w > 0 && (size_t)w < n ? WR_OK : WR_E_INVAL;
}

static void move_aside(const char *path)
{
    char aside[WR_SUB_RECORD_PATH_MAX + 16];
    int w = snprintf(aside, sizeof(aside), "%s.corrupt", path);

    if (w > 0 && (size_t)w < sizeof(aside) && plat_file_rename(path, aside) == WR_OK)
        PLAT_ERROR(MOD, "the unreadable record is kept as %s", aside);
}

int wr_sub_record_load(const char *path, const char *uri, const char *client_id,
                       struct wr_sub_record *out)
{
    char why[160];
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (path == NULL || out == NULL || wr_sub_record_init(out, uri, client_id) != WR_OK)
        return WR_E_INVAL;
    rc = plat_file_read_all(path, WR_SUB_RECORD_MAX_BYTES, &text, &len);
    if (rc == WR_E_NOTFOUND) {
        PLAT_INFO(MOD,
                  "no record of earlier subscriptions for %s as %s (%s): nothing to "
                  "unsubscribe",
                  uri, client_id, path);
        return rc;
    }
    if (rc == WR_E_TOOBIG) {
        snprintf(why, sizeof(why), "larger than %u bytes", WR_SUB_RECORD_MAX_BYTES);
    } else if (rc != WR_OK) {
        PLAT_ERROR(MOD,
                   "cannot read the subscription record %s (%s): topic filters removed from "
                   "the config while windrow was stopped may stay subscribed on %s",
                   path, wr_strerror(rc), uri);
        return rc;
    } else {
        struct wr_sub_record parsed;

        rc = wr_sub_record_parse(text, len, &parsed, why, sizeof(why));
        plat_free(text);
        if (rc == WR_E_NOMEM)
            return rc;
        if (rc == WR_OK &&
            (strcmp(parsed.uri, uri) != 0 || strcmp(parsed.client_id, client_id) != 0)) {
            snprintf(why, sizeof(why), "it names another session (%.60s as %.60s)", parsed.uri,
                     parsed.client_id);
            wr_sub_record_clear(&parsed);
            rc = WR_E_CORRUPT;
        }
        if (rc == WR_OK) {
            out->filters = parsed.filters;
            out->n_filters = parsed.n_filters;
            out->cap = parsed.cap;
            return WR_OK;
        }
    }
    PLAT_ERROR(MOD,
               "subscription record %s is corrupt (%s): cannot tell which topic filters an "
               "earlier config left subscribed on %s as %s; any removed from the config since "
               "may stay subscribed (their messages are counted as unknown_topic). Going on with "
               "the configured filters and a new record",
               path, why, uri, client_id);
    move_aside(path);
    return WR_E_CORRUPT;
}

int wr_sub_record_save(const char *state_dir, const char *path, const struct wr_sub_record *rec)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (state_dir == NULL || path == NULL || rec == NULL)
        return WR_E_INVAL;
    rc = plat_file_mkdir_p(state_dir, 0750);
    if (rc == WR_OK)
        rc = wr_sub_record_format(rec, &text, &len);
    if (rc == WR_OK)
        rc = plat_file_write_atomic(path, text, len);
    plat_free(text);
    return rc;
}
