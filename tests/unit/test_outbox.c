/*
 * The outbox over a real SQLite store in a temporary directory, and memory
 * only. The storage-failure test mounts a small tmpfs (root in the CI
 * container) and fills it; it is skipped where mounting is not allowed.
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700

#include "test_support.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agg.h"
#include "forward.h"
#include "metrics.h"
#include "outbox.h"
#include "result.h"
#include "store.h"
#include "wr_error.h"

#define T0 INT64_C(1700004000000)
#define MIN_MS INT64_C(60000)
#define MEM WR_OUTBOX_MEMORY_ID_BIT

static const char *const names[] = {"temp", "hum"};

struct fixture {
    char dir[64];
    char mnt[96];
    struct wr_metrics *m;
    struct wr_store *st;
    struct wr_outbox *ob;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    if (wr_test_tmpdir(fx->dir, sizeof(fx->dir), "wr-outbox") != 0 ||
        wr_metrics_create(&fx->m) != WR_OK) {
        free(fx);
        return -1;
    }
    snprintf(fx->mnt, sizeof(fx->mnt), "%s/mnt", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    wr_outbox_destroy(fx->ob);
    wr_store_close(fx->st);
    wr_metrics_destroy(fx->m);
    /* A failed fault test may leave its tmpfs mounted. */
    umount2(fx->mnt, MNT_DETACH);
    wr_test_rmtree(fx->dir);
    free(fx);
    return 0;
}

static struct wr_store *open_store(const char *dir, uint32_t sync_every)
{
    struct wr_store_options o;
    struct wr_store *st = NULL;

    memset(&o, 0, sizeof(o));
    o.dir = dir;
    o.stream_names = names;
    o.n_streams = 2;
    o.on_full = WR_ON_FULL_ROLLUP;
    o.sync_every_commits = sync_every;
    assert_int_equal(wr_store_open(&o, &st), WR_OK);
    assert_non_null(st);
    return st;
}

static void create_outbox(struct fixture *fx, struct wr_store *st, size_t capacity)
{
    struct wr_outbox_params p;

    memset(&p, 0, sizeof(p));
    p.store = st;
    p.memory_capacity = capacity;
    p.metrics = fx->m;
    assert_int_equal(wr_outbox_create(&p, &fx->ob), WR_OK);
    assert_non_null(fx->ob);
}

/* Result number i: its key names i, so reads can be checked against appends. */
static struct wr_result make_result(unsigned i)
{
    struct wr_result r;

    memset(&r, 0, sizeof(r));
    r.stream = (uint16_t)(i % 2u);
    snprintf(r.key, sizeof(r.key), "k%u", i);
    r.start_ms = T0 + (int64_t)i * MIN_MS;
    r.size_s = 60;
    r.revision = i % 3u;
    wr_agg_init(&r.agg);
    wr_agg_add(&r.agg, (double)i + 0.25, r.start_ms + 1);
    wr_agg_add(&r.agg, -(double)i, r.start_ms + 2);
    return r;
}

static unsigned result_number(const struct wr_result *r)
{
    assert_true(r->key[0] == 'k');
    return (unsigned)strtoul(r->key + 1, NULL, 10);
}

static void assert_result_is(const struct wr_result *got, unsigned i)
{
    struct wr_result want = make_result(i);

    assert_string_equal(got->key, want.key);
    assert_int_equal(got->stream, want.stream);
    assert_int_equal(got->start_ms, want.start_ms);
    assert_int_equal(got->size_s, want.size_s);
    assert_int_equal(got->revision, want.revision);
    assert_int_equal(got->agg.count, 2);
    assert_true(got->agg.sum == want.agg.sum);
    assert_true(got->agg.min == want.agg.min);
    assert_true(got->agg.max == want.agg.max);
    assert_int_equal(got->agg.last_ms, want.agg.last_ms);
}

static void append_range(struct wr_outbox *ob, unsigned first, unsigned n)
{
    struct wr_result batch[128];

    assert_true(n <= 128);
    for (unsigned i = 0; i < n; i++)
        batch[i] = make_result(first + i);
    assert_int_equal(wr_outbox_append(ob, batch, n), WR_OK);
}

static uint64_t rows_of(const struct wr_outbox *ob)
{
    uint64_t rows = UINT64_MAX;
    uint64_t bytes = UINT64_MAX;

    wr_outbox_stats(ob, &rows, &bytes);
    assert_true(rows == 0 || bytes > 0);
    return rows;
}

/* Read everything after a zero cursor in pages of page rows. */
static size_t read_all(struct wr_outbox *ob, struct wr_forward_row *rows, size_t max, size_t page)
{
    struct wr_forward_cursor c;
    size_t total = 0;

    memset(&c, 0, sizeof(c));
    for (;;) {
        size_t n = 99;
        size_t want = max - total < page ? max - total : page;

        assert_int_equal(wr_outbox_read(ob, &c, rows + total, want, &n), WR_OK);
        assert_true(n <= want);
        if (n == 0)
            break;
        total += n;
        assert_true(total < max);
    }
    return total;
}

/* ---- creation and arguments ----------------------------------------------------------------- */

static void test_outbox_create_invalid(void **state)
{
    struct fixture *fx = *state;
    struct wr_outbox_params p;
    struct wr_outbox *ob = NULL;

    memset(&p, 0, sizeof(p));
    p.memory_capacity = 4;
    assert_int_equal(wr_outbox_create(NULL, &ob), WR_E_INVAL);
    assert_int_equal(wr_outbox_create(&p, NULL), WR_E_INVAL);
    p.memory_capacity = 0;
    assert_int_equal(wr_outbox_create(&p, &ob), WR_E_INVAL);
    assert_null(ob);
    /* Metrics are optional. */
    p.memory_capacity = 1;
    assert_int_equal(wr_outbox_create(&p, &ob), WR_OK);
    append_range(ob, 0, 3);
    assert_int_equal(rows_of(ob), 1);
    wr_outbox_destroy(ob);
    wr_outbox_destroy(NULL);
    (void)fx;
}

static void test_outbox_null_arguments(void **state)
{
    struct fixture *fx = *state;
    struct wr_forward_cursor c;
    struct wr_forward_row row;
    struct wr_result r = make_result(1);
    uint64_t id = 1;
    size_t n = 0;

    create_outbox(fx, NULL, 4);
    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_outbox_append(NULL, &r, 1), WR_E_INVAL);
    assert_int_equal(wr_outbox_append(fx->ob, NULL, 1), WR_E_INVAL);
    assert_int_equal(wr_outbox_append(fx->ob, NULL, 0), WR_OK);
    assert_int_equal(wr_outbox_read(NULL, &c, &row, 1, &n), WR_E_INVAL);
    assert_int_equal(wr_outbox_read(fx->ob, NULL, &row, 1, &n), WR_E_INVAL);
    assert_int_equal(wr_outbox_read(fx->ob, &c, NULL, 1, &n), WR_E_INVAL);
    assert_int_equal(wr_outbox_read(fx->ob, &c, &row, 1, NULL), WR_E_INVAL);
    assert_int_equal(wr_outbox_remove(NULL, &id, 1), WR_E_INVAL);
    assert_int_equal(wr_outbox_remove(fx->ob, NULL, 1), WR_E_INVAL);
    assert_int_equal(wr_outbox_remove(fx->ob, NULL, 0), WR_OK);
    wr_outbox_stats(NULL, NULL, NULL);
    wr_outbox_stats(fx->ob, NULL, NULL);
    /* Memory only: the budget has nothing to do and counts nothing. */
    wr_outbox_enforce_budget(fx->ob, 0);
    wr_outbox_enforce_budget(NULL, 0);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 0);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_ROLLED_UP), 0);
    assert_int_equal(rows_of(fx->ob), 0);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_RESULTS_UNPERSISTED), 0);
}

static void test_outbox_create_alloc_failure(void **state)
{
    struct fixture *fx = *state;
    struct wr_outbox_params p;
    struct wr_outbox *ob = NULL;
    long n;
    int rc;

    memset(&p, 0, sizeof(p));
    p.memory_capacity = 16;
    p.metrics = fx->m;
    wr_test_alloc_install();
    for (n = 1;; n++) {
        wr_test_alloc_fail_at(n);
        ob = NULL;
        rc = wr_outbox_create(&p, &ob);
        if (rc == WR_OK)
            break;
        assert_int_equal(rc, WR_E_NOMEM);
        assert_null(ob);
    }
    wr_test_alloc_fail_at(0);
    assert_true(n >= 3); /* the outbox, its ring and its read page */
    append_range(ob, 0, 2);
    assert_int_equal(rows_of(ob), 2);
    wr_outbox_destroy(ob);
    wr_test_alloc_uninstall();
}

/* ---- with the store ------------------------------------------------------------------------- */

static void test_outbox_store_append_read_in_order(void **state)
{
    struct fixture *fx = *state;
    struct wr_forward_cursor c;
    struct wr_forward_row rows[4];
    uint64_t prev = 0;
    uint64_t bytes = 0;
    uint64_t st_rows = 0;
    uint64_t st_bytes = 0;
    size_t n = 0;
    unsigned next = 0;

    fx->st = open_store(fx->dir, 0);
    create_outbox(fx, fx->st, 8);
    append_range(fx->ob, 0, 3);
    assert_int_equal(rows_of(fx->ob), 3);
    append_range(fx->ob, 3, 2);
    wr_outbox_stats(fx->ob, &st_rows, &bytes);
    assert_int_equal(st_rows, 5);
    /* All five are in the store, none in memory. */
    wr_store_outbox_stats(fx->st, &st_rows, &st_bytes);
    assert_int_equal(st_rows, 5);
    assert_int_equal(bytes, st_bytes);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_RESULTS_UNPERSISTED), 0);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_STORE_WRITE_FAILURES), 0);

    /* Pages of two: 2, 2, 1, then the end; the cursor is the last id read. */
    memset(&c, 0, sizeof(c));
    for (size_t want_n = 2; next < 5; want_n = next == 4 ? 1 : 2) {
        assert_int_equal(wr_outbox_read(fx->ob, &c, rows, 2, &n), WR_OK);
        assert_int_equal(n, want_n);
        for (size_t i = 0; i < n; i++) {
            assert_false(rows[i].id & MEM);
            assert_true(rows[i].id > prev);
            prev = rows[i].id;
            assert_result_is(&rows[i].result, next++);
        }
        assert_int_equal(c.pos[0], prev);
        assert_int_equal(c.pos[1], 0);
    }
    assert_int_equal(wr_outbox_read(fx->ob, &c, rows, 2, &n), WR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(c.pos[0], prev);
    /* Appended later: read after the same cursor. */
    append_range(fx->ob, 5, 1);
    assert_int_equal(wr_outbox_read(fx->ob, &c, rows, 2, &n), WR_OK);
    assert_int_equal(n, 1);
    assert_true(rows[0].id > prev);
    assert_result_is(&rows[0].result, 5);
}

static void test_outbox_store_read_pages(void **state)
{
    struct fixture *fx = *state;
    static struct wr_forward_row rows[1200];
    struct wr_forward_cursor c;
    size_t n = 0;
    size_t total;

    fx->st = open_store(fx->dir, 0);
    create_outbox(fx, fx->st, 8);
    for (unsigned b = 0; b < 5; b++)
        append_range(fx->ob, b * 120, 120);
    assert_int_equal(rows_of(fx->ob), 600);
    /* A read may return fewer than asked (a store page), never more, never out of order. */
    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_outbox_read(fx->ob, &c, rows, 1000, &n), WR_OK);
    assert_true(n > 0 && n <= 1000);
    total = read_all(fx->ob, rows, 1200, 1000);
    assert_int_equal(total, 600);
    for (size_t i = 0; i < total; i++) {
        assert_result_is(&rows[i].result, (unsigned)i);
        assert_true(i == 0 || rows[i].id > rows[i - 1].id);
    }
}

static void test_outbox_store_remove(void **state)
{
    struct fixture *fx = *state;
    static struct wr_forward_row rows[512];
    static uint64_t ids[512];
    uint64_t some[3];
    size_t n;

    fx->st = open_store(fx->dir, 0);
    create_outbox(fx, fx->st, 8);
    append_range(fx->ob, 0, 5);
    assert_int_equal(read_all(fx->ob, rows, 512, 10), 5);
    some[0] = rows[1].id;
    some[1] = rows[3].id;
    some[2] = rows[4].id + 1000; /* not there: ignored */
    assert_int_equal(wr_outbox_remove(fx->ob, some, 3), WR_OK);
    assert_int_equal(rows_of(fx->ob), 3);
    n = read_all(fx->ob, rows, 512, 10);
    assert_int_equal(n, 3);
    assert_result_is(&rows[0].result, 0);
    assert_result_is(&rows[1].result, 2);
    assert_result_is(&rows[2].result, 4);
    /* Removing again is harmless. */
    assert_int_equal(wr_outbox_remove(fx->ob, some, 2), WR_OK);
    assert_int_equal(rows_of(fx->ob), 3);

    /* More ids in one call than the outbox deletes per store call. */
    for (unsigned b = 0; b < 3; b++)
        append_range(fx->ob, 5 + b * 100, 100);
    n = read_all(fx->ob, rows, 512, 512);
    assert_int_equal(n, 303);
    for (size_t i = 0; i < n; i++)
        ids[i] = rows[i].id;
    assert_int_equal(wr_outbox_remove(fx->ob, ids, n), WR_OK);
    assert_int_equal(rows_of(fx->ob), 0);
    assert_int_equal(read_all(fx->ob, rows, 512, 512), 0);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_STORE_WRITE_FAILURES), 0);
}

/* ---- memory only ---------------------------------------------------------------------------- */

static void test_outbox_memory_only_fifo(void **state)
{
    struct fixture *fx = *state;
    struct wr_forward_row rows[16];
    struct wr_forward_row more[16];
    struct wr_forward_cursor c;
    uint64_t ids[5];
    uint64_t gone[2];
    uint64_t rows_n = 0;
    uint64_t bytes = 0;
    size_t n = 0;

    create_outbox(fx, NULL, 8);
    append_range(fx->ob, 0, 3);
    append_range(fx->ob, 3, 2);
    wr_outbox_stats(fx->ob, &rows_n, &bytes);
    assert_int_equal(rows_n, 5);
    assert_int_equal(bytes, 5 * sizeof(struct wr_result));
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_RESULTS_UNPERSISTED), 5);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_STORE_WRITE_FAILURES), 0);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 0);

    memset(&c, 0, sizeof(c));
    assert_int_equal(wr_outbox_read(fx->ob, &c, rows, 3, &n), WR_OK);
    assert_int_equal(n, 3);
    assert_int_equal(wr_outbox_read(fx->ob, &c, rows + 3, 16, &n), WR_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < 5; i++) {
        ids[i] = rows[i].id;
        assert_true(ids[i] & MEM);
        assert_true(i == 0 || ids[i] == ids[i - 1] + 1);
        assert_result_is(&rows[i].result, (unsigned)i);
    }
    assert_int_equal(c.pos[0], 0);
    assert_int_equal(c.pos[1], ids[4] & ~MEM);
    assert_int_equal(wr_outbox_read(fx->ob, &c, rows, 16, &n), WR_OK);
    assert_int_equal(n, 0);

    gone[0] = ids[0];
    gone[1] = ids[2];
    assert_int_equal(wr_outbox_remove(fx->ob, gone, 2), WR_OK);
    assert_int_equal(rows_of(fx->ob), 3);
    n = read_all(fx->ob, more, 16, 16);
    assert_int_equal(n, 3);
    assert_int_equal(more[0].id, ids[1]);
    assert_int_equal(more[1].id, ids[3]);
    assert_int_equal(more[2].id, ids[4]);
    /* Ids are never reused, even once the ring is empty again. */
    assert_int_equal(wr_outbox_remove(fx->ob, ids, 5), WR_OK);
    assert_int_equal(rows_of(fx->ob), 0);
    append_range(fx->ob, 5, 1);
    assert_int_equal(wr_outbox_read(fx->ob, &c, rows, 16, &n), WR_OK);
    assert_int_equal(n, 1);
    assert_true(rows[0].id > ids[4] && (rows[0].id & MEM));
    assert_result_is(&rows[0].result, 5);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_RESULTS_UNPERSISTED), 6);
}

struct visit_sink {
    struct wr_result r[16];
    size_t n;
};

static int visit_result(void *ctx, const struct wr_result *r)
{
    struct visit_sink *vs = ctx;

    assert_true(vs->n < 16);
    vs->r[vs->n++] = *r;
    return vs->n == 16 ? WR_E_FULL : WR_OK;
}

/* What a crash snapshot keeps: the live memory results, oldest first, and nothing removed. */
static void test_outbox_visit_memory(void **state)
{
    struct fixture *fx = *state;
    struct wr_forward_row rows[8];
    struct visit_sink vs;
    uint64_t gone;

    memset(&vs, 0, sizeof(vs));
    create_outbox(fx, NULL, 8);
    assert_int_equal(wr_outbox_visit_memory(fx->ob, NULL, &vs), WR_E_INVAL);
    assert_int_equal(wr_outbox_visit_memory(fx->ob, visit_result, &vs), WR_OK);
    assert_int_equal(vs.n, 0);
    append_range(fx->ob, 0, 4);
    assert_int_equal(read_all(fx->ob, rows, 8, 8), 4);
    gone = rows[1].id;
    assert_int_equal(wr_outbox_remove(fx->ob, &gone, 1), WR_OK);
    assert_int_equal(wr_outbox_visit_memory(fx->ob, visit_result, &vs), WR_OK);
    assert_int_equal(vs.n, 3);
    assert_result_is(&vs.r[0], 0);
    assert_result_is(&vs.r[1], 2);
    assert_result_is(&vs.r[2], 3);
    /* A callback's error stops the walk and comes back. */
    vs.n = 15;
    assert_int_equal(wr_outbox_visit_memory(fx->ob, visit_result, &vs), WR_E_FULL);
    assert_int_equal(vs.n, 16);
}

static void test_outbox_memory_full_drops_oldest(void **state)
{
    struct fixture *fx = *state;
    struct wr_forward_row rows[16];
    uint64_t first[4];
    size_t n;

    create_outbox(fx, NULL, 4);
    append_range(fx->ob, 0, 4);
    assert_int_equal(read_all(fx->ob, rows, 16, 16), 4);
    for (size_t i = 0; i < 4; i++)
        first[i] = rows[i].id;
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 0);
    append_range(fx->ob, 4, 2);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 2);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_RESULTS_UNPERSISTED), 6);
    assert_int_equal(rows_of(fx->ob), 4);
    n = read_all(fx->ob, rows, 16, 16);
    assert_int_equal(n, 4);
    /* The survivors keep their ids; the new ones follow. */
    assert_int_equal(rows[0].id, first[2]);
    assert_int_equal(rows[1].id, first[3]);
    assert_int_equal(rows[2].id, first[3] + 1);
    assert_int_equal(rows[3].id, first[3] + 2);
    for (size_t i = 0; i < 4; i++)
        assert_result_is(&rows[i].result, (unsigned)i + 2);
    /* An ack for a dropped row (it may have been in flight) changes nothing. */
    assert_int_equal(wr_outbox_remove(fx->ob, first, 2), WR_OK);
    assert_int_equal(rows_of(fx->ob), 4);
    assert_int_equal(read_all(fx->ob, rows, 16, 16), 4);
    assert_result_is(&rows[0].result, 2);

    /* One batch larger than the ring: its last four stay. */
    append_range(fx->ob, 100, 10);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 12);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_RESULTS_UNPERSISTED), 16);
    n = read_all(fx->ob, rows, 16, 16);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < 4; i++)
        assert_result_is(&rows[i].result, 106 + (unsigned)i);
    /* A removed row is not counted as dropped when its slot is reused. */
    assert_int_equal(wr_outbox_remove(fx->ob, &rows[0].id, 1), WR_OK);
    append_range(fx->ob, 200, 1);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 12);
    assert_int_equal(rows_of(fx->ob), 4);
}

/*
 * Rows acknowledged out of order leave holes in the ring. The ring holds
 * memory_capacity results; while fewer are held, nothing may be dropped.
 */
static void test_outbox_memory_holes_do_not_drop(void **state)
{
    struct fixture *fx = *state;
    struct wr_forward_row rows[16];
    uint64_t acked[2];
    size_t n;

    create_outbox(fx, NULL, 4);
    append_range(fx->ob, 0, 4);
    assert_int_equal(read_all(fx->ob, rows, 16, 16), 4);
    /* The 2nd and 3rd are acknowledged first (e.g. the 1st message failed and was resent). */
    acked[0] = rows[1].id;
    acked[1] = rows[2].id;
    assert_int_equal(wr_outbox_remove(fx->ob, acked, 2), WR_OK);
    assert_int_equal(rows_of(fx->ob), 2);
    append_range(fx->ob, 4, 2);
    assert_int_equal(rows_of(fx->ob), 4);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 0);
    n = read_all(fx->ob, rows, 16, 16);
    assert_int_equal(n, 4);
    assert_result_is(&rows[0].result, 0);
    assert_result_is(&rows[1].result, 3);
    assert_result_is(&rows[2].result, 4);
    assert_result_is(&rows[3].result, 5);
}

/* ---- store failing -------------------------------------------------------------------------- */

/*
 * A result the store refuses (its stream index is not configured) is kept
 * in memory like one the store could not write, and reads return the store
 * rows first, then the memory rows, whatever the order of the appends.
 */
static void test_outbox_store_refusal_kept_in_memory_read_last(void **state)
{
    struct fixture *fx = *state;
    struct wr_forward_row rows[16];
    struct wr_result bad = make_result(2);
    size_t n;

    fx->st = open_store(fx->dir, 0);
    create_outbox(fx, fx->st, 8);
    append_range(fx->ob, 0, 2);
    bad.stream = 7;
    assert_int_equal(wr_outbox_append(fx->ob, &bad, 1), WR_OK);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_STORE_WRITE_FAILURES), 1);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_RESULTS_UNPERSISTED), 1);
    append_range(fx->ob, 3, 2); /* the store takes writes again */
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_STORE_WRITE_FAILURES), 1);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_RESULTS_UNPERSISTED), 1);
    assert_int_equal(rows_of(fx->ob), 5);
    n = read_all(fx->ob, rows, 16, 16);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < 4; i++)
        assert_false(rows[i].id & MEM);
    assert_result_is(&rows[0].result, 0);
    assert_result_is(&rows[1].result, 1);
    assert_result_is(&rows[2].result, 3);
    assert_result_is(&rows[3].result, 4);
    assert_true(rows[4].id & MEM);
    assert_string_equal(rows[4].result.key, "k2");
    assert_int_equal(rows[4].result.stream, 7);
    assert_int_equal(wr_outbox_remove(fx->ob, &rows[4].id, 1), WR_OK);
    assert_int_equal(wr_outbox_remove(fx->ob, &rows[0].id, 1), WR_OK);
    assert_int_equal(rows_of(fx->ob), 3);
}

static bool mount_tmpfs(const char *dir, const char *size)
{
    char opts[64];

    snprintf(opts, sizeof(opts), "size=%s,mode=0755", size);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return false;
    return mount("tmpfs", dir, "tmpfs", 0, opts) == 0;
}

static void test_outbox_disk_full_falls_back_and_recovers(void **state)
{
    struct fixture *fx = *state;
    static struct wr_forward_row rows[40000];
    static uint64_t ids[40000];
    static bool in_memory[40000]; /* by result number: appended while the store failed */
    char filler[160];
    char buf[4096];
    unsigned next = 0;
    unsigned failed_batches = 0;
    unsigned n_memory = 0;
    uint64_t st_rows = 0;
    size_t n;
    size_t i;
    int fd;

    if (!mount_tmpfs(fx->mnt, "512k")) {
        skip(); /* needs CAP_SYS_ADMIN: run as root to cover it */
        return;
    }
    fx->st = open_store(fx->mnt, 1000);
    create_outbox(fx, fx->st, 1000);
    snprintf(filler, sizeof(filler), "%s/filler", fx->mnt);
    fd = open(filler, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    memset(buf, 0x11, sizeof(buf));
    for (int k = 0; k < 80; k++)
        assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
    close(fd);

    /* Fill the disk; then two more batches while it stays full. */
    while (failed_batches < 3 && next < 30000) {
        uint64_t before = wr_metrics_counter(fx->m, WR_C_STORE_WRITE_FAILURES);

        append_range(fx->ob, next, 100);
        if (wr_metrics_counter(fx->m, WR_C_STORE_WRITE_FAILURES) > before) {
            failed_batches++;
            n_memory += 100;
            for (unsigned k = next; k < next + 100; k++)
                in_memory[k] = true;
        }
        next += 100;
        /* Nothing is lost: every result is in the store or in memory. */
        assert_int_equal(rows_of(fx->ob), next);
    }
    assert_int_equal(failed_batches, 3);
    assert_true(next - n_memory >= 100); /* the store took writes before it filled */
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_RESULTS_UNPERSISTED), n_memory);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 0);
    wr_store_outbox_stats(fx->st, &st_rows, NULL);
    assert_int_equal(st_rows, next - n_memory);

    /* Space again: the next batch goes to the store. */
    assert_int_equal(unlink(filler), 0);
    append_range(fx->ob, next, 100);
    next += 100;
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_STORE_WRITE_FAILURES), 3);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_RESULTS_UNPERSISTED), n_memory);
    wr_store_outbox_stats(fx->st, &st_rows, NULL);
    assert_int_equal(st_rows, next - n_memory);
    assert_int_equal(rows_of(fx->ob), next);

    /* Store rows first (the batch written after recovery included), then memory rows. */
    n = read_all(fx->ob, rows, 40000, 500);
    assert_int_equal(n, next);
    for (i = 0; i < n && !(rows[i].id & MEM); i++) {
        assert_false(in_memory[result_number(&rows[i].result)]);
        assert_true(i == 0 || rows[i].id > rows[i - 1].id);
    }
    assert_int_equal(i, next - n_memory);
    assert_result_is(&rows[i - 1].result, next - 1);
    for (size_t k = i; k < n; k++) {
        assert_true(rows[k].id & MEM);
        assert_true(in_memory[result_number(&rows[k].result)]);
        assert_true(k == i ||
                    result_number(&rows[k].result) == result_number(&rows[k - 1].result) + 1);
    }
    for (size_t k = 0; k < n; k++)
        ids[k] = rows[k].id;
    assert_int_equal(wr_outbox_remove(fx->ob, ids, n), WR_OK);
    assert_int_equal(rows_of(fx->ob), 0);
    wr_outbox_destroy(fx->ob);
    fx->ob = NULL;
    wr_store_close(fx->st);
    fx->st = NULL;
    assert_int_equal(umount2(fx->mnt, MNT_DETACH), 0);
}

/* ---- as the forwarder's io ------------------------------------------------------------------ */

struct publish_log {
    uint32_t tags[64];
    size_t n;
};

static int record_publish(void *ctx, const char *topic, const void *payload, size_t len,
                          uint32_t tag)
{
    struct publish_log *log = ctx;

    (void)topic;
    (void)payload;
    (void)len;
    assert_true(log->n < 64);
    log->tags[log->n++] = tag;
    return WR_OK;
}

struct io_ctx {
    struct wr_outbox *ob;
    struct publish_log log;
};

static int io_read(void *ctx, struct wr_forward_cursor *cursor, struct wr_forward_row *rows,
                   size_t max, size_t *n)
{
    return wr_outbox_read(((struct io_ctx *)ctx)->ob, cursor, rows, max, n);
}

static int io_remove(void *ctx, const uint64_t *ids, size_t n)
{
    return wr_outbox_remove(((struct io_ctx *)ctx)->ob, ids, n);
}

static int io_publish(void *ctx, const char *topic, const void *payload, size_t len, uint32_t tag)
{
    return record_publish(&((struct io_ctx *)ctx)->log, topic, payload, len, tag);
}

static void test_outbox_feeds_forwarder(void **state)
{
    struct fixture *fx = *state;
    static const unsigned aggs[] = {WR_AGG_ALL, WR_AGG_COUNT};
    struct wr_forward_params p;
    struct wr_forward *fw = NULL;
    struct wr_forward_io io;
    struct io_ctx ctx;
    struct wr_result bad = make_result(6);
    uint64_t floor;

    fx->st = open_store(fx->dir, 0);
    create_outbox(fx, fx->st, 8);
    memset(&ctx, 0, sizeof(ctx));
    ctx.ob = fx->ob;
    io.read = io_read;
    io.remove = io_remove;
    io.publish = io_publish;
    io.ctx = &ctx;
    memset(&p, 0, sizeof(p));
    p.agent_id = "gw";
    p.topic = "up";
    p.stream_names = names;
    p.stream_aggregates = aggs;
    p.n_streams = 2;
    p.max_results = 3;
    p.max_bytes = 16384;
    p.max_delay_ms = 1000;
    p.max_inflight = 8;
    p.resend_per_s = 1000;
    assert_int_equal(wr_forward_create(&p, &fw), WR_OK);
    /* Start the token bucket so the first real pump is not limited to one batch. */
    assert_int_equal(wr_forward_pump(fw, &io, 1, T0), 0);

    append_range(fx->ob, 0, 6);
    bad.stream = 9; /* refused by the store: a memory row */
    assert_int_equal(wr_outbox_append(fx->ob, &bad, 1), WR_OK);
    wr_forward_notify_backlog(fw, 7);
    assert_int_equal(wr_forward_pump(fw, &io, 1000, T0), 3);
    floor = wr_forward_held_floor(fw);
    assert_false(floor & MEM);
    {
        struct wr_forward_row rows[16];

        /* The floor is the newest store row, held in flight. */
        assert_int_equal(read_all(fx->ob, rows, 16, 16), 7);
        assert_int_equal(floor, rows[5].id);
    }
    for (size_t i = 0; i < ctx.log.n; i++)
        assert_int_equal(wr_forward_on_ack(fw, &io, ctx.log.tags[i], true, 1001), WR_OK);
    assert_int_equal(rows_of(fx->ob), 0);
    wr_forward_destroy(fw);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_outbox_create_invalid),
        T(test_outbox_null_arguments),
        T(test_outbox_create_alloc_failure),
        T(test_outbox_store_append_read_in_order),
        T(test_outbox_store_read_pages),
        T(test_outbox_store_remove),
        T(test_outbox_memory_only_fifo),
        T(test_outbox_visit_memory),
        T(test_outbox_memory_full_drops_oldest),
        T(test_outbox_memory_holes_do_not_drop),
        T(test_outbox_store_refusal_kept_in_memory_read_last),
        T(test_outbox_disk_full_falls_back_and_recovers),
        T(test_outbox_feeds_forwarder),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
