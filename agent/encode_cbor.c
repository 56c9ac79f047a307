/*
 * CBOR (RFC 8949) form of the upstream message: the same maps and member
 * names as the JSON form, written by hand. A hand-written writer is a few
 * dozen lines for the handful of item types we need, writes into the
 * caller's buffer like the JSON writer and allocates nothing; libcbor's
 * builder would allocate a tree per message (docs/decisions.md).
 *
 * Choices (docs/upstream-schema.md, "CBOR"): the message starts with the
 * self-described CBOR tag 55799 (d9 d9 f7), so its first byte tells it from
 * JSON ('{') and from a zstd frame (28); maps whose size is known are
 * definite, the "groups" and "results" arrays are indefinite (9f .. ff) so
 * that results can be appended without going back; numbers use the
 * preferred serialization (integers for whole values, else the shortest
 * float that holds the value exactly).
 */
#include "encode_internal.h"

#include <math.h>
#include <string.h>

#include "wr_error.h"

enum {
    MT_UINT = 0,
    MT_NEGINT = 1,
    MT_BYTES = 2,
    MT_TEXT = 3,
    MT_ARRAY = 4,
    MT_MAP = 5,
    MT_TAG = 6,
};

#define CBOR_INDEFINITE_ARRAY 0x9f
#define CBOR_NULL 0xf6
#define CBOR_FLOAT16 0xf9
#define CBOR_FLOAT32 0xfa
#define CBOR_FLOAT64 0xfb
#define SELF_DESCRIBED_TAG 55799u

/* 2^53: every integer up to this magnitude is exact in a double. */
#define EXACT_INT_MAX 9007199254740992.0

static void put_byte(struct wr_encode__writer *w, uint8_t b)
{
    wr_encode__put_raw(w, &b, 1);
}

static void put_be(struct wr_encode__writer *w, uint64_t v, unsigned bytes)
{
    uint8_t out[8];

    for (unsigned i = 0; i < bytes; i++)
        out[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    wr_encode__put_raw(w, out, bytes);
}

/* The head of an item: major type and argument, in the shortest form. */
static void put_head(struct wr_encode__writer *w, unsigned major, uint64_t arg)
{
    uint8_t mt = (uint8_t)(major << 5);

    if (arg < 24) {
        put_byte(w, (uint8_t)(mt | arg));
    } else if (arg <= UINT8_MAX) {
        put_byte(w, (uint8_t)(mt | 24));
        put_be(w, arg, 1);
    } else if (arg <= UINT16_MAX) {
        put_byte(w, (uint8_t)(mt | 25));
        put_be(w, arg, 2);
    } else if (arg <= UINT32_MAX) {
        put_byte(w, (uint8_t)(mt | 26));
        put_be(w, arg, 4);
    } else {
        put_byte(w, (uint8_t)(mt | 27));
        put_be(w, arg, 8);
    }
}

static void put_text(struct wr_encode__writer *w, const char *s, size_t n)
{
    put_head(w, MT_TEXT, n);
    wr_encode__put_raw(w, s, n);
}

static void put_lit(struct wr_encode__writer *w, const char *s)
{
    put_text(w, s, strlen(s));
}

static void put_u64(struct wr_encode__writer *w, uint64_t v)
{
    put_head(w, MT_UINT, v);
}

static void put_i64(struct wr_encode__writer *w, int64_t v)
{
    if (v >= 0)
        put_head(w, MT_UINT, (uint64_t)v);
    else
        put_head(w, MT_NEGINT, (uint64_t)(-(v + 1))); /* -1 - v, without overflow */
}

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing past U+10FFFF. */
static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        i += len;
    }
    return true;
}

/*
 * Keys come from topics and payloads and are not validated; CBOR text must
 * be UTF-8, so a key that is not goes as a byte string with the same bytes.
 */
static void put_key_string(struct wr_encode__writer *w, const char *s, size_t max_len)
{
    const char *nul = memchr(s, '\0', max_len);
    size_t n = nul != NULL ? (size_t)(nul - s) : max_len;

    if (valid_utf8((const unsigned char *)s, n)) {
        put_text(w, s, n);
    } else {
        put_head(w, MT_BYTES, n);
        wr_encode__put_raw(w, s, n);
    }
}

/* The binary16 bits of v when v (already exact as a float) is exact as a half. */
static bool half_of(float f, uint16_t *out)
{
    uint32_t bits;
    uint32_t sign;
    int exp;
    uint32_t mant;

    memcpy(&bits, &f, sizeof(bits));
    sign = (bits >> 16) & 0x8000u;
    exp = (int)((bits >> 23) & 0xffu) - 127;
    mant = bits & 0x7fffffu;
    if (exp >= -14 && exp <= 15) {
        if ((mant & 0x1fffu) != 0)
            return false;
        *out = (uint16_t)(sign | (uint32_t)(exp + 15) << 10 | mant >> 13);
        return true;
    }
    if (exp >= -24 && exp < -14) {
        /* Subnormal half: the value is m * 2^-24 with m < 1024. */
        uint32_t full = 0x800000u | mant;
        unsigned shift = (unsigned)(-(exp + 1));

        if ((full & ((1u << shift) - 1u)) != 0)
            return false;
        *out = (uint16_t)(sign | full >> shift);
        return true;
    }
    return false;
}

static void put_number(struct wr_encode__writer *w, double v)
{
    float f;
    uint16_t h;
    uint32_t b32;
    uint64_t b64;

    if (!isfinite(v)) {
        /* As in JSON: null. The decoder never lets a non-finite value in. */
        put_byte(w, CBOR_NULL);
        return;
    }
    if (v == 0.0 && signbit(v)) {
        put_byte(w, CBOR_FLOAT16);
        put_be(w, 0x8000u, 2);
        return;
    }
    if (fabs(v) <= EXACT_INT_MAX && trunc(v) == v) {
        if (v >= 0)
            put_head(w, MT_UINT, (uint64_t)v);
        else
            put_head(w, MT_NEGINT, (uint64_t)(-v) - 1u);
        return;
    }
    f = (float)v;
    if ((double)f == v) {
        if (half_of(f, &h)) {
            put_byte(w, CBOR_FLOAT16);
            put_be(w, h, 2);
            return;
        }
        memcpy(&b32, &f, sizeof(b32));
        put_byte(w, CBOR_FLOAT32);
        put_be(w, b32, 4);
        return;
    }
    memcpy(&b64, &v, sizeof(b64));
    put_byte(w, CBOR_FLOAT64);
    put_be(w, b64, 8);
}

static void put_field_number(struct wr_encode__writer *w, const char *name, double v)
{
    put_lit(w, name);
    put_number(w, v);
}

void wr_encode__cbor_head(struct wr_encode__writer *w, const char *agent_id, uint64_t seq,
                          int64_t sent_ms)
{
    put_head(w, MT_TAG, SELF_DESCRIBED_TAG);
    put_head(w, MT_MAP, 5);
    put_lit(w, "v");
    put_u64(w, 1);
    put_lit(w, "agent");
    put_lit(w, agent_id);
    put_lit(w, "seq");
    put_u64(w, seq);
    put_lit(w, "sent_ms");
    put_i64(w, sent_ms);
    put_lit(w, "groups");
    put_byte(w, CBOR_INDEFINITE_ARRAY);
}

void wr_encode__cbor_group(struct wr_encode__writer *w, bool close_previous,
                           const char *stream_name, uint32_t size_s)
{
    if (close_previous)
        put_byte(w, 0xff); /* ends the previous group's results; its map is then complete */
    put_head(w, MT_MAP, 3);
    put_lit(w, "stream");
    put_lit(w, stream_name);
    put_lit(w, "size_s");
    put_u64(w, size_s);
    put_lit(w, "results");
    put_byte(w, CBOR_INDEFINITE_ARRAY);
}

static unsigned popcount(unsigned v)
{
    unsigned n = 0;

    for (; v != 0; v &= v - 1)
        n++;
    return n;
}

void wr_encode__cbor_result(struct wr_encode__writer *w, const char id[17],
                            const struct wr_encode_stream *st, const struct wr_result *r)
{
    const struct wr_agg *a = &r->agg;
    unsigned aggs = st->aggregates & ~(unsigned)WR_AGG_COUNT & WR_AGG_ALL;
    bool quantiles = wr_encode__has_quantiles(st, r);
    bool sketch = wr_encode__has_sketch(st, r);
    uint64_t members = 5u + popcount(aggs) + (quantiles ? 1u : 0u) + (sketch ? 1u : 0u);

    put_head(w, MT_MAP, members);
    put_lit(w, "id");
    put_text(w, id, 16);
    put_lit(w, "key");
    put_key_string(w, r->key, sizeof(r->key));
    put_lit(w, "start");
    put_i64(w, r->start_ms / 1000);
    put_lit(w, "rev");
    put_u64(w, r->revision);
    put_lit(w, "count");
    put_u64(w, a->count);
    /* Same order as JSON. */
    if (aggs & WR_AGG_SUM)
        put_field_number(w, "sum", a->sum);
    if (aggs & WR_AGG_MIN)
        put_field_number(w, "min", a->min);
    if (aggs & WR_AGG_MAX)
        put_field_number(w, "max", a->max);
    if (aggs & WR_AGG_MEAN)
        put_field_number(w, "mean", a->mean);
    if (aggs & WR_AGG_STDDEV)
        put_field_number(w, "stddev", wr_agg_stddev(a));
    if (aggs & WR_AGG_FIRST)
        put_field_number(w, "first", a->first);
    if (aggs & WR_AGG_LAST)
        put_field_number(w, "last", a->last);
    if (quantiles) {
        put_lit(w, "quantiles");
        put_head(w, MT_MAP, st->n_quantiles);
        for (size_t i = 0; i < st->n_quantiles; i++) {
            char qtext[WR_ENCODE__NUM_MAX];
            size_t qn = wr_encode__format_double(st->quantiles[i], qtext);
            double v = r->quantiles[i];

            put_text(w, qtext, qn);
            put_number(w, v);
        }
    }
    if (sketch) {
        put_lit(w, "sketch");
        put_head(w, MT_BYTES, r->sketch_len);
        wr_encode__put_raw(w, r->sketch, r->sketch_len);
    }
}
