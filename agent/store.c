/*
 * The store's life cycle (open, checks, corruption recovery, close), its
 * error mapping and transaction plumbing, and the window checkpoints.
 * Outbox operations are in store_outbox.c, the budget and rollup in
 * store_budget.c, the schema in store_schema.c.
 */
#include "store.h"

#include <stdio.h>
#include <string.h>

#include "plat_file.h"
#include "plat_log.h"
#include "plat_mem.h"
#include "plat_time.h"
#include "store_internal.h"
#include "wr_error.h"

#define MOD WR_STORE__MOD
#define PAGE_SIZE_BYTES 4096
#define DEFAULT_SYNC_EVERY_COMMITS 64
#define DEFAULT_WAL_MAX_PAGES 1000 /* about 4 MiB of WAL */
#define MIN_WAL_MAX_PAGES 16
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
        PLAT_ERROR(MOD, "%s: %s: the database is corrupt: %s (sqlite %d)", st->path, what, msg,
                   rc);
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

int wr_store__agg_decode(const void *blob, int len, struct wr_agg *agg)
{
    const unsigned char *p = blob;

    if (p == NULL || len != WR_STORE__AGG_BLOB_BYTES)
        return WR_E_CORRUPT;
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
}

static void add_delta(struct wr_store__delta *to, const struct wr_store__delta *d)
{
    to->outbox_rows += d->outbox_rows;
    to->outbox_bytes += d->outbox_bytes;
    to->rows_written += d->rows_written;
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

static void rollback_txn(struct wr_store *st)
{
    int rc;

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
            rollback_txn(st);
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

int wr_store__wal_truncate(struct wr_store *st)
{
    int log_frames = 0;
    int done_frames = 0;
    int rc;

    rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log_frames,
                                   &done_frames);
    if (rc != SQLITE_OK)
        return wr_store__fail(st, rc, "checkpointing the WAL");
    st->wal_frames = 0;
    st->commits_since_sync = 0;
    st->stats.wal_syncs++;
    return WR_OK;
}

/*
 * Runs after every commit (SQLite's own autocheckpoint is replaced by it).
 * It tracks the WAL's size for the budget without a stat call and makes a
 * durable point when the WAL is long or enough commits went by: with
 * synchronous=NORMAL the WAL is fsynced only at these checkpoints. TRUNCATE
 * mode leaves a zero-length WAL so the file on disk matches the count.
 */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int n_pages)
{
    struct wr_store *st = arg;

    (void)db;
    (void)name;
    st->wal_frames = n_pages > 0 ? (uint64_t)n_pages : 0;
    st->commits_since_sync++;
    if (st->wal_frames >= st->wal_max_pages || st->commits_since_sync >= st->sync_every_commits)
        (void)wr_store__wal_truncate(st);
    return SQLITE_OK;
}

/* ---- streams ------------------------------------------------------------------------------- */

const struct wr_store__stream *wr_store__stream_by_db_id(const struct wr_store *st, int64_t id)
{
    for (size_t i = 0; i < st->n_streams; i++)
        if (st->streams[i].db_id == id)
            return &st->streams[i];
    return NULL;
}

static int prepare_once(struct wr_store *st, const char *sql, sqlite3_stmt **stmt,
                        const char *what)
{
    int rc = sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL);

    return rc == SQLITE_OK ? WR_OK : wr_store__fail(st, rc, what);
}

static int insert_stream_names(struct wr_store *st)
{
    sqlite3_stmt *ins = NULL;
    int rc;

    rc = prepare_once(st, "INSERT OR IGNORE INTO streams (name) VALUES (?1)", &ins,
                      "preparing the stream names");
    if (rc == WR_OK)
        rc = wr_store__exec(st, STMT_BEGIN, "starting a transaction");
    for (size_t i = 0; rc == WR_OK && i < st->n_cfg; i++) {
        int src;

        sqlite3_bind_text(ins, 1, st->cfg_names[i], -1, SQLITE_STATIC);
        src = sqlite3_step(ins);
        if (src != SQLITE_DONE)
            rc = wr_store__fail(st, src, "recording the stream names");
        sqlite3_reset(ins);
    }
    if (rc == WR_OK)
        rc = wr_store__exec(st, STMT_COMMIT, "committing the stream names");
    if (rc != WR_OK)
        rollback_txn(st);
    sqlite3_finalize(ins);
    return rc;
}

/* Read every name the database knows and map the configured ones to their ids. */
static int load_stream_map(struct wr_store *st)
{
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0;
    int src = SQLITE_DONE;
    int rc;

    rc = insert_stream_names(st);
    if (rc == WR_OK)
        rc = prepare_once(st, "SELECT count(*) FROM streams", &stmt, "counting streams");
    if (rc == WR_OK) {
        src = sqlite3_step(stmt);
        if (src == SQLITE_ROW)
            cap = (size_t)sqlite3_column_int64(stmt, 0);
        else
            rc = wr_store__fail(st, src, "counting streams");
    }
    sqlite3_finalize(stmt);
    stmt = NULL;
    if (rc != WR_OK)
        return rc;
    st->cfg_db_id = plat_calloc(st->n_cfg, sizeof(*st->cfg_db_id));
    st->streams = plat_calloc(cap > 0 ? cap : 1, sizeof(*st->streams));
    if (st->cfg_db_id == NULL || st->streams == NULL)
        return WR_E_NOMEM;
    for (size_t i = 0; i < st->n_cfg; i++)
        st->cfg_db_id[i] = -1;
    rc = prepare_once(st, "SELECT id, name FROM streams ORDER BY id", &stmt, "reading streams");
    while (rc == WR_OK && (src = sqlite3_step(stmt)) == SQLITE_ROW && st->n_streams < cap) {
        struct wr_store__stream *s = &st->streams[st->n_streams++];
        const unsigned char *name = sqlite3_column_text(stmt, 1);

        s->db_id = sqlite3_column_int64(stmt, 0);
        s->index = -1;
        snprintf(s->name, sizeof(s->name), "%s", name != NULL ? (const char *)name : "");
        for (size_t i = 0; i < st->n_cfg; i++) {
            if (strcmp(st->cfg_names[i], s->name) == 0) {
                s->index = (int)i;
                st->cfg_db_id[i] = s->db_id;
            }
        }
    }
    if (rc == WR_OK && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = wr_store__fail(st, src, "reading streams");
    sqlite3_finalize(stmt);
    for (size_t i = 0; rc == WR_OK && i < st->n_cfg; i++)
        if (st->cfg_db_id[i] < 0)
            rc = WR_E_IO; /* inserted above, so only a database changed under us gets here */
    return rc;
}

/* ---- connection ---------------------------------------------------------------------------- */

static int exec_sql(struct wr_store *st, const char *sql, const char *what)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? WR_OK : wr_store__fail(st, rc, what);
}

static int single_int(struct wr_store *st, const char *sql, int64_t *v, const char *what)
{
    sqlite3_stmt *stmt = NULL;
    int rc = prepare_once(st, sql, &stmt, what);

    if (rc == WR_OK) {
        int src = sqlite3_step(stmt);

        if (src == SQLITE_ROW)
            *v = sqlite3_column_int64(stmt, 0);
        else
            rc = wr_store__fail(st, src, what);
    }
    sqlite3_finalize(stmt);
    return rc;
}

static int set_journal_wal(struct wr_store *st)
{
    sqlite3_stmt *stmt = NULL;
    int rc = prepare_once(st, "PRAGMA journal_mode = WAL", &stmt, "switching to WAL");

    if (rc == WR_OK) {
        int src = sqlite3_step(stmt);

        if (src != SQLITE_ROW) {
            rc = wr_store__fail(st, src, "switching to WAL");
        } else if (sqlite3_stricmp((const char *)sqlite3_column_text(stmt, 0), "wal") != 0) {
            PLAT_ERROR(MOD, "%s: cannot use WAL journal mode (got %s)", st->path,
                       (const char *)sqlite3_column_text(stmt, 0));
            rc = WR_E_IO;
        }
    }
    sqlite3_finalize(stmt);
    return rc;
}

static int quick_check(struct wr_store *st)
{
    sqlite3_stmt *stmt = NULL;
    int rc = prepare_once(st, "PRAGMA quick_check", &stmt, "checking the database");

    if (rc == WR_OK) {
        int src = sqlite3_step(stmt);
        const char *text = src == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : NULL;

        if (src != SQLITE_ROW) {
            rc = wr_store__fail(st, src, "checking the database");
        } else if (text == NULL || strcmp(text, "ok") != 0) {
            PLAT_ERROR(MOD, "%s: quick_check failed: %s", st->path, text != NULL ? text : "?");
            st->corrupt = true;
            rc = WR_E_CORRUPT;
        }
    }
    sqlite3_finalize(stmt);
    return rc;
}

static int prepare_statements(struct wr_store *st)
{
    for (int i = 0; i < STMT_COUNT_; i++) {
        int rc = sqlite3_prepare_v3(st->db, wr_store__stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmt[i], NULL);

        if (rc != SQLITE_OK)
            return wr_store__fail(st, rc, "preparing statements");
    }
    return WR_OK;
}

static int init_counters(struct wr_store *st)
{
    sqlite3_stmt *stmt = NULL;
    int64_t page_size = 0;
    int rc;

    rc = single_int(st, "PRAGMA page_size", &page_size, "reading the page size");
    if (rc != WR_OK)
        return rc;
    st->page_size = page_size > 0 ? (uint64_t)page_size : PAGE_SIZE_BYTES;
    /* Once per open; afterwards every change to the outbox keeps the counters. */
    rc = prepare_once(st, "SELECT count(*), coalesce(sum(length(key)), 0) FROM outbox", &stmt,
                      "counting the outbox");
    if (rc == WR_OK) {
        int src = sqlite3_step(stmt);

        if (src == SQLITE_ROW) {
            uint64_t rows = (uint64_t)sqlite3_column_int64(stmt, 0);
            uint64_t key_bytes = (uint64_t)sqlite3_column_int64(stmt, 1);

            st->outbox_rows = rows;
            st->outbox_bytes = rows * WR_STORE_OUTBOX_ROW_FIXED_BYTES + key_bytes;
        } else {
            rc = wr_store__fail(st, src, "counting the outbox");
        }
    }
    sqlite3_finalize(stmt);
    if (rc == WR_OK)
        rc = wr_store__refresh_pages(st);
    return rc;
}

static void disconnect(struct wr_store *st)
{
    for (int i = 0; i < STMT_COUNT_; i++) {
        sqlite3_finalize(st->stmt[i]);
        st->stmt[i] = NULL;
    }
    if (st->db != NULL) {
        /* Keep a corrupt database's WAL as it is, for whoever looks at the moved file. */
        if (st->corrupt)
            sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
        if (sqlite3_close(st->db) != SQLITE_OK)
            PLAT_ERROR(MOD, "%s: close failed: %s", st->path, sqlite3_errmsg(st->db));
        st->db = NULL;
    }
    plat_free(st->cfg_db_id);
    st->cfg_db_id = NULL;
    plat_free(st->streams);
    st->streams = NULL;
    st->n_streams = 0;
    st->txn = WR_STORE__TXN_NONE;
    memset(&st->pending, 0, sizeof(st->pending));
    st->outbox_rows = 0;
    st->outbox_bytes = 0;
    st->page_count = 0;
    st->wal_frames = 0;
    st->commits_since_sync = 0;
}

static int open_connection(struct wr_store *st)
{
    int rc = sqlite3_open_v2(st->path, &st->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);

    if (rc != SQLITE_OK) {
        if (st->db == NULL)
            return WR_E_NOMEM;
        return wr_store__fail(st, rc, "opening the database");
    }
    sqlite3_extended_result_codes(st->db, 1);
    /* A file the OS will not let us write is opened read-only without an error: refuse it. */
    if (sqlite3_db_readonly(st->db, "main") == 1) {
        PLAT_ERROR(MOD, "%s: the database file is read-only", st->path);
        return WR_E_DENIED;
    }
    return WR_OK;
}

/*
 * page_size and auto_vacuum only take effect while the file is empty, so
 * they come first. EXCLUSIVE locking before WAL keeps the WAL index in heap
 * memory (no -shm file) and holds the lock for the connection's life.
 * Incremental auto-vacuum lets the budget give freed pages back to the file
 * system when it needs to, without the page moves of full auto-vacuum at
 * every commit.
 */
static int connect(struct wr_store *st, uint32_t *found_version)
{
    uint32_t found = 0;
    int rc;

    rc = open_connection(st);
    if (rc == WR_OK)
        rc = exec_sql(st,
                      "PRAGMA page_size = 4096;"
                      "PRAGMA auto_vacuum = INCREMENTAL;"
                      "PRAGMA locking_mode = EXCLUSIVE;",
                      "configuring the database");
    if (rc == WR_OK)
        rc = set_journal_wal(st);
    if (rc == WR_OK)
        rc = exec_sql(st,
                      "PRAGMA synchronous = NORMAL;"
                      "PRAGMA temp_store = MEMORY;"
                      "PRAGMA cell_size_check = ON;",
                      "configuring the database");
    if (rc == WR_OK) {
        sqlite3_wal_hook(st->db, wal_hook, st);
        rc = quick_check(st);
    }
    if (rc == WR_OK)
        rc = wr_store__migrate(st, &found);
    if (found_version != NULL)
        *found_version = found;
    if (rc == WR_OK)
        rc = prepare_statements(st);
    if (rc == WR_OK)
        rc = load_stream_map(st);
    if (rc == WR_OK)
        rc = init_counters(st);
    if (rc != WR_OK)
        disconnect(st);
    return rc;
}

/* ---- corruption ---------------------------------------------------------------------------- */

static int64_t floor_div64(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* "YYYYmmddTHHMMSSZ" for a Unix time in ms (proleptic Gregorian, UTC). */
static void utc_stamp(int64_t ms, char *out, size_t out_len)
{
    int64_t days = floor_div64(ms, 86400000);
    int64_t sod = floor_div64(ms, 1000) - days * 86400;
    /* Days since 1970-01-01 to a civil date (era-based algorithm, valid for all int64 days). */
    int64_t z = days + 719468;
    int64_t era = floor_div64(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);

    if (y < 0)
        y = 0;
    snprintf(out, out_len, "%04u%02u%02uT%02u%02u%02uZ", (unsigned)(y % 10000), (unsigned)m,
             (unsigned)d, (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60),
             (unsigned)(sod % 60));
}

static int move_aside(struct wr_store *st, char *moved, size_t moved_len)
{
    static const char *const sidecars[] = {"-wal", "-shm"};
    char stamp[48];
    char base[WR_STORE_PATH_MAX];
    char from[WR_STORE_PATH_MAX + 8];
    char to[WR_STORE_PATH_MAX + 8];
    int rc;

    utc_stamp(plat_time_wall_ms(), stamp, sizeof(stamp));
    /* Two corruptions in one second must not overwrite the first file. */
    for (int n = 0;; n++) {
        int len = n == 0 ? snprintf(base, sizeof(base), "%s.corrupt-%s", st->path, stamp)
                         : snprintf(base, sizeof(base), "%s.corrupt-%s-%d", st->path, stamp, n);

        if (len < 0 || (size_t)len >= sizeof(base) || n > 99)
            return WR_E_TOOBIG;
        if (!plat_file_exists(base))
            break;
    }
    rc = plat_file_rename(st->path, base);
    if (rc != WR_OK)
        return rc;
    snprintf(moved, moved_len, "%s", base);
    for (size_t i = 0; i < sizeof(sidecars) / sizeof(sidecars[0]); i++) {
        snprintf(from, sizeof(from), "%s%s", st->path, sidecars[i]);
        snprintf(to, sizeof(to), "%s%s", base, sidecars[i]);
        if (!plat_file_exists(from))
            continue;
        /* A WAL left next to the fresh database would be replayed into it: it must go. */
        if (plat_file_rename(from, to) != WR_OK && remove(from) != 0)
            return WR_E_IO;
    }
    return WR_OK;
}

/* Move the corrupt database aside and open a fresh one in its place. */
static int recover(struct wr_store *st, struct wr_store_options *opts)
{
    char moved[WR_STORE_PATH_MAX] = "";
    int rc;

    disconnect(st);
    st->corrupt = false;
    rc = move_aside(st, moved, sizeof(moved));
    if (rc != WR_OK) {
        PLAT_ERROR(MOD, "%s is corrupt and cannot be moved aside (%s): not using it", st->path,
                   wr_strerror(rc));
        return WR_E_CORRUPT;
    }
    st->stats.corruptions++;
    PLAT_ERROR(MOD,
               "%s is corrupt: moved aside to %s and starting with an empty database; the window "
               "checkpoints and unsent results it held are lost",
               st->path, moved);
    if (opts != NULL) {
        opts->recovered_from_corruption = true;
        snprintf(opts->moved_aside_path, sizeof(opts->moved_aside_path), "%s", moved);
    }
    rc = connect(st, NULL);
    if (rc == WR_E_CORRUPT || st->corrupt) {
        st->corrupt = false;
        PLAT_ERROR(MOD, "%s: the fresh database is corrupt too; giving up on it", st->path);
        return WR_E_CORRUPT;
    }
    return rc;
}

int wr_store__finish(struct wr_store *st, int rc)
{
    if (st->corrupt)
        (void)recover(st, NULL);
    return rc;
}

/* Reopen after a recovery that could not complete (e.g. the directory was read-only then). */
int wr_store__usable(struct wr_store *st)
{
    int rc;

    if (st->db != NULL)
        return WR_OK;
    rc = connect(st, NULL);
    if (rc == WR_E_CORRUPT || st->corrupt)
        rc = recover(st, NULL);
    return rc;
}

/* ---- open and close ------------------------------------------------------------------------ */

static int check_options(const struct wr_store_options *opts)
{
    if (opts->dir == NULL || opts->dir[0] == '\0' || opts->stream_names == NULL ||
        opts->n_streams == 0 || opts->n_streams > WR_CFG_MAX_STREAMS || opts->rollup_factor == 1)
        return WR_E_INVAL;
    if (opts->file_name != NULL && opts->file_name[0] == '\0')
        return WR_E_INVAL;
    for (size_t i = 0; i < opts->n_streams; i++) {
        const char *name = opts->stream_names[i];

        if (name == NULL || name[0] == '\0' || strlen(name) >= WR_STORE_NAME_MAX)
            return WR_E_INVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(opts->stream_names[j], name) == 0)
                return WR_E_INVAL;
    }
    return WR_OK;
}

static uint32_t default_wal_pages(uint64_t max_bytes)
{
    uint64_t pages;

    if (max_bytes == 0)
        return DEFAULT_WAL_MAX_PAGES;
    /* Keep the WAL to an eighth of the budget so it cannot eat the outbox's share. */
    pages = max_bytes / 8 / PAGE_SIZE_BYTES;
    if (pages < MIN_WAL_MAX_PAGES)
        pages = MIN_WAL_MAX_PAGES;
    if (pages > DEFAULT_WAL_MAX_PAGES)
        pages = DEFAULT_WAL_MAX_PAGES;
    return (uint32_t)pages;
}

int wr_store_open(struct wr_store_options *opts, struct wr_store **out)
{
    struct wr_store *st = NULL;
    const char *file;
    uint32_t found = 0;
    int len;
    int rc;

    if (opts == NULL || out == NULL)
        return WR_E_INVAL;
    opts->recovered_from_corruption = false;
    opts->moved_aside_path[0] = '\0';
    opts->found_schema_version = 0;
    rc = check_options(opts);
    if (rc != WR_OK)
        return rc;
    st = plat_calloc(1, sizeof(*st));
    if (st == NULL)
        return WR_E_NOMEM;
    file = opts->file_name != NULL ? opts->file_name : WR_STORE_FILE_NAME;
    len = snprintf(st->path, sizeof(st->path), "%s/%s", opts->dir, file);
    if (len < 0 || (size_t)len >= sizeof(st->path)) {
        rc = WR_E_INVAL;
        goto fail;
    }
    st->cfg_names = plat_calloc(opts->n_streams, sizeof(*st->cfg_names));
    if (st->cfg_names == NULL) {
        rc = WR_E_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < opts->n_streams; i++)
        snprintf(st->cfg_names[i], sizeof(st->cfg_names[i]), "%s", opts->stream_names[i]);
    st->n_cfg = opts->n_streams;
    st->max_bytes = opts->max_bytes;
    st->on_full = opts->on_full;
    st->rollup_factor =
        opts->rollup_factor != 0 ? opts->rollup_factor : WR_STORE_ROLLUP_FACTOR_DEFAULT;
    st->sync_every_commits =
        opts->sync_every_commits != 0 ? opts->sync_every_commits : DEFAULT_SYNC_EVERY_COMMITS;
    st->wal_max_pages =
        opts->wal_max_pages != 0 ? opts->wal_max_pages : default_wal_pages(opts->max_bytes);
    st->page_size = PAGE_SIZE_BYTES;

    rc = connect(st, &found);
    opts->found_schema_version = found;
    if (rc == WR_E_CORRUPT || st->corrupt)
        rc = recover(st, opts);
    if (rc != WR_OK)
        goto fail;
    *out = st;
    return WR_OK;
fail:
    wr_store_close(st);
    return rc;
}

void wr_store_close(struct wr_store *st)
{
    if (st == NULL)
        return;
    if (st->db != NULL && st->txn != WR_STORE__TXN_NONE)
        rollback_txn(st);
    /* Closing the last connection checkpoints the WAL into the database and deletes it. */
    disconnect(st);
    plat_free(st->cfg_names);
    plat_free(st);
}

/* ---- checkpoints --------------------------------------------------------------------------- */

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
    rc = wr_store__exec(st, STMT_BEGIN, "starting a checkpoint");
    if (rc == WR_OK) {
        st->txn = WR_STORE__TXN_OPEN;
        memset(&st->pending, 0, sizeof(st->pending));
    }
    return wr_store__finish(st, rc);
}

/* Run one bound write statement inside the open checkpoint. */
static int checkpoint_write(struct wr_store *st, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);

    if (rc == SQLITE_DONE) {
        st->pending.rows_written += (uint64_t)sqlite3_changes(st->db);
        rc = WR_OK;
    } else {
        rc = wr_store__fail(st, rc, what);
        st->txn = WR_STORE__TXN_FAILED;
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return wr_store__finish(st, rc);
}

int wr_store_put_window(struct wr_store *st, const struct wr_window_state *state)
{
    unsigned char blob[WR_STORE__AGG_BLOB_BYTES];
    sqlite3_stmt *stmt;
    const char *nul;
    int flags = 0;

    if (st == NULL || state == NULL)
        return WR_E_INVAL;
    if (st->txn != WR_STORE__TXN_OPEN)
        return WR_E_STATE;
    nul = memchr(state->key, '\0', sizeof(state->key));
    if (state->stream >= st->n_cfg || nul == NULL)
        return WR_E_INVAL;
    if (state->closed)
        flags |= FLAG_CLOSED;
    if (state->processing_time)
        flags |= FLAG_PROCESSING_TIME;
    wr_store__agg_encode(&state->agg, blob);
    stmt = st->stmt[STMT_WIN_PUT];
    sqlite3_bind_int64(stmt, 1, st->cfg_db_id[state->stream]);
    sqlite3_bind_blob(stmt, 2, state->key, (int)(nul - state->key), SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, state->start_ms);
    sqlite3_bind_int64(stmt, 4, (sqlite3_int64)state->revision);
    sqlite3_bind_int(stmt, 5, flags);
    sqlite3_bind_blob(stmt, 6, blob, (int)sizeof(blob), SQLITE_STATIC);
    return checkpoint_write(st, stmt, "writing a window checkpoint");
}

int wr_store_visit_window(void *store, const struct wr_window_state *state)
{
    return wr_store_put_window(store, state);
}

int wr_store_put_stream_clock(struct wr_store *st, uint16_t stream, int64_t max_event_ms)
{
    sqlite3_stmt *stmt;

    if (st == NULL)
        return WR_E_INVAL;
    if (st->txn != WR_STORE__TXN_OPEN)
        return WR_E_STATE;
    if (stream >= st->n_cfg)
        return WR_E_INVAL;
    stmt = st->stmt[STMT_CLOCK_PUT];
    sqlite3_bind_int64(stmt, 1, st->cfg_db_id[stream]);
    sqlite3_bind_int64(stmt, 2, max_event_ms);
    return checkpoint_write(st, stmt, "writing a stream clock");
}

int wr_store_delete_windows_before(struct wr_store *st, uint16_t stream, int64_t floor_ms)
{
    sqlite3_stmt *stmt;

    if (st == NULL)
        return WR_E_INVAL;
    if (st->txn != WR_STORE__TXN_OPEN)
        return WR_E_STATE;
    if (stream >= st->n_cfg)
        return WR_E_INVAL;
    stmt = st->stmt[STMT_WIN_DELETE_BEFORE];
    sqlite3_bind_int64(stmt, 1, st->cfg_db_id[stream]);
    sqlite3_bind_int64(stmt, 2, floor_ms);
    return checkpoint_write(st, stmt, "deleting old window checkpoints");
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
        rollback_txn(st);
        st->txn = WR_STORE__TXN_NONE;
        return wr_store__finish(st, WR_E_STATE);
    }
    st->txn = WR_STORE__TXN_NONE;
    rc = commit_txn(st, &pending);
    if (rc != WR_OK)
        rollback_txn(st);
    return wr_store__finish(st, rc);
}

void wr_store_checkpoint_rollback(struct wr_store *st)
{
    if (st == NULL || st->txn == WR_STORE__TXN_NONE)
        return;
    rollback_txn(st);
    st->txn = WR_STORE__TXN_NONE;
    memset(&st->pending, 0, sizeof(st->pending));
    (void)wr_store__finish(st, WR_OK);
}

/* ---- restore ------------------------------------------------------------------------------- */

int wr_store_load_windows(struct wr_store *st, wr_window_visit_fn visit, void *ctx,
                          size_t *skipped)
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
            wr_store__agg_decode(sqlite3_column_blob(stmt, 5), sqlite3_column_bytes(stmt, 5),
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
        if (rc != WR_OK)
            break;
    }
    if (rc == WR_OK && src != SQLITE_DONE)
        rc = wr_store__fail(st, src, "reading window checkpoints");
    sqlite3_reset(stmt);
    if (n_skipped > 0)
        PLAT_WARN(MOD, "%s: %zu window checkpoints skipped (stream no longer configured or "
                       "undecodable)", st->path, n_skipped);
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
