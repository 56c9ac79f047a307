/*
 * The forwarder against a fake struct wr_forward_io: this file defines its
 * own struct wr_outbox (results in order, each in flight or due, offered
 * oldest due first, as agent/outbox.h promises) and struct wr_uplink (a
 * publish recorder that can fail on demand). The forwarder sees results and
 * batch handles only; the test numbers its results and names the number in
 * each key. Every published message is parsed with cJSON and mapped back to the
 * rows it carries, checking the idempotency ids against
 * wr_encode_idempotency_key. Time is passed explicitly; nothing sleeps.
 * Only the allocation-failure test routes plat allocations through cmocka's
 * checked allocator; leaks elsewhere are left to the sanitizer build.
 */
#include "test_support.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "encode.h"
#include "forward.h"
#include "wr_error.h"

#define AGENT "gw-7"
#define TOPIC "windrow/gw-7/results"
#define T_MONO UINT64_C(10000)
#define T_WALL INT64_C(1700000000000)
#define WIN_START INT64_C(1699999800000)

static const char *const stream_names[] = {"temp", "humidity"};
static const unsigned stream_aggs[] = {
    WR_AGG_COUNT | WR_AGG_SUM | WR_AGG_MIN | WR_AGG_MAX | WR_AGG_MEAN, WR_AGG_ALL};

/* ---- the fake io ---------------------------------------------------------------------------- */

struct pub {
    int rc; /* what publish returned for this attempt */
    char topic[64];
    char *payload; /* NUL-terminated copy, NULL when not recorded */
    size_t len;
    uint32_t tag;
    bool acked; /* the test has sent its ack (either way) */
};

struct fake_row {
    uint64_t id;
    bool in_flight;
    struct wr_result result;
};

struct wr_outbox_batch {
    uint64_t ids[1024];
    size_t n;
    bool in_use;
    struct wr_outbox_batch *next; /* every batch ever made, for teardown */
};

/* The fake outbox. */
struct wr_outbox {
    struct fake_row *rows; /* ids ascending */
    size_t n_rows;
    size_t cap_rows;
    uint64_t next_id;
    unsigned key_pad; /* 0: short keys; else keys padded by (id * 7) % key_pad characters */

    long read_calls;
    long read_fail_at; /* fail this peek call (1-based); 0 = never */
    int read_fail_rc;
    uint64_t peeked[1024];
    size_t n_peeked;
    size_t in_flight;
    struct wr_outbox_batch *batches;

    uint64_t *removed;
    size_t n_removed;
    size_t cap_removed;
    long remove_calls; /* acknowledge calls */
    long release_calls;
};

/* The fake uplink. */
struct wr_uplink {
    struct pub *pubs;
    size_t n_pubs;
    size_t cap_pubs;
    bool record_payloads;
    int publish_rc; /* returned by the next publish_fail_times calls */
    int publish_fail_times;
    long publish_calls;
    uint32_t last_tag;
};

/* Both fakes together, as the tests look at them. */
struct fake {
    struct wr_outbox ob;
    struct wr_uplink up;
};

static struct wr_result make_result(uint64_t id, unsigned key_pad)
{
    struct wr_result r;
    unsigned pad = key_pad > 0 ? (unsigned)((id * 7u) % key_pad) : 0;
    int n;

    memset(&r, 0, sizeof(r));
    r.stream = (uint16_t)(id % 2u);
    r.size_s = 60;
    r.start_ms = WIN_START + (int64_t)(id % 1000u) * 60000;
    r.revision = (uint32_t)(id % 3u);
    /* The key names the number so a message can be mapped back to its results. */
    n = snprintf(r.key, sizeof(r.key), "r%" PRIu64 "-", id);
    for (unsigned i = 0; i < pad && (size_t)n + 1 < sizeof(r.key); i++)
        r.key[n++] = (char)('a' + (char)(i % 26u));
    r.key[n] = '\0';
    wr_agg_init(&r.agg);
    wr_agg_add(&r.agg, (double)id * 0.5 + 0.1, r.start_ms + 1000);
    wr_agg_add(&r.agg, (double)id / 3.0, r.start_ms + 2000);
    return r;
}

static uint64_t id_of_key(const char *key)
{
    assert_true(key[0] == 'r');
    return strtoull(key + 1, NULL, 10);
}

static void fake_add(struct wr_outbox *ob, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ob->n_rows == ob->cap_rows) {
            ob->cap_rows = ob->cap_rows == 0 ? 64 : ob->cap_rows * 2;
            ob->rows = realloc(ob->rows, ob->cap_rows * sizeof(*ob->rows));
            assert_non_null(ob->rows);
        }
        ob->rows[ob->n_rows].id = ++ob->next_id;
        ob->rows[ob->n_rows].in_flight = false;
        ob->rows[ob->n_rows].result = make_result(ob->next_id, ob->key_pad);
        ob->n_rows++;
    }
}

static struct fake_row *fake_find(struct wr_outbox *ob, uint64_t id)
{
    for (size_t i = 0; i < ob->n_rows; i++)
        if (ob->rows[i].id == id)
            return &ob->rows[i];
    return NULL;
}

static bool fake_has(struct wr_outbox *ob, uint64_t id)
{
    return fake_find(ob, id) != NULL;
}

static int fake_peek(struct wr_outbox *ob, struct wr_result *out, size_t max, size_t *n)
{
    size_t got = 0;

    ob->read_calls++;
    ob->n_peeked = 0;
    if (ob->read_fail_at > 0 && ob->read_calls == ob->read_fail_at)
        return ob->read_fail_rc;
    for (size_t i = 0; i < ob->n_rows && got < max; i++) {
        if (ob->rows[i].in_flight)
            continue;
        assert_true(got < 1024);
        out[got] = ob->rows[i].result;
        ob->peeked[got++] = ob->rows[i].id;
    }
    ob->n_peeked = got;
    *n = got;
    return WR_OK;
}

static int fake_mark_sent(struct wr_outbox *ob, size_t n, struct wr_outbox_batch **batch)
{
    struct wr_outbox_batch *b;

    /* The contract: at most what the last peek offered, right after it. */
    assert_true(n > 0 && n <= ob->n_peeked);
    for (b = ob->batches; b != NULL && b->in_use; b = b->next)
        ;
    if (b == NULL) {
        b = calloc(1, sizeof(*b));
        assert_non_null(b);
        b->next = ob->batches;
        ob->batches = b;
    }
    for (size_t i = 0; i < n; i++) {
        struct fake_row *r = fake_find(ob, ob->peeked[i]);

        assert_non_null(r);
        assert_false(r->in_flight);
        r->in_flight = true;
        b->ids[i] = ob->peeked[i];
    }
    b->n = n;
    b->in_use = true;
    ob->in_flight += n;
    ob->n_peeked = 0;
    *batch = b;
    return WR_OK;
}

static int fake_acknowledge(struct wr_outbox *ob, struct wr_outbox_batch *b)
{
    assert_true(b->in_use);
    ob->remove_calls++;
    for (size_t i = 0; i < b->n; i++) {
        size_t kept = 0;

        if (ob->n_removed == ob->cap_removed) {
            ob->cap_removed = ob->cap_removed == 0 ? 64 : ob->cap_removed * 2;
            ob->removed = realloc(ob->removed, ob->cap_removed * sizeof(*ob->removed));
            assert_non_null(ob->removed);
        }
        ob->removed[ob->n_removed++] = b->ids[i];
        for (size_t j = 0; j < ob->n_rows; j++)
            if (ob->rows[j].id != b->ids[i])
                ob->rows[kept++] = ob->rows[j];
        ob->n_rows = kept;
    }
    ob->in_flight -= b->n;
    b->in_use = false;
    ob->n_peeked = 0;
    return WR_OK;
}

static void fake_release(struct wr_outbox *ob, struct wr_outbox_batch *b)
{
    assert_true(b->in_use);
    ob->release_calls++;
    for (size_t i = 0; i < b->n; i++) {
        struct fake_row *r = fake_find(ob, b->ids[i]);

        assert_non_null(r);
        r->in_flight = false;
    }
    ob->in_flight -= b->n;
    b->in_use = false;
    ob->n_peeked = 0;
}

static int fake_publish(struct wr_uplink *f, const char *topic, const void *payload, size_t len,
                        uint32_t tag)
{
    struct pub *p;
    int rc = WR_OK;

    f->publish_calls++;
    f->last_tag = tag;
    if (f->publish_fail_times > 0) {
        f->publish_fail_times--;
        rc = f->publish_rc;
    }
    if (!f->record_payloads)
        return rc;
    if (f->n_pubs == f->cap_pubs) {
        f->cap_pubs = f->cap_pubs == 0 ? 64 : f->cap_pubs * 2;
        f->pubs = realloc(f->pubs, f->cap_pubs * sizeof(*f->pubs));
        assert_non_null(f->pubs);
    }
    p = &f->pubs[f->n_pubs++];
    memset(p, 0, sizeof(*p));
    p->rc = rc;
    snprintf(p->topic, sizeof(p->topic), "%s", topic);
    p->payload = malloc(len + 1);
    assert_non_null(p->payload);
    memcpy(p->payload, payload, len);
    p->payload[len] = '\0';
    p->len = len;
    p->tag = tag;
    return rc;
}

struct fixture {
    struct fake f;
    struct wr_forward_io io;
    struct wr_forward_params p;
    struct wr_forward *fw;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    fx->f.up.record_payloads = true;
    fx->io.outbox = &fx->f.ob;
    fx->io.peek = fake_peek;
    fx->io.mark_sent = fake_mark_sent;
    fx->io.acknowledge = fake_acknowledge;
    fx->io.release = fake_release;
    fx->io.uplink = &fx->f.up;
    fx->io.publish = fake_publish;
    fx->p.agent_id = AGENT;
    fx->p.topic = TOPIC;
    fx->p.stream_names = stream_names;
    fx->p.stream_aggregates = stream_aggs;
    fx->p.n_streams = 2;
    fx->p.max_results = 10;
    fx->p.max_bytes = 16384;
    fx->p.max_delay_ms = 1000;
    fx->p.max_inflight = 4;
    fx->p.resend_per_s = 1000000;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    wr_forward_destroy(fx->fw);
    for (size_t i = 0; i < fx->f.up.n_pubs; i++)
        free(fx->f.up.pubs[i].payload);
    while (fx->f.ob.batches != NULL) {
        struct wr_outbox_batch *next = fx->f.ob.batches->next;

        free(fx->f.ob.batches);
        fx->f.ob.batches = next;
    }
    free(fx->f.up.pubs);
    free(fx->f.ob.rows);
    free(fx->f.ob.removed);
    free(fx);
    return 0;
}

/*
 * Create and pump once with nothing due, a second before the tests' first
 * pump, so the token bucket has started and holds a full second's worth.
 */
static void create_fw(struct fixture *fx)
{
    long calls;

    assert_int_equal(wr_forward_create(&fx->p, &fx->fw), WR_OK);
    assert_non_null(fx->fw);
    calls = fx->f.up.publish_calls;
    assert_int_equal(wr_forward_pump(fx->fw, &fx->io, T_MONO - 1000, T_WALL), 0);
    assert_int_equal(fx->f.up.publish_calls, calls);
}

static int pump(struct fixture *fx, uint64_t now)
{
    return wr_forward_pump(fx->fw, &fx->io, now, T_WALL + (int64_t)now);
}

static struct wr_forward_stats stats_of(const struct fixture *fx)
{
    struct wr_forward_stats s;

    memset(&s, 0xa5, sizeof(s));
    wr_forward_get_stats(fx->fw, &s);
    return s;
}

/* ---- message checks ------------------------------------------------------------------------- */

static int64_t json_int(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    assert_non_null(v);
    assert_true(cJSON_IsNumber(v));
    return (int64_t)v->valuedouble;
}

static const char *json_str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    assert_non_null(v);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

/*
 * Parse a published message and return the row ids it carries, in order.
 * Checks the envelope, that every result is exactly the row named by its key
 * (stream, window, revision, count) and that its id is the row's idempotency key.
 */
static size_t msg_ids(const struct fixture *fx, const struct pub *p, uint64_t *ids, size_t max,
                      uint64_t *seq, int64_t *sent_ms)
{
    cJSON *root;
    const cJSON *groups;
    const cJSON *g;
    size_t n = 0;

    assert_non_null(p->payload);
    assert_string_equal(p->topic, TOPIC);
    assert_true(p->len <= fx->p.max_bytes);
    assert_int_equal(strlen(p->payload), p->len);
    root = cJSON_ParseWithLength(p->payload, p->len);
    if (root == NULL)
        fail_msg("message is not valid JSON: %s", p->payload);
    assert_int_equal(json_int(root, "v"), 1);
    assert_string_equal(json_str(root, "agent"), AGENT);
    if (seq != NULL)
        *seq = (uint64_t)json_int(root, "seq");
    if (sent_ms != NULL)
        *sent_ms = json_int(root, "sent_ms");
    groups = cJSON_GetObjectItemCaseSensitive(root, "groups");
    assert_true(cJSON_IsArray(groups));
    cJSON_ArrayForEach(g, groups)
    {
        const char *stream = json_str(g, "stream");
        const cJSON *results = cJSON_GetObjectItemCaseSensitive(g, "results");
        const cJSON *r;

        assert_true(cJSON_IsArray(results));
        assert_true(cJSON_GetArraySize(results) > 0);
        cJSON_ArrayForEach(r, results)
        {
            const char *key = json_str(r, "key");
            uint64_t id = id_of_key(key);
            struct wr_result want = make_result(id, fx->f.ob.key_pad);
            char idem[17];

            assert_string_equal(key, want.key);
            assert_string_equal(stream, stream_names[want.stream]);
            assert_int_equal(json_int(g, "size_s"), want.size_s);
            assert_int_equal(json_int(r, "start"), want.start_ms / 1000);
            assert_int_equal(json_int(r, "rev"), want.revision);
            assert_int_equal(json_int(r, "count"), want.agg.count);
            wr_encode_idempotency_key(AGENT, stream_names[want.stream], &want, idem);
            assert_string_equal(json_str(r, "id"), idem);
            assert_true(n < max);
            ids[n++] = id;
        }
    }
    cJSON_Delete(root);
    assert_true(n > 0); /* an empty message is never sent */
    return n;
}

/* Ids of the successfully published messages from..n_pubs, concatenated; checks seq order. */
static size_t sent_ids(const struct fixture *fx, size_t from, uint64_t *ids, size_t max)
{
    size_t n = 0;

    for (size_t i = from; i < fx->f.up.n_pubs; i++)
        if (fx->f.up.pubs[i].rc == WR_OK)
            n += msg_ids(fx, &fx->f.up.pubs[i], ids + n, max - n, NULL, NULL);
    return n;
}

/* Successful publishes from index from on. */
static size_t n_ok_pubs(const struct fixture *fx, size_t from)
{
    size_t n = 0;

    for (size_t i = from; i < fx->f.up.n_pubs; i++)
        n += fx->f.up.pubs[i].rc == WR_OK ? 1u : 0u;
    return n;
}

static void assert_ids_range(const uint64_t *ids, size_t n, uint64_t first, uint64_t last)
{
    assert_int_equal(n, last - first + 1);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], first + i);
}

/* Ack every published message not yet acked. */
static void ack_all(struct fixture *fx, bool ok, uint64_t now)
{
    for (size_t i = 0; i < fx->f.up.n_pubs; i++) {
        struct pub *p = &fx->f.up.pubs[i];

        if (p->rc == WR_OK && !p->acked) {
            p->acked = true;
            assert_int_equal(wr_forward_on_ack(fx->fw, &fx->io, p->tag, ok, now), WR_OK);
        }
    }
}

static void ack_one(struct fixture *fx, size_t i, bool ok, uint64_t now)
{
    struct pub *p = &fx->f.up.pubs[i];

    assert_int_equal(p->rc, WR_OK);
    assert_false(p->acked);
    p->acked = true;
    assert_int_equal(wr_forward_on_ack(fx->fw, &fx->io, p->tag, ok, now), WR_OK);
}

/* ---- creation ------------------------------------------------------------------------------- */

static void test_forward_create_invalid_params(void **state)
{
    struct fixture *fx = *state;
    struct wr_forward_params p;
    struct wr_forward *fw = NULL;

    assert_int_equal(wr_forward_create(NULL, &fw), WR_E_INVAL);
    assert_int_equal(wr_forward_create(&fx->p, NULL), WR_E_INVAL);
#define EXPECT_INVAL(field, value)                                                                 \
    do {                                                                                           \
        p = fx->p;                                                                                 \
        p.field = value;                                                                           \
        fw = NULL;                                                                                 \
        assert_int_equal(wr_forward_create(&p, &fw), WR_E_INVAL);                                  \
        assert_null(fw);                                                                           \
    } while (0)
    EXPECT_INVAL(agent_id, NULL);
    EXPECT_INVAL(topic, NULL);
    EXPECT_INVAL(stream_names, NULL);
    EXPECT_INVAL(stream_aggregates, NULL);
    EXPECT_INVAL(n_streams, 0);
    EXPECT_INVAL(max_results, 0);
    EXPECT_INVAL(max_bytes, 63);
    EXPECT_INVAL(max_inflight, 0);
    EXPECT_INVAL(max_inflight, 1024);
    EXPECT_INVAL(resend_per_s, 0);
#undef EXPECT_INVAL
    /* The boundaries themselves are accepted. */
    p = fx->p;
    p.max_bytes = 64;
    p.max_inflight = 1023;
    assert_int_equal(wr_forward_create(&p, &fw), WR_OK);
    wr_forward_destroy(fw);
    wr_forward_destroy(NULL);
}

static void test_forward_null_arguments(void **state)
{
    struct fixture *fx = *state;
    struct wr_forward_stats s;

    create_fw(fx);
    assert_int_equal(wr_forward_pump(NULL, &fx->io, T_MONO, T_WALL), WR_E_INVAL);
    assert_int_equal(wr_forward_pump(fx->fw, NULL, T_MONO, T_WALL), WR_E_INVAL);
    assert_int_equal(wr_forward_on_ack(NULL, &fx->io, 0, true, T_MONO), WR_E_INVAL);
    assert_int_equal(wr_forward_on_ack(fx->fw, NULL, 0, true, T_MONO), WR_E_INVAL);
    /* A tag naming a slot that does not exist. */
    assert_int_equal(wr_forward_on_ack(fx->fw, &fx->io, 4, true, T_MONO), WR_E_INVAL);
    /* An ack for a slot with nothing in flight is ignored. */
    assert_int_equal(wr_forward_on_ack(fx->fw, &fx->io, 0, true, T_MONO), WR_OK);
    assert_int_equal(fx->f.ob.remove_calls, 0);
    wr_forward_notify_appended(NULL, 1, T_MONO);
    wr_forward_notify_backlog(NULL, 1);
    wr_forward_on_disconnect(NULL, &fx->io);
    wr_forward_on_disconnect(fx->fw, NULL);
    wr_forward_get_stats(NULL, &s);
    wr_forward_get_stats(fx->fw, NULL);
    s = stats_of(fx);
    assert_int_equal(s.messages_sent, 0);
    assert_int_equal(s.inflight_messages, 0);
}

static void test_forward_create_alloc_failure(void **state)
{
    struct fixture *fx = *state;
    struct wr_forward *fw = NULL;
    int rc;
    long n;

    fx->p.max_inflight = 3;
    wr_test_alloc_install();
    for (n = 1;; n++) {
        wr_test_alloc_fail_at(n);
        fw = NULL;
        rc = wr_forward_create(&fx->p, &fw);
        if (rc == WR_OK)
            break;
        assert_int_equal(rc, WR_E_NOMEM);
        assert_null(fw);
    }
    wr_test_alloc_fail_at(0);
    /* agent, topic, 2 arrays, 2 names, slots, results and msg at least. */
    assert_true(n > 9);
    /* The forwarder built on the last try works. */
    fx->fw = fw;
    fake_add(&fx->f.ob, 3);
    wr_forward_notify_backlog(fx->fw, 3);
    assert_int_equal(pump(fx, T_MONO), 1);
    wr_forward_destroy(fw);
    fx->fw = NULL;
    wr_test_alloc_uninstall();
}

/* ---- when a batch is due -------------------------------------------------------------------- */

static void test_forward_waits_for_max_delay(void **state)
{
    struct fixture *fx = *state;
    uint64_t ids[16];

    create_fw(fx);
    fake_add(&fx->f.ob, 3);
    wr_forward_notify_appended(fx->fw, 3, T_MONO);
    assert_int_equal(pump(fx, T_MONO), 0);
    assert_int_equal(pump(fx, T_MONO + 999), 0);
    assert_int_equal(fx->f.up.publish_calls, 0);
    /* More results, later: the clock runs from the first one, not the last. */
    fake_add(&fx->f.ob, 2);
    wr_forward_notify_appended(fx->fw, 2, T_MONO + 500);
    assert_int_equal(pump(fx, T_MONO + 999), 0);
    assert_int_equal(pump(fx, T_MONO + 1000), 1);
    assert_ids_range(ids, sent_ids(fx, 0, ids, 16), 1, 5);
    /* Nothing pending: more pumps send nothing. */
    assert_int_equal(pump(fx, T_MONO + 5000), 0);
    assert_int_equal(fx->f.up.publish_calls, 1);
}

static void test_forward_zero_delay_sends_at_once(void **state)
{
    struct fixture *fx = *state;
    uint64_t ids[4];

    fx->p.max_delay_ms = 0;
    create_fw(fx);
    assert_int_equal(pump(fx, T_MONO), 0);
    fake_add(&fx->f.ob, 1);
    wr_forward_notify_appended(fx->fw, 1, T_MONO);
    assert_int_equal(pump(fx, T_MONO), 1);
    assert_ids_range(ids, sent_ids(fx, 0, ids, 4), 1, 1);
}

static void test_forward_max_results_sends_before_delay_and_splits(void **state)
{
    struct fixture *fx = *state;
    uint64_t ids[32];
    uint64_t seq = 99;
    size_t n;

    fx->p.max_results = 5;
    create_fw(fx);
    fake_add(&fx->f.ob, 12);
    wr_forward_notify_appended(fx->fw, 12, T_MONO);
    /* Two full batches go at once; the 2 left over wait for max_delay. */
    assert_int_equal(pump(fx, T_MONO), 2);
    n = msg_ids(fx, &fx->f.up.pubs[0], ids, 32, &seq, NULL);
    assert_ids_range(ids, n, 1, 5);
    assert_int_equal(seq, 0);
    n = msg_ids(fx, &fx->f.up.pubs[1], ids, 32, &seq, NULL);
    assert_ids_range(ids, n, 6, 10);
    assert_int_equal(seq, 1);
    assert_int_equal(pump(fx, T_MONO + 999), 0);
    assert_int_equal(pump(fx, T_MONO + 1000), 1);
    n = msg_ids(fx, &fx->f.up.pubs[2], ids, 32, &seq, NULL);
    assert_ids_range(ids, n, 11, 12);
    assert_int_equal(seq, 2);
    /* Exactly max_results appended: sent at once, no waiting. */
    fake_add(&fx->f.ob, 5);
    wr_forward_notify_appended(fx->fw, 5, T_MONO + 2000);
    assert_int_equal(pump(fx, T_MONO + 2000), 1);
    assert_ids_range(ids, sent_ids(fx, 3, ids, 32), 13, 17);
}

static void test_forward_notify_backlog_sends_without_waiting(void **state)
{
    struct fixture *fx = *state;
    uint64_t ids[64];

    fx->p.max_results = 4;
    fx->p.max_delay_ms = 60000;
    create_fw(fx);
    /* Rows found in the outbox at start: not notified as appended, nothing is due. */
    fake_add(&fx->f.ob, 10);
    assert_int_equal(pump(fx, T_MONO), 0);
    wr_forward_notify_backlog(fx->fw, 0);
    assert_int_equal(pump(fx, T_MONO), 0);
    wr_forward_notify_backlog(fx->fw, 10);
    /* All of it at once, the short tail included, without waiting for max_delay. */
    assert_int_equal(pump(fx, T_MONO), 3);
    assert_ids_range(ids, sent_ids(fx, 0, ids, 64), 1, 10);
    /* Caught up: a fresh result waits for max_delay again. */
    ack_all(fx, true, T_MONO + 1);
    fake_add(&fx->f.ob, 1);
    wr_forward_notify_appended(fx->fw, 1, T_MONO + 1);
    assert_int_equal(pump(fx, T_MONO + 2), 0);
    assert_int_equal(pump(fx, T_MONO + 60001), 1);
}

/* ---- batching by bytes ---------------------------------------------------------------------- */

static void test_forward_max_bytes_splits_batches(void **state)
{
    struct fixture *fx = *state;
    uint64_t ids[256];
    uint64_t msg[64];
    uint64_t next[64];
    size_t total;
    int sent;

    fx->p.max_bytes = 700;
    fx->p.max_results = 50;
    fx->p.max_inflight = 100;
    fx->f.ob.key_pad = 40;
    create_fw(fx);
    fake_add(&fx->f.ob, 60);
    wr_forward_notify_backlog(fx->fw, 60);
    sent = pump(fx, T_MONO);
    assert_true(sent > 10);
    /* Nothing skipped, nothing duplicated, in order. */
    total = sent_ids(fx, 0, ids, 256);
    assert_ids_range(ids, total, 1, 60);
    /* Greedy: each message but the last is full, i.e. its successor's first row did not fit. */
    for (size_t i = 0; i + 1 < fx->f.up.n_pubs; i++) {
        struct wr_encoder enc;
        char buf[701];
        uint64_t seq = 0;
        int64_t sent_ms = 0;
        size_t n = msg_ids(fx, &fx->f.up.pubs[i], msg, 64, &seq, &sent_ms);
        struct wr_result r;

        assert_int_equal(seq, i);
        assert_true(n < 50);
        msg_ids(fx, &fx->f.up.pubs[i + 1], next, 64, NULL, NULL);
        assert_int_equal(next[0], msg[n - 1] + 1);
        assert_int_equal(wr_encoder_begin(&enc, buf, sizeof(buf), AGENT, seq, sent_ms), WR_OK);
        for (size_t j = 0; j < n; j++) {
            r = make_result(msg[j], fx->f.ob.key_pad);
            assert_int_equal(
                wr_encoder_add(&enc, stream_names[r.stream], stream_aggs[r.stream], &r), WR_OK);
        }
        r = make_result(next[0], fx->f.ob.key_pad);
        assert_int_equal(wr_encoder_add(&enc, stream_names[r.stream], stream_aggs[r.stream], &r),
                         WR_E_TOOBIG);
    }
}

/* The exact message length fits; one byte less splits the same two rows. */
static void test_forward_max_bytes_exact_boundary(void **state)
{
    struct fixture *fx = *state;
    struct wr_encoder enc;
    struct wr_result r1 = make_result(1, 0);
    struct wr_result r2 = make_result(2, 0);
    char buf[4096];
    uint64_t ids[4];
    size_t len = 0;
    int64_t wall = T_WALL + (int64_t)T_MONO;

    assert_int_equal(wr_encoder_begin(&enc, buf, sizeof(buf), AGENT, 0, wall), WR_OK);
    assert_int_equal(wr_encoder_add(&enc, stream_names[1], stream_aggs[1], &r1), WR_OK);
    assert_int_equal(wr_encoder_add(&enc, stream_names[0], stream_aggs[0], &r2), WR_OK);
    assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);

    fx->p.max_bytes = (uint32_t)len;
    create_fw(fx);
    fake_add(&fx->f.ob, 2);
    wr_forward_notify_backlog(fx->fw, 2);
    assert_int_equal(pump(fx, T_MONO), 1);
    assert_int_equal(fx->f.up.pubs[0].len, len);
    assert_memory_equal(fx->f.up.pubs[0].payload, buf, len);
    /* Hand the message back before the forwarder goes, as a lost connection would. */
    wr_forward_on_disconnect(fx->fw, &fx->io);
    wr_forward_destroy(fx->fw);
    fx->fw = NULL;

    fx->p.max_bytes = (uint32_t)len - 1;
    create_fw(fx);
    wr_forward_notify_backlog(fx->fw, 2);
    assert_int_equal(pump(fx, T_MONO), 2);
    assert_int_equal(msg_ids(fx, &fx->f.up.pubs[1], ids, 4, NULL, NULL), 1);
    assert_int_equal(ids[0], 1);
    assert_int_equal(msg_ids(fx, &fx->f.up.pubs[2], ids, 4, NULL, NULL), 1);
    assert_int_equal(ids[0], 2);
}

/* Rows carried over by a size split go first in the next message, even after a slot wait. */
static void test_forward_carried_rows_go_first(void **state)
{
    struct fixture *fx = *state;
    uint64_t ids[64];
    size_t n;

    fx->p.max_bytes = 700;
    fx->p.max_results = 8;
    fx->p.max_inflight = 1;
    fx->f.ob.key_pad = 40;
    create_fw(fx);
    fake_add(&fx->f.ob, 8);
    wr_forward_notify_appended(fx->fw, 8, T_MONO);
    assert_int_equal(pump(fx, T_MONO), 1);
    n = msg_ids(fx, &fx->f.up.pubs[0], ids, 64, NULL, NULL);
    assert_true(n < 8);
    assert_ids_range(ids, n, 1, n);
    /* The slot is busy; the carried tail waits, and more rows arrive behind it. */
    fake_add(&fx->f.ob, 3);
    wr_forward_notify_appended(fx->fw, 3, T_MONO + 1);
    assert_int_equal(pump(fx, T_MONO + 2), 0);
    assert_int_equal(fx->f.ob.in_flight, n);
    for (int round = 0; round < 20 && fx->f.ob.n_rows > 0; round++) {
        ack_all(fx, true, T_MONO + 3);
        (void)pump(fx, T_MONO + 3 + 1000);
    }
    ack_all(fx, true, T_MONO + 5000);
    assert_int_equal(fx->f.ob.n_rows, 0);
    assert_ids_range(ids, sent_ids(fx, 0, ids, 64), 1, 11);
    assert_ids_range(fx->f.ob.removed, fx->f.ob.n_removed, 1, 11);
}

/* ---- in flight and acknowledgements --------------------------------------------------------- */

static void test_forward_max_inflight_caps_unacked(void **state)
{
    struct fixture *fx = *state;
    uint64_t ids[64];

    fx->p.max_results = 3;
    fx->p.max_inflight = 2;
    create_fw(fx);
    fake_add(&fx->f.ob, 20);
    wr_forward_notify_backlog(fx->fw, 20);
    assert_int_equal(pump(fx, T_MONO), 2);
    assert_int_equal(stats_of(fx).inflight_messages, 2);
    assert_int_equal(pump(fx, T_MONO + 10000), 0);
    assert_int_equal(fx->f.up.publish_calls, 2);
    ack_one(fx, 1, true, T_MONO + 10);
    assert_int_equal(stats_of(fx).inflight_messages, 1);
    assert_int_equal(pump(fx, T_MONO + 20), 1);
    assert_int_equal(stats_of(fx).inflight_messages, 2);
    assert_int_equal(pump(fx, T_MONO + 30), 0);
    assert_ids_range(ids, sent_ids(fx, 0, ids, 64), 1, 9);
    /* Tags of messages in flight at the same time differ. */
    assert_int_not_equal(fx->f.up.pubs[0].tag, fx->f.up.pubs[2].tag);
}

static void test_forward_ack_removes_exactly_its_rows(void **state)
{
    struct fixture *fx = *state;
    struct wr_forward_stats s;

    fx->p.max_results = 3;
    fx->p.max_inflight = 3;
    create_fw(fx);
    fake_add(&fx->f.ob, 9);
    wr_forward_notify_backlog(fx->fw, 9);
    assert_int_equal(pump(fx, T_MONO), 3);
    /* Out of order: the middle message first. */
    ack_one(fx, 1, true, T_MONO + 42);
    assert_int_equal(fx->f.ob.remove_calls, 1);
    assert_ids_range(fx->f.ob.removed, fx->f.ob.n_removed, 4, 6);
    assert_int_equal(fx->f.ob.n_rows, 6);
    assert_true(fake_has(&fx->f.ob, 3) && fake_has(&fx->f.ob, 7));
    s = stats_of(fx);
    assert_int_equal(s.results_acked, 3);
    assert_int_equal(s.last_ack_latency_ms, 42);
    assert_int_equal(s.inflight_messages, 2);
    /* The same ack again (a duplicate PUBACK callback) removes nothing more. */
    assert_int_equal(wr_forward_on_ack(fx->fw, &fx->io, fx->f.up.pubs[1].tag, true, T_MONO + 50),
                     WR_OK);
    assert_int_equal(fx->f.ob.remove_calls, 1);
    assert_int_equal(stats_of(fx).results_acked, 3);
    ack_one(fx, 0, true, T_MONO + 60);
    ack_one(fx, 2, true, T_MONO + 70);
    assert_int_equal(fx->f.ob.n_rows, 0);
    assert_int_equal(fx->f.ob.n_removed, 9);
    assert_int_equal(stats_of(fx).results_acked, 9);
    assert_int_equal(stats_of(fx).last_ack_latency_ms, 70);
}

static void test_forward_failed_ack_resends_only_its_rows(void **state)
{
    struct fixture *fx = *state;
    uint64_t ids[64];
    size_t n;

    fx->p.max_results = 3;
    fx->p.max_inflight = 3;
    create_fw(fx);
    fake_add(&fx->f.ob, 12);
    wr_forward_notify_backlog(fx->fw, 12);
    assert_int_equal(pump(fx, T_MONO), 3); /* 1-3, 4-6, 7-9 */
    ack_one(fx, 1, false, T_MONO + 5);     /* 4-6 failed */
    assert_int_equal(stats_of(fx).messages_failed, 1);
    assert_int_equal(fx->f.ob.remove_calls, 0);
    assert_int_equal(stats_of(fx).inflight_messages, 2);
    /* One slot free: it carries 4-6 again, not 1-3 or 7-9 which are still in flight. */
    assert_int_equal(pump(fx, T_MONO + 6), 1);
    n = msg_ids(fx, &fx->f.up.pubs[3], ids, 64, NULL, NULL);
    assert_ids_range(ids, n, 4, 6);
    /* The oldest fails too while the resend is in flight. */
    ack_one(fx, 0, false, T_MONO + 7);
    assert_int_equal(pump(fx, T_MONO + 8), 1);
    n = msg_ids(fx, &fx->f.up.pubs[4], ids, 64, NULL, NULL);
    assert_ids_range(ids, n, 1, 3);
    /* 7-9 acked; the next free slot goes to 10-12, skipping nothing and repeating nothing. */
    ack_one(fx, 2, true, T_MONO + 9);
    assert_int_equal(pump(fx, T_MONO + 10), 1);
    n = msg_ids(fx, &fx->f.up.pubs[5], ids, 64, NULL, NULL);
    assert_ids_range(ids, n, 10, 12);
    ack_all(fx, true, T_MONO + 11);
    assert_int_equal(fx->f.ob.n_rows, 0);
    assert_int_equal(pump(fx, T_MONO + 12), 0);
    assert_int_equal(stats_of(fx).results_acked, 12);
    assert_int_equal(stats_of(fx).results_sent, 18);
    assert_int_equal(stats_of(fx).messages_failed, 2);
}

static void test_forward_disconnect_resends_unacked_oldest_first(void **state)
{
    struct fixture *fx = *state;
    uint64_t ids[64];
    uint64_t seq = 0;
    size_t n;

    fx->p.max_results = 3;
    fx->p.max_inflight = 3;
    create_fw(fx);
    fake_add(&fx->f.ob, 11);
    wr_forward_notify_backlog(fx->fw, 11);
    assert_int_equal(pump(fx, T_MONO), 3);
    ack_one(fx, 1, true, T_MONO + 1);          /* 4-6 done */
    assert_int_equal(pump(fx, T_MONO + 2), 1); /* 10-11 */
    wr_forward_on_disconnect(fx->fw, &fx->io);
    assert_int_equal(stats_of(fx).inflight_messages, 0);
    /* The three messages in flight went back to the outbox. */
    assert_int_equal(fx->f.ob.release_calls, 3);
    assert_int_equal(fx->f.ob.in_flight, 0);
    /* Reconnected: everything unacked, oldest first, nothing acked again. */
    assert_int_equal(pump(fx, T_MONO + 3), 3);
    n = msg_ids(fx, &fx->f.up.pubs[4], ids, 64, &seq, NULL);
    assert_int_equal(seq, 4);
    n += msg_ids(fx, &fx->f.up.pubs[5], ids + n, 64 - n, NULL, NULL);
    n += msg_ids(fx, &fx->f.up.pubs[6], ids + n, 64 - n, NULL, NULL);
    assert_int_equal(n, 8);
    assert_ids_range(ids, 3, 1, 3);
    assert_ids_range(ids + 3, 5, 7, 11);
    ack_all(fx, true, T_MONO + 4);
    assert_int_equal(fx->f.ob.n_rows, 0);
}

static void test_forward_stale_ack_ignored(void **state)
{
    struct fixture *fx = *state;
    uint32_t old_tag;
    uint64_t ids[8];

    fx->p.max_results = 2;
    fx->p.max_inflight = 1;
    create_fw(fx);
    fake_add(&fx->f.ob, 4);
    wr_forward_notify_backlog(fx->fw, 4);
    assert_int_equal(pump(fx, T_MONO), 1);
    old_tag = fx->f.up.pubs[0].tag;
    wr_forward_on_disconnect(fx->fw, &fx->io);
    /* The lost message's ack (or failure) arrives late: nothing happens. */
    assert_int_equal(wr_forward_on_ack(fx->fw, &fx->io, old_tag, true, T_MONO + 1), WR_OK);
    assert_int_equal(wr_forward_on_ack(fx->fw, &fx->io, old_tag, false, T_MONO + 1), WR_OK);
    assert_int_equal(fx->f.ob.remove_calls, 0);
    assert_int_equal(stats_of(fx).results_acked, 0);
    assert_int_equal(stats_of(fx).messages_failed, 0);
    /* The resend uses the same slot under a new tag; the old tag still does nothing. */
    assert_int_equal(pump(fx, T_MONO + 2), 1);
    assert_int_not_equal(fx->f.up.pubs[1].tag, old_tag);
    assert_int_equal(wr_forward_on_ack(fx->fw, &fx->io, old_tag, true, T_MONO + 3), WR_OK);
    assert_int_equal(wr_forward_on_ack(fx->fw, &fx->io, old_tag, false, T_MONO + 3), WR_OK);
    assert_int_equal(fx->f.ob.remove_calls, 0);
    assert_int_equal(stats_of(fx).inflight_messages, 1);
    assert_int_equal(pump(fx, T_MONO + 4), 0); /* the old ack did not free the slot */
    ack_one(fx, 1, true, T_MONO + 5);
    assert_ids_range(fx->f.ob.removed, fx->f.ob.n_removed, 1, 2);
    assert_int_equal(pump(fx, T_MONO + 6), 1);
    assert_ids_range(ids, msg_ids(fx, &fx->f.up.pubs[2], ids, 8, NULL, NULL), 3, 4);
}

/*
 * The tag packs a slot index and the slot's generation. Once a slot has been
 * released 2^22 times its generation no longer fits the tag: every ack must
 * still match its own message, or the forwarder stalls with all slots in flight.
 */
static void test_forward_tag_generation_wraps(void **state)
{
    struct fixture *fx = *state;
    const uint32_t cycles = (UINT32_C(1) << 22) + 2;
    uint64_t now = T_MONO;

    fx->p.max_results = 1;
    fx->p.max_inflight = 1;
    fx->p.stream_aggregates = (const unsigned[]){WR_AGG_COUNT, WR_AGG_COUNT};
    fx->f.up.record_payloads = false;
    create_fw(fx);
    fake_add(&fx->f.ob, 1);
    wr_forward_notify_backlog(fx->fw, 1);
    /* A failed ack releases the slot and rewinds, so the one row goes again: cheap cycles. */
    for (uint32_t i = 0; i < cycles; i++) {
        now++;
        if (pump(fx, now) != 1)
            fail_msg("cycle %" PRIu32 ": nothing sent (%ld publishes)", i, fx->f.up.publish_calls);
        assert_int_equal(wr_forward_on_ack(fx->fw, &fx->io, fx->f.up.last_tag, false, now), WR_OK);
    }
    assert_int_equal(stats_of(fx).messages_failed, cycles);
    assert_int_equal(pump(fx, now + 1), 1);
    assert_int_equal(wr_forward_on_ack(fx->fw, &fx->io, fx->f.up.last_tag, true, now + 1), WR_OK);
    assert_int_equal(fx->f.ob.remove_calls, 1);
    assert_int_equal(fx->f.ob.n_rows, 0);
    assert_int_equal(stats_of(fx).inflight_messages, 0);
}

/* ---- publish and read failures -------------------------------------------------------------- */

static void check_publish_refused_keeps_rows(struct fixture *fx, int refusal)
{
    uint64_t ids[16];
    uint64_t seq = 9;

    fx->p.max_results = 4;
    create_fw(fx);
    fake_add(&fx->f.ob, 6);
    wr_forward_notify_backlog(fx->fw, 6);
    fx->f.up.publish_rc = refusal;
    fx->f.up.publish_fail_times = 1;
    assert_int_equal(pump(fx, T_MONO), 0);
    assert_int_equal(fx->f.up.publish_calls, 1);
    assert_int_equal(stats_of(fx).messages_failed, 1);
    assert_int_equal(stats_of(fx).messages_sent, 0);
    assert_int_equal(stats_of(fx).inflight_messages, 0);
    /* The refused message's results went back to the outbox. */
    assert_int_equal(fx->f.ob.release_calls, 1);
    assert_int_equal(fx->f.ob.in_flight, 0);
    /* Next time the same rows go, in the same order, under the same seq. */
    assert_int_equal(pump(fx, T_MONO + 1), 2);
    assert_ids_range(ids, msg_ids(fx, &fx->f.up.pubs[1], ids, 16, &seq, NULL), 1, 4);
    assert_int_equal(seq, 0);
    assert_ids_range(ids, sent_ids(fx, 1, ids, 16), 1, 6);
    assert_int_equal(n_ok_pubs(fx, 0), 2);
    ack_all(fx, true, T_MONO + 2);
    assert_int_equal(fx->f.ob.n_rows, 0);
}

static void test_forward_publish_state_keeps_rows(void **state)
{
    check_publish_refused_keeps_rows(*state, WR_E_STATE);
}

static void test_forward_publish_full_keeps_rows(void **state)
{
    check_publish_refused_keeps_rows(*state, WR_E_FULL);
}

static void test_forward_publish_conn_error_returned(void **state)
{
    struct fixture *fx = *state;
    uint64_t ids[16];

    fx->p.max_results = 4;
    create_fw(fx);
    fake_add(&fx->f.ob, 6);
    wr_forward_notify_backlog(fx->fw, 6);
    assert_int_equal(pump(fx, T_MONO), 2);
    fake_add(&fx->f.ob, 2);
    wr_forward_notify_appended(fx->fw, 2, T_MONO);
    fx->f.up.publish_rc = WR_E_CONN;
    fx->f.up.publish_fail_times = 1;
    assert_int_equal(pump(fx, T_MONO + 1000), WR_E_CONN);
    assert_int_equal(stats_of(fx).messages_failed, 1);
    wr_forward_on_disconnect(fx->fw, &fx->io);
    assert_int_equal(pump(fx, T_MONO + 2000), 2);
    assert_ids_range(ids, sent_ids(fx, 3, ids, 16), 1, 8);
}

/*
 * A read error from the outbox: nothing is marked sent or published, and the
 * same results go, all of them, in the next message.
 */
static void test_forward_read_error_keeps_rows_already_read(void **state)
{
    struct fixture *fx = *state;
    uint64_t ids[16];

    fx->p.max_results = 5;
    create_fw(fx);
    fake_add(&fx->f.ob, 5);
    wr_forward_notify_backlog(fx->fw, 5);
    fx->f.ob.read_fail_at = 1;
    fx->f.ob.read_fail_rc = WR_E_IO;
    assert_int_equal(pump(fx, T_MONO), WR_E_IO);
    assert_int_equal(fx->f.up.publish_calls, 0);
    assert_int_equal(fx->f.ob.in_flight, 0);
    assert_int_equal(pump(fx, T_MONO + 1), 1);
    assert_ids_range(ids, sent_ids(fx, 0, ids, 16), 1, 5);
}

/* ---- pacing --------------------------------------------------------------------------------- */

static void test_forward_pacing_limits_backlog_rate(void **state)
{
    struct fixture *fx = *state;
    static uint64_t ids[2048];
    uint64_t now = T_MONO;
    size_t sent;
    int rc;

    fx->p.max_results = 10;
    fx->p.max_inflight = 20;
    fx->p.resend_per_s = 100;
    create_fw(fx);
    fake_add(&fx->f.ob, 1000);
    wr_forward_notify_backlog(fx->fw, 1000);
    rc = pump(fx, now);
    assert_true(rc >= 1);
    sent = (size_t)stats_of(fx).results_sent;
    assert_true(sent >= 10 && sent <= 100);
    /* Acked at once, so only the bucket limits: ~100 rows per second. */
    for (uint64_t t = 50; t <= 12000; t += 50) {
        ack_all(fx, true, now + t);
        assert_true(pump(fx, now + t) >= 0);
        sent = (size_t)stats_of(fx).results_sent;
        if (sent > 100 + t / 10 + 1)
            fail_msg("%zu rows sent after %" PRIu64 " ms at 100/s", sent, t);
        if (t >= 1000 && sent + 10 < (t / 10 < 1000 ? t / 10 : 1000))
            fail_msg("only %zu rows sent after %" PRIu64 " ms at 100/s", sent, t);
    }
    ack_all(fx, true, now + 12000);
    assert_int_equal(fx->f.ob.n_rows, 0);
    assert_ids_range(ids, sent_ids(fx, 0, ids, 2048), 1, 1000);

    /* Idle for a minute: the bucket holds max(resend_per_s, max_results), no more. */
    now += 72000;
    fake_add(&fx->f.ob, 500);
    wr_forward_notify_backlog(fx->fw, 500);
    assert_int_equal(pump(fx, now), 10);
    assert_int_equal(stats_of(fx).results_sent, 1100);
    assert_int_equal(pump(fx, now + 5), 0); /* half a token */
    ack_all(fx, true, now + 100);
    assert_int_equal(pump(fx, now + 100), 1);
    assert_int_equal(stats_of(fx).results_sent, 1110);
}

static void test_forward_pacing_large_batches(void **state)
{
    struct fixture *fx = *state;

    /* max_results above resend_per_s: a whole batch may go, then the bucket refills. */
    fx->p.max_results = 250;
    fx->p.max_bytes = 1048576;
    fx->p.max_inflight = 8;
    fx->p.resend_per_s = 100;
    create_fw(fx);
    fake_add(&fx->f.ob, 1000);
    wr_forward_notify_backlog(fx->fw, 1000);
    assert_int_equal(pump(fx, T_MONO), 1);
    assert_int_equal(stats_of(fx).results_sent, 250);
    assert_int_equal(pump(fx, T_MONO + 5), 0);
    assert_int_equal(pump(fx, T_MONO + 100), 1);
    assert_int_equal(stats_of(fx).results_sent, 260);
    /* Three seconds later the bucket is capped at 250, not 300. */
    assert_int_equal(pump(fx, T_MONO + 3100), 1);
    assert_int_equal(stats_of(fx).results_sent, 510);
}

/* ---- stats ---------------------------------------------------------------------------------- */

static void test_forward_stats_counters(void **state)
{
    struct fixture *fx = *state;
    struct wr_forward_stats s;

    fx->p.max_results = 4;
    fx->p.max_inflight = 2;
    create_fw(fx);
    s = stats_of(fx);
    assert_int_equal(s.messages_sent, 0);
    assert_int_equal(s.results_sent, 0);
    assert_int_equal(s.results_acked, 0);
    assert_int_equal(s.messages_failed, 0);
    assert_int_equal(s.inflight_messages, 0);
    assert_int_equal(s.last_ack_latency_ms, 0);
    fake_add(&fx->f.ob, 7);
    wr_forward_notify_backlog(fx->fw, 7);
    assert_int_equal(pump(fx, T_MONO), 2); /* 4 + 3 */
    s = stats_of(fx);
    assert_int_equal(s.messages_sent, 2);
    assert_int_equal(s.results_sent, 7);
    assert_int_equal(s.inflight_messages, 2);
    ack_one(fx, 0, true, T_MONO + 250);
    ack_one(fx, 1, false, T_MONO + 300);
    s = stats_of(fx);
    assert_int_equal(s.results_acked, 4);
    assert_int_equal(s.messages_failed, 1);
    assert_int_equal(s.last_ack_latency_ms, 250); /* a failure is not a latency sample */
    assert_int_equal(s.inflight_messages, 0);
    assert_int_equal(pump(fx, T_MONO + 400), 1);
    ack_all(fx, true, T_MONO + 410);
    s = stats_of(fx);
    assert_int_equal(s.messages_sent, 3);
    assert_int_equal(s.results_sent, 10); /* resends count */
    assert_int_equal(s.results_acked, 7);
    assert_int_equal(s.last_ack_latency_ms, 10);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_forward_create_invalid_params),
        T(test_forward_null_arguments),
        T(test_forward_create_alloc_failure),
        T(test_forward_waits_for_max_delay),
        T(test_forward_zero_delay_sends_at_once),
        T(test_forward_max_results_sends_before_delay_and_splits),
        T(test_forward_notify_backlog_sends_without_waiting),
        T(test_forward_max_bytes_splits_batches),
        T(test_forward_max_bytes_exact_boundary),
        T(test_forward_carried_rows_go_first),
        T(test_forward_max_inflight_caps_unacked),
        T(test_forward_ack_removes_exactly_its_rows),
        T(test_forward_failed_ack_resends_only_its_rows),
        T(test_forward_disconnect_resends_unacked_oldest_first),
        T(test_forward_stale_ack_ignored),
        T(test_forward_tag_generation_wraps),
        T(test_forward_publish_state_keeps_rows),
        T(test_forward_publish_full_keeps_rows),
        T(test_forward_publish_conn_error_returned),
        T(test_forward_read_error_keeps_rows_already_read),
        T(test_forward_pacing_limits_backlog_rate),
        T(test_forward_pacing_large_batches),
        T(test_forward_stats_counters),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
