/*
 * The store's schema: the forward migrations, applied in order from the
 * database's PRAGMA user_version, and the text of every statement the store
 * prepares at open. A new schema version is one more entry at the end of
 * migrations[] (never an edit of an old one: databases in the field went
 * through it), plus a fixture test that a database of the previous version
 * opens.
 */
#include "store_internal.h"

#include <stdio.h>

#include "wr_error.h"

struct migration {
    uint32_t version; /* user_version after this step */
    const char *sql;
};

/*
 * Version 1.
 * - streams: every stream name the database has seen; the other tables
 *   refer to a stream by this small integer id, so renumbering the config
 *   costs nothing and names are stored once.
 * - windows: one row per window state, keyed like the engine keys windows.
 *   WITHOUT ROWID: the primary key is the only lookup path, so a separate
 *   rowid b-tree would only cost writes.
 * - outbox: AUTOINCREMENT so ids never go back, even after every row was
 *   deleted; the forwarder's "rows after id" cursor relies on it. The index
 *   serves the rollup's lookups of the rows of one (stream, key) by start.
 * Keys are BLOBs: they are bytes from topics and payloads, compared as bytes.
 */
/* clang-format off */
static const char v1_sql[] =
    "CREATE TABLE streams ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE"
    ");"
    "CREATE TABLE stream_clocks ("
    "  stream_id INTEGER PRIMARY KEY,"
    "  max_event_ms INTEGER NOT NULL"
    ");"
    "CREATE TABLE windows ("
    "  stream_id INTEGER NOT NULL,"
    "  key BLOB NOT NULL,"
    "  start_ms INTEGER NOT NULL,"
    "  revision INTEGER NOT NULL,"
    "  flags INTEGER NOT NULL,"
    "  agg BLOB NOT NULL,"
    "  PRIMARY KEY (stream_id, key, start_ms)"
    ") WITHOUT ROWID;"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  stream_id INTEGER NOT NULL,"
    "  key BLOB NOT NULL,"
    "  start_ms INTEGER NOT NULL,"
    "  size_s INTEGER NOT NULL,"
    "  revision INTEGER NOT NULL,"
    "  agg BLOB NOT NULL"
    ");"
    "CREATE INDEX outbox_window ON outbox (stream_id, key, start_ms);";
/* clang-format on */

/*
 * Version 2: windows keyed by (stream, start, key) instead of (stream, key,
 * start). A checkpoint rewrites the windows of the current period, which sit
 * together in this order; in the old order they were spread over every leaf
 * page between closed windows kept for revisions, so each checkpoint
 * rewrote the whole table (measured: 40 MB/min at 1,000 keys and 1 s
 * checkpoints before, see docs/storage.md for after).
 */
/* clang-format off */
static const char v2_sql[] =
    "CREATE TABLE windows_v2 ("
    "  stream_id INTEGER NOT NULL,"
    "  key BLOB NOT NULL,"
    "  start_ms INTEGER NOT NULL,"
    "  revision INTEGER NOT NULL,"
    "  flags INTEGER NOT NULL,"
    "  agg BLOB NOT NULL,"
    "  PRIMARY KEY (stream_id, start_ms, key)"
    ") WITHOUT ROWID;"
    "INSERT INTO windows_v2 SELECT stream_id, key, start_ms, revision, flags, agg FROM windows;"
    "DROP TABLE windows;"
    "ALTER TABLE windows_v2 RENAME TO windows;";
/* clang-format on */

/*
 * Version 3: window checkpoints as sets (agent/store_window.c). One row per
 * period (stream, window start) and checkpoint holds the compact records of
 * the windows it wrote, in one BLOB: SQLite keeps a large BLOB in overflow
 * pages filled to the last byte, where one row per window left B-tree
 * leaves half full and made a checkpoint write three times its state
 * (measured: 575 KB for 190 KB at 1,000 keys). seq orders the sets (a later
 * record of a window wins) and is the rowid, so new sets are appended at
 * the B-tree's right edge. The version 2 table stays: its rows are read at
 * restore before the sets, and deleted with their period.
 */
/* clang-format off */
static const char v3_sql[] =
    "CREATE TABLE window_sets ("
    "  seq INTEGER PRIMARY KEY,"
    "  stream_id INTEGER NOT NULL,"
    "  start_ms INTEGER NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  states BLOB NOT NULL"
    ");";
/* clang-format on */

static const struct migration migrations[] = {
    {1, v1_sql},
    {2, v2_sql},
    {3, v3_sql},
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

const char *const wr_store__stmt_sql[STMT_COUNT_] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_SAVEPOINT] = "SAVEPOINT wr_unit",
    [STMT_RELEASE] = "RELEASE wr_unit",
    [STMT_ROLLBACK_TO] = "ROLLBACK TO wr_unit",
    [STMT_PAGE_COUNT] = "PRAGMA page_count",
    [STMT_FREELIST_COUNT] = "PRAGMA freelist_count",
    [STMT_INCREMENTAL_VACUUM] = "PRAGMA incremental_vacuum",
    [STMT_WIN_DELETE_PERIOD] = "DELETE FROM windows WHERE stream_id = ?1 AND start_ms = ?2",
    [STMT_SET_PUT] = "INSERT INTO window_sets (seq, stream_id, start_ms, n, states)"
                     " VALUES (?1, ?2, ?3, ?4, ?5)",
    [STMT_SET_DELETE_PERIOD] = "DELETE FROM window_sets WHERE stream_id = ?1 AND start_ms = ?2",
    [STMT_SET_DELETE_BEFORE] = "DELETE FROM window_sets WHERE stream_id = ?1 AND start_ms < ?2",
    [STMT_SET_LOAD] = "SELECT stream_id, start_ms, n, states FROM window_sets ORDER BY seq",
    [STMT_PERIODS_LOAD] = "SELECT stream_id, start_ms FROM window_sets"
                          " UNION SELECT stream_id, start_ms FROM windows ORDER BY 1, 2",
    /* A checkpoint's commit syncs the WAL (FULL); every other commit does not (NORMAL). */
    [STMT_SYNC_FULL] = "PRAGMA synchronous = FULL",
    [STMT_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    [STMT_WIN_DELETE_BEFORE] = "DELETE FROM windows WHERE stream_id = ?1 AND start_ms < ?2",
    [STMT_WIN_LOAD] = "SELECT stream_id, key, start_ms, revision, flags, agg FROM windows",
    [STMT_CLOCK_PUT] =
        "INSERT OR REPLACE INTO stream_clocks (stream_id, max_event_ms) VALUES (?1, ?2)",
    [STMT_CLOCK_LOAD] = "SELECT stream_id, max_event_ms FROM stream_clocks",
    [STMT_OB_INSERT] = "INSERT INTO outbox (stream_id, key, start_ms, size_s, revision, agg)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [STMT_OB_INSERT_ID] = "INSERT INTO outbox (id, stream_id, key, start_ms, size_s, revision, agg)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [STMT_OB_READ] = "SELECT id, stream_id, key, start_ms, size_s, revision, agg FROM outbox"
                     " WHERE id > ?1 ORDER BY id",
    [STMT_OB_KEY_LEN] = "SELECT " WR_STORE__ROW_VAR_SQL " FROM outbox WHERE id = ?1",
    [STMT_OB_DELETE] = "DELETE FROM outbox WHERE id = ?1",
    [STMT_OB_SEED] = "SELECT id, stream_id, key, start_ms, size_s FROM outbox"
                     " WHERE id > ?1 ORDER BY id LIMIT ?2",
    /* The rows inside [?3, ?4) of one (stream, key), best revision of each window first. */
    [STMT_OB_IN_RANGE] = "SELECT id, start_ms, size_s, revision, agg FROM outbox"
                         " WHERE stream_id = ?1 AND key = ?2 AND start_ms >= ?3 AND start_ms < ?4"
                         " AND start_ms + size_s * 1000 <= ?4 AND id > ?5"
                         " ORDER BY start_ms, size_s, revision DESC, id DESC",
    [STMT_OB_DELETE_IN_RANGE] = "DELETE FROM outbox"
                                " WHERE stream_id = ?1 AND key = ?2 AND start_ms >= ?3"
                                " AND start_ms < ?4 AND start_ms + size_s * 1000 <= ?4 AND id > ?5",
    [STMT_OB_AT_START] = "SELECT size_s FROM outbox"
                         " WHERE stream_id = ?1 AND key = ?2 AND start_ms = ?3 AND id > ?4",
    [STMT_OB_MIN_SIZE] = "SELECT min(size_s) FROM outbox WHERE id > ?1",
    [STMT_OB_DROP_SCAN] =
        "SELECT id, " WR_STORE__ROW_VAR_SQL " FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2",
    [STMT_OB_DELETE_RANGE] = "DELETE FROM outbox WHERE id > ?1 AND id <= ?2",
};

uint32_t wr_store__schema_version(void)
{
    return migrations[N_MIGRATIONS - 1].version;
}

static int exec_sql(struct wr_store *st, const char *sql, const char *what)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? WR_OK : wr_store__fail(st, rc, what);
}

static int read_user_version(struct wr_store *st, uint32_t *version)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        sqlite3_int64 v = sqlite3_column_int64(stmt, 0);

        /* user_version is a signed 32-bit header field; negative is not ours. */
        *version = v < 0 ? UINT32_MAX : (uint32_t)v;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        rc = wr_store__fail(st, rc, "reading the schema version");
    sqlite3_finalize(stmt);
    return rc;
}

int wr_store__migrate(struct wr_store *st, uint32_t *found_version)
{
    uint32_t version = 0;
    char set_version[64];
    int rc;

    rc = read_user_version(st, &version);
    if (rc != WR_OK)
        return rc;
    *found_version = version;
    if (version > wr_store__schema_version()) {
        PLAT_ERROR(WR_STORE__MOD,
                   "%s has schema version %u, newer than this windrow knows (%u): it was written "
                   "by a newer windrow; refusing to open it (upgrade windrow, or move the file "
                   "away to start empty)",
                   st->path, (unsigned)version, (unsigned)wr_store__schema_version());
        return WR_E_RANGE;
    }
    for (size_t i = 0; i < N_MIGRATIONS; i++) {
        const struct migration *m = &migrations[i];

        if (m->version <= version)
            continue;
        /* One transaction per step: a crash mid-migration leaves the previous version. */
        snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %u;",
                 (unsigned)m->version);
        rc = exec_sql(st, "BEGIN IMMEDIATE;", "starting a schema migration");
        if (rc == WR_OK)
            rc = exec_sql(st, m->sql, "migrating the schema");
        if (rc == WR_OK)
            rc = exec_sql(st, set_version, "migrating the schema");
        if (rc == WR_OK)
            rc = exec_sql(st, "COMMIT;", "committing a schema migration");
        if (rc != WR_OK) {
            if (!sqlite3_get_autocommit(st->db))
                sqlite3_exec(st->db, "ROLLBACK;", NULL, NULL, NULL);
            return rc;
        }
        if (version != 0)
            PLAT_INFO(WR_STORE__MOD, "%s: schema migrated from version %u to %u", st->path,
                      (unsigned)version, (unsigned)m->version);
        version = m->version;
    }
    return WR_OK;
}
