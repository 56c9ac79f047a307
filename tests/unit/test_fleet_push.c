/* A push from arrival to outcome: file written or untouched, records, reports, the file watch. */
#define _XOPEN_SOURCE 700
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_push.h"
#include "plat_file.h"
#include "plat_mem.h"
#include "wr_error.h"

#define CFG_FMT                                                                                    \
    "{\"agent\":{\"id\":\"gw-1\",\"state_dir\":\"%s/state\"},"                                     \
    "\"upstream\":{\"uri\":\"tcp://127.0.0.1:1884\"},"                                             \
    "\"streams\":[{\"name\":\"t\",\"match\":\"s/#\"%s}],"                                          \
    "\"fleet\":{\"enabled\":true,\"keys_dir\":\"%s/keys\"}}"

struct fixture {
    char dir[64];
    char src[512];
    char cfg_path[128];
    char running_text[1024];
    char running_hash[PLAT_SIG_SHA256_HEX_LEN];
    struct wr_config *running;
    struct wr_reload *reload;
    struct wr_fleet_push *push;
};

static struct fixture fx;

/* ---- a fake uplink that keeps the reports ---------------------------------------------------- */

struct wr_uplink {
    bool unacknowledged;
    int reports;
    char topic[256];
    char last[8192];
};

static struct wr_uplink fake_up;

static int fake_report(struct wr_uplink *up, const char *topic, const void *payload, size_t len)
{
    assert_true(len < sizeof(up->last));
    up->reports++;
    snprintf(up->topic, sizeof(up->topic), "%s", topic);
    memcpy(up->last, payload, len);
    up->last[len] = '\0';
    return WR_OK;
}

static bool fake_pending(const struct wr_uplink *up)
{
    return up->unacknowledged;
}

static const struct wr_uplink_ops fake_ops = {.publish_report = fake_report,
                                              .report_pending = fake_pending};

/* ---- helpers ----------------------------------------------------------------------------------
 */

static int sh(const char *cmd)
{
    char line[2048];

    snprintf(line, sizeof(line), "cd %s && %s", fx.dir, cmd);
    return system(line);
}

static void write_file(const char *name, const char *text)
{
    char path[160];

    snprintf(path, sizeof(path), "%s/%s", fx.dir, name);
    assert_int_equal(plat_file_write_atomic(path, text, strlen(text)), WR_OK);
}

static char *read_file(const char *path, size_t *len)
{
    char *text = NULL;

    if (plat_file_read_all(path, 1u << 20, &text, len) != WR_OK)
        return NULL;
    return text;
}

/* A config for this fixture; extra goes into the stream object. */
static void config_text(char *out, size_t n, const char *state_dir_parent, const char *extra)
{
    snprintf(out, n, CFG_FMT, state_dir_parent, extra, fx.dir);
}

/* Sign file name as version; returns the envelope. */
static char *sign(const char *key, const char *name, unsigned long version, size_t *len)
{
    char cmd[1400];
    char path[160];
    char *text;

    snprintf(cmd, sizeof(cmd),
             "sh %sscripts/windrow-sign-config -k %s -i fleet -a gw-1 -v %lu %s > env.json", fx.src,
             key, version, name);
    assert_int_equal(sh(cmd), 0);
    snprintf(path, sizeof(path), "%s/env.json", fx.dir);
    text = read_file(path, len);
    assert_non_null(text);
    return text;
}

static void deliver(const char *payload, size_t len)
{
    const struct wr_uplink_inbound *in = wr_fleet_push_inbound(fx.push);

    in->message(in->inbox, payload, len);
}

static enum wr_fleet_result poll_push(struct wr_config **next, struct wr_config_diff *diff,
                                      char *hash)
{
    return wr_fleet_push_poll(fx.push, fx.running, fx.running_hash, next, diff, hash);
}

/* What the file watch would decide now. */
static enum wr_reload_outcome file_watch_says(void)
{
    struct wr_config *next = NULL;
    struct wr_config_diff diff;
    struct wr_config_errors errs;
    char hash[PLAT_SIG_SHA256_HEX_LEN];
    enum wr_reload_outcome out;

    wr_reload_file_changed(fx.reload);
    out = wr_reload_poll(fx.reload, &next, &diff, &errs, hash);
    wr_config_free(next);
    return out;
}

static void assert_file_is_running(void)
{
    size_t len = 0;
    char *text = read_file(fx.cfg_path, &len);

    assert_non_null(text);
    assert_int_equal(len, strlen(fx.running_text));
    assert_memory_equal(text, fx.running_text, len);
    plat_free(text);
}

static int setup(void **state)
{
    const char *marker = strstr(__FILE__, "tests/unit/test_fleet_push.c");
    struct wr_fleet_push_params pp;

    (void)state;
    memset(&fake_up, 0, sizeof(fake_up));
    if (marker == NULL || wr_test_tmpdir(fx.dir, sizeof(fx.dir), "wr-test-fpush") != 0)
        return -1;
    snprintf(fx.src, sizeof(fx.src), "%.*s", (int)(marker - __FILE__), __FILE__);
    snprintf(fx.cfg_path, sizeof(fx.cfg_path), "%s/windrow.json", fx.dir);
    if (sh("mkdir keys state && "
           "openssl ecparam -name prime256v1 -genkey -noout -out k.pem 2>/dev/null && "
           "openssl ec -in k.pem -pubout -out keys/fleet.pem 2>/dev/null && "
           "openssl ecparam -name prime256v1 -genkey -noout -out rogue.pem 2>/dev/null") != 0)
        return -1;
    config_text(fx.running_text, sizeof(fx.running_text), fx.dir, "");
    write_file("windrow.json", fx.running_text);
    if (wr_config_parse(fx.running_text, strlen(fx.running_text), &fx.running, NULL) != WR_OK ||
        plat_sig_sha256_hex(fx.running_text, strlen(fx.running_text), fx.running_hash) != WR_OK ||
        wr_reload_create(fx.cfg_path, fx.running, fx.running_hash, &fx.reload) != WR_OK)
        return -1;
    pp.config_path = fx.cfg_path;
    pp.reload = fx.reload;
    pp.wake = NULL;
    if (wr_fleet_push_create(&pp, fx.running, &fx.push) != WR_OK)
        return -1;
    wr_fleet_push_attach(fx.push, fx.running, &fake_ops, &fake_up);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    wr_fleet_push_destroy(fx.push);
    wr_reload_destroy(fx.reload);
    wr_config_free(fx.running);
    wr_test_rmtree(fx.dir);
    memset(&fx, 0, sizeof(fx));
    return 0;
}

/* ---- tests ------------------------------------------------------------------------------------
 */

static void test_fleet_push_accepted_written_then_applied(void **state)
{
    char text[1024];
    char hash[PLAT_SIG_SHA256_HEX_LEN];
    char record[256];
    struct wr_config *next = NULL;
    struct wr_config_diff diff;
    size_t env_len = 0;
    size_t len = 0;
    char *env;
    char *got;

    (void)state;
    config_text(text, sizeof(text), fx.dir, ",\"priority\":3");
    write_file("new.json", text);
    env = sign("k.pem", "new.json", 5, &env_len);
    deliver(env, env_len);
    assert_int_equal(poll_push(&next, &diff, hash), WR_FLEET_ACCEPTED);
    assert_non_null(next);
    assert_int_equal(next->streams[0].priority, 3);
    wr_config_free(next); /* applying it is main.c's */
    next = NULL;
    assert_true(wr_fleet_push_pending(fx.push));
    assert_int_equal(fake_up.reports, 0); /* no outcome yet */
    /* Written byte for byte, and the file watch does not take our own write for news. */
    got = read_file(fx.cfg_path, &len);
    assert_non_null(got);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(got, text, len);
    plat_free(got);
    assert_int_equal(file_watch_says(), WR_RELOAD_NONE);
    /* Nothing recorded before the outcome. */
    snprintf(record, sizeof(record), "%s/state/%s", fx.dir, WR_FLEET_RECORD_FILE);
    assert_false(plat_file_exists(record));
    assert_int_equal(wr_fleet_push_version_of(fx.push, hash), 0);
    /* While pending, nothing else is taken. */
    deliver(env, env_len);
    assert_int_equal(poll_push(&next, &diff, hash), WR_FLEET_IGNORED);
    wr_fleet_push_finish(fx.push, WR_FLEET_APPLIED, NULL);
    assert_false(wr_fleet_push_pending(fx.push));
    assert_true(plat_file_exists(record));
    assert_int_equal(wr_fleet_push_version_of(fx.push, hash), 5);
    assert_int_equal(fake_up.reports, 1);
    assert_string_equal(fake_up.topic, "windrow/gw-1/config/state");
    assert_non_null(strstr(fake_up.last, "\"result\":\"applied\",\"version\":5"));
    assert_non_null(strstr(fake_up.last, hash));
    /* The retained envelope again (the reload reconnected): ignored, no report. */
    assert_int_equal(poll_push(&next, &diff, hash), WR_FLEET_IGNORED);
    assert_int_equal(fake_up.reports, 1);
    wr_config_free(next);
    plat_free(env);
}

static void test_fleet_push_rolled_back_restores_file(void **state)
{
    char text[1024];
    char hash[PLAT_SIG_SHA256_HEX_LEN];
    struct wr_config *next = NULL;
    struct wr_config_diff diff;
    char path[160];
    size_t len = 0;
    char *env;

    (void)state;
    config_text(text, sizeof(text), fx.dir, ",\"priority\":4");
    write_file("new.json", text);
    env = sign("k.pem", "new.json", 6, &len);
    deliver(env, len);
    assert_int_equal(poll_push(&next, &diff, hash), WR_FLEET_ACCEPTED);
    wr_config_free(next);
    next = NULL;
    wr_fleet_push_finish(fx.push, WR_FLEET_ROLLED_BACK, "upstream: did not come up");
    assert_file_is_running();
    assert_int_equal(file_watch_says(), WR_RELOAD_NONE); /* putting it back is not news either */
    assert_non_null(strstr(fake_up.last, "\"result\":\"rolled_back\",\"version\":6"));
    assert_non_null(strstr(fake_up.last, "upstream: did not come up"));
    snprintf(path, sizeof(path), "%s/state/%s", fx.dir, WR_FLEET_ROLLED_BACK_FILE);
    assert_true(plat_file_exists(path));
    snprintf(path, sizeof(path), "%s/state/%s", fx.dir, WR_FLEET_RECORD_FILE);
    assert_false(plat_file_exists(path)); /* not applied: anti-rollback record untouched */
    /* Redelivered: not tried again, also by a new instance (a restart) reading the record. */
    deliver(env, len);
    assert_int_equal(poll_push(&next, &diff, hash), WR_FLEET_IGNORED);
    assert_int_equal(fake_up.reports, 1);
    {
        struct wr_fleet_push_params pp = {fx.cfg_path, fx.reload, NULL};
        struct wr_fleet_push *again = NULL;
        const struct wr_uplink_inbound *in;

        assert_int_equal(wr_fleet_push_create(&pp, fx.running, &again), WR_OK);
        in = wr_fleet_push_inbound(again);
        in->message(in->inbox, env, len);
        assert_int_equal(wr_fleet_push_poll(again, fx.running, fx.running_hash, &next, &diff, hash),
                         WR_FLEET_IGNORED);
        assert_null(next);
        wr_fleet_push_destroy(again);
    }
    plat_free(env);
}

static void test_fleet_push_refusals_leave_file_untouched(void **state)
{
    char text[1024];
    char hash[PLAT_SIG_SHA256_HEX_LEN];
    struct wr_config *next = NULL;
    struct wr_config_diff diff;
    size_t len = 0;
    char *env;

    (void)state;
    /* Unknown key. */
    config_text(text, sizeof(text), fx.dir, ",\"priority\":5");
    write_file("new.json", text);
    env = sign("rogue.pem", "new.json", 7, &len);
    deliver(env, len);
    assert_int_equal(poll_push(&next, &diff, hash), WR_FLEET_REFUSED);
    assert_null(next);
    assert_non_null(strstr(fake_up.last, "\"result\":\"refused\",\"version\":7"));
    assert_non_null(strstr(fake_up.last, "envelope.signature: does not verify"));
    assert_file_is_running();
    plat_free(env);
    /* Oversize: refused by its size. */
    deliver(NULL, 0);
    assert_int_equal(poll_push(&next, &diff, hash), WR_FLEET_REFUSED);
    assert_non_null(strstr(fake_up.last, "envelope: not valid JSON"));
    {
        char *big = calloc(1, 300000);

        assert_non_null(big);
        memset(big, ' ', 299999);
        deliver(big, 299999);
        free(big);
    }
    assert_int_equal(poll_push(&next, &diff, hash), WR_FLEET_REFUSED);
    assert_non_null(strstr(fake_up.last, "envelope: 299999 bytes, more than "
                                         "fleet.max_envelope_bytes (262144)"));
    /* A state_dir change needs a restart. */
    config_text(text, sizeof(text), "/tmp/elsewhere", "");
    write_file("new.json", text);
    env = sign("k.pem", "new.json", 8, &len);
    deliver(env, len);
    assert_int_equal(poll_push(&next, &diff, hash), WR_FLEET_REFUSED);
    assert_non_null(strstr(fake_up.last, "agent.state_dir: cannot change while running"));
    assert_file_is_running();
    assert_int_equal(fake_up.reports, 4);
    assert_int_equal(file_watch_says(), WR_RELOAD_NONE);
    plat_free(env);
}

static void test_fleet_push_same_bytes_new_version_recorded(void **state)
{
    char hash[PLAT_SIG_SHA256_HEX_LEN];
    struct wr_config *next = NULL;
    struct wr_config_diff diff;
    size_t len = 0;
    char *env = sign("k.pem", "windrow.json", 9, &len);

    (void)state;
    deliver(env, len);
    assert_int_equal(poll_push(&next, &diff, hash), WR_FLEET_APPLIED);
    assert_null(next);
    assert_false(wr_fleet_push_pending(fx.push));
    assert_int_equal(wr_fleet_push_version_of(fx.push, fx.running_hash), 9);
    assert_non_null(strstr(fake_up.last, "\"result\":\"applied\",\"version\":9"));
    assert_file_is_running();
    plat_free(env);
}

static void test_fleet_push_attach_republishes_and_disabled_ignores(void **state)
{
    char hash[PLAT_SIG_SHA256_HEX_LEN];
    struct wr_config *next = NULL;
    struct wr_config_diff diff;
    struct wr_config *off = NULL;
    char text[1024];

    (void)state;
    deliver("x", 1);
    assert_int_equal(poll_push(&next, &diff, hash), WR_FLEET_REFUSED);
    assert_int_equal(fake_up.reports, 1);
    /* A reload: the old uplink had it acknowledged, the new one is not bothered with it. */
    wr_fleet_push_attach(fx.push, fx.running, NULL, NULL);
    wr_fleet_push_attach(fx.push, fx.running, &fake_ops, &fake_up);
    assert_int_equal(fake_up.reports, 1);
    /* The old uplink stopped with it unacknowledged: the new one gets it, once. */
    fake_up.unacknowledged = true;
    wr_fleet_push_attach(fx.push, fx.running, NULL, NULL);
    assert_int_equal(fake_up.reports, 1); /* detached: nowhere to send */
    fake_up.unacknowledged = false;
    wr_fleet_push_attach(fx.push, fx.running, &fake_ops, &fake_up);
    assert_int_equal(fake_up.reports, 2);
    wr_fleet_push_attach(fx.push, fx.running, NULL, NULL);
    wr_fleet_push_attach(fx.push, fx.running, &fake_ops, &fake_up);
    assert_int_equal(fake_up.reports, 2);
    /* A report made while detached goes to the next uplink. */
    wr_fleet_push_attach(fx.push, fx.running, NULL, NULL);
    deliver("y", 1);
    assert_int_equal(poll_push(&next, &diff, hash), WR_FLEET_REFUSED);
    assert_int_equal(fake_up.reports, 2);
    wr_fleet_push_attach(fx.push, fx.running, &fake_ops, &fake_up);
    assert_int_equal(fake_up.reports, 3);
    /* With fleet disabled, what arrives is dropped unjudged. */
    snprintf(text, sizeof(text),
             "{\"agent\":{\"id\":\"gw-1\"},\"upstream\":{\"uri\":\"tcp://127.0.0.1:1884\"},"
             "\"streams\":[{\"name\":\"t\",\"match\":\"s/#\"}]}");
    assert_int_equal(wr_config_parse(text, strlen(text), &off, NULL), WR_OK);
    deliver("x", 1);
    assert_int_equal(wr_fleet_push_poll(fx.push, off, fx.running_hash, &next, &diff, hash),
                     WR_FLEET_IGNORED);
    assert_int_equal(poll_push(&next, &diff, hash), WR_FLEET_IGNORED); /* taken: gone */
    assert_int_equal(fake_up.reports, 3);
    wr_config_free(off);
}

static void test_fleet_push_corrupt_record_refuses(void **state)
{
    struct wr_fleet_push_params pp = {fx.cfg_path, fx.reload, NULL};
    struct wr_fleet_push *push = NULL;
    char hash[PLAT_SIG_SHA256_HEX_LEN];
    struct wr_config *next = NULL;
    struct wr_config_diff diff;
    const struct wr_uplink_inbound *in;
    char text[1024];
    size_t len = 0;
    char *env;

    (void)state;
    write_file("state/" WR_FLEET_RECORD_FILE, "garbage\n");
    assert_int_equal(wr_fleet_push_create(&pp, fx.running, &push), WR_OK);
    wr_fleet_push_attach(push, fx.running, &fake_ops, &fake_up);
    config_text(text, sizeof(text), fx.dir, ",\"priority\":6");
    write_file("new.json", text);
    env = sign("k.pem", "new.json", 10, &len);
    in = wr_fleet_push_inbound(push);
    in->message(in->inbox, env, len);
    assert_int_equal(wr_fleet_push_poll(push, fx.running, fx.running_hash, &next, &diff, hash),
                     WR_FLEET_REFUSED);
    assert_non_null(strstr(fake_up.last, "unreadable"));
    assert_file_is_running();
    wr_fleet_push_destroy(push);
    plat_free(env);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_fleet_push_accepted_written_then_applied),
        T(test_fleet_push_rolled_back_restores_file),
        T(test_fleet_push_refusals_leave_file_untouched),
        T(test_fleet_push_same_bytes_new_version_recorded),
        T(test_fleet_push_attach_republishes_and_disabled_ignores),
        T(test_fleet_push_corrupt_record_refuses),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
