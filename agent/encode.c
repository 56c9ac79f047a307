#include "encode.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wr_error.h"

/*
 * The encoder writes JSON by hand into the caller's buffer. Invariants kept
 * between calls: buf[0 .. len) is the message so far, buf[len] is a NUL, and
 * cap - len is always enough for the bytes that close the message ("]}" with
 * no group open, "]}]}" with one open) plus that NUL. So finish cannot fail
 * after begin or a successful add.
 */

#define CLOSE_NO_GROUP "]}"
#define CLOSE_GROUP "]}]}"
/* Room kept free after the message: the longest closing sequence and the NUL. */
#define RESERVE_NO_GROUP (sizeof(CLOSE_NO_GROUP))
#define RESERVE_GROUP (sizeof(CLOSE_GROUP))

/* Longest number text: "-1.2345678901234567e-308" is 24 bytes; "%.0f" of 2^53 is 17. */
#define NUM_MAX 32

/* 2^53: every integer up to this magnitude is exact in a double and prints as digits. */
#define EXACT_INT_MAX 9007199254740992.0

#define FNV_OFFSET UINT64_C(14695981039346656037)
#define FNV_PRIME UINT64_C(1099511628211)

/* A bounded appender: once something does not fit, everything after it is ignored. */
struct writer {
    char *buf;
    size_t limit; /* bytes of buf the writer may use */
    size_t len;
    bool overflow;
};

static void put_raw(struct writer *w, const char *s, size_t n)
{
    if (w->overflow)
        return;
    if (n > w->limit - w->len) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void put_lit(struct writer *w, const char *s)
{
    put_raw(w, s, strlen(s));
}

/* Writes s (at most max_len bytes) as a JSON string; bytes >= 0x80 pass through unchanged. */
static void put_str(struct writer *w, const char *s, size_t max_len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    size_t i;

    put_raw(w, "\"", 1);
    for (i = 0; i < max_len && s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        /* Flush the plain run before this byte, then its escape. */
        put_raw(w, s + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put_raw(w, esc, 2);
        } else {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0x0f];
            put_raw(w, esc, 6);
        }
    }
    put_raw(w, s + run, i - run);
    put_raw(w, "\"", 1);
}

static void put_i64(struct writer *w, int64_t v)
{
    char num[NUM_MAX];
    int n = snprintf(num, sizeof(num), "%" PRId64, v);

    put_raw(w, num, (size_t)n);
}

static void put_u64(struct writer *w, uint64_t v)
{
    char num[NUM_MAX];
    int n = snprintf(num, sizeof(num), "%" PRIu64, v);

    put_raw(w, num, (size_t)n);
}

/*
 * Shortest text among %.15g, %.16g and %.17g that strtod reads back to the
 * same double (%.17g always does). Integral values up to 2^53 print as plain
 * digits so that counts and whole readings never get an exponent. Both
 * snprintf and strtod follow LC_NUMERIC, which the agent leaves at "C".
 */
static size_t format_double(double v, char out[NUM_MAX])
{
    int n = 0;

    if (!isfinite(v)) {
        memcpy(out, "null", 5);
        return 4;
    }
    if (fabs(v) <= EXACT_INT_MAX && trunc(v) == v)
        return (size_t)snprintf(out, NUM_MAX, "%.0f", v);
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, NUM_MAX, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    return (size_t)n;
}

static void put_double(struct writer *w, double v)
{
    char num[NUM_MAX];
    size_t n = format_double(v, num);

    put_raw(w, num, n);
}

static void put_field_double(struct writer *w, const char *name_colon, double v)
{
    put_lit(w, name_colon);
    put_double(w, v);
}

int wr_encoder_begin(struct wr_encoder *enc, char *buf, size_t cap, const char *agent_id,
                     uint64_t seq, int64_t sent_ms)
{
    struct writer w;

    if (enc == NULL)
        return WR_E_INVAL;
    /* A failed begin leaves an encoder that add and finish refuse (WR_E_INVAL). */
    memset(enc, 0, sizeof(*enc));
    enc->open_stream = -1;
    if (buf == NULL || agent_id == NULL)
        return WR_E_INVAL;
    if (cap < RESERVE_NO_GROUP)
        return WR_E_TOOBIG;
    w.buf = buf;
    w.limit = cap - RESERVE_NO_GROUP;
    w.len = 0;
    w.overflow = false;
    put_lit(&w, "{\"v\":1,\"agent\":");
    put_str(&w, agent_id, SIZE_MAX);
    put_lit(&w, ",\"seq\":");
    put_u64(&w, seq);
    put_lit(&w, ",\"sent_ms\":");
    put_i64(&w, sent_ms);
    put_lit(&w, ",\"groups\":[");
    if (w.overflow) {
        buf[0] = '\0';
        return WR_E_TOOBIG;
    }
    buf[w.len] = '\0';
    enc->buf = buf;
    enc->cap = cap;
    enc->len = w.len;
    enc->agent_id = agent_id;
    enc->open_stream = -1;
    enc->open_size_s = 0;
    enc->n_results = 0;
    return WR_OK;
}

static void put_result(struct writer *w, const char *agent_id, const char *stream_name,
                       unsigned aggregates, const struct wr_result *r)
{
    const struct wr_agg *a = &r->agg;
    char id[17];

    wr_encode_idempotency_key(agent_id, stream_name, r, id);
    put_lit(w, "{\"id\":\"");
    put_raw(w, id, 16);
    put_lit(w, "\",\"key\":");
    put_str(w, r->key, sizeof(r->key));
    put_lit(w, ",\"start\":");
    /* Windows are whole seconds, so the division is exact. */
    put_i64(w, r->start_ms / 1000);
    put_lit(w, ",\"rev\":");
    put_u64(w, r->revision);
    put_lit(w, ",\"count\":");
    put_u64(w, a->count);
    if (aggregates & WR_AGG_SUM)
        put_field_double(w, ",\"sum\":", a->sum);
    if (aggregates & WR_AGG_MIN)
        put_field_double(w, ",\"min\":", a->min);
    if (aggregates & WR_AGG_MAX)
        put_field_double(w, ",\"max\":", a->max);
    if (aggregates & WR_AGG_MEAN)
        put_field_double(w, ",\"mean\":", a->mean);
    if (aggregates & WR_AGG_STDDEV)
        put_field_double(w, ",\"stddev\":", wr_agg_stddev(a));
    if (aggregates & WR_AGG_FIRST)
        put_field_double(w, ",\"first\":", a->first);
    if (aggregates & WR_AGG_LAST)
        put_field_double(w, ",\"last\":", a->last);
    put_lit(w, "}");
}

int wr_encoder_add(struct wr_encoder *enc, const char *stream_name, unsigned aggregates,
                   const struct wr_result *result)
{
    struct writer w;
    bool same_group;

    if (enc == NULL || enc->buf == NULL || stream_name == NULL || result == NULL)
        return WR_E_INVAL;
    if (enc->cap < RESERVE_GROUP || enc->len > enc->cap - RESERVE_GROUP)
        return WR_E_TOOBIG;
    same_group = enc->open_stream == (int)result->stream && enc->open_size_s == result->size_s;
    w.buf = enc->buf;
    w.limit = enc->cap - RESERVE_GROUP;
    w.len = enc->len;
    w.overflow = false;
    if (same_group) {
        put_lit(&w, ",");
    } else {
        if (enc->open_stream >= 0)
            put_lit(&w, "]},");
        put_lit(&w, "{\"stream\":");
        put_str(&w, stream_name, SIZE_MAX);
        put_lit(&w, ",\"size_s\":");
        put_u64(&w, result->size_s);
        put_lit(&w, ",\"results\":[");
    }
    put_result(&w, enc->agent_id, stream_name, aggregates, result);
    if (w.overflow) {
        /* Bytes past len were scratch; put the terminator back where it was. */
        enc->buf[enc->len] = '\0';
        return WR_E_TOOBIG;
    }
    enc->len = w.len;
    enc->buf[enc->len] = '\0';
    enc->open_stream = (int)result->stream;
    enc->open_size_s = result->size_s;
    enc->n_results++;
    return WR_OK;
}

int wr_encoder_finish(struct wr_encoder *enc, size_t *len_out)
{
    const char *tail;
    size_t n;

    if (enc == NULL || enc->buf == NULL || len_out == NULL)
        return WR_E_INVAL;
    tail = enc->open_stream >= 0 ? CLOSE_GROUP : CLOSE_NO_GROUP;
    n = strlen(tail);
    /* Cannot trigger after begin/add (room is reserved); guards a second finish. */
    if (enc->len > enc->cap || enc->cap - enc->len < n + 1)
        return WR_E_TOOBIG;
    memcpy(enc->buf + enc->len, tail, n + 1);
    enc->len += n;
    *len_out = enc->len;
    return WR_OK;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

void wr_encode_idempotency_key(const char *agent_id, const char *stream_name,
                               const struct wr_result *result, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    char num[NUM_MAX];
    uint64_t h = FNV_OFFSET;
    size_t key_len = 0;
    int n;

    if (out == NULL)
        return;
    if (agent_id == NULL)
        agent_id = "";
    if (stream_name == NULL)
        stream_name = "";
    /* Each part is followed by a NUL separator so that ("ab","c") and ("a","bc") differ. */
    h = fnv1a(h, agent_id, strlen(agent_id) + 1);
    h = fnv1a(h, stream_name, strlen(stream_name) + 1);
    if (result != NULL) {
        while (key_len < sizeof(result->key) && result->key[key_len] != '\0')
            key_len++;
        h = fnv1a(h, result->key, key_len);
        h = fnv1a(h, "", 1);
        n = snprintf(num, sizeof(num), "%" PRId64, result->start_ms);
        h = fnv1a(h, num, (size_t)n + 1);
        n = snprintf(num, sizeof(num), "%" PRIu32, result->size_s);
        h = fnv1a(h, num, (size_t)n + 1);
        n = snprintf(num, sizeof(num), "%" PRIu32, result->revision);
        h = fnv1a(h, num, (size_t)n);
    }
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[h & 0x0f];
        h >>= 4;
    }
    out[16] = '\0';
}
