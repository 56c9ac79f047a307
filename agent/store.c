/*
 * The store's error mapping, transaction plumbing and aggregate encoding,
 * and the window checkpoints and their restore. Opening, checking and
 * recovering the database are in store_open.c, the outbox in
 * store_outbox.c, the budget and rollup in store_budget.c, the schema in
 * store_schema.c.
 */
#include "store.h"

#include <stdio.h>
#include <string.h>

#include "plat_log.h"
#include "plat_mem.h"
#include "sketch.h"
#include "store_internal.h"
#include "wr_error.h"

#define MOD WR_STORE__MOD
#define ERROR_LOG_INTERVAL_MS 10000
#define WAL_HEADER_BYTES 32
#define WAL_FRAME_HEADER_BYTES 24

#define FLAG_CLOSED 1
#define FLAG_PROCESSING_TIME 2

/* ---- errors -------------------------------------------------------------------------------- */

static int map_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return WR_OK;
    case SQLITE_NOMEM:
        return WR_E_NOMEM;
    case SQLITE_FULL:
        return WR_E_NOSPC;
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return WR_E_DENIED;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return WR_E_CORRUPT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return WR_E_STATE;
    case SQLITE_IOERR:
        return rc == SQLITE_IOERR_NOMEM ? WR_E_NOMEM : WR_E_IO;
    default:
        return WR_E_IO;
    }
}

int wr_store__fail(struct wr_store *st, int rc, const char *what)
{
    int code = map_sqlite(rc);
    const char *msg = st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);
    int sys_errno = st->db != NULL ? sqlite3_system_errno(st->db) : 0;

    /* A caller asking to fail with a success code is a bug here; do not report success. */
    if (code == WR_OK)
        code = WR_E_IO;
    st->stats.write_failures++;
    if (code == WR_E_CORRUPT) {
        st->corrupt = true;
        PLAT_ERROR(MOD, "%s: %s: the database is corrupt: %s (sqlite %d)", st->path, what, msg, rc);
        return code;
    }
    /* Disk full or a read-only mount repeats at every checkpoint: say it once per interval. */
    plat_log_limited(&st->err_limiter, ERROR_LOG_INTERVAL_MS, PLAT_LOG_ERROR, MOD,
                     "%s: %s failed: %s (sqlite %d, errno %d): %s", st->path, what, msg, rc,
                     sys_errno, wr_strerror(code));
    return code;
}

int wr_store__exec(struct wr_store *st, enum wr_store__stmt which, const char *what)
{
    sqlite3_stmt *stmt = st->stmt[which];
    int rc;

    do {
        rc = sqlite3_step(stmt);
    } while (rc == SQLITE_ROW);
    if (rc != SQLITE_DONE) {
        rc = wr_store__fail(st, rc, what);
        sqlite3_reset(stmt);
        return rc;
    }
    sqlite3_reset(stmt);
    return WR_OK;
}

/* ---- aggregate BLOB ------------------------------------------------------------------------ */

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t double_bits(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bits_double(uint64_t u)
{
    double d;

    memcpy(&d, &u, sizeof(d));
    return d;
}

void wr_store__agg_encode(const struct wr_agg *agg, unsigned char out[WR_STORE__AGG_BLOB_BYTES])
{
    put_u64(out + 0, agg->count);
    put_u64(out + 8, double_bits(agg->sum));
    put_u64(out + 16, double_bits(agg->min));
    put_u64(out + 24, double_bits(agg->max));
    put_u64(out + 32, double_bits(agg->mean));
    put_u64(out + 40, double_bits(agg->m2));
    put_u64(out + 48, double_bits(agg->first));
    put_u64(out + 56, double_bits(agg->last));
    put_u64(out + 64, (uint64_t)agg->first_ms);
    put_u64(out + 72, (uint64_t)agg->last_ms);
}

#define SECTION_QUANTILES 0x51 /* 'Q' */
#define SECTION_SKETCH 0x53    /* 'S' */

static uint8_t result_nq(const struct wr_result *r)
{
    return r->n_quantiles <= WR_RESULT_MAX_QUANTILES ? r->n_quantiles : 0;
}

static bool result_has_sketch(const struct wr_result *r)
{
    return r->sketch != NULL && r->sketch_len > 0;
}

size_t wr_store__result_blob_size(const struct wr_result *r)
{
    size_t len = WR_STORE__AGG_BLOB_BYTES;

    if (result_nq(r) > 0)
        len += 2 + 8 * (size_t)result_nq(r);
    if (result_has_sketch(r))
        len += 5 + (size_t)r->sketch_len;
    return len;
}

size_t wr_store__result_blob_write(const struct wr_result *r, unsigned char *out)
{
    size_t len = WR_STORE__AGG_BLOB_BYTES;
    uint8_t nq = result_nq(r);

    wr_store__agg_encode(&r->agg, out);
    if (nq > 0) {
        out[len++] = SECTION_QUANTILES;
        out[len++] = nq;
        for (uint8_t i = 0; i < nq; i++, len += 8)
            put_u64(out + len, double_bits(r->quantiles[i]));
    }
    if (result_has_sketch(r)) {
        out[len++] = SECTION_SKETCH;
        for (int i = 0; i < 4; i++)
            out[len++] = (unsigned char)(r->sketch_len >> (8 * i));
        memcpy(out + len, r->sketch, r->sketch_len);
        len += r->sketch_len;
    }
    return len;
}

int wr_store__result_blob(struct wr_store *st, const struct wr_result *r,
                          const unsigned char **blob, size_t *len)
{
    size_t n = wr_store__result_blob_size(r);

    if (n > st->blob_cap) {
        unsigned char *grown = plat_realloc(st->blob_buf, n);

        if (grown == NULL)
            return WR_E_NOMEM;
        st->blob_buf = grown;
        st->blob_cap = n;
    }
    *len = wr_store__result_blob_write(r, st->blob_buf);
    *blob = st->blob_buf;
    return WR_OK;
}

/*
 * The sections after the fixed part. q/nq, sketch and raw may be NULL: that
 * section is then checked for length only. sketch gets the section decoded
 * (a sketch that fails to decode makes the whole blob corrupt, so a window
 * is never restored with a sketch that misses values); raw/raw_len get a
 * view of its bytes, undecoded.
 */
static int decode_sections(const unsigned char *p, size_t len, double *q, uint8_t *nq,
                           struct wr_sketch **sketch, const uint8_t **raw, uint32_t *raw_len)
{
    size_t at = WR_STORE__AGG_BLOB_BYTES;

    while (at < len) {
        unsigned char tag = p[at++];

        if (tag == SECTION_QUANTILES) {
            uint8_t n;

            if (at >= len)
                return WR_E_CORRUPT;
            n = p[at++];
            if (n > WR_RESULT_MAX_QUANTILES || len - at < (size_t)n * 8)
                return WR_E_CORRUPT;
            for (uint8_t i = 0; i < n && q != NULL; i++)
                q[i] = bits_double(get_u64(p + at + 8 * i));
            if (nq != NULL)
                *nq = n;
            at += (size_t)n * 8;
        } else if (tag == SECTION_SKETCH) {
            size_t n = 0;

            if (len - at < 4)
                return WR_E_CORRUPT;
            for (int i = 0; i < 4; i++)
                n |= (size_t)p[at + (size_t)i] << (8 * i);
            at += 4;
            if (len - at < n || n == 0 || n > wr_result_sketch_max())
                return WR_E_CORRUPT;
            if (raw != NULL) {
                *raw = p + at;
                *raw_len = (uint32_t)n;
            }
            if (sketch != NULL) {
                int rc = wr_sketch_deserialize(p + at, n, sketch);

                if (rc != WR_OK)
                    return rc == WR_E_NOMEM ? rc : WR_E_CORRUPT;
            }
            at += n;
        } else {
            return WR_E_CORRUPT;
        }
    }
    return WR_OK;
}

int wr_store__result_blob_decode(const void *blob, int len, struct wr_result *r)
{
    int rc = wr_store__agg_decode(blob, len, &r->agg);

    r->n_quantiles = 0;
    r->sketch = NULL;
    r->sketch_len = 0;
    if (rc != WR_OK)
        return rc;
    return decode_sections(blob, (size_t)len, r->quantiles, &r->n_quantiles, NULL, &r->sketch,
                           &r->sketch_len);
}

int wr_store__state_blob_decode(const void *blob, int len, struct wr_agg *agg)
{
    int rc = wr_store__agg_decode(blob, len, agg);
    struct wr_sketch *sk = NULL;

    if (rc != WR_OK)
        return rc;
    rc = decode_sections(blob, (size_t)len, NULL, NULL, &sk, NULL, NULL);
    if (rc != WR_OK) {
        wr_sketch_destroy(sk);
        return rc;
    }
    agg->sketch = sk;
    return WR_OK;
}

int wr_store__agg_decode(const void *blob, int len, struct wr_agg *agg)
{
    const unsigned char *p = blob;

    if (p == NULL || len < WR_STORE__AGG_BLOB_BYTES)
        return WR_E_CORRUPT;
    if (len > WR_STORE__AGG_BLOB_BYTES &&
        decode_sections(p, (size_t)len, NULL, NULL, NULL, NULL, NULL) != WR_OK)
        return WR_E_CORRUPT;
    agg->sketch = NULL;
    agg->count = get_u64(p + 0);
    agg->sum = bits_double(get_u64(p + 8));
    agg->min = bits_double(get_u64(p + 16));
    agg->max = bits_double(get_u64(p + 24));
    agg->mean = bits_double(get_u64(p + 32));
    agg->m2 = bits_double(get_u64(p + 40));
    agg->first = bits_double(get_u64(p + 48));
    agg->last = bits_double(get_u64(p + 56));
    agg->first_ms = (int64_t)get_u64(p + 64);
    agg->last_ms = (int64_t)get_u64(p + 72);
    return WR_OK;
}

/* ---- counters and transactions -------------------------------------------------------------- */

static uint64_t add_signed(uint64_t v, int64_t d)
{
    if (d < 0 && (uint64_t)(-(d + 1)) + 1 > v)
        return 0;
    return d < 0 ? v - ((uint64_t)(-(d + 1)) + 1) : v + (uint64_t)d;
}

static void apply_delta(struct wr_store *st, const struct wr_store__delta *d)
{
    st->outbox_rows = add_signed(st->outbox_rows, d->outbox_rows);
    st->outbox_bytes = add_signed(st->outbox_bytes, d->outbox_bytes);
    st->stats.rows_written += d->rows_written;
    st->stats.outbox_appended += d->outbox_appended;
    st->stats.checkpoint_logical_bytes += d->checkpoint_logical_bytes;
}

static void add_delta(struct wr_store__delta *to, const struct wr_store__delta *d)
{
    to->outbox_rows += d->outbox_rows;
    to->outbox_bytes += d->outbox_bytes;
    to->rows_written += d->rows_written;
    to->outbox_appended += d->outbox_appended;
    to->checkpoint_logical_bytes += d->checkpoint_logical_bytes;
}

int wr_store__refresh_pages(struct wr_store *st)
{
    sqlite3_stmt *stmt = st->stmt[STMT_PAGE_COUNT];
    int rc = sqlite3_step(stmt);

    if (rc == SQLITE_ROW) {
        sqlite3_int64 pages = sqlite3_column_int64(stmt, 0);

        st->page_count = pages > 0 ? (uint64_t)pages : 0;
        rc = WR_OK;
    } else {
        rc = wr_store__fail(st, rc, "reading the page count");
    }
    sqlite3_reset(stmt);
    return rc;
}

static int commit_txn(struct wr_store *st, const struct wr_store__delta *d)
{
    int rc = wr_store__exec(st, STMT_COMMIT, "committing");

    if (rc != WR_OK)
        return rc;
    apply_delta(st, d);
    st->stats.transactions++;
    /* The data is committed; a failure to read the page count only delays the budget. */
    (void)wr_store__refresh_pages(st);
    return WR_OK;
}

void wr_store__rollback(struct wr_store *st)
{
    int rc;

    /* Periods noted or forgotten inside the transaction are read again from the file. */
    st->periods_stale = true;
    /* SQLite rolls the whole transaction back by itself after some errors (e.g. SQLITE_FULL). */
    if (st->db == NULL || sqlite3_get_autocommit(st->db))
        return;
    rc = sqlite3_step(st->stmt[STMT_ROLLBACK]);
    if (rc != SQLITE_DONE)
        (void)wr_store__fail(st, rc, "rolling back");
    sqlite3_reset(st->stmt[STMT_ROLLBACK]);
}

int wr_store__unit_begin(struct wr_store *st, bool *joined)
{
    int rc;

    *joined = false;
    if (st->txn == WR_STORE__TXN_FAILED)
        return WR_E_STATE;
    if (st->txn == WR_STORE__TXN_OPEN) {
        /* SQLite has no nested BEGIN; a savepoint makes the unit atomic inside the checkpoint. */
        rc = wr_store__exec(st, STMT_SAVEPOINT, "starting a savepoint");
        if (rc != WR_OK)
            st->txn = WR_STORE__TXN_FAILED;
        else
            *joined = true;
        return rc;
    }
    return wr_store__exec(st, STMT_BEGIN, "starting a transaction");
}

int wr_store__unit_end(struct wr_store *st, bool joined, const struct wr_store__delta *delta,
                       int rc)
{
    if (!joined) {
        if (rc == WR_OK)
            rc = commit_txn(st, delta);
        if (rc != WR_OK)
            wr_store__rollback(st);
        return rc;
    }
    if (rc == WR_OK) {
        rc = wr_store__exec(st, STMT_RELEASE, "releasing a savepoint");
        if (rc == WR_OK)
            add_delta(&st->pending, delta);
        else
            st->txn = WR_STORE__TXN_FAILED;
        return rc;
    }
    if (sqlite3_get_autocommit(st->db)) {
        /* The error took the whole checkpoint transaction with it. */
        st->txn = WR_STORE__TXN_FAILED;
        return rc;
    }
    if (wr_store__exec(st, STMT_ROLLBACK_TO, "rolling back a savepoint") != WR_OK ||
        wr_store__exec(st, STMT_RELEASE, "releasing a savepoint") != WR_OK)
        st->txn = WR_STORE__TXN_FAILED;
    return rc;
}

void wr_store__count_wal_append(struct wr_store *st, uint64_t frames)
{
    uint64_t before = frames >= st->wal_frames ? st->wal_frames : 0;

    if (frames == before)
        return;
    /* A WAL started afresh (after a truncating checkpoint) gets its header first. */
    st->stats.written_bytes_estimate += (before == 0 ? WAL_HEADER_BYTES : 0) +
                                        (frames - before) * (st->page_size + WAL_FRAME_HEADER_BYTES);
}

int wr_store__wal_truncate(struct wr_store *st)
{
    int log_frames = 0;
    int done_frames = 0;
    int rc;

    rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log_frames,
                                   &done_frames);
    if (rc != SQLITE_OK)
        return wr_store__fail(st, rc, "checkpointing the WAL");
    /* Each page is copied back once, however many frames the WAL held for it. */
    if (done_frames > 0)
        st->stats.written_bytes_estimate +=
            ((uint64_t)done_frames < st->page_count ? (uint64_t)done_frames : st->page_count) *
            st->page_size;
    st->wal_frames = 0;
    st->commits_since_sync = 0;
    st->stats.wal_syncs++;
    return WR_OK;
}

/* ---- checkpoints --------------------------------------------------------------------------- */

/* Back to synchronous=NORMAL after a checkpoint; a failure only costs an fsync per commit. */
static void restore_normal_sync(struct wr_store *st)
{
    if (st->db != NULL)
        (void)wr_store__exec(st, STMT_SYNC_NORMAL, "restoring synchronous=NORMAL");
}

int wr_store_checkpoint_begin(struct wr_store *st)
{
    int rc;

    if (st == NULL)
        return WR_E_INVAL;
    if (st->txn != WR_STORE__TXN_NONE)
        return WR_E_STATE;
    rc = wr_store__usable(st);
    if (rc != WR_OK)
        return rc;
    /*
     * The checkpoint is the power-loss bound, so its commit syncs the WAL.
     * Other commits (acknowledged deletes, spills) do not: WAL recovery keeps
     * a prefix, so the next synced checkpoint makes them durable too.
     */
    rc = wr_store__exec(st, STMT_SYNC_FULL, "making the checkpoint durable");
    if (rc == WR_OK)
        rc = wr_store__exec(st, STMT_BEGIN, "starting a checkpoint");
    if (rc == WR_OK) {
        st->txn = WR_STORE__TXN_OPEN;
        memset(&st->pending, 0, sizeof(st->pending));
    } else {
        restore_normal_sync(st);
    }
    return wr_store__finish(st, rc);
}

/* Run one bound write statement inside the open checkpoint; logical: its row's bytes (0 for deletes). */
static int checkpoint_write(struct wr_store *st, sqlite3_stmt *stmt, uint64_t logical,
                            const char *what)
{
    int rc = sqlite3_step(stmt);

    if (rc == SQLITE_DONE) {
        st->pending.rows_written += (uint64_t)sqlite3_changes(st->db);
        st->pending.checkpoint_logical_bytes += logical;
        rc = WR_OK;
    } else {
        rc = wr_store__fail(st, rc, what);
        st->txn = WR_STORE__TXN_FAILED;
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return wr_store__finish(st, rc);
}

/* A checkpoint statement taking (stream id, one integer): clocks and retention deletes. */
static int stream_value_write(struct wr_store *st, uint16_t stream, int stmt_index, int64_t value,
                              uint64_t logical, const char *what)
{
    sqlite3_stmt *stmt;

    if (st == NULL)
        return WR_E_INVAL;
    if (st->txn != WR_STORE__TXN_OPEN)
        return WR_E_STATE;
    if (stream >= st->n_cfg)
        return WR_E_INVAL;
    stmt = st->stmt[stmt_index];
    sqlite3_bind_int64(stmt, 1, st->cfg_db_id[stream]);
    sqlite3_bind_int64(stmt, 2, value);
    return checkpoint_write(st, stmt, logical, what);
}

int wr_store_put_stream_clock(struct wr_store *st, uint16_t stream, int64_t max_event_ms)
{
    return stream_value_write(st, stream, STMT_CLOCK_PUT, max_event_ms, WR_STORE__CLOCK_ROW_LOGICAL,
                              "writing a stream clock");
}

int wr_store_delete_windows_before(struct wr_store *st, uint16_t stream, int64_t floor_ms)
{
    int rc = stream_value_write(st, stream, STMT_SET_DELETE_BEFORE, floor_ms, 0,
                                "deleting old window sets");

    /* Version 2 rows, until none is left. */
    if (rc == WR_OK)
        rc = stream_value_write(st, stream, STMT_WIN_DELETE_BEFORE, floor_ms, 0,
                                "deleting old window checkpoints");
    if (rc == WR_OK)
        wr_store__periods_note_delete_before(st, st->cfg_db_id[stream], floor_ms);
    return rc;
}

int wr_store_checkpoint_commit(struct wr_store *st)
{
    struct wr_store__delta pending;
    int rc;

    if (st == NULL)
        return WR_E_INVAL;
    if (st->txn == WR_STORE__TXN_NONE)
        return WR_E_STATE;
    pending = st->pending;
    memset(&st->pending, 0, sizeof(st->pending));
    if (st->txn == WR_STORE__TXN_FAILED) {
        wr_store__rollback(st);
        st->txn = WR_STORE__TXN_NONE;
        restore_normal_sync(st);
        return wr_store__finish(st, WR_E_STATE);
    }
    st->txn = WR_STORE__TXN_NONE;
    rc = commit_txn(st, &pending);
    if (rc != WR_OK)
        wr_store__rollback(st);
    restore_normal_sync(st);
    return wr_store__finish(st, rc);
}

void wr_store_checkpoint_rollback(struct wr_store *st)
{
    if (st == NULL || st->txn == WR_STORE__TXN_NONE)
        return;
    wr_store__rollback(st);
    st->txn = WR_STORE__TXN_NONE;
    memset(&st->pending, 0, sizeof(st->pending));
    restore_normal_sync(st);
    (void)wr_store__finish(st, WR_OK);
}

/* ---- restore ------------------------------------------------------------------------------- */

int wr_store_load_windows(struct wr_store *st, wr_window_visit_fn visit, void *ctx, size_t *skipped)
{
    sqlite3_stmt *stmt;
    size_t n_skipped = 0;
    int src;
    int rc;

    if (skipped != NULL)
        *skipped = 0;
    if (st == NULL || visit == NULL)
        return WR_E_INVAL;
    rc = wr_store__usable(st);
    if (rc != WR_OK)
        return rc;
    stmt = st->stmt[STMT_WIN_LOAD];
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        const struct wr_store__stream *s =
            wr_store__stream_by_db_id(st, sqlite3_column_int64(stmt, 0));
        const void *key = sqlite3_column_blob(stmt, 1);
        int key_len = sqlite3_column_bytes(stmt, 1);
        struct wr_window_state ws;
        int flags;

        memset(&ws, 0, sizeof(ws));
        if (s == NULL || s->index < 0 || key_len < 0 || key_len >= WR_KEY_MAX ||
            wr_store__state_blob_decode(sqlite3_column_blob(stmt, 5), sqlite3_column_bytes(stmt, 5),
                                        &ws.agg) != WR_OK) {
            n_skipped++;
            continue;
        }
        ws.stream = (uint16_t)s->index;
        if (key_len > 0)
            memcpy(ws.key, key, (size_t)key_len);
        ws.start_ms = sqlite3_column_int64(stmt, 2);
        ws.revision = (uint32_t)sqlite3_column_int64(stmt, 3);
        flags = sqlite3_column_int(stmt, 4);
        ws.closed = (flags & FLAG_CLOSED) != 0;
        ws.processing_time = (flags & FLAG_PROCESSING_TIME) != 0;
        rc = visit(ctx, &ws);
        wr_sketch_destroy(ws.agg.sketch);
        if (rc != WR_OK)
            break;
    }
    if (rc == WR_OK && src != SQLITE_DONE)
        rc = wr_store__fail(st, src, "reading window checkpoints");
    sqlite3_reset(stmt);
    /* Sets after the version 2 rows: they are newer, and a later record wins. */
    if (rc == WR_OK)
        rc = wr_store__load_sets(st, visit, ctx, &n_skipped);
    if (n_skipped > 0)
        PLAT_WARN(MOD,
                  "%s: %zu window checkpoints skipped (stream no longer configured or "
                  "undecodable)",
                  st->path, n_skipped);
    if (skipped != NULL)
        *skipped = n_skipped;
    return wr_store__finish(st, rc);
}

int wr_store_load_stream_clocks(struct wr_store *st, wr_store_clock_fn visit, void *ctx)
{
    sqlite3_stmt *stmt;
    int src;
    int rc;

    if (st == NULL || visit == NULL)
        return WR_E_INVAL;
    rc = wr_store__usable(st);
    if (rc != WR_OK)
        return rc;
    stmt = st->stmt[STMT_CLOCK_LOAD];
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        const struct wr_store__stream *s =
            wr_store__stream_by_db_id(st, sqlite3_column_int64(stmt, 0));

        if (s == NULL || s->index < 0)
            continue;
        rc = visit(ctx, (uint16_t)s->index, sqlite3_column_int64(stmt, 1));
        if (rc != WR_OK)
            break;
    }
    if (rc == WR_OK && src != SQLITE_DONE)
        rc = wr_store__fail(st, src, "reading stream clocks");
    sqlite3_reset(stmt);
    return wr_store__finish(st, rc);
}

/* ---- size and stats ------------------------------------------------------------------------ */

uint64_t wr_store_bytes(const struct wr_store *st)
{
    uint64_t wal = 0;

    if (st == NULL)
        return 0;
    if (st->wal_frames > 0)
        wal = WAL_HEADER_BYTES + st->wal_frames * (st->page_size + WAL_FRAME_HEADER_BYTES);
    return st->page_count * st->page_size + wal;
}

int wr_store_sync(struct wr_store *st)
{
    int rc;

    if (st == NULL)
        return WR_E_INVAL;
    if (st->txn != WR_STORE__TXN_NONE)
        return WR_E_STATE;
    rc = wr_store__usable(st);
    if (rc == WR_OK)
        rc = wr_store__wal_truncate(st);
    if (rc == WR_OK)
        rc = wr_store__refresh_pages(st);
    return wr_store__finish(st, rc);
}

void wr_store_get_stats(const struct wr_store *st, struct wr_store_stats *stats)
{
    if (stats == NULL)
        return;
    memset(stats, 0, sizeof(*stats));
    if (st == NULL)
        return;
    *stats = st->stats;
    stats->outbox_rows = st->outbox_rows;
    stats->outbox_bytes = st->outbox_bytes;
    stats->db_bytes = wr_store_bytes(st);
}
