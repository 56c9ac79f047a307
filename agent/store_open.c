/*
 * Opening the store: the connection and its pragmas, the integrity check,
 * the schema migration, the stream-name map, and moving a corrupt database
 * aside for a fresh one (at open, or when a later statement finds
 * corruption). Closing it.
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

    uint64_t frames = n_pages > 0 ? (uint64_t)n_pages : 0;

    (void)db;
    (void)name;
    wr_store__count_wal_append(st, frames);
    st->wal_frames = frames;
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

static int prepare_once(struct wr_store *st, const char *sql, sqlite3_stmt **stmt, const char *what)
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
        wr_store__rollback(st);
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
    st->cfg_sealed_before_ms = plat_calloc(st->n_cfg, sizeof(*st->cfg_sealed_before_ms));
    if (st->cfg_sealed_before_ms != NULL)
        for (size_t i = 0; i < st->n_cfg; i++)
            st->cfg_sealed_before_ms[i] = INT64_MAX;
    st->streams = plat_calloc(cap > 0 ? cap : 1, sizeof(*st->streams));
    if (st->cfg_db_id == NULL || st->cfg_sealed_before_ms == NULL || st->streams == NULL)
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
    int64_t max_seq = 0;
    int rc;

    rc = single_int(st, "PRAGMA page_size", &page_size, "reading the page size");
    if (rc != WR_OK)
        return rc;
    st->page_size = page_size > 0 ? (uint64_t)page_size : PAGE_SIZE_BYTES;
    rc = single_int(st, "SELECT coalesce(max(seq), 0) FROM window_sets", &max_seq,
                    "reading the window sets");
    if (rc != WR_OK)
        return rc;
    st->next_set_seq = (uint64_t)(max_seq > 0 ? max_seq : 0) + 1;
    /* Once per open; afterwards every change to the outbox keeps the counters. */
    rc =
        prepare_once(st, "SELECT count(*), coalesce(sum(" WR_STORE__ROW_VAR_SQL "), 0) FROM outbox",
                     &stmt, "counting the outbox");
    if (rc == WR_OK) {
        int src = sqlite3_step(stmt);

        if (src == SQLITE_ROW) {
            uint64_t rows = (uint64_t)sqlite3_column_int64(stmt, 0);
            uint64_t var_bytes = (uint64_t)sqlite3_column_int64(stmt, 1);

            st->outbox_rows = rows;
            st->outbox_bytes = rows * WR_STORE_OUTBOX_ROW_FIXED_BYTES + var_bytes;
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
    wr_store__periods_free(st);
    plat_free(st->cfg_sealed_before_ms);
    st->cfg_sealed_before_ms = NULL;
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
    int rc = sqlite3_open_v2(
        st->path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);

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
 * EXCLUSIVE locking comes first, before any statement reads the file: a WAL
 * database read in normal locking mode gets a -shm file. In exclusive mode
 * the WAL index lives in heap memory and the lock is held for the
 * connection's life. page_size and auto_vacuum only take effect while the
 * file is empty, so they come before anything is written.
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
                      "PRAGMA locking_mode = EXCLUSIVE;"
                      "PRAGMA page_size = 4096;"
                      "PRAGMA auto_vacuum = INCREMENTAL;",
                      "configuring the database");
    if (rc == WR_OK)
        rc = set_journal_wal(st);
    if (rc == WR_OK)
        rc = exec_sql(st,
                      "PRAGMA synchronous = NORMAL;"
                      "PRAGMA temp_store = MEMORY;"
                      "PRAGMA cell_size_check = ON;"
                      /* Debian builds SQLite with SECURE_DELETE: every freed page would be
                       * written again as zeros. FAST zeroes only what is written anyway. */
                      "PRAGMA secure_delete = FAST;",
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
    if (rc == WR_OK)
        rc = wr_store__periods_load(st);
    if (rc != WR_OK)
        disconnect(st);
    return rc;
}

/* ---- corruption ---------------------------------------------------------------------------- */

/* "YYYYmmddTHHMMSSZ" for a Unix time in ms (proleptic Gregorian, UTC). */
static void utc_stamp(int64_t ms, char *out, size_t out_len)
{
    int64_t days = wr_store__floor_div(ms, 86400000);
    int64_t sod = wr_store__floor_div(ms, 1000) - days * 86400;
    /* Days since 1970-01-01 to a civil date (era-based algorithm, valid for all int64 days). */
    int64_t z = days + 719468;
    int64_t era = wr_store__floor_div(z, 146097);
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
             (unsigned)d, (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60));
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

/* The quantiles of config stream i, checked by check_options. */
static size_t stream_n_quantiles(const struct wr_store_options *opts, size_t i)
{
    if (opts->stream_quantiles == NULL || opts->stream_n_quantiles == NULL)
        return 0;
    return opts->stream_n_quantiles[i];
}

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
        if (stream_n_quantiles(opts, i) > WR_RESULT_MAX_QUANTILES ||
            (stream_n_quantiles(opts, i) > 0 && opts->stream_quantiles[i] == NULL))
            return WR_E_INVAL;
        for (size_t k = 0; k < stream_n_quantiles(opts, i); k++)
            if (!(opts->stream_quantiles[i][k] >= 0.0 && opts->stream_quantiles[i][k] <= 1.0))
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
    if (opts->stream_aggregates != NULL) {
        st->cfg_aggs = plat_calloc(opts->n_streams, sizeof(*st->cfg_aggs));
        if (st->cfg_aggs == NULL) {
            rc = WR_E_NOMEM;
            goto fail;
        }
        memcpy(st->cfg_aggs, opts->stream_aggregates, opts->n_streams * sizeof(*st->cfg_aggs));
    }
    st->n_cfg = opts->n_streams;
    st->cfg_q = plat_calloc(opts->n_streams, sizeof(*st->cfg_q));
    st->cfg_nq = plat_calloc(opts->n_streams, sizeof(*st->cfg_nq));
    if (st->cfg_q == NULL || st->cfg_nq == NULL) {
        rc = WR_E_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < opts->n_streams; i++) {
        size_t nq = stream_n_quantiles(opts, i);

        if (nq > 0)
            memcpy(st->cfg_q[i], opts->stream_quantiles[i], nq * sizeof(double));
        st->cfg_nq[i] = (uint8_t)nq;
    }
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
        wr_store__rollback(st);
    /* Closing the last connection checkpoints the WAL into the database and deletes it. */
    disconnect(st);
    plat_free(st->cfg_names);
    plat_free(st->cfg_q);
    plat_free(st->cfg_nq);
    plat_free(st->blob_buf);
    plat_free(st->read_bytes);
    plat_free(st->cfg_aggs);
    plat_free(st);
}
