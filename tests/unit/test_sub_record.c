/* The subscription record: format, parse (every corruption case), path, load and save. */
#define _XOPEN_SOURCE 700
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plat_file.h"
#include "plat_mem.h"
#include "plat_sig.h"
#include "sub_record.h"
#include "wr_error.h"

#define URI "tcp://127.0.0.1:1883"
#define CID "windrow-gw"
#define HEAD "windrow-subscriptions 1\nuri " URI "\nclient_id " CID "\n"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    wr_test_alloc_install();
    return wr_test_tmpdir(dir, sizeof(dir), "wr-test-subrec");
}

static int teardown(void **state)
{
    (void)state;
    wr_test_rmtree(dir);
    wr_test_alloc_uninstall();
    return 0;
}

/* body + a correct end line for n filters. */
static char *seal(const char *body, size_t n)
{
    char hash[PLAT_SIG_SHA256_HEX_LEN];
    size_t len = strlen(body);
    char *out = malloc(len + 100);

    plat_sig_sha256_hex(body, len, hash);
    snprintf(out, len + 100, "%send %zu %s\n", body, n, hash);
    return out;
}

static int parse(const char *text, struct wr_sub_record *rec, char *why, size_t why_len)
{
    return wr_sub_record_parse(text, strlen(text), rec, why, why_len);
}

/* The parse fails as corrupt and why contains want. */
static void expect_corrupt(const char *text, const char *want)
{
    struct wr_sub_record rec;
    char why[160];

    assert_int_equal(parse(text, &rec, why, sizeof(why)), WR_E_CORRUPT);
    if (strstr(why, want) == NULL)
        fail_msg("why = \"%s\", expected it to contain \"%s\"", why, want);
    assert_int_equal(rec.n_filters, 0);
    assert_null(rec.filters);
}

static void expect_sealed_corrupt(const char *body, size_t n, const char *want)
{
    char *text = seal(body, n);

    expect_corrupt(text, want);
    free(text);
}

static void test_sub_record_format_pinned(void **state)
{
    struct wr_sub_record rec;
    char *text = NULL;
    char *want;
    size_t len = 0;

    (void)state;
    assert_int_equal(wr_sub_record_init(&rec, URI, CID), WR_OK);
    assert_int_equal(wr_sub_record_add(&rec, "sensors/+/temperature"), WR_OK);
    assert_int_equal(wr_sub_record_add(&rec, "plant hall/100%/#"), WR_OK);
    assert_int_equal(wr_sub_record_format(&rec, &text, &len), WR_OK);
    want = seal(HEAD "filter sensors/+/temperature\nfilter plant%20hall/100%25/#\n", 2);
    assert_string_equal(text, want);
    assert_int_equal(len, strlen(want));
    free(want);
    plat_free(text);
    wr_sub_record_clear(&rec);
}

static void test_sub_record_round_trip_escapes(void **state)
{
    static const char *const filters[] = {"a b/#", "t\x01/+", "\xc3\xa9t\xc3\xa9/%41",
                                          "x\x7f", "+/+/+",   "#"};
    struct wr_sub_record rec;
    struct wr_sub_record back;
    char why[160];
    char *text = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(wr_sub_record_init(&rec, "tcp://h:1 x", "id with\ttab%"), WR_OK);
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
        assert_int_equal(wr_sub_record_add(&rec, filters[i]), WR_OK);
    assert_int_equal(wr_sub_record_format(&rec, &text, &len), WR_OK);
    /* Every value is one word: no raw space, tab or control byte after the keyword. */
    assert_null(strstr(text, "a b"));
    assert_null(strchr(text, '\t'));
    assert_int_equal(wr_sub_record_parse(text, len, &back, why, sizeof(why)), WR_OK);
    assert_string_equal(back.uri, "tcp://h:1 x");
    assert_string_equal(back.client_id, "id with\ttab%");
    assert_int_equal(back.n_filters, rec.n_filters);
    for (size_t i = 0; i < rec.n_filters; i++)
        assert_string_equal(back.filters[i], filters[i]);
    assert_true(wr_sub_record_same_filters(&rec, &back));
    plat_free(text);
    wr_sub_record_clear(&rec);
    wr_sub_record_clear(&back);
}

static void test_sub_record_empty_round_trip(void **state)
{
    struct wr_sub_record rec;
    struct wr_sub_record back;
    char why[160];
    char *text = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(wr_sub_record_init(&rec, URI, CID), WR_OK);
    assert_int_equal(wr_sub_record_format(&rec, &text, &len), WR_OK);
    assert_int_equal(wr_sub_record_parse(text, len, &back, why, sizeof(why)), WR_OK);
    assert_int_equal(back.n_filters, 0);
    plat_free(text);
    wr_sub_record_clear(&back);
}

static void test_sub_record_parse_duplicates_taken_once(void **state)
{
    struct wr_sub_record rec;
    char why[160];
    char *text = seal(HEAD "filter a/#\nfilter b/+\nfilter a/#\n", 3);

    (void)state;
    assert_int_equal(parse(text, &rec, why, sizeof(why)), WR_OK);
    assert_int_equal(rec.n_filters, 2);
    assert_string_equal(rec.filters[0], "a/#");
    assert_string_equal(rec.filters[1], "b/+");
    wr_sub_record_clear(&rec);
    free(text);
}

static void test_sub_record_parse_not_a_record(void **state)
{
    (void)state;
    expect_corrupt("", "line 1: not a subscription record");
    expect_corrupt("windrow-subscriptions 1", "line 1: not a subscription record");
    expect_corrupt("{\"filters\": []}\n", "line 1: not a subscription record");
    expect_corrupt("windrow-subscriptions 2\nuri x\n", "line 1: not a subscription record");
}

static void test_sub_record_parse_missing_identity(void **state)
{
    (void)state;
    expect_corrupt("windrow-subscriptions 1\n", "line 2: expected \"uri\"");
    expect_corrupt("windrow-subscriptions 1\nclient_id x\n", "line 2: expected \"uri\"");
    expect_corrupt("windrow-subscriptions 1\nuri x\nfilter a\n", "line 3: expected \"client_id\"");
    expect_corrupt("windrow-subscriptions 1\nurix\n", "line 2: expected \"uri\"");
}

static void test_sub_record_parse_bad_escapes(void **state)
{
    (void)state;
    expect_sealed_corrupt(HEAD "filter a%G1\n", 1, "line 4: filter: bad %-escape");
    expect_sealed_corrupt(HEAD "filter a%4\n", 1, "line 4: filter: bad %-escape");
    expect_sealed_corrupt(HEAD "filter a%00b\n", 1, "line 4: filter: contains NUL");
    expect_sealed_corrupt(HEAD "filter a b\n", 1, "line 4: filter: unescaped byte 0x20");
    expect_sealed_corrupt(HEAD "filter a\rb\n", 1, "line 4: filter: unescaped byte 0x0d");
    expect_sealed_corrupt("windrow-subscriptions 1\nuri a\x01\nclient_id x\n", 0,
                          "line 2: uri: unescaped byte 0x01");
}

static void test_sub_record_parse_invalid_filter(void **state)
{
    char body[1024];

    (void)state;
    expect_sealed_corrupt(HEAD "filter a/#/b\n", 1,
                          "line 4: filter: not a valid MQTT topic filter");
    expect_sealed_corrupt(HEAD "filter a+/b\n", 1, "line 4: filter: not a valid MQTT topic filter");
    /* "filter " and nothing: an empty filter. */
    expect_sealed_corrupt(HEAD "filter \n", 1, "line 4: filter: not a valid MQTT topic filter");
    snprintf(body, sizeof(body), HEAD "filter %0300d\n", 7);
    expect_sealed_corrupt(body, 1, "line 4: filter: longer than 255 bytes");
}

static void test_sub_record_parse_cut_short(void **state)
{
    char *text = seal(HEAD "filter a/#\nfilter b/#\n", 2);

    (void)state;
    expect_corrupt(HEAD "filter a/#\n", "line 5: missing end line");
    expect_corrupt(HEAD, "line 4: missing end line");
    /* The end line without its newline. */
    text[strlen(text) - 1] = '\0';
    expect_corrupt(text, "line 6: missing end line");
    /* A filter line lost before the end line. */
    free(text);
    text = seal(HEAD "filter a/#\n", 2);
    expect_corrupt(text, "line 5: end: says 2 filter(s), the record has 1");
    free(text);
}

static void test_sub_record_parse_checksum_and_trailer(void **state)
{
    char *text = seal(HEAD "filter a/#\n", 1);
    char *at;

    (void)state;
    /* One flipped byte in a filter. */
    at = strstr(text, "a/#");
    at[0] = 'b';
    expect_corrupt(text, "line 5: end: checksum does not match");
    free(text);
    expect_corrupt(HEAD "filter a/#\nend 1 0123\n", "line 5: end: expected");
    expect_corrupt(HEAD "filter a/#\nend 1\n", "line 5: end: expected");
    expect_corrupt(HEAD "filter a/#\nstop\n", "line 5: expected \"end\"");
    text = seal(HEAD "filter a/#\n", 1);
    text[strlen(text) - 1] = ' ';
    strcat(text, "x\n");
    expect_corrupt(text, "line 5: end: expected");
    free(text);
    text = seal(HEAD "filter a/#\n", 1);
    text = realloc(text, strlen(text) + 16);
    strcat(text, "filter b/#\n");
    expect_corrupt(text, "text after the end line");
    free(text);
}

static void test_sub_record_parse_too_many_filters(void **state)
{
    size_t cap = (WR_SUB_RECORD_MAX_FILTERS + 2) * 16 + 256;
    char *body = malloc(cap);
    char *text;
    size_t used;

    (void)state;
    used = (size_t)snprintf(body, cap, "%s", HEAD);
    for (unsigned i = 0; i <= WR_SUB_RECORD_MAX_FILTERS; i++)
        used += (size_t)snprintf(body + used, cap - used, "filter f/%u\n", i);
    text = seal(body, WR_SUB_RECORD_MAX_FILTERS + 1);
    expect_corrupt(text, "more than 1024 filters");
    free(text);
    free(body);
}

static void test_sub_record_parse_rejects_null(void **state)
{
    struct wr_sub_record rec;
    char why[16];

    (void)state;
    assert_int_equal(wr_sub_record_parse(NULL, 0, &rec, why, sizeof(why)), WR_E_INVAL);
    assert_int_equal(wr_sub_record_parse("x", 1, NULL, why, sizeof(why)), WR_E_INVAL);
    assert_int_equal(wr_sub_record_parse("x", 1, &rec, NULL, 0), WR_E_INVAL);
}

static void test_sub_record_parse_alloc_failures(void **state)
{
    char *text = seal(HEAD "filter a/#\nfilter b/#\nfilter c/#\n", 3);
    struct wr_sub_record rec;
    char why[160];
    int rc;

    (void)state;
    for (long n = 1;; n++) {
        wr_test_alloc_fail_at(n);
        rc = parse(text, &rec, why, sizeof(why));
        if (rc == WR_OK)
            break;
        assert_int_equal(rc, WR_E_NOMEM);
        assert_int_equal(rec.n_filters, 0);
    }
    wr_test_alloc_fail_at(0);
    assert_int_equal(rec.n_filters, 3);
    wr_sub_record_clear(&rec);
    free(text);
}

static void test_sub_record_add_and_compare(void **state)
{
    struct wr_sub_record a;
    struct wr_sub_record b;
    char long_filter[WR_CFG_STR_MAX + 1];

    (void)state;
    assert_int_equal(wr_sub_record_init(&a, URI, CID), WR_OK);
    assert_int_equal(wr_sub_record_init(&b, URI, CID), WR_OK);
    assert_int_equal(wr_sub_record_add(&a, "a/#"), WR_OK);
    assert_int_equal(wr_sub_record_add(&a, "b/+"), WR_OK);
    assert_int_equal(wr_sub_record_add(&a, "a/#"), WR_OK);
    assert_int_equal(a.n_filters, 2);
    assert_int_equal(wr_sub_record_add(&a, "a/#/b"), WR_E_INVAL);
    assert_int_equal(wr_sub_record_add(&a, ""), WR_E_INVAL);
    assert_int_equal(wr_sub_record_add(&a, NULL), WR_E_INVAL);
    memset(long_filter, 'x', WR_CFG_STR_MAX);
    long_filter[WR_CFG_STR_MAX] = '\0';
    assert_int_equal(wr_sub_record_add(&a, long_filter), WR_E_INVAL);
    assert_false(wr_sub_record_same_filters(&a, &b));
    assert_int_equal(wr_sub_record_add(&b, "b/+"), WR_OK);
    assert_false(wr_sub_record_same_filters(&a, &b));
    assert_int_equal(wr_sub_record_add(&b, "a/#"), WR_OK);
    assert_true(wr_sub_record_same_filters(&a, &b));
    /* MQTT names subscriptions byte for byte: "a/#" is not "a/+". */
    assert_false(wr_sub_record_has(&a, "a/+"));
    wr_sub_record_clear(&a);
    wr_sub_record_clear(&b);
    wr_sub_record_clear(NULL);
    assert_int_equal(wr_sub_record_init(&a, long_filter, CID), WR_E_INVAL);
}

static void test_sub_record_add_full(void **state)
{
    struct wr_sub_record rec;
    char f[32];

    (void)state;
    assert_int_equal(wr_sub_record_init(&rec, URI, CID), WR_OK);
    for (unsigned i = 0; i < WR_SUB_RECORD_MAX_FILTERS; i++) {
        snprintf(f, sizeof(f), "f/%u", i);
        assert_int_equal(wr_sub_record_add(&rec, f), WR_OK);
    }
    assert_int_equal(wr_sub_record_add(&rec, "one/more"), WR_E_FULL);
    /* One already in is still fine. */
    assert_int_equal(wr_sub_record_add(&rec, "f/7"), WR_OK);
    wr_sub_record_clear(&rec);
}

static void test_sub_record_path_names_the_session(void **state)
{
    char p1[WR_SUB_RECORD_PATH_MAX];
    char p2[WR_SUB_RECORD_PATH_MAX];
    char small[20];

    (void)state;
    assert_int_equal(wr_sub_record_path("/var/lib/windrow", URI, CID, p1, sizeof(p1)), WR_OK);
    assert_int_equal(strncmp(p1, "/var/lib/windrow/source-subscriptions-", 38), 0);
    assert_int_equal(strlen(p1), 38 + 16);
    assert_int_equal(wr_sub_record_path("/var/lib/windrow", URI, CID, p2, sizeof(p2)), WR_OK);
    assert_string_equal(p1, p2);
    assert_int_equal(wr_sub_record_path("/var/lib/windrow", URI, "other", p2, sizeof(p2)), WR_OK);
    assert_string_not_equal(p1, p2);
    assert_int_equal(wr_sub_record_path("/var/lib/windrow", "tcp://h:2", CID, p2, sizeof(p2)),
                     WR_OK);
    assert_string_not_equal(p1, p2);
    /* The separator keeps the two parts apart. */
    assert_int_equal(wr_sub_record_path("/d", "ab", "c", p1, sizeof(p1)), WR_OK);
    assert_int_equal(wr_sub_record_path("/d", "a", "bc", p2, sizeof(p2)), WR_OK);
    assert_string_not_equal(p1, p2);
    assert_int_equal(wr_sub_record_path("/var/lib/windrow", URI, CID, small, sizeof(small)),
                     WR_E_INVAL);
    assert_int_equal(wr_sub_record_path(NULL, URI, CID, p1, sizeof(p1)), WR_E_INVAL);
}

static void test_sub_record_save_and_load(void **state)
{
    char state_dir[128];
    char path[WR_SUB_RECORD_PATH_MAX];
    struct wr_sub_record rec;
    struct wr_sub_record back;

    (void)state;
    /* The state dir does not exist yet: save makes it. */
    snprintf(state_dir, sizeof(state_dir), "%s/state/deeper", dir);
    assert_int_equal(wr_sub_record_path(state_dir, URI, CID, path, sizeof(path)), WR_OK);
    assert_int_equal(wr_sub_record_load(path, URI, CID, &back), WR_E_NOTFOUND);
    assert_int_equal(back.n_filters, 0);
    wr_sub_record_clear(&back);
    assert_int_equal(wr_sub_record_init(&rec, URI, CID), WR_OK);
    assert_int_equal(wr_sub_record_add(&rec, "a/#"), WR_OK);
    assert_int_equal(wr_sub_record_add(&rec, "b c/+"), WR_OK);
    assert_int_equal(wr_sub_record_save(state_dir, path, &rec), WR_OK);
    assert_int_equal(wr_sub_record_load(path, URI, CID, &back), WR_OK);
    assert_true(wr_sub_record_same_filters(&rec, &back));
    wr_sub_record_clear(&back);
    /* Read as another session's: not taken, moved aside. */
    assert_int_equal(wr_sub_record_load(path, URI, "someone-else", &back), WR_E_CORRUPT);
    assert_int_equal(back.n_filters, 0);
    assert_string_equal(back.client_id, "someone-else");
    wr_sub_record_clear(&back);
    assert_false(plat_file_exists(path));
    {
        char aside[WR_SUB_RECORD_PATH_MAX + 16];

        snprintf(aside, sizeof(aside), "%s.corrupt", path);
        assert_true(plat_file_exists(aside));
    }
    wr_sub_record_clear(&rec);
}

static void test_sub_record_load_corrupt_moved_aside(void **state)
{
    char path[WR_SUB_RECORD_PATH_MAX];
    char aside[WR_SUB_RECORD_PATH_MAX + 16];
    struct wr_sub_record back;
    static const char junk[] = HEAD "filter a/#\nend 1 deadbeef\n";

    (void)state;
    assert_int_equal(wr_sub_record_path(dir, URI, CID, path, sizeof(path)), WR_OK);
    assert_int_equal(plat_file_write_atomic(path, junk, sizeof(junk) - 1), WR_OK);
    assert_int_equal(wr_sub_record_load(path, URI, CID, &back), WR_E_CORRUPT);
    assert_int_equal(back.n_filters, 0);
    wr_sub_record_clear(&back);
    snprintf(aside, sizeof(aside), "%s.corrupt", path);
    assert_true(plat_file_exists(aside));
    assert_false(plat_file_exists(path));
    /* A record larger than any the agent writes is corrupt too, not read. */
    {
        size_t big = WR_SUB_RECORD_MAX_BYTES + 1;
        char *data = calloc(1, big);

        memset(data, 'f', big);
        assert_int_equal(plat_file_write_atomic(path, data, big), WR_OK);
        free(data);
    }
    assert_int_equal(wr_sub_record_load(path, URI, CID, &back), WR_E_CORRUPT);
    wr_sub_record_clear(&back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sub_record_format_pinned),
        cmocka_unit_test(test_sub_record_round_trip_escapes),
        cmocka_unit_test(test_sub_record_empty_round_trip),
        cmocka_unit_test(test_sub_record_parse_duplicates_taken_once),
        cmocka_unit_test(test_sub_record_parse_not_a_record),
        cmocka_unit_test(test_sub_record_parse_missing_identity),
        cmocka_unit_test(test_sub_record_parse_bad_escapes),
        cmocka_unit_test(test_sub_record_parse_invalid_filter),
        cmocka_unit_test(test_sub_record_parse_cut_short),
        cmocka_unit_test(test_sub_record_parse_checksum_and_trailer),
        cmocka_unit_test(test_sub_record_parse_too_many_filters),
        cmocka_unit_test(test_sub_record_parse_rejects_null),
        cmocka_unit_test(test_sub_record_parse_alloc_failures),
        cmocka_unit_test(test_sub_record_add_and_compare),
        cmocka_unit_test(test_sub_record_add_full),
        cmocka_unit_test(test_sub_record_path_names_the_session),
        cmocka_unit_test(test_sub_record_save_and_load),
        cmocka_unit_test(test_sub_record_load_corrupt_moved_aside),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
