#define _POSIX_C_SOURCE 200809L

#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plat_mem.h"
#include "wr_config.h"
#include "wr_error.h"

/*
 * Test configs are written with single quotes for readability; sq() turns
 * them into JSON. build() makes a valid minimal config with extra members
 * spliced into the agent, upstream, first stream and top-level objects.
 */
static char sq_buf[16384];

static const char *sq(const char *s)
{
    size_t n = strlen(s);

    assert_true(n < sizeof(sq_buf));
    for (size_t i = 0; i <= n; i++)
        sq_buf[i] = s[i] == '\'' ? '"' : s[i];
    return sq_buf;
}

static const char *build(const char *agent, const char *upstream, const char *stream,
                         const char *top)
{
    static char tmp[16384];

    snprintf(tmp, sizeof(tmp),
             "{'agent':{'id':'gw1'%s},'upstream':{'uri':'tcp://up.example:1883'%s},"
             "'streams':[{'name':'s0','match':'a/#'%s}]%s}",
             agent, upstream, stream, top);
    return sq(tmp);
}

/* A config whose only stream is exactly the given object body. */
static const char *one_stream(const char *body)
{
    static char tmp[16384];

    snprintf(tmp, sizeof(tmp),
             "{'agent':{'id':'gw1'},'upstream':{'uri':'tcp://u'},'streams':[{%s}]}", body);
    return sq(tmp);
}

static int parse(const char *json, struct wr_config **out, struct wr_config_errors *errs)
{
    return wr_config_parse(json, strlen(json), out, errs);
}

static void dump_errors(const struct wr_config_errors *e)
{
    for (size_t i = 0; i < e->count; i++)
        print_message("  error: %s\n", e->msg[i]);
}

static bool has_error(const struct wr_config_errors *e, const char *msg)
{
    for (size_t i = 0; i < e->count; i++) {
        if (strcmp(e->msg[i], msg) == 0)
            return true;
    }
    return false;
}

/* The text must be rejected with WR_E_INVAL and report exactly this message among its errors. */
static void expect_error(const char *json, const char *msg)
{
    struct wr_config *cfg = NULL;
    struct wr_config_errors errs;
    int rc = parse(json, &cfg, &errs);

    if (rc != WR_E_INVAL || !has_error(&errs, msg)) {
        print_message("expected \"%s\" for %s, got rc %d\n", msg, json, rc);
        dump_errors(&errs);
    }
    assert_int_equal(rc, WR_E_INVAL);
    assert_null(cfg);
    assert_true(has_error(&errs, msg));
}

static struct wr_config *expect_ok(const char *json)
{
    struct wr_config *cfg = NULL;
    struct wr_config_errors errs;
    int rc = parse(json, &cfg, &errs);

    if (rc != WR_OK)
        dump_errors(&errs);
    assert_int_equal(rc, WR_OK);
    assert_int_equal(errs.count, 0);
    assert_non_null(cfg);
    return cfg;
}

/* __FILE__ is absolute in CMake builds: the repository root is three levels up. */
static void source_path(char *out, size_t n, const char *rel)
{
    const char *marker = strstr(__FILE__, "tests/unit/test_config.c");

    assert_non_null(marker);
    snprintf(out, n, "%.*s%s", (int)(marker - __FILE__), __FILE__, rel);
}

static char *read_source_file(const char *rel, size_t *len)
{
    char path[1024];
    FILE *f;
    char *buf;
    long size;

    source_path(path, sizeof(path), rel);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    buf[size] = '\0';
    fclose(f);
    *len = (size_t)size;
    return buf;
}

/* ---- defaults and valid configs ---- */

static void test_config_defaults_fill_every_field(void **state)
{
    struct wr_config *cfg = calloc(1, sizeof(*cfg));

    (void)state;
    assert_non_null(cfg);
    memset(cfg, 0x5a, sizeof(*cfg));
    wr_config_defaults(cfg);
    assert_string_equal(cfg->agent.id, "");
    assert_string_equal(cfg->agent.state_dir, "/var/lib/windrow");
    assert_string_equal(cfg->agent.log_level, "info");
    assert_string_equal(cfg->source.uri, "tcp://127.0.0.1:1883");
    assert_int_equal(cfg->source.qos, 1);
    assert_int_equal(cfg->source.keepalive_s, 30);
    assert_int_equal(cfg->source.max_payload_bytes, 65536);
    assert_string_equal(cfg->source.password, "");
    assert_string_equal(cfg->upstream.uri, "");
    assert_string_equal(cfg->upstream.topic, "windrow/{agent}/results");
    assert_string_equal(cfg->upstream.status_topic, "windrow/{agent}/status");
    assert_int_equal(cfg->upstream.max_inflight, 8);
    assert_int_equal(cfg->upstream.resend_per_s, 2000);
    assert_int_equal(cfg->upstream.reconnect_min_ms, 1000);
    assert_int_equal(cfg->upstream.reconnect_max_ms, 60000);
    assert_string_equal(cfg->upstream.tls.ca_file, "");
    assert_int_equal(cfg->upstream.batch.max_results, 100);
    assert_int_equal(cfg->upstream.batch.max_bytes, 16384);
    assert_int_equal(cfg->upstream.batch.max_delay_ms, 1000);
    assert_int_equal(cfg->n_streams, 0);
    /* Every stream slot carries the stream defaults. */
    for (size_t i = 0; i < WR_CFG_MAX_STREAMS; i++) {
        const struct wr_stream_config *s = &cfg->streams[i];

        assert_string_equal(s->key, "{topic}");
        assert_int_equal(s->format, WR_FORMAT_AUTO);
        assert_string_equal(s->value_field, "value");
        assert_string_equal(s->time_field, "ts");
        assert_int_equal(s->time_unit, WR_TIME_AUTO);
        assert_int_equal(s->window_size_s, 60);
        assert_int_equal(s->allowed_lateness_s, 0);
        assert_int_equal(s->late_policy, WR_LATE_DROP);
        assert_int_equal(s->revise_horizon_s, 3600);
        assert_int_equal(s->max_future_s, 300);
        assert_int_equal(s->aggregates, 0xffu);
        assert_false(s->filter.has_min);
        assert_false(s->filter.has_max);
        assert_true(s->filter.deadband == 0.0);
        assert_int_equal(s->filter.min_interval_ms, 0);
        assert_false(s->filter.dedup);
        assert_int_equal(s->priority, 5);
        assert_int_equal(s->max_keys, 1000);
    }
    assert_int_equal(cfg->backpressure.queue_capacity, 8192);
    assert_int_equal(cfg->backpressure.shed_enter_pct, 75);
    assert_int_equal(cfg->backpressure.shed_leave_pct, 50);
    assert_int_equal(cfg->backpressure.critical_enter_pct, 95);
    assert_int_equal(cfg->backpressure.critical_leave_pct, 80);
    assert_int_equal(cfg->backpressure.shed_mode, WR_SHED_DROP);
    assert_int_equal(cfg->backpressure.sample_keep_one_in, 10);
    assert_int_equal(cfg->backpressure.max_keys_total, 0);
    assert_int_equal(cfg->backpressure.memory_budget_bytes, 0);
    assert_int_equal(cfg->storage.checkpoint_interval_ms, 30000);
    assert_int_equal(cfg->storage.max_bytes, 67108864);
    assert_int_equal(cfg->storage.on_full, WR_ON_FULL_ROLLUP);
    assert_string_equal(cfg->metrics.file, "");
    assert_int_equal(cfg->metrics.interval_ms, 10000);
    wr_config_defaults(NULL);
    free(cfg);
}

static void test_config_minimal_gets_defaults_and_derived_ids(void **state)
{
    struct wr_config *cfg = expect_ok(build("", "", "", ""));

    (void)state;
    assert_string_equal(cfg->agent.id, "gw1");
    assert_string_equal(cfg->source.client_id, "windrow-gw1");
    assert_string_equal(cfg->upstream.client_id, "windrow-up-gw1");
    assert_string_equal(cfg->upstream.uri, "tcp://up.example:1883");
    assert_int_equal(cfg->n_streams, 1);
    assert_string_equal(cfg->streams[0].name, "s0");
    assert_string_equal(cfg->streams[0].match, "a/#");
    assert_string_equal(cfg->streams[0].key, "{topic}");
    assert_int_equal(cfg->streams[0].aggregates, 0xffu);
    assert_int_equal(cfg->streams[0].window_size_s, 60);
    assert_int_equal(cfg->upstream.qos, 1);
    wr_config_free(cfg);
}

static void test_config_explicit_values_are_stored(void **state)
{
    struct wr_config *cfg = expect_ok(build(
        ",'log_level':'debug','state_dir':'/tmp/w'",
        ",'qos':0,'client_id':'up-x','status_topic':'','reconnect':{'min_ms':100,'max_ms':100}",
        ",'format':'senml','time_unit':'ms','time_field':'','window':{'size_s':86400,"
        "'late_policy':'revise'},'aggregates':['stddev','count'],"
        "'filter':{'min':-1.5,'max':-1.5,'deadband':0.25,'dedup':true},'priority':0,"
        "'sketch':{'upstream':true,'accuracy':0.02,'max_buckets':64}",
        ",'backpressure':{'shed_mode':'sample','memory_budget_bytes':65536},"
        "'storage':{'max_bytes':9007199254740992,'on_full':'drop_oldest'}"));
    const struct wr_stream_config *s = &cfg->streams[0];

    (void)state;
    assert_string_equal(cfg->agent.log_level, "debug");
    assert_string_equal(cfg->agent.state_dir, "/tmp/w");
    assert_int_equal(cfg->upstream.qos, 0);
    assert_string_equal(cfg->upstream.client_id, "up-x");
    assert_string_equal(cfg->upstream.status_topic, "");
    assert_int_equal(cfg->upstream.reconnect_min_ms, 100);
    assert_int_equal(cfg->upstream.reconnect_max_ms, 100);
    assert_int_equal(s->format, WR_FORMAT_SENML);
    assert_int_equal(s->time_unit, WR_TIME_MS);
    assert_string_equal(s->time_field, "");
    assert_int_equal(s->window_size_s, 86400);
    assert_int_equal(s->late_policy, WR_LATE_REVISE);
    assert_int_equal(s->aggregates, (1u << 7) | (1u << 0));
    assert_true(s->filter.has_min && s->filter.has_max);
    assert_true(s->filter.min == -1.5 && s->filter.max == -1.5);
    assert_true(s->filter.deadband == 0.25);
    assert_true(s->filter.dedup);
    assert_int_equal(s->priority, 0);
    /* The sketch itself upstream, without quantiles. */
    assert_true(s->sketch.upstream);
    assert_true(s->sketch.accuracy == 0.02);
    assert_int_equal(s->sketch.max_buckets, 64);
    assert_int_equal(s->n_quantiles, 0);
    assert_int_equal(cfg->backpressure.shed_mode, WR_SHED_SAMPLE);
    assert_int_equal(cfg->backpressure.memory_budget_bytes, 65536);
    assert_true(cfg->storage.max_bytes == 9007199254740992ull);
    assert_int_equal(cfg->storage.on_full, WR_ON_FULL_DROP_OLDEST);
    wr_config_free(cfg);
}

static void test_config_integral_float_and_exponent_accepted(void **state)
{
    struct wr_config *cfg =
        expect_ok(build("", "", ",'window':{'size_s':60.0},'max_keys':1e3", ""));

    (void)state;
    assert_int_equal(cfg->streams[0].window_size_s, 60);
    assert_int_equal(cfg->streams[0].max_keys, 1000);
    wr_config_free(cfg);
}

static void test_config_examples_validate(void **state)
{
    static const char *const files[] = {"config/examples/minimal.json",
                                        "config/examples/full.json"};

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        char path[1024];
        struct wr_config *cfg = NULL;
        struct wr_config_errors errs;
        int rc;

        source_path(path, sizeof(path), files[i]);
        rc = wr_config_load_file(path, &cfg, &errs);
        if (rc != WR_OK)
            dump_errors(&errs);
        assert_int_equal(rc, WR_OK);
        assert_non_null(cfg);
        if (i == 1) {
            assert_int_equal(cfg->n_streams, 2);
            assert_string_equal(cfg->upstream.tls.ca_file, "/etc/windrow/ca.pem");
            assert_int_equal(cfg->streams[1].format, WR_FORMAT_SENML);
            assert_true(cfg->streams[0].filter.has_min && cfg->streams[0].filter.min == -40.0);
            assert_false(cfg->streams[1].filter.has_min);
            assert_int_equal(cfg->backpressure.shed_mode, WR_SHED_SAMPLE);
        }
        wr_config_free(cfg);
    }
}

/*
 * full.json promises to set every field: printing the effective config must
 * give exactly its keys in the same order (the printer omits nothing but
 * unset filter bounds, and the second stream leaves those unset on purpose).
 */
static void test_config_full_example_sets_every_field(void **state)
{
    size_t len;
    char *text = read_source_file("config/examples/full.json", &len);
    struct wr_config *cfg = expect_ok(text);
    char *printed = wr_config_to_json(cfg);

    (void)state;
    assert_non_null(printed);
    /* The printed effective config has the same keys, in the same order, as full.json. */
    {
        const char *a = text;
        const char *b = printed;

        for (;;) {
            const char *ka = strstr(a, "\":");
            const char *kb = strstr(b, "\":");

            if (ka == NULL || kb == NULL) {
                assert_true(ka == NULL && kb == NULL);
                break;
            }
            {
                const char *sa = ka;
                const char *sb = kb;

                while (sa > a && sa[-1] != '"')
                    sa--;
                while (sb > b && sb[-1] != '"')
                    sb--;
                assert_int_equal(ka - sa, kb - sb);
                assert_memory_equal(sa, sb, (size_t)(ka - sa));
            }
            a = ka + 2;
            b = kb + 2;
        }
    }
    plat_free(printed);
    wr_config_free(cfg);
    free(text);
}

/*
 * SCHEMA.md shows both examples inline; they must stay valid and equal (as
 * effective configs) to the files in config/examples/.
 */
static void test_config_schema_doc_examples_match_files(void **state)
{
    static const char *const files[] = {"config/examples/minimal.json",
                                        "config/examples/full.json"};
    size_t doc_len;
    char *doc = read_source_file("config/SCHEMA.md", &doc_len);
    const char *p = doc;
    size_t n = 0;

    (void)state;
    for (;;) {
        const char *start = strstr(p, "```json\n");
        const char *end;
        struct wr_config *from_doc;
        struct wr_config *from_file;
        char *text;
        size_t len;
        char *ja;
        char *jb;

        if (start == NULL)
            break;
        start += 8;
        end = strstr(start, "```");
        assert_non_null(end);
        assert_true(n < 2);
        from_doc = NULL;
        assert_int_equal(wr_config_parse(start, (size_t)(end - start), &from_doc, NULL), WR_OK);
        text = read_source_file(files[n], &len);
        from_file = expect_ok(text);
        ja = wr_config_to_json(from_doc);
        jb = wr_config_to_json(from_file);
        assert_non_null(ja);
        assert_non_null(jb);
        assert_string_equal(ja, jb);
        plat_free(ja);
        plat_free(jb);
        wr_config_free(from_doc);
        wr_config_free(from_file);
        free(text);
        n++;
        p = end + 3;
    }
    assert_int_equal(n, 2);
    free(doc);
}

/* ---- print / parse round trip ---- */

static void test_config_print_parse_round_trip(void **state)
{
    size_t len;
    char *text = read_source_file("config/examples/full.json", &len);
    const char *texts[3];

    (void)state;
    texts[0] = text;
    texts[1] = build("", "", "", "");
    texts[2] = NULL;
    for (size_t i = 0; i < 2; i++) {
        char *copy = strdup(texts[i]);
        struct wr_config *a = expect_ok(copy);
        char *ja = wr_config_to_json(a);
        struct wr_config *b;
        char *jb;

        assert_non_null(ja);
        b = expect_ok(ja);
        jb = wr_config_to_json(b);
        assert_non_null(jb);
        assert_string_equal(ja, jb);
        assert_string_equal(a->source.client_id, b->source.client_id);
        assert_int_equal(a->streams[0].aggregates, b->streams[0].aggregates);
        assert_int_equal(a->streams[0].filter.has_min, b->streams[0].filter.has_min);
        assert_true(a->streams[0].filter.min == b->streams[0].filter.min);
        assert_int_equal(a->n_streams, b->n_streams);
        plat_free(ja);
        plat_free(jb);
        wr_config_free(a);
        wr_config_free(b);
        free(copy);
    }
    free(text);
}

static void test_config_print_doubles_and_escapes_exactly(void **state)
{
    struct wr_config *a =
        expect_ok(build("", ",'password':'p\\\"w\\\\d\\n\\u0001\u00e9'",
                        ",'filter':{'min':0.1,'max':1e300,'deadband':5e-324}", ""));
    char *ja = wr_config_to_json(a);
    struct wr_config *b;

    (void)state;
    assert_non_null(ja);
    assert_non_null(strstr(ja, "\"password\": \"p\\\"w\\\\d\\n\\u0001\u00e9\""));
    /* Unset filter bounds are omitted, set ones printed. */
    assert_non_null(strstr(ja, "\"min\": 0.1,"));
    assert_null(strstr(ja, "\"min\": 0\n"));
    b = expect_ok(ja);
    assert_string_equal(a->upstream.password, b->upstream.password);
    assert_true(b->streams[0].filter.min == 0.1);
    assert_true(b->streams[0].filter.max == 1e300);
    assert_true(b->streams[0].filter.deadband == 5e-324);
    plat_free(ja);
    wr_config_free(a);
    wr_config_free(b);
}

static void test_config_print_omits_unset_filter_bounds(void **state)
{
    struct wr_config *a = expect_ok(build("", "", ",'filter':{'max':3}", ""));
    char *ja = wr_config_to_json(a);

    (void)state;
    assert_non_null(ja);
    assert_null(strstr(ja, "\"min\":"));
    assert_non_null(strstr(ja, "\"max\": 3,"));
    assert_non_null(strstr(ja, "\"late_policy\": \"drop\""));
    assert_non_null(strstr(ja, "\"aggregates\": [\"count\", \"sum\", \"min\", \"max\", \"mean\", "
                               "\"first\", \"last\", \"stddev\"]"));
    assert_null(wr_config_to_json(NULL));
    plat_free(ja);
    wr_config_free(a);
}

/* ---- error classes ---- */

static void test_config_wrong_type_names_expected_type(void **state)
{
    (void)state;
    expect_error(build(",'state_dir':5", "", "", ""), "agent.state_dir: must be a string");
    expect_error(build("", ",'qos':'1'", "", ""), "upstream.qos: must be a non-negative integer");
    expect_error(build("", "", ",'window':{'size_s':'60'}", ""),
                 "streams[0].window.size_s: must be a positive integer");
    expect_error(build("", "", ",'filter':{'dedup':1}", ""),
                 "streams[0].filter.dedup: must be a boolean");
    expect_error(build("", "", ",'sketch':{'upstream':1}", ""),
                 "streams[0].sketch.upstream: must be a boolean");
    expect_error(build("", "", ",'quantiles':[0.9,0.5]", ""),
                 "streams[0].quantiles[1]: must be greater than the quantile before it (0.9)");
    expect_error(build("", "", ",'quantiles':[1.5]", ""),
                 "streams[0].quantiles[0]: must be a number in [0, 1]");
    expect_error(build("", "", ",'filter':{'max_silence_ms':1000}", ""),
                 "streams[0].filter.max_silence_ms: needs filter.deadband > 0 (it lets deadband "
                 "drops through)");
    expect_error(build("", "", ",'filter':{'min':'0'}", ""),
                 "streams[0].filter.min: must be a number");
    expect_error(build("", "", ",'filter':{'deadband':null}", ""),
                 "streams[0].filter.deadband: must be a number");
    expect_error(build("", "", ",'window':[]", ""), "streams[0].window: must be an object");
    expect_error(build("", "", "", ",'metrics':'off'"), "metrics: must be an object");
    expect_error(build("", ",'tls':null", "", ""), "upstream.tls: must be an object");
    expect_error(build("", "", ",'format':1", ""), "streams[0].format: must be a string");
    expect_error(sq("{'agent':{'id':'gw1'},'upstream':{'uri':'tcp://u'},'streams':['x']}"),
                 "streams[0]: must be an object");
}

static void test_config_integer_rejects_fraction_and_negative(void **state)
{
    (void)state;
    expect_error(build("", "", ",'window':{'size_s':1.5}", ""),
                 "streams[0].window.size_s: must be a positive integer");
    expect_error(build("", "", ",'window':{'allowed_lateness_s':0.5}", ""),
                 "streams[0].window.allowed_lateness_s: must be a non-negative integer");
    expect_error(build("", "", ",'window':{'size_s':-60}", ""),
                 "streams[0].window.size_s: must be between 1 and 86400");
    expect_error(build("", "", ",'max_keys':1e999", ""),
                 "streams[0].max_keys: must be a positive integer");
    expect_error(build("", "", ",'filter':{'max':-1e999}", ""),
                 "streams[0].filter.max: must be a finite number");
}

static void test_config_out_of_range(void **state)
{
    (void)state;
    expect_error(build("", ",'batch':{'max_bytes':1023}", "", ""),
                 "upstream.batch.max_bytes: must be between 1024 and 1048576");
    expect_error(build("", ",'batch':{'max_bytes':1048577}", "", ""),
                 "upstream.batch.max_bytes: must be between 1024 and 1048576");
    expect_error(build("", "", ",'window':{'size_s':0}", ""),
                 "streams[0].window.size_s: must be between 1 and 86400");
    expect_error(build("", "", ",'window':{'size_s':86401}", ""),
                 "streams[0].window.size_s: must be between 1 and 86400");
    expect_error(build("", ",'qos':2", "", ""), "upstream.qos: must be between 0 and 1");
    expect_error(build("", "", ",'priority':10", ""),
                 "streams[0].priority: must be between 0 and 9");
    expect_error(build("", "", "", ",'storage':{'max_bytes':1048575}"),
                 "storage.max_bytes: must be at least 1048576");
    expect_error(build("", "", "", ",'storage':{'max_bytes':1e16}"),
                 "storage.max_bytes: must be at most 9007199254740992");
    /* 2^32 would wrap a uint32_t if the range were not checked first. */
    expect_error(build("", "", ",'max_keys':4294967296", ""),
                 "streams[0].max_keys: must be between 1 and 1000000");
    expect_error(build("", "", "", ",'backpressure':{'memory_budget_bytes':65535}"),
                 "backpressure.memory_budget_bytes: must be 0 (no budget) or at least 65536");
    expect_error(build("", "", ",'filter':{'deadband':-0.5}", ""),
                 "streams[0].filter.deadband: must be a number >= 0");
    expect_error(build("", ",'keepalive_s':4", "", ""),
                 "upstream.keepalive_s: must be between 5 and 3600");
    expect_error(build("", "", "", ",'metrics':{'interval_ms':99}"),
                 "metrics.interval_ms: must be between 100 and 3600000");
}

static void test_config_boundaries_accepted(void **state)
{
    struct wr_config *cfg =
        expect_ok(build("", ",'batch':{'max_bytes':1024,'max_results':10000,'max_delay_ms':0}",
                        ",'window':{'size_s':1,'revise_horizon_s':604800},'max_keys':1000000",
                        ",'backpressure':{'queue_capacity':16,'max_keys_total':10000000,"
                        "'memory_budget_bytes':0,'shed_leave_pct':1,'shed_enter_pct':2,"
                        "'critical_leave_pct':2,'critical_enter_pct':100}"));

    (void)state;
    assert_int_equal(cfg->upstream.batch.max_bytes, 1024);
    assert_int_equal(cfg->streams[0].window_size_s, 1);
    assert_int_equal(cfg->backpressure.critical_enter_pct, 100);
    assert_int_equal(cfg->backpressure.max_keys_total, 10000000);
    wr_config_free(cfg);
}

static void test_config_too_long_strings(void **state)
{
    char long_id[100];

    (void)state;
    memset(long_id, 'a', 64);
    long_id[64] = '\0';
    {
        char json[512];

        snprintf(json, sizeof(json),
                 "{'agent':{'id':'%s'},'upstream':{'uri':'tcp://u'},"
                 "'streams':[{'name':'s','match':'a'}]}",
                 long_id);
        expect_error(sq(json), "agent.id: too long (max 63)");
    }
    {
        char value[300];
        char extra[400];

        memset(value, 'x', 256);
        value[256] = '\0';
        snprintf(extra, sizeof(extra), ",'password':'%s'", value);
        expect_error(build("", extra, "", ""), "upstream.password: too long (max 255)");
        value[255] = '\0';
        snprintf(extra, sizeof(extra), ",'password':'%s'", value);
        wr_config_free(expect_ok(build("", extra, "", "")));
    }
}

static void test_config_unknown_keys_top_and_nested(void **state)
{
    (void)state;
    expect_error(build("", "", "", ",'colour':'red'"), "colour: unknown key");
    expect_error(build(",'ID':'x'", "", "", ""), "agent.ID: unknown key");
    expect_error(build("", ",'tls':{'ca':'x'}", "", ""), "upstream.tls.ca: unknown key");
    expect_error(build("", "", ",'window':{'size':60}", ""), "streams[0].window.size: unknown key");
    expect_error(sq("{'agent':{'id':'gw1'},'upstream':{'uri':'tcp://u'},'streams':["
                    "{'name':'a','match':'a'},{'name':'b','match':'b'},"
                    "{'name':'c','match':'c','colour':'blue'}]}"),
                 "streams[2].colour: unknown key");
}

static void test_config_duplicate_key(void **state)
{
    (void)state;
    expect_error(build(",'id':'gw2'", "", "", ""), "agent.id: duplicate key");
}

static void test_config_missing_required(void **state)
{
    (void)state;
    expect_error(sq("{'upstream':{'uri':'tcp://u'},'streams':[{'name':'s','match':'a'}]}"),
                 "agent.id: required");
    expect_error(
        sq("{'agent':{},'upstream':{'uri':'tcp://u'},'streams':[{'name':'s','match':'a'}]}"),
        "agent.id: required");
    expect_error(sq("{'agent':{'id':'g'},'streams':[{'name':'s','match':'a'}]}"),
                 "upstream.uri: required");
    expect_error(sq("{'agent':{'id':'g'},'upstream':{'uri':'tcp://u'}}"), "streams: required");
    expect_error(sq("{'agent':{'id':'g'},'upstream':{'uri':'tcp://u'},'streams':[{'match':'a'}]}"),
                 "streams[0].name: required");
    expect_error(sq("{'agent':{'id':'g'},'upstream':{'uri':'tcp://u'},'streams':[{'name':'a'}]}"),
                 "streams[0].match: required");
    expect_error(sq("{'agent':{'id':'g'},'upstream':{'uri':'tcp://u'},'streams':[]}"),
                 "streams: must be a non-empty array");
    expect_error(sq("{'agent':{'id':'g'},'upstream':{'uri':'tcp://u'},'streams':{}}"),
                 "streams: must be a non-empty array");
}

static void test_config_too_many_streams(void **state)
{
    static char json[16384];
    size_t used;

    (void)state;
    used = (size_t)snprintf(json, sizeof(json),
                            "{'agent':{'id':'g'},'upstream':{'uri':'tcp://u'},'streams':[");
    for (int i = 0; i <= WR_CFG_MAX_STREAMS; i++)
        used += (size_t)snprintf(json + used, sizeof(json) - used, "%s{'name':'s%d','match':'a'}",
                                 i > 0 ? "," : "", i);
    snprintf(json + used, sizeof(json) - used, "]}");
    expect_error(sq(json), "streams: too many streams: 65 (max 64)");
}

static void test_config_bad_topic_filter(void **state)
{
    (void)state;
    expect_error(one_stream("'name':'s','match':'a/#/b'"),
                 "streams[0].match: invalid topic filter: '#' must be the last level");
    expect_error(one_stream("'name':'s','match':'a/b+'"),
                 "streams[0].match: invalid topic filter: '+' must occupy a whole level");
    expect_error(sq("{'agent':{'id':'g'},'upstream':{'uri':'tcp://u'},"
                    "'streams':[{'name':'s','match':''}]}"),
                 "streams[0].match: invalid topic filter: empty filter");
    expect_error(build("", ",'topic':'a/+/b'", "", ""),
                 "upstream.topic: must not contain the wildcards '+' or '#'");
    expect_error(build("", ",'topic':''", "", ""), "upstream.topic: must not be empty");
}

static void test_config_bad_key_template(void **state)
{
    (void)state;
    expect_error(build("", "", ",'key':'{topic[32]}'", ""),
                 "streams[0].key: invalid key template: topic level must be a number from 0 to "
                 "31");
    expect_error(build("", "", ",'key':'{device}'", ""),
                 "streams[0].key: invalid key template: unknown placeholder (expected {topic}, "
                 "{topic[N]} or {name})");
    expect_error(build("", "", ",'key':''", ""),
                 "streams[0].key: invalid key template: empty template");
}

static void test_config_duplicate_stream_name(void **state)
{
    (void)state;
    expect_error(sq("{'agent':{'id':'g'},'upstream':{'uri':'tcp://u'},'streams':["
                    "{'name':'t','match':'a'},{'name':'u','match':'b'},{'name':'t','match':'c'}]}"),
                 "streams[2].name: duplicate stream name 't' (also streams[0])");
}

static void test_config_bad_names_and_enums(void **state)
{
    (void)state;
    expect_error(sq("{'agent':{'id':'gw 1'},'upstream':{'uri':'tcp://u'},"
                    "'streams':[{'name':'s','match':'a'}]}"),
                 "agent.id: may contain only letters, digits, '_', '.' and '-'");
    expect_error(sq("{'agent':{'id':''},'upstream':{'uri':'tcp://u'},"
                    "'streams':[{'name':'s','match':'a'}]}"),
                 "agent.id: must not be empty");
    expect_error(one_stream("'name':'a/b','match':'a'"),
                 "streams[0].name: may contain only letters, digits, '_', '.' and '-'");
    expect_error(build(",'log_level':'trace'", "", "", ""),
                 "agent.log_level: must be one of error, warn, info, debug");
    expect_error(build("", "", ",'format':'xml'", ""),
                 "streams[0].format: must be one of auto, json, number, senml");
    expect_error(build("", "", ",'time_unit':'us'", ""),
                 "streams[0].time_unit: must be one of auto, s, ms");
    expect_error(build("", "", ",'window':{'late_policy':'keep'}", ""),
                 "streams[0].window.late_policy: must be one of drop, revise");
    expect_error(build("", "", "", ",'backpressure':{'shed_mode':'random'}"),
                 "backpressure.shed_mode: must be one of drop, sample");
    expect_error(build("", "", "", ",'storage':{'on_full':'stop'}"),
                 "storage.on_full: must be one of rollup, drop_oldest");
    expect_error(build("", "", ",'value_field':''", ""),
                 "streams[0].value_field: must not be empty");
    expect_error(build("", ",'client_id':''", "", ""), "upstream.client_id: must not be empty");
}

static void test_config_aggregates(void **state)
{
    (void)state;
    expect_error(build("", "", ",'aggregates':[]", ""),
                 "streams[0].aggregates: must be a non-empty array of aggregate names");
    expect_error(build("", "", ",'aggregates':'count'", ""),
                 "streams[0].aggregates: must be a non-empty array of aggregate names");
    expect_error(build("", "", ",'aggregates':['count','median']", ""),
                 "streams[0].aggregates[1]: unknown aggregate 'median' (expected one of count, "
                 "sum, min, max, mean, first, last, stddev)");
    expect_error(build("", "", ",'aggregates':['sum','max','sum']", ""),
                 "streams[0].aggregates[2]: duplicate aggregate 'sum'");
    expect_error(build("", "", ",'aggregates':['sum',3]", ""),
                 "streams[0].aggregates[1]: must be a string");
}

static void test_config_uris(void **state)
{
    static const char *const good[] = {
        "tcp://h",
        "mqtt://h:1",
        "ssl://h.example.com:8883",
        "mqtts://[::1]:8883",
        "tcp://10.0.0.1:65535",
    };
    static const char *const bad[] = {
        "http://h",         "tcp://",       "tcp://h:",   "tcp://h:0",  "tcp://h:65536",
        "tcp://h:12345678", "tcp://h/path", "tcp://[]:1", "tcp://h:1x", "TCP://h",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char json[512];

        snprintf(json, sizeof(json),
                 "{'agent':{'id':'g'},'upstream':{'uri':'%s','tls':{'ca_file':'/ca'}},"
                 "'streams':[{'name':'s','match':'a'}]}",
                 good[i]);
        wr_config_free(expect_ok(sq(json)));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char json[512];
        struct wr_config *cfg = NULL;
        struct wr_config_errors errs;

        snprintf(
            json, sizeof(json),
            "{'agent':{'id':'g'},'upstream':{'uri':'%s'},'streams':[{'name':'s','match':'a'}]}",
            bad[i]);
        assert_int_equal(parse(sq(json), &cfg, &errs), WR_E_INVAL);
        assert_int_equal(errs.count, 1);
        assert_memory_equal(errs.msg[0], "upstream.uri: ", 14);
    }
    expect_error(sq("{'agent':{'id':'g'},'upstream':{'uri':'http://x'},"
                    "'streams':[{'name':'s','match':'a'}]}"),
                 "upstream.uri: must start with tcp://, mqtt://, ssl:// or mqtts://");
    expect_error(build("", "", "", ",'source':{'uri':'ssl://h:8883'}"),
                 "source.uri: must start with tcp:// or mqtt://");
    expect_error(build("", "", "", ",'source':{'uri':'tcp://h:99999'}"),
                 "source.uri: port must be a number from 1 to 65535");
    expect_error(build("", "", "", ",'source':{'uri':'tcp://h/x'}"),
                 "source.uri: expected scheme://host[:port]");
}

static void test_config_tls_rules(void **state)
{
    (void)state;
    expect_error(sq("{'agent':{'id':'g'},'upstream':{'uri':'mqtts://h:8883'},"
                    "'streams':[{'name':'s','match':'a'}]}"),
                 "upstream.tls.ca_file: required with an ssl:// or mqtts:// uri");
    expect_error(sq("{'agent':{'id':'g'},'upstream':{'uri':'ssl://h','tls':{}},"
                    "'streams':[{'name':'s','match':'a'}]}"),
                 "upstream.tls.ca_file: required with an ssl:// or mqtts:// uri");
    expect_error(build("", ",'tls':{'cert_file':'/c.pem'}", "", ""),
                 "upstream.tls.key_file: required when upstream.tls.cert_file is set");
    expect_error(build("", ",'tls':{'key_file':'/c.key'}", "", ""),
                 "upstream.tls.cert_file: required when upstream.tls.key_file is set");
}

static void test_config_inconsistent_thresholds(void **state)
{
    (void)state;
    expect_error(build("", ",'reconnect':{'min_ms':5000,'max_ms':4000}", "", ""),
                 "upstream.reconnect.max_ms: must be at least reconnect.min_ms (5000)");
    /* The field the user set is the one blamed. */
    expect_error(build("", "", "", ",'backpressure':{'shed_enter_pct':40}"),
                 "backpressure.shed_enter_pct: must be above shed_leave_pct (50)");
    expect_error(build("", "", "", ",'backpressure':{'shed_leave_pct':75}"),
                 "backpressure.shed_leave_pct: must be below shed_enter_pct (75)");
    expect_error(build("", "", "", ",'backpressure':{'shed_enter_pct':81}"),
                 "backpressure.shed_enter_pct: must be at most critical_leave_pct (80)");
    expect_error(build("", "", "", ",'backpressure':{'critical_leave_pct':70}"),
                 "backpressure.critical_leave_pct: must be at least shed_enter_pct (75)");
    expect_error(build("", "", "", ",'backpressure':{'critical_enter_pct':80}"),
                 "backpressure.critical_enter_pct: must be above critical_leave_pct (80)");
    expect_error(
        build("", "", "", ",'backpressure':{'critical_enter_pct':90,'critical_leave_pct':90}"),
        "backpressure.critical_leave_pct: must be below critical_enter_pct (90)");
    expect_error(build("", "", ",'filter':{'min':2,'max':1}", ""),
                 "streams[0].filter.min: must not exceed filter.max (1)");
}

static void test_config_derived_client_id_too_long(void **state)
{
    char id[64];
    char json[512];

    (void)state;
    memset(id, 'x', 55);
    id[55] = '\0';
    snprintf(
        json, sizeof(json),
        "{'agent':{'id':'%s'},'upstream':{'uri':'tcp://u'},'streams':[{'name':'s','match':'a'}]}",
        id);
    expect_error(sq(json), "upstream.client_id: default 'windrow-up-<agent.id>' is too long "
                           "(max 63); set it explicitly");
    /* Only the upstream id overflows: "windrow-" (8) + 55 fits in 63. */
    {
        struct wr_config *cfg = NULL;
        struct wr_config_errors errs;

        assert_int_equal(parse(sq(json), &cfg, &errs), WR_E_INVAL);
        assert_int_equal(errs.count, 1);
    }
}

static void test_config_topic_too_long_after_expansion(void **state)
{
    char topic[300];
    char json[600];

    (void)state;
    /* 240 + 7 bytes fit the buffer; with a 20-byte agent id the expansion needs 260. */
    memset(topic, 't', 240);
    memcpy(topic + 240, "{agent}", 8);
    snprintf(json, sizeof(json),
             "{'agent':{'id':'abcdefghij0123456789'},'upstream':{'uri':'tcp://u',"
             "'status_topic':'%s'},'streams':[{'name':'s','match':'a'}]}",
             topic);
    expect_error(sq(json), "upstream.status_topic: too long once {agent} is replaced (max 255)");
}

static void test_config_collects_all_errors(void **state)
{
    struct wr_config *cfg = NULL;
    struct wr_config_errors errs;
    const char *json = sq("{'agent':{'id':'bad id','log_level':'loud'},"
                          "'upstream':{'uri':'x','qos':3,'batch':{'max_bytes':1}},"
                          "'streams':[{'name':'s','match':'a/#/b','window':{'size_s':0}},"
                          "{'match':'b','colour':1}],'extra':true}");

    (void)state;
    assert_int_equal(parse(json, &cfg, &errs), WR_E_INVAL);
    assert_null(cfg);
    if (errs.count != 10)
        dump_errors(&errs);
    assert_int_equal(errs.count, 10);
    assert_true(has_error(&errs, "agent.log_level: must be one of error, warn, info, debug"));
    assert_true(has_error(&errs, "upstream.qos: must be between 0 and 1"));
    assert_true(has_error(&errs, "upstream.batch.max_bytes: must be between 1024 and 1048576"));
    assert_true(has_error(&errs, "streams[0].window.size_s: must be between 1 and 86400"));
    assert_true(has_error(&errs, "streams[1].colour: unknown key"));
    assert_true(has_error(&errs, "streams[1].name: required"));
    assert_true(has_error(&errs, "extra: unknown key"));
}

static void test_config_error_list_is_capped(void **state)
{
    static char json[16384];
    struct wr_config *cfg = NULL;
    struct wr_config_errors errs;
    size_t used;

    (void)state;
    used = (size_t)snprintf(json, sizeof(json),
                            "{'agent':{'id':'g'},'upstream':{'uri':'tcp://u'},'streams':[");
    for (int i = 0; i < 40; i++)
        used += (size_t)snprintf(json + used, sizeof(json) - used,
                                 "%s{'name':'s%d','match':'a','priority':99}", i > 0 ? "," : "", i);
    snprintf(json + used, sizeof(json) - used, "]}");
    assert_int_equal(parse(sq(json), &cfg, &errs), WR_E_INVAL);
    assert_int_equal(errs.count, WR_CFG_MAX_ERRORS);
    assert_string_equal(errs.msg[0], "streams[0].priority: must be between 0 and 9");
    assert_string_equal(errs.msg[WR_CFG_MAX_ERRORS - 1], "config: 9 more errors not shown");
}

static void test_config_not_json(void **state)
{
    struct wr_config *cfg = NULL;
    struct wr_config_errors errs;

    (void)state;
    assert_int_equal(parse("{\n  \"agent\": {\n    \"id\": x\n}", &cfg, &errs), WR_E_PARSE);
    assert_null(cfg);
    assert_int_equal(errs.count, 1);
    assert_string_equal(errs.msg[0], "config: not valid JSON near line 3, column 11");

    assert_int_equal(parse("{\"agent\": {}", &cfg, &errs), WR_E_PARSE);
    assert_memory_equal(errs.msg[0], "config: not valid JSON near line 1", 34);

    assert_int_equal(parse("{} {}", &cfg, &errs), WR_E_PARSE);
    assert_string_equal(errs.msg[0],
                        "config: not valid JSON: unexpected text after the value at line 1, "
                        "column 4");

    assert_int_equal(parse(" \n\t", &cfg, &errs), WR_E_PARSE);
    assert_string_equal(errs.msg[0], "config: empty, expected a JSON object");

    assert_int_equal(wr_config_parse("", 0, &cfg, &errs), WR_E_PARSE);

    assert_int_equal(parse("[1, 2]", &cfg, &errs), WR_E_INVAL);
    assert_string_equal(errs.msg[0], "config: must be a JSON object");
    assert_null(cfg);
}

/* A fixture with one of most kinds of error, in the order they are reported. */
static void test_config_fixture_reports_every_error(void **state)
{
    static const char *const want[] = {
        "agent.id: may contain only letters, digits, '_', '.' and '-'",
        "agent.log_level: must be one of error, warn, info, debug",
        "upstream.batch.max_bytes: must be between 1024 and 1048576",
        "streams[0].match: invalid topic filter: '#' must be the last level",
        "streams[0].window.size_s: must be a positive integer",
        "streams[1].key: invalid key template: unknown placeholder (expected {topic}, "
        "{topic[N]} or {name})",
        "streams[1].colour: unknown key",
        "upstream.tls.ca_file: required with an ssl:// or mqtts:// uri",
        "upstream.tls.key_file: required when upstream.tls.cert_file is set",
        "backpressure.shed_enter_pct: must be above shed_leave_pct (50)",
        "streams[1].name: duplicate stream name 'temp' (also streams[0])",
    };
    char path[1024];
    struct wr_config *cfg = NULL;
    struct wr_config_errors errs;

    (void)state;
    source_path(path, sizeof(path), "tests/data/config/invalid_many.json");
    assert_int_equal(wr_config_load_file(path, &cfg, &errs), WR_E_INVAL);
    assert_null(cfg);
    if (errs.count != sizeof(want) / sizeof(want[0]))
        dump_errors(&errs);
    assert_int_equal(errs.count, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < errs.count; i++)
        assert_string_equal(errs.msg[i], want[i]);
}

static void test_config_length_bounds_the_text(void **state)
{
    const char *json = build("", "", "", "");
    char *copy = malloc(strlen(json) + 10);
    struct wr_config *cfg = NULL;
    struct wr_config_errors errs;

    (void)state;
    assert_non_null(copy);
    strcpy(copy, json);
    strcat(copy, "garbage");
    /* Only the first len bytes are the config: the trailing text is not read. */
    assert_int_equal(wr_config_parse(copy, strlen(json), &cfg, &errs), WR_OK);
    wr_config_free(cfg);
    cfg = NULL;
    assert_int_equal(wr_config_parse(copy, strlen(json) - 1, &cfg, &errs), WR_E_PARSE);
    assert_null(cfg);
    free(copy);
}

static void test_config_null_arguments(void **state)
{
    struct wr_config *cfg = NULL;
    struct wr_config_errors errs;

    (void)state;
    errs.count = 7;
    assert_int_equal(wr_config_parse(NULL, 0, &cfg, &errs), WR_E_INVAL);
    assert_int_equal(errs.count, 0);
    assert_int_equal(wr_config_parse("{}", 2, NULL, NULL), WR_E_INVAL);
    assert_int_equal(wr_config_load_file(NULL, &cfg, NULL), WR_E_INVAL);
    /* errs may be NULL. */
    assert_int_equal(wr_config_parse("{}", 2, &cfg, NULL), WR_E_INVAL);
    assert_null(cfg);
    wr_config_free(NULL);
}

/* ---- files ---- */

static void write_temp(char *path, size_t n, const char *content, size_t len)
{
    int fd;

    snprintf(path, n, "/tmp/wr_test_config_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
}

static void test_config_load_file_errors_name_the_file(void **state)
{
    struct wr_config *cfg = NULL;
    struct wr_config_errors errs;
    char path[64];
    char expect[160];

    (void)state;
    assert_int_equal(wr_config_load_file("/nonexistent/windrow.json", &cfg, &errs), WR_E_IO);
    assert_int_equal(errs.count, 1);
    assert_string_equal(errs.msg[0],
                        "/nonexistent/windrow.json: cannot read: No such file or directory");

    assert_int_equal(wr_config_load_file("/tmp", &cfg, &errs), WR_E_IO);
    assert_string_equal(errs.msg[0], "/tmp: cannot read: Is a directory");

    write_temp(path, sizeof(path), "{\"agent\":", 9);
    assert_int_equal(wr_config_load_file(path, &cfg, &errs), WR_E_PARSE);
    snprintf(expect, sizeof(expect), "%s: not valid JSON near line 1", path);
    assert_memory_equal(errs.msg[0], expect, strlen(expect));
    unlink(path);
    assert_null(cfg);
}

static void test_config_load_file_size_cap(void **state)
{
    struct wr_config *cfg = NULL;
    struct wr_config_errors errs;
    const char *base = build("", "", "", "");
    size_t base_len = strlen(base);
    size_t cap = 1024u * 1024u;
    char *big = malloc(cap + 1);
    char path[64];
    char expect[160];

    (void)state;
    assert_non_null(big);
    /* Exactly 1 MiB (valid config padded with whitespace) loads; one byte more does not. */
    memcpy(big, base, base_len);
    memset(big + base_len, ' ', cap + 1 - base_len);
    write_temp(path, sizeof(path), big, cap);
    assert_int_equal(wr_config_load_file(path, &cfg, &errs), WR_OK);
    wr_config_free(cfg);
    cfg = NULL;
    unlink(path);

    write_temp(path, sizeof(path), big, cap + 1);
    assert_int_equal(wr_config_load_file(path, &cfg, &errs), WR_E_IO);
    snprintf(expect, sizeof(expect), "%s: cannot read: larger than 1048576 bytes", path);
    assert_string_equal(errs.msg[0], expect);
    assert_null(cfg);
    unlink(path);
    free(big);
}

/* ---- topic templates ---- */

static void test_config_expand_topic(void **state)
{
    char out[32];

    (void)state;
    assert_int_equal(wr_config_expand_topic("w/{agent}/r/{agent}", "gw1", out, sizeof(out)), WR_OK);
    assert_string_equal(out, "w/gw1/r/gw1");
    assert_int_equal(wr_config_expand_topic("plain", "gw1", out, sizeof(out)), WR_OK);
    assert_string_equal(out, "plain");
    assert_int_equal(wr_config_expand_topic("{agent", "gw1", out, sizeof(out)), WR_OK);
    assert_string_equal(out, "{agent");
    assert_int_equal(wr_config_expand_topic("", "gw1", out, sizeof(out)), WR_OK);
    assert_string_equal(out, "");
    /* "ab/gw1" needs 7 bytes with the NUL. */
    assert_int_equal(wr_config_expand_topic("ab/{agent}", "gw1", out, 7), WR_OK);
    assert_int_equal(wr_config_expand_topic("ab/{agent}", "gw1", out, 6), WR_E_TOOBIG);
    assert_string_equal(out, "");
    assert_int_equal(wr_config_expand_topic("abcdef", "gw1", out, 6), WR_E_TOOBIG);
    assert_int_equal(wr_config_expand_topic("a", "gw1", out, 0), WR_E_TOOBIG);
    assert_int_equal(wr_config_expand_topic(NULL, "gw1", out, sizeof(out)), WR_E_INVAL);
    assert_int_equal(wr_config_expand_topic("a", NULL, out, sizeof(out)), WR_E_INVAL);
    assert_int_equal(wr_config_expand_topic("a", "g", NULL, 4), WR_E_INVAL);
}

/* ---- allocation failure ---- */

static void test_config_parse_allocation_failure(void **state)
{
    size_t len;
    char *text = read_source_file("config/examples/full.json", &len);
    long n;

    (void)state;
    for (n = 1;; n++) {
        struct wr_config *cfg = NULL;
        struct wr_config_errors errs;
        int rc;

        wr_test_alloc_fail_at(n);
        rc = wr_config_parse(text, len, &cfg, &errs);
        if (rc == WR_OK) {
            wr_test_alloc_fail_at(0);
            wr_config_free(cfg);
            break;
        }
        assert_int_equal(rc, WR_E_NOMEM);
        assert_null(cfg);
        assert_string_equal(errs.msg[0], "config: out of memory");
    }
    /* cJSON's nodes go through plat_malloc too, so there are many allocation points. */
    assert_true(n > 50);
    free(text);
}

static void test_config_to_json_allocation_failure(void **state)
{
    struct wr_config *cfg = NULL;
    size_t len;
    char *text = read_source_file("config/examples/full.json", &len);
    long n;

    (void)state;
    assert_int_equal(wr_config_parse(text, len, &cfg, NULL), WR_OK);
    for (n = 1;; n++) {
        char *json;

        wr_test_alloc_fail_at(n);
        json = wr_config_to_json(cfg);
        if (json != NULL) {
            wr_test_alloc_fail_at(0);
            plat_free(json);
            break;
        }
    }
    assert_true(n > 1);
    wr_config_free(cfg);
    free(text);
}

static void test_config_load_file_allocation_failure(void **state)
{
    char path[1024];
    long n;

    (void)state;
    source_path(path, sizeof(path), "config/examples/minimal.json");
    for (n = 1;; n++) {
        struct wr_config *cfg = NULL;
        int rc;

        wr_test_alloc_fail_at(n);
        rc = wr_config_load_file(path, &cfg, NULL);
        if (rc == WR_OK) {
            wr_test_alloc_fail_at(0);
            wr_config_free(cfg);
            break;
        }
        assert_int_equal(rc, WR_E_NOMEM);
    }
    assert_true(n > 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_fill_every_field),
        cmocka_unit_test(test_config_minimal_gets_defaults_and_derived_ids),
        cmocka_unit_test(test_config_explicit_values_are_stored),
        cmocka_unit_test(test_config_integral_float_and_exponent_accepted),
        cmocka_unit_test(test_config_examples_validate),
        cmocka_unit_test(test_config_full_example_sets_every_field),
        cmocka_unit_test(test_config_schema_doc_examples_match_files),
        cmocka_unit_test(test_config_print_parse_round_trip),
        cmocka_unit_test(test_config_print_doubles_and_escapes_exactly),
        cmocka_unit_test(test_config_print_omits_unset_filter_bounds),
        cmocka_unit_test(test_config_wrong_type_names_expected_type),
        cmocka_unit_test(test_config_integer_rejects_fraction_and_negative),
        cmocka_unit_test(test_config_out_of_range),
        cmocka_unit_test(test_config_boundaries_accepted),
        cmocka_unit_test(test_config_too_long_strings),
        cmocka_unit_test(test_config_unknown_keys_top_and_nested),
        cmocka_unit_test(test_config_duplicate_key),
        cmocka_unit_test(test_config_missing_required),
        cmocka_unit_test(test_config_too_many_streams),
        cmocka_unit_test(test_config_bad_topic_filter),
        cmocka_unit_test(test_config_bad_key_template),
        cmocka_unit_test(test_config_duplicate_stream_name),
        cmocka_unit_test(test_config_bad_names_and_enums),
        cmocka_unit_test(test_config_aggregates),
        cmocka_unit_test(test_config_uris),
        cmocka_unit_test(test_config_tls_rules),
        cmocka_unit_test(test_config_inconsistent_thresholds),
        cmocka_unit_test(test_config_derived_client_id_too_long),
        cmocka_unit_test(test_config_topic_too_long_after_expansion),
        cmocka_unit_test(test_config_collects_all_errors),
        cmocka_unit_test(test_config_error_list_is_capped),
        cmocka_unit_test(test_config_not_json),
        cmocka_unit_test(test_config_fixture_reports_every_error),
        cmocka_unit_test(test_config_length_bounds_the_text),
        cmocka_unit_test(test_config_null_arguments),
        cmocka_unit_test(test_config_load_file_errors_name_the_file),
        cmocka_unit_test(test_config_load_file_size_cap),
        cmocka_unit_test(test_config_expand_topic),
        cmocka_unit_test_setup_teardown(test_config_parse_allocation_failure, wr_test_alloc_setup,
                                        wr_test_alloc_teardown),
        cmocka_unit_test_setup_teardown(test_config_to_json_allocation_failure, wr_test_alloc_setup,
                                        wr_test_alloc_teardown),
        cmocka_unit_test_setup_teardown(test_config_load_file_allocation_failure,
                                        wr_test_alloc_setup, wr_test_alloc_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
