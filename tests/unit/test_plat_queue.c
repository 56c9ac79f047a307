/* pthread_getname_np, to check thread names. */
#define _GNU_SOURCE
#include "test_support.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "plat_queue.h"
#include "plat_thread.h"
#include "wr_error.h"

static struct plat_queue *make_queue(size_t item_size, size_t capacity)
{
    struct plat_queue *q = NULL;

    assert_int_equal(plat_queue_create(item_size, capacity, &q), WR_OK);
    assert_non_null(q);
    return q;
}

static void push_range(struct plat_queue *q, uint32_t from, size_t n)
{
    uint32_t items[64];

    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        items[i] = from + (uint32_t)i;
    assert_int_equal(plat_queue_push_all(q, items, n), WR_OK);
}

static void test_plat_queue_create_invalid(void **state)
{
    struct plat_queue *q = NULL;

    (void)state;
    assert_int_equal(plat_queue_create(4, 8, NULL), WR_E_INVAL);
    assert_int_equal(plat_queue_create(0, 8, &q), WR_E_INVAL);
    assert_int_equal(plat_queue_create(4, 0, &q), WR_E_INVAL);
    assert_int_equal(plat_queue_create(SIZE_MAX / 2, 3, &q), WR_E_INVAL);
    assert_null(q);
    plat_queue_destroy(NULL);
    plat_queue_wake(NULL);
    assert_int_equal(plat_queue_depth(NULL), 0);
    assert_int_equal(plat_queue_capacity(NULL), 0);
}

static void test_plat_queue_create_alloc_failure(void **state)
{
    struct plat_queue *q = NULL;
    long n;
    int rc;

    (void)state;
    for (n = 1;; n++) {
        wr_test_alloc_fail_at(n);
        rc = plat_queue_create(8, 16, &q);
        if (rc == WR_OK)
            break;
        assert_int_equal(rc, WR_E_NOMEM);
        assert_null(q);
    }
    assert_true(n > 1);
    wr_test_alloc_fail_at(0);
    assert_int_equal(plat_queue_capacity(q), 16);
    plat_queue_destroy(q);
}

static void test_plat_queue_push_all_or_nothing(void **state)
{
    struct plat_queue *q = make_queue(sizeof(uint32_t), 4);
    uint32_t items[5] = {10, 11, 12, 13, 14};
    uint32_t out[8];
    size_t n = 99;

    (void)state;
    assert_int_equal(plat_queue_capacity(q), 4);
    assert_int_equal(plat_queue_push_all(q, items, 3), WR_OK);
    assert_int_equal(plat_queue_depth(q), 3);
    /* Two items with one free slot: nothing goes in. */
    assert_int_equal(plat_queue_push_all(q, items + 3, 2), WR_E_FULL);
    assert_int_equal(plat_queue_depth(q), 3);
    assert_int_equal(plat_queue_push_all(q, items + 3, 1), WR_OK);
    assert_int_equal(plat_queue_push_all(q, items + 4, 1), WR_E_FULL);
    /* More than the capacity can never fit; said differently so callers do not retry forever. */
    assert_int_equal(plat_queue_push_all(q, items, 5), WR_E_TOOBIG);
    assert_int_equal(plat_queue_push_all(q, NULL, 0), WR_OK);
    assert_int_equal(plat_queue_push_all(q, NULL, 1), WR_E_INVAL);
    assert_int_equal(plat_queue_push_all(NULL, items, 1), WR_E_INVAL);
    assert_int_equal(plat_queue_depth(q), 4);

    assert_int_equal(plat_queue_pop(q, out, 8, &n, 0), WR_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(out, items, 4 * sizeof(uint32_t));
    assert_int_equal(plat_queue_depth(q), 0);
    plat_queue_destroy(q);
}

static void test_plat_queue_pop_invalid(void **state)
{
    struct plat_queue *q = make_queue(sizeof(uint32_t), 4);
    uint32_t out[4];
    size_t n = 7;

    (void)state;
    assert_int_equal(plat_queue_pop(NULL, out, 4, &n, 0), WR_E_INVAL);
    assert_int_equal(n, 0);
    assert_int_equal(plat_queue_pop(q, NULL, 4, &n, 0), WR_E_INVAL);
    assert_int_equal(plat_queue_pop(q, out, 0, &n, 0), WR_E_INVAL);
    assert_int_equal(plat_queue_pop(q, out, 4, NULL, 0), WR_E_INVAL);
    plat_queue_destroy(q);
}

static void test_plat_queue_fifo_order_in_batches(void **state)
{
    struct plat_queue *q = make_queue(sizeof(uint32_t), 32);
    uint32_t out[32];
    uint32_t expect = 0;
    size_t n;

    (void)state;
    push_range(q, 0, 5);
    push_range(q, 5, 1);
    push_range(q, 6, 10);
    /* max smaller than what is queued: the oldest come out first. */
    assert_int_equal(plat_queue_pop(q, out, 3, &n, 0), WR_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i], expect++);
    assert_int_equal(plat_queue_depth(q), 13);
    assert_int_equal(plat_queue_pop(q, out, 32, &n, 0), WR_OK);
    assert_int_equal(n, 13);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i], expect++);
    plat_queue_destroy(q);
}

static void test_plat_queue_wraps_around(void **state)
{
    /* A capacity of 7 against batches of 3 and pops of 2 puts the ring boundary everywhere. */
    struct plat_queue *q = make_queue(sizeof(uint32_t), 7);
    uint32_t out[7];
    uint32_t next_in = 0;
    uint32_t next_out = 0;
    size_t n;

    (void)state;
    for (int round = 0; round < 200; round++) {
        while (plat_queue_depth(q) + 3 <= 7) {
            push_range(q, next_in, 3);
            next_in += 3;
        }
        assert_int_equal(plat_queue_push_all(q, out, 3), WR_E_FULL);
        assert_int_equal(plat_queue_pop(q, out, round % 2 ? 2 : 7, &n, 0), WR_OK);
        assert_true(n >= 1);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(out[i], next_out++);
        assert_int_equal(plat_queue_depth(q), next_in - next_out);
    }
    assert_true(next_in > 7 * 20);
    plat_queue_destroy(q);
}

static void test_plat_queue_items_keep_their_bytes(void **state)
{
    struct item {
        uint64_t a;
        char text[13];
    };
    struct plat_queue *q = make_queue(sizeof(struct item), 3);
    struct item in[2];
    struct item out[3];
    size_t n;

    (void)state;
    memset(in, 0, sizeof(in));
    for (int round = 0; round < 5; round++) {
        in[0].a = 0x0102030405060708u + (uint64_t)round;
        strcpy(in[0].text, "first item");
        in[1].a = ~in[0].a;
        strcpy(in[1].text, "second item!");
        assert_int_equal(plat_queue_push_all(q, in, 2), WR_OK);
        assert_int_equal(plat_queue_pop(q, out, 3, &n, 0), WR_OK);
        assert_int_equal(n, 2);
        assert_memory_equal(out, in, sizeof(in));
    }
    plat_queue_destroy(q);
}

static void test_plat_queue_pop_times_out(void **state)
{
    struct plat_queue *q = make_queue(sizeof(uint32_t), 4);
    uint32_t out[4];
    size_t n = 5;

    (void)state;
    assert_int_equal(plat_queue_pop(q, out, 4, &n, 0), WR_E_TIMEOUT);
    assert_int_equal(n, 0);
    n = 5;
    assert_int_equal(plat_queue_pop(q, out, 4, &n, 20), WR_E_TIMEOUT);
    assert_int_equal(n, 0);
    plat_queue_destroy(q);
}

static void test_plat_queue_wake_returns_empty(void **state)
{
    struct plat_queue *q = make_queue(sizeof(uint32_t), 4);
    uint32_t out[4];
    size_t n = 5;

    (void)state;
    plat_queue_wake(q);
    /* A long timeout that the pending wake must cut short. */
    assert_int_equal(plat_queue_pop(q, out, 4, &n, 60000), WR_OK);
    assert_int_equal(n, 0);
    /* The wake was consumed. */
    assert_int_equal(plat_queue_pop(q, out, 4, &n, 0), WR_E_TIMEOUT);

    /* A wake with items queued: the items come out and the wake is consumed too. */
    push_range(q, 40, 2);
    plat_queue_wake(q);
    assert_int_equal(plat_queue_pop(q, out, 4, &n, 60000), WR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[1], 41);
    assert_int_equal(plat_queue_pop(q, out, 4, &n, 0), WR_E_TIMEOUT);
    plat_queue_destroy(q);
}

static void wake_fn(void *arg)
{
    plat_queue_wake(arg);
}

static void test_plat_queue_wake_from_other_thread(void **state)
{
    struct plat_queue *q = make_queue(sizeof(uint32_t), 4);
    struct plat_thread *t = NULL;
    uint32_t out[4];
    size_t n = 5;

    (void)state;
    /* Whether the wake lands before or during the wait, pop must return without timing out. */
    assert_int_equal(plat_thread_start(&t, wake_fn, q, "waker"), WR_OK);
    assert_int_equal(plat_queue_pop(q, out, 4, &n, 60000), WR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(plat_thread_join(t), WR_OK);
    plat_queue_destroy(q);
}

/* Pops one item once the producer is (about to be) waiting for room. */
static void pop_one_fn(void *arg)
{
    uint32_t out[1];
    size_t n = 0;

    plat_queue_pop(arg, out, 1, &n, 60000);
}

static void test_plat_queue_push_wait_blocks_until_room(void **state)
{
    struct plat_queue *q = make_queue(sizeof(uint32_t), 2);
    struct plat_thread *t = NULL;
    uint32_t items[2] = {1, 2};
    uint32_t third = 3;
    uint32_t out[2];
    size_t n = 0;

    (void)state;
    assert_int_equal(plat_queue_push_all(q, items, 2), WR_OK);
    /* Full, and nobody pops: the wait ends with WR_E_FULL and nothing pushed. */
    assert_int_equal(plat_queue_push_wait(q, &third, 1, 20), WR_E_FULL);
    assert_int_equal(plat_queue_depth(q), 2);
    /* A consumer makes room: the waiting push completes. */
    assert_int_equal(plat_thread_start(&t, pop_one_fn, q, "popper"), WR_OK);
    assert_int_equal(plat_queue_push_wait(q, &third, 1, 60000), WR_OK);
    assert_int_equal(plat_thread_join(t), WR_OK);
    assert_int_equal(plat_queue_pop(q, out, 2, &n, 0), WR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 3);
    plat_queue_destroy(q);
}

#define PRODUCER_ITEMS 20000u

struct producer {
    struct plat_queue *q;
    uint32_t id;
    unsigned long full_seen;
};

static void producer_fn(void *arg)
{
    struct producer *p = arg;
    uint32_t seq = 0;

    while (seq < PRODUCER_ITEMS) {
        uint32_t batch[3];
        size_t n = 1 + seq % 3;

        if (n > PRODUCER_ITEMS - seq)
            n = PRODUCER_ITEMS - seq;
        /* Item = producer id in the top bit, sequence number below. */
        for (size_t i = 0; i < n; i++)
            batch[i] = (p->id << 31) | (seq + (uint32_t)i);
        if (plat_queue_push_all(p->q, batch, n) == WR_E_FULL) {
            /* Let the consumer run; spinning is enough, no sleep needed. */
            p->full_seen++;
            sched_yield();
            continue;
        }
        seq += (uint32_t)n;
    }
}

static void test_plat_queue_two_producers_one_consumer(void **state)
{
    /* A small queue so that producers run into WR_E_FULL and retry. */
    struct plat_queue *q = make_queue(sizeof(uint32_t), 16);
    struct producer prod[2] = {{q, 0, 0}, {q, 1, 0}};
    struct plat_thread *threads[2] = {NULL, NULL};
    static bool seen[2][PRODUCER_ITEMS];
    uint32_t next[2] = {0, 0};
    uint32_t out[5];
    uint32_t total = 0;

    (void)state;
    memset(seen, 0, sizeof(seen));
    assert_int_equal(plat_thread_start(&threads[0], producer_fn, &prod[0], "prod0"), WR_OK);
    assert_int_equal(plat_thread_start(&threads[1], producer_fn, &prod[1], "prod1"), WR_OK);
    while (total < 2 * PRODUCER_ITEMS) {
        size_t n = 0;
        int rc = plat_queue_pop(q, out, 5, &n, 10000);

        assert_int_equal(rc, WR_OK);
        assert_true(n >= 1 && n <= 5);
        for (size_t i = 0; i < n; i++) {
            uint32_t id = out[i] >> 31;
            uint32_t seq = out[i] & 0x7fffffffu;

            assert_true(seq < PRODUCER_ITEMS);
            assert_false(seen[id][seq]);
            seen[id][seq] = true;
            /* Each producer's items stay in order. */
            assert_int_equal(seq, next[id]);
            next[id]++;
        }
        total += (uint32_t)n;
    }
    assert_int_equal(plat_thread_join(threads[0]), WR_OK);
    assert_int_equal(plat_thread_join(threads[1]), WR_OK);
    assert_int_equal(next[0], PRODUCER_ITEMS);
    assert_int_equal(next[1], PRODUCER_ITEMS);
    assert_int_equal(plat_queue_depth(q), 0);
    plat_queue_destroy(q);
}

struct named {
    char name[16];
    int ran;
};

static void name_fn(void *arg)
{
    struct named *nm = arg;

    nm->ran = 1;
    if (pthread_getname_np(pthread_self(), nm->name, sizeof(nm->name)) != 0)
        nm->name[0] = '\0';
}

static void test_plat_thread_runs_and_is_named(void **state)
{
    struct plat_thread *t = NULL;
    struct named nm = {{0}, 0};

    (void)state;
    assert_int_equal(plat_thread_start(NULL, name_fn, &nm, "x"), WR_E_INVAL);
    assert_int_equal(plat_thread_start(&t, NULL, &nm, "x"), WR_E_INVAL);
    assert_null(t);
    /* Longer than the 15 bytes Linux keeps: cut, not refused. */
    assert_int_equal(plat_thread_start(&t, name_fn, &nm, "windrow-forwarder"), WR_OK);
    assert_int_equal(plat_thread_join(t), WR_OK);
    assert_int_equal(nm.ran, 1);
    assert_string_equal(nm.name, "windrow-forward");
    assert_int_equal(plat_thread_join(NULL), WR_OK);
}

struct self_join {
    struct plat_queue *handle_q;
    struct plat_queue *result_q;
};

static void self_join_fn(void *arg)
{
    struct self_join *sj = arg;
    struct plat_thread *self = NULL;
    size_t n = 0;
    int rc;

    /* The handle only exists once plat_thread_start returned, so the test sends it. */
    if (plat_queue_pop(sj->handle_q, &self, 1, &n, 60000) != WR_OK || n != 1)
        rc = WR_E_TIMEOUT;
    else
        rc = plat_thread_join(self);
    plat_queue_push_all(sj->result_q, &rc, 1);
}

static void test_plat_thread_join_self_refused(void **state)
{
    struct self_join sj = {make_queue(sizeof(struct plat_thread *), 1), make_queue(sizeof(int), 1)};
    struct plat_thread *t = NULL;
    size_t n = 0;
    int rc = 0;

    (void)state;
    assert_int_equal(plat_thread_start(&t, self_join_fn, &sj, NULL), WR_OK);
    assert_int_equal(plat_queue_push_all(sj.handle_q, &t, 1), WR_OK);
    assert_int_equal(plat_queue_pop(sj.result_q, &rc, 1, &n, 60000), WR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rc, WR_E_STATE);
    assert_int_equal(plat_thread_join(t), WR_OK);
    plat_queue_destroy(sj.handle_q);
    plat_queue_destroy(sj.result_q);
}

static void noop_fn(void *arg)
{
    (void)arg;
}

static void test_plat_thread_start_alloc_failure(void **state)
{
    struct plat_thread *t = NULL;
    long n;
    int rc;

    (void)state;
    for (n = 1;; n++) {
        wr_test_alloc_fail_at(n);
        rc = plat_thread_start(&t, noop_fn, NULL, "noop");
        if (rc == WR_OK)
            break;
        assert_int_equal(rc, WR_E_NOMEM);
        assert_null(t);
    }
    wr_test_alloc_fail_at(0);
    assert_int_equal(plat_thread_join(t), WR_OK);
}

#define MUTEX_ROUNDS 100000

struct counter {
    struct plat_mutex *m;
    unsigned long value;
};

static void count_fn(void *arg)
{
    struct counter *c = arg;

    for (int i = 0; i < MUTEX_ROUNDS; i++) {
        plat_mutex_lock(c->m);
        c->value++;
        plat_mutex_unlock(c->m);
    }
}

static void test_plat_mutex_excludes(void **state)
{
    struct counter c = {NULL, 0};
    struct plat_thread *t[2] = {NULL, NULL};

    (void)state;
    assert_int_equal(plat_mutex_create(NULL), WR_E_INVAL);
    assert_int_equal(plat_mutex_create(&c.m), WR_OK);
    assert_int_equal(plat_thread_start(&t[0], count_fn, &c, "count0"), WR_OK);
    assert_int_equal(plat_thread_start(&t[1], count_fn, &c, "count1"), WR_OK);
    assert_int_equal(plat_thread_join(t[0]), WR_OK);
    assert_int_equal(plat_thread_join(t[1]), WR_OK);
    assert_int_equal(c.value, 2ul * MUTEX_ROUNDS);
    plat_mutex_destroy(c.m);
    plat_mutex_destroy(NULL);
}

static void test_plat_mutex_create_alloc_failure(void **state)
{
    struct plat_mutex *m = NULL;
    long n;
    int rc;

    (void)state;
    for (n = 1;; n++) {
        wr_test_alloc_fail_at(n);
        rc = plat_mutex_create(&m);
        if (rc == WR_OK)
            break;
        assert_int_equal(rc, WR_E_NOMEM);
        assert_null(m);
    }
    wr_test_alloc_fail_at(0);
    plat_mutex_lock(m);
    plat_mutex_unlock(m);
    plat_mutex_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plat_queue_create_invalid),
        cmocka_unit_test_setup_teardown(test_plat_queue_create_alloc_failure, wr_test_alloc_setup,
                                        wr_test_alloc_teardown),
        cmocka_unit_test(test_plat_queue_push_all_or_nothing),
        cmocka_unit_test(test_plat_queue_push_wait_blocks_until_room),
        cmocka_unit_test(test_plat_queue_pop_invalid),
        cmocka_unit_test(test_plat_queue_fifo_order_in_batches),
        cmocka_unit_test(test_plat_queue_wraps_around),
        cmocka_unit_test(test_plat_queue_items_keep_their_bytes),
        cmocka_unit_test(test_plat_queue_pop_times_out),
        cmocka_unit_test(test_plat_queue_wake_returns_empty),
        cmocka_unit_test(test_plat_queue_wake_from_other_thread),
        cmocka_unit_test(test_plat_queue_two_producers_one_consumer),
        cmocka_unit_test(test_plat_thread_runs_and_is_named),
        cmocka_unit_test(test_plat_thread_join_self_refused),
        cmocka_unit_test_setup_teardown(test_plat_thread_start_alloc_failure, wr_test_alloc_setup,
                                        wr_test_alloc_teardown),
        cmocka_unit_test(test_plat_mutex_excludes),
        cmocka_unit_test_setup_teardown(test_plat_mutex_create_alloc_failure, wr_test_alloc_setup,
                                        wr_test_alloc_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
