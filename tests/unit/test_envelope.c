/* The signed config envelope: parser, base64, version and key id rules. */
#define _XOPEN_SOURCE 700
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plat_file.h"
#include "plat_mem.h"
#include "plat_sig.h"
#include "wr_envelope.h"
#include "wr_error.h"

#define MAX_BYTES 65536u
/* base64 of {"x":1} */
#define CFG_B64 "eyJ4IjoxfQ=="
/* 8 bytes: 0x30 0x06 0x02 0x01 0x01 0x02 0x01 0x01 (a tiny DER SEQUENCE of two INTEGERs) */
#define SIG_B64 "MAYCAQECAQE="

static char *envelope_with(const char *fmt, const char *agent, const char *version,
                           const char *key_id, const char *cfg, const char *sig)
{
    static char buf[4096];

    snprintf(buf, sizeof(buf),
             "{\"format\":\"%s\",\"agent\":\"%s\",\"version\":%s,\"key_id\":\"%s\","
             "\"config\":\"%s\",\"signature\":\"%s\"}",
             fmt, agent, version, key_id, cfg, sig);
    return buf;
}

static char *good(void)
{
    return envelope_with(WR_ENVELOPE_FORMAT, "gw-1", "42", "fleet-1", CFG_B64, SIG_B64);
}

static void expect_refused(const char *text, int want_rc, const char *want_in_error)
{
    struct wr_config_errors errs;
    struct wr_envelope *env = NULL;
    bool found = false;

    assert_int_equal(wr_envelope_parse(text, strlen(text), MAX_BYTES, &env, &errs), want_rc);
    assert_null(env);
    assert_true(errs.count > 0);
    for (size_t i = 0; i < errs.count; i++)
        found = found || strstr(errs.msg[i], want_in_error) != NULL;
    if (!found) {
        for (size_t i = 0; i < errs.count; i++)
            print_message("  error: %s\n", errs.msg[i]);
    }
    assert_true(found);
}

static void test_envelope_valid_parses(void **state)
{
    static const char signed_want[] = "windrow-config-envelope/1\ngw-1\n42\n{\"x\":1}";
    struct wr_config_errors errs;
    struct wr_envelope *env = NULL;
    const char *text = good();

    (void)state;
    assert_int_equal(wr_envelope_parse(text, strlen(text), MAX_BYTES, &env, &errs), WR_OK);
    assert_int_equal(errs.count, 0);
    assert_string_equal(env->agent, "gw-1");
    assert_string_equal(env->key_id, "fleet-1");
    assert_int_equal(env->version, 42);
    assert_int_equal(env->config_len, 7);
    assert_string_equal(env->config, "{\"x\":1}");
    assert_int_equal(env->signature_len, 8);
    assert_int_equal(env->signature[0], 0x30);
    assert_int_equal(env->signed_len, sizeof(signed_want) - 1);
    assert_memory_equal(env->signed_bytes, signed_want, env->signed_len);
    wr_envelope_free(env);
    wr_envelope_free(NULL);
}

static void test_envelope_not_json_or_not_object(void **state)
{
    (void)state;
    expect_refused("{\"format\":", WR_E_PARSE, "envelope: not valid JSON");
    expect_refused("[1,2]", WR_E_PARSE, "must be a JSON object");
    expect_refused("", WR_E_PARSE, "not valid JSON");
}

static void test_envelope_oversize_refused_unparsed(void **state)
{
    struct wr_config_errors errs;
    struct wr_envelope *env = NULL;
    const char *text = good();

    (void)state;
    assert_int_equal(wr_envelope_parse(text, strlen(text), 16, &env, &errs), WR_E_TOOBIG);
    assert_null(env);
    assert_non_null(strstr(errs.msg[0], "max_envelope_bytes"));
}

static void test_envelope_missing_and_unknown_members(void **state)
{
    (void)state;
    expect_refused("{}", WR_E_INVAL, "envelope.signature: missing");
    expect_refused("{}", WR_E_INVAL, "envelope.version: missing");
    expect_refused("{}", WR_E_INVAL, "envelope.config: missing");
    expect_refused("{\"format\":\"windrow-config-envelope/1\",\"agent\":\"a\",\"version\":1,"
                   "\"key_id\":\"k\",\"config\":\"" CFG_B64 "\",\"signature\":\"" SIG_B64
                   "\",\"extra\":true}",
                   WR_E_INVAL, "envelope.extra: unknown member");
    expect_refused("{\"format\":1,\"agent\":\"a\",\"version\":1,\"key_id\":\"k\",\"config\":\"" CFG_B64
                   "\",\"signature\":\"" SIG_B64 "\"}",
                   WR_E_INVAL, "envelope.format: must be a string");
}

static void test_envelope_bad_fields_named(void **state)
{
    (void)state;
    expect_refused(envelope_with("windrow-config-envelope/2", "gw-1", "1", "k", CFG_B64, SIG_B64),
                   WR_E_INVAL, "envelope.format: must be");
    expect_refused(envelope_with(WR_ENVELOPE_FORMAT, "gw/1", "1", "k", CFG_B64, SIG_B64),
                   WR_E_INVAL, "envelope.agent:");
    expect_refused(envelope_with(WR_ENVELOPE_FORMAT, "gw-1", "0", "k", CFG_B64, SIG_B64),
                   WR_E_INVAL, "envelope.version: must be an integer");
    expect_refused(envelope_with(WR_ENVELOPE_FORMAT, "gw-1", "-3", "k", CFG_B64, SIG_B64),
                   WR_E_INVAL, "envelope.version:");
    expect_refused(envelope_with(WR_ENVELOPE_FORMAT, "gw-1", "1.5", "k", CFG_B64, SIG_B64),
                   WR_E_INVAL, "envelope.version:");
    expect_refused(envelope_with(WR_ENVELOPE_FORMAT, "gw-1", "\"7\"", "k", CFG_B64, SIG_B64),
                   WR_E_INVAL, "envelope.version:");
    expect_refused(envelope_with(WR_ENVELOPE_FORMAT, "gw-1", "1e300", "k", CFG_B64, SIG_B64),
                   WR_E_INVAL, "envelope.version:");
    expect_refused(envelope_with(WR_ENVELOPE_FORMAT, "gw-1", "1", "../etc/passwd", CFG_B64,
                                 SIG_B64),
                   WR_E_INVAL, "envelope.key_id:");
    expect_refused(envelope_with(WR_ENVELOPE_FORMAT, "gw-1", "1", ".hidden", CFG_B64, SIG_B64),
                   WR_E_INVAL, "envelope.key_id:");
    expect_refused(envelope_with(WR_ENVELOPE_FORMAT, "gw-1", "1", "k", "eyJ4Ijox!Q==", SIG_B64),
                   WR_E_INVAL, "envelope.config: not valid base64");
    expect_refused(envelope_with(WR_ENVELOPE_FORMAT, "gw-1", "1", "k", "", SIG_B64), WR_E_INVAL,
                   "envelope.config: empty");
    expect_refused(envelope_with(WR_ENVELOPE_FORMAT, "gw-1", "1", "k", CFG_B64, "MAY"),
                   WR_E_INVAL, "envelope.signature: not valid base64");
    expect_refused(envelope_with(WR_ENVELOPE_FORMAT, "gw-1", "1", "k", CFG_B64,
                                 "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQ"
                                 "UFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"),
                   WR_E_INVAL, "envelope.signature: longer than");
}

static void test_envelope_every_problem_reported(void **state)
{
    struct wr_config_errors errs;
    struct wr_envelope *env = NULL;
    const char *text = envelope_with("x", "a/b", "0", "..", "@@@@", "");

    (void)state;
    assert_int_equal(wr_envelope_parse(text, strlen(text), MAX_BYTES, &env, &errs), WR_E_INVAL);
    assert_int_equal(errs.count, 6);
}

static void test_envelope_base64_vectors(void **state)
{
    static const struct {
        const char *in;
        const char *out;
    } ok[] = {{"", ""}, {"Zg==", "f"}, {"Zm8=", "fo"}, {"Zm9v", "foo"}, {"Zm9vYg==", "foob"},
              {"Zm9vYmE=", "fooba"}, {"Zm9vYmFy", "foobar"}};
    static const char *const bad[] = {"Zg=",  "Zg",   "Z===", "Zh==", "Zm9=", "Zm 9v",
                                      "Zg==Zg==", "=Zg=", "Zm9v\n"};
    uint8_t out[16];
    size_t n = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(wr_envelope_base64_decode(ok[i].in, strlen(ok[i].in), out, sizeof(out),
                                                   &n),
                         WR_OK);
        assert_int_equal(n, strlen(ok[i].out));
        assert_memory_equal(out, ok[i].out, n);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(wr_envelope_base64_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n),
                         WR_E_PARSE);
    assert_int_equal(wr_envelope_base64_decode("Zm9vYmFy", 8, out, 5, &n), WR_E_TOOBIG);
}

static void test_envelope_version_check(void **state)
{
    struct wr_config_errors errs;

    (void)state;
    memset(&errs, 0, sizeof(errs));
    assert_int_equal(wr_envelope_version_check(0, 1, &errs), WR_OK);
    assert_int_equal(wr_envelope_version_check(41, 42, &errs), WR_OK);
    assert_int_equal(errs.count, 0);
    assert_int_equal(wr_envelope_version_check(42, 42, &errs), WR_E_RANGE);
    assert_int_equal(wr_envelope_version_check(42, 7, &errs), WR_E_RANGE);
    assert_int_equal(errs.count, 2);
    assert_non_null(strstr(errs.msg[1], "7 is not above the last applied version 42"));
    assert_int_equal(wr_envelope_version_check(42, 7, NULL), WR_E_RANGE);
}

static void test_envelope_key_id_rules(void **state)
{
    (void)state;
    assert_true(wr_envelope_key_id_valid("fleet-2026.q1_a"));
    assert_false(wr_envelope_key_id_valid(""));
    assert_false(wr_envelope_key_id_valid(NULL));
    assert_false(wr_envelope_key_id_valid("a/b"));
    assert_false(wr_envelope_key_id_valid(".."));
    assert_false(wr_envelope_key_id_valid("a b"));
    assert_false(wr_envelope_key_id_valid(
        "0123456789012345678901234567890123456789012345678901234567890123"));
}

static void test_envelope_allocation_failure(void **state)
{
    const char *text = good();
    struct wr_envelope *env = NULL;
    int rc;

    (void)state;
    for (long n = 1;; n++) {
        wr_test_alloc_fail_at(n);
        rc = wr_envelope_parse(text, strlen(text), MAX_BYTES, &env, NULL);
        if (rc == WR_OK)
            break;
        assert_int_equal(rc, WR_E_NOMEM);
        assert_null(env);
    }
    wr_test_alloc_fail_at(0);
    wr_envelope_free(env);
}

/* The source tree, from this file's path (the build runs it from anywhere). */
static void source_dir(char *out, size_t n)
{
    const char *marker = strstr(__FILE__, "tests/unit/test_envelope.c");

    assert_non_null(marker);
    snprintf(out, n, "%.*s", (int)(marker - __FILE__), __FILE__);
}

/* The fleet side's script and the agent agree: what the script signs verifies here. */
static void test_envelope_signed_by_script_verifies(void **state)
{
    char dir[64];
    char src[512];
    char cmd[1400];
    char path[160];
    char *text = NULL;
    size_t len = 0;
    struct wr_envelope *env = NULL;
    struct wr_config_errors errs;

    (void)state;
    assert_int_equal(wr_test_tmpdir(dir, sizeof(dir), "wr-test-env"), 0);
    source_dir(src, sizeof(src));
    snprintf(cmd, sizeof(cmd),
             "cd %s && openssl ecparam -name prime256v1 -genkey -noout -out k.pem 2>/dev/null && "
             "openssl ec -in k.pem -pubout -out fleet-1.pem 2>/dev/null && "
             "printf '{\"agent\": {\"id\": \"gw-1\"}}\\n' > cfg.json && "
             "sh %sscripts/windrow-sign-config -k k.pem -i fleet-1 -a gw-1 -v 1700000000 "
             "cfg.json > env.json",
             dir, src);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/env.json", dir);
    assert_int_equal(plat_file_read_all(path, MAX_BYTES, &text, &len), WR_OK);
    assert_int_equal(wr_envelope_parse(text, len, MAX_BYTES, &env, &errs), WR_OK);
    assert_int_equal(env->version, 1700000000);
    assert_string_equal(env->config, "{\"agent\": {\"id\": \"gw-1\"}}\n");
    snprintf(path, sizeof(path), "%s/fleet-1.pem", dir);
    assert_int_equal(plat_sig_verify_p256(path, env->signed_bytes, env->signed_len, env->signature,
                                          env->signature_len),
                     WR_OK);
    /* The version is part of what is signed: bumping it breaks the signature. */
    env->signed_bytes[strlen(WR_ENVELOPE_FORMAT) + 6] = '2';
    assert_int_equal(plat_sig_verify_p256(path, env->signed_bytes, env->signed_len, env->signature,
                                          env->signature_len),
                     WR_E_SIGNATURE);
    wr_envelope_free(env);
    plat_free(text);
    wr_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_valid_parses),
        cmocka_unit_test(test_envelope_not_json_or_not_object),
        cmocka_unit_test(test_envelope_oversize_refused_unparsed),
        cmocka_unit_test(test_envelope_missing_and_unknown_members),
        cmocka_unit_test(test_envelope_bad_fields_named),
        cmocka_unit_test(test_envelope_every_problem_reported),
        cmocka_unit_test(test_envelope_base64_vectors),
        cmocka_unit_test(test_envelope_version_check),
        cmocka_unit_test(test_envelope_key_id_rules),
        cmocka_unit_test_setup_teardown(test_envelope_allocation_failure, wr_test_alloc_setup,
                                        wr_test_alloc_teardown),
        cmocka_unit_test(test_envelope_signed_by_script_verifies),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
