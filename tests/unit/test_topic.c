#include "test_support.h"

#include <stdlib.h>
#include <string.h>

#include "topic.h"

static bool match(const char *filter, const char *topic)
{
    return wr_topic_match(filter, topic, strlen(topic));
}

static void expect_invalid(const char *filter, const char *why)
{
    const char *reason = NULL;

    assert_false(wr_topic_filter_valid(filter, &reason));
    assert_non_null(reason);
    assert_string_equal(reason, why);
}

static void test_topic_filter_valid_accepts_spec_examples(void **state)
{
    static const char *const ok[] = {
        "a",
        "a/b/c",
        "#",
        "+",
        "+/+",
        "/",
        "//",
        "a//b",
        "/+",
        "+/",
        "a/+/c",
        "a/#",
        "+/#",
        "$SYS/#",
        "sport/tennis/+/#",
        "a b/c",
        "\xc3\xa9t\xc3\xa9",
    };
    const char *reason = "unset";

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_true(wr_topic_filter_valid(ok[i], &reason));
        assert_null(reason);
    }
    assert_true(wr_topic_filter_valid("a/b", NULL));
}

static void test_topic_filter_valid_rejects_misplaced_wildcards(void **state)
{
    (void)state;
    expect_invalid("", "empty filter");
    expect_invalid(NULL, "empty filter");
    expect_invalid("a/#/b", "'#' must be the last level");
    expect_invalid("#/a", "'#' must be the last level");
    expect_invalid("a/b#", "'#' must occupy a whole level");
    expect_invalid("a/#b", "'#' must occupy a whole level");
    expect_invalid("##", "'#' must occupy a whole level");
    expect_invalid("a+", "'+' must occupy a whole level");
    expect_invalid("a/+b/c", "'+' must occupy a whole level");
    expect_invalid("++", "'+' must occupy a whole level");
    assert_false(wr_topic_filter_valid("a/b#", NULL));
}

static void test_topic_filter_valid_length_limit(void **state)
{
    char *f = malloc(65537);

    (void)state;
    assert_non_null(f);
    memset(f, 'a', 65536);
    f[65535] = '\0';
    assert_true(wr_topic_filter_valid(f, NULL));
    f[65535] = 'a';
    f[65536] = '\0';
    expect_invalid(f, "longer than 65535 bytes");
    free(f);
}

static void test_topic_match_exact(void **state)
{
    (void)state;
    assert_true(match("a/b/c", "a/b/c"));
    assert_false(match("a/b/c", "a/b/cd"));
    assert_false(match("a/b/cd", "a/b/c"));
    assert_false(match("a/b", "a/b/c"));
    assert_false(match("a/b/c", "a/b"));
    assert_false(match("A/b", "a/b"));
    assert_true(match("/", "/"));
    assert_false(match("a", "a/"));
}

static void test_topic_match_single_level_wildcard(void **state)
{
    (void)state;
    assert_true(match("a/+/c", "a/b/c"));
    assert_true(match("a/+/c", "a//c")); /* '+' matches an empty level */
    assert_false(match("a/+/c", "a/b/x/c"));
    assert_false(match("a/+", "a"));
    assert_true(match("a/+", "a/"));
    assert_true(match("+", "a"));
    assert_false(match("+", "a/b"));
    assert_false(match("+", "/"));
    assert_true(match("+/+", "/"));
    assert_true(match("/+", "/x"));
    assert_false(match("/+", "x"));
    assert_true(match("+/+/+", "a/b/c"));
}

static void test_topic_match_multi_level_wildcard(void **state)
{
    (void)state;
    assert_true(match("#", "a"));
    assert_true(match("#", "a/b/c"));
    assert_true(match("#", "/"));
    assert_true(match("a/#", "a/b"));
    assert_true(match("a/#", "a/b/c/d"));
    assert_true(match("a/#", "a")); /* the parent level matches too */
    assert_true(match("a/#", "a/"));
    assert_false(match("a/#", "ab"));
    assert_false(match("a/#", "b/a"));
    assert_true(match("a/+/#", "a/b"));
    assert_true(match("a/+/#", "a/b/c"));
    assert_false(match("a/+/#", "a"));
    assert_true(match("sport/tennis/player1/#", "sport/tennis/player1"));
    assert_true(match("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
}

static void test_topic_match_dollar_topics(void **state)
{
    (void)state;
    assert_false(match("#", "$SYS/broker/uptime"));
    assert_false(match("+/broker/uptime", "$SYS/broker/uptime"));
    assert_false(match("+", "$SYS"));
    assert_true(match("$SYS/#", "$SYS/broker/uptime"));
    assert_true(match("$SYS/#", "$SYS"));
    assert_true(match("$SYS/+/uptime", "$SYS/broker/uptime"));
    /* Only a leading '$' is special. */
    assert_true(match("a/+", "a/$x"));
    assert_true(match("#", "a/$x"));
}

static void test_topic_match_empty_levels(void **state)
{
    (void)state;
    assert_true(match("a//b", "a//b"));
    assert_false(match("a/b", "a//b"));
    assert_true(match("//", "//"));
    assert_true(match("+/+/+", "//"));
    assert_false(match("+/+", "//"));
    assert_true(match("/#", "/a"));
    assert_true(match("/#", "/"));
    assert_false(match("/#", "a"));
}

static void test_topic_match_length_delimited(void **state)
{
    /* Topics arrive unterminated: only topic_len bytes belong to the topic. */
    const char buf[] = {'a', '/', 'b', '/', 'c', 'X', 'Y'};

    (void)state;
    assert_true(wr_topic_match("a/b/c", buf, 5));
    assert_false(wr_topic_match("a/b/cX", buf, 5));
    assert_true(wr_topic_match("a/b", buf, 3));
    assert_true(wr_topic_match("a/#", buf, 1));
    assert_true(wr_topic_match("a/+", buf, 3));
    assert_false(wr_topic_match("a/+/c", buf, 4));
    assert_true(wr_topic_match("a/+/+", buf, 4));
    assert_true(wr_topic_match("a/b/cXY", buf, sizeof(buf)));
}

static void test_topic_match_rejects_invalid_input(void **state)
{
    (void)state;
    assert_false(match("a/#/b", "a/x/b"));
    assert_false(match("a/b#", "a/b#"));
    assert_false(match("a+/b", "a+/b"));
    assert_false(match("", ""));
    assert_false(match("#", ""));
    assert_false(wr_topic_match(NULL, "a", 1));
    assert_false(wr_topic_match("a", NULL, 1));
    /* A topic name never contains wildcards or NUL. */
    assert_false(match("+", "+"));
    assert_false(match("#", "a/#"));
    assert_false(wr_topic_match("#", "a\0b", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_filter_valid_accepts_spec_examples),
        cmocka_unit_test(test_topic_filter_valid_rejects_misplaced_wildcards),
        cmocka_unit_test(test_topic_filter_valid_length_limit),
        cmocka_unit_test(test_topic_match_exact),
        cmocka_unit_test(test_topic_match_single_level_wildcard),
        cmocka_unit_test(test_topic_match_multi_level_wildcard),
        cmocka_unit_test(test_topic_match_dollar_topics),
        cmocka_unit_test(test_topic_match_empty_levels),
        cmocka_unit_test(test_topic_match_length_delimited),
        cmocka_unit_test(test_topic_match_rejects_invalid_input),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
