#ifndef WR_STORE_INTERNAL_H
#define WR_STORE_INTERNAL_H

/*
 * Shared by the store's source files (store.c, store_schema.c,
 * store_outbox.c, store_budget.c) and nothing else: the layout of struct
 * wr_store and the module-internal helpers. This is the only header that
 * includes sqlite3.h.
 */

#include <sqlite3.h>

#include "plat_log.h"
#include "store.h"

#define WR_STORE__MOD "store"
#define WR_STORE__AGG_BLOB_BYTES 80

/* Every statement the store runs after open; prepared at open, finalized at close. */
enum wr_store__stmt {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SAVEPOINT,
    STMT_RELEASE,
    STMT_ROLLBACK_TO,
    STMT_PAGE_COUNT,
    STMT_FREELIST_COUNT,
    STMT_INCREMENTAL_VACUUM,
    STMT_WIN_DELETE_BEFORE,
    STMT_WIN_DELETE_PERIOD,
    STMT_WIN_LOAD,
    STMT_CLOCK_PUT,
    STMT_CLOCK_LOAD,
    STMT_OB_INSERT,
    STMT_OB_INSERT_ID,
    STMT_OB_READ,
    STMT_OB_KEY_LEN,
    STMT_OB_DELETE,
    STMT_OB_SEED,
    STMT_OB_IN_RANGE,
    STMT_OB_DELETE_IN_RANGE,
    STMT_OB_AT_START,
    STMT_OB_MIN_SIZE,
    STMT_OB_DROP_SCAN,
    STMT_OB_DELETE_RANGE,
    STMT_SET_PUT,
    STMT_SET_DELETE_PERIOD,
    STMT_SET_DELETE_BEFORE,
    STMT_SET_LOAD,
    STMT_PERIODS_LOAD,
    STMT_SYNC_FULL,
    STMT_SYNC_NORMAL,
    STMT_COUNT_
};

enum wr_store__txn {
    WR_STORE__TXN_NONE = 0,
    WR_STORE__TXN_OPEN,   /* a checkpoint transaction is open and healthy */
    WR_STORE__TXN_FAILED, /* a checkpoint statement failed: only rollback is valid */
};

/* One row of the streams table: every name the database knows, configured or not. */
struct wr_store__stream {
    int64_t db_id;
    int index; /* config index, or -1 when the stream is no longer configured */
    char name[WR_STORE_NAME_MAX];
};

/* A period (stream, window start) that has window sets or version 2 rows in the file. */
struct wr_store__period {
    int64_t db_id;
    int64_t start_ms;
};

/* Counter changes of an open transaction: applied at commit, dropped at rollback. */
struct wr_store__delta {
    int64_t outbox_rows;
    int64_t outbox_bytes;
    uint64_t rows_written;
    uint64_t outbox_appended;
    uint64_t checkpoint_logical_bytes;
};

struct wr_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[STMT_COUNT_];
    char path[WR_STORE_PATH_MAX];

    /* Options, kept so that a corrupt database can be replaced in place. */
    char (*cfg_names)[WR_STORE_NAME_MAX];
    size_t n_cfg;
    uint64_t max_bytes;
    enum wr_on_full on_full;
    uint32_t rollup_factor;
    uint32_t sync_every_commits;
    uint32_t wal_max_pages;

    /* Per config stream: its WR_AGG_* mask (what its checkpoint records keep); NULL = all. */
    unsigned *cfg_aggs;
    uint64_t next_set_seq; /* seq of the next window set: above every one in the file */
    /* Periods with stored windows, sorted, so that only results whose window may have a
     * record get a closed mark. Reloaded from the file after a rollback (periods_stale). */
    struct wr_store__period *periods;
    size_t n_periods;
    size_t cap_periods;
    bool periods_stale;

    /* Stream map: config index -> database id, and every known name. */
    int64_t *cfg_db_id;
    /* Per config stream: no result for a window starting before this can still
     * be appended (see wr_store_set_sealed_before); INT64_MAX until set. */
    int64_t *cfg_sealed_before_ms;
    struct wr_store__stream *streams;
    size_t n_streams;

    enum wr_store__txn txn;
    struct wr_store__delta pending;

    /* Counters, valid between transactions. */
    uint64_t outbox_rows;
    uint64_t outbox_bytes;
    uint64_t page_count;
    uint64_t page_size;
    uint64_t wal_frames;
    uint32_t commits_since_sync;
    struct wr_store_stats stats;

    /* Per config stream: its quantiles, which a rollup recomputes from the merged sketch. */
    double (*cfg_q)[WR_RESULT_MAX_QUANTILES];
    uint8_t *cfg_nq;

    /* A result's blob being written, grown to the largest so far (results carry sketches). */
    unsigned char *blob_buf;
    size_t blob_cap;
    /* Sketch bytes of the rows the last outbox read returned (wr_store_outbox_read). */
    uint8_t *read_bytes;
    size_t read_cap;

    bool corrupt; /* a statement reported corruption: recover before returning */
    struct plat_log_limiter err_limiter;
    struct plat_log_limiter rollup_limiter;
};

/*
 * Map a SQLite result code to WR_*, log the original message once with
 * context, count it, and remember corruption. rc must be an error.
 */
int wr_store__fail(struct wr_store *st, int rc, const char *what);

/* Step a statement that returns no rows to completion and reset it. */
int wr_store__exec(struct wr_store *st, enum wr_store__stmt which, const char *what);

/*
 * Begin a unit of work: its own transaction when no checkpoint is open,
 * otherwise a savepoint inside the checkpoint. Returns WR_E_STATE when the
 * open checkpoint already failed.
 */
int wr_store__unit_begin(struct wr_store *st, bool *joined);

/* End a unit begun with wr_store__unit_begin: commit (rc == WR_OK) or roll back. */
int wr_store__unit_end(struct wr_store *st, bool joined, const struct wr_store__delta *delta,
                       int rc);

/*
 * Finish a public call: when it hit corruption, move the database aside and
 * start a fresh one, then return rc (WR_E_CORRUPT stays the answer).
 */
int wr_store__finish(struct wr_store *st, int rc);

/* Reconnect if a recovery could not finish (db is NULL); WR_OK when the store has a database. */
int wr_store__usable(struct wr_store *st);

/* Refresh page_count after anything that may have changed it. */
int wr_store__refresh_pages(struct wr_store *st);

/* Roll back the open transaction, if SQLite has not already done so. */
void wr_store__rollback(struct wr_store *st);

/* Count the WAL frames a commit appended (the WAL now holds frames) in the written-bytes estimate. */
void wr_store__count_wal_append(struct wr_store *st, uint64_t frames);

/* Checkpoint the WAL and truncate it: the durable point. */
int wr_store__wal_truncate(struct wr_store *st);

/* The stream table entry of a database id, or NULL. */
const struct wr_store__stream *wr_store__stream_by_db_id(const struct wr_store *st, int64_t id);

/* Division rounding toward minus infinity (window alignment of negative times). */
static inline int64_t wr_store__floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/*
 * The logical bytes of a row a checkpoint writes: what the state is worth
 * without SQLite's records and pages (key bytes, the integer columns at
 * their C widths, the aggregate blob). The stats report them next to the
 * physical bytes, so a checkpoint's write amplification can be watched.
 */
#define WR_STORE__WINDOW_ROW_LOGICAL_FIXED 15u /* stream 2, start 8, revision 4, flags 1 */
#define WR_STORE__CLOCK_ROW_LOGICAL 10u        /* stream 2, clock 8 */
#define WR_STORE__SET_ROW_LOGICAL 10u          /* a window set: stream 2, start 8 */
#define WR_STORE__RESULT_ROW_LOGICAL_FIXED 18u /* stream 2, start 8, size 4, revision 4 */

/*
 * Outbox bytes counted for one row: the fixed allowance (which covers the
 * 80-byte aggregate) plus the key and whatever the aggregate BLOB holds past
 * its fixed part (quantile values, the sketch). The SQL that sums this for
 * stored rows is WR_STORE__ROW_VAR_SQL.
 */
static inline uint64_t wr_store__row_bytes(size_t key_len, size_t blob_len)
{
    size_t extra = blob_len > WR_STORE__AGG_BLOB_BYTES ? blob_len - WR_STORE__AGG_BLOB_BYTES : 0;

    return WR_STORE_OUTBOX_ROW_FIXED_BYTES + (uint64_t)key_len + (uint64_t)extra;
}

/* A row's bytes past the fixed allowance, in SQL (keep in step with wr_store__row_bytes). */
#define WR_STORE__ROW_VAR_SQL "(length(key) + max(length(agg), 80) - 80)"

/*
 * The aggregate BLOB (see store.h): 80 fixed bytes, then optional sections,
 * each a tag byte: 'Q' (a count byte, then that many little-endian doubles:
 * a result's quantile values) and 'S' (a 4-byte little-endian length, then
 * the sketch in its binary form, agent/sketch.h: a window row's sketch, and
 * since results carry theirs, an outbox row's). Blobs written before
 * quantiles existed are the 80 bytes alone.
 */
void wr_store__agg_encode(const struct wr_agg *agg, unsigned char out[WR_STORE__AGG_BLOB_BYTES]);
/** Decode the fixed part; sections are checked and skipped. agg->sketch is set to NULL. */
int wr_store__agg_decode(const void *blob, int len, struct wr_agg *agg);
/** Length of a result's blob: the aggregate, its quantile values and its sketch. */
size_t wr_store__result_blob_size(const struct wr_result *r);
/** Write a result's blob into out (wr_store__result_blob_size bytes); returns the length. */
size_t wr_store__result_blob_write(const struct wr_result *r, unsigned char *out);
/**
 * A result's blob in the store's write buffer (valid until the next call):
 * WR_OK, or WR_E_NOMEM (the buffer could not grow).
 */
int wr_store__result_blob(struct wr_store *st, const struct wr_result *r,
                          const unsigned char **blob, size_t *len);
/**
 * Decode a result's blob into r->agg, r->quantiles, r->n_quantiles, and
 * r->sketch/sketch_len: a view into blob (not decoded), NULL/0 without one.
 */
int wr_store__result_blob_decode(const void *blob, int len, struct wr_result *r);
/** Decode a version 2 window row's blob; agg->sketch is a new sketch (caller destroys) or NULL. */
int wr_store__state_blob_decode(const void *blob, int len, struct wr_agg *agg);

/* Window sets (store_window.c). */
/** The REC_* fields a stream with these WR_AGG_* aggregates (and a sketch or not) keeps. */
unsigned wr_store__fields_for(unsigned aggregates, bool sketch);
/* A record's sketch: a sketch to serialize, or bytes already serialized (a result's). */
struct wr_store__sketch_src {
    const struct wr_sketch *sketch;
    const uint8_t *raw;
    size_t raw_len;
};
size_t wr_store__record_size(const char *key, size_t key_len, int64_t start_ms, uint32_t revision,
                             const struct wr_agg *agg, const struct wr_store__sketch_src *sk,
                             unsigned fields);
/** Encode one record; 0 when it does not fit cap (or the key is too long, or the sketch fails). */
size_t wr_store__record_encode(const char *key, size_t key_len, int64_t start_ms,
                               uint32_t revision, unsigned flags, const struct wr_agg *agg,
                               const struct wr_store__sketch_src *sk, unsigned fields,
                               unsigned char *out, size_t cap);
/** The record that marks a result's window closed (its aggregate and sketch bytes). */
size_t wr_store__closed_record_size(const struct wr_store *st, const struct wr_result *r,
                                    size_t key_len);
size_t wr_store__closed_record_encode(const struct wr_store *st, const struct wr_result *r,
                                      size_t key_len, unsigned char *out, size_t cap);
/**
 * Insert one set of n records for a period (n == 0: none), after deleting
 * every earlier set and version 2 row of the period when replace. Adds the
 * rows changed to *rows_changed. Runs inside the caller's transaction.
 */
int wr_store__insert_set(struct wr_store *st, int64_t stream_db_id, int64_t start_ms, bool replace,
                         const unsigned char *records, size_t len, uint32_t n,
                         uint64_t *rows_changed);
/** Does the period have stored windows (so far as known: after a rollback it is read again)? */
bool wr_store__period_stored(struct wr_store *st, int64_t db_id, int64_t start_ms);
/** Read the periods with stored windows from the file. WR_OK, WR_E_NOMEM or a storage error. */
int wr_store__periods_load(struct wr_store *st);
/** Free the period list. */
void wr_store__periods_free(struct wr_store *st);
/** A set of n records was written for the period (replace: earlier ones deleted). */
void wr_store__periods_note_set(struct wr_store *st, int64_t db_id, int64_t start_ms, bool replace,
                                uint32_t n);
/** The stream's windows before floor_ms were deleted. */
void wr_store__periods_note_delete_before(struct wr_store *st, int64_t db_id, int64_t floor_ms);
/** Visit every record of every set, oldest set first; undecodable ones counted in *skipped. */
int wr_store__load_sets(struct wr_store *st, wr_window_visit_fn visit, void *ctx, size_t *skipped);

/* Schema (store_schema.c). */
extern const char *const wr_store__stmt_sql[STMT_COUNT_];
uint32_t wr_store__schema_version(void);
int wr_store__migrate(struct wr_store *st, uint32_t *found_version);

#endif /* WR_STORE_INTERNAL_H */
