/*
 * The outbox: closed window results waiting for the upstream PUBACK.
 * Appends and deletes are one transaction per batch, or one savepoint of
 * the open checkpoint transaction, so a batch is all in or all out. The
 * row and byte counters change only when that transaction commits.
 */
#include "store.h"

#include <string.h>

#include "plat_mem.h"
#include "store_internal.h"
#include "wr_error.h"

static sqlite3_int64 clamp_id(uint64_t id)
{
    return id > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)id;
}

/* results[i], or *ptrs[i] when the caller passed pointers. */
static const struct wr_result *nth(const struct wr_result *results,
                                   const struct wr_result *const *ptrs, size_t i)
{
    return ptrs != NULL ? ptrs[i] : &results[i];
}

#define MARKS_PER_SET 256u

/*
 * A result in the outbox and its window marked closed commit together, so a
 * restart never re-opens (and re-emits) a window whose result is kept: a
 * closed record of each result's window, one window set per run of results
 * of the same period (results come in window order), at most MARKS_PER_SET
 * records each. The closed record replaces an open one at restore. Periods
 * without stored windows need none (the window was never checkpointed), so
 * an outage writes marks only for the windows open at a checkpoint.
 */
static int mark_closed(struct wr_store *st, const struct wr_result *results,
                       const struct wr_result *const *ptrs, size_t n, bool joined,
                       struct wr_store__delta *delta)
{
    size_t cap = 0;
    unsigned char *buf;
    size_t i = 0;
    int rc = WR_OK;

    for (size_t k = 0; k < n; k++) {
        const struct wr_result *r = nth(results, ptrs, k);

        cap += wr_store__closed_record_size(st, r, strlen(r->key));
    }
    if (cap == 0)
        return WR_OK;
    buf = plat_malloc(cap);
    if (buf == NULL)
        return WR_E_NOMEM;
    while (i < n && rc == WR_OK) {
        const struct wr_result *first = nth(results, ptrs, i);
        size_t len = 0;
        uint32_t count = 0;

        /* A window of a period without stored windows has no record to close. */
        if (!wr_store__period_stored(st, st->cfg_db_id[first->stream], first->start_ms)) {
            while (i < n && nth(results, ptrs, i)->stream == first->stream &&
                   nth(results, ptrs, i)->start_ms == first->start_ms)
                i++;
            continue;
        }
        while (i < n && count < MARKS_PER_SET) {
            const struct wr_result *r = nth(results, ptrs, i);
            size_t got;

            if (r->stream != first->stream || r->start_ms != first->start_ms)
                break;
            got = wr_store__closed_record_encode(st, r, strlen(r->key), buf + len, cap - len);
            if (got == 0) {
                rc = WR_E_INVAL;
                break;
            }
            len += got;
            count++;
            i++;
        }
        if (rc == WR_OK)
            rc = wr_store__insert_set(st, st->cfg_db_id[first->stream], first->start_ms, false, buf,
                                      len, count, &delta->rows_written);
        if (rc == WR_OK && joined)
            delta->checkpoint_logical_bytes += WR_STORE__SET_ROW_LOGICAL + len;
    }
    plat_free(buf);
    return rc;
}

static int append_rows(struct wr_store *st, const struct wr_result *results,
                       const struct wr_result *const *ptrs, size_t n, uint64_t *ids)
{
    struct wr_store__delta delta;
    sqlite3_stmt *stmt;
    bool joined = false;
    int rc;

    /* Check the whole batch first: a bad result must not leave half a batch behind. */
    for (size_t i = 0; i < n; i++) {
        const struct wr_result *r = nth(results, ptrs, i);

        if (r == NULL || !wr_store_outbox_accepts(st, r))
            return WR_E_INVAL;
    }
    if (n == 0)
        return WR_OK;
    if (st->txn == WR_STORE__TXN_FAILED)
        return WR_E_STATE;
    memset(&delta, 0, sizeof(delta));
    rc = wr_store__usable(st);
    if (rc != WR_OK)
        return rc;
    rc = wr_store__unit_begin(st, &joined);
    if (rc != WR_OK)
        return wr_store__finish(st, rc);
    stmt = st->stmt[STMT_OB_INSERT];
    for (size_t i = 0; i < n && rc == WR_OK; i++) {
        const struct wr_result *r = nth(results, ptrs, i);
        const unsigned char *blob = NULL;
        size_t key_len = strlen(r->key);
        size_t blob_len = 0;
        int src;

        rc = wr_store__result_blob(st, r, &blob, &blob_len);
        if (rc != WR_OK)
            break;
        sqlite3_bind_int64(stmt, 1, st->cfg_db_id[r->stream]);
        sqlite3_bind_blob(stmt, 2, r->key, (int)key_len, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 3, r->start_ms);
        sqlite3_bind_int64(stmt, 4, (sqlite3_int64)r->size_s);
        sqlite3_bind_int64(stmt, 5, (sqlite3_int64)r->revision);
        sqlite3_bind_blob(stmt, 6, blob, (int)blob_len, SQLITE_STATIC);
        src = sqlite3_step(stmt);
        if (src == SQLITE_DONE) {
            if (ids != NULL)
                ids[i] = (uint64_t)sqlite3_last_insert_rowid(st->db);
            delta.outbox_rows++;
            delta.outbox_bytes += (int64_t)wr_store__row_bytes(key_len, blob_len);
            delta.rows_written++;
            delta.outbox_appended++;
            if (joined)
                delta.checkpoint_logical_bytes +=
                    WR_STORE__RESULT_ROW_LOGICAL_FIXED + key_len + (uint64_t)blob_len;
        } else {
            rc = wr_store__fail(st, src, "appending results to the outbox");
        }
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
    if (rc == WR_OK)
        rc = mark_closed(st, results, ptrs, n, joined, &delta);
    rc = wr_store__unit_end(st, joined, &delta, rc);
    return wr_store__finish(st, rc);
}

bool wr_store_outbox_accepts(const struct wr_store *st, const struct wr_result *r)
{
    return st != NULL && r != NULL && r->stream < st->n_cfg &&
           memchr(r->key, '\0', sizeof(r->key)) != NULL &&
           (r->sketch_len == 0 || (r->sketch != NULL && r->sketch_len <= wr_result_sketch_max()));
}

int wr_store_outbox_append(struct wr_store *st, const struct wr_result *results, size_t n)
{
    if (st == NULL || (results == NULL && n > 0))
        return WR_E_INVAL;
    return append_rows(st, results, NULL, n, NULL);
}

int wr_store_outbox_append_ids(struct wr_store *st, const struct wr_result *const *results,
                               size_t n, uint64_t *ids)
{
    if (st == NULL || ((results == NULL || ids == NULL) && n > 0))
        return WR_E_INVAL;
    return append_rows(st, NULL, results, n, ids);
}

/*
 * Keep a row's sketch past the next step: append it to the read buffer. The
 * buffer may move while rows are read, so views are set at the end
 * (point_sketches), from the rows' order: their bytes lie back to back.
 */
static int keep_sketch(struct wr_store *st, size_t *used, struct wr_result *r)
{
    size_t need = *used + r->sketch_len;

    if (r->sketch_len == 0)
        return WR_OK;
    if (plat_mem_reserve(&st->read_bytes, &st->read_cap, need, 4096) != 0)
        return WR_E_NOMEM;
    memcpy(st->read_bytes + *used, r->sketch, r->sketch_len);
    *used = need;
    r->sketch = NULL;
    return WR_OK;
}

static void point_sketches(struct wr_store *st, struct wr_outbox_row *rows, size_t n)
{
    size_t at = 0;

    for (size_t i = 0; i < n; i++) {
        if (rows[i].result.sketch_len == 0)
            continue;
        rows[i].result.sketch = st->read_bytes + at;
        at += rows[i].result.sketch_len;
    }
}

int wr_store_outbox_read(struct wr_store *st, uint64_t after_id, struct wr_outbox_row *rows,
                         size_t max, size_t *n)
{
    sqlite3_stmt *stmt;
    size_t sketch_used = 0;
    size_t got = 0;
    int src = SQLITE_DONE;
    int rc = WR_OK;

    if (n != NULL)
        *n = 0;
    if (st == NULL || n == NULL || (rows == NULL && max > 0))
        return WR_E_INVAL;
    if (max == 0)
        return WR_OK;
    rc = wr_store__usable(st);
    if (rc != WR_OK)
        return rc;
    stmt = st->stmt[STMT_OB_READ];
    sqlite3_bind_int64(stmt, 1, clamp_id(after_id));
    /*
     * No LIMIT: ORDER BY the rowid streams rows without sorting, so stopping
     * after max rows costs nothing, and skipped rows do not shorten a page.
     */
    while (got < max && (src = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct wr_outbox_row *row = &rows[got];
        const struct wr_store__stream *s =
            wr_store__stream_by_db_id(st, sqlite3_column_int64(stmt, 1));
        int key_len = sqlite3_column_bytes(stmt, 2);
        const void *key = sqlite3_column_blob(stmt, 2);

        memset(row, 0, sizeof(*row));
        if (key_len < 0 || key_len >= WR_KEY_MAX ||
            wr_store__result_blob_decode(sqlite3_column_blob(stmt, 6),
                                         sqlite3_column_bytes(stmt, 6), &row->result) != WR_OK) {
            st->stats.bad_rows++;
            continue;
        }
        row->id = (uint64_t)sqlite3_column_int64(stmt, 0);
        if (key_len > 0)
            memcpy(row->result.key, key, (size_t)key_len);
        row->result.start_ms = sqlite3_column_int64(stmt, 3);
        row->result.size_s = (uint32_t)sqlite3_column_int64(stmt, 4);
        row->result.revision = (uint32_t)sqlite3_column_int64(stmt, 5);
        rc = keep_sketch(st, &sketch_used, &row->result);
        if (rc != WR_OK)
            break;
        if (s != NULL) {
            memcpy(row->stream_name, s->name, sizeof(row->stream_name));
            row->result.stream = s->index >= 0 ? (uint16_t)s->index : WR_STORE_STREAM_UNKNOWN;
        } else {
            row->result.stream = WR_STORE_STREAM_UNKNOWN;
        }
        got++;
    }
    if (rc == WR_OK && got < max && src != SQLITE_DONE)
        rc = wr_store__fail(st, src, "reading the outbox");
    sqlite3_reset(stmt);
    if (rc == WR_OK)
        point_sketches(st, rows, got);
    *n = rc == WR_OK ? got : 0;
    return wr_store__finish(st, rc);
}

int wr_store_outbox_delete(struct wr_store *st, const uint64_t *ids, size_t n)
{
    struct wr_store__delta delta;
    bool joined = false;
    int rc;

    if (st == NULL || (ids == NULL && n > 0))
        return WR_E_INVAL;
    if (n == 0)
        return WR_OK;
    if (st->txn == WR_STORE__TXN_FAILED)
        return WR_E_STATE;
    rc = wr_store__usable(st);
    if (rc != WR_OK)
        return rc;
    memset(&delta, 0, sizeof(delta));
    rc = wr_store__unit_begin(st, &joined);
    if (rc != WR_OK)
        return wr_store__finish(st, rc);
    for (size_t i = 0; i < n && rc == WR_OK; i++) {
        sqlite3_stmt *len_stmt = st->stmt[STMT_OB_KEY_LEN];
        sqlite3_stmt *del = st->stmt[STMT_OB_DELETE];
        int src;

        if (ids[i] > (uint64_t)INT64_MAX)
            continue;
        /* Read the row's size first to keep the byte counter exact (RETURNING needs 3.35). */
        sqlite3_bind_int64(len_stmt, 1, (sqlite3_int64)ids[i]);
        src = sqlite3_step(len_stmt);
        if (src == SQLITE_ROW) {
            int64_t var_len = sqlite3_column_int64(len_stmt, 0);

            sqlite3_reset(len_stmt);
            sqlite3_bind_int64(del, 1, (sqlite3_int64)ids[i]);
            src = sqlite3_step(del);
            if (src == SQLITE_DONE) {
                delta.outbox_rows--;
                delta.outbox_bytes -=
                    (int64_t)(WR_STORE_OUTBOX_ROW_FIXED_BYTES + (uint64_t)var_len);
                delta.rows_written++;
            } else {
                rc = wr_store__fail(st, src, "deleting acknowledged results");
            }
            sqlite3_reset(del);
        } else {
            if (src != SQLITE_DONE)
                rc = wr_store__fail(st, src, "looking up acknowledged results");
            sqlite3_reset(len_stmt);
        }
    }
    rc = wr_store__unit_end(st, joined, &delta, rc);
    return wr_store__finish(st, rc);
}

void wr_store_outbox_stats(const struct wr_store *st, uint64_t *rows, uint64_t *bytes)
{
    if (rows != NULL)
        *rows = st != NULL ? st->outbox_rows : 0;
    if (bytes != NULL)
        *bytes = st != NULL ? st->outbox_bytes : 0;
}
