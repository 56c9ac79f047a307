/* Judging pushed envelopes: signature, trusted keys, anti-rollback, config validation. */
#define _XOPEN_SOURCE 700
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "plat_file.h"
#include "plat_mem.h"
#include "wr_error.h"

#define GOOD_CFG                                                                                   \
    "{\"agent\":{\"id\":\"gw-1\"},\"upstream\":{\"uri\":\"tcp://127.0.0.1:1884\"},"                \
    "\"streams\":[{\"name\":\"t\",\"match\":\"s/#\"}]}"
#define BAD_CFG                                                                                    \
    "{\"agent\":{\"id\":\"gw-1\"},\"upstream\":{\"uri\":\"tcp://127.0.0.1:1884\"},"                \
    "\"streams\":[{\"name\":\"t\",\"match\":\"s/#\",\"window\":{\"size_s\":0}}],\"bogus\":1}"
#define OTHER_ID_CFG                                                                               \
    "{\"agent\":{\"id\":\"gw-2\"},\"upstream\":{\"uri\":\"tcp://127.0.0.1:1884\"},"                \
    "\"streams\":[{\"name\":\"t\",\"match\":\"s/#\"}]}"

struct fixture {
    char dir[64];
    char keys[96];
    char src[512];
};

static struct fixture fx;

static int sh(const char *cmd)
{
    char line[2048];

    snprintf(line, sizeof(line), "cd %s && %s", fx.dir, cmd);
    return system(line);
}

static int setup(void **state)
{
    const char *marker = strstr(__FILE__, "tests/unit/test_fleet.c");

    (void)state;
    if (marker == NULL || wr_test_tmpdir(fx.dir, sizeof(fx.dir), "wr-test-fleet") != 0)
        return -1;
    snprintf(fx.src, sizeof(fx.src), "%.*s", (int)(marker - __FILE__), __FILE__);
    snprintf(fx.keys, sizeof(fx.keys), "%s/keys", fx.dir);
    return sh("mkdir keys && "
              "openssl ecparam -name prime256v1 -genkey -noout -out k.pem 2>/dev/null && "
              "openssl ec -in k.pem -pubout -out keys/fleet.pem 2>/dev/null && "
              "openssl ecparam -name prime256v1 -genkey -noout -out rogue.pem 2>/dev/null && "
              "printf '%s' '" GOOD_CFG "' > good.json && printf '%s' '" BAD_CFG "' > bad.json && "
              "printf '%s' '" OTHER_ID_CFG "' > other.json");
}

static int teardown(void **state)
{
    (void)state;
    wr_test_rmtree(fx.dir);
    return 0;
}

/* Sign cfg_file with key as key_id for agent at version; returns the envelope text. */
static char *sign(const char *key, const char *key_id, const char *agent, unsigned long version,
                  const char *cfg_file, size_t *len)
{
    char cmd[1400];
    char path[160];
    char *text = NULL;

    snprintf(cmd, sizeof(cmd),
             "sh %sscripts/windrow-sign-config -k %s -i %s -a %s -v %lu %s > env.json", fx.src,
             key, key_id, agent, version, cfg_file);
    assert_int_equal(sh(cmd), 0);
    snprintf(path, sizeof(path), "%s/env.json", fx.dir);
    assert_int_equal(plat_file_read_all(path, 1u << 20, &text, len), WR_OK);
    return text;
}

static void params(struct wr_fleet_params *fp, uint64_t last_version)
{
    memset(fp, 0, sizeof(*fp));
    fp->agent_id = "gw-1";
    fp->keys_dir = fx.keys;
    fp->max_envelope_bytes = 65536;
    fp->last.version = last_version;
}

static void expect_refusal(const char *text, size_t len, uint64_t last, const char *want)
{
    struct wr_fleet_params fp;
    struct wr_fleet_verdict v;
    bool found = false;

    params(&fp, last);
    assert_int_equal(wr_fleet_judge(&fp, text, len, &v), WR_OK);
    assert_int_equal(v.result, WR_FLEET_REFUSED);
    assert_null(v.cfg);
    assert_true(v.reasons.count > 0);
    for (size_t i = 0; i < v.reasons.count; i++)
        found = found || strstr(v.reasons.msg[i], want) != NULL;
    for (size_t i = 0; !found && i < v.reasons.count; i++)
        print_message("  reason: %s\n", v.reasons.msg[i]);
    assert_true(found);
    wr_fleet_verdict_clear(&v);
}

static void test_fleet_valid_push_accepted(void **state)
{
    struct wr_fleet_params fp;
    struct wr_fleet_verdict v;
    size_t len = 0;
    char *env = sign("k.pem", "fleet", "gw-1", 5, "good.json", &len);

    (void)state;
    params(&fp, 4);
    assert_int_equal(wr_fleet_judge(&fp, env, len, &v), WR_OK);
    assert_int_equal(v.result, WR_FLEET_ACCEPTED);
    assert_int_equal(v.version, 5);
    assert_non_null(v.cfg);
    assert_string_equal(v.cfg->streams[0].name, "t");
    assert_int_equal(v.config_len, strlen(GOOD_CFG));
    assert_memory_equal(v.config_text, GOOD_CFG, v.config_len);
    assert_int_equal(strlen(v.hash), 64);
    wr_fleet_verdict_clear(&v);
    plat_free(env);
}

static void test_fleet_tampered_signature_refused(void **state)
{
    size_t len = 0;
    char *env = sign("k.pem", "fleet", "gw-1", 5, "good.json", &len);
    char *sig = strstr(env, "\"signature\":\"");

    (void)state;
    assert_non_null(sig);
    sig += strlen("\"signature\":\"") + 20;
    *sig = *sig == 'A' ? 'B' : 'A';
    expect_refusal(env, len, 0, "envelope.signature: does not verify");
    plat_free(env);
}

static void test_fleet_tampered_config_refused(void **state)
{
    size_t len = 0;
    char *env = sign("k.pem", "fleet", "gw-1", 5, "good.json", &len);
    char *cfg = strstr(env, "\"config\":\"");

    (void)state;
    assert_non_null(cfg);
    cfg += strlen("\"config\":\"") + 8;
    *cfg = *cfg == 'A' ? 'B' : 'A';
    expect_refusal(env, len, 0, "does not verify");
    plat_free(env);
}

static void test_fleet_unknown_key_refused(void **state)
{
    size_t len = 0;
    char *env = sign("rogue.pem", "rogue", "gw-1", 5, "good.json", &len);

    (void)state;
    expect_refusal(env, len, 0, "envelope.key_id: no trusted key \"rogue\"");
    plat_free(env);
    /* A rogue key that claims a trusted key's id fails on the signature. */
    env = sign("rogue.pem", "fleet", "gw-1", 5, "good.json", &len);
    expect_refusal(env, len, 0, "envelope.signature: does not verify with key \"fleet\"");
    plat_free(env);
}

static void test_fleet_older_or_same_version_refused(void **state)
{
    struct wr_fleet_params fp;
    struct wr_fleet_verdict v;
    size_t len = 0;
    char *env = sign("k.pem", "fleet", "gw-1", 5, "good.json", &len);

    (void)state;
    expect_refusal(env, len, 6, "5 is not above the last applied version 6");
    expect_refusal(env, len, 5, "5 is not above the last applied version 5");
    /* The very push last applied, delivered again as the retained message: ignored. */
    params(&fp, 5);
    assert_int_equal(wr_fleet_judge(&fp, env, len, &v), WR_OK);
    snprintf(fp.last.hash, sizeof(fp.last.hash), "%s", v.hash);
    wr_fleet_verdict_clear(&v);
    assert_int_equal(wr_fleet_judge(&fp, env, len, &v), WR_OK);
    assert_int_equal(v.result, WR_FLEET_IGNORED);
    assert_null(v.cfg);
    wr_fleet_verdict_clear(&v);
    plat_free(env);
}

static void test_fleet_malformed_and_oversize_refused(void **state)
{
    struct wr_fleet_params fp;
    struct wr_fleet_verdict v;
    size_t len = 0;
    char *env = sign("k.pem", "fleet", "gw-1", 5, "good.json", &len);

    (void)state;
    expect_refusal("{\"format\":", 10, 0, "envelope: not valid JSON");
    expect_refusal("{}", 2, 0, "envelope.signature: missing");
    params(&fp, 0);
    fp.max_envelope_bytes = 1024;
    {
        char *big = calloc(1, 4096);

        assert_non_null(big);
        memset(big, ' ', 4095);
        memcpy(big, env, len);
        assert_int_equal(wr_fleet_judge(&fp, big, 4095, &v), WR_OK);
        assert_int_equal(v.result, WR_FLEET_REFUSED);
        assert_non_null(strstr(v.reasons.msg[0], "max_envelope_bytes"));
        wr_fleet_verdict_clear(&v);
        free(big);
    }
    plat_free(env);
}

static void test_fleet_invalid_config_refused_with_paths(void **state)
{
    size_t len = 0;
    char *env = sign("k.pem", "fleet", "gw-1", 5, "bad.json", &len);

    (void)state;
    expect_refusal(env, len, 0, "streams[0].window.size_s");
    expect_refusal(env, len, 0, "bogus");
    plat_free(env);
}

static void test_fleet_other_agent_refused(void **state)
{
    size_t len = 0;
    char *env = sign("k.pem", "fleet", "gw-2", 5, "good.json", &len);

    (void)state;
    expect_refusal(env, len, 0, "envelope.agent: \"gw-2\" is not this agent");
    plat_free(env);
    env = sign("k.pem", "fleet", "gw-1", 5, "other.json", &len);
    expect_refusal(env, len, 0, "agent.id: a push cannot change");
    plat_free(env);
}

static void test_fleet_record_round_trip(void **state)
{
    struct wr_fleet_record rec;
    struct wr_fleet_record back;
    char path[160];
    FILE *f;

    (void)state;
    assert_int_equal(wr_fleet_record_load(fx.dir, &back), WR_OK);
    assert_int_equal(back.version, 0);
    rec.version = 1733097600;
    snprintf(rec.hash, sizeof(rec.hash), "%064d", 7);
    assert_int_equal(wr_fleet_record_save(fx.dir, &rec), WR_OK);
    assert_int_equal(wr_fleet_record_load(fx.dir, &back), WR_OK);
    assert_int_equal(back.version, rec.version);
    assert_string_equal(back.hash, rec.hash);
    snprintf(path, sizeof(path), "%s/%s", fx.dir, WR_FLEET_RECORD_FILE);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("garbage\n", f);
    fclose(f);
    assert_int_equal(wr_fleet_record_load(fx.dir, &back), WR_E_CORRUPT);
    assert_int_equal(remove(path), 0);
}

/* A push that was rolled back comes again with every reconnect (retained): not tried again. */
static void test_fleet_rolled_back_push_ignored(void **state)
{
    struct wr_fleet_params fp;
    struct wr_fleet_verdict v;
    size_t len = 0;
    char *env = sign("k.pem", "fleet", "gw-1", 9, "good.json", &len);
    char *newer = NULL;
    size_t newer_len = 0;

    (void)state;
    params(&fp, 4);
    assert_int_equal(wr_fleet_judge(&fp, env, len, &v), WR_OK);
    assert_int_equal(v.result, WR_FLEET_ACCEPTED);
    fp.rolled_back.version = 9;
    snprintf(fp.rolled_back.hash, sizeof(fp.rolled_back.hash), "%s", v.hash);
    wr_fleet_verdict_clear(&v);
    assert_int_equal(wr_fleet_judge(&fp, env, len, &v), WR_OK);
    assert_int_equal(v.result, WR_FLEET_IGNORED);
    assert_int_equal(v.reasons.count, 0);
    wr_fleet_verdict_clear(&v);
    /* The same config under a new version is a new push. */
    newer = sign("k.pem", "fleet", "gw-1", 10, "good.json", &newer_len);
    assert_int_equal(wr_fleet_judge(&fp, newer, newer_len, &v), WR_OK);
    assert_int_equal(v.result, WR_FLEET_ACCEPTED);
    wr_fleet_verdict_clear(&v);
    plat_free(newer);
    plat_free(env);
}

/* A receiver that did not keep an oversize message still gets a refusal that says so. */
static void test_fleet_oversize_refused_unread(void **state)
{
    struct wr_fleet_params fp;
    struct wr_fleet_verdict v;

    (void)state;
    params(&fp, 0);
    fp.max_envelope_bytes = 4096;
    assert_int_equal(wr_fleet_judge(&fp, NULL, 5000, &v), WR_OK);
    assert_int_equal(v.result, WR_FLEET_REFUSED);
    assert_int_equal(v.reasons.count, 1);
    assert_string_equal(v.reasons.msg[0],
                        "envelope: 5000 bytes, more than fleet.max_envelope_bytes (4096)");
    wr_fleet_verdict_clear(&v);
    /* NULL with a size within the limit is a caller's error. */
    assert_int_equal(wr_fleet_judge(&fp, NULL, 100, &v), WR_E_INVAL);
}

static void test_fleet_rolled_back_record_file(void **state)
{
    struct wr_fleet_record rec;
    struct wr_fleet_record back;

    (void)state;
    rec.version = 12;
    snprintf(rec.hash, sizeof(rec.hash), "%064d", 3);
    assert_int_equal(wr_fleet_record_save_file(fx.dir, WR_FLEET_ROLLED_BACK_FILE, &rec), WR_OK);
    /* A different file from the anti-rollback record. */
    assert_int_equal(wr_fleet_record_load(fx.dir, &back), WR_OK);
    assert_int_equal(back.version, 0);
    assert_int_equal(wr_fleet_record_load_file(fx.dir, WR_FLEET_ROLLED_BACK_FILE, &back), WR_OK);
    assert_int_equal(back.version, 12);
    assert_string_equal(back.hash, rec.hash);
    assert_int_equal(wr_fleet_record_load_file(fx.dir, NULL, &back), WR_E_INVAL);
    assert_int_equal(wr_fleet_record_save_file(NULL, WR_FLEET_ROLLED_BACK_FILE, &rec), WR_E_INVAL);
}

static void test_fleet_state_report_json(void **state)
{
    struct wr_config_errors errs;
    char out[1024];
    size_t n = 0;

    (void)state;
    memset(&errs, 0, sizeof(errs));
    errs.count = 2;
    snprintf(errs.msg[0], sizeof(errs.msg[0]), "streams[0].match: bad \"x\"");
    snprintf(errs.msg[1], sizeof(errs.msg[1]), "tab\there");
    assert_int_equal(wr_fleet_render_state("gw-1", WR_FLEET_REFUSED, 9, "ab", "push", &errs, 1234,
                                           out, sizeof(out), &n),
                     WR_OK);
    assert_string_equal(out, "{\"agent\":\"gw-1\",\"result\":\"refused\",\"version\":9,\"hash\":"
                             "\"ab\",\"source\":\"push\",\"time_ms\":1234,\"reasons\":["
                             "\"streams[0].match: bad \\\"x\\\"\",\"tab\\u0009here\"]}");
    assert_int_equal(n, strlen(out));
    assert_int_equal(wr_fleet_render_state("gw-1", WR_FLEET_APPLIED, 9, "ab", "push", NULL, 1,
                                           out, 20, &n),
                     WR_E_TOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fleet_valid_push_accepted),
        cmocka_unit_test(test_fleet_tampered_signature_refused),
        cmocka_unit_test(test_fleet_tampered_config_refused),
        cmocka_unit_test(test_fleet_unknown_key_refused),
        cmocka_unit_test(test_fleet_older_or_same_version_refused),
        cmocka_unit_test(test_fleet_malformed_and_oversize_refused),
        cmocka_unit_test(test_fleet_invalid_config_refused_with_paths),
        cmocka_unit_test(test_fleet_other_agent_refused),
        cmocka_unit_test(test_fleet_record_round_trip),
        cmocka_unit_test(test_fleet_rolled_back_push_ignored),
        cmocka_unit_test(test_fleet_oversize_refused_unread),
        cmocka_unit_test(test_fleet_rolled_back_record_file),
        cmocka_unit_test(test_fleet_state_report_json),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
