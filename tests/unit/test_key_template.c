#include "test_support.h"

#include <string.h>

#include "key_template.h"
#include "wr_error.h"

static int expand(const char *tmpl, const char *topic, const char *name, char *out, size_t n)
{
    return wr_key_template_expand(tmpl, topic, strlen(topic), name, out, n);
}

static void expect_expansion(const char *tmpl, const char *topic, const char *name,
                             const char *want)
{
    char out[128];

    memset(out, 'Z', sizeof(out));
    assert_int_equal(expand(tmpl, topic, name, out, sizeof(out)), WR_OK);
    assert_string_equal(out, want);
}

static void expect_invalid(const char *tmpl, const char *why)
{
    const char *reason = NULL;
    char out[64];

    assert_false(wr_key_template_valid(tmpl, &reason));
    assert_non_null(reason);
    assert_string_equal(reason, why);
    /* The expander agrees with the validator. */
    out[0] = 'Z';
    if (tmpl != NULL) {
        assert_int_equal(expand(tmpl, "a/b", "n", out, sizeof(out)), WR_E_INVAL);
        assert_string_equal(out, "");
    }
}

static void test_key_template_valid_forms(void **state)
{
    static const char *const ok[] = {
        "{topic}", "{topic[0]}", "{topic[31]}",       "{name}",    "const",       "{{",
        "}}",      "{{topic}}",  "{topic[1]}/{name}", "a{topic}b", "{topic[09]}",
    };
    const char *reason = "unset";

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_true(wr_key_template_valid(ok[i], &reason));
        assert_null(reason);
    }
    assert_true(wr_key_template_valid("{topic}", NULL));
}

static void test_key_template_invalid_forms(void **state)
{
    (void)state;
    expect_invalid("", "empty template");
    expect_invalid(NULL, "empty template");
    expect_invalid("{topic", "unterminated '{' (write '{{' for a literal brace)");
    expect_invalid("abc{", "unterminated '{' (write '{{' for a literal brace)");
    expect_invalid("a}b", "'}' outside a placeholder must be written '}}'");
    expect_invalid("{topic}}", "'}' outside a placeholder must be written '}}'");
    expect_invalid("{device}", "unknown placeholder (expected {topic}, {topic[N]} or {name})");
    expect_invalid("{}", "unknown placeholder (expected {topic}, {topic[N]} or {name})");
    expect_invalid("{Topic}", "unknown placeholder (expected {topic}, {topic[N]} or {name})");
    expect_invalid("{topic[]}", "unknown placeholder (expected {topic}, {topic[N]} or {name})");
    expect_invalid("{topic[32]}", "topic level must be a number from 0 to 31");
    expect_invalid("{topic[100]}", "topic level must be a number from 0 to 31");
    expect_invalid("{topic[-1]}", "topic level must be a number from 0 to 31");
    expect_invalid("{topic[1 ]}", "topic level must be a number from 0 to 31");
    expect_invalid("{topic[x]}", "topic level must be a number from 0 to 31");
}

static void test_key_template_expand_placeholders(void **state)
{
    (void)state;
    expect_expansion("{topic}", "plant/line2/temp", NULL, "plant/line2/temp");
    expect_expansion("{topic[0]}", "plant/line2/temp", NULL, "plant");
    expect_expansion("{topic[1]}", "plant/line2/temp", NULL, "line2");
    expect_expansion("{topic[2]}", "plant/line2/temp", NULL, "temp");
    expect_expansion("{topic[2]}:{topic[0]}", "plant/line2/temp", NULL, "temp:plant");
    expect_expansion("{name}", "t", "dev1/temp", "dev1/temp");
    expect_expansion("{topic[1]}/{name}", "meters/m7", "kwh", "m7/kwh");
    expect_expansion("fixed", "a/b", NULL, "fixed");
}

static void test_key_template_expand_literal_braces(void **state)
{
    (void)state;
    expect_expansion("{{topic}}", "a/b", NULL, "{topic}");
    expect_expansion("{{{topic}}}", "a/b", NULL, "{a/b}");
    expect_expansion("x{{y", "a", NULL, "x{y");
    expect_expansion("}}", "a", NULL, "}");
}

static void test_key_template_expand_empty_levels(void **state)
{
    char out[16];

    (void)state;
    expect_expansion("{topic[1]}|{topic[2]}", "a//c", NULL, "|c");
    expect_expansion("<{topic[1]}>", "a/", NULL, "<>");
    /* The expansion as a whole may not be empty: that is no key. */
    assert_int_equal(expand("{topic[1]}", "a//c", NULL, out, sizeof(out)), WR_E_NOTFOUND);
    assert_int_equal(expand("{name}", "a", NULL, out, sizeof(out)), WR_E_NOTFOUND);
    assert_int_equal(expand("{name}", "a", "", out, sizeof(out)), WR_E_NOTFOUND);
    assert_string_equal(out, "");
}

static void test_key_template_expand_level_out_of_range(void **state)
{
    char out[16];

    (void)state;
    strcpy(out, "junk");
    assert_int_equal(expand("{topic[3]}", "a/b/c", NULL, out, sizeof(out)), WR_E_NOTFOUND);
    assert_string_equal(out, "");
    assert_int_equal(expand("x{topic[1]}", "abc", NULL, out, sizeof(out)), WR_E_NOTFOUND);
    assert_int_equal(expand("{topic[2]}", "a/b/c", NULL, out, sizeof(out)), WR_OK);
    assert_string_equal(out, "c");
}

static void test_key_template_expand_too_long(void **state)
{
    char out[8];

    (void)state;
    /* Seven bytes plus the NUL fit; eight do not. */
    assert_int_equal(expand("{topic}", "abc/def", NULL, out, sizeof(out)), WR_OK);
    assert_string_equal(out, "abc/def");
    assert_int_equal(expand("{topic}", "abc/defg", NULL, out, sizeof(out)), WR_E_TOOBIG);
    assert_string_equal(out, "");
    assert_int_equal(expand("1234{name}", "t", "5678", out, sizeof(out)), WR_E_TOOBIG);
    assert_int_equal(expand("12345678", "t", NULL, out, sizeof(out)), WR_E_TOOBIG);
    assert_int_equal(expand("a", "t", NULL, out, 1), WR_E_TOOBIG);
    assert_int_equal(expand("a", "t", NULL, out, 0), WR_E_TOOBIG);
}

static void test_key_template_expand_length_delimited_topic(void **state)
{
    const char buf[] = {'a', '/', 'b', 'X', '/', 'Y'};
    char out[16];

    (void)state;
    assert_int_equal(wr_key_template_expand("{topic}", buf, 3, NULL, out, sizeof(out)), WR_OK);
    assert_string_equal(out, "a/b");
    assert_int_equal(wr_key_template_expand("{topic[1]}", buf, 3, NULL, out, sizeof(out)), WR_OK);
    assert_string_equal(out, "b");
    assert_int_equal(wr_key_template_expand("{topic[2]}", buf, 4, NULL, out, sizeof(out)),
                     WR_E_NOTFOUND);
}

static void test_key_template_expand_null_arguments(void **state)
{
    char out[16];

    (void)state;
    assert_int_equal(wr_key_template_expand(NULL, "a", 1, NULL, out, sizeof(out)), WR_E_INVAL);
    assert_int_equal(wr_key_template_expand("{topic}", NULL, 0, NULL, out, sizeof(out)),
                     WR_E_INVAL);
    assert_int_equal(wr_key_template_expand("{topic}", "a", 1, NULL, NULL, 4), WR_E_INVAL);
    assert_int_equal(wr_key_template_expand("", "a", 1, NULL, out, sizeof(out)), WR_E_INVAL);
}

/*
 * A prepared template expands to exactly what the template itself does, for
 * success and failure alike, over templates, topics, names and sizes.
 */
static void test_key_template_prepared_matches_expand(void **state)
{
    static const char *const tmpls[] = {
        "{topic}",
        "{name}",
        "{topic[1]}/{name}",
        "k-{name}-{name}",
        "{topic[5]}",
        "{{{name}}}",
        "lit",
        "{topic}{topic}{name}",
        "{bogus}",
        "{topic[0]}:{name}",
        "{name}{topic[3]}",
        "0123456789012345678901234567890123456789012345678901234567890{name}",
    };
    static const char *const topics[] = {"site/dev42/temp", "", "a", "a//b/", "x/y/z/w"};
    static const char *const names[] = {"", "n", "dev1/temp", "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"};
    static const size_t sizes[] = {1, 2, 8, 20, 64};

    (void)state;
    for (size_t t = 0; t < sizeof(tmpls) / sizeof(tmpls[0]); t++) {
        for (size_t p = 0; p < sizeof(topics) / sizeof(topics[0]); p++) {
            struct wr_key_prepared kp;

            assert_int_equal(wr_key_template_prepare(tmpls[t], topics[p], strlen(topics[p]), &kp),
                             WR_OK);
            for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
                for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                    char a[64];
                    char b[64];
                    int ra = wr_key_template_expand(tmpls[t], topics[p], strlen(topics[p]),
                                                    names[n], a, sizes[s]);
                    int rb = wr_key_prepared_expand(&kp, names[n], strlen(names[n]), b, sizes[s]);

                    if ((ra == WR_OK) != (rb == WR_OK) || strcmp(a, b) != 0)
                        fail_msg("'%s' topic '%s' name '%s' size %zu: %d '%s' vs %d '%s'", tmpls[t],
                                 topics[p], names[n], sizes[s], ra, a, rb, b);
                }
            }
        }
    }
}

static void test_key_template_prepared_limits(void **state)
{
    struct wr_key_prepared kp;
    char out[64];

    (void)state;
    assert_int_equal(wr_key_template_prepare(
                         "{name}{name}{name}{name}{name}{name}{name}{name}{name}", "t", 1, &kp),
                     WR_E_RANGE);
    assert_int_equal(wr_key_template_prepare("{name}", "t", 1, NULL), WR_E_INVAL);
    /* An invalid template prepares fine and fails every expansion, as it would itself. */
    assert_int_equal(wr_key_template_prepare("", "t", 1, &kp), WR_OK);
    assert_int_equal(wr_key_prepared_expand(&kp, "a", 1, out, sizeof(out)), WR_E_INVAL);
    assert_int_equal(wr_key_template_prepare(NULL, "t", 1, &kp), WR_OK);
    assert_int_equal(wr_key_prepared_expand(&kp, "a", 1, out, sizeof(out)), WR_E_INVAL);
    assert_int_equal(wr_key_template_prepare("{name}", "t", 1, &kp), WR_OK);
    assert_int_equal(wr_key_prepared_expand(&kp, "a", 1, out, sizeof(out)), WR_OK);
    assert_string_equal(out, "a");
    assert_int_equal(wr_key_prepared_expand(&kp, "a", 1, out, 65), WR_E_INVAL);
    assert_int_equal(wr_key_prepared_expand(&kp, NULL, 1, out, sizeof(out)), WR_E_INVAL);
    assert_int_equal(wr_key_prepared_expand(NULL, "a", 1, out, sizeof(out)), WR_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_template_valid_forms),
        cmocka_unit_test(test_key_template_invalid_forms),
        cmocka_unit_test(test_key_template_expand_placeholders),
        cmocka_unit_test(test_key_template_expand_literal_braces),
        cmocka_unit_test(test_key_template_expand_empty_levels),
        cmocka_unit_test(test_key_template_expand_level_out_of_range),
        cmocka_unit_test(test_key_template_expand_too_long),
        cmocka_unit_test(test_key_template_expand_length_delimited_topic),
        cmocka_unit_test(test_key_template_expand_null_arguments),
        cmocka_unit_test(test_key_template_prepared_matches_expand),
        cmocka_unit_test(test_key_template_prepared_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
