/*
 * Window checkpoints as sets: one row per period (stream, window start) and
 * checkpoint, holding the compact records of the windows written. A record
 * keeps only the aggregate state the stream's aggregates need, so a
 * checkpoint's bytes are close to the state that changed; a set of a whole
 * period is one BLOB in SQLite's overflow pages, filled to the last byte,
 * instead of rows spread over half-full B-tree leaves (schema version 3,
 * docs/storage.md "Compact checkpoints").
 *
 * Record: u8 key length, key, varint revision, u8 flags (bit 0 closed, bit 1
 * processing time), u8 fields (REC_*), varint count, then the doubles of the
 * fields present (sum, min, max, mean, m2, first, last; 8 bytes
 * little-endian each), first_ms and last_ms as zig-zag varints relative to
 * the window start, and the sketch (varint length, its binary form). A set
 * is a format byte (SET_FORMAT) and n records.
 */
#include "store.h"

#include <math.h>
#include <string.h>

#include "plat_mem.h"
#include "sketch.h"
#include "store_internal.h"
#include "wr_error.h"

#define MOD WR_STORE__MOD
#define SET_FORMAT 1u

#define REC_SUM 0x01u
#define REC_MIN 0x02u
#define REC_MAX 0x04u
#define REC_MEAN 0x08u
#define REC_M2 0x10u
#define REC_FIRST 0x20u
#define REC_LAST 0x40u
#define REC_SKETCH 0x80u
#define REC_ALL_VALUES 0x7fu

#define REC_FLAG_CLOSED 1u
#define REC_FLAG_PROCESSING 2u

/* ---- codec --------------------------------------------------------------------------------- */

static size_t varint_size(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t put_varint(unsigned char *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

static bool get_varint(const unsigned char *p, size_t len, size_t *at, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        unsigned char b;

        if (*at >= len)
            return false;
        b = p[(*at)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* Times relative to the window start, in two's complement so that any int64 round-trips. */
static uint64_t zigzag(int64_t t, int64_t base)
{
    uint64_t d = (uint64_t)t - (uint64_t)base;

    return (d << 1) ^ ((d >> 63) != 0 ? UINT64_MAX : 0);
}

static int64_t unzigzag(uint64_t z, int64_t base)
{
    uint64_t d = (z >> 1) ^ ((z & 1) != 0 ? UINT64_MAX : 0);

    return (int64_t)((uint64_t)base + d);
}

static void put_double(unsigned char *p, double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(u >> (8 * i));
}

static double get_double(const unsigned char *p)
{
    uint64_t u = 0;
    double d;

    for (int i = 7; i >= 0; i--)
        u = (u << 8) | p[i];
    memcpy(&d, &u, sizeof(d));
    return d;
}

static unsigned popcount7(unsigned fields)
{
    unsigned n = 0;

    for (unsigned b = REC_SUM; b <= REC_LAST; b <<= 1)
        n += (fields & b) != 0 ? 1u : 0u;
    return n;
}

unsigned wr_store__fields_for(unsigned aggregates, bool sketch)
{
    unsigned f = 0;

    if (aggregates & WR_AGG_SUM)
        f |= REC_SUM;
    if (aggregates & WR_AGG_MIN)
        f |= REC_MIN;
    if (aggregates & WR_AGG_MAX)
        f |= REC_MAX;
    if (aggregates & WR_AGG_MEAN)
        f |= REC_MEAN;
    if (aggregates & WR_AGG_STDDEV)
        f |= REC_MEAN | REC_M2;
    if (aggregates & WR_AGG_FIRST)
        f |= REC_FIRST;
    if (aggregates & WR_AGG_LAST)
        f |= REC_LAST;
    /* Quantiles are clamped to [min, max] (wr_agg_quantile). */
    if (sketch)
        f |= REC_SKETCH | REC_MIN | REC_MAX;
    return f;
}

static unsigned record_fields(const struct wr_store *st, uint16_t stream, const struct wr_agg *agg,
                              bool all_fields)
{
    bool sketch = agg->sketch != NULL;

    if (all_fields)
        return REC_ALL_VALUES | (sketch ? REC_SKETCH : 0u);
    return wr_store__fields_for(st->cfg_aggs != NULL ? st->cfg_aggs[stream] : WR_AGG_ALL, sketch);
}

/* The sketch's serialized length: agg->sketch's, or the bytes a result carries. */
static size_t sketch_bytes(const struct wr_store__sketch_src *sk)
{
    return sk->sketch != NULL ? wr_sketch_serialized_size(sk->sketch) : sk->raw_len;
}

size_t wr_store__record_size(const char *key, size_t key_len, int64_t start_ms, uint32_t revision,
                             const struct wr_agg *agg, const struct wr_store__sketch_src *sk,
                             unsigned fields)
{
    size_t n = 1 + key_len + varint_size(revision) + 2 + varint_size(agg->count);

    (void)key;
    n += 8u * popcount7(fields);
    if (fields & REC_FIRST)
        n += varint_size(zigzag(agg->first_ms, start_ms));
    if (fields & REC_LAST)
        n += varint_size(zigzag(agg->last_ms, start_ms));
    if (fields & REC_SKETCH) {
        size_t b = sketch_bytes(sk);

        n += varint_size(b) + b;
    }
    return n;
}

size_t wr_store__record_encode(const char *key, size_t key_len, int64_t start_ms, uint32_t revision,
                               unsigned flags, const struct wr_agg *agg,
                               const struct wr_store__sketch_src *sk, unsigned fields,
                               unsigned char *out, size_t cap)
{
    size_t need = wr_store__record_size(key, key_len, start_ms, revision, agg, sk, fields);
    size_t at = 0;
    const double values[7] = {agg->sum, agg->min,   agg->max, agg->mean,
                              agg->m2,  agg->first, agg->last};

    if (key_len >= WR_KEY_MAX || need > cap)
        return 0;
    out[at++] = (unsigned char)key_len;
    memcpy(out + at, key, key_len);
    at += key_len;
    at += put_varint(out + at, revision);
    out[at++] = (unsigned char)flags;
    out[at++] = (unsigned char)fields;
    at += put_varint(out + at, agg->count);
    for (unsigned i = 0; i < 7; i++) {
        if (fields & (1u << i)) {
            put_double(out + at, values[i]);
            at += 8;
        }
    }
    if (fields & REC_FIRST)
        at += put_varint(out + at, zigzag(agg->first_ms, start_ms));
    if (fields & REC_LAST)
        at += put_varint(out + at, zigzag(agg->last_ms, start_ms));
    if (fields & REC_SKETCH) {
        size_t b = sketch_bytes(sk);
        size_t got = 0;

        at += put_varint(out + at, b);
        if (sk->sketch != NULL) {
            if (wr_sketch_serialize(sk->sketch, out + at, cap - at, &got) != WR_OK || got != b)
                return 0;
        } else if (b > 0) {
            memcpy(out + at, sk->raw, b);
        }
        at += b;
    }
    return at;
}

/*
 * Decode one record at *at into state (stream not set). Fields the record
 * does not hold get what a fresh aggregate has, or what the others imply
 * (mean from sum and count, and back). state->agg.sketch is a new sketch
 * (the caller destroys it) or NULL.
 */
static int decode_record(const unsigned char *p, size_t len, size_t *at, int64_t start_ms,
                         struct wr_window_state *state)
{
    double values[7];
    uint64_t revision;
    uint64_t count;
    uint64_t z;
    unsigned flags;
    unsigned fields;
    size_t key_len;

    memset(state, 0, sizeof(*state));
    if (*at >= len)
        return WR_E_CORRUPT;
    key_len = p[(*at)++];
    if (key_len >= WR_KEY_MAX || len - *at < key_len)
        return WR_E_CORRUPT;
    memcpy(state->key, p + *at, key_len);
    *at += key_len;
    if (!get_varint(p, len, at, &revision) || revision > UINT32_MAX || len - *at < 2)
        return WR_E_CORRUPT;
    flags = p[(*at)++];
    fields = p[(*at)++];
    if (!get_varint(p, len, at, &count) || count == 0 || len - *at < 8u * popcount7(fields))
        return WR_E_CORRUPT;
    wr_agg_init(&state->agg);
    for (unsigned i = 0; i < 7; i++) {
        values[i] = NAN;
        if (fields & (1u << i)) {
            values[i] = get_double(p + *at);
            *at += 8;
        }
    }
    state->start_ms = start_ms;
    state->revision = (uint32_t)revision;
    state->closed = (flags & REC_FLAG_CLOSED) != 0;
    state->processing_time = (flags & REC_FLAG_PROCESSING) != 0;
    state->agg.count = count;
    if (fields & REC_SUM)
        state->agg.sum = values[0];
    if (fields & REC_MIN)
        state->agg.min = values[1];
    if (fields & REC_MAX)
        state->agg.max = values[2];
    if (fields & REC_MEAN)
        state->agg.mean = values[3];
    if (fields & REC_M2)
        state->agg.m2 = values[4];
    if ((fields & REC_SUM) && !(fields & REC_MEAN))
        state->agg.mean = state->agg.sum / (double)count;
    if ((fields & REC_MEAN) && !(fields & REC_SUM))
        state->agg.sum = state->agg.mean * (double)count;
    if (fields & REC_FIRST) {
        if (!get_varint(p, len, at, &z))
            return WR_E_CORRUPT;
        state->agg.first = values[5];
        state->agg.first_ms = unzigzag(z, start_ms);
    }
    if (fields & REC_LAST) {
        if (!get_varint(p, len, at, &z))
            return WR_E_CORRUPT;
        state->agg.last = values[6];
        state->agg.last_ms = unzigzag(z, start_ms);
    }
    if (fields & REC_SKETCH) {
        uint64_t sk_len;
        int rc;

        if (!get_varint(p, len, at, &sk_len) || sk_len > len - *at)
            return WR_E_CORRUPT;
        rc = wr_sketch_deserialize(p + *at, (size_t)sk_len, &state->agg.sketch);
        if (rc != WR_OK)
            return rc == WR_E_NOMEM ? rc : WR_E_CORRUPT;
        *at += (size_t)sk_len;
    }
    return WR_OK;
}

/* ---- public record helpers ----------------------------------------------------------------- */

static bool state_ok(const struct wr_store *st, const struct wr_window_state *state,
                     size_t *key_len)
{
    const char *nul;

    if (st == NULL || state == NULL || state->stream >= st->n_cfg)
        return false;
    nul = memchr(state->key, '\0', sizeof(state->key));
    if (nul == NULL)
        return false;
    *key_len = (size_t)(nul - state->key);
    return true;
}

static unsigned state_flags(const struct wr_window_state *state)
{
    return (state->closed ? REC_FLAG_CLOSED : 0u) |
           (state->processing_time ? REC_FLAG_PROCESSING : 0u);
}

size_t wr_store_window_record_size(const struct wr_store *st, const struct wr_window_state *state,
                                   bool all_fields)
{
    struct wr_store__sketch_src sk = {NULL, NULL, 0};
    size_t key_len;

    if (!state_ok(st, state, &key_len))
        return 0;
    sk.sketch = state->agg.sketch;
    return wr_store__record_size(state->key, key_len, state->start_ms, state->revision, &state->agg,
                                 &sk, record_fields(st, state->stream, &state->agg, all_fields));
}

size_t wr_store_window_record_encode(const struct wr_store *st, const struct wr_window_state *state,
                                     bool all_fields, unsigned char *out, size_t cap)
{
    struct wr_store__sketch_src sk = {NULL, NULL, 0};
    size_t key_len;

    if (!state_ok(st, state, &key_len) || out == NULL)
        return 0;
    sk.sketch = state->agg.sketch;
    return wr_store__record_encode(
        state->key, key_len, state->start_ms, state->revision, state_flags(state), &state->agg, &sk,
        record_fields(st, state->stream, &state->agg, all_fields), out, cap);
}

/* ---- writing sets -------------------------------------------------------------------------- */

/* Step a bound statement to completion and reset it; counts the rows it changed. */
static int step_write(struct wr_store *st, sqlite3_stmt *stmt, uint64_t *changed, const char *what)
{
    int src = sqlite3_step(stmt);
    int rc = WR_OK;

    if (src == SQLITE_DONE)
        *changed += (uint64_t)sqlite3_changes(st->db);
    else
        rc = wr_store__fail(st, src, what);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

int wr_store__insert_set(struct wr_store *st, int64_t stream_db_id, int64_t start_ms, bool replace,
                         const unsigned char *records, size_t len, uint32_t n,
                         uint64_t *rows_changed)
{
    static const unsigned char format = SET_FORMAT;
    sqlite3_stmt *stmt;
    unsigned char *blob;
    int rc = WR_OK;

    if (replace) {
        stmt = st->stmt[STMT_SET_DELETE_PERIOD];
        sqlite3_bind_int64(stmt, 1, stream_db_id);
        sqlite3_bind_int64(stmt, 2, start_ms);
        rc = step_write(st, stmt, rows_changed, "replacing a window set");
        if (rc == WR_OK) {
            /* Rows of schema version 2 for the period: the set holds their windows now. */
            stmt = st->stmt[STMT_WIN_DELETE_PERIOD];
            sqlite3_bind_int64(stmt, 1, stream_db_id);
            sqlite3_bind_int64(stmt, 2, start_ms);
            rc = step_write(st, stmt, rows_changed, "replacing window checkpoints");
        }
    }
    if (rc == WR_OK)
        wr_store__periods_note_set(st, stream_db_id, start_ms, replace, n);
    if (rc != WR_OK || n == 0)
        return rc;
    /* The format byte leads the records: one contiguous BLOB, built here. */
    blob = plat_malloc(len + 1);
    if (blob == NULL)
        return WR_E_NOMEM;
    blob[0] = format;
    memcpy(blob + 1, records, len);
    stmt = st->stmt[STMT_SET_PUT];
    sqlite3_bind_int64(stmt, 1, (sqlite3_int64)st->next_set_seq);
    sqlite3_bind_int64(stmt, 2, stream_db_id);
    sqlite3_bind_int64(stmt, 3, start_ms);
    sqlite3_bind_int64(stmt, 4, (sqlite3_int64)n);
    sqlite3_bind_blob(stmt, 5, blob, (int)(len + 1), SQLITE_STATIC);
    rc = step_write(st, stmt, rows_changed, "writing a window set");
    plat_free(blob);
    if (rc == WR_OK)
        st->next_set_seq++;
    return rc;
}

int wr_store_put_window_set(struct wr_store *st, uint16_t stream, int64_t start_ms, bool replace,
                            const unsigned char *records, size_t len, uint32_t n,
                            uint64_t logical_bytes)
{
    uint64_t changed = 0;
    int rc;

    if (st == NULL || (records == NULL && len > 0) || (n > 0 && len == 0) || len > INT32_MAX - 1)
        return WR_E_INVAL;
    if (st->txn != WR_STORE__TXN_OPEN)
        return WR_E_STATE;
    if (stream >= st->n_cfg)
        return WR_E_INVAL;
    rc = wr_store__insert_set(st, st->cfg_db_id[stream], start_ms, replace, records, len, n,
                              &changed);
    if (rc == WR_OK) {
        st->pending.rows_written += changed;
        st->pending.checkpoint_logical_bytes +=
            logical_bytes + (n > 0 ? WR_STORE__SET_ROW_LOGICAL : 0);
    } else {
        st->txn = WR_STORE__TXN_FAILED;
    }
    return wr_store__finish(st, rc);
}

int wr_store_put_window(struct wr_store *st, const struct wr_window_state *state)
{
    unsigned char *rec;
    size_t need;
    size_t len;
    int rc;

    if (st == NULL || state == NULL)
        return WR_E_INVAL;
    if (st->txn != WR_STORE__TXN_OPEN)
        return WR_E_STATE;
    need = wr_store_window_record_size(st, state, false);
    if (need == 0)
        return WR_E_INVAL;
    rec = plat_malloc(need);
    if (rec == NULL)
        return WR_E_NOMEM;
    len = wr_store_window_record_encode(st, state, false, rec, need);
    rc = len == 0
             ? WR_E_INVAL
             : wr_store_put_window_set(st, state->stream, state->start_ms, false, rec, len, 1, len);
    plat_free(rec);
    return rc;
}

int wr_store_visit_window(void *store, const struct wr_window_state *state)
{
    return wr_store_put_window(store, state);
}

/* ---- closed marks -------------------------------------------------------------------------- */

/* A result carries its window's sketch serialized (r->sketch), never as a struct. */
static unsigned closed_fields(const struct wr_store *st, const struct wr_result *r)
{
    unsigned aggs = st->cfg_aggs != NULL ? st->cfg_aggs[r->stream] : WR_AGG_ALL;

    return wr_store__fields_for(aggs, r->sketch_len > 0);
}

size_t wr_store__closed_record_size(const struct wr_store *st, const struct wr_result *r,
                                    size_t key_len)
{
    struct wr_store__sketch_src sk = {NULL, r->sketch, r->sketch_len};

    return wr_store__record_size(r->key, key_len, r->start_ms, r->revision, &r->agg, &sk,
                                 closed_fields(st, r));
}

size_t wr_store__closed_record_encode(const struct wr_store *st, const struct wr_result *r,
                                      size_t key_len, unsigned char *out, size_t cap)
{
    struct wr_store__sketch_src sk = {NULL, r->sketch, r->sketch_len};

    return wr_store__record_encode(r->key, key_len, r->start_ms, r->revision, REC_FLAG_CLOSED,
                                   &r->agg, &sk, closed_fields(st, r), out, cap);
}

/* ---- restore ------------------------------------------------------------------------------- */

int wr_store__load_sets(struct wr_store *st, wr_window_visit_fn visit, void *ctx, size_t *skipped)
{
    sqlite3_stmt *stmt = st->stmt[STMT_SET_LOAD];
    int src;
    int rc = WR_OK;

    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        const struct wr_store__stream *s =
            wr_store__stream_by_db_id(st, sqlite3_column_int64(stmt, 0));
        int64_t start_ms = sqlite3_column_int64(stmt, 1);
        sqlite3_int64 n = sqlite3_column_int64(stmt, 2);
        const unsigned char *p = sqlite3_column_blob(stmt, 3);
        size_t len = (size_t)sqlite3_column_bytes(stmt, 3);
        size_t at = 1;

        if (s == NULL || s->index < 0 || p == NULL || len < 1 || p[0] != SET_FORMAT || n < 0) {
            *skipped += n > 0 ? (size_t)n : 0;
            continue;
        }
        for (sqlite3_int64 i = 0; i < n && rc == WR_OK; i++) {
            struct wr_window_state ws;
            int drc = decode_record(p, len, &at, start_ms, &ws);

            if (drc == WR_E_NOMEM) {
                rc = drc;
                break;
            }
            if (drc != WR_OK) {
                /* Records have no length of their own: the rest of this set is lost. */
                wr_sketch_destroy(ws.agg.sketch);
                *skipped += (size_t)(n - i);
                break;
            }
            ws.stream = (uint16_t)s->index;
            rc = visit(ctx, &ws);
            wr_sketch_destroy(ws.agg.sketch);
        }
        if (rc != WR_OK)
            break;
    }
    if (rc == WR_OK && src != SQLITE_DONE)
        rc = wr_store__fail(st, src, "reading window sets");
    sqlite3_reset(stmt);
    return rc;
}

/* ---- periods with stored windows ----------------------------------------------------------- */

static int period_cmp(const struct wr_store__period *p, int64_t db_id, int64_t start_ms)
{
    if (p->db_id != db_id)
        return p->db_id < db_id ? -1 : 1;
    if (p->start_ms != start_ms)
        return p->start_ms < start_ms ? -1 : 1;
    return 0;
}

/* Index of the first period not below (db_id, start_ms). */
static size_t period_lower_bound(const struct wr_store *st, int64_t db_id, int64_t start_ms)
{
    size_t lo = 0;
    size_t hi = st->n_periods;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (period_cmp(&st->periods[mid], db_id, start_ms) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Remember a period; without memory, the next lookup reads the file again. */
static void period_add(struct wr_store *st, int64_t db_id, int64_t start_ms)
{
    size_t i = period_lower_bound(st, db_id, start_ms);

    if (i < st->n_periods && period_cmp(&st->periods[i], db_id, start_ms) == 0)
        return;
    if (st->n_periods == st->cap_periods) {
        size_t cap = st->cap_periods < 16 ? 16 : st->cap_periods * 2;
        struct wr_store__period *p = plat_realloc(st->periods, cap * sizeof(*p));

        if (p == NULL) {
            st->periods_stale = true;
            return;
        }
        st->periods = p;
        st->cap_periods = cap;
    }
    memmove(&st->periods[i + 1], &st->periods[i], (st->n_periods - i) * sizeof(st->periods[0]));
    st->periods[i].db_id = db_id;
    st->periods[i].start_ms = start_ms;
    st->n_periods++;
}

/* Forget the periods of a stream in [from_ms, to_ms]. */
static void period_remove_range(struct wr_store *st, int64_t db_id, int64_t from_ms, int64_t to_ms)
{
    size_t i = period_lower_bound(st, db_id, from_ms);
    size_t j = i;

    while (j < st->n_periods && st->periods[j].db_id == db_id && st->periods[j].start_ms <= to_ms)
        j++;
    if (j == i)
        return;
    memmove(&st->periods[i], &st->periods[j], (st->n_periods - j) * sizeof(st->periods[0]));
    st->n_periods -= j - i;
}

void wr_store__periods_free(struct wr_store *st)
{
    plat_free(st->periods);
    st->periods = NULL;
    st->n_periods = 0;
    st->cap_periods = 0;
}

int wr_store__periods_load(struct wr_store *st)
{
    sqlite3_stmt *stmt = st->stmt[STMT_PERIODS_LOAD];
    int src;

    st->n_periods = 0;
    st->periods_stale = false;
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW)
        period_add(st, sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1));
    sqlite3_reset(stmt);
    if (src != SQLITE_DONE) {
        st->periods_stale = true;
        return wr_store__fail(st, src, "reading the stored periods");
    }
    return WR_OK;
}

bool wr_store__period_stored(struct wr_store *st, int64_t db_id, int64_t start_ms)
{
    size_t i;

    /* Not knowing means a mark too many, never one too few. */
    if (st->periods_stale && wr_store__periods_load(st) != WR_OK)
        return true;
    i = period_lower_bound(st, db_id, start_ms);
    return i < st->n_periods && period_cmp(&st->periods[i], db_id, start_ms) == 0;
}

void wr_store__periods_note_set(struct wr_store *st, int64_t db_id, int64_t start_ms, bool replace,
                                uint32_t n)
{
    if (n > 0)
        period_add(st, db_id, start_ms);
    else if (replace)
        period_remove_range(st, db_id, start_ms, start_ms);
}

void wr_store__periods_note_delete_before(struct wr_store *st, int64_t db_id, int64_t floor_ms)
{
    if (floor_ms > INT64_MIN)
        period_remove_range(st, db_id, INT64_MIN, floor_ms - 1);
}
