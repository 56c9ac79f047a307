#include "sketch.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "plat_mem.h"
#include "wr_error.h"

/*
 * One store is a dense run of bucket counts: counts[k] belongs to index
 * lo + k for k < n. Invariants: n <= max_buckets, n <= cap, and when n > 0
 * counts[0] and counts[n - 1] are non-zero (so lo and lo + n - 1 are the
 * lowest and highest occupied indices). The array grows in chunks, never
 * past max_buckets entries.
 */
struct store {
    int32_t lo;
    uint32_t n;
    uint32_t cap;
    uint64_t *counts;
};

struct wr_sketch {
    double accuracy;
    double gamma;
    double ln_gamma;
    double inv_ln_gamma;
    double ln_scale; /* ln(2 / (gamma + 1)) */
    uint32_t max_buckets;
    uint64_t zero;
    uint64_t total;
    struct store pos;
    struct store neg;
};

#define GROW_MIN 8u

int wr_sketch_create(double accuracy, uint32_t max_buckets, struct wr_sketch **out)
{
    struct wr_sketch *sk;

    if (out == NULL)
        return WR_E_INVAL;
    *out = NULL;
    if (!(accuracy >= WR_SKETCH_ACCURACY_MIN && accuracy <= WR_SKETCH_ACCURACY_MAX) ||
        max_buckets < WR_SKETCH_MAX_BUCKETS_MIN || max_buckets > WR_SKETCH_MAX_BUCKETS_MAX)
        return WR_E_INVAL;
    sk = plat_calloc(1, sizeof(*sk));
    if (sk == NULL)
        return WR_E_NOMEM;
    sk->accuracy = accuracy;
    sk->gamma = (1.0 + accuracy) / (1.0 - accuracy);
    sk->ln_gamma = log1p(2.0 * accuracy / (1.0 - accuracy));
    sk->inv_ln_gamma = 1.0 / sk->ln_gamma;
    sk->ln_scale = log(2.0 / (sk->gamma + 1.0));
    sk->max_buckets = max_buckets;
    *out = sk;
    return WR_OK;
}

void wr_sketch_destroy(struct wr_sketch *sk)
{
    if (sk == NULL)
        return;
    plat_free(sk->pos.counts);
    plat_free(sk->neg.counts);
    plat_free(sk);
}

void wr_sketch_clear(struct wr_sketch *sk)
{
    if (sk == NULL)
        return;
    sk->zero = 0;
    sk->total = 0;
    sk->pos.n = 0;
    sk->neg.n = 0;
}

/* Grow the array to hold at least width buckets; contents are kept. */
static int store_reserve(struct store *s, uint32_t width, uint32_t max_buckets)
{
    uint64_t *grown;
    uint32_t cap;

    assert(width <= max_buckets);
    if (width <= s->cap)
        return WR_OK;
    cap = s->cap < GROW_MIN ? GROW_MIN : s->cap;
    while (cap < width)
        cap = cap > max_buckets / 2 ? max_buckets : cap * 2;
    if (cap > max_buckets)
        cap = max_buckets;
    grown = plat_realloc(s->counts, (size_t)cap * sizeof(*grown));
    if (grown == NULL)
        return WR_E_NOMEM;
    s->counts = grown;
    s->cap = cap;
    return WR_OK;
}

/*
 * The range [lo, hi] the store takes when it must also hold [a, b]: the
 * union, cut at the bottom to max_buckets indices below the highest one.
 */
static void target_range(const struct store *s, int32_t a, int32_t b, uint32_t max_buckets,
                         int32_t *lo_out, int32_t *hi_out)
{
    int64_t lo = a;
    int64_t hi = b;
    int64_t floor_lo;

    if (s->n > 0) {
        if (s->lo < lo)
            lo = s->lo;
        if ((int64_t)s->lo + s->n - 1 > hi)
            hi = (int64_t)s->lo + s->n - 1;
    }
    floor_lo = hi - (int64_t)max_buckets + 1;
    if (lo < floor_lo)
        lo = floor_lo;
    *lo_out = (int32_t)lo;
    *hi_out = (int32_t)hi;
}

/*
 * Move the store onto [lo, hi] (from target_range, capacity reserved):
 * buckets below lo are folded into lo, new buckets are zero. Allocates
 * nothing.
 */
static void store_rerange(struct store *s, int32_t lo, int32_t hi)
{
    uint32_t width = (uint32_t)((int64_t)hi - lo + 1);

    assert(width <= s->cap);
    if (s->n == 0) {
        memset(s->counts, 0, (size_t)width * sizeof(*s->counts));
    } else if (lo <= s->lo) {
        uint32_t shift = (uint32_t)((int64_t)s->lo - lo);

        memmove(s->counts + shift, s->counts, (size_t)s->n * sizeof(*s->counts));
        memset(s->counts, 0, (size_t)shift * sizeof(*s->counts));
        memset(s->counts + shift + s->n, 0, (size_t)(width - shift - s->n) * sizeof(*s->counts));
    } else {
        /* Collapse: everything below lo goes into lo. */
        uint32_t drop = (uint32_t)((int64_t)lo - s->lo);
        uint64_t folded = 0;
        uint32_t kept;

        if (drop >= s->n) {
            for (uint32_t k = 0; k < s->n; k++)
                folded += s->counts[k];
            memset(s->counts, 0, (size_t)width * sizeof(*s->counts));
            s->counts[0] = folded;
        } else {
            for (uint32_t k = 0; k < drop; k++)
                folded += s->counts[k];
            kept = s->n - drop;
            memmove(s->counts, s->counts + drop, (size_t)kept * sizeof(*s->counts));
            s->counts[0] += folded;
            memset(s->counts + kept, 0, (size_t)(width - kept) * sizeof(*s->counts));
        }
    }
    s->lo = lo;
    s->n = width;
}

/* Index lo of the store's range after it took in [a, b]; capacity must be reserved. */
static int32_t store_cover(struct store *s, int32_t a, int32_t b, uint32_t max_buckets)
{
    int32_t lo;
    int32_t hi;

    target_range(s, a, b, max_buckets, &lo, &hi);
    if (s->n == 0 || lo != s->lo || (int64_t)hi != (int64_t)s->lo + s->n - 1)
        store_rerange(s, lo, hi);
    return lo;
}

static uint32_t target_width(const struct store *s, int32_t a, int32_t b, uint32_t max_buckets)
{
    int32_t lo;
    int32_t hi;

    target_range(s, a, b, max_buckets, &lo, &hi);
    return (uint32_t)((int64_t)hi - lo + 1);
}

static int32_t index_of(const struct wr_sketch *sk, double magnitude)
{
    return (int32_t)ceil(log(magnitude) * sk->inv_ln_gamma);
}

int wr_sketch_add(struct wr_sketch *sk, double value)
{
    struct store *s;
    double m;
    int32_t i;
    int32_t lo;
    int rc;

    if (sk == NULL || !isfinite(value))
        return WR_E_INVAL;
    m = fabs(value);
    if (m < WR_SKETCH_MIN_INDEXABLE) {
        sk->zero++;
        sk->total++;
        return WR_OK;
    }
    s = value > 0 ? &sk->pos : &sk->neg;
    i = index_of(sk, m);
    if (s->n > 0 && i >= s->lo && (int64_t)i <= (int64_t)s->lo + s->n - 1) {
        s->counts[i - s->lo]++;
        sk->total++;
        return WR_OK;
    }
    rc = store_reserve(s, target_width(s, i, i, sk->max_buckets), sk->max_buckets);
    if (rc != WR_OK)
        return rc;
    lo = store_cover(s, i, i, sk->max_buckets);
    s->counts[(i < lo ? lo : i) - lo]++;
    sk->total++;
    return WR_OK;
}

static bool same_params(const struct wr_sketch *a, const struct wr_sketch *b)
{
    return a->accuracy == b->accuracy && a->max_buckets == b->max_buckets;
}

static void store_merge(struct store *dst, const struct store *src, uint32_t max_buckets)
{
    int32_t lo;

    if (src->n == 0)
        return;
    lo = store_cover(dst, src->lo, (int32_t)((int64_t)src->lo + src->n - 1), max_buckets);
    for (uint32_t k = 0; k < src->n; k++) {
        int32_t idx = (int32_t)((int64_t)src->lo + k);

        dst->counts[(idx < lo ? lo : idx) - lo] += src->counts[k];
    }
}

int wr_sketch_merge(struct wr_sketch *dst, const struct wr_sketch *src)
{
    int rc;

    if (dst == NULL || src == NULL || !same_params(dst, src))
        return WR_E_INVAL;
    if (src->total == 0)
        return WR_OK;
    if (dst->total > UINT64_MAX - src->total)
        return WR_E_RANGE;
    /* Reserve both stores first so that a failure leaves dst as it was. */
    if (src->pos.n > 0) {
        rc = store_reserve(&dst->pos,
                           target_width(&dst->pos, src->pos.lo,
                                        (int32_t)((int64_t)src->pos.lo + src->pos.n - 1),
                                        dst->max_buckets),
                           dst->max_buckets);
        if (rc != WR_OK)
            return rc;
    }
    if (src->neg.n > 0) {
        rc = store_reserve(&dst->neg,
                           target_width(&dst->neg, src->neg.lo,
                                        (int32_t)((int64_t)src->neg.lo + src->neg.n - 1),
                                        dst->max_buckets),
                           dst->max_buckets);
        if (rc != WR_OK)
            return rc;
    }
    store_merge(&dst->pos, &src->pos, dst->max_buckets);
    store_merge(&dst->neg, &src->neg, dst->max_buckets);
    dst->zero += src->zero;
    dst->total += src->total;
    return WR_OK;
}

int wr_sketch_copy(const struct wr_sketch *src, struct wr_sketch **out)
{
    struct wr_sketch *sk = NULL;
    int rc;

    if (src == NULL || out == NULL)
        return WR_E_INVAL;
    *out = NULL;
    rc = wr_sketch_create(src->accuracy, src->max_buckets, &sk);
    if (rc != WR_OK)
        return rc;
    rc = wr_sketch_merge(sk, src);
    if (rc != WR_OK) {
        wr_sketch_destroy(sk);
        return rc;
    }
    *out = sk;
    return WR_OK;
}

uint64_t wr_sketch_count(const struct wr_sketch *sk)
{
    return sk != NULL ? sk->total : 0;
}

/*
 * The representative of bucket i, 2 * gamma^i / (gamma + 1): within accuracy
 * of every magnitude in (gamma^(i-1), gamma^i]. Computed in the log domain so
 * that the top bucket does not overflow; a representative past DBL_MAX is cut
 * to DBL_MAX, which only moves it closer to the values it stands for.
 */
static double bucket_value(const struct wr_sketch *sk, int32_t i)
{
    double v = exp((double)i * sk->ln_gamma + sk->ln_scale);

    return isinf(v) ? DBL_MAX : v;
}

int wr_sketch_quantile(const struct wr_sketch *sk, double q, double *out)
{
    uint64_t rank;
    uint64_t seen = 0;

    if (sk == NULL || out == NULL || !(q >= 0.0 && q <= 1.0))
        return WR_E_INVAL;
    if (sk->total == 0)
        return WR_E_EMPTY;
    /*
     * Near 2^64 the double nearest total - 1 can be 2^64 itself, which no
     * uint64_t holds: clamp before converting, not after.
     */
    {
        double r = floor(q * (double)(sk->total - 1));

        rank = r >= (double)(sk->total - 1) ? sk->total - 1 : (uint64_t)r;
    }
    /* Ascending order: most negative first (highest negative index), zero, then positives. */
    for (uint32_t k = sk->neg.n; k-- > 0;) {
        seen += sk->neg.counts[k];
        if (seen > rank) {
            *out = -bucket_value(sk, (int32_t)((int64_t)sk->neg.lo + k));
            return WR_OK;
        }
    }
    seen += sk->zero;
    if (seen > rank) {
        *out = 0.0;
        return WR_OK;
    }
    for (uint32_t k = 0; k < sk->pos.n; k++) {
        seen += sk->pos.counts[k];
        if (seen > rank) {
            *out = bucket_value(sk, (int32_t)((int64_t)sk->pos.lo + k));
            return WR_OK;
        }
    }
    /* Unreachable while total equals the sum of the buckets. */
    return WR_E_CORRUPT;
}

double wr_sketch_accuracy(const struct wr_sketch *sk)
{
    return sk != NULL ? sk->accuracy : 0.0;
}

uint32_t wr_sketch_max_buckets(const struct wr_sketch *sk)
{
    return sk != NULL ? sk->max_buckets : 0;
}

size_t wr_sketch_memory_bytes(const struct wr_sketch *sk)
{
    if (sk == NULL)
        return 0;
    return sizeof(*sk) + ((size_t)sk->pos.cap + sk->neg.cap) * sizeof(uint64_t);
}

/*
 * A view needs no trimming: store_rerange leaves a zero edge only inside
 * one add or merge, which then fills it, so the invariant holds here.
 */
static void fill_view(const struct store *s, struct wr_sketch_store_view *v)
{
    if (v == NULL)
        return;
    v->lo = s->n > 0 ? s->lo : 0;
    v->n = s->n;
    v->counts = s->n > 0 ? s->counts : NULL;
}

int wr_sketch_view(const struct wr_sketch *sk, struct wr_sketch_store_view *positive,
                   struct wr_sketch_store_view *negative, uint64_t *zero_count)
{
    if (sk == NULL)
        return WR_E_INVAL;
    fill_view(&sk->pos, positive);
    fill_view(&sk->neg, negative);
    if (zero_count != NULL)
        *zero_count = sk->zero;
    return WR_OK;
}

/* ---- binary form ------------------------------------------------------------------------- */

static uint64_t zigzag(int32_t v)
{
    return v < 0 ? ((uint64_t)(-(int64_t)v) << 1) - 1 : (uint64_t)v << 1;
}

struct wbuf {
    uint8_t *buf;
    size_t cap;
    size_t len;
};

static void put_byte(struct wbuf *w, uint8_t b)
{
    if (w->len < w->cap)
        w->buf[w->len] = b;
    w->len++;
}

static void put_varint(struct wbuf *w, uint64_t v)
{
    while (v >= 0x80) {
        put_byte(w, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    put_byte(w, (uint8_t)v);
}

static void put_store(struct wbuf *w, const struct store *s)
{
    put_varint(w, s->n);
    if (s->n == 0)
        return;
    put_varint(w, zigzag(s->lo));
    for (uint32_t k = 0; k < s->n; k++)
        put_varint(w, s->counts[k]);
}

static void write_all(const struct wr_sketch *sk, struct wbuf *w)
{
    uint64_t bits;

    put_byte(w, WR_SKETCH_FORMAT_V1);
    memcpy(&bits, &sk->accuracy, sizeof(bits));
    for (int i = 0; i < 8; i++)
        put_byte(w, (uint8_t)(bits >> (8 * i)));
    put_varint(w, sk->max_buckets);
    put_varint(w, sk->zero);
    put_store(w, &sk->pos);
    put_store(w, &sk->neg);
}

size_t wr_sketch_serialized_size(const struct wr_sketch *sk)
{
    struct wbuf w = {NULL, 0, 0};

    if (sk == NULL)
        return 0;
    write_all(sk, &w);
    return w.len;
}

int wr_sketch_serialize(const struct wr_sketch *sk, uint8_t *buf, size_t cap, size_t *len_out)
{
    struct wbuf w;

    if (sk == NULL || len_out == NULL || (buf == NULL && cap > 0))
        return WR_E_INVAL;
    w.buf = buf;
    w.cap = cap;
    w.len = 0;
    write_all(sk, &w);
    *len_out = w.len;
    return w.len <= cap ? WR_OK : WR_E_TOOBIG;
}

struct rbuf {
    const uint8_t *p;
    size_t len;
    size_t pos;
};

static int get_varint(struct rbuf *r, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b;

        if (r->pos >= r->len)
            return WR_E_PARSE;
        b = r->p[r->pos++];
        /* The tenth byte may only carry the top bit of a uint64. */
        if (shift == 63 && (b & 0x7e) != 0)
            return WR_E_PARSE;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            /* Reject padded encodings so that one sketch has one byte form. */
            if (b == 0 && shift > 0)
                return WR_E_PARSE;
            *out = v;
            return WR_OK;
        }
    }
    return WR_E_PARSE;
}

static int get_store(struct rbuf *r, struct wr_sketch *sk, struct store *s)
{
    uint64_t n;
    uint64_t zz;
    int64_t lo;
    int rc;

    rc = get_varint(r, &n);
    if (rc != WR_OK)
        return rc;
    if (n == 0)
        return WR_OK;
    if (n > sk->max_buckets)
        return WR_E_CORRUPT;
    /* Every count takes at least one byte: refuse before allocating for a short input. */
    if (n > r->len - r->pos)
        return WR_E_PARSE;
    rc = get_varint(r, &zz);
    if (rc != WR_OK)
        return rc;
    lo = (zz & 1) ? -(int64_t)(zz >> 1) - 1 : (int64_t)(zz >> 1);
    if (zz > UINT32_MAX || lo + (int64_t)n - 1 > INT32_MAX)
        return WR_E_CORRUPT;
    rc = store_reserve(s, (uint32_t)n, sk->max_buckets);
    if (rc != WR_OK)
        return rc;
    for (uint64_t k = 0; k < n; k++) {
        uint64_t c;

        rc = get_varint(r, &c);
        if (rc != WR_OK)
            return rc;
        if ((k == 0 || k == n - 1) && c == 0)
            return WR_E_CORRUPT;
        if (sk->total > UINT64_MAX - c)
            return WR_E_CORRUPT;
        sk->total += c;
        s->counts[k] = c;
    }
    s->lo = (int32_t)lo;
    s->n = (uint32_t)n;
    return WR_OK;
}

int wr_sketch_deserialize(const uint8_t *buf, size_t len, struct wr_sketch **out)
{
    struct rbuf r;
    struct wr_sketch *sk = NULL;
    uint64_t bits = 0;
    uint64_t max_buckets;
    double accuracy;
    int rc;

    if (out == NULL)
        return WR_E_INVAL;
    *out = NULL;
    if (buf == NULL && len > 0)
        return WR_E_INVAL;
    if (len < 9)
        return WR_E_PARSE;
    if (buf[0] != WR_SKETCH_FORMAT_V1)
        return WR_E_CORRUPT;
    for (int i = 0; i < 8; i++)
        bits |= (uint64_t)buf[1 + i] << (8 * i);
    memcpy(&accuracy, &bits, sizeof(accuracy));
    r.p = buf;
    r.len = len;
    r.pos = 9;
    rc = get_varint(&r, &max_buckets);
    if (rc != WR_OK)
        return rc;
    if (!(accuracy >= WR_SKETCH_ACCURACY_MIN && accuracy <= WR_SKETCH_ACCURACY_MAX) ||
        max_buckets < WR_SKETCH_MAX_BUCKETS_MIN || max_buckets > WR_SKETCH_MAX_BUCKETS_MAX)
        return WR_E_CORRUPT;
    rc = wr_sketch_create(accuracy, (uint32_t)max_buckets, &sk);
    if (rc != WR_OK)
        return rc;
    rc = get_varint(&r, &sk->zero);
    if (rc != WR_OK)
        goto fail;
    sk->total = sk->zero;
    rc = get_store(&r, sk, &sk->pos);
    if (rc != WR_OK)
        goto fail;
    rc = get_store(&r, sk, &sk->neg);
    if (rc != WR_OK)
        goto fail;
    if (r.pos != r.len) {
        rc = WR_E_PARSE;
        goto fail;
    }
    *out = sk;
    return WR_OK;
fail:
    wr_sketch_destroy(sk);
    return rc;
}
