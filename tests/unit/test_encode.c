#include "test_support.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "wr_error.h"

#define BASIC_MASK (WR_AGG_COUNT | WR_AGG_SUM | WR_AGG_MIN | WR_AGG_MAX | WR_AGG_MEAN)

static struct wr_result make_result(uint16_t stream, uint32_t size_s, int64_t start_ms,
                                    uint32_t revision, const char *key)
{
    struct wr_result r;

    memset(&r, 0, sizeof(r));
    r.stream = stream;
    r.size_s = size_s;
    r.start_ms = start_ms;
    r.revision = revision;
    snprintf(r.key, sizeof(r.key), "%s", key);
    return r;
}

static void set_agg(struct wr_result *r, uint64_t count, double sum, double min, double max,
                    double mean)
{
    r->agg.count = count;
    r->agg.sum = sum;
    r->agg.min = min;
    r->agg.max = max;
    r->agg.mean = mean;
    r->agg.first = min;
    r->agg.last = max;
}

static void test_encoder_exact_small_batch(void **state)
{
    static const char expected[] =
        "{\"v\":1,\"agent\":\"gw-1\",\"seq\":7,\"sent_ms\":1700000123456,\"groups\":["
        "{\"stream\":\"temp\",\"size_s\":60,\"results\":["
        "{\"id\":\"05c7d76e239dc99d\",\"key\":\"dev1\",\"start\":1700000040,\"rev\":0,"
        "\"count\":3,\"sum\":63.5,\"min\":20.5,\"max\":22,\"mean\":21.166666666666668},"
        "{\"id\":\"ccf912ab44839755\",\"key\":\"dev2\",\"start\":1700000040,\"rev\":1,"
        "\"count\":1,\"sum\":19.25,\"min\":19.25,\"max\":19.25,\"mean\":19.25}]},"
        "{\"stream\":\"hum\",\"size_s\":300,\"results\":["
        "{\"id\":\"4ace77cf7bb3c273\",\"key\":\"dev1\",\"start\":1700000100,\"rev\":0,"
        "\"count\":2,\"max\":51}]}]}";
    struct wr_encoder enc;
    struct wr_result r1 = make_result(0, 60, 1700000040000, 0, "dev1");
    struct wr_result r2 = make_result(0, 60, 1700000040000, 1, "dev2");
    struct wr_result r3 = make_result(1, 300, 1700000100000, 0, "dev1");
    char buf[1024];
    size_t len = 0;

    (void)state;
    set_agg(&r1, 3, 63.5, 20.5, 22.0, 63.5 / 3.0);
    set_agg(&r2, 1, 19.25, 19.25, 19.25, 19.25);
    set_agg(&r3, 2, 101.0, 50.0, 51.0, 50.5);
    assert_int_equal(wr_encoder_begin(&enc, buf, sizeof(buf), "gw-1", 7, 1700000123456), WR_OK);
    assert_int_equal(wr_encoder_add(&enc, "temp", BASIC_MASK, &r1), WR_OK);
    assert_int_equal(wr_encoder_add(&enc, "temp", BASIC_MASK, &r2), WR_OK);
    assert_int_equal(wr_encoder_add(&enc, "hum", WR_AGG_COUNT | WR_AGG_MAX, &r3), WR_OK);
    assert_int_equal(enc.n_results, 3);
    assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
    assert_string_equal(buf, expected);
    assert_int_equal(len, strlen(expected));
}

static void test_encoder_empty_batch(void **state)
{
    struct wr_encoder enc;
    char buf[128];
    size_t len = 0;

    (void)state;
    assert_int_equal(wr_encoder_begin(&enc, buf, sizeof(buf), "a", 0, -5), WR_OK);
    assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
    assert_string_equal(buf, "{\"v\":1,\"agent\":\"a\",\"seq\":0,\"sent_ms\":-5,\"groups\":[]}");
    assert_int_equal(len, strlen(buf));
}

/* Parses buf and returns the "groups" array's sizes as "n,n,..." for compact asserts. */
static void group_shape(const char *buf, char *out, size_t out_len)
{
    cJSON *root = cJSON_Parse(buf);
    cJSON *groups;
    cJSON *g;
    size_t used = 0;

    assert_non_null(root);
    groups = cJSON_GetObjectItemCaseSensitive(root, "groups");
    assert_true(cJSON_IsArray(groups));
    out[0] = '\0';
    cJSON_ArrayForEach(g, groups)
    {
        cJSON *stream = cJSON_GetObjectItemCaseSensitive(g, "stream");
        cJSON *size = cJSON_GetObjectItemCaseSensitive(g, "size_s");
        cJSON *results = cJSON_GetObjectItemCaseSensitive(g, "results");
        int n;

        assert_true(cJSON_IsString(stream));
        assert_true(cJSON_IsNumber(size));
        assert_true(cJSON_IsArray(results));
        n = snprintf(out + used, out_len - used, "%s%s/%d:%d", used ? "," : "", stream->valuestring,
                     (int)size->valuedouble, cJSON_GetArraySize(results));
        assert_true(n > 0 && (size_t)n < out_len - used);
        used += (size_t)n;
    }
    cJSON_Delete(root);
}

static void test_encoder_groups_by_stream_and_size(void **state)
{
    static const struct {
        uint16_t stream;
        uint32_t size_s;
    } seq[] = {{0, 60}, {0, 60}, {1, 60}, {1, 300}, {1, 300}, {0, 60}, {1, 60}};
    static const char *const names[] = {"a", "b"};
    struct wr_encoder enc;
    char buf[4096];
    char shape[128];
    size_t len = 0;

    (void)state;
    assert_int_equal(wr_encoder_begin(&enc, buf, sizeof(buf), "gw", 1, 0), WR_OK);
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        struct wr_result r = make_result(seq[i].stream, seq[i].size_s, 0, 0, "k");

        r.agg.count = 1;
        assert_int_equal(wr_encoder_add(&enc, names[seq[i].stream], WR_AGG_COUNT, &r), WR_OK);
        assert_int_equal(enc.open_stream, seq[i].stream);
        assert_int_equal(enc.open_size_s, seq[i].size_s);
    }
    assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
    group_shape(buf, shape, sizeof(shape));
    /* Only consecutive results share a group: a return to (a,60) opens a new one. */
    assert_string_equal(shape, "a/60:2,b/60:1,b/300:2,a/60:1,b/60:1");
}

static void encode_one(unsigned mask, const struct wr_result *r, char *buf, size_t cap)
{
    struct wr_encoder enc;
    size_t len;

    assert_int_equal(wr_encoder_begin(&enc, buf, cap, "g", 0, 0), WR_OK);
    assert_int_equal(wr_encoder_add(&enc, "s", mask, r), WR_OK);
    assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
}

/* The tail of the message from the result's "count" member on. */
static const char *after_count(const char *buf)
{
    const char *p = strstr(buf, "\"count\":");

    assert_non_null(p);
    return p;
}

static void test_encoder_aggregate_mask_selects_fields(void **state)
{
    struct wr_result r = make_result(0, 10, 0, 0, "k");
    char buf[1024];

    (void)state;
    r.agg.count = 4;
    r.agg.sum = 10;
    r.agg.min = 1;
    r.agg.max = 4;
    r.agg.mean = 2.5;
    r.agg.m2 = 5;
    r.agg.first = 3;
    r.agg.last = 2;

    /* Count is written even when the mask leaves it out. */
    encode_one(0, &r, buf, sizeof(buf));
    assert_string_equal(after_count(buf), "\"count\":4}]}]}");

    encode_one(WR_AGG_LAST | WR_AGG_MIN, &r, buf, sizeof(buf));
    assert_string_equal(after_count(buf), "\"count\":4,\"min\":1,\"last\":2}]}]}");

    /* Fixed order sum,min,max,mean,stddev,first,last whatever the bit order. */
    r.agg.m2 = 9; /* population stddev sqrt(9 / 4) = 1.5 */
    encode_one(WR_AGG_ALL, &r, buf, sizeof(buf));
    assert_string_equal(after_count(buf), "\"count\":4,\"sum\":10,\"min\":1,\"max\":4,"
                                          "\"mean\":2.5,\"stddev\":1.5,\"first\":3,"
                                          "\"last\":2}]}]}");
}

static void test_encoder_escapes_strings(void **state)
{
    struct wr_encoder enc;
    struct wr_result r = make_result(0, 60, 0, 0, "");
    const char *agent = "g\"w\\1";
    const char *stream = "t\te/\x7f";
    /* Control bytes, a quote, and UTF-8 "é" (0xc3 0xa9) that must pass through unchanged. */
    const char key[] = "a\nb\x01\x1f\"\xc3\xa9";
    char buf[1024];
    char expected_id[17];
    size_t len = 0;
    cJSON *root;
    cJSON *group;
    cJSON *res;

    (void)state;
    memcpy(r.key, key, sizeof(key));
    r.agg.count = 1;
    assert_int_equal(wr_encoder_begin(&enc, buf, sizeof(buf), agent, 0, 0), WR_OK);
    assert_int_equal(wr_encoder_add(&enc, stream, WR_AGG_COUNT, &r), WR_OK);
    assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
    assert_non_null(strstr(buf, "\"agent\":\"g\\\"w\\\\1\""));
    assert_non_null(strstr(buf, "\"stream\":\"t\\u0009e/\x7f\""));
    assert_non_null(strstr(buf, "\"key\":\"a\\u000ab\\u0001\\u001f\\\"\xc3\xa9\""));

    root = cJSON_Parse(buf);
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "agent")->valuestring, agent);
    group = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "groups"), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(group, "stream")->valuestring, stream);
    res = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(group, "results"), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(res, "key")->valuestring, key);
    wr_encode_idempotency_key(agent, stream, &r, expected_id);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(res, "id")->valuestring, expected_id);
    cJSON_Delete(root);
}

static void test_encoder_unterminated_key_is_bounded(void **state)
{
    struct wr_result r = make_result(0, 60, 0, 0, "");
    char buf[1024];
    char expected[WR_KEY_MAX + 16];

    (void)state;
    memcpy(expected, "\"key\":\"", 7);
    memset(expected + 7, 'x', WR_KEY_MAX);
    memcpy(expected + 7 + WR_KEY_MAX, "\",", 3);
    /* A key that fills the array without a NUL must not be read past its end. */
    memset(r.key, 'x', sizeof(r.key));
    r.agg.count = 1;
    encode_one(WR_AGG_COUNT, &r, buf, sizeof(buf));
    assert_non_null(strstr(buf, expected));
}

/* Encodes v as a sum and returns the number text between "sum": and the next delimiter. */
static void number_text(double v, char *out, size_t out_len)
{
    struct wr_result r = make_result(0, 1, 0, 0, "k");
    char buf[512];
    const char *p;
    size_t n;

    r.agg.count = 1;
    r.agg.sum = v;
    encode_one(WR_AGG_SUM, &r, buf, sizeof(buf));
    p = strstr(buf, "\"sum\":");
    assert_non_null(p);
    p += strlen("\"sum\":");
    n = strcspn(p, ",}");
    assert_true(n < out_len);
    memcpy(out, p, n);
    out[n] = '\0';
}

static void assert_number_text(double v, const char *expected)
{
    char text[64];

    number_text(v, text, sizeof(text));
    assert_string_equal(text, expected);
}

static void test_encoder_numbers_shortest_round_trip(void **state)
{
    (void)state;
    assert_number_text(0.1, "0.1");
    assert_number_text(1e-300, "1e-300");
    assert_number_text(-0.0, "-0");
    assert_number_text(0.0, "0");
    assert_number_text(1e21, "1e+21");
    assert_number_text(123456789012345678.0, "1.2345678901234568e+17");
    assert_number_text(1.0 / 3.0, "0.3333333333333333");
    assert_number_text(63.5 / 3.0, "21.166666666666668");
    assert_number_text(-2.5, "-2.5");
    /* Integers print as digits up to 2^53; beyond that %g decides (digits while they fit). */
    assert_number_text(9007199254740992.0, "9007199254740992");
    assert_number_text(-9007199254740992.0, "-9007199254740992");
    assert_number_text(9007199254740994.0, "9007199254740994");
    assert_number_text(18014398509481984.0, "18014398509481984");
    assert_number_text(1e17, "1e+17");
    assert_number_text(1e15, "1000000000000000");
    assert_number_text(5e-324, "4.94065645841247e-324");
    assert_number_text(1.7976931348623157e308, "1.7976931348623157e+308");
    /* Decode drops non-finite values, but the encoder must still emit valid JSON. */
    assert_number_text(NAN, "null");
    assert_number_text(INFINITY, "null");
    assert_number_text(-INFINITY, "null");
}

static void test_encoder_numbers_round_trip_random_bits(void **state)
{
    uint64_t x = 0x9e3779b97f4a7c15u;
    char text[64];
    int checked = 0;

    (void)state;
    /* Arbitrary bit patterns reach subnormals, huge exponents and 17-digit mantissas. */
    for (int i = 0; i < 20000; i++) {
        double v;
        double back;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(&v, &x, sizeof(v));
        if (!isfinite(v))
            continue;
        number_text(v, text, sizeof(text));
        back = strtod(text, NULL);
        assert_memory_equal(&back, &v, sizeof(v));
        checked++;
    }
    assert_true(checked > 19000);
}

static void snapshot_equal(const struct wr_encoder *a, const struct wr_encoder *b)
{
    assert_ptr_equal(a->buf, b->buf);
    assert_int_equal(a->cap, b->cap);
    assert_int_equal(a->len, b->len);
    assert_ptr_equal(a->agent_id, b->agent_id);
    assert_int_equal(a->open_stream, b->open_stream);
    assert_int_equal(a->open_size_s, b->open_size_s);
    assert_int_equal(a->n_results, b->n_results);
}

static void test_encoder_toobig_leaves_state_unchanged(void **state)
{
    struct wr_encoder enc;
    struct wr_encoder before;
    struct wr_result r = make_result(3, 60, 1700000000000, 0, "device-with-a-longer-key");
    char buf[300];
    char copy[300];
    size_t len = 0;
    int added = 0;
    int rc;
    cJSON *root;
    cJSON *group;

    (void)state;
    set_agg(&r, 5, 1.5, -1e-7, 123.456, 0.3);
    assert_int_equal(wr_encoder_begin(&enc, buf, sizeof(buf), "gw-1", 1, 2), WR_OK);
    for (;;) {
        before = enc;
        memcpy(copy, buf, sizeof(buf));
        r.revision = (uint32_t)added;
        rc = wr_encoder_add(&enc, "stream", WR_AGG_ALL, &r);
        if (rc != WR_OK)
            break;
        added++;
    }
    assert_int_equal(rc, WR_E_TOOBIG);
    assert_true(added >= 1);
    snapshot_equal(&enc, &before);
    assert_memory_equal(buf, copy, enc.len + 1);
    assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
    assert_true(len < sizeof(buf));
    assert_int_equal(buf[len], '\0');

    root = cJSON_Parse(buf);
    assert_non_null(root);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(root, "v")->valuedouble, 1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "agent")->valuestring, "gw-1");
    group = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "groups"), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(group, "stream")->valuestring, "stream");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(group, "results")), added);
    cJSON_Delete(root);
}

/*
 * Every capacity from 0 up to the full message: begin either fits or says
 * TOOBIG, adds stop at the first TOOBIG, finish always succeeds and the result
 * is valid JSON holding exactly the accepted results. This covers a failure at
 * each byte position, including inside the group header and the closing bytes.
 */
static void test_encoder_every_capacity_yields_valid_json(void **state)
{
    struct wr_result rs[4];
    const char *names[] = {"t", "t", "h\"", "t"};
    char full[1024];
    size_t full_len = 0;
    struct wr_encoder enc;

    (void)state;
    rs[0] = make_result(0, 60, 60000, 0, "a");
    rs[1] = make_result(0, 60, 60000, 2, "b\n");
    rs[2] = make_result(1, 60, 120000, 0, "a");
    rs[3] = make_result(0, 600, 600000, 0, "a");
    for (int i = 0; i < 4; i++)
        set_agg(&rs[i], (uint64_t)i + 1, 0.1 * i, -3.25, 1e21, 2.0 / 3.0);

    assert_int_equal(wr_encoder_begin(&enc, full, sizeof(full), "gw", 9, 1), WR_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(wr_encoder_add(&enc, names[i], WR_AGG_ALL, &rs[i]), WR_OK);
    assert_int_equal(wr_encoder_finish(&enc, &full_len), WR_OK);

    for (size_t cap = 0; cap <= full_len + 1; cap++) {
        char *buf = malloc(cap == 0 ? 1 : cap);
        size_t len = 0;
        int added = 0;
        int rc;
        cJSON *root;
        cJSON *groups;
        cJSON *g;
        int total = 0;

        assert_non_null(buf);
        rc = wr_encoder_begin(&enc, buf, cap, "gw", 9, 1);
        if (rc != WR_OK) {
            assert_int_equal(rc, WR_E_TOOBIG);
            free(buf);
            continue;
        }
        while (added < 4 && wr_encoder_add(&enc, names[added], WR_AGG_ALL, &rs[added]) == WR_OK)
            added++;
        assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
        assert_true(len < cap);
        assert_int_equal(strlen(buf), len);
        /* With room for everything the output is the full message, byte for byte. */
        if (cap == full_len + 1) {
            assert_int_equal(added, 4);
            assert_string_equal(buf, full);
        }
        root = cJSON_Parse(buf);
        assert_non_null(root);
        groups = cJSON_GetObjectItemCaseSensitive(root, "groups");
        cJSON_ArrayForEach(g, groups)
        {
            total += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(g, "results"));
        }
        assert_int_equal(total, added);
        cJSON_Delete(root);
        free(buf);
    }
}

static void test_encoder_invalid_arguments(void **state)
{
    struct wr_encoder enc;
    struct wr_result r = make_result(0, 60, 0, 0, "k");
    char buf[256];
    size_t len;

    (void)state;
    assert_int_equal(wr_encoder_begin(NULL, buf, sizeof(buf), "a", 0, 0), WR_E_INVAL);
    assert_int_equal(wr_encoder_begin(&enc, NULL, sizeof(buf), "a", 0, 0), WR_E_INVAL);
    assert_int_equal(wr_encoder_begin(&enc, buf, sizeof(buf), NULL, 0, 0), WR_E_INVAL);
    assert_int_equal(wr_encoder_begin(&enc, buf, 10, "a", 0, 0), WR_E_TOOBIG);
    /* A caller that ignores the failed begin gets refusals, not a write through garbage. */
    assert_int_equal(wr_encoder_add(&enc, "s", 0, &r), WR_E_INVAL);
    assert_int_equal(wr_encoder_finish(&enc, &len), WR_E_INVAL);
    assert_int_equal(wr_encoder_begin(&enc, buf, sizeof(buf), "a", 0, 0), WR_OK);
    assert_int_equal(wr_encoder_add(NULL, "s", 0, &r), WR_E_INVAL);
    assert_int_equal(wr_encoder_add(&enc, NULL, 0, &r), WR_E_INVAL);
    assert_int_equal(wr_encoder_add(&enc, "s", 0, NULL), WR_E_INVAL);
    assert_int_equal(wr_encoder_finish(NULL, &len), WR_E_INVAL);
    assert_int_equal(wr_encoder_finish(&enc, NULL), WR_E_INVAL);
}

static void test_idempotency_key_pinned_value(void **state)
{
    struct wr_result r = make_result(0, 60, 1700000040000, 0, "dev1");
    char id[17];

    (void)state;
    /* FNV-1a 64 of "gw-1\0temp\0dev1\0001700000040000\00060\0000", computed independently. */
    wr_encode_idempotency_key("gw-1", "temp", &r, id);
    assert_string_equal(id, "05c7d76e239dc99d");
    r.revision = 1;
    snprintf(r.key, sizeof(r.key), "dev2");
    wr_encode_idempotency_key("gw-1", "temp", &r, id);
    assert_string_equal(id, "ccf912ab44839755");
}

static void test_idempotency_key_differs_per_field(void **state)
{
    struct wr_result base = make_result(2, 60, 1700000040000, 3, "dev1");
    struct wr_result r;
    char ref[17];
    char id[17];

    (void)state;
    wr_encode_idempotency_key("gw-1", "temp", &base, ref);
    assert_int_equal(strlen(ref), 16);
    assert_int_equal(strspn(ref, "0123456789abcdef"), 16);

    /* The stream index is not part of the key: the name is. */
    r = base;
    r.stream = 5;
    wr_encode_idempotency_key("gw-1", "temp", &r, id);
    assert_string_equal(id, ref);

    wr_encode_idempotency_key("gw-2", "temp", &base, id);
    assert_string_not_equal(id, ref);
    wr_encode_idempotency_key("gw-1", "temp2", &base, id);
    assert_string_not_equal(id, ref);
    r = base;
    snprintf(r.key, sizeof(r.key), "dev2");
    wr_encode_idempotency_key("gw-1", "temp", &r, id);
    assert_string_not_equal(id, ref);
    r = base;
    r.start_ms += 60000;
    wr_encode_idempotency_key("gw-1", "temp", &r, id);
    assert_string_not_equal(id, ref);
    r = base;
    r.size_s = 300;
    wr_encode_idempotency_key("gw-1", "temp", &r, id);
    assert_string_not_equal(id, ref);
    r = base;
    r.revision = 4;
    wr_encode_idempotency_key("gw-1", "temp", &r, id);
    assert_string_not_equal(id, ref);

    /* Separators keep moved boundaries apart: ("gw-1t", "emp") is not ("gw-1", "temp"). */
    wr_encode_idempotency_key("gw-1t", "emp", &base, id);
    assert_string_not_equal(id, ref);
    /* Without separators start 17000000400006 + size 0 would read like start + size 60. */
    r = base;
    r.start_ms = 17000000400006;
    r.size_s = 0;
    wr_encode_idempotency_key("gw-1", "temp", &r, id);
    assert_string_not_equal(id, ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoder_exact_small_batch),
        cmocka_unit_test(test_encoder_empty_batch),
        cmocka_unit_test(test_encoder_groups_by_stream_and_size),
        cmocka_unit_test(test_encoder_aggregate_mask_selects_fields),
        cmocka_unit_test(test_encoder_escapes_strings),
        cmocka_unit_test(test_encoder_unterminated_key_is_bounded),
        cmocka_unit_test(test_encoder_numbers_shortest_round_trip),
        cmocka_unit_test(test_encoder_numbers_round_trip_random_bits),
        cmocka_unit_test(test_encoder_toobig_leaves_state_unchanged),
        cmocka_unit_test(test_encoder_every_capacity_yields_valid_json),
        cmocka_unit_test(test_encoder_invalid_arguments),
        cmocka_unit_test(test_idempotency_key_pinned_value),
        cmocka_unit_test(test_idempotency_key_differs_per_field),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
