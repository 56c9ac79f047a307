#include "encode.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode_internal.h"
#include "wr_error.h"

/*
 * The encoder writes JSON (here) or CBOR (encode_cbor.c) by hand into the
 * caller's buffer. Invariants kept between calls: buf[0 .. len) is the
 * message so far, for JSON buf[len] is a NUL, and cap - len is always enough
 * for the bytes that close the message (JSON "]}" with no group open, "]}]}"
 * with one open, plus that NUL; CBOR one or two break bytes). So finish
 * cannot fail after begin or a successful add.
 */

#define CLOSE_NO_GROUP "]}"
#define CLOSE_GROUP "]}]}"
/* Room kept free after the message: the longest closing sequence and the NUL. */
#define RESERVE_NO_GROUP (sizeof(CLOSE_NO_GROUP))
#define RESERVE_GROUP (sizeof(CLOSE_GROUP))

#define NUM_MAX WR_ENCODE__NUM_MAX
#define CBOR_RESERVE_NO_GROUP (sizeof(WR_ENCODE__CBOR_CLOSE_NO_GROUP) - 1)
#define CBOR_RESERVE_GROUP (sizeof(WR_ENCODE__CBOR_CLOSE_GROUP) - 1)

/* 2^53: every integer up to this magnitude is exact in a double and prints as digits. */
#define EXACT_INT_MAX 9007199254740992.0

#define FNV_OFFSET UINT64_C(14695981039346656037)
#define FNV_PRIME UINT64_C(1099511628211)

#define writer wr_encode__writer

void wr_encode__put_raw(struct writer *w, const void *s, size_t n)
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

static void put_raw(struct writer *w, const char *s, size_t n)
{
    wr_encode__put_raw(w, s, n);
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
size_t wr_encode__format_double(double v, char out[NUM_MAX])
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
    size_t n = wr_encode__format_double(v, num);

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
    return wr_encoder_begin_as(enc, WR_ENCODING_JSON, buf, cap, agent_id, seq, sent_ms);
}

int wr_encoder_begin_as(struct wr_encoder *enc, enum wr_encoding encoding, char *buf, size_t cap,
                        const char *agent_id, uint64_t seq, int64_t sent_ms)
{
    struct writer w;
    bool cbor = encoding == WR_ENCODING_CBOR;
    size_t reserve = cbor ? CBOR_RESERVE_NO_GROUP : RESERVE_NO_GROUP;

    if (enc == NULL)
        return WR_E_INVAL;
    /* A failed begin leaves an encoder that add and finish refuse (WR_E_INVAL). */
    memset(enc, 0, sizeof(*enc));
    enc->open_stream = -1;
    if (buf == NULL || agent_id == NULL ||
        (encoding != WR_ENCODING_JSON && encoding != WR_ENCODING_CBOR))
        return WR_E_INVAL;
    if (cap < reserve)
        return WR_E_TOOBIG;
    w.buf = buf;
    w.limit = cap - reserve;
    w.len = 0;
    w.overflow = false;
    if (cbor) {
        wr_encode__cbor_head(&w, agent_id, seq, sent_ms);
    } else {
        put_lit(&w, "{\"v\":1,\"agent\":");
        put_str(&w, agent_id, SIZE_MAX);
        put_lit(&w, ",\"seq\":");
        put_u64(&w, seq);
        put_lit(&w, ",\"sent_ms\":");
        put_i64(&w, sent_ms);
        put_lit(&w, ",\"groups\":[");
    }
    if (w.overflow) {
        if (!cbor)
            buf[0] = '\0';
        return WR_E_TOOBIG;
    }
    if (!cbor)
        buf[w.len] = '\0';
    enc->buf = buf;
    enc->cap = cap;
    enc->len = w.len;
    enc->agent_id = agent_id;
    enc->encoding = encoding;
    enc->open_stream = -1;
    enc->open_size_s = 0;
    enc->n_results = 0;
    return WR_OK;
}

/*
 * Quantile values travel with the result (computed at emission, or by a
 * rollup from the merged sketch), one per configured q. A result without
 * them (its rollup lacked a sketch) or with another number of them (written
 * under another config) has none to write.
 */
bool wr_encode__has_quantiles(const struct wr_encode_stream *st, const struct wr_result *r)
{
    return st->n_quantiles > 0 && st->quantiles != NULL && r->agg.count > 0 &&
           r->n_quantiles == st->n_quantiles;
}

bool wr_encode__has_sketch(const struct wr_encode_stream *st, const struct wr_result *r)
{
    return st->sketch && r->sketch != NULL && r->sketch_len > 0;
}

/* Base64 (RFC 4648, standard alphabet, padded) of the sketch's binary form, as a JSON string. */
static void put_base64(struct writer *w, const uint8_t *raw, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t out_n = 4 * ((n + 2) / 3);
    char *dst;

    if (w->overflow || w->limit - w->len < out_n + 2) {
        w->overflow = true;
        return;
    }
    put_raw(w, "\"", 1);
    dst = w->buf + w->len;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16;

        if (i + 1 < n)
            v |= (uint32_t)raw[i + 1] << 8;
        if (i + 2 < n)
            v |= raw[i + 2];
        *dst++ = alphabet[(v >> 18) & 63];
        *dst++ = alphabet[(v >> 12) & 63];
        *dst++ = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        *dst++ = i + 2 < n ? alphabet[v & 63] : '=';
    }
    w->len += out_n;
    put_raw(w, "\"", 1);
}

static void put_result(struct writer *w, const char id[17], const struct wr_encode_stream *st,
                       const struct wr_result *r)
{
    const struct wr_agg *a = &r->agg;
    unsigned aggregates = st->aggregates;

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
    if (wr_encode__has_quantiles(st, r)) {
        put_lit(w, ",\"quantiles\":{");
        for (size_t i = 0; i < st->n_quantiles; i++) {
            char qtext[NUM_MAX];
            size_t qn = wr_encode__format_double(st->quantiles[i], qtext);
            double v = r->quantiles[i];

            if (i > 0)
                put_lit(w, ",");
            put_lit(w, "\"");
            put_raw(w, qtext, qn);
            put_lit(w, "\":");
            put_double(w, v);
        }
        put_lit(w, "}");
    }
    if (wr_encode__has_sketch(st, r)) {
        put_lit(w, ",\"sketch\":");
        put_base64(w, r->sketch, r->sketch_len);
    }
    put_lit(w, "}");
}

int wr_encoder_add(struct wr_encoder *enc, const char *stream_name, unsigned aggregates,
                   const struct wr_result *result)
{
    struct wr_encode_stream st;

    memset(&st, 0, sizeof(st));
    st.name = stream_name;
    st.aggregates = aggregates;
    return wr_encoder_add_stream(enc, &st, result);
}

int wr_encoder_add_stream(struct wr_encoder *enc, const struct wr_encode_stream *stream,
                          const struct wr_result *result)
{
    struct writer w;
    bool same_group;
    bool cbor;
    size_t reserve;
    char id[17];

    if (enc == NULL || enc->buf == NULL || stream == NULL || stream->name == NULL || result == NULL)
        return WR_E_INVAL;
    cbor = enc->encoding == WR_ENCODING_CBOR;
    reserve = cbor ? CBOR_RESERVE_GROUP : RESERVE_GROUP;
    if (enc->cap < reserve || enc->len > enc->cap - reserve)
        return WR_E_TOOBIG;
    same_group = enc->open_stream == (int)result->stream && enc->open_size_s == result->size_s;
    w.buf = enc->buf;
    w.limit = enc->cap - reserve;
    w.len = enc->len;
    w.overflow = false;
    wr_encode_idempotency_key(enc->agent_id, stream->name, result, id);
    if (cbor) {
        if (!same_group)
            wr_encode__cbor_group(&w, enc->open_stream >= 0, stream->name, result->size_s);
        wr_encode__cbor_result(&w, id, stream, result);
    } else {
        if (same_group) {
            put_lit(&w, ",");
        } else {
            if (enc->open_stream >= 0)
                put_lit(&w, "]},");
            put_lit(&w, "{\"stream\":");
            put_str(&w, stream->name, SIZE_MAX);
            put_lit(&w, ",\"size_s\":");
            put_u64(&w, result->size_s);
            put_lit(&w, ",\"results\":[");
        }
        put_result(&w, id, stream, result);
    }
    if (w.overflow) {
        /* Bytes past len were scratch; put the terminator back where it was. */
        if (!cbor)
            enc->buf[enc->len] = '\0';
        return WR_E_TOOBIG;
    }
    enc->len = w.len;
    if (!cbor)
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
    if (enc->encoding == WR_ENCODING_CBOR) {
        tail = enc->open_stream >= 0 ? WR_ENCODE__CBOR_CLOSE_GROUP : WR_ENCODE__CBOR_CLOSE_NO_GROUP;
        n = strlen(tail);
        if (enc->len > enc->cap || enc->cap - enc->len < n)
            return WR_E_TOOBIG;
        memcpy(enc->buf + enc->len, tail, n);
        enc->len += n;
        /* A second finish must not append again. */
        enc->cap = enc->len;
        *len_out = enc->len;
        return WR_OK;
    }
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
