#ifndef WR_STORE_H
#define WR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"
#include "window.h"
#include "wr_config.h"

/*
 * The state store: one SQLite database file in the state directory holding
 * the window checkpoints, the stream clocks and the outbox of closed window
 * results. SQLite is used by this module only; docs/storage.md describes the
 * file layout, the schema and the policies below in more detail.
 *
 * Identity. The config identifies a stream by its index; the database by
 * its NAME, so a reordered config restores correctly. wr_store_open gets the
 * configured names; rows of streams that are no longer configured are
 * skipped at restore (and counted), never deleted, so a config rolled back
 * finds them again.
 *
 * Durability. The database runs in WAL mode. A checkpoint's commit
 * (wr_store_checkpoint_commit) fsyncs the WAL (synchronous=FULL for that
 * commit); every other commit (outbox appends and deletes outside a
 * checkpoint) is only appended to the WAL (synchronous=NORMAL). The WAL is
 * copied into the database and truncated every sync_every_commits commits,
 * when it reaches wal_max_pages pages, on wr_store_sync and at close. WAL
 * recovery always yields a consistent PREFIX of the committed
 * transactions. So:
 *   - a process crash (kill, abort, OOM) loses nothing that was committed:
 *     the WAL is in the kernel's page cache;
 *   - a power loss or kernel crash rolls the database back to the last
 *     checkpoint at worst (that commit and everything before it was synced).
 *     Because the pipeline appends a window's result before (or in the same
 *     transaction as) the checkpoint that records the window closed, a
 *     rolled-back result comes back as an open window that is closed and
 *     emitted again. The loss stays "events since the last checkpoint", the
 *     bound the docs promise, for one fsync per checkpoint interval.
 *
 * Wear. Writes are batched: one transaction per checkpoint (window sets of
 * the periods that changed: compact records in full overflow pages), one
 * per batch of results, one per batch of acknowledged ids. page_size 4096,
 * temp_store MEMORY, secure_delete FAST (no zeroed free pages), locking_mode
 * EXCLUSIVE (no -shm file; a second process cannot open the same state
 * directory).
 *
 * Errors. SQLite and OS failures are mapped once, here, and the original
 * message is logged once with context (rate limited while it repeats):
 *   SQLITE_FULL                                    -> WR_E_NOSPC
 *   SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_PERM  -> WR_E_DENIED
 *   SQLITE_CORRUPT, SQLITE_NOTADB                  -> WR_E_CORRUPT (see below)
 *   SQLITE_BUSY, SQLITE_LOCKED                     -> WR_E_STATE (another process has it)
 *   SQLITE_NOMEM                                   -> WR_E_NOMEM
 *   anything else (SQLITE_IOERR, ...)              -> WR_E_IO
 * A failed write rolls its transaction back, so the database stays
 * consistent, and the store works again as soon as writing does; the caller
 * keeps the data in memory meanwhile.
 *
 * Corruption. wr_store_open runs PRAGMA quick_check. A corrupt database
 * (found at open, or by any later statement reporting SQLITE_CORRUPT or
 * SQLITE_NOTADB) is moved aside to "<file>.corrupt-<YYYYmmddTHHMMSSZ>" (its
 * -wal and -shm files too, with the same suffix before "-wal"/"-shm"),
 * replaced by a fresh database, and reported with a PLAT_ERROR log line, the
 * recovered_from_corruption flag of wr_store_open and stats.corruptions.
 * A call that hit corruption after open returns WR_E_CORRUPT; its data was
 * not stored, the fresh database is ready, and the call may be retried.
 *
 * Not thread-safe: one thread owns a store (callers serialize access).
 */

struct wr_store;

#define WR_STORE_FILE_NAME "windrow.db"
#define WR_STORE_NAME_MAX WR_CFG_NAME_MAX  /* longest stream name, including the NUL */
#define WR_STORE_PATH_MAX 512              /* longest database path, including the NUL */
#define WR_STORE_STREAM_UNKNOWN UINT16_MAX /* wr_result.stream of a row whose stream is gone */
#define WR_STORE_ROLLUP_FACTOR_DEFAULT 10

/* Bytes counted per outbox row on top of its key (see wr_store_outbox_stats). */
#define WR_STORE_OUTBOX_ROW_FIXED_BYTES 112u

struct wr_store_options {
    /* Inputs. */
    const char *dir;                 /* state directory; must exist */
    const char *file_name;           /* NULL = WR_STORE_FILE_NAME */
    const char *const *stream_names; /* index i = config stream i; unique, non-empty */
    size_t n_streams;                /* >= 1, <= WR_CFG_MAX_STREAMS */
    /* WR_AGG_* mask by config stream: the aggregate state its checkpoints keep. NULL = all. */
    const unsigned *stream_aggregates;
    uint64_t max_bytes;              /* budget for database + WAL; 0 = none */
    enum wr_on_full on_full;         /* what wr_store_enforce_budget may do */
    uint32_t rollup_factor;          /* coarser window = size * factor; 0 = default 10 */
    uint32_t sync_every_commits;     /* durable point every N commits; 0 = default 64 */
    uint32_t wal_max_pages;          /* WAL checkpoint threshold; 0 = default (see .c) */
    /*
     * Per config stream (index i as stream_names): the quantiles its results
     * carry, which a rollup recomputes from the merged sketch. Both NULL = no
     * stream has quantiles; at most WR_RESULT_MAX_QUANTILES each, in [0, 1].
     */
    const double *const *stream_quantiles;
    const size_t *stream_n_quantiles;
    /* Outputs, set by wr_store_open (also when it fails). */
    bool recovered_from_corruption;           /* a corrupt database was moved aside */
    char moved_aside_path[WR_STORE_PATH_MAX]; /* where it went ("" if not) */
    uint32_t found_schema_version;            /* user_version before migration; 0 = new */
};

/**
 * Open (creating if needed) the database "<dir>/<file_name>", migrate its
 * schema forward, check it, and prepare every statement. opts is borrowed
 * (names are copied); its output fields are written.
 * Returns WR_OK, or:
 *   WR_E_INVAL   NULL argument, no or too many streams, an empty, too long or
 *                duplicate stream name, a path longer than WR_STORE_PATH_MAX,
 *                rollup_factor 1, more than WR_RESULT_MAX_QUANTILES quantiles
 *                or one outside [0, 1];
 *   WR_E_NOMEM   allocation failed;
 *   WR_E_RANGE   the database's schema version is newer than this build knows
 *                (written by a newer windrow): refused and left untouched;
 *   WR_E_DENIED  the directory or file cannot be opened or written (missing,
 *                not a directory, read-only, permissions);
 *   WR_E_STATE   another process holds the database;
 *   WR_E_NOSPC   no space to create or migrate it;
 *   WR_E_CORRUPT the database is corrupt and could not be moved aside, or the
 *                fresh database is corrupt too;
 *   WR_E_IO      any other I/O failure.
 * On success after moving a corrupt database aside, recovered_from_corruption
 * is true and moved_aside_path names the moved file.
 */
int wr_store_open(struct wr_store_options *opts, struct wr_store **out);

/**
 * Close the store: roll back an open checkpoint, checkpoint the WAL into the
 * database (a durable point), finalize statements, free. NULL does nothing.
 */
void wr_store_close(struct wr_store *st);

/* ---- window checkpoints ---------------------------------------------------------------------- */

/**
 * Start a checkpoint transaction. The put/delete calls below are only valid
 * inside one, and outbox appends and deletes join it (atomically, through a
 * savepoint) when one is open. Returns WR_OK, WR_E_INVAL (NULL), WR_E_STATE
 * (a checkpoint is already open), or a storage error as listed above.
 */
int wr_store_checkpoint_begin(struct wr_store *st);

/*
 * Windows are stored by period, (stream, window start), in window sets: one
 * row per period and checkpoint holding the compact records of the windows
 * it wrote (docs/storage.md, "Compact checkpoints"). A record keeps only the
 * aggregate state the stream's aggregates need (wr_store_options.
 * stream_aggregates; quantiles: the sketch, min and max), unless all_fields
 * asks for every field (the last checkpoint before a reload, which may
 * change the aggregates). A set either replaces every earlier set of its
 * period (it holds every window the period has) or adds to them; at restore
 * a later record of a window wins over an earlier one.
 */

/**
 * Bytes of state's compact record; 0 for an invalid state (NULL, stream
 * not configured, key without NUL). Borrows state.
 */
size_t wr_store_window_record_size(const struct wr_store *st, const struct wr_window_state *state,
                                   bool all_fields);

/**
 * Encode state's compact record into out (cap bytes). Returns the bytes
 * written (wr_store_window_record_size), or 0 for an invalid state, a cap
 * too small, or a sketch that fails to serialize.
 */
size_t wr_store_window_record_encode(const struct wr_store *st, const struct wr_window_state *state,
                                     bool all_fields, unsigned char *out, size_t cap);

/**
 * Inside an open checkpoint: write one window set for the period (stream,
 * start_ms): n records, len bytes from wr_store_window_record_encode, all of
 * that stream and start. replace: delete every earlier set (and version 2
 * row) of the period first, the set being all the period has; with n == 0
 * that empties the period. logical_bytes: how many of the bytes are state
 * that changed (the statistics' checkpoint_logical_bytes). Borrows records.
 * Returns WR_OK, WR_E_INVAL (NULL records with len > 0, n > 0 with len 0,
 * stream not configured), WR_E_STATE (no checkpoint open, or an earlier call
 * in it failed), WR_E_NOMEM, or a storage error. After an error the caller
 * must call wr_store_checkpoint_rollback.
 */
int wr_store_put_window_set(struct wr_store *st, uint16_t stream, int64_t start_ms, bool replace,
                            const unsigned char *records, size_t len, uint32_t n,
                            uint64_t logical_bytes);

/**
 * Write one window's state as a set of its own that adds to its period (a
 * later record wins at restore). Borrows state. Returns WR_OK, WR_E_INVAL
 * (NULL, stream index not configured, key without NUL), WR_E_STATE (no
 * checkpoint open, or an earlier call in it failed), WR_E_NOMEM, or a
 * storage error. After an error the caller must call
 * wr_store_checkpoint_rollback.
 */
int wr_store_put_window(struct wr_store *st, const struct wr_window_state *state);

/** As wr_store_put_window with a signature that fits wr_window_visit_fn (ctx = the store). */
int wr_store_visit_window(void *store, const struct wr_window_state *state);

/** Record a stream's clock (highest event time). Errors as wr_store_put_window. */
int wr_store_put_stream_clock(struct wr_store *st, uint16_t stream, int64_t max_event_ms);

/**
 * Delete the stream's windows that start before floor_ms (from
 * wr_window_retention_floor). Errors as wr_store_put_window.
 */
int wr_store_delete_windows_before(struct wr_store *st, uint16_t stream, int64_t floor_ms);

/**
 * Commit the checkpoint: every put, delete and joined outbox change becomes
 * visible at once. Returns WR_OK, WR_E_INVAL (NULL), WR_E_STATE (none open,
 * or an earlier call in it failed: it is rolled back), or a storage error
 * (the transaction is rolled back; nothing of it is stored).
 */
int wr_store_checkpoint_commit(struct wr_store *st);

/** Discard the open checkpoint (including joined outbox changes); no-op if none. */
void wr_store_checkpoint_rollback(struct wr_store *st);

/**
 * Visit every stored window of a configured stream, with state->stream set
 * to the stream's CURRENT index: version 2 rows first, then the records of
 * every window set, oldest set first. A window may be visited more than
 * once; the later visit is its newer state (wr_window_restore keeps it, and
 * a closed one of a stream that does not revise removes the window).
 * Fields a record does not keep come as a fresh aggregate has them (the
 * stream's aggregates were changed since it was written). Rows of streams
 * no longer configured, and records that cannot be decoded, are skipped and
 * counted in *skipped (may be NULL). A visit returning anything but WR_OK stops the
 * walk and its code is returned. Returns WR_OK, WR_E_INVAL (NULL st or
 * visit), or a storage error.
 */
int wr_store_load_windows(struct wr_store *st, wr_window_visit_fn visit, void *ctx,
                          size_t *skipped);

typedef int (*wr_store_clock_fn)(void *ctx, uint16_t stream, int64_t max_event_ms);

/** Visit every stored clock of a configured stream; otherwise as wr_store_load_windows. */
int wr_store_load_stream_clocks(struct wr_store *st, wr_store_clock_fn visit, void *ctx);

/* ---- outbox -------------------------------------------------------------------------------- */

/*
 * Outbox rows hold one result each: the stream (by name, through a small
 * table of names), key, start_ms, size_s, revision as columns and the
 * aggregate as a BLOB: 80 bytes (count, sum, min, max, mean, m2, first, last,
 * first_ms, last_ms; 8 bytes each, little-endian, doubles as IEEE 754 bits),
 * then the result's quantile values and its sketch when it has them
 * (docs/storage.md).
 * Ids come from AUTOINCREMENT: they only grow, even across deletes and
 * restarts, so "rows after id X" is a stable cursor.
 */

struct wr_outbox_row {
    uint64_t id;
    /*
     * result.stream is WR_STORE_STREAM_UNKNOWN if the stream is gone;
     * result.sketch points into the store: valid until its next call.
     */
    struct wr_result result;
    char stream_name[WR_STORE_NAME_MAX];
};

/**
 * Append n results, oldest first, in one transaction (or a savepoint of the
 * open checkpoint). Borrows results (their sketch bytes are written with
 * them, and with the window's row that is marked closed, so a revisable
 * window keeps its sketch). Returns WR_OK (n == 0 included), WR_E_INVAL
 * (NULL, a stream index not configured, a key without NUL within
 * WR_KEY_MAX, a sketch longer than wr_result_sketch_max()), WR_E_STATE (the
 * open checkpoint already failed), WR_E_NOMEM, or a storage error: then
 * none of the n results is stored.
 */
int wr_store_outbox_append(struct wr_store *st, const struct wr_result *results, size_t n);

/** Would wr_store_outbox_append take this result (configured stream, terminated key)? */
bool wr_store_outbox_accepts(const struct wr_store *st, const struct wr_result *r);

/**
 * As wr_store_outbox_append for n results given by pointer (borrowed), and
 * ids[i] receives the outbox id of *results[i]. The ids are only valid once
 * the transaction commits: inside an open checkpoint, they vanish with a
 * rollback. Errors as wr_store_outbox_append (WR_E_INVAL also for NULL ids).
 */
int wr_store_outbox_append_ids(struct wr_store *st, const struct wr_result *const *results,
                               size_t n, uint64_t *ids);

/**
 * Read up to max rows with id > after_id, in increasing id order, into rows;
 * *n says how many. Their sketch bytes are held by the store until its next
 * call. Rows whose aggregate cannot be decoded are skipped (and counted in
 * stats.bad_rows). Returns WR_OK (also with *n == 0), WR_E_INVAL (NULL),
 * WR_E_NOMEM (no room for the rows' sketches), or a storage error.
 */
int wr_store_outbox_read(struct wr_store *st, uint64_t after_id, struct wr_outbox_row *rows,
                         size_t max, size_t *n);

/**
 * Delete rows by id (after the upstream PUBACK) in one transaction (or a
 * savepoint of the open checkpoint). Ids that are not there (already
 * deleted, dropped by the budget) are ignored. Returns WR_OK, WR_E_INVAL
 * (NULL ids with n > 0), WR_E_STATE (the open checkpoint already failed), or
 * a storage error: then no row is deleted.
 */
int wr_store_outbox_delete(struct wr_store *st, const uint64_t *ids, size_t n);

/**
 * Rows in the outbox and their bytes: per row WR_STORE_OUTBOX_ROW_FIXED_BYTES
 * (columns, the 80-byte aggregate and an allowance for SQLite's record and
 * index overhead) plus the key's length and what the BLOB holds past the
 * aggregate (quantile values, the sketch). Kept as counters: O(1). NULLs allowed.
 */
void wr_store_outbox_stats(const struct wr_store *st, uint64_t *rows, uint64_t *bytes);

/* ---- budget -------------------------------------------------------------------------------- */

struct wr_store_budget_report {
    uint64_t bytes_before;
    uint64_t bytes_after;
    uint64_t rolled_up;   /* rows merged into coarser rows (superseded revisions included) */
    uint64_t rollup_rows; /* coarser rows written in their place */
    uint64_t dropped;     /* oldest rows deleted without rollup */
};

/**
 * No result of this stream for a window starting before before_ms will be
 * appended any more (the window engine's retention floor). Rollup only forms
 * coarser windows that end at or before it, so a rolled-up result never
 * overlaps a finer one appended later. Until set, every window counts as
 * sealed. Returns WR_OK or WR_E_INVAL (NULL store, unknown stream).
 */
int wr_store_set_sealed_before(struct wr_store *st, uint16_t stream, int64_t before_ms);

/**
 * Bring the database under max_bytes (down to 90 % of it, so it is not
 * redone at every append). First the free pages are given back. Then, under
 * WR_ON_FULL_ROLLUP, outbox rows with id > min_id are rolled up
 * (wr_store_outbox_rollup), oldest first and level by level: only the
 * finest rows at first, the next coarser level only once the finer one has
 * nothing left to merge, so the newest data keeps its resolution longest
 * and no more is merged than the budget needs. Only when no level can merge
 * anything are the oldest rows with id > min_id dropped. Rows with id <=
 * min_id (in flight upstream) and the window checkpoints are never touched.
 * Both counts are logged and added to the stats. rep may be NULL.
 * Cheap when under budget (no statement runs): call it after every append.
 * Returns WR_OK (under budget, or no budget), WR_E_INVAL (NULL st),
 * WR_E_STATE (a checkpoint is open), WR_E_FULL (still over max_bytes with no
 * row above min_id left), WR_E_NOMEM, or a storage error (the step that
 * failed is rolled back; earlier steps stay).
 */
int wr_store_enforce_budget(struct wr_store *st, uint64_t min_id,
                            struct wr_store_budget_report *rep);

/**
 * One rollup pass over the oldest rows with id > min_id, stopping once at
 * least want_rows rows are gone (0 = go through all of them). Rows of the
 * same (stream, key, size_s) whose windows fall in one coarser window of
 * size_s * rollup_factor (aligned to the epoch) become one row: size_s is
 * the coarser size, start_ms its aligned start, revision 0, the aggregate
 * the wr_agg_merge of the highest revision of each window (a revision
 * carries the full aggregate). Rows already at the coarser size, or at a
 * coarser size containing it, are merged too, so no two rows overlap. The
 * coarser row takes the smallest id of the rows it replaces, keeping its
 * place in the queue. A window alone in its coarser window only loses its
 * lower revisions. Exact for count, sum, min, max, mean, stddev, first and
 * last. Counts go to rep (may be NULL; added to, not reset).
 * Returns WR_OK, WR_E_INVAL (NULL st), WR_E_STATE (a checkpoint is open),
 * WR_E_NOMEM, or a storage error (the chunk that failed is rolled back).
 */
int wr_store_outbox_rollup(struct wr_store *st, uint64_t min_id, uint64_t want_rows,
                           struct wr_store_budget_report *rep);

/**
 * Bytes the database uses on disk: page_count * page_size plus the WAL
 * (tracked through SQLite's WAL hook, no stat call). O(1). 0 for NULL.
 */
uint64_t wr_store_bytes(const struct wr_store *st);

/**
 * Make everything committed so far durable against power loss (a WAL
 * checkpoint, which fsyncs). Returns WR_OK, WR_E_INVAL, WR_E_STATE (a
 * checkpoint transaction is open) or a storage error.
 */
int wr_store_sync(struct wr_store *st);

struct wr_store_stats {
    uint64_t rows_written;    /* rows inserted, replaced or deleted by committed transactions */
    uint64_t outbox_appended; /* outbox rows inserted by committed transactions */
    uint64_t transactions;    /* committed write transactions */
    uint64_t wal_syncs;       /* WAL checkpoints (durable points) */
    uint64_t write_failures;  /* statements or commits that failed with a storage error */
    uint64_t outbox_rows;
    uint64_t outbox_bytes;
    uint64_t db_bytes;  /* wr_store_bytes */
    uint64_t rolled_up; /* cumulative, see wr_store_budget_report */
    uint64_t rollup_rows;
    uint64_t dropped;
    uint64_t bad_rows;    /* outbox rows skipped because their aggregate did not decode */
    uint64_t corruptions; /* databases moved aside, at open or later */
    /* The store's own estimate of the bytes it wrote to its files since open:
     * WAL frames appended (page + frame header) and pages copied back into the
     * database at WAL checkpoints. The kernel's count (/proc/self/io) is the
     * measure; this stands in where that cannot be read. */
    uint64_t written_bytes_estimate;
    /* Logical bytes of the rows checkpoints wrote (window states, clocks, results written in
     * a checkpoint): key bytes, integer columns at their C widths, aggregate blobs. Compared
     * with the physical bytes of checkpoints, it is their write amplification. */
    uint64_t checkpoint_logical_bytes;
};

/** Copy the counters. NULL st gives zeros. */
void wr_store_get_stats(const struct wr_store *st, struct wr_store_stats *stats);

#endif /* WR_STORE_H */
