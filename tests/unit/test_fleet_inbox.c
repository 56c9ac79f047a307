/* The hand-over of pushed configs from the uplink's thread to the judging thread. */
#include "test_support.h"

#include <stdio.h>
#include <string.h>

#include "fleet_inbox.h"
#include "plat_mem.h"
#include "plat_thread.h"
#include "wr_error.h"

struct wr_fleet_waker {
    int wakes;
};

static void count_wake(struct wr_fleet_waker *w)
{
    w->wakes++;
}

static void test_fleet_inbox_put_then_take_copies(void **state)
{
    struct wr_fleet_waker w = {0};
    struct wr_fleet_wake wake = {count_wake, &w};
    struct wr_fleet_inbox *in = NULL;
    struct wr_fleet_inbox_item item;
    char msg[] = "{\"format\":\"x\"}";

    (void)state;
    assert_int_equal(wr_fleet_inbox_create(1024, &wake, &in), WR_OK);
    assert_false(wr_fleet_inbox_take(in, &item));
    assert_int_equal(wr_fleet_inbox_put(in, msg, strlen(msg)), WR_OK);
    assert_int_equal(w.wakes, 1);
    msg[0] = 'X'; /* the caller's buffer (Paho's) is gone after the call */
    assert_true(wr_fleet_inbox_take(in, &item));
    assert_int_equal(item.len, strlen(msg));
    assert_false(item.oversize);
    assert_int_equal(item.superseded, 0);
    assert_string_equal(item.payload, "{\"format\":\"x\"}"); /* NUL-terminated copy */
    wr_fleet_inbox_item_clear(&item);
    assert_null(item.payload);
    assert_false(wr_fleet_inbox_take(in, &item));
    wr_fleet_inbox_destroy(in);
}

static void test_fleet_inbox_newest_wins(void **state)
{
    struct wr_fleet_inbox *in = NULL;
    struct wr_fleet_inbox_item item;

    (void)state;
    assert_int_equal(wr_fleet_inbox_create(1024, NULL, &in), WR_OK);
    assert_int_equal(wr_fleet_inbox_put(in, "one", 3), WR_OK);
    assert_int_equal(wr_fleet_inbox_put(in, "two", 3), WR_OK);
    assert_int_equal(wr_fleet_inbox_put(in, "three", 5), WR_OK);
    assert_true(wr_fleet_inbox_take(in, &item));
    assert_string_equal(item.payload, "three");
    assert_int_equal(item.superseded, 2);
    wr_fleet_inbox_item_clear(&item);
    /* The count starts again after a take. */
    assert_int_equal(wr_fleet_inbox_put(in, "four", 4), WR_OK);
    assert_true(wr_fleet_inbox_take(in, &item));
    assert_int_equal(item.superseded, 0);
    wr_fleet_inbox_item_clear(&item);
    /* One not taken is freed with the inbox (cmocka's allocator checks). */
    assert_int_equal(wr_fleet_inbox_put(in, "five", 4), WR_OK);
    wr_fleet_inbox_destroy(in);
}

static void test_fleet_inbox_oversize_kept_by_size_only(void **state)
{
    struct wr_fleet_inbox *in = NULL;
    struct wr_fleet_inbox_item item;
    char big[64];

    (void)state;
    memset(big, 'a', sizeof(big));
    assert_int_equal(wr_fleet_inbox_create(16, NULL, &in), WR_OK);
    assert_int_equal(wr_fleet_inbox_put(in, big, 16), WR_OK); /* at the limit: kept */
    assert_true(wr_fleet_inbox_take(in, &item));
    assert_false(item.oversize);
    assert_non_null(item.payload);
    wr_fleet_inbox_item_clear(&item);
    assert_int_equal(wr_fleet_inbox_put(in, big, 17), WR_OK);
    assert_true(wr_fleet_inbox_take(in, &item));
    assert_true(item.oversize);
    assert_null(item.payload);
    assert_int_equal(item.len, 17);
    wr_fleet_inbox_item_clear(&item);
    /* A new limit (a reload changed fleet.max_envelope_bytes) applies to the next message. */
    wr_fleet_inbox_set_limit(in, 64);
    assert_int_equal(wr_fleet_inbox_put(in, big, 64), WR_OK);
    assert_true(wr_fleet_inbox_take(in, &item));
    assert_false(item.oversize);
    wr_fleet_inbox_item_clear(&item);
    wr_fleet_inbox_destroy(in);
}

static void test_fleet_inbox_uplink_handle_delivers(void **state)
{
    struct wr_fleet_inbox *in = NULL;
    const struct wr_uplink_inbound *inbound;
    struct wr_fleet_inbox_item item;

    (void)state;
    assert_int_equal(wr_fleet_inbox_create(1024, NULL, &in), WR_OK);
    inbound = wr_fleet_inbox_inbound(in);
    assert_non_null(inbound);
    assert_non_null(inbound->message);
    inbound->message(inbound->inbox, "abc", 3);
    assert_true(wr_fleet_inbox_take(in, &item));
    assert_memory_equal(item.payload, "abc", 3);
    wr_fleet_inbox_item_clear(&item);
    /* An empty message (a retained message being cleared) is a message too. */
    inbound->message(inbound->inbox, NULL, 0);
    assert_true(wr_fleet_inbox_take(in, &item));
    assert_int_equal(item.len, 0);
    wr_fleet_inbox_item_clear(&item);
    wr_fleet_inbox_destroy(in);
}

static void test_fleet_inbox_bad_arguments(void **state)
{
    struct wr_fleet_wake no_fn = {NULL, NULL};
    struct wr_fleet_inbox *in = NULL;
    struct wr_fleet_inbox_item item;

    (void)state;
    assert_int_equal(wr_fleet_inbox_create(16, NULL, NULL), WR_E_INVAL);
    assert_int_equal(wr_fleet_inbox_create(16, &no_fn, &in), WR_E_INVAL);
    assert_int_equal(wr_fleet_inbox_put(NULL, "a", 1), WR_E_INVAL);
    assert_false(wr_fleet_inbox_take(NULL, &item));
    assert_null(wr_fleet_inbox_inbound(NULL));
    wr_fleet_inbox_destroy(NULL);
    wr_fleet_inbox_item_clear(NULL);
    assert_int_equal(wr_fleet_inbox_create(16, NULL, &in), WR_OK);
    assert_int_equal(wr_fleet_inbox_put(in, NULL, 1), WR_E_INVAL);
    wr_fleet_inbox_destroy(in);
}

static void test_fleet_inbox_alloc_failures(void **state)
{
    struct wr_fleet_inbox *in = NULL;
    struct wr_fleet_inbox_item item;
    int rc;

    (void)state;
    for (long n = 1;; n++) {
        wr_test_alloc_fail_at(n);
        rc = wr_fleet_inbox_create(16, NULL, &in);
        if (rc == WR_OK)
            break;
        assert_int_equal(rc, WR_E_NOMEM);
    }
    /* No room for the copy: dropped, and an older one waiting stays. */
    wr_test_alloc_fail_at(0);
    assert_int_equal(wr_fleet_inbox_put(in, "old", 3), WR_OK);
    wr_test_alloc_fail_at(1);
    assert_int_equal(wr_fleet_inbox_put(in, "new", 3), WR_E_NOMEM);
    wr_test_alloc_fail_at(0);
    assert_true(wr_fleet_inbox_take(in, &item));
    assert_string_equal(item.payload, "old");
    wr_fleet_inbox_item_clear(&item);
    wr_fleet_inbox_destroy(in);
}

/* The uplink's thread puts while the judging thread takes: every take is whole. */
static void putter(void *arg)
{
    struct wr_fleet_inbox *in = arg;
    char msg[32];

    for (int i = 0; i < 2000; i++) {
        int n = snprintf(msg, sizeof(msg), "message-%d", i);

        wr_fleet_inbox_put(in, msg, (size_t)n);
    }
}

static void test_fleet_inbox_concurrent_put_take(void **state)
{
    struct wr_fleet_inbox *in = NULL;
    struct wr_fleet_inbox_item item;
    struct plat_thread *t = NULL;
    int last = -1;
    uint64_t seen = 0;

    (void)state;
    /* Run without cmocka's allocator (registered without its setup): it is not thread-safe. */
    assert_int_equal(wr_fleet_inbox_create(64, NULL, &in), WR_OK);
    assert_int_equal(plat_thread_start(&t, putter, in, "putter"), WR_OK);
    while (last < 1999) {
        if (!wr_fleet_inbox_take(in, &item))
            continue;
        {
            int i = -1;

            assert_int_equal(sscanf(item.payload, "message-%d", &i), 1);
            assert_true(i > last); /* newest wins: never an older one after a newer */
            seen += 1 + item.superseded;
            last = i;
        }
        wr_fleet_inbox_item_clear(&item);
    }
    plat_thread_join(t);
    assert_int_equal(seen, 2000); /* taken or counted as replaced: none vanished */
    wr_fleet_inbox_destroy(in);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, wr_test_alloc_setup, wr_test_alloc_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_fleet_inbox_put_then_take_copies),
        T(test_fleet_inbox_newest_wins),
        T(test_fleet_inbox_oversize_kept_by_size_only),
        T(test_fleet_inbox_uplink_handle_delivers),
        T(test_fleet_inbox_bad_arguments),
        T(test_fleet_inbox_alloc_failures),
        cmocka_unit_test(test_fleet_inbox_concurrent_put_take),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
