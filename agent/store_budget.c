/*
 * The storage budget: give free pages back, roll the oldest outbox rows up
 * into coarser windows, and only then drop the oldest rows. A long outage
 * therefore ends with coarser data for its oldest part, not with a gap.
 *
 * A rollup pass reads the oldest rows in chunks (one transaction per
 * chunk). Each row seeds a target window: its coarser window of size
 * size_s * factor, or, when a row from an earlier pass already covers that
 * window at an even coarser level, that row's window. Every row inside the
 * target (any size, any revision) is gathered; the highest revision of each
 * window is merged with wr_agg_merge; all gathered rows are replaced by one
 * row with the smallest of their ids. Rows of different windows hold
 * disjoint events (only the revisions of one window repeat events), so the
 * merge is exact, and because the target absorbs everything inside it no
 * two rows of a (stream, key) overlap afterwards: upstream never gets two
 * results with the same start.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "plat_log.h"
#include "plat_mem.h"
#include "sketch.h"
#include "store_internal.h"
#include "wr_error.h"

#define MOD WR_STORE__MOD
#define CHUNK_ROWS 256
#define LOW_WATER_PERCENT 90
#define MAX_PASSES 64

struct seed {
    int64_t id;
    int64_t stream_id;
    int64_t start_ms;
    int64_t cstart_ms; /* start of the coarser window */
    uint32_t size_s;
    uint32_t csize_s; /* 0: the row cannot be coarsened (size overflow, extreme start) */
    int key_len;
    char key[WR_KEY_MAX];
};

/* What one chunk did; added to the report and stats only when its transaction commits. */
struct chunk_counts {
    struct wr_store__delta delta;
    uint64_t rolled_up;
    uint64_t rollup_rows;
    uint64_t gone;
};

static sqlite3_int64 clamp_id(uint64_t id)
{
    return id > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)id;
}

/*
 * The window of size size_s * factor^1 that contains start_ms, aligned to
 * the epoch. False when the size does not fit uint32 seconds or the window
 * does not fit int64 milliseconds.
 */
static bool coarser(int64_t start_ms, uint64_t size_s, uint32_t factor, int64_t *cstart_ms,
                    uint32_t *csize_s)
{
    uint64_t cs = size_s * factor;
    int64_t cms;

    if (size_s == 0 || cs / factor != size_s || cs > UINT32_MAX)
        return false;
    cms = (int64_t)cs * 1000;
    if (start_ms < INT64_MIN + cms)
        return false;
    *cstart_ms = wr_store__floor_div(start_ms, cms) * cms;
    if (*cstart_ms > INT64_MAX - cms)
        return false;
    *csize_s = (uint32_t)cs;
    return true;
}

static int cmp_i64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

static int seed_cmp(const void *pa, const void *pb)
{
    const struct seed *a = pa;
    const struct seed *b = pb;
    int c;

    if ((c = cmp_i64(a->stream_id, b->stream_id)) != 0)
        return c;
    if ((c = cmp_i64(a->key_len, b->key_len)) != 0)
        return c;
    if ((c = memcmp(a->key, b->key, (size_t)a->key_len)) != 0)
        return c;
    if ((c = cmp_i64(a->size_s, b->size_s)) != 0)
        return c;
    if ((c = cmp_i64(a->cstart_ms, b->cstart_ms)) != 0)
        return c;
    return cmp_i64(a->id, b->id);
}

static bool same_group(const struct seed *a, const struct seed *b)
{
    return a->stream_id == b->stream_id && a->key_len == b->key_len &&
           memcmp(a->key, b->key, (size_t)a->key_len) == 0 && a->size_s == b->size_s &&
           a->cstart_ms == b->cstart_ms;
}

static int load_seeds(struct wr_store *st, sqlite3_int64 after, struct seed *seeds, size_t *n)
{
    sqlite3_stmt *stmt = st->stmt[STMT_OB_SEED];
    int src;
    int rc = WR_OK;

    *n = 0;
    sqlite3_bind_int64(stmt, 1, after);
    sqlite3_bind_int64(stmt, 2, CHUNK_ROWS);
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct seed *s = &seeds[*n];
        int key_len = sqlite3_column_bytes(stmt, 2);
        sqlite3_int64 size = sqlite3_column_int64(stmt, 4);

        memset(s, 0, sizeof(*s));
        s->id = sqlite3_column_int64(stmt, 0);
        s->stream_id = sqlite3_column_int64(stmt, 1);
        s->start_ms = sqlite3_column_int64(stmt, 3);
        s->size_s = size > 0 && size <= UINT32_MAX ? (uint32_t)size : 0;
        if (key_len >= 0 && key_len < WR_KEY_MAX) {
            s->key_len = key_len;
            if (key_len > 0)
                memcpy(s->key, sqlite3_column_blob(stmt, 2), (size_t)key_len);
            if (!coarser(s->start_ms, s->size_s, st->rollup_factor, &s->cstart_ms, &s->csize_s))
                s->csize_s = 0;
        }
        (*n)++;
    }
    if (src != SQLITE_DONE)
        rc = wr_store__fail(st, src, "reading the outbox for rollup");
    sqlite3_reset(stmt);
    return rc;
}

/*
 * If a row at a coarser level (csize * factor^k, the sizes earlier passes
 * produce) already covers [cstart, cstart + csize), target its window
 * instead, so the new data joins it rather than overlapping it.
 */
static int find_target(struct wr_store *st, const struct seed *s, sqlite3_int64 min_id,
                       int64_t *tstart_ms, uint32_t *tsize_s)
{
    sqlite3_stmt *stmt = st->stmt[STMT_OB_AT_START];
    int64_t lstart = s->cstart_ms;
    uint32_t lsize = s->csize_s;
    int rc = WR_OK;

    *tstart_ms = s->cstart_ms;
    *tsize_s = s->csize_s;
    while (rc == WR_OK && coarser(lstart, lsize, st->rollup_factor, &lstart, &lsize)) {
        bool found = false;
        int src;

        sqlite3_bind_int64(stmt, 1, s->stream_id);
        sqlite3_bind_blob(stmt, 2, s->key, s->key_len, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 3, lstart);
        sqlite3_bind_int64(stmt, 4, min_id);
        while ((src = sqlite3_step(stmt)) == SQLITE_ROW)
            if (sqlite3_column_int64(stmt, 0) == (sqlite3_int64)lsize)
                found = true;
        if (src != SQLITE_DONE)
            rc = wr_store__fail(st, src, "looking for coarser results");
        sqlite3_reset(stmt);
        if (found) {
            *tstart_ms = lstart;
            *tsize_s = lsize;
            break;
        }
    }
    return rc;
}

static void bind_range(sqlite3_stmt *stmt, const struct seed *s, int64_t tstart_ms,
                       uint32_t tsize_s, sqlite3_int64 min_id)
{
    sqlite3_bind_int64(stmt, 1, s->stream_id);
    sqlite3_bind_blob(stmt, 2, s->key, s->key_len, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, tstart_ms);
    sqlite3_bind_int64(stmt, 4, tstart_ms + (int64_t)tsize_s * 1000);
    sqlite3_bind_int64(stmt, 5, min_id);
}

struct gathered {
    uint64_t rows;
    uint64_t windows;
    int64_t min_id;
    uint64_t var_bytes; /* the gathered rows' counted bytes past the fixed allowance */
    struct wr_agg merged;
    /*
     * The merge of the windows' sketches (exact: bucket counts add), NULL when
     * none had one. sketch_missing: a window had none, or its sketch did not
     * decode or merge (other parameters after a config change), so a merged
     * sketch would miss values and the rolled-up result carries neither it
     * nor quantiles.
     */
    struct wr_sketch *sketch;
    bool sketch_missing;
    /* The first window's best revision: kept as is when it is the only window. */
    int64_t one_start_ms;
    uint32_t one_size_s;
    uint32_t one_revision;
    unsigned char *one_blob; /* a copy of its BLOB */
    size_t one_len;
};

static void gathered_free(struct gathered *g)
{
    wr_sketch_destroy(g->sketch);
    plat_free(g->one_blob);
    g->sketch = NULL;
    g->one_blob = NULL;
}

/* Fold one window's sketch into the gathered merge. */
static int gather_sketch(struct gathered *g, const struct wr_result *r)
{
    struct wr_sketch *sk = NULL;
    int rc;

    if (r->sketch_len == 0) {
        g->sketch_missing = true;
        return WR_OK;
    }
    rc = wr_sketch_deserialize(r->sketch, r->sketch_len, &sk);
    if (rc == WR_E_NOMEM)
        return rc;
    if (rc != WR_OK) {
        g->sketch_missing = true;
        return WR_OK;
    }
    if (g->sketch == NULL) {
        g->sketch = sk;
        return WR_OK;
    }
    rc = wr_sketch_merge(g->sketch, sk);
    wr_sketch_destroy(sk);
    if (rc == WR_E_NOMEM)
        return rc;
    if (rc != WR_OK)
        g->sketch_missing = true;
    return WR_OK;
}

static int gather(struct wr_store *st, const struct seed *s, int64_t tstart_ms, uint32_t tsize_s,
                  sqlite3_int64 min_id, struct gathered *g)
{
    sqlite3_stmt *stmt = st->stmt[STMT_OB_IN_RANGE];
    int64_t prev_start = 0;
    int64_t prev_size = -1;
    int src;
    int rc = WR_OK;

    memset(g, 0, sizeof(*g));
    g->min_id = INT64_MAX;
    wr_agg_init(&g->merged);
    bind_range(stmt, s, tstart_ms, tsize_s, min_id);
    /* Rows come ordered by window, highest revision first: the first row of each window wins. */
    while (rc == WR_OK && (src = sqlite3_step(stmt)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(stmt, 0);
        int64_t start = sqlite3_column_int64(stmt, 1);
        int64_t size = sqlite3_column_int64(stmt, 2);
        const void *blob = sqlite3_column_blob(stmt, 4);
        int blob_len = sqlite3_column_bytes(stmt, 4);
        struct wr_result r;

        g->rows++;
        g->var_bytes +=
            wr_store__row_bytes((size_t)s->key_len, blob_len > 0 ? (size_t)blob_len : 0) -
            WR_STORE_OUTBOX_ROW_FIXED_BYTES;
        if (id < g->min_id)
            g->min_id = id;
        if (size == prev_size && start == prev_start)
            continue;
        prev_start = start;
        prev_size = size;
        /* r.sketch points into the row: used before the next step. */
        if (wr_store__result_blob_decode(blob, blob_len, &r) != WR_OK) {
            /* Nothing can be sent from it anyway; it goes with the others. */
            st->stats.bad_rows++;
            continue;
        }
        if (g->windows++ == 0) {
            g->one_start_ms = start;
            g->one_size_s = (uint32_t)size;
            g->one_revision = (uint32_t)sqlite3_column_int64(stmt, 3);
            g->one_blob = plat_malloc((size_t)blob_len);
            if (g->one_blob == NULL) {
                rc = WR_E_NOMEM;
                break;
            }
            memcpy(g->one_blob, blob, (size_t)blob_len);
            g->one_len = (size_t)blob_len;
        }
        wr_agg_merge(&g->merged, &r.agg);
        rc = gather_sketch(g, &r);
    }
    if (rc == WR_OK && src != SQLITE_DONE)
        rc = wr_store__fail(st, src, "gathering results for rollup");
    sqlite3_reset(stmt);
    return rc;
}

/* The config index of a database stream id, or -1 when it is no longer configured. */
static int cfg_index(const struct wr_store *st, int64_t stream_id)
{
    for (size_t i = 0; i < st->n_cfg; i++)
        if (st->cfg_db_id[i] == stream_id)
            return (int)i;
    return -1;
}

/*
 * The result that replaces several windows: the merged aggregate and, when
 * every window had a sketch, the merged sketch (serialized into *sketch_buf,
 * which the caller frees) and the stream's quantiles estimated from it.
 * Those stay within the sketch's bound: the merge is the sketch of all the
 * windows' values, as if one window had seen them all.
 */
static int merged_result(struct wr_store *st, const struct seed *s, struct gathered *g,
                         struct wr_result *out, uint8_t **sketch_buf)
{
    int ci = cfg_index(st, s->stream_id);
    size_t len = 0;
    size_t n;

    memset(out, 0, sizeof(*out));
    *sketch_buf = NULL;
    out->agg = g->merged;
    if (g->sketch == NULL)
        return WR_OK;
    if (g->sketch_missing) {
        plat_log_limited(&st->rollup_limiter, 10000, PLAT_LOG_WARN, WR_STORE__MOD,
                         "%s: rolled up results of which some carry no sketch: the coarser "
                         "result has no quantiles",
                         st->path);
        return WR_OK;
    }
    n = wr_sketch_serialized_size(g->sketch);
    *sketch_buf = plat_malloc(n);
    if (*sketch_buf == NULL)
        return WR_E_NOMEM;
    if (wr_sketch_serialize(g->sketch, *sketch_buf, n, &len) != WR_OK)
        return WR_E_INVAL;
    out->sketch = *sketch_buf;
    out->sketch_len = (uint32_t)len;
    out->agg.sketch = g->sketch;
    for (uint8_t k = 0; ci >= 0 && k < st->cfg_nq[ci]; k++) {
        if (wr_agg_quantile(&out->agg, st->cfg_q[ci][k], &out->quantiles[k]) != WR_OK)
            break;
        out->n_quantiles = (uint8_t)(k + 1);
    }
    out->agg.sketch = NULL;
    return WR_OK;
}

static int roll_target(struct wr_store *st, const struct seed *s, int64_t tstart_ms,
                       uint32_t tsize_s, sqlite3_int64 min_id, struct chunk_counts *cc)
{
    const unsigned char *blob = NULL;
    size_t blob_len = 0;
    uint8_t *sketch_buf = NULL;
    struct wr_result merged;
    struct gathered g;
    sqlite3_stmt *stmt;
    uint64_t deleted;
    uint64_t removed_bytes;
    uint64_t added_bytes;
    int src;
    int rc;

    rc = gather(st, s, tstart_ms, tsize_s, min_id, &g);
    if (rc != WR_OK || g.rows < 2 || g.windows == 0)
        goto done;
    if (g.windows == 1) {
        /* Only revisions of one window: keep the highest one as it is. */
        blob = g.one_blob;
        blob_len = g.one_len;
    } else {
        rc = merged_result(st, s, &g, &merged, &sketch_buf);
        if (rc == WR_OK)
            rc = wr_store__result_blob(st, &merged, &blob, &blob_len);
        if (rc != WR_OK)
            goto done;
    }
    stmt = st->stmt[STMT_OB_DELETE_IN_RANGE];
    bind_range(stmt, s, tstart_ms, tsize_s, min_id);
    src = sqlite3_step(stmt);
    deleted = (uint64_t)sqlite3_changes(st->db);
    sqlite3_reset(stmt);
    if (src != SQLITE_DONE) {
        rc = wr_store__fail(st, src, "deleting rolled-up results");
        goto done;
    }

    stmt = st->stmt[STMT_OB_INSERT_ID];
    sqlite3_bind_int64(stmt, 1, g.min_id);
    sqlite3_bind_int64(stmt, 2, s->stream_id);
    sqlite3_bind_blob(stmt, 3, s->key, s->key_len, SQLITE_STATIC);
    if (g.windows == 1) {
        sqlite3_bind_int64(stmt, 4, g.one_start_ms);
        sqlite3_bind_int64(stmt, 5, (sqlite3_int64)g.one_size_s);
        sqlite3_bind_int64(stmt, 6, (sqlite3_int64)g.one_revision);
    } else {
        sqlite3_bind_int64(stmt, 4, tstart_ms);
        sqlite3_bind_int64(stmt, 5, (sqlite3_int64)tsize_s);
        sqlite3_bind_int64(stmt, 6, 0);
    }
    sqlite3_bind_blob(stmt, 7, blob, (int)blob_len, SQLITE_STATIC);
    src = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (src != SQLITE_DONE) {
        rc = wr_store__fail(st, src, "writing a rolled-up result");
        goto done;
    }
    /* The gathered rows are exactly the deleted ones (same range, same transaction). */
    removed_bytes = deleted * WR_STORE_OUTBOX_ROW_FIXED_BYTES + g.var_bytes;
    added_bytes = wr_store__row_bytes((size_t)s->key_len, blob_len);
    cc->rolled_up += deleted;
    cc->rollup_rows++;
    cc->gone += deleted - 1;
    cc->delta.outbox_rows -= (int64_t)(deleted - 1);
    cc->delta.outbox_bytes += (int64_t)added_bytes - (int64_t)removed_bytes;
    cc->delta.rows_written += deleted + 1;
done:
    plat_free(sketch_buf);
    gathered_free(&g);
    return rc;
}

/*
 * A coarser window may only be formed once no finer result inside it can
 * still be appended: otherwise a window still open at rollup time would
 * arrive later as a separate, overlapping result.
 */
static bool coarse_window_sealed(const struct wr_store *st, const struct seed *s)
{
    int64_t end_ms = s->cstart_ms + (int64_t)s->csize_s * 1000;
    int ci = cfg_index(st, s->stream_id);

    /* A stream no longer configured appends nothing. */
    return ci < 0 || end_ms <= st->cfg_sealed_before_ms[ci];
}

static int roll_chunk(struct wr_store *st, struct seed *seeds, size_t n, sqlite3_int64 min_id,
                      uint32_t max_size_s, struct chunk_counts *cc)
{
    int rc = WR_OK;

    qsort(seeds, n, sizeof(*seeds), seed_cmp);
    for (size_t i = 0; i < n && rc == WR_OK; i++) {
        int64_t tstart_ms;
        uint32_t tsize_s;

        /* One target per group of seeds sharing (stream, key, size, coarser window). */
        if (i > 0 && same_group(&seeds[i - 1], &seeds[i]))
            continue;
        if (seeds[i].csize_s == 0 || seeds[i].size_s > max_size_s ||
            !coarse_window_sealed(st, &seeds[i]))
            continue;
        rc = find_target(st, &seeds[i], min_id, &tstart_ms, &tsize_s);
        if (rc == WR_OK)
            rc = roll_target(st, &seeds[i], tstart_ms, tsize_s, min_id, cc);
    }
    return rc;
}

/*
 * One pass over the rows above the floor, oldest first, rolling up rows
 * no larger than max_size_s, until want_rows rows are gone (0 = all).
 */
static int rollup_pass(struct wr_store *st, uint64_t min_id, uint64_t want_rows,
                       uint32_t max_size_s, struct wr_store_budget_report *rep)
{
    struct seed *seeds = NULL;
    sqlite3_int64 floor_id = clamp_id(min_id);
    sqlite3_int64 cursor = floor_id;
    uint64_t gone = 0;
    int rc = WR_OK;

    seeds = plat_malloc(CHUNK_ROWS * sizeof(*seeds));
    if (seeds == NULL)
        return WR_E_NOMEM;
    for (;;) {
        struct chunk_counts cc;
        bool joined = false;
        size_t n = 0;

        memset(&cc, 0, sizeof(cc));
        rc = wr_store__unit_begin(st, &joined);
        if (rc == WR_OK)
            rc = load_seeds(st, cursor, seeds, &n);
        if (rc == WR_OK && n > 0) {
            cursor = seeds[n - 1].id;
            rc = roll_chunk(st, seeds, n, floor_id, max_size_s, &cc);
        }
        rc = wr_store__unit_end(st, joined, &cc.delta, rc);
        if (rc != WR_OK || n == 0)
            break;
        gone += cc.gone;
        st->stats.rolled_up += cc.rolled_up;
        st->stats.rollup_rows += cc.rollup_rows;
        if (rep != NULL) {
            rep->rolled_up += cc.rolled_up;
            rep->rollup_rows += cc.rollup_rows;
        }
        if ((want_rows != 0 && gone >= want_rows) || n < CHUNK_ROWS)
            break;
    }
    plat_free(seeds);
    return rc;
}

int wr_store_set_sealed_before(struct wr_store *st, uint16_t stream, int64_t before_ms)
{
    if (st == NULL || stream >= st->n_cfg)
        return WR_E_INVAL;
    st->cfg_sealed_before_ms[stream] = before_ms;
    return WR_OK;
}

int wr_store_outbox_rollup(struct wr_store *st, uint64_t min_id, uint64_t want_rows,
                           struct wr_store_budget_report *rep)
{
    int rc;

    if (st == NULL)
        return WR_E_INVAL;
    if (st->txn != WR_STORE__TXN_NONE)
        return WR_E_STATE;
    rc = wr_store__usable(st);
    if (rc == WR_OK)
        rc = rollup_pass(st, min_id, want_rows, UINT32_MAX, rep);
    return wr_store__finish(st, rc);
}

/* The finest window size above the floor (0 if there is no row): where rollup starts. */
static int min_size_above(struct wr_store *st, sqlite3_int64 min_id, uint32_t *size_s)
{
    sqlite3_stmt *stmt = st->stmt[STMT_OB_MIN_SIZE];
    int src;
    int rc = WR_OK;

    *size_s = 0;
    sqlite3_bind_int64(stmt, 1, min_id);
    src = sqlite3_step(stmt);
    if (src == SQLITE_ROW) {
        sqlite3_int64 v = sqlite3_column_int64(stmt, 0);

        *size_s = v > 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
    } else {
        rc = wr_store__fail(st, src, "reading the outbox sizes");
    }
    sqlite3_reset(stmt);
    return rc;
}

/* ---- dropping and measuring ---------------------------------------------------------------- */

static int drop_oldest(struct wr_store *st, sqlite3_int64 min_id, uint64_t k, uint64_t *dropped)
{
    struct wr_store__delta delta;
    sqlite3_stmt *stmt = st->stmt[STMT_OB_DROP_SCAN];
    sqlite3_int64 last = min_id;
    uint64_t rows = 0;
    uint64_t var_bytes = 0;
    bool joined = false;
    int src;
    int rc;

    *dropped = 0;
    memset(&delta, 0, sizeof(delta));
    rc = wr_store__unit_begin(st, &joined);
    if (rc != WR_OK)
        return rc;
    sqlite3_bind_int64(stmt, 1, min_id);
    sqlite3_bind_int64(stmt, 2, k > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)k);
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        last = sqlite3_column_int64(stmt, 0);
        var_bytes += (uint64_t)sqlite3_column_int64(stmt, 1);
        rows++;
    }
    if (src != SQLITE_DONE)
        rc = wr_store__fail(st, src, "choosing results to drop");
    sqlite3_reset(stmt);
    if (rc == WR_OK && rows > 0) {
        stmt = st->stmt[STMT_OB_DELETE_RANGE];
        sqlite3_bind_int64(stmt, 1, min_id);
        sqlite3_bind_int64(stmt, 2, last);
        src = sqlite3_step(stmt);
        if (src != SQLITE_DONE)
            rc = wr_store__fail(st, src, "dropping the oldest results");
        sqlite3_reset(stmt);
        delta.outbox_rows = -(int64_t)rows;
        delta.outbox_bytes = -(int64_t)(rows * WR_STORE_OUTBOX_ROW_FIXED_BYTES + var_bytes);
        delta.rows_written = rows;
    }
    rc = wr_store__unit_end(st, joined, &delta, rc);
    if (rc == WR_OK)
        *dropped = rows;
    return rc;
}

/* Give free pages back to the file system and empty the WAL, then measure. */
static int compact(struct wr_store *st)
{
    int rc = wr_store__exec(st, STMT_INCREMENTAL_VACUUM, "releasing free pages");

    if (rc == WR_OK)
        rc = wr_store__wal_truncate(st);
    if (rc == WR_OK)
        rc = wr_store__refresh_pages(st);
    return rc;
}

/*
 * How many rows to remove for bytes to fall to target. Each row is charged
 * its share of the whole file, which over-charges it when the window
 * checkpoints take room too: the loop then takes another, smaller step
 * rather than removing more than needed. The share is never taken below the
 * rows' counted size (wr_store__row_bytes: key, quantiles and sketch
 * included), so rows with large sketches are not under-charged when the
 * file has not caught up with them yet.
 */
static uint64_t rows_to_free(const struct wr_store *st, uint64_t target)
{
    uint64_t bytes = wr_store_bytes(st);
    uint64_t per_row;
    uint64_t counted;

    if (bytes <= target)
        return 0;
    per_row = st->outbox_rows > 0 ? bytes / st->outbox_rows : bytes;
    counted = st->outbox_rows > 0 ? st->outbox_bytes / st->outbox_rows : 0;
    if (per_row < counted)
        per_row = counted;
    if (per_row < WR_STORE_OUTBOX_ROW_FIXED_BYTES)
        per_row = WR_STORE_OUTBOX_ROW_FIXED_BYTES;
    return (bytes - target) / per_row + 1;
}

int wr_store_enforce_budget(struct wr_store *st, uint64_t min_id,
                            struct wr_store_budget_report *rep)
{
    struct wr_store_budget_report r;
    sqlite3_int64 floor_id = clamp_id(min_id);
    uint32_t level_s = 0;
    uint64_t target;
    int rc;

    memset(&r, 0, sizeof(r));
    if (rep != NULL)
        *rep = r;
    if (st == NULL)
        return WR_E_INVAL;
    if (st->txn != WR_STORE__TXN_NONE)
        return WR_E_STATE;
    rc = wr_store__usable(st);
    if (rc != WR_OK)
        return rc;
    r.bytes_before = wr_store_bytes(st);
    r.bytes_after = r.bytes_before;
    if (st->max_bytes == 0 || r.bytes_before <= st->max_bytes) {
        if (rep != NULL)
            *rep = r;
        return WR_OK;
    }
    /* Down to a low-water mark, so the next few appends do not start it all again. */
    target = st->max_bytes / 100 * LOW_WATER_PERCENT;
    rc = compact(st);
    /*
     * Level by level: first only the finest rows are rolled (oldest first),
     * and the next level is opened only when the finer one has nothing left
     * to merge. So the newest data keeps its resolution as long as it can
     * and the reduction is about what the budget needs, not more.
     */
    if (rc == WR_OK && st->on_full == WR_ON_FULL_ROLLUP)
        rc = min_size_above(st, floor_id, &level_s);
    for (int pass = 0; rc == WR_OK && st->on_full == WR_ON_FULL_ROLLUP && level_s != 0 &&
                       pass < MAX_PASSES && wr_store_bytes(st) > target;
         pass++) {
        uint64_t rows_before = st->outbox_rows;

        rc = rollup_pass(st, min_id, rows_to_free(st, target), level_s, &r);
        if (rc == WR_OK)
            rc = compact(st);
        if (rc == WR_OK && st->outbox_rows == rows_before) {
            if (level_s > UINT32_MAX / st->rollup_factor)
                break; /* nothing left to merge at any level: only dropping helps now */
            level_s *= st->rollup_factor;
        }
    }
    while (rc == WR_OK && wr_store_bytes(st) > target) {
        uint64_t dropped = 0;

        rc = drop_oldest(st, floor_id, rows_to_free(st, target), &dropped);
        if (rc == WR_OK && dropped == 0)
            rc = WR_E_FULL;
        r.dropped += dropped;
        st->stats.dropped += dropped;
        if (rc == WR_OK)
            rc = compact(st);
    }
    r.bytes_after = wr_store_bytes(st);
    if (rc == WR_E_FULL && r.bytes_after <= st->max_bytes)
        rc = WR_OK;
    if (r.rolled_up > 0 || r.dropped > 0)
        PLAT_WARN(MOD,
                  "%s: over the storage budget (%llu of %llu bytes): rolled %llu results up "
                  "into %llu coarser ones, dropped %llu oldest; now %llu bytes",
                  st->path, (unsigned long long)r.bytes_before, (unsigned long long)st->max_bytes,
                  (unsigned long long)r.rolled_up, (unsigned long long)r.rollup_rows,
                  (unsigned long long)r.dropped, (unsigned long long)r.bytes_after);
    if (rc == WR_E_FULL)
        PLAT_ERROR(MOD,
                   "%s: still over the storage budget (%llu of %llu bytes) with nothing left "
                   "to roll up or drop (results in flight and window checkpoints fill it)",
                   st->path, (unsigned long long)r.bytes_after, (unsigned long long)st->max_bytes);
    if (rep != NULL)
        *rep = r;
    return wr_store__finish(st, rc);
}
