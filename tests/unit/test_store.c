/*
 * The state store against real SQLite files in a temporary directory. The
 * fault tests mount small tmpfs file systems when the process may (root in
 * the CI container) and are skipped otherwise.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700

#include "test_support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agg.h"
#include "result.h"
#include "sketch.h"
#include "store.h"
#include "window.h"
#include "wr_error.h"

/* Epoch-aligned to 6000 s, so 60 s, 600 s and 6000 s windows all start at T0. */
#define T0 INT64_C(1700004000000)
#define MIN_MS INT64_C(60000)

struct fixture {
    char dir[64];
    char path[128];
};

static const char *const names_ab[] = {"temp", "hum"};

/* ---- helpers ------------------------------------------------------------------------------- */

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    if (wr_test_tmpdir(fx->dir, sizeof(fx->dir), "wr-store") != 0) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/%s", fx->dir, WR_STORE_FILE_NAME);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    char mnt[128];

    /* A failed fault test may leave its tmpfs mounted. */
    snprintf(mnt, sizeof(mnt), "%s/mnt", fx->dir);
    umount2(mnt, MNT_DETACH);
    wr_test_rmtree(fx->dir);
    free(fx);
    return 0;
}

static void opts_init(struct wr_store_options *o, const char *dir, const char *const *names,
                      size_t n)
{
    memset(o, 0, sizeof(*o));
    o->dir = dir;
    o->stream_names = names;
    o->n_streams = n;
    o->on_full = WR_ON_FULL_ROLLUP;
}

static struct wr_store *open_ok(const char *dir, const char *const *names, size_t n,
                                uint64_t max_bytes, enum wr_on_full on_full)
{
    struct wr_store_options o;
    struct wr_store *st = NULL;

    opts_init(&o, dir, names, n);
    o.max_bytes = max_bytes;
    o.on_full = on_full;
    assert_int_equal(wr_store_open(&o, &st), WR_OK);
    assert_non_null(st);
    assert_false(o.recovered_from_corruption);
    return st;
}

static struct wr_result make_result(uint16_t stream, const char *key, int64_t start_ms,
                                    uint32_t size_s, uint32_t revision, double value)
{
    struct wr_result r;

    memset(&r, 0, sizeof(r));
    r.stream = stream;
    snprintf(r.key, sizeof(r.key), "%s", key);
    r.start_ms = start_ms;
    r.size_s = size_s;
    r.revision = revision;
    wr_agg_init(&r.agg);
    wr_agg_add(&r.agg, value, start_ms + 1);
    return r;
}

static void assert_close(double got, double want, double rel)
{
    double tol = rel * fmax(1.0, fabs(want));

    if (!(fabs(got - want) <= tol))
        fail_msg("got %.17g, want %.17g (tolerance %.3g)", got, want, tol);
}

static void assert_agg_equal(const struct wr_agg *got, const struct wr_agg *want)
{
    assert_int_equal(got->count, want->count);
    assert_close(got->sum, want->sum, 1e-12);
    assert_true(got->min == want->min);
    assert_true(got->max == want->max);
    assert_close(got->mean, want->mean, 1e-12);
    assert_close(wr_agg_stddev(got), wr_agg_stddev(want), 1e-9);
    assert_true(got->first == want->first);
    assert_true(got->last == want->last);
    assert_int_equal(got->first_ms, want->first_ms);
    assert_int_equal(got->last_ms, want->last_ms);
}

static size_t read_all(struct wr_store *st, struct wr_outbox_row *rows, size_t max)
{
    size_t n = 0;

    assert_int_equal(wr_store_outbox_read(st, 0, rows, max, &n), WR_OK);
    return n;
}

/* Run SQL on a database file with a separate connection (the store must be closed). */
static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *err = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err != NULL ? err : "?");
    sqlite3_close(db);
}

static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

static void write_file(const char *path, const void *data, size_t len, long offset)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);

    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, data, len, (off_t)offset), (ssize_t)len);
    close(fd);
}

static size_t count_corrupt_files(const char *dir, char *first, size_t first_len)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".corrupt-") != NULL && strstr(e->d_name, "-wal") == NULL &&
            strstr(e->d_name, "-shm") == NULL) {
            if (n++ == 0 && first != NULL)
                snprintf(first, first_len, "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    return n;
}

static bool file_exists(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0;
}

/* ---- schema and open ----------------------------------------------------------------------- */

static void test_store_open_creates_schema(void **state)
{
    struct fixture *fx = *state;
    struct wr_store_options o;
    struct wr_store *st = NULL;

    opts_init(&o, fx->dir, names_ab, 2);
    assert_int_equal(wr_store_open(&o, &st), WR_OK);
    assert_int_equal(o.found_schema_version, 0);
    assert_false(o.recovered_from_corruption);
    assert_string_equal(o.moved_aside_path, "");
    assert_true(wr_store_bytes(st) >= 4096);
    wr_store_close(st);

    assert_int_equal(sql_int(fx->path, "PRAGMA user_version"), 3);
    assert_int_equal(sql_int(fx->path, "PRAGMA page_size"), 4096);
    assert_int_equal(sql_int(fx->path, "PRAGMA auto_vacuum"), 2); /* incremental */
    /* WAL is persistent in the file header (read/write versions 2). */
    assert_int_equal(sql_int(fx->path, "SELECT count(*) FROM pragma_journal_mode "
                                       "WHERE journal_mode = 'wal'"),
                     1);
    assert_int_equal(sql_int(fx->path, "SELECT count(*) FROM streams"), 2);
    /* The WAL is checkpointed and removed at close; EXCLUSIVE locking leaves no -shm. */
    {
        char side[160];

        snprintf(side, sizeof(side), "%s-wal", fx->path);
        assert_false(file_exists(side));
        snprintf(side, sizeof(side), "%s-shm", fx->path);
        assert_false(file_exists(side));
    }

    /* Reopening finds version 3 and migrates nothing. */
    opts_init(&o, fx->dir, names_ab, 2);
    assert_int_equal(wr_store_open(&o, &st), WR_OK);
    assert_int_equal(o.found_schema_version, 3);
    wr_store_close(st);
}

static void test_store_open_empty_file_migrates(void **state)
{
    struct fixture *fx = *state;
    struct wr_store_options o;
    struct wr_store *st = NULL;

    /* A zero-length file is a valid empty SQLite database at version 0. */
    write_file(fx->path, "", 0, 0);
    opts_init(&o, fx->dir, names_ab, 2);
    assert_int_equal(wr_store_open(&o, &st), WR_OK);
    assert_int_equal(o.found_schema_version, 0);
    assert_false(o.recovered_from_corruption);
    wr_store_close(st);
    assert_int_equal(sql_int(fx->path, "PRAGMA user_version"), 3);
}

/* The version 1 schema exactly as shipped; a frozen copy, so a later migration is tested on it. */
static const char v1_schema[] =
    "PRAGMA page_size = 4096; PRAGMA auto_vacuum = INCREMENTAL;"
    "CREATE TABLE streams (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE stream_clocks (stream_id INTEGER PRIMARY KEY, max_event_ms INTEGER NOT NULL);"
    "CREATE TABLE windows (stream_id INTEGER NOT NULL, key BLOB NOT NULL,"
    "  start_ms INTEGER NOT NULL, revision INTEGER NOT NULL, flags INTEGER NOT NULL,"
    "  agg BLOB NOT NULL, PRIMARY KEY (stream_id, key, start_ms)) WITHOUT ROWID;"
    "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, stream_id INTEGER NOT NULL,"
    "  key BLOB NOT NULL, start_ms INTEGER NOT NULL, size_s INTEGER NOT NULL,"
    "  revision INTEGER NOT NULL, agg BLOB NOT NULL);"
    "CREATE INDEX outbox_window ON outbox (stream_id, key, start_ms);"
    "INSERT INTO streams VALUES (7, 'hum'), (9, 'temp');"
    "INSERT INTO stream_clocks VALUES (9, 1700000123456);"
    "PRAGMA user_version = 1;";

/* The documented aggregate BLOB: 10 little-endian 8-byte fields. */
static void encode_agg_le(const struct wr_agg *a, unsigned char out[80])
{
    uint64_t f[10];

    f[0] = a->count;
    memcpy(&f[1], &a->sum, 8);
    memcpy(&f[2], &a->min, 8);
    memcpy(&f[3], &a->max, 8);
    memcpy(&f[4], &a->mean, 8);
    memcpy(&f[5], &a->m2, 8);
    memcpy(&f[6], &a->first, 8);
    memcpy(&f[7], &a->last, 8);
    f[8] = (uint64_t)a->first_ms;
    f[9] = (uint64_t)a->last_ms;
    for (int i = 0; i < 10; i++)
        for (int b = 0; b < 8; b++)
            out[i * 8 + b] = (unsigned char)(f[i] >> (8 * b));
}

static void insert_v1_rows(const char *path, const struct wr_agg *agg)
{
    unsigned char blob[80];
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;

    encode_agg_le(agg, blob);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO windows VALUES (9, CAST('dev1' AS BLOB), "
                                        "1700000100000, 2, 3, ?1)",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(stmt, 1, blob, 80, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO outbox VALUES (41, 7, CAST('dev2' AS BLOB), "
                                        "1700000040000, 60, 1, ?1)",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(stmt, 1, blob, 80, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

struct collected {
    struct wr_window_state w[64];
    size_t n;
    int64_t clock[4];
    bool has_clock[4];
};

static int collect_window(void *ctx, const struct wr_window_state *ws)
{
    struct collected *c = ctx;

    if (c->n < 64)
        c->w[c->n++] = *ws;
    return WR_OK;
}

static int collect_clock(void *ctx, uint16_t stream, int64_t max_event_ms)
{
    struct collected *c = ctx;

    if (stream < 4) {
        c->clock[stream] = max_event_ms;
        c->has_clock[stream] = true;
    }
    return WR_OK;
}

static void test_store_open_v1_database(void **state)
{
    struct fixture *fx = *state;
    struct wr_outbox_row rows[4];
    struct collected c;
    struct wr_store *st;
    struct wr_agg agg;
    uint64_t n_rows = 0;
    size_t skipped = 99;

    wr_agg_init(&agg);
    wr_agg_add(&agg, 1.5, 1700000100001);
    wr_agg_add(&agg, -2.5, 1700000100002);
    sql_exec(fx->path, v1_schema);
    insert_v1_rows(fx->path, &agg);

    st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP); /* temp = 0, hum = 1 */
    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_store_load_windows(st, collect_window, &c, &skipped), WR_OK);
    assert_int_equal(skipped, 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.w[0].stream, 0);
    assert_string_equal(c.w[0].key, "dev1");
    assert_int_equal(c.w[0].start_ms, 1700000100000);
    assert_int_equal(c.w[0].revision, 2);
    assert_true(c.w[0].closed && c.w[0].processing_time);
    assert_agg_equal(&c.w[0].agg, &agg);
    assert_int_equal(wr_store_load_stream_clocks(st, collect_clock, &c), WR_OK);
    assert_true(c.has_clock[0] && !c.has_clock[1]);
    assert_int_equal(c.clock[0], 1700000123456);

    wr_store_outbox_stats(st, &n_rows, NULL);
    assert_int_equal(n_rows, 1);
    assert_int_equal(read_all(st, rows, 4), 1);
    assert_int_equal(rows[0].id, 41);
    assert_int_equal(rows[0].result.stream, 1);
    assert_string_equal(rows[0].stream_name, "hum");
    assert_string_equal(rows[0].result.key, "dev2");
    assert_int_equal(rows[0].result.size_s, 60);
    assert_int_equal(rows[0].result.revision, 1);
    assert_agg_equal(&rows[0].result.agg, &agg);
    wr_store_close(st);
    /* Migrated through v2 (windows keyed by (stream, start, key)) to v3 (window sets). */
    assert_int_equal(sql_int(fx->path, "PRAGMA user_version"), 3);
    assert_int_equal(sql_int(fx->path, "SELECT pk FROM pragma_table_info('windows') "
                                       "WHERE name = 'start_ms'"),
                     2);
}

static void test_store_open_newer_version_refused(void **state)
{
    struct fixture *fx = *state;
    struct wr_store_options o;
    struct wr_store *st = NULL;

    sql_exec(fx->path, "CREATE TABLE future_thing (x); PRAGMA user_version = 4;");
    opts_init(&o, fx->dir, names_ab, 2);
    assert_int_equal(wr_store_open(&o, &st), WR_E_RANGE);
    assert_null(st);
    assert_int_equal(o.found_schema_version, 4);
    assert_false(o.recovered_from_corruption);
    /* Refused, not treated as corrupt: the file stays where it is, untouched. */
    assert_int_equal(count_corrupt_files(fx->dir, NULL, 0), 0);
    assert_int_equal(sql_int(fx->path, "PRAGMA user_version"), 4);
    assert_int_equal(sql_int(fx->path, "SELECT count(*) FROM sqlite_master WHERE name='outbox'"),
                     0);
}

static void test_store_open_invalid_arguments(void **state)
{
    struct fixture *fx = *state;
    static const char *const dup[] = {"a", "b", "a"};
    static const char *const empty[] = {"a", ""};
    char long_name[WR_STORE_NAME_MAX + 1];
    const char *const too_long[] = {long_name};
    struct wr_store_options o;
    struct wr_store *st = NULL;

    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    opts_init(&o, fx->dir, names_ab, 2);
    assert_int_equal(wr_store_open(NULL, &st), WR_E_INVAL);
    assert_int_equal(wr_store_open(&o, NULL), WR_E_INVAL);
    opts_init(&o, fx->dir, dup, 3);
    assert_int_equal(wr_store_open(&o, &st), WR_E_INVAL);
    opts_init(&o, fx->dir, empty, 2);
    assert_int_equal(wr_store_open(&o, &st), WR_E_INVAL);
    opts_init(&o, fx->dir, too_long, 1);
    assert_int_equal(wr_store_open(&o, &st), WR_E_INVAL);
    opts_init(&o, fx->dir, names_ab, 0);
    assert_int_equal(wr_store_open(&o, &st), WR_E_INVAL);
    opts_init(&o, NULL, names_ab, 2);
    assert_int_equal(wr_store_open(&o, &st), WR_E_INVAL);
    opts_init(&o, fx->dir, names_ab, 2);
    o.rollup_factor = 1;
    assert_int_equal(wr_store_open(&o, &st), WR_E_INVAL);
    assert_null(st);
    assert_false(file_exists(fx->path));
    /* NULL store everywhere is harmless or WR_E_INVAL. */
    wr_store_close(NULL);
    wr_store_checkpoint_rollback(NULL);
    assert_int_equal(wr_store_bytes(NULL), 0);
    assert_int_equal(wr_store_checkpoint_begin(NULL), WR_E_INVAL);
    assert_int_equal(wr_store_outbox_append(NULL, NULL, 0), WR_E_INVAL);
    assert_int_equal(wr_store_enforce_budget(NULL, 0, NULL), WR_E_INVAL);
}

static void test_store_open_locked_by_other(void **state)
{
    struct fixture *fx = *state;
    struct wr_store_options o;
    struct wr_store *first = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    struct wr_store *second = NULL;

    opts_init(&o, fx->dir, names_ab, 2);
    assert_int_equal(wr_store_open(&o, &second), WR_E_STATE);
    assert_null(second);
    assert_false(o.recovered_from_corruption);
    wr_store_close(first);
}

static void test_store_open_alloc_failure(void **state)
{
    struct fixture *fx = *state;
    struct wr_store_options o;
    struct wr_store *st = NULL;
    long n;
    int rc;

    wr_test_alloc_install();
    for (n = 1;; n++) {
        opts_init(&o, fx->dir, names_ab, 2);
        wr_test_alloc_fail_at(n);
        rc = wr_store_open(&o, &st);
        if (rc == WR_OK)
            break;
        assert_int_equal(rc, WR_E_NOMEM);
        assert_null(st);
        assert_true(n < 100);
    }
    assert_true(n > 1);
    wr_test_alloc_fail_at(0);
    wr_store_close(st);
    wr_test_alloc_uninstall();
}

/* ---- checkpoints --------------------------------------------------------------------------- */

static struct wr_window_state make_window(uint16_t stream, const char *key, int64_t start_ms,
                                          uint32_t revision, bool closed, double seed)
{
    struct wr_window_state ws;

    memset(&ws, 0, sizeof(ws));
    ws.stream = stream;
    snprintf(ws.key, sizeof(ws.key), "%s", key);
    ws.start_ms = start_ms;
    ws.revision = revision;
    ws.closed = closed;
    ws.processing_time = !closed;
    wr_agg_init(&ws.agg);
    for (int i = 0; i < 5; i++)
        wr_agg_add(&ws.agg, seed * (i + 1) - 1e6, start_ms + i);
    return ws;
}

/* The last visit of a window: a later record is its newer state. */
static const struct wr_window_state *find_window(const struct collected *c, uint16_t stream,
                                                 const char *key, int64_t start_ms)
{
    for (size_t i = c->n; i-- > 0;)
        if (c->w[i].stream == stream && strcmp(c->w[i].key, key) == 0 &&
            c->w[i].start_ms == start_ms)
            return &c->w[i];
    return NULL;
}

struct sketch_check {
    int visits;
    uint64_t count;
    double median;
    bool last_closed;
};

/* Every visit overwrites: what is left is the window's newest state. */
static int last_sketch_visit(void *ctx, const struct wr_window_state *ws)
{
    struct sketch_check *sc = ctx;

    sc->visits++;
    sc->last_closed = ws->closed;
    sc->count = ws->agg.sketch != NULL ? wr_sketch_count(ws->agg.sketch) : 0;
    return WR_OK;
}

/* The sketch is the store's and lives only for the call: look at it here. */
static int check_sketch_visit(void *ctx, const struct wr_window_state *ws)
{
    struct sketch_check *sc = ctx;

    sc->visits++;
    assert_non_null(ws->agg.sketch);
    sc->count = wr_sketch_count(ws->agg.sketch);
    assert_int_equal(wr_sketch_quantile(ws->agg.sketch, 0.5, &sc->median), WR_OK);
    return WR_OK;
}

/* A window's sketch goes into its checkpoint, a result's quantile values into its outbox row. */
static void test_store_sketch_and_quantiles_round_trip(void **state)
{
    struct fixture *fx = *state;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    struct wr_window_state ws = make_window(0, "a", T0, 0, false, 1.0);
    struct wr_result r = make_result(1, "q", T0, 60, 0, 2.0);
    struct wr_outbox_row rows[4];
    struct sketch_check sc;
    double median = 0;

    memset(&sc, 0, sizeof(sc));
    assert_int_equal(wr_sketch_create(0.01, 512, &ws.agg.sketch), WR_OK);
    for (int i = 1; i <= 101; i++)
        assert_int_equal(wr_sketch_add(ws.agg.sketch, (double)i), WR_OK);
    assert_int_equal(wr_sketch_quantile(ws.agg.sketch, 0.5, &median), WR_OK);
    r.n_quantiles = 3;
    r.quantiles[0] = 1.5;
    r.quantiles[1] = -0.0;
    r.quantiles[2] = 1e300;
    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    assert_int_equal(wr_store_put_window(st, &ws), WR_OK);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);
    assert_int_equal(wr_store_outbox_append(st, &r, 1), WR_OK);
    wr_store_close(st);
    wr_sketch_destroy(ws.agg.sketch);

    st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    assert_int_equal(wr_store_load_windows(st, check_sketch_visit, &sc, NULL), WR_OK);
    assert_int_equal(sc.visits, 1);
    assert_int_equal(sc.count, 101);
    assert_true(sc.median == median);
    assert_int_equal(read_all(st, rows, 4), 1);
    assert_int_equal(rows[0].result.n_quantiles, 3);
    assert_memory_equal(rows[0].result.quantiles, r.quantiles, 3 * sizeof(double));
    assert_null(rows[0].result.agg.sketch);
    wr_store_close(st);
}

static void test_store_checkpoint_round_trip(void **state)
{
    struct fixture *fx = *state;
    struct wr_window_state w[4];
    struct wr_store_stats stats;
    struct collected c;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    size_t skipped = 99;

    w[0] = make_window(0, "a", T0, 0, false, 1.25);
    w[1] = make_window(0, "b", -MIN_MS, 3, true, -7.5);    /* before the epoch */
    w[2] = make_window(1, "a", T0, 1, true, 3.0);          /* same key and start, other stream */
    w[3] = make_window(1, "", T0 + MIN_MS, 0, false, 0.1); /* empty key */
    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(wr_store_visit_window(st, &w[i]), WR_OK);
    assert_int_equal(wr_store_put_stream_clock(st, 0, INT64_MAX), WR_OK);
    assert_int_equal(wr_store_put_stream_clock(st, 1, -5), WR_OK);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);
    /* A second checkpoint adds a newer record of a window. */
    w[0].revision = 9;
    wr_agg_add(&w[0].agg, 42.0, T0 + 100);
    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    assert_int_equal(wr_store_put_window(st, &w[0]), WR_OK);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);
    wr_store_get_stats(st, &stats);
    assert_int_equal(stats.rows_written, 7);
    assert_int_equal(stats.transactions, 2);
    wr_store_close(st);

    st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_store_load_windows(st, collect_window, &c, &skipped), WR_OK);
    assert_int_equal(skipped, 0);
    assert_int_equal(c.n, 5); /* w[0] twice, the newer state last */
    assert_int_equal(c.w[4].revision, 9);
    for (int i = 0; i < 4; i++) {
        const struct wr_window_state *got = find_window(&c, w[i].stream, w[i].key, w[i].start_ms);

        assert_non_null(got);
        assert_int_equal(got->revision, w[i].revision);
        assert_int_equal(got->closed, w[i].closed);
        assert_int_equal(got->processing_time, w[i].processing_time);
        assert_agg_equal(&got->agg, &w[i].agg);
    }
    assert_int_equal(wr_store_load_stream_clocks(st, collect_clock, &c), WR_OK);
    assert_int_equal(c.clock[0], INT64_MAX);
    assert_int_equal(c.clock[1], -5);
    wr_store_close(st);
}

/* An emitted result and its window's closed mark commit together: a restart
 * after the append must not find the window open and emit it again. */
static void test_store_outbox_append_marks_window_closed(void **state)
{
    struct fixture *fx = *state;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    struct wr_window_state w = make_window(0, "a", T0, 0, false, 1.25);
    struct wr_result r = make_result(0, "a", T0, 60, 0, 1.25);
    struct collected c;
    size_t skipped = 0;

    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    assert_int_equal(wr_store_put_window(st, &w), WR_OK);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);
    r.revision = 2;
    assert_int_equal(wr_store_outbox_append(st, &r, 1), WR_OK);
    wr_store_close(st);

    st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_store_load_windows(st, collect_window, &c, &skipped), WR_OK);
    /* The open record, then the closed one that supersedes it. */
    assert_int_equal(c.n, 2);
    assert_false(c.w[0].closed);
    assert_true(c.w[1].closed);
    assert_int_equal(c.w[1].revision, 2);
    assert_agg_equal(&c.w[1].agg, &r.agg);
    wr_store_close(st);
}

/* The version 2 schema exactly as shipped (windows keyed by stream, start, key): frozen. */
static const char v2_schema[] =
    "PRAGMA page_size = 4096; PRAGMA auto_vacuum = INCREMENTAL;"
    "CREATE TABLE streams (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE stream_clocks (stream_id INTEGER PRIMARY KEY, max_event_ms INTEGER NOT NULL);"
    "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, stream_id INTEGER NOT NULL,"
    "  key BLOB NOT NULL, start_ms INTEGER NOT NULL, size_s INTEGER NOT NULL,"
    "  revision INTEGER NOT NULL, agg BLOB NOT NULL);"
    "CREATE INDEX outbox_window ON outbox (stream_id, key, start_ms);"
    "CREATE TABLE windows (stream_id INTEGER NOT NULL, key BLOB NOT NULL,"
    "  start_ms INTEGER NOT NULL, revision INTEGER NOT NULL, flags INTEGER NOT NULL,"
    "  agg BLOB NOT NULL, PRIMARY KEY (stream_id, start_ms, key)) WITHOUT ROWID;"
    "INSERT INTO streams VALUES (7, 'hum'), (9, 'temp');"
    "INSERT INTO stream_clocks VALUES (9, 1700000123456);"
    "PRAGMA user_version = 2;";

#define V2_T INT64_C(1700000100000)

static void insert_v2_window(const char *path, const char *key, int64_t start_ms, int flags,
                             const struct wr_agg *agg)
{
    unsigned char blob[80];
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;

    encode_agg_le(agg, blob);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO windows VALUES (9, CAST(?1 AS BLOB), ?2, 2, ?3, ?4)",
                           -1, &stmt, NULL),
        SQLITE_OK);
    sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, start_ms);
    sqlite3_bind_int(stmt, 3, flags);
    sqlite3_bind_blob(stmt, 4, blob, 80, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

/*
 * A database of schema version 2 (one row per window) opens, migrates to
 * version 3 and restores its windows; its rows go with their period when a
 * set replaces the period or the retention floor passes it, and a result of
 * such a window is marked closed.
 */
static void test_store_open_v2_database(void **state)
{
    struct fixture *fx = *state;
    static const char *const names[] = {"hum", "temp"};
    struct wr_window_state ws = make_window(1, "dev2", V2_T + MIN_MS, 0, false, 5.0);
    struct wr_result r = make_result(1, "dev1", V2_T + MIN_MS, 60, 0, 4.0);
    struct wr_store_options o;
    struct wr_store *st = NULL;
    const struct wr_window_state *got;
    unsigned char buf[256];
    struct collected c;
    struct wr_agg agg;
    size_t len;

    wr_agg_init(&agg);
    wr_agg_add(&agg, 21.5, V2_T + 10);
    wr_agg_add(&agg, -3.25, V2_T + 20);
    sql_exec(fx->path, v2_schema);
    insert_v2_window(fx->path, "dev1", V2_T, 3, &agg);
    insert_v2_window(fx->path, "dev1", V2_T + MIN_MS, 0, &agg);
    opts_init(&o, fx->dir, names, 2);
    assert_int_equal(wr_store_open(&o, &st), WR_OK);
    assert_int_equal(o.found_schema_version, 2);
    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_store_load_windows(st, collect_window, &c, NULL), WR_OK);
    assert_int_equal(c.n, 2);
    got = find_window(&c, 1, "dev1", V2_T);
    assert_non_null(got);
    assert_true(got->closed && got->processing_time);
    assert_int_equal(got->revision, 2);
    assert_agg_equal(&got->agg, &agg);
    got = find_window(&c, 1, "dev1", V2_T + MIN_MS);
    assert_non_null(got);
    assert_false(got->closed);

    /* A result of a version 2 window: its period is known to hold windows, so it is marked. */
    assert_int_equal(wr_store_outbox_append(st, &r, 1), WR_OK);
    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_store_load_windows(st, collect_window, &c, NULL), WR_OK);
    assert_int_equal(c.n, 3);
    assert_true(find_window(&c, 1, "dev1", V2_T + MIN_MS)->closed);

    /* A replacing set takes the period's rows with it; the retention floor the older ones. */
    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    len = wr_store_window_record_encode(st, &ws, false, buf, sizeof(buf));
    assert_int_equal(wr_store_put_window_set(st, 1, V2_T + MIN_MS, true, buf, len, 1, len), WR_OK);
    assert_int_equal(wr_store_delete_windows_before(st, 1, V2_T + MIN_MS), WR_OK);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);
    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_store_load_windows(st, collect_window, &c, NULL), WR_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.w[0].key, "dev2");
    wr_store_close(st);
    assert_int_equal(sql_int(fx->path, "PRAGMA user_version"), 3);
    assert_int_equal(sql_int(fx->path, "SELECT count(*) FROM windows"), 0);
    assert_int_equal(sql_int(fx->path, "SELECT count(*) FROM window_sets"), 1);
}

/* Checkpoint records keep only what the stream's aggregates need; every field when asked. */
static void test_store_records_keep_only_needed_fields(void **state)
{
    struct fixture *fx = *state;
    static const unsigned aggs[] = {WR_AGG_COUNT | WR_AGG_SUM, WR_AGG_ALL};
    struct wr_window_state lean = make_window(0, "a", T0, 0, false, 2.0);
    struct wr_window_state full = make_window(1, "a", T0, 0, false, 2.0);
    struct wr_store_options o;
    struct wr_store *st = NULL;
    const struct wr_window_state *got;
    struct collected c;

    opts_init(&o, fx->dir, names_ab, 2);
    o.stream_aggregates = aggs;
    assert_int_equal(wr_store_open(&o, &st), WR_OK);
    /* key length, key, revision, flags, fields, count, then 8 bytes per double kept:
     * count and sum take 14 bytes; all eight aggregates 62 plus the two event times. */
    assert_int_equal(wr_store_window_record_size(st, &lean, false), 14);
    assert_int_equal(wr_store_window_record_size(st, &full, false), 64);
    assert_int_equal(wr_store_window_record_size(st, &lean, true), 64);
    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    assert_int_equal(wr_store_put_window(st, &lean), WR_OK);
    assert_int_equal(wr_store_put_window(st, &full), WR_OK);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);
    wr_store_close(st);

    assert_int_equal(wr_store_open(&o, &st), WR_OK);
    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_store_load_windows(st, collect_window, &c, NULL), WR_OK);
    assert_int_equal(c.n, 2);
    got = find_window(&c, 1, "a", T0);
    assert_non_null(got);
    assert_agg_equal(&got->agg, &full.agg);
    got = find_window(&c, 0, "a", T0);
    assert_non_null(got);
    assert_int_equal(got->agg.count, lean.agg.count);
    assert_true(got->agg.sum == lean.agg.sum);
    /* What was not kept is what a fresh aggregate has, or what the rest implies. */
    assert_close(got->agg.mean, lean.agg.sum / (double)lean.agg.count, 1e-15);
    assert_true(isinf(got->agg.min) && got->agg.min > 0);
    assert_true(isinf(got->agg.max) && got->agg.max < 0);
    assert_true(got->agg.m2 == 0.0);
    assert_int_equal(got->agg.first_ms, INT64_MAX);
    assert_int_equal(got->agg.last_ms, INT64_MIN);
    wr_store_close(st);
}

/* A set that replaces is all its period has; one that adds is read after the earlier ones. */
static void test_store_window_sets_replace_and_add(void **state)
{
    struct fixture *fx = *state;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    struct wr_window_state a = make_window(0, "a", T0, 0, false, 1.0);
    struct wr_window_state b = make_window(0, "b", T0, 0, false, 2.0);
    struct wr_window_state other = make_window(0, "a", T0 + MIN_MS, 0, false, 3.0);
    unsigned char buf[512];
    struct collected c;
    size_t len;
    size_t la;

    /* Period T0: a and b replaced in; the next period has a window of its own. */
    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    la = wr_store_window_record_encode(st, &a, false, buf, sizeof(buf));
    assert_true(la > 0);
    len = la + wr_store_window_record_encode(st, &b, false, buf + la, sizeof(buf) - la);
    assert_int_equal(wr_store_put_window_set(st, 0, T0, true, buf, len, 2, len), WR_OK);
    assert_int_equal(wr_store_put_window(st, &other), WR_OK);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);
    /* b changes: an adding set with b alone. */
    wr_agg_add(&b.agg, 100.0, T0 + 10);
    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    len = wr_store_window_record_encode(st, &b, false, buf, sizeof(buf));
    assert_int_equal(wr_store_put_window_set(st, 0, T0, false, buf, len, 1, len), WR_OK);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);
    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_store_load_windows(st, collect_window, &c, NULL), WR_OK);
    assert_int_equal(c.n, 4);
    assert_agg_equal(&find_window(&c, 0, "b", T0)->agg, &b.agg);
    assert_agg_equal(&find_window(&c, 0, "a", T0)->agg, &a.agg);
    /* A replacing set with a alone: b is gone from the period, the other period stays. */
    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    len = wr_store_window_record_encode(st, &a, false, buf, sizeof(buf));
    assert_int_equal(wr_store_put_window_set(st, 0, T0, true, buf, len, 1, len), WR_OK);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);
    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_store_load_windows(st, collect_window, &c, NULL), WR_OK);
    assert_int_equal(c.n, 2);
    assert_null(find_window(&c, 0, "b", T0));
    assert_non_null(find_window(&c, 0, "a", T0));
    assert_non_null(find_window(&c, 0, "a", T0 + MIN_MS));
    /* Replacing with nothing empties the period; bad arguments change nothing. */
    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    assert_int_equal(wr_store_put_window_set(st, 0, T0, true, NULL, 0, 0, 0), WR_OK);
    assert_int_equal(wr_store_put_window_set(st, 0, T0, false, NULL, 4, 1, 0), WR_E_INVAL);
    assert_int_equal(wr_store_put_window_set(st, 0, T0, false, buf, 0, 1, 0), WR_E_INVAL);
    assert_int_equal(wr_store_put_window_set(st, 2, T0, false, buf, len, 1, 0), WR_E_INVAL);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);
    assert_int_equal(wr_store_put_window_set(st, 0, T0, false, buf, len, 1, 0), WR_E_STATE);
    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_store_load_windows(st, collect_window, &c, NULL), WR_OK);
    assert_int_equal(c.n, 1);
    wr_store_close(st);
    assert_int_equal(sql_int(fx->path, "SELECT count(*) FROM window_sets"), 1);
}

/* A set whose records do not decode is skipped and counted; the others are restored. */
static void test_store_window_set_garbage_skipped(void **state)
{
    struct fixture *fx = *state;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    struct wr_window_state a = make_window(0, "a", T0, 0, false, 1.0);
    struct wr_window_state b = make_window(1, "b", T0, 0, false, 1.0);
    struct collected c;
    size_t skipped = 0;

    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    assert_int_equal(wr_store_put_window(st, &a), WR_OK);
    assert_int_equal(wr_store_put_window(st, &b), WR_OK);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);
    wr_store_close(st);
    /* a's set: right format byte, records cut short; then one with an unknown format. */
    sql_exec(fx->path, "UPDATE window_sets SET states = X'0101' WHERE seq = 1;"
                       "INSERT INTO window_sets VALUES (9, 1, 0, 3, X'07AABB');");
    st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_store_load_windows(st, collect_window, &c, &skipped), WR_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.w[0].key, "b");
    assert_int_equal(skipped, 4);
    wr_store_close(st);
}

static void test_store_restore_skips_removed_stream(void **state)
{
    struct fixture *fx = *state;
    static const char *const renamed[] = {"humidity", "temp"}; /* "hum" gone, temp moved to 1 */
    struct wr_window_state ws;
    struct collected c;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    size_t skipped = 0;

    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    ws = make_window(0, "t1", T0, 0, false, 1.0);
    assert_int_equal(wr_store_put_window(st, &ws), WR_OK);
    ws = make_window(1, "h1", T0, 0, false, 2.0);
    assert_int_equal(wr_store_put_window(st, &ws), WR_OK);
    ws = make_window(1, "h2", T0, 0, false, 3.0);
    assert_int_equal(wr_store_put_window(st, &ws), WR_OK);
    assert_int_equal(wr_store_put_stream_clock(st, 0, 100), WR_OK);
    assert_int_equal(wr_store_put_stream_clock(st, 1, 200), WR_OK);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);
    wr_store_close(st);

    st = open_ok(fx->dir, renamed, 2, 0, WR_ON_FULL_ROLLUP);
    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_store_load_windows(st, collect_window, &c, &skipped), WR_OK);
    assert_int_equal(skipped, 2);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.w[0].stream, 1); /* temp's new index */
    assert_string_equal(c.w[0].key, "t1");
    assert_int_equal(wr_store_load_stream_clocks(st, collect_clock, &c), WR_OK);
    assert_false(c.has_clock[0]);
    assert_true(c.has_clock[1]);
    assert_int_equal(c.clock[1], 100);
    wr_store_close(st);

    /* The rows of the removed stream were kept: the old config finds them again. */
    st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_store_load_windows(st, collect_window, &c, &skipped), WR_OK);
    assert_int_equal(skipped, 0);
    assert_int_equal(c.n, 3);
    wr_store_close(st);
}

static int stop_after_one(void *ctx, const struct wr_window_state *ws)
{
    size_t *n = ctx;

    (void)ws;
    (*n)++;
    return WR_E_FULL;
}

static void test_store_checkpoint_state_errors(void **state)
{
    struct fixture *fx = *state;
    struct wr_window_state ws = make_window(0, "k", T0, 0, false, 1.0);
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    struct collected c;
    size_t visits = 0;

    /* Outside a checkpoint. */
    assert_int_equal(wr_store_put_window(st, &ws), WR_E_STATE);
    assert_int_equal(wr_store_put_stream_clock(st, 0, 1), WR_E_STATE);
    assert_int_equal(wr_store_delete_windows_before(st, 0, 1), WR_E_STATE);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_E_STATE);
    wr_store_checkpoint_rollback(st); /* no-op */

    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    assert_int_equal(wr_store_checkpoint_begin(st), WR_E_STATE);
    assert_int_equal(wr_store_enforce_budget(st, 0, NULL), WR_E_STATE);
    assert_int_equal(wr_store_sync(st), WR_E_STATE);
    ws.stream = 2; /* not configured */
    assert_int_equal(wr_store_put_window(st, &ws), WR_E_INVAL);
    assert_int_equal(wr_store_put_stream_clock(st, 5, 1), WR_E_INVAL);
    ws.stream = 0;
    memset(ws.key, 'x', sizeof(ws.key)); /* no NUL */
    assert_int_equal(wr_store_put_window(st, &ws), WR_E_INVAL);
    snprintf(ws.key, sizeof(ws.key), "k");
    /* Argument errors do not spoil the checkpoint. */
    assert_int_equal(wr_store_put_window(st, &ws), WR_OK);
    wr_store_checkpoint_rollback(st);

    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_store_load_windows(st, collect_window, &c, NULL), WR_OK);
    assert_int_equal(c.n, 0);

    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    assert_int_equal(wr_store_put_window(st, &ws), WR_OK);
    ws.start_ms += MIN_MS;
    assert_int_equal(wr_store_put_window(st, &ws), WR_OK);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);
    /* A visit that refuses stops the walk and its code comes back. */
    assert_int_equal(wr_store_load_windows(st, stop_after_one, &visits, NULL), WR_E_FULL);
    assert_int_equal(visits, 1);
    wr_store_close(st);
}

static void test_store_retention_delete(void **state)
{
    struct fixture *fx = *state;
    struct wr_window_state ws;
    struct collected c;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);

    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    for (int i = 0; i < 5; i++) {
        ws = make_window(0, "k", T0 + i * MIN_MS, 0, i < 3, 1.0);
        assert_int_equal(wr_store_put_window(st, &ws), WR_OK);
        ws = make_window(1, "k", T0 + i * MIN_MS, 0, false, 1.0);
        assert_int_equal(wr_store_put_window(st, &ws), WR_OK);
    }
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);

    /* The floor deletes in the same transaction as the other checkpoint writes. */
    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    ws = make_window(0, "new", T0 + 9 * MIN_MS, 0, false, 1.0);
    assert_int_equal(wr_store_put_window(st, &ws), WR_OK);
    assert_int_equal(wr_store_delete_windows_before(st, 0, T0 + 3 * MIN_MS), WR_OK);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);

    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_store_load_windows(st, collect_window, &c, NULL), WR_OK);
    assert_int_equal(c.n, 3 + 5);
    for (size_t i = 0; i < c.n; i++)
        if (c.w[i].stream == 0)
            assert_true(c.w[i].start_ms >= T0 + 3 * MIN_MS);
    assert_null(find_window(&c, 0, "k", T0 + 2 * MIN_MS));
    assert_non_null(find_window(&c, 1, "k", T0)); /* the other stream keeps its rows */
    wr_store_close(st);
}

/* ---- outbox -------------------------------------------------------------------------------- */

static void test_store_outbox_order_paging_delete(void **state)
{
    struct fixture *fx = *state;
    struct wr_result res[25];
    struct wr_outbox_row rows[10];
    uint64_t ids[25];
    uint64_t after = 0;
    uint64_t n_rows = 0;
    uint64_t bytes = 0;
    size_t total = 0;
    size_t n = 0;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);

    for (int i = 0; i < 25; i++)
        res[i] = make_result((uint16_t)(i % 2), i % 3 == 0 ? "kk" : "k", T0 + i * MIN_MS, 60,
                             (uint32_t)(i % 4), (double)i);
    assert_int_equal(wr_store_outbox_append(st, res, 10), WR_OK);
    assert_int_equal(wr_store_outbox_append(st, res + 10, 15), WR_OK);
    assert_int_equal(wr_store_outbox_append(st, res, 0), WR_OK);
    wr_store_outbox_stats(st, &n_rows, &bytes);
    assert_int_equal(n_rows, 25);
    assert_int_equal(bytes, 25 * WR_STORE_OUTBOX_ROW_FIXED_BYTES + 9 * 2 + 16 * 1);

    /* Pages of 10 after the last id seen: 10, 10, 5, 0; in append order. */
    for (int page = 0; page < 4; page++) {
        assert_int_equal(wr_store_outbox_read(st, after, rows, 10, &n), WR_OK);
        assert_int_equal(n, page < 2 ? 10 : page == 2 ? 5 : 0);
        for (size_t i = 0; i < n; i++) {
            const struct wr_result *want = &res[total];

            assert_true(rows[i].id > after);
            after = rows[i].id;
            ids[total] = rows[i].id;
            assert_int_equal(rows[i].result.stream, want->stream);
            assert_string_equal(rows[i].stream_name, names_ab[want->stream]);
            assert_string_equal(rows[i].result.key, want->key);
            assert_int_equal(rows[i].result.start_ms, want->start_ms);
            assert_int_equal(rows[i].result.size_s, 60);
            assert_int_equal(rows[i].result.revision, want->revision);
            assert_agg_equal(&rows[i].result.agg, &want->agg);
            total++;
        }
    }
    assert_int_equal(total, 25);

    /* Delete every other row (and an id that does not exist). */
    for (int i = 0; i < 25; i += 2)
        ids[i / 2] = ids[i];
    ids[13] = 999999;
    assert_int_equal(wr_store_outbox_delete(st, ids, 14), WR_OK);
    wr_store_outbox_stats(st, &n_rows, &bytes);
    assert_int_equal(n_rows, 12);
    assert_int_equal(read_all(st, rows, 10), 10);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(rows[i].result.start_ms, T0 + (int64_t)(2 * i + 1) * MIN_MS);
    assert_int_equal(wr_store_outbox_delete(st, NULL, 0), WR_OK);
    assert_int_equal(wr_store_outbox_delete(st, NULL, 1), WR_E_INVAL);
    wr_store_close(st);
}

static void test_store_outbox_ids_never_reused(void **state)
{
    struct fixture *fx = *state;
    struct wr_result r = make_result(0, "k", T0, 60, 0, 1.0);
    struct wr_outbox_row rows[4];
    uint64_t ids[3];
    uint64_t n_rows = 9;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);

    for (int i = 0; i < 3; i++)
        assert_int_equal(wr_store_outbox_append(st, &r, 1), WR_OK);
    assert_int_equal(read_all(st, rows, 4), 3);
    for (int i = 0; i < 3; i++)
        ids[i] = rows[i].id;
    assert_int_equal(wr_store_outbox_delete(st, ids, 3), WR_OK);
    wr_store_outbox_stats(st, &n_rows, NULL);
    assert_int_equal(n_rows, 0);
    wr_store_close(st);

    st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    assert_int_equal(wr_store_outbox_append(st, &r, 1), WR_OK);
    assert_int_equal(read_all(st, rows, 4), 1);
    assert_true(rows[0].id > ids[2]);
    wr_store_close(st);
}

static void test_store_outbox_stream_gone(void **state)
{
    struct fixture *fx = *state;
    static const char *const only_hum[] = {"hum"};
    struct wr_result r[2];
    struct wr_outbox_row rows[4];
    uint64_t n_rows = 0;
    uint64_t bytes = 0;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);

    r[0] = make_result(0, "k", T0, 60, 0, 1.0);
    r[1] = make_result(1, "k", T0, 60, 0, 2.0);
    assert_int_equal(wr_store_outbox_append(st, r, 2), WR_OK);
    wr_store_close(st);

    /* Counters are rebuilt at open; rows of a gone stream still carry its name. */
    st = open_ok(fx->dir, only_hum, 1, 0, WR_ON_FULL_ROLLUP);
    wr_store_outbox_stats(st, &n_rows, &bytes);
    assert_int_equal(n_rows, 2);
    assert_int_equal(bytes, 2 * (WR_STORE_OUTBOX_ROW_FIXED_BYTES + 1));
    assert_int_equal(read_all(st, rows, 4), 2);
    assert_int_equal(rows[0].result.stream, WR_STORE_STREAM_UNKNOWN);
    assert_string_equal(rows[0].stream_name, "temp");
    assert_int_equal(rows[1].result.stream, 0);
    assert_string_equal(rows[1].stream_name, "hum");
    wr_store_close(st);
}

static void test_store_outbox_joins_checkpoint(void **state)
{
    struct fixture *fx = *state;
    struct wr_window_state ws = make_window(0, "k", T0, 0, true, 1.0);
    struct wr_result r[3];
    struct wr_result bad;
    struct wr_outbox_row rows[8];
    struct wr_store_stats stats;
    struct collected c;
    uint64_t n_rows = 0;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);

    for (int i = 0; i < 3; i++)
        r[i] = make_result(0, "k", T0 + i * MIN_MS, 60, 0, (double)i);
    bad = r[0];
    bad.stream = 7;

    /* Rolled back together with the checkpoint: neither the window nor the results stay. */
    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    assert_int_equal(wr_store_outbox_append(st, r, 3), WR_OK);
    assert_int_equal(wr_store_put_window(st, &ws), WR_OK);
    wr_store_checkpoint_rollback(st);
    wr_store_outbox_stats(st, &n_rows, NULL);
    assert_int_equal(n_rows, 0);
    assert_int_equal(read_all(st, rows, 8), 0);
    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_store_load_windows(st, collect_window, &c, NULL), WR_OK);
    assert_int_equal(c.n, 0);

    /* Committed together; a bad batch inside changes nothing and does not spoil it. */
    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    assert_int_equal(wr_store_put_window(st, &ws), WR_OK);
    assert_int_equal(wr_store_outbox_append(st, r, 3), WR_OK);
    assert_int_equal(wr_store_outbox_append(st, &bad, 1), WR_E_INVAL);
    wr_store_outbox_stats(st, &n_rows, NULL);
    assert_int_equal(n_rows, 0); /* counters move at commit */
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);
    wr_store_outbox_stats(st, &n_rows, NULL);
    assert_int_equal(n_rows, 3);
    assert_int_equal(read_all(st, rows, 8), 3);

    /* A delete inside a checkpoint that is rolled back keeps the rows. */
    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    assert_int_equal(wr_store_outbox_delete(st, &rows[0].id, 1), WR_OK);
    wr_store_checkpoint_rollback(st);
    wr_store_outbox_stats(st, &n_rows, NULL);
    assert_int_equal(n_rows, 3);
    assert_int_equal(read_all(st, rows, 8), 3);

    wr_store_get_stats(st, &stats);
    assert_int_equal(stats.transactions, 1);
    /* The window's set, three results, and a closed mark for r[0] (the window's period). */
    assert_int_equal(stats.rows_written, 5);
    assert_int_equal(stats.outbox_rows, 3);
    assert_true(stats.db_bytes > 0);
    wr_store_close(st);
}

static void test_store_stats_counters(void **state)
{
    struct fixture *fx = *state;
    struct wr_result r[5];
    struct wr_outbox_row rows[5];
    uint64_t ids[5];
    struct wr_store_stats stats;
    struct wr_store_options o;
    struct wr_store *st = NULL;
    uint64_t syncs_at_open;
    uint64_t estimate;

    opts_init(&o, fx->dir, names_ab, 2);
    o.sync_every_commits = 2;
    assert_int_equal(wr_store_open(&o, &st), WR_OK);
    wr_store_get_stats(st, &stats);
    assert_int_equal(stats.rows_written, 0);
    assert_int_equal(stats.transactions, 0);
    syncs_at_open = stats.wal_syncs;
    for (int i = 0; i < 5; i++)
        r[i] = make_result(0, "k", T0 + i * MIN_MS, 60, 0, 1.0);
    assert_int_equal(wr_store_outbox_append(st, r, 5), WR_OK);
    assert_int_equal(read_all(st, rows, 5), 5);
    for (int i = 0; i < 5; i++)
        ids[i] = rows[i].id;
    assert_int_equal(wr_store_outbox_delete(st, ids, 2), WR_OK);
    wr_store_get_stats(st, &stats);
    assert_int_equal(stats.rows_written, 7);
    assert_int_equal(stats.transactions, 2);
    assert_int_equal(stats.wal_syncs, syncs_at_open + 1); /* every second commit is durable */
    assert_int_equal(stats.outbox_rows, 3);
    assert_int_equal(stats.outbox_bytes, 3 * (WR_STORE_OUTBOX_ROW_FIXED_BYTES + 1));
    assert_int_equal(stats.write_failures, 0);
    assert_int_equal(stats.corruptions, 0);
    assert_int_equal(stats.db_bytes, wr_store_bytes(st));
    /* Two commits appended at least one WAL frame each (page + frame header) after a WAL
     * header, and the durable point after the second copied at least one page back. */
    assert_true(stats.written_bytes_estimate >= 32 + 2 * (4096 + 24) + 4096);
    estimate = stats.written_bytes_estimate;
    assert_int_equal(wr_store_sync(st), WR_OK);
    wr_store_get_stats(st, &stats);
    assert_int_equal(stats.wal_syncs, syncs_at_open + 2);
    /* The WAL was empty: that sync wrote nothing. */
    assert_true(stats.written_bytes_estimate == estimate);
    /* After a sync the WAL is empty: the size is exactly the database's pages. */
    assert_int_equal(wr_store_bytes(st) % 4096, 0);
    wr_store_close(st);
}

/* ---- rollup -------------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static double rng_value(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    /* A large common offset makes a naive variance lose digits; Welford must not. */
    return 1e6 + (double)(rng_state % 100000) / 1000.0;
}

/* n one-minute results for key starting at start_ms; direct aggregates every value. */
static void make_minutes(struct wr_result *out, size_t n, const char *key, int64_t start_ms,
                         struct wr_agg *direct)
{
    for (size_t i = 0; i < n; i++) {
        struct wr_result *r = &out[i];

        memset(r, 0, sizeof(*r));
        snprintf(r->key, sizeof(r->key), "%s", key);
        r->start_ms = start_ms + (int64_t)i * MIN_MS;
        r->size_s = 60;
        wr_agg_init(&r->agg);
        for (int k = 0; k < 7; k++) {
            double v = rng_value();
            int64_t t = r->start_ms + k * 1000 + 5;

            wr_agg_add(&r->agg, v, t);
            if (direct != NULL)
                wr_agg_add(direct, v, t);
        }
    }
}

/* A coarser window still open in the engine (not sealed) is not formed:
 * a finer result appended later would overlap it. */
static void test_store_rollup_waits_for_sealed_windows(void **state)
{
    struct fixture *fx = *state;
    struct wr_result res[10];
    struct wr_store_budget_report rep;
    struct wr_agg direct;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);

    wr_agg_init(&direct);
    make_minutes(res, 10, "dev", T0, &direct);
    assert_int_equal(wr_store_outbox_append(st, res, 9), WR_OK); /* the 10th is still open */
    assert_int_equal(wr_store_set_sealed_before(st, 0, T0 + 9 * MIN_MS), WR_OK);
    memset(&rep, 0, sizeof(rep));
    assert_int_equal(wr_store_outbox_rollup(st, 0, 0, &rep), WR_OK);
    assert_int_equal(rep.rolled_up, 0);

    assert_int_equal(wr_store_outbox_append(st, &res[9], 1), WR_OK);
    assert_int_equal(wr_store_set_sealed_before(st, 0, T0 + 10 * MIN_MS), WR_OK);
    memset(&rep, 0, sizeof(rep));
    assert_int_equal(wr_store_outbox_rollup(st, 0, 0, &rep), WR_OK);
    assert_int_equal(rep.rolled_up, 10);
    assert_int_equal(rep.rollup_rows, 1);
    assert_int_equal(wr_store_set_sealed_before(st, 2, 0), WR_E_INVAL);
    wr_store_close(st);
}

static void test_store_rollup_exact_aggregates(void **state)
{
    struct fixture *fx = *state;
    struct wr_result res[10];
    struct wr_outbox_row rows[4];
    struct wr_store_budget_report rep;
    struct wr_agg direct;
    uint64_t first_id;
    uint64_t n_rows = 0;
    uint64_t bytes = 0;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);

    wr_agg_init(&direct);
    make_minutes(res, 10, "dev", T0, &direct);
    assert_int_equal(wr_store_outbox_append(st, res, 10), WR_OK);
    assert_int_equal(read_all(st, rows, 1), 1);
    first_id = rows[0].id;

    memset(&rep, 0, sizeof(rep));
    assert_int_equal(wr_store_outbox_rollup(st, 0, 0, &rep), WR_OK);
    assert_int_equal(rep.rolled_up, 10);
    assert_int_equal(rep.rollup_rows, 1);
    assert_int_equal(read_all(st, rows, 4), 1);
    assert_int_equal(rows[0].id, first_id); /* keeps the place of the oldest */
    assert_int_equal(rows[0].result.start_ms, T0);
    assert_int_equal(rows[0].result.size_s, 600);
    assert_int_equal(rows[0].result.revision, 0);
    assert_int_equal(rows[0].result.stream, 0);
    assert_agg_equal(&rows[0].result.agg, &direct);
    wr_store_outbox_stats(st, &n_rows, &bytes);
    assert_int_equal(n_rows, 1);
    assert_int_equal(bytes, WR_STORE_OUTBOX_ROW_FIXED_BYTES + 3);

    /* Nothing more to merge: a second pass changes nothing. */
    memset(&rep, 0, sizeof(rep));
    assert_int_equal(wr_store_outbox_rollup(st, 0, 0, &rep), WR_OK);
    assert_int_equal(rep.rolled_up, 0);
    wr_store_close(st);
}

static void test_store_rollup_straddling_windows(void **state)
{
    struct fixture *fx = *state;
    struct wr_result res[10];
    struct wr_outbox_row rows[4];
    struct wr_agg first_half;
    struct wr_agg second_half;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);

    /* Minutes 5..14 after T0: five in [T0, T0+600 s), five in the next coarse window. */
    wr_agg_init(&first_half);
    wr_agg_init(&second_half);
    make_minutes(res, 5, "dev", T0 + 5 * MIN_MS, &first_half);
    make_minutes(res + 5, 5, "dev", T0 + 10 * MIN_MS, &second_half);
    assert_int_equal(wr_store_outbox_append(st, res, 10), WR_OK);
    assert_int_equal(wr_store_outbox_rollup(st, 0, 0, NULL), WR_OK);
    assert_int_equal(read_all(st, rows, 4), 2);
    assert_int_equal(rows[0].result.start_ms, T0);
    assert_int_equal(rows[1].result.start_ms, T0 + 10 * MIN_MS);
    assert_agg_equal(&rows[0].result.agg, &first_half);
    assert_agg_equal(&rows[1].result.agg, &second_half);
    wr_store_close(st);
}

static void test_store_rollup_revisions_collapse(void **state)
{
    struct fixture *fx = *state;
    struct wr_result r[5];
    struct wr_outbox_row rows[8];
    struct wr_store_budget_report rep;
    struct wr_agg want;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);

    /* Window A: revisions 0, 2, 1 (appended out of order), each the full aggregate. */
    r[0] = make_result(0, "k", T0, 60, 0, 1.0);
    r[1] = make_result(0, "k", T0, 60, 2, 1.0);
    wr_agg_add(&r[1].agg, 2.0, T0 + 2);
    wr_agg_add(&r[1].agg, 3.0, T0 + 3);
    r[2] = make_result(0, "k", T0, 60, 1, 1.0);
    wr_agg_add(&r[2].agg, 2.0, T0 + 2);
    /* Window B, one revision. */
    r[3] = make_result(0, "k", T0 + MIN_MS, 60, 0, 10.0);
    /* Same window as A in another stream: not merged with it. */
    r[4] = make_result(1, "k", T0, 60, 0, 100.0);
    assert_int_equal(wr_store_outbox_append(st, r, 5), WR_OK);

    memset(&rep, 0, sizeof(rep));
    assert_int_equal(wr_store_outbox_rollup(st, 0, 0, &rep), WR_OK);
    assert_int_equal(rep.rolled_up, 4);
    assert_int_equal(rep.rollup_rows, 1);
    assert_int_equal(read_all(st, rows, 8), 2);
    want = r[1].agg;
    wr_agg_merge(&want, &r[3].agg);
    assert_int_equal(rows[0].result.stream, 0);
    assert_int_equal(rows[0].result.size_s, 600);
    assert_int_equal(rows[0].result.agg.count, 4);
    assert_agg_equal(&rows[0].result.agg, &want);
    assert_int_equal(rows[1].result.stream, 1);
    assert_int_equal(rows[1].result.size_s, 60);
    wr_store_close(st);
}

static void test_store_rollup_lone_window_keeps_highest_revision(void **state)
{
    struct fixture *fx = *state;
    struct wr_result r[3];
    struct wr_outbox_row rows[4];
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);

    for (uint32_t i = 0; i < 3; i++) {
        r[i] = make_result(0, "k", T0 + 3 * MIN_MS, 60, i, 1.0);
        for (uint32_t k = 0; k < i; k++)
            wr_agg_add(&r[i].agg, 5.0, T0 + 3 * MIN_MS + 10);
    }
    assert_int_equal(wr_store_outbox_append(st, r, 3), WR_OK);
    assert_int_equal(wr_store_outbox_rollup(st, 0, 0, NULL), WR_OK);
    assert_int_equal(read_all(st, rows, 4), 1);
    /* Alone in its coarse window: not coarsened, only its lower revisions go. */
    assert_int_equal(rows[0].result.size_s, 60);
    assert_int_equal(rows[0].result.start_ms, T0 + 3 * MIN_MS);
    assert_int_equal(rows[0].result.revision, 2);
    assert_agg_equal(&rows[0].result.agg, &r[2].agg);
    wr_store_close(st);
}

static void test_store_rollup_respects_floor(void **state)
{
    struct fixture *fx = *state;
    struct wr_result res[10];
    struct wr_outbox_row rows[12];
    struct wr_agg rest;
    uint64_t ids[10];
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);

    make_minutes(res, 10, "dev", T0, NULL);
    assert_int_equal(wr_store_outbox_append(st, res, 10), WR_OK);
    assert_int_equal(read_all(st, rows, 12), 10);
    for (int i = 0; i < 10; i++)
        ids[i] = rows[i].id;
    wr_agg_init(&rest);
    for (int i = 3; i < 10; i++)
        wr_agg_merge(&rest, &res[i].agg);

    /* The first three are in flight: untouched; the other seven become one row. */
    assert_int_equal(wr_store_outbox_rollup(st, ids[2], 0, NULL), WR_OK);
    assert_int_equal(read_all(st, rows, 12), 4);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rows[i].id, ids[i]);
        assert_int_equal(rows[i].result.size_s, 60);
    }
    assert_int_equal(rows[3].id, ids[3]);
    assert_int_equal(rows[3].result.size_s, 600);
    assert_agg_equal(&rows[3].result.agg, &rest);
    wr_store_close(st);
}

static void test_store_rollup_joins_existing_coarser_rows(void **state)
{
    struct fixture *fx = *state;
    struct wr_result res[100];
    struct wr_result late[2];
    struct wr_outbox_row rows[16];
    struct wr_agg all;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);

    /* 100 minutes: a first pass gives ten 600 s rows, a second one 6000 s row. */
    wr_agg_init(&all);
    make_minutes(res, 100, "dev", T0, &all);
    assert_int_equal(wr_store_outbox_append(st, res, 100), WR_OK);
    assert_int_equal(wr_store_outbox_rollup(st, 0, 0, NULL), WR_OK);
    assert_int_equal(read_all(st, rows, 16), 10);
    assert_int_equal(wr_store_outbox_rollup(st, 0, 0, NULL), WR_OK);
    assert_int_equal(read_all(st, rows, 16), 1);
    assert_int_equal(rows[0].result.size_s, 6000);
    assert_agg_equal(&rows[0].result.agg, &all);

    /*
     * Two late minutes inside it: their 600 s window has no row, but the
     * 6000 s row contains it, so they join that row instead of making a
     * second result that overlaps it.
     */
    make_minutes(late, 2, "dev", T0 + 42 * MIN_MS, &all);
    assert_int_equal(wr_store_outbox_append(st, late, 2), WR_OK);
    assert_int_equal(wr_store_outbox_rollup(st, 0, 0, NULL), WR_OK);
    assert_int_equal(read_all(st, rows, 16), 1);
    assert_int_equal(rows[0].result.start_ms, T0);
    assert_int_equal(rows[0].result.size_s, 6000);
    assert_int_equal(rows[0].result.agg.count, 102 * 7);
    assert_agg_equal(&rows[0].result.agg, &all);
    wr_store_close(st);
}

/* ---- sketches in outbox rows ---------------------------------------------------------------- */

static const double store_qs[] = {0.0, 0.5, 0.9, 0.99, 1.0};
#define N_STORE_QS 5

/* Stream 0 ("temp") has quantiles store_qs, stream 1 none. */
static struct wr_store *open_q(const char *dir, uint64_t max_bytes)
{
    const double *qs[2] = {store_qs, NULL};
    const size_t nq[2] = {N_STORE_QS, 0};
    struct wr_store_options o;
    struct wr_store *st = NULL;

    opts_init(&o, dir, names_ab, 2);
    o.max_bytes = max_bytes;
    o.stream_quantiles = qs;
    o.stream_n_quantiles = nq;
    assert_int_equal(wr_store_open(&o, &st), WR_OK);
    return st;
}

/*
 * Sketch bytes of the results under test: results carry a view (result.h),
 * so the bytes live here for the test.
 */
static uint8_t sk_pool[256 * 1024];
static size_t sk_pool_used;

/* A result of the given values, as the window engine emits it: quantiles and sketch bytes. */
static struct wr_result sketch_result(uint16_t stream, const char *key, int64_t start_ms,
                                      uint32_t size_s, uint32_t revision, const double *values,
                                      size_t n, struct wr_sketch *all)
{
    struct wr_result r;
    struct wr_sketch *sk = NULL;
    size_t len = 0;

    memset(&r, 0, sizeof(r));
    r.stream = stream;
    snprintf(r.key, sizeof(r.key), "%s", key);
    r.start_ms = start_ms;
    r.size_s = size_s;
    r.revision = revision;
    wr_agg_init(&r.agg);
    assert_int_equal(wr_sketch_create(0.01, 512, &sk), WR_OK);
    for (size_t i = 0; i < n; i++) {
        wr_agg_add(&r.agg, values[i], start_ms + (int64_t)i);
        assert_int_equal(wr_sketch_add(sk, values[i]), WR_OK);
        if (all != NULL)
            assert_int_equal(wr_sketch_add(all, values[i]), WR_OK);
    }
    r.agg.sketch = sk;
    for (uint8_t k = 0; k < N_STORE_QS; k++)
        assert_int_equal(wr_agg_quantile(&r.agg, store_qs[k], &r.quantiles[k]), WR_OK);
    r.n_quantiles = N_STORE_QS;
    r.agg.sketch = NULL;
    assert_int_equal(
        wr_sketch_serialize(sk, sk_pool + sk_pool_used, sizeof(sk_pool) - sk_pool_used, &len),
        WR_OK);
    r.sketch = sk_pool + sk_pool_used;
    r.sketch_len = (uint32_t)len;
    sk_pool_used += len;
    wr_sketch_destroy(sk);
    return r;
}

static void assert_sketch_bytes(const struct wr_result *r, const struct wr_sketch *want)
{
    uint8_t buf[8192];
    size_t len = 0;

    assert_int_equal(wr_sketch_serialize(want, buf, sizeof(buf), &len), WR_OK);
    assert_non_null(r->sketch);
    assert_int_equal(r->sketch_len, len);
    assert_memory_equal(r->sketch, buf, len);
}

/* Log-normal-like values over four decades, a few negative: many buckets in both stores. */
static double spread_value(void)
{
    double u =
        (double)((rng_state = rng_state * 6364136223846793005u + 1442695040888963407u) >> 11) /
        9007199254740992.0;
    double v = exp(8.0 * u - 2.0);

    return (rng_state >> 60) == 0 ? -v : v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Every quantile of r within the sketch's bound of the exact one among the sorted values. */
static void assert_quantiles_within_bound(const struct wr_result *r, double *values, size_t n)
{
    qsort(values, n, sizeof(*values), cmp_double);
    assert_int_equal(r->n_quantiles, N_STORE_QS);
    for (size_t k = 0; k < N_STORE_QS; k++) {
        double x = values[(size_t)floor(store_qs[k] * (double)(n - 1))];

        if (!(fabs(r->quantiles[k] - x) <= 0.01 * fabs(x) * (1 + 1e-12)))
            fail_msg("q %.2f: got %.17g, exact %.17g", store_qs[k], r->quantiles[k], x);
    }
}

/* The counted bytes, recomputed from the rows by the store's own open (a SQL sum). */
static uint64_t bytes_after_reopen(struct wr_store **st, const char *dir)
{
    uint64_t bytes = 0;

    wr_store_close(*st);
    *st = open_q(dir, 0);
    wr_store_outbox_stats(*st, NULL, &bytes);
    return bytes;
}

/*
 * A result's sketch goes into its outbox row and comes back byte for byte;
 * the row is counted with it; the window row marked closed keeps the sketch
 * too (a later revision still covers every value). Enough rows with sketches
 * are read in one call that the store's buffer for them has to grow.
 */
static void test_store_outbox_row_keeps_sketch(void **state)
{
    struct fixture *fx = *state;
    struct wr_store *st = open_q(fx->dir, 0);
    struct wr_window_state ws = make_window(0, "a", T0, 0, false, 1.0);
    static struct wr_result r[40];
    static struct wr_outbox_row rows[40];
    double values[200];
    struct sketch_check sc;
    uint64_t want_bytes = 0;
    uint64_t bytes = 0;
    uint64_t ids[40];

    sk_pool_used = 0;
    for (size_t i = 0; i < 200; i++)
        values[i] = spread_value();
    for (size_t i = 0; i < 40; i++) {
        r[i] = sketch_result(0, "a", T0 + (int64_t)i * MIN_MS, 60, 0, values, 50 + i * 3, NULL);
        want_bytes +=
            WR_STORE_OUTBOX_ROW_FIXED_BYTES + 1 + (2 + 8 * N_STORE_QS) + 5 + r[i].sketch_len;
    }
    assert_true(sk_pool_used > 8192); /* more than the read buffer's first size */
    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    assert_int_equal(wr_store_put_window(st, &ws), WR_OK);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);
    assert_int_equal(wr_store_outbox_append(st, r, 40), WR_OK);
    wr_store_outbox_stats(st, NULL, &bytes);
    assert_int_equal(bytes, want_bytes);
    assert_int_equal(bytes_after_reopen(&st, fx->dir), want_bytes);

    assert_int_equal(read_all(st, rows, 40), 40);
    for (size_t i = 0; i < 40; i++) {
        assert_int_equal(rows[i].result.sketch_len, r[i].sketch_len);
        assert_memory_equal(rows[i].result.sketch, r[i].sketch, r[i].sketch_len);
        assert_int_equal(rows[i].result.n_quantiles, N_STORE_QS);
        assert_memory_equal(rows[i].result.quantiles, r[i].quantiles,
                            sizeof(r[i].quantiles[0]) * N_STORE_QS);
        ids[i] = rows[i].id;
    }

    /* The checkpointed window (T0, key a) was marked closed with its result's sketch: its
     * open record, then the closed mark that supersedes it. */
    memset(&sc, 0, sizeof(sc));
    assert_int_equal(wr_store_load_windows(st, last_sketch_visit, &sc, NULL), WR_OK);
    assert_int_equal(sc.visits, 2);
    assert_true(sc.last_closed);
    assert_int_equal(sc.count, 50);

    assert_int_equal(wr_store_outbox_delete(st, ids, 40), WR_OK);
    wr_store_outbox_stats(st, NULL, &bytes);
    assert_int_equal(bytes, 0);
    wr_store_close(st);
}

/* A result the store cannot take (a sketch past any bucket limit) is refused whole. */
static void test_store_outbox_refuses_oversize_sketch(void **state)
{
    struct fixture *fx = *state;
    struct wr_store *st = open_q(fx->dir, 0);
    struct wr_result r = make_result(0, "a", T0, 60, 0, 1.0);
    static const uint8_t byte = 1;

    r.sketch = &byte;
    r.sketch_len = (uint32_t)wr_result_sketch_max() + 1;
    assert_false(wr_store_outbox_accepts(st, &r));
    assert_int_equal(wr_store_outbox_append(st, &r, 1), WR_E_INVAL);
    r.sketch = NULL;
    r.sketch_len = 1;
    assert_false(wr_store_outbox_accepts(st, &r));
    wr_store_close(st);
}

/*
 * Rollup merges the sketches of the windows it combines exactly (the bytes
 * equal those of one sketch fed every value) and recomputes the stream's
 * quantiles from the merge: within the sketch's bound of the exact quantiles
 * of all the values. The counted bytes follow (checked against the SQL sum).
 */
static void test_store_rollup_merges_sketches(void **state)
{
    struct fixture *fx = *state;
    struct wr_store *st = open_q(fx->dir, 0);
    static struct wr_result res[10];
    static double values[10][40];
    double all_values[400];
    struct wr_outbox_row rows[4];
    struct wr_store_budget_report rep;
    struct wr_sketch *all = NULL;
    struct wr_agg direct;
    uint64_t bytes = 0;

    sk_pool_used = 0;
    wr_agg_init(&direct);
    assert_int_equal(wr_sketch_create(0.01, 512, &all), WR_OK);
    for (size_t m = 0; m < 10; m++) {
        for (size_t i = 0; i < 40; i++) {
            values[m][i] = spread_value() * (double)(m + 1);
            all_values[m * 40 + i] = values[m][i];
        }
        res[m] = sketch_result(0, "dev", T0 + (int64_t)m * MIN_MS, 60, 0, values[m], 40, all);
        wr_agg_merge(&direct, &res[m].agg);
    }
    assert_int_equal(wr_store_outbox_append(st, res, 10), WR_OK);
    memset(&rep, 0, sizeof(rep));
    assert_int_equal(wr_store_outbox_rollup(st, 0, 0, &rep), WR_OK);
    assert_int_equal(rep.rolled_up, 10);
    assert_int_equal(rep.rollup_rows, 1);
    assert_int_equal(read_all(st, rows, 4), 1);
    assert_int_equal(rows[0].result.size_s, 600);
    assert_agg_equal(&rows[0].result.agg, &direct);
    assert_sketch_bytes(&rows[0].result, all);
    assert_quantiles_within_bound(&rows[0].result, all_values, 400);
    /* Exactly what the window engine would have reported for one window of all the values. */
    direct.sketch = all;
    for (size_t k = 0; k < N_STORE_QS; k++) {
        double want = 0;

        assert_int_equal(wr_agg_quantile(&direct, store_qs[k], &want), WR_OK);
        assert_true(rows[0].result.quantiles[k] == want);
    }
    wr_store_outbox_stats(st, NULL, &bytes);
    assert_int_equal(bytes, WR_STORE_OUTBOX_ROW_FIXED_BYTES + 3 + (2 + 8 * N_STORE_QS) + 5 +
                                rows[0].result.sketch_len);
    assert_int_equal(bytes_after_reopen(&st, fx->dir), bytes);
    wr_sketch_destroy(all);
    wr_store_close(st);
}

/*
 * Revisions: the highest revision of a window carries the sketch of all its
 * values, and only it is merged. A window alone in its coarse window keeps
 * its row as it is, sketch included.
 */
static void test_store_rollup_sketch_revisions_and_lone_window(void **state)
{
    struct fixture *fx = *state;
    struct wr_store *st = open_q(fx->dir, 0);
    static const double a0[] = {1.0};
    static const double a1[] = {1.0, 2.0, 3.0};
    static const double b0[] = {10.0, 20.0};
    static const double c0[] = {-5.0, 7.0};
    struct wr_result r[4];
    struct wr_outbox_row rows[4];
    struct wr_sketch *want = NULL;

    sk_pool_used = 0;
    assert_int_equal(wr_sketch_create(0.01, 512, &want), WR_OK);
    r[0] = sketch_result(0, "k", T0, 60, 0, a0, 1, NULL);
    r[1] = sketch_result(0, "k", T0, 60, 1, a1, 3, want);
    r[2] = sketch_result(0, "k", T0 + MIN_MS, 60, 0, b0, 2, want);
    /* Alone in the next coarse window. */
    r[3] = sketch_result(0, "k", T0 + 13 * MIN_MS, 60, 1, c0, 2, NULL);
    assert_int_equal(wr_store_outbox_append(st, r, 4), WR_OK);
    assert_int_equal(wr_store_outbox_rollup(st, 0, 0, NULL), WR_OK);
    assert_int_equal(read_all(st, rows, 4), 2);
    assert_int_equal(rows[0].result.size_s, 600);
    assert_int_equal(rows[0].result.agg.count, 5);
    assert_sketch_bytes(&rows[0].result, want);
    assert_true(rows[0].result.quantiles[0] == 1.0); /* clamped to min */
    assert_close(rows[0].result.quantiles[4], 20.0, 0.01);
    assert_int_equal(rows[1].result.size_s, 60);
    assert_int_equal(rows[1].result.revision, 1);
    assert_int_equal(rows[1].result.sketch_len, r[3].sketch_len);
    assert_memory_equal(rows[1].result.sketch, r[3].sketch, r[3].sketch_len);
    assert_memory_equal(rows[1].result.quantiles, r[3].quantiles, sizeof(double) * N_STORE_QS);
    wr_sketch_destroy(want);
    wr_store_close(st);
}

/*
 * A window without a sketch (written before results carried one, or whose
 * sketch could not be kept for want of memory) makes a merged sketch miss
 * values: the rolled-up result then carries neither sketch nor quantiles,
 * and its other aggregates stay exact. Streams without quantiles never had
 * sketches and roll up as before.
 */
static void test_store_rollup_without_every_sketch_has_no_quantiles(void **state)
{
    struct fixture *fx = *state;
    struct wr_store *st = open_q(fx->dir, 0);
    static const double v[] = {1.0, 2.0};
    struct wr_result r[4];
    struct wr_outbox_row rows[4];
    struct wr_agg want;

    sk_pool_used = 0;
    r[0] = sketch_result(0, "k", T0, 60, 0, v, 2, NULL);
    r[1] = make_result(0, "k", T0 + MIN_MS, 60, 0, 5.0);
    r[2] = make_result(1, "k", T0, 60, 0, 5.0);
    r[3] = make_result(1, "k", T0 + MIN_MS, 60, 0, 6.0);
    assert_int_equal(wr_store_outbox_append(st, r, 4), WR_OK);
    assert_int_equal(wr_store_outbox_rollup(st, 0, 0, NULL), WR_OK);
    assert_int_equal(read_all(st, rows, 4), 2);
    want = r[0].agg;
    wr_agg_merge(&want, &r[1].agg);
    assert_int_equal(rows[0].result.size_s, 600);
    assert_agg_equal(&rows[0].result.agg, &want);
    assert_int_equal(rows[0].result.n_quantiles, 0);
    assert_int_equal(rows[0].result.sketch_len, 0);
    assert_null(rows[0].result.sketch);
    assert_int_equal(rows[1].result.stream, 1);
    assert_int_equal(rows[1].result.size_s, 600);
    assert_int_equal(rows[1].result.agg.count, 2);
    assert_int_equal(rows[1].result.sketch_len, 0);
    wr_store_close(st);
}

/*
 * Under storage pressure the budget rolls results with sketches up, and the
 * coarser results' quantiles stay within the sketch's bound of the exact
 * quantiles of every value they cover (nothing is dropped here: each
 * surviving row covers whole windows, checked against the values sent).
 */
static void test_store_budget_rollup_keeps_quantiles_within_bound(void **state)
{
    struct fixture *fx = *state;
    const uint64_t budget = 256 * 1024;
    struct wr_store *st = open_q(fx->dir, budget);
    static double values[600][8];
    static struct wr_outbox_row rows[700];
    static struct wr_result batch[60];
    struct wr_store_budget_report rep;
    size_t n;
    size_t coarser = 0;

    for (int chunk = 0; chunk < 10; chunk++) {
        sk_pool_used = 0;
        for (int i = 0; i < 60; i++) {
            int m = chunk * 60 + i;

            for (int k = 0; k < 8; k++)
                values[m][k] = spread_value();
            batch[i] = sketch_result(0, "dev", T0 + m * MIN_MS, 60, 0, values[m], 8, NULL);
        }
        assert_int_equal(wr_store_outbox_append(st, batch, 60), WR_OK);
    }
    assert_true(wr_store_bytes(st) > budget);
    assert_int_equal(wr_store_enforce_budget(st, 0, &rep), WR_OK);
    assert_true(rep.rolled_up > 0);
    assert_int_equal(rep.dropped, 0);
    assert_true(wr_store_bytes(st) <= budget);
    n = read_all(st, rows, 700);
    for (size_t i = 0; i < n; i++) {
        const struct wr_result *r = &rows[i].result;
        int first = (int)((r->start_ms - T0) / MIN_MS);
        int windows = (int)(r->size_s / 60);
        static double covered[600 * 8];
        size_t nv = 0;

        for (int m = first; m < first + windows; m++)
            for (int k = 0; k < 8; k++)
                covered[nv++] = values[m][k];
        assert_int_equal(r->agg.count, nv);
        assert_non_null(r->sketch);
        assert_quantiles_within_bound(r, covered, nv);
        coarser += r->size_s > 60;
    }
    assert_true(coarser > 0);
    wr_store_close(st);
}

/* The quantile lists are checked at open. */
static void test_store_open_refuses_bad_quantiles(void **state)
{
    struct fixture *fx = *state;
    static const double bad_q[] = {0.5, 1.5};
    const double *qs[2] = {bad_q, NULL};
    size_t nq[2] = {2, 0};
    struct wr_store_options o;
    struct wr_store *st = NULL;

    opts_init(&o, fx->dir, names_ab, 2);
    o.stream_quantiles = qs;
    o.stream_n_quantiles = nq;
    assert_int_equal(wr_store_open(&o, &st), WR_E_INVAL);
    nq[0] = WR_RESULT_MAX_QUANTILES + 1;
    assert_int_equal(wr_store_open(&o, &st), WR_E_INVAL);
    nq[0] = 1;
    qs[0] = NULL;
    assert_int_equal(wr_store_open(&o, &st), WR_E_INVAL);
    assert_null(st);
}

/* ---- budget -------------------------------------------------------------------------------- */

static const char *const keys8[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"};

/* Append minutes [from, from + n) for every key, in batches like the pipeline does. */
static uint64_t append_minutes(struct wr_store *st, int from, int n, size_t n_keys)
{
    struct wr_result batch[64];
    size_t nb = 0;
    uint64_t count = 0;

    for (int m = from; m < from + n; m++) {
        for (size_t k = 0; k < n_keys; k++) {
            batch[nb] = make_result(0, keys8[k], T0 + m * MIN_MS, 60, 0, (double)m);
            count += batch[nb].agg.count;
            if (++nb == 64) {
                assert_int_equal(wr_store_outbox_append(st, batch, nb), WR_OK);
                nb = 0;
            }
        }
    }
    if (nb > 0)
        assert_int_equal(wr_store_outbox_append(st, batch, nb), WR_OK);
    return count;
}

static void test_store_budget_rollup_before_drop(void **state)
{
    struct fixture *fx = *state;
    struct wr_store_budget_report rep;
    struct wr_store_stats stats;
    const uint64_t budget = 512 * 1024;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, budget, WR_ON_FULL_ROLLUP);
    uint64_t rows_before = 0;
    uint64_t rows_after = 0;

    append_minutes(st, 0, 1000, 8);
    wr_store_outbox_stats(st, &rows_before, NULL);
    assert_int_equal(rows_before, 8000);
    assert_true(wr_store_bytes(st) > budget);

    assert_int_equal(wr_store_enforce_budget(st, 0, &rep), WR_OK);
    assert_true(rep.bytes_before > budget);
    assert_true(rep.bytes_after <= budget);
    assert_int_equal(rep.bytes_after, wr_store_bytes(st));
    assert_true(rep.rolled_up > 0);
    assert_true(rep.rollup_rows > 0);
    assert_int_equal(rep.dropped, 0);
    wr_store_outbox_stats(st, &rows_after, NULL);
    assert_int_equal(rows_after, rows_before - rep.rolled_up + rep.rollup_rows);
    wr_store_get_stats(st, &stats);
    assert_int_equal(stats.rolled_up, rep.rolled_up);
    assert_int_equal(stats.dropped, 0);

    /* Under budget now: nothing more to do. */
    assert_int_equal(wr_store_enforce_budget(st, 0, &rep), WR_OK);
    assert_int_equal(rep.rolled_up + rep.dropped, 0);
    wr_store_close(st);
}

static void test_store_budget_drops_when_rollup_cannot_help(void **state)
{
    struct fixture *fx = *state;
    struct wr_store_budget_report rep;
    struct wr_outbox_row rows[4];
    struct wr_result batch[50];
    const uint64_t budget = 256 * 1024;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, budget, WR_ON_FULL_ROLLUP);
    uint64_t n_rows = 0;
    int64_t last_start = 0;

    /* Every result its own key: nothing can be merged. */
    for (int b = 0; b < 60; b++) {
        for (int i = 0; i < 50; i++) {
            char key[16];

            snprintf(key, sizeof(key), "u%d", b * 50 + i);
            last_start = T0 + (b * 50 + i) * MIN_MS;
            batch[i] = make_result(0, key, last_start, 60, 0, 1.0);
        }
        assert_int_equal(wr_store_outbox_append(st, batch, 50), WR_OK);
    }
    assert_true(wr_store_bytes(st) > budget);
    assert_int_equal(wr_store_enforce_budget(st, 0, &rep), WR_OK);
    assert_int_equal(rep.rolled_up, 0);
    assert_true(rep.dropped > 0);
    assert_true(rep.bytes_after <= budget);
    wr_store_outbox_stats(st, &n_rows, NULL);
    assert_int_equal(n_rows, 3000 - rep.dropped);
    /* The oldest went: the first remaining row is the first one not dropped. */
    assert_int_equal(read_all(st, rows, 1), 1);
    assert_int_equal(rows[0].result.start_ms, T0 + (int64_t)rep.dropped * MIN_MS);
    wr_store_close(st);
}

static void test_store_budget_rollup_then_drop(void **state)
{
    struct fixture *fx = *state;
    struct wr_store_budget_report rep;
    struct wr_result batch[50];
    const uint64_t budget = 160 * 1024;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, budget, WR_ON_FULL_ROLLUP);

    /* Mergeable minutes first, then unmergeable single results: rollup alone is not enough. */
    append_minutes(st, 0, 300, 8);
    for (int b = 0; b < 30; b++) {
        for (int i = 0; i < 50; i++) {
            char key[16];

            snprintf(key, sizeof(key), "u%d", b * 50 + i);
            batch[i] = make_result(0, key, T0 + (b * 50 + i) * MIN_MS, 60, 0, 1.0);
        }
        assert_int_equal(wr_store_outbox_append(st, batch, 50), WR_OK);
    }
    assert_int_equal(wr_store_enforce_budget(st, 0, &rep), WR_OK);
    assert_true(rep.rolled_up > 0);
    assert_true(rep.dropped > 0);
    assert_true(rep.bytes_after <= budget);
    wr_store_close(st);
}

static void test_store_budget_drop_oldest_mode(void **state)
{
    struct fixture *fx = *state;
    struct wr_store_budget_report rep;
    const uint64_t budget = 256 * 1024;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, budget, WR_ON_FULL_DROP_OLDEST);

    append_minutes(st, 0, 500, 8);
    assert_int_equal(wr_store_enforce_budget(st, 0, &rep), WR_OK);
    assert_int_equal(rep.rolled_up, 0);
    assert_true(rep.dropped > 0);
    assert_true(rep.bytes_after <= budget);
    wr_store_close(st);
}

static void test_store_budget_respects_floor(void **state)
{
    struct fixture *fx = *state;
    struct wr_store_budget_report rep;
    struct wr_outbox_row rows[200];
    const uint64_t budget = 64 * 1024;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, budget, WR_ON_FULL_DROP_OLDEST);
    uint64_t floor_id;
    size_t n;

    append_minutes(st, 0, 25, 8); /* 200 rows */
    assert_int_equal(read_all(st, rows, 200), 200);
    floor_id = rows[199].id;
    append_minutes(st, 25, 500, 8);
    /* Everything above the floor can go, the 200 in flight cannot: over budget stays. */
    assert_int_equal(wr_store_enforce_budget(st, floor_id, &rep), WR_E_FULL);
    assert_int_equal(rep.dropped, 4000);
    n = read_all(st, rows, 200);
    assert_int_equal(n, 200);
    assert_int_equal(rows[199].id, floor_id);
    wr_store_close(st);
}

/*
 * A day-long outage with a budget far below what it produces: results keep
 * coming, the budget is enforced after every batch, and at the end every
 * event is still accounted for, in windows that tile the whole outage.
 */
static void test_store_budget_long_outage_no_gap(void **state)
{
    struct fixture *fx = *state;
    enum { KEYS = 4, MINUTES = 1440 * 3 };
    static struct wr_outbox_row rows[4096];
    struct wr_store_budget_report rep;
    struct wr_store_stats stats;
    const uint64_t budget = 256 * 1024;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, budget, WR_ON_FULL_ROLLUP);
    uint64_t appended = 0;
    uint64_t counted = 0;
    uint32_t max_size = 0;
    size_t n;

    for (int m = 0; m < MINUTES; m += 30) {
        appended += append_minutes(st, m, 30, KEYS);
        assert_int_equal(wr_store_enforce_budget(st, 0, &rep), WR_OK);
        assert_true(wr_store_bytes(st) <= budget);
    }
    wr_store_get_stats(st, &stats);
    assert_true(stats.rolled_up > 0);
    assert_int_equal(stats.dropped, 0);

    n = read_all(st, rows, 4096);
    assert_true(n < 4096);
    for (size_t k = 0; k < KEYS; k++) {
        int64_t covered_to = INT64_MAX;
        int64_t newest_size = 0;
        bool more = true;

        /* Coarse windows are aligned to their size, so the first may start before T0. */
        for (size_t i = 0; i < n; i++)
            if (strcmp(rows[i].result.key, keys8[k]) == 0 && rows[i].result.start_ms < covered_to)
                covered_to = rows[i].result.start_ms;
        assert_true(covered_to <= T0);
        /* Tiling check: repeatedly find the row that starts where the coverage ends. */
        while (more) {
            more = false;
            for (size_t i = 0; i < n; i++) {
                if (strcmp(rows[i].result.key, keys8[k]) == 0 &&
                    rows[i].result.start_ms == covered_to) {
                    covered_to += (int64_t)rows[i].result.size_s * 1000;
                    newest_size = rows[i].result.size_s;
                    more = true;
                    break;
                }
            }
        }
        assert_int_equal(covered_to, T0 + (int64_t)MINUTES * MIN_MS);
        assert_int_equal(newest_size, 60); /* the newest data keeps its resolution */
    }
    for (size_t i = 0; i < n; i++) {
        counted += rows[i].result.agg.count;
        if (rows[i].result.size_s > max_size)
            max_size = rows[i].result.size_s;
    }
    assert_int_equal(counted, appended);
    assert_true(max_size >= 6000); /* the oldest part went more than one level coarser */
    wr_store_close(st);
}

/* ---- faults -------------------------------------------------------------------------------- */

static void assert_moved_name(const struct fixture *fx, const char *moved)
{
    const char *suffix;

    assert_int_equal(strncmp(moved, fx->path, strlen(fx->path)), 0);
    suffix = moved + strlen(fx->path);
    assert_int_equal(strncmp(suffix, ".corrupt-", 9), 0);
    suffix += 9;
    /* YYYYmmddTHHMMSSZ */
    assert_int_equal(strlen(suffix), 16);
    for (int i = 0; i < 16; i++) {
        if (i == 8)
            assert_int_equal(suffix[i], 'T');
        else if (i == 15)
            assert_int_equal(suffix[i], 'Z');
        else
            assert_true(suffix[i] >= '0' && suffix[i] <= '9');
    }
}

static void check_fresh_store_works(struct wr_store *st)
{
    struct wr_result r = make_result(0, "k", T0, 60, 0, 1.0);
    struct wr_outbox_row rows[2];

    assert_int_equal(read_all(st, rows, 2), 0);
    assert_int_equal(wr_store_outbox_append(st, &r, 1), WR_OK);
    assert_int_equal(read_all(st, rows, 2), 1);
}

static void test_store_corrupt_random_file_moved_aside(void **state)
{
    struct fixture *fx = *state;
    unsigned char junk[65536];
    char wal[160];
    char moved_wal[600];
    struct wr_store_options o;
    struct wr_store_stats stats;
    struct wr_store *st = NULL;

    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)(i * 2654435761u >> 13);
    write_file(fx->path, junk, sizeof(junk), 0);
    snprintf(wal, sizeof(wal), "%s-wal", fx->path);
    write_file(wal, junk, 1000, 0);

    opts_init(&o, fx->dir, names_ab, 2);
    assert_int_equal(wr_store_open(&o, &st), WR_OK);
    assert_true(o.recovered_from_corruption);
    assert_moved_name(fx, o.moved_aside_path);
    assert_true(file_exists(o.moved_aside_path));
    snprintf(moved_wal, sizeof(moved_wal), "%s-wal", o.moved_aside_path);
    assert_true(file_exists(moved_wal)); /* the WAL went with it, not into the fresh file */
    assert_int_equal(count_corrupt_files(fx->dir, NULL, 0), 1);
    wr_store_get_stats(st, &stats);
    assert_int_equal(stats.corruptions, 1);
    check_fresh_store_works(st);
    wr_store_close(st);
    assert_int_equal(sql_int(fx->path, "PRAGMA user_version"), 3);
}

static void test_store_corrupt_pages_moved_aside(void **state)
{
    struct fixture *fx = *state;
    unsigned char junk[4096 * 4];
    char moved[600];
    struct wr_store_options o;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    struct stat sb;

    append_minutes(st, 0, 200, 8);
    wr_store_close(st);
    assert_int_equal(stat(fx->path, &sb), 0);
    assert_true(sb.st_size > (off_t)sizeof(junk) * 2);
    /* Garbage over b-tree pages in the middle; the header page stays valid. */
    memset(junk, 0xa5, sizeof(junk));
    write_file(fx->path, junk, sizeof(junk), (long)(sb.st_size / 4096 / 2) * 4096);

    opts_init(&o, fx->dir, names_ab, 2);
    assert_int_equal(wr_store_open(&o, &st), WR_OK);
    assert_true(o.recovered_from_corruption);
    assert_moved_name(fx, o.moved_aside_path);
    assert_int_equal(count_corrupt_files(fx->dir, moved, sizeof(moved)), 1);
    assert_string_equal(moved, o.moved_aside_path);
    check_fresh_store_works(st);
    wr_store_close(st);
}

/*
 * Corruption found after open, by an ordinary statement: the database is
 * larger than SQLite's page cache, so pages the integrity check read at
 * open are read again from the file, which is damaged behind its back.
 */
static void test_store_corrupt_found_later_moved_aside(void **state)
{
    struct fixture *fx = *state;
    static struct wr_outbox_row rows[256];
    unsigned char junk[4096];
    struct wr_store_stats stats;
    struct wr_store *st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    struct stat sb;
    size_t n = 0;
    int rc = WR_OK;

    append_minutes(st, 0, 3000, 8); /* about 4 MB, twice the default cache */
    wr_store_close(st);
    assert_int_equal(stat(fx->path, &sb), 0);

    st = open_ok(fx->dir, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    memset(junk, 0x5a, sizeof(junk));
    for (long page = 2; page < (long)(sb.st_size / 4096) / 2; page++)
        write_file(fx->path, junk, sizeof(junk), page * 4096);
    /* Page through the outbox from the start: the damaged pages come up. */
    for (uint64_t after = 0; rc == WR_OK;) {
        rc = wr_store_outbox_read(st, after, rows, 256, &n);
        if (rc != WR_OK || n == 0)
            break;
        after = rows[n - 1].id;
    }
    assert_int_equal(rc, WR_E_CORRUPT);
    wr_store_get_stats(st, &stats);
    assert_int_equal(stats.corruptions, 1);
    assert_int_equal(stats.outbox_rows, 0);
    assert_int_equal(count_corrupt_files(fx->dir, NULL, 0), 1);
    /* The same handle now works on the fresh database. */
    check_fresh_store_works(st);
    wr_store_close(st);
}

static void test_store_dir_not_a_directory_denied(void **state)
{
    struct fixture *fx = *state;
    char file[128];
    char dir[160];
    struct wr_store_options o;
    struct wr_store *st = NULL;

    /* Root bypasses permission bits, but not ENOTDIR: the state dir lies under a regular file. */
    snprintf(file, sizeof(file), "%s/afile", fx->dir);
    write_file(file, "x", 1, 0);
    snprintf(dir, sizeof(dir), "%s/state", file);
    opts_init(&o, dir, names_ab, 2);
    assert_int_equal(wr_store_open(&o, &st), WR_E_DENIED);
    assert_null(st);
    assert_false(o.recovered_from_corruption);
}

static bool mount_tmpfs(const char *dir, const char *size)
{
    char opts[64];

    snprintf(opts, sizeof(opts), "size=%s,mode=0755", size);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return false;
    return mount("tmpfs", dir, "tmpfs", 0, opts) == 0;
}

static void test_store_read_only_mount_denied(void **state)
{
    struct fixture *fx = *state;
    char mnt[128];
    struct wr_store_options o;
    struct wr_store *st = NULL;

    snprintf(mnt, sizeof(mnt), "%s/mnt", fx->dir);
    if (!mount_tmpfs(mnt, "1m")) {
        skip(); /* needs CAP_SYS_ADMIN: run as root to cover it */
        return;
    }
    st = open_ok(mnt, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    check_fresh_store_works(st);
    wr_store_close(st);
    assert_int_equal(mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);

    opts_init(&o, mnt, names_ab, 2);
    st = NULL;
    assert_int_equal(wr_store_open(&o, &st), WR_E_DENIED);
    assert_null(st);
    assert_false(o.recovered_from_corruption);

    /* Writable again: the same database opens with its data. */
    assert_int_equal(mount(NULL, mnt, NULL, MS_REMOUNT, NULL), 0);
    st = open_ok(mnt, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    {
        struct wr_outbox_row rows[2];

        assert_int_equal(read_all(st, rows, 2), 1);
    }
    wr_store_close(st);
    assert_int_equal(umount2(mnt, MNT_DETACH), 0);
}

static void test_store_disk_full_nospc_and_recovers(void **state)
{
    struct fixture *fx = *state;
    static struct wr_outbox_row rows[8192];
    struct wr_result batch[100];
    struct wr_window_state ws = make_window(0, "w", T0, 0, false, 1.0);
    char mnt[128];
    char filler[160];
    char buf[4096];
    struct wr_store_stats stats;
    struct wr_store_options o;
    struct wr_store *st = NULL;
    uint64_t n_rows = 0;
    int rc = WR_OK;
    int fd;
    int b;

    snprintf(mnt, sizeof(mnt), "%s/mnt", fx->dir);
    if (!mount_tmpfs(mnt, "512k")) {
        skip(); /* needs CAP_SYS_ADMIN: run as root to cover it */
        return;
    }
    opts_init(&o, mnt, names_ab, 2);
    o.sync_every_commits = 1000; /* let the WAL grow so the full disk hits a commit */
    assert_int_equal(wr_store_open(&o, &st), WR_OK);
    /* Take all but ~128 KiB with a filler file we can remove later. */
    snprintf(filler, sizeof(filler), "%s/filler", mnt);
    fd = open(filler, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    memset(buf, 0x11, sizeof(buf));
    for (int i = 0; i < 80; i++)
        assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
    close(fd);

    for (b = 0; b < 200 && rc == WR_OK; b++) {
        for (int i = 0; i < 100; i++)
            batch[i] = make_result(0, "k", T0 + (b * 100 + i) * MIN_MS, 60, 0, 1.0);
        rc = wr_store_outbox_append(st, batch, 100);
    }
    assert_int_equal(rc, WR_E_NOSPC);
    /* The failed batch left nothing behind: counters and rows agree on whole batches. */
    wr_store_outbox_stats(st, &n_rows, NULL);
    assert_int_equal(n_rows % 100, 0);
    assert_int_equal(n_rows, (uint64_t)(b - 1) * 100);
    assert_int_equal(read_all(st, rows, 8192), n_rows);
    /* A checkpoint fails the same way and is rolled back. */
    rc = wr_store_checkpoint_begin(st);
    if (rc == WR_OK) {
        for (int i = 0; i < 500 && rc == WR_OK; i++) {
            ws.start_ms = T0 + i * MIN_MS;
            rc = wr_store_put_window(st, &ws);
        }
        if (rc == WR_OK)
            rc = wr_store_checkpoint_commit(st);
        else
            wr_store_checkpoint_rollback(st);
    }
    assert_int_equal(rc, WR_E_NOSPC);
    wr_store_get_stats(st, &stats);
    assert_true(stats.write_failures > 0);

    /* Space again: the same store takes writes. */
    assert_int_equal(unlink(filler), 0);
    assert_int_equal(wr_store_outbox_append(st, batch, 100), WR_OK);
    assert_int_equal(wr_store_checkpoint_begin(st), WR_OK);
    assert_int_equal(wr_store_put_window(st, &ws), WR_OK);
    assert_int_equal(wr_store_checkpoint_commit(st), WR_OK);
    wr_store_outbox_stats(st, &n_rows, NULL);
    assert_int_equal(read_all(st, rows, 8192), n_rows);
    wr_store_close(st);

    st = open_ok(mnt, names_ab, 2, 0, WR_ON_FULL_ROLLUP);
    assert_int_equal(read_all(st, rows, 8192), n_rows);
    wr_store_close(st);
    assert_int_equal(umount2(mnt, MNT_DETACH), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_open_creates_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_empty_file_migrates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_v1_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_v2_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_newer_version_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_invalid_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_locked_by_other, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_alloc_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_checkpoint_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_sketch_and_quantiles_round_trip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_outbox_append_marks_window_closed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_records_keep_only_needed_fields, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_window_sets_replace_and_add, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_window_set_garbage_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_restore_skips_removed_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_checkpoint_state_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_retention_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_outbox_order_paging_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_outbox_ids_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_outbox_stream_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_outbox_joins_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_stats_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_rollup_exact_aggregates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_rollup_waits_for_sealed_windows, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_rollup_straddling_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_rollup_revisions_collapse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_rollup_lone_window_keeps_highest_revision, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_rollup_respects_floor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_rollup_joins_existing_coarser_rows, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_outbox_row_keeps_sketch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_outbox_refuses_oversize_sketch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_rollup_merges_sketches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_rollup_sketch_revisions_and_lone_window, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_rollup_without_every_sketch_has_no_quantiles,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_budget_rollup_keeps_quantiles_within_bound,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_refuses_bad_quantiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_budget_rollup_before_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_budget_drops_when_rollup_cannot_help, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_budget_rollup_then_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_budget_drop_oldest_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_budget_respects_floor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_budget_long_outage_no_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_corrupt_random_file_moved_aside, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_corrupt_pages_moved_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_corrupt_found_later_moved_aside, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_dir_not_a_directory_denied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_read_only_mount_denied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_disk_full_nospc_and_recovers, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
