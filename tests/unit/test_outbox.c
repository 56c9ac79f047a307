/*
 * The outbox over a real SQLite store in a temporary directory, and memory
 * only, through its typed interface: append, peek / mark sent / acknowledge
 * / release, and the checkpoint write-behind. The storage-failure test
 * mounts a small tmpfs (root in the CI container) and fills it; it is
 * skipped where mounting is not allowed.
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

static struct wr_store *open_store_budget(const char *dir, uint64_t max_bytes,
                                          enum wr_on_full on_full)
{
    struct wr_store_options o;
    struct wr_store *st = NULL;

    memset(&o, 0, sizeof(o));
    o.dir = dir;
    o.stream_names = names;
    o.n_streams = 2;
    o.on_full = on_full;
    o.max_bytes = max_bytes;
    assert_int_equal(wr_store_open(&o, &st), WR_OK);
    assert_non_null(st);
    return st;
}

static struct wr_store *open_store(const char *dir)
{
    return open_store_budget(dir, 0, WR_ON_FULL_ROLLUP);
}

static void create_outbox_budget(struct fixture *fx, struct wr_store *st, size_t capacity,
                                 uint64_t max_bytes)
{
    struct wr_outbox_params p;

    memset(&p, 0, sizeof(p));
    p.store = st;
    p.memory_capacity = capacity;
    p.max_bytes = max_bytes;
    p.metrics = fx->m;
    assert_int_equal(wr_outbox_create(&p, &fx->ob), WR_OK);
    assert_non_null(fx->ob);
}

static void create_outbox(struct fixture *fx, struct wr_store *st, size_t capacity)
{
    create_outbox_budget(fx, st, capacity, 0);
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

/* Peek up to max results; checks nothing is offered twice in one peek. */
static size_t peek(struct wr_outbox *ob, struct wr_result *out, size_t max)
{
    size_t n = 99;

    assert_int_equal(wr_outbox_peek(ob, out, max, &n), WR_OK);
    assert_true(n <= max);
    return n;
}

/* Peek up to max and mark all of them sent as one batch; returns how many. */
static size_t take(struct wr_outbox *ob, struct wr_result *out, size_t max,
                   struct wr_outbox_batch **batch)
{
    size_t n = peek(ob, out, max);

    *batch = NULL;
    if (n > 0) {
        assert_int_equal(wr_outbox_mark_sent(ob, n, batch), WR_OK);
        assert_non_null(*batch);
    }
    return n;
}

/* The result numbers of what is due, in order, up to max. */
static size_t due_numbers(struct wr_outbox *ob, unsigned *nums, size_t max)
{
    static struct wr_result buf[2048];
    size_t n;

    assert_true(max <= 2048);
    n = peek(ob, buf, max);
    for (size_t i = 0; i < n; i++)
        nums[i] = result_number(&buf[i]);
    return n;
}

static void assert_numbers(const unsigned *nums, size_t n, unsigned first, unsigned count)
{
    assert_int_equal(n, count);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(nums[i], first + i);
}

/* One store checkpoint holding only the outbox's write-behind; returns whether it committed. */
static bool checkpoint(struct wr_store *st, struct wr_outbox *ob)
{
    int rc = wr_store_checkpoint_begin(st);

    if (rc == WR_OK)
        rc = wr_outbox_checkpoint_write(ob);
    if (rc == WR_OK)
        rc = wr_store_checkpoint_commit(st);
    if (rc != WR_OK)
        wr_store_checkpoint_rollback(st);
    wr_outbox_checkpoint_end(ob, rc == WR_OK);
    return rc == WR_OK;
}

static uint64_t stored_rows(const struct wr_store *st)
{
    uint64_t rows = UINT64_MAX;

    wr_store_outbox_stats(st, &rows, NULL);
    return rows;
}

static uint64_t store_appended(const struct wr_store *st)
{
    struct wr_store_stats ss;

    wr_store_get_stats(st, &ss);
    return ss.outbox_appended;
}

static struct wr_outbox_stats ob_stats(const struct wr_outbox *ob)
{
    struct wr_outbox_stats s;

    wr_outbox_get_stats(ob, &s);
    return s;
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
    struct wr_outbox_batch *b = NULL;
    struct wr_outbox_stats s;
    struct wr_result r = make_result(1);
    size_t n = 0;

    create_outbox(fx, NULL, 4);
    assert_int_equal(wr_outbox_append(NULL, &r, 1), WR_E_INVAL);
    assert_int_equal(wr_outbox_append(fx->ob, NULL, 1), WR_E_INVAL);
    assert_int_equal(wr_outbox_append(fx->ob, NULL, 0), WR_OK);
    assert_int_equal(wr_outbox_peek(NULL, &r, 1, &n), WR_E_INVAL);
    assert_int_equal(wr_outbox_peek(fx->ob, NULL, 1, &n), WR_E_INVAL);
    assert_int_equal(wr_outbox_peek(fx->ob, &r, 1, NULL), WR_E_INVAL);
    /* Nothing peeked: nothing to mark. */
    assert_int_equal(wr_outbox_mark_sent(fx->ob, 1, &b), WR_E_INVAL);
    assert_int_equal(wr_outbox_peek(fx->ob, &r, 1, &n), WR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(wr_outbox_mark_sent(NULL, 1, &b), WR_E_INVAL);
    assert_int_equal(wr_outbox_mark_sent(fx->ob, 1, NULL), WR_E_INVAL);
    assert_int_equal(wr_outbox_acknowledge(NULL, b), WR_E_INVAL);
    assert_int_equal(wr_outbox_acknowledge(fx->ob, NULL), WR_E_INVAL);
    wr_outbox_release(NULL, b);
    wr_outbox_release(fx->ob, NULL);
    assert_int_equal(wr_outbox_checkpoint_write(NULL), WR_E_INVAL);
    /* Memory only: a checkpoint has nothing to write. */
    assert_int_equal(wr_outbox_checkpoint_write(fx->ob), WR_OK);
    wr_outbox_checkpoint_end(fx->ob, true);
    wr_outbox_checkpoint_end(NULL, true);
    wr_outbox_stats(NULL, NULL, NULL);
    wr_outbox_stats(fx->ob, NULL, NULL);
    wr_outbox_get_stats(NULL, &s);
    assert_int_equal(s.rows, 0);
    wr_outbox_get_stats(fx->ob, NULL);
    /* Memory only: the budget has nothing to do and counts nothing. */
    wr_outbox_enforce_budget(fx->ob);
    wr_outbox_enforce_budget(NULL);
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
    struct wr_outbox_batch *b = NULL;
    struct wr_result out[4];
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
    assert_true(n >= 5); /* the outbox, its ring, its read page, the write arrays */
    append_range(ob, 0, 2);
    assert_int_equal(rows_of(ob), 2);
    /* The first peek and the first batch allocate: out of memory is an error, not a loss. */
    for (n = 1;; n++) {
        size_t got = 0;

        wr_test_alloc_fail_at(n);
        rc = wr_outbox_peek(ob, out, 4, &got);
        if (rc == WR_OK)
            rc = wr_outbox_mark_sent(ob, got, &b);
        if (rc == WR_OK)
            break;
        assert_int_equal(rc, WR_E_NOMEM);
    }
    wr_test_alloc_fail_at(0);
    assert_int_equal(ob_stats(ob).in_flight, 2);
    assert_int_equal(wr_outbox_acknowledge(ob, b), WR_OK);
    assert_int_equal(rows_of(ob), 0);
    wr_outbox_destroy(ob);
    wr_test_alloc_uninstall();
}

/* ---- write-behind --------------------------------------------------------------------------- */

/* Acknowledged before the checkpoint: the store never sees the results. */
static void test_outbox_acked_before_checkpoint_never_stored(void **state)
{
    struct fixture *fx = *state;
    struct wr_result out[16];
    struct wr_outbox_batch *b = NULL;
    unsigned nums[16];

    fx->st = open_store(fx->dir);
    create_outbox(fx, fx->st, 64);
    append_range(fx->ob, 0, 5);
    assert_int_equal(rows_of(fx->ob), 5);
    assert_int_equal(stored_rows(fx->st), 0);
    assert_int_equal(ob_stats(fx->ob).memory_rows, 5);
    /* Offered oldest first; a peek changes nothing. */
    assert_numbers(nums, due_numbers(fx->ob, nums, 16), 0, 5);
    assert_numbers(nums, due_numbers(fx->ob, nums, 3), 0, 3);
    assert_int_equal(take(fx->ob, out, 16, &b), 5);
    for (unsigned i = 0; i < 5; i++)
        assert_result_is(&out[i], i);
    assert_int_equal(ob_stats(fx->ob).in_flight, 5);
    /* In flight: not offered again. */
    assert_int_equal(peek(fx->ob, out, 16), 0);
    assert_int_equal(wr_outbox_acknowledge(fx->ob, b), WR_OK);
    assert_int_equal(rows_of(fx->ob), 0);
    assert_true(checkpoint(fx->st, fx->ob));
    assert_int_equal(store_appended(fx->st), 0);
    assert_int_equal(ob_stats(fx->ob).persisted, 0);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_PERSISTED), 0);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_RESULTS_UNPERSISTED), 0);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_STORE_WRITE_FAILURES), 0);
}

/*
 * Unacknowledged at a checkpoint, in flight or not: written in that
 * checkpoint, then deleted from the store when acknowledged; what is left is
 * found again after a restart, in order.
 */
static void test_outbox_checkpoint_writes_unacked(void **state)
{
    struct fixture *fx = *state;
    struct wr_result out[16];
    struct wr_outbox_batch *a = NULL;
    struct wr_outbox_batch *b = NULL;
    unsigned nums[16];

    fx->st = open_store(fx->dir);
    create_outbox(fx, fx->st, 64);
    append_range(fx->ob, 0, 6);
    assert_int_equal(take(fx->ob, out, 2, &a), 2); /* 0, 1 in flight */
    assert_true(checkpoint(fx->st, fx->ob));
    assert_int_equal(stored_rows(fx->st), 6);
    assert_int_equal(ob_stats(fx->ob).memory_rows, 0);
    assert_int_equal(ob_stats(fx->ob).persisted, 6);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_PERSISTED), 6);
    assert_int_equal(rows_of(fx->ob), 6);
    /* Still in flight across the move; the others are due from the store, in order. */
    assert_numbers(nums, due_numbers(fx->ob, nums, 16), 2, 4);
    /* Newer results follow the stored ones. */
    append_range(fx->ob, 6, 2);
    assert_numbers(nums, due_numbers(fx->ob, nums, 16), 2, 6);
    /* The ack of the batch taken before the move deletes its rows from the store. */
    assert_int_equal(wr_outbox_acknowledge(fx->ob, a), WR_OK);
    assert_int_equal(stored_rows(fx->st), 4);
    assert_int_equal(take(fx->ob, out, 3, &b), 3); /* 2, 3, 4 */
    assert_result_is(&out[0], 2);
    assert_int_equal(wr_outbox_acknowledge(fx->ob, b), WR_OK);
    assert_int_equal(stored_rows(fx->st), 1);
    assert_int_equal(rows_of(fx->ob), 3);

    /* Restart: checkpoint what is in memory, close, open again. */
    assert_true(checkpoint(fx->st, fx->ob));
    wr_outbox_destroy(fx->ob);
    fx->ob = NULL;
    wr_store_close(fx->st);
    fx->st = open_store(fx->dir);
    create_outbox(fx, fx->st, 64);
    assert_int_equal(rows_of(fx->ob), 3);
    assert_numbers(nums, due_numbers(fx->ob, nums, 16), 5, 3);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_STORE_WRITE_FAILURES), 0);
}

static void test_outbox_store_read_pages(void **state)
{
    struct fixture *fx = *state;
    static struct wr_result out[1200];
    struct wr_outbox_batch *b = NULL;
    size_t n;
    unsigned next = 0;

    fx->st = open_store(fx->dir);
    create_outbox(fx, fx->st, 1000);
    for (unsigned k = 0; k < 5; k++)
        append_range(fx->ob, k * 120, 120);
    assert_true(checkpoint(fx->st, fx->ob));
    assert_int_equal(stored_rows(fx->st), 600);
    /* More than a store page in one peek, in order; then the rest. */
    n = take(fx->ob, out, 1000, &b);
    assert_int_equal(n, 600);
    for (size_t i = 0; i < n; i++)
        assert_result_is(&out[i], next++);
    assert_int_equal(peek(fx->ob, out, 1000), 0);
    assert_int_equal(wr_outbox_acknowledge(fx->ob, b), WR_OK);
    assert_int_equal(stored_rows(fx->st), 0);
}

/* A released batch is offered again before newer results, stored or in memory. */
static void test_outbox_release_offers_again_oldest_first(void **state)
{
    struct fixture *fx = *state;
    struct wr_result out[16];
    struct wr_outbox_batch *a = NULL;
    struct wr_outbox_batch *b = NULL;
    struct wr_outbox_batch *c = NULL;
    unsigned nums[16];

    fx->st = open_store(fx->dir);
    create_outbox(fx, fx->st, 64);
    append_range(fx->ob, 0, 9);
    assert_int_equal(take(fx->ob, out, 3, &a), 3); /* 0-2 */
    assert_int_equal(take(fx->ob, out, 3, &b), 3); /* 3-5 */
    wr_outbox_release(fx->ob, a);
    {
        size_t n = due_numbers(fx->ob, nums, 16);

        /* 0-2, then 6-8: 3-5 are still in flight. */
        assert_int_equal(n, 6);
        assert_numbers(nums, 3, 0, 3);
        assert_numbers(nums + 3, 3, 6, 3);
    }
    /* The same once they live in the store. */
    assert_true(checkpoint(fx->st, fx->ob));
    assert_int_equal(take(fx->ob, out, 4, &c), 4); /* 0-2, 6 */
    assert_result_is(&out[3], 6);
    wr_outbox_release(fx->ob, b);
    {
        size_t n = due_numbers(fx->ob, nums, 16);

        assert_int_equal(n, 5);
        assert_numbers(nums, 3, 3, 3);
        assert_numbers(nums + 3, 2, 7, 2);
    }
    wr_outbox_release(fx->ob, c);
    assert_numbers(nums, due_numbers(fx->ob, nums, 16), 0, 9);
    /* A stale handle (already ended) is refused, not acted on twice. */
    assert_int_equal(wr_outbox_acknowledge(fx->ob, c), WR_E_INVAL);
    assert_int_equal(rows_of(fx->ob), 9);
}

/* The ring is full: everything in memory goes to the store in one transaction. */
static void test_outbox_ring_full_spills_to_store(void **state)
{
    struct fixture *fx = *state;
    struct wr_result out[16];
    struct wr_outbox_batch *b = NULL;
    unsigned nums[16];

    fx->st = open_store(fx->dir);
    create_outbox(fx, fx->st, 4);
    append_range(fx->ob, 0, 2);
    assert_int_equal(take(fx->ob, out, 1, &b), 1); /* 0 in flight */
    append_range(fx->ob, 2, 4);                    /* the 5th result finds the ring full */
    assert_int_equal(ob_stats(fx->ob).spills, 1);
    assert_int_equal(stored_rows(fx->st), 4);
    assert_int_equal(ob_stats(fx->ob).memory_rows, 2);
    assert_int_equal(rows_of(fx->ob), 6);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 0);
    assert_numbers(nums, due_numbers(fx->ob, nums, 16), 1, 5);
    assert_int_equal(wr_outbox_acknowledge(fx->ob, b), WR_OK);
    assert_int_equal(stored_rows(fx->st), 3);
}

/*
 * The budget's floor: a stored result once handed out (in flight, or given
 * back after a lost connection: upstream may have it) is never rolled up or
 * dropped; the others are.
 */
static void test_outbox_budget_spares_results_handed_out(void **state)
{
    struct fixture *fx = *state;
    static struct wr_result out[512];
    struct wr_outbox_batch *a = NULL;
    struct wr_outbox_batch *b = NULL;
    unsigned nums[16];

    fx->st = open_store_budget(fx->dir, 1, WR_ON_FULL_DROP_OLDEST);
    create_outbox_budget(fx, fx->st, 1000, 1);
    for (unsigned k = 0; k < 3; k++)
        append_range(fx->ob, k * 100, 100);
    /* Handed out before the checkpoint moves them: 0-49 given back, 50-59 in flight. */
    assert_int_equal(take(fx->ob, out, 50, &a), 50);
    assert_int_equal(take(fx->ob, out, 10, &b), 10);
    wr_outbox_release(fx->ob, a);
    assert_true(checkpoint(fx->st, fx->ob)); /* writes 300, then enforces the budget */
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 240);
    assert_int_equal(stored_rows(fx->st), 60);
    assert_numbers(nums, due_numbers(fx->ob, nums, 16), 0, 16);
    assert_int_equal(wr_outbox_acknowledge(fx->ob, b), WR_OK);
    assert_int_equal(stored_rows(fx->st), 50);
    assert_int_equal(rows_of(fx->ob), 50);
}

/* ---- memory only ---------------------------------------------------------------------------- */

static void test_outbox_memory_only_fifo(void **state)
{
    struct fixture *fx = *state;
    struct wr_result out[16];
    struct wr_outbox_batch *a = NULL;
    struct wr_outbox_batch *b = NULL;
    unsigned nums[16];
    uint64_t rows_n = 0;
    uint64_t bytes = 0;

    create_outbox(fx, NULL, 8);
    append_range(fx->ob, 0, 3);
    append_range(fx->ob, 3, 2);
    wr_outbox_stats(fx->ob, &rows_n, &bytes);
    assert_int_equal(rows_n, 5);
    assert_int_equal(bytes, 5 * sizeof(struct wr_result));
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_RESULTS_UNPERSISTED), 5);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_STORE_WRITE_FAILURES), 0);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 0);

    assert_int_equal(take(fx->ob, out, 2, &a), 2); /* 0, 1 */
    assert_int_equal(take(fx->ob, out, 2, &b), 2); /* 2, 3 */
    assert_result_is(&out[0], 2);
    assert_numbers(nums, due_numbers(fx->ob, nums, 16), 4, 1);
    /* Acknowledged out of order. */
    assert_int_equal(wr_outbox_acknowledge(fx->ob, b), WR_OK);
    assert_int_equal(rows_of(fx->ob), 3);
    wr_outbox_release(fx->ob, a);
    assert_numbers(nums, due_numbers(fx->ob, nums, 2), 0, 2);
    assert_int_equal(due_numbers(fx->ob, nums, 16), 3);
    assert_int_equal(nums[2], 4);
    assert_int_equal(take(fx->ob, out, 16, &a), 3);
    assert_int_equal(wr_outbox_acknowledge(fx->ob, a), WR_OK);
    assert_int_equal(rows_of(fx->ob), 0);
    /* Empty, then new results: offered as usual. */
    append_range(fx->ob, 5, 1);
    assert_numbers(nums, due_numbers(fx->ob, nums, 16), 5, 1);
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

/*
 * What a crash snapshot keeps: every memory result not yet acknowledged,
 * oldest first, in flight or not (a crash loses the message too), and
 * nothing acknowledged.
 */
static void test_outbox_visit_memory(void **state)
{
    struct fixture *fx = *state;
    struct wr_result out[8];
    struct wr_outbox_batch *acked = NULL;
    struct wr_outbox_batch *flying = NULL;
    struct visit_sink vs;

    memset(&vs, 0, sizeof(vs));
    create_outbox(fx, NULL, 8);
    assert_int_equal(wr_outbox_visit_memory(fx->ob, NULL, &vs), WR_E_INVAL);
    assert_int_equal(wr_outbox_visit_memory(fx->ob, visit_result, &vs), WR_OK);
    assert_int_equal(vs.n, 0);
    append_range(fx->ob, 0, 4);
    assert_int_equal(take(fx->ob, out, 1, &acked), 1);
    assert_int_equal(wr_outbox_acknowledge(fx->ob, acked), WR_OK);
    assert_int_equal(take(fx->ob, out, 1, &flying), 1);
    assert_result_is(&out[0], 1);
    assert_int_equal(wr_outbox_visit_memory(fx->ob, visit_result, &vs), WR_OK);
    assert_int_equal(vs.n, 3);
    assert_result_is(&vs.r[0], 1);
    assert_result_is(&vs.r[1], 2);
    assert_result_is(&vs.r[2], 3);
    /* A callback's error stops the walk and comes back. */
    vs.n = 15;
    assert_int_equal(wr_outbox_visit_memory(fx->ob, visit_result, &vs), WR_E_FULL);
    assert_int_equal(vs.n, 16);
    wr_outbox_release(fx->ob, flying);
}

/* Sketch bytes of result i: i * 300 + 7 bytes (0 for i == 1: a result without one). */
static uint8_t sketch_src[4096];

static void give_sketch(struct wr_result *r, unsigned i)
{
    size_t len = i == 1 ? 0 : i * 300u + 7u;

    assert_true(len <= sizeof(sketch_src));
    memset(sketch_src, (int)(0x40 + i), len);
    r->sketch = len > 0 ? sketch_src : NULL;
    r->sketch_len = (uint32_t)len;
}

static void assert_sketch_is(const struct wr_result *r, unsigned i)
{
    size_t len = i == 1 ? 0 : i * 300u + 7u;

    assert_int_equal(r->sketch_len, len);
    if (len == 0) {
        assert_null(r->sketch);
        return;
    }
    assert_non_null(r->sketch);
    for (size_t k = 0; k < len; k++)
        if (r->sketch[k] != (uint8_t)(0x40 + i))
            fail_msg("result %u: sketch byte %zu is %02x", i, k, r->sketch[k]);
}

/*
 * Results keep their sketches (copied at append: the caller's bytes are
 * reused at once), in memory sized to each one, through a spill to the
 * store and back, and in a crash snapshot's walk; the memory figures count
 * them. Acknowledged, they are freed (a leak fails under ASan).
 */
static void test_outbox_results_keep_their_sketch(void **state)
{
    struct fixture *fx = *state;
    struct wr_result out[8];
    struct wr_outbox_batch *b = NULL;
    struct visit_sink vs;
    struct wr_outbox_stats os;
    uint64_t stored_bytes = 0;

    fx->st = open_store(fx->dir);
    create_outbox(fx, fx->st, 4);
    for (unsigned i = 0; i < 6; i++) {
        struct wr_result r = make_result(i);

        give_sketch(&r, i);
        assert_int_equal(wr_outbox_append(fx->ob, &r, 1), WR_OK);
    }
    memset(sketch_src, 0, sizeof(sketch_src));
    /* The fifth found the ring full: 0..3 went to the store, 4 and 5 are in memory. */
    assert_int_equal(stored_rows(fx->st), 4);
    os = ob_stats(fx->ob);
    assert_int_equal(os.memory_rows, 2);
    wr_store_outbox_stats(fx->st, NULL, &stored_bytes);
    assert_int_equal(os.bytes,
                     stored_bytes + 2 * sizeof(struct wr_result) + (4 * 300 + 7) + (5 * 300 + 7));

    memset(&vs, 0, sizeof(vs));
    assert_int_equal(wr_outbox_visit_memory(fx->ob, visit_result, &vs), WR_OK);
    assert_int_equal(vs.n, 2);
    assert_int_equal(vs.r[0].sketch_len, 4 * 300 + 7);

    /* Stored ones come back through the peek's own copy, more than its first size. */
    assert_int_equal(take(fx->ob, out, 8, &b), 6);
    for (unsigned i = 0; i < 6; i++) {
        assert_result_is(&out[i], i);
        assert_sketch_is(&out[i], i);
    }
    assert_int_equal(wr_outbox_acknowledge(fx->ob, b), WR_OK);
    assert_int_equal(rows_of(fx->ob), 0);
    assert_int_equal(ob_stats(fx->ob).bytes, 0);
}

/* Out of memory for a sketch's copy: the result is kept without it, never lost. */
static void test_outbox_sketch_copy_alloc_failure(void **state)
{
    struct fixture *fx = *state;
    struct wr_result r = make_result(2);
    struct wr_result out[2];
    struct wr_outbox_batch *b = NULL;

    wr_test_alloc_install();
    create_outbox(fx, NULL, 4);
    give_sketch(&r, 2);
    wr_test_alloc_fail_at(1);
    assert_int_equal(wr_outbox_append(fx->ob, &r, 1), WR_OK);
    wr_test_alloc_fail_at(0);
    assert_int_equal(take(fx->ob, out, 2, &b), 1);
    assert_result_is(&out[0], 2);
    assert_int_equal(out[0].sketch_len, 0);
    assert_null(out[0].sketch);
    assert_int_equal(wr_outbox_acknowledge(fx->ob, b), WR_OK);
    wr_outbox_destroy(fx->ob);
    fx->ob = NULL;
    wr_test_alloc_uninstall();
}

static void test_outbox_memory_full_drops_oldest(void **state)
{
    struct fixture *fx = *state;
    struct wr_result out[16];
    struct wr_outbox_batch *a = NULL;
    unsigned nums[16];

    create_outbox(fx, NULL, 4);
    append_range(fx->ob, 0, 4);
    assert_int_equal(take(fx->ob, out, 2, &a), 2); /* 0, 1 in flight */
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 0);
    append_range(fx->ob, 4, 2);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 2);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_RESULTS_UNPERSISTED), 6);
    assert_int_equal(rows_of(fx->ob), 4);
    assert_numbers(nums, due_numbers(fx->ob, nums, 16), 2, 4);
    /* The ack of a message whose results were dropped meanwhile changes nothing. */
    assert_int_equal(wr_outbox_acknowledge(fx->ob, a), WR_OK);
    assert_int_equal(rows_of(fx->ob), 4);
    assert_numbers(nums, due_numbers(fx->ob, nums, 16), 2, 4);

    /* One batch larger than the ring: its last four stay. */
    append_range(fx->ob, 100, 10);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 12);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_RESULTS_UNPERSISTED), 16);
    assert_numbers(nums, due_numbers(fx->ob, nums, 16), 106, 4);
    /* An acknowledged result is not counted as dropped when its slot is reused. */
    assert_int_equal(take(fx->ob, out, 1, &a), 1);
    assert_int_equal(wr_outbox_acknowledge(fx->ob, a), WR_OK);
    append_range(fx->ob, 200, 1);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 12);
    assert_int_equal(rows_of(fx->ob), 4);
}

/*
 * Results acknowledged out of order leave holes in the ring. The ring holds
 * memory_capacity results; while fewer are held, nothing may be dropped.
 */
static void test_outbox_memory_holes_do_not_drop(void **state)
{
    struct fixture *fx = *state;
    struct wr_result out[16];
    struct wr_outbox_batch *a = NULL;
    struct wr_outbox_batch *b = NULL;
    unsigned nums[16];

    create_outbox(fx, NULL, 4);
    append_range(fx->ob, 0, 4);
    assert_int_equal(take(fx->ob, out, 1, &a), 1); /* 0 */
    assert_int_equal(take(fx->ob, out, 2, &b), 2); /* 1, 2 */
    /* The 2nd message is acknowledged first (e.g. the 1st failed and is resent). */
    assert_int_equal(wr_outbox_acknowledge(fx->ob, b), WR_OK);
    wr_outbox_release(fx->ob, a);
    assert_int_equal(rows_of(fx->ob), 2);
    append_range(fx->ob, 4, 2);
    assert_int_equal(rows_of(fx->ob), 4);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 0);
    assert_int_equal(due_numbers(fx->ob, nums, 16), 4);
    assert_int_equal(nums[0], 0);
    assert_int_equal(nums[1], 3);
    assert_int_equal(nums[2], 4);
    assert_int_equal(nums[3], 5);
}

/* ---- store failing -------------------------------------------------------------------------- */

/*
 * A result the store refuses (its stream index is not configured) stays in
 * memory instead of failing every checkpoint; it is offered after the stored
 * results.
 */
static void test_outbox_store_refusal_kept_in_memory_read_last(void **state)
{
    struct fixture *fx = *state;
    struct wr_result out[16];
    struct wr_result bad = make_result(2);
    struct wr_outbox_batch *b = NULL;

    fx->st = open_store(fx->dir);
    create_outbox(fx, fx->st, 8);
    append_range(fx->ob, 0, 2);
    bad.stream = 7;
    assert_int_equal(wr_outbox_append(fx->ob, &bad, 1), WR_OK);
    append_range(fx->ob, 3, 2);
    assert_true(checkpoint(fx->st, fx->ob));
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_STORE_WRITE_FAILURES), 0);
    assert_int_equal(stored_rows(fx->st), 4);
    assert_int_equal(ob_stats(fx->ob).memory_rows, 1);
    assert_int_equal(rows_of(fx->ob), 5);
    assert_int_equal(peek(fx->ob, out, 16), 5);
    assert_result_is(&out[0], 0);
    assert_result_is(&out[1], 1);
    assert_result_is(&out[2], 3);
    assert_result_is(&out[3], 4);
    assert_string_equal(out[4].key, "k2");
    assert_int_equal(out[4].stream, 7);
    assert_int_equal(take(fx->ob, out, 16, &b), 5);
    assert_int_equal(wr_outbox_acknowledge(fx->ob, b), WR_OK);
    assert_int_equal(rows_of(fx->ob), 0);
    assert_int_equal(stored_rows(fx->st), 0);
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
    static struct wr_result out[4000];
    struct wr_outbox_batch *b = NULL;
    char filler[160];
    char buf[4096];
    unsigned next = 0;
    int fd;

    if (!mount_tmpfs(fx->mnt, "2m")) {
        skip(); /* needs CAP_SYS_ADMIN: run as root to cover it */
        return;
    }
    fx->st = open_store(fx->mnt);
    create_outbox(fx, fx->st, 4000);
    append_range(fx->ob, next, 100);
    next += 100;
    assert_true(checkpoint(fx->st, fx->ob)); /* the store works */
    snprintf(filler, sizeof(filler), "%s/filler", fx->mnt);
    fd = open(filler, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    memset(buf, 0x11, sizeof(buf));
    while (write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf))
        ;
    close(fd);

    /* Full: checkpoints fail, the results stay in memory, counted once each. */
    for (int k = 0; k < 3; k++) {
        for (int j = 0; j < 3; j++, next += 100)
            append_range(fx->ob, next, 100);
        assert_false(checkpoint(fx->st, fx->ob));
        assert_int_equal(rows_of(fx->ob), next);
    }
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_RESULTS_UNPERSISTED), next - 100);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_OUTBOX_DROPPED), 0);
    assert_int_equal(stored_rows(fx->st), 100);

    /* Space again: the next checkpoint writes them all. */
    assert_int_equal(unlink(filler), 0);
    assert_true(checkpoint(fx->st, fx->ob));
    assert_int_equal(stored_rows(fx->st), next);
    assert_int_equal(ob_stats(fx->ob).memory_rows, 0);
    assert_int_equal(wr_metrics_counter(fx->m, WR_C_RESULTS_UNPERSISTED), next - 100);
    /* In order, none lost. */
    for (unsigned i = 0; i < next; i += 100) {
        assert_int_equal(take(fx->ob, out, 100, &b), 100);
        for (unsigned k = 0; k < 100; k++)
            assert_result_is(&out[k], i + k);
        assert_int_equal(wr_outbox_acknowledge(fx->ob, b), WR_OK);
    }
    assert_int_equal(rows_of(fx->ob), 0);
    wr_outbox_destroy(fx->ob);
    fx->ob = NULL;
    wr_store_close(fx->st);
    fx->st = NULL;
    assert_int_equal(umount2(fx->mnt, MNT_DETACH), 0);
}

/* ---- as the forwarder's io ------------------------------------------------------------------ */

/* This file's uplink: records the tags it was given. */
struct wr_uplink {
    uint32_t tags[64];
    size_t n;
};

static int record_publish(struct wr_uplink *up, const char *topic, const void *payload, size_t len,
                          uint32_t tag)
{
    (void)topic;
    (void)payload;
    (void)len;
    assert_true(up->n < 64);
    up->tags[up->n++] = tag;
    return WR_OK;
}

static void test_outbox_feeds_forwarder(void **state)
{
    struct fixture *fx = *state;
    static const unsigned aggs[] = {WR_AGG_ALL, WR_AGG_COUNT};
    struct wr_forward_params p;
    struct wr_forward *fw = NULL;
    struct wr_forward_io io;
    struct wr_uplink up;
    struct wr_result bad = make_result(6);

    fx->st = open_store(fx->dir);
    create_outbox(fx, fx->st, 8);
    memset(&up, 0, sizeof(up));
    memset(&io, 0, sizeof(io));
    io.outbox = fx->ob;
    io.peek = wr_outbox_peek;
    io.mark_sent = wr_outbox_mark_sent;
    io.acknowledge = wr_outbox_acknowledge;
    io.release = wr_outbox_release;
    io.uplink = &up;
    io.publish = record_publish;
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

    append_range(fx->ob, 0, 4);
    assert_true(checkpoint(fx->st, fx->ob)); /* 0-3 stored */
    append_range(fx->ob, 4, 2);
    bad.stream = 9; /* stays in memory */
    assert_int_equal(wr_outbox_append(fx->ob, &bad, 1), WR_OK);
    wr_forward_notify_backlog(fw, 7);
    assert_int_equal(wr_forward_pump(fw, &io, 1000, T0), 3);
    assert_int_equal(ob_stats(fx->ob).in_flight, 7);
    /* A checkpoint while they are in flight moves the memory ones to the store. */
    assert_true(checkpoint(fx->st, fx->ob));
    assert_int_equal(stored_rows(fx->st), 6);
    for (size_t i = 0; i < up.n; i++)
        assert_int_equal(wr_forward_on_ack(fw, &io, up.tags[i], true, 1001), WR_OK);
    assert_int_equal(rows_of(fx->ob), 0);
    assert_int_equal(stored_rows(fx->st), 0);
    wr_forward_destroy(fw);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_outbox_create_invalid),
        T(test_outbox_null_arguments),
        T(test_outbox_create_alloc_failure),
        T(test_outbox_acked_before_checkpoint_never_stored),
        T(test_outbox_checkpoint_writes_unacked),
        T(test_outbox_store_read_pages),
        T(test_outbox_release_offers_again_oldest_first),
        T(test_outbox_ring_full_spills_to_store),
        T(test_outbox_results_keep_their_sketch),
        T(test_outbox_sketch_copy_alloc_failure),
        T(test_outbox_budget_spares_results_handed_out),
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
