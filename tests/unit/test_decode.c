#include "decode.h"
#include "decode_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "wr_error.h"

#define MAX_EVENTS 16

static struct wr_decode_spec base_spec(void)
{
    struct wr_decode_spec spec;

    memset(&spec, 0, sizeof(spec));
    spec.format = WR_FORMAT_AUTO;
    spec.value_field = "value";
    spec.time_field = "ts";
    spec.time_unit = WR_TIME_AUTO;
    spec.key_template = "{topic}";
    spec.max_payload_bytes = 4096;
    spec.stream = 7;
    return spec;
}

/*
 * Decode a payload held in a heap block of exactly its length, with no NUL
 * after it, so that AddressSanitizer reports any read past payload_len.
 */
static int decode_len(const struct wr_decode_spec *spec, const char *topic, const char *payload,
                      size_t len, struct wr_event *events, size_t max_events,
                      struct wr_decode_result *res)
{
    char *copy = malloc(len > 0 ? len : 1);
    int rc;

    assert_non_null(copy);
    memcpy(copy, payload, len);
    memset(events, 0xAB, sizeof(*events) * MAX_EVENTS);
    rc = wr_decode_message(spec, topic, strlen(topic), copy, len, events, max_events, res);
    free(copy);
    return rc;
}

static int decode(const struct wr_decode_spec *spec, const char *payload, struct wr_event *events,
                  struct wr_decode_result *res)
{
    return decode_len(spec, "site/dev42/temp", payload, strlen(payload), events, MAX_EVENTS, res);
}

static uint32_t total_drops(const struct wr_decode_result *res)
{
    uint32_t sum = 0;

    for (int i = 0; i < WR_DROP_REASON_COUNT; i++)
        sum += res->drops[i];
    return sum;
}

/* Exactly one drop, under reason, and no events. */
static void want_drop(const struct wr_decode_spec *spec, const char *payload,
                      enum wr_drop_reason reason)
{
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;

    assert_int_equal(decode(spec, payload, events, &res), WR_OK);
    if (res.n_events != 0 || res.drops[reason] != 1 || total_drops(&res) != 1)
        fail_msg("payload '%s': expected one %s drop, got %zu events, %u drops", payload,
                 wr_drop_reason_name(reason), res.n_events, (unsigned)total_drops(&res));
}

/* Exactly one event, returned through ev. */
static void want_event(const struct wr_decode_spec *spec, const char *payload, struct wr_event *ev)
{
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;

    assert_int_equal(decode(spec, payload, events, &res), WR_OK);
    if (res.n_events != 1 || total_drops(&res) != 0)
        fail_msg("payload '%s': expected one event, got %zu events, %u drops", payload,
                 res.n_events, (unsigned)total_drops(&res));
    *ev = events[0];
}

static void want_value(const struct wr_decode_spec *spec, const char *payload, double value)
{
    struct wr_event ev;

    want_event(spec, payload, &ev);
    assert_true(ev.value == value);
}

static void want_time(const struct wr_decode_spec *spec, const char *payload, int64_t time_ms)
{
    struct wr_event ev;

    want_event(spec, payload, &ev);
    assert_true(ev.has_time);
    if (ev.time_ms != time_ms)
        fail_msg("payload '%s': time %lld, expected %lld", payload, (long long)ev.time_ms,
                 (long long)time_ms);
}

static void test_decode_number_plain(void **state)
{
    struct wr_decode_spec spec = base_spec();
    struct wr_event ev;

    (void)state;
    want_event(&spec, "21.5", &ev);
    assert_true(ev.value == 21.5);
    assert_false(ev.has_time);
    assert_int_equal(ev.time_ms, 0);
    assert_int_equal(ev.arrival_mono_ms, 0);
    assert_int_equal(ev.stream, 7);
    assert_string_equal(ev.key, "site/dev42/temp");
}

static void test_decode_number_forms(void **state)
{
    struct wr_decode_spec spec = base_spec();
    char long_ok[300];

    (void)state;
    want_value(&spec, " \n-3e2\t\r", -300.0);
    want_value(&spec, "+5", 5.0);
    want_value(&spec, ".5", 0.5);
    want_value(&spec, "5.", 5.0);
    want_value(&spec, "007", 7.0);
    want_value(&spec, "1E-2", 0.01);
    want_value(&spec, "-0", 0.0);
    want_value(&spec, "1e-400", 0.0); /* underflow is a tiny finite value, not an error */
    /* A long but valid number: "0.000...01" with 290 zeros. */
    memset(long_ok, '0', sizeof(long_ok));
    long_ok[1] = '.';
    long_ok[sizeof(long_ok) - 2] = '1';
    long_ok[sizeof(long_ok) - 1] = '\0';
    want_value(&spec, long_ok, 1e-297);
}

static void test_decode_number_malformed(void **state)
{
    static const char *const bad[] = {
        "12abc", "abc",   "1.2.3", "--1",  "e5", "1e",    "1e+",  ".",  "+",   "-",    "0x10",
        "1 2",   "\"5\"", "true",  "null", "5,", "1_000", "nanx", "in", "+-1", "1..2",
    };
    struct wr_decode_spec spec = base_spec();
    char too_long[400];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        want_drop(&spec, bad[i], WR_DROP_MALFORMED);
    /* Longer than any double written out in full: refused, documented limit. */
    memset(too_long, '1', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0';
    want_drop(&spec, too_long, WR_DROP_MALFORMED);
}

static void test_decode_number_non_finite(void **state)
{
    static const char *const nonfinite[] = {
        "nan", "NaN", "-nan", "inf", "-inf", "+Infinity", "INF", "1e999", "-1e400", " nan ",
    };
    struct wr_decode_spec spec = base_spec();

    (void)state;
    for (size_t i = 0; i < sizeof(nonfinite) / sizeof(nonfinite[0]); i++)
        want_drop(&spec, nonfinite[i], WR_DROP_NON_FINITE);
}

static void test_decode_empty_payload(void **state)
{
    struct wr_decode_spec spec = base_spec();
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;

    (void)state;
    want_drop(&spec, "", WR_DROP_MALFORMED);
    want_drop(&spec, " \t\r\n", WR_DROP_MALFORMED);
    assert_int_equal(wr_decode_message(&spec, "t", 1, NULL, 0, events, MAX_EVENTS, &res), WR_OK);
    assert_int_equal(res.drops[WR_DROP_MALFORMED], 1);
    assert_int_equal(res.n_events, 0);
}

static void test_decode_oversize(void **state)
{
    struct wr_decode_spec spec = base_spec();

    (void)state;
    spec.max_payload_bytes = 8;
    want_value(&spec, "12345678", 12345678.0);
    want_drop(&spec, "123456789", WR_DROP_OVERSIZE);
    /* Oversize wins over everything else: nothing is parsed. */
    want_drop(&spec, "[{\"n\":\"a\",\"v\":1}]", WR_DROP_OVERSIZE);
    want_drop(&spec, "garbage!!", WR_DROP_OVERSIZE);
}

static void test_decode_unterminated_payload(void **state)
{
    struct wr_decode_spec spec = base_spec();
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;
    static const char number[] = "21.5999";
    static const char object[] = "{\"value\":3}{\"value\":4}";
    static const char pack[] = "[{\"n\":\"a\",\"v\":1}]]]]";

    (void)state;
    /* Only the first payload_len bytes count; what follows must not be read. */
    assert_int_equal(decode_len(&spec, "t", number, 4, events, MAX_EVENTS, &res), WR_OK);
    assert_int_equal(res.n_events, 1);
    assert_true(events[0].value == 21.5);

    assert_int_equal(decode_len(&spec, "t", object, 11, events, MAX_EVENTS, &res), WR_OK);
    assert_int_equal(res.n_events, 1);
    assert_true(events[0].value == 3.0);

    assert_int_equal(decode_len(&spec, "t", pack, 17, events, MAX_EVENTS, &res), WR_OK);
    assert_int_equal(res.n_events, 1);

    /* Cut short inside a value: malformed, however the buffer continues. */
    for (size_t len = 1; len < 11; len++) {
        assert_int_equal(decode_len(&spec, "t", object, len, events, MAX_EVENTS, &res), WR_OK);
        assert_int_equal(res.n_events, 0);
        assert_int_equal(res.drops[WR_DROP_MALFORMED], 1);
    }
    for (size_t len = 1; len < 17; len++) {
        assert_int_equal(decode_len(&spec, "t", pack, len, events, MAX_EVENTS, &res), WR_OK);
        assert_int_equal(res.n_events, 0);
        assert_int_equal(res.drops[WR_DROP_MALFORMED], 1);
    }
}

static void test_decode_auto_detection(void **state)
{
    struct wr_decode_spec spec = base_spec();
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;

    (void)state;
    want_value(&spec, "  {\"value\": 1.25}  ", 1.25);
    want_value(&spec, "\n42\n", 42.0);
    assert_int_equal(decode(&spec, " [{\"n\":\"a\",\"v\":2},{\"n\":\"b\",\"v\":3}] ", events, &res),
                     WR_OK);
    assert_int_equal(res.n_events, 2);
    assert_true(events[1].value == 3.0);
    /* Other JSON values are neither an object, a pack nor a number. */
    want_drop(&spec, "\"21.5\"", WR_DROP_MALFORMED);
    want_drop(&spec, "\xEF\xBB\xBF{\"value\":1}", WR_DROP_MALFORMED);
}

static void test_decode_forced_formats(void **state)
{
    struct wr_decode_spec spec = base_spec();
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;

    (void)state;
    spec.format = WR_FORMAT_JSON;
    want_value(&spec, "{\"value\":1}", 1.0);
    want_drop(&spec, "[{\"n\":\"a\",\"v\":1}]", WR_DROP_MALFORMED);
    want_drop(&spec, "5", WR_DROP_MALFORMED);

    spec.format = WR_FORMAT_NUMBER;
    want_value(&spec, "5", 5.0);
    want_drop(&spec, "{\"value\":1}", WR_DROP_MALFORMED);
    want_drop(&spec, "[1]", WR_DROP_MALFORMED);

    spec.format = WR_FORMAT_SENML;
    assert_int_equal(decode(&spec, "[{\"n\":\"a\",\"v\":1}]", events, &res), WR_OK);
    assert_int_equal(res.n_events, 1);
    want_drop(&spec, "{\"n\":\"a\",\"v\":1}", WR_DROP_MALFORMED);
    want_drop(&spec, "5", WR_DROP_MALFORMED);
}

static void test_decode_json_malformed(void **state)
{
    static const char *const bad[] = {
        "{",         "{\"value\":1,}",  "{\"value\":1} x", "{}{}",        "{\"value\":1}}",
        "{value:1}", "{\"value\":'1'}", "{\"value\":1",    "{\"value\"}", "{\"a\":[1,2}",
    };
    struct wr_decode_spec spec = base_spec();

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        want_drop(&spec, bad[i], WR_DROP_MALFORMED);
}

/* The JSON reader is RFC 8259 strict, and reads escapes in names and values. */
static void test_decode_json_strict(void **state)
{
    static const char *const bad[] = {
        "{\"value\":01}",
        "{\"value\":1.}",
        "{\"value\":-}",
        "{\"value\":.5}",
        "{\"value\":+1}",
        "{\"value\":1e}",
        "{\"value\":1,\"x\":tru}",
        "{\"value\":\"a\tb\"}",
        "{\"value\":\"\\x\"}",
        "{\"value\":\"\\ud800\"}",
        "{\"value\":\"\\udc00x\"}",
        "{\"value\":\"\\u12g4\"}",
        "{\"value\":1,\"x\":[1 2]}",
        "{\"value\":1,\"x\":{\"a\" 1}}",
        "{\"value\":1 \"x\":2}",
        "{\"value\":1,\"x\":[1,]}",
        "{\"value\":\"unterminated}",
    };
    struct wr_decode_spec spec = base_spec();
    struct wr_event ev;
    char deep[2100];
    size_t k = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        want_drop(&spec, bad[i], WR_DROP_MALFORMED);
    /* The first member of a name counts; escaped names match their decoded text. */
    want_value(&spec, "{\"value\":1,\"value\":2}", 1.0);
    want_value(&spec, "{\"va\\u006cue\":3}", 3.0);
    want_value(&spec, "{\"value\":\"\\u0032\\u0031.5\"}", 21.5);
    want_value(&spec, "{\"value\":\"\\t 4 \\n\"}", 4.0);
    want_drop(&spec, "{\"value\":\"4\\u0020 5\"}", WR_DROP_NO_VALUE);
    want_value(&spec,
               "{\"value\":-0.0e+0,\"x\":[true,false,null,{\"y\":[{}]}],\"s\":\"\\ud83d\\ude00\"}",
               0.0);
    want_time(&spec, "{\"value\":1,\"ts\":\"2026-11-24T07:05:00\\u005a\"}", 1795503900000);
    /* Exact conversion on both sides of the fast path. */
    want_value(&spec, "{\"value\":0.1}", 0.1);
    want_value(&spec, "{\"value\":123456789012345678901234567890}",
               123456789012345678901234567890.0);
    want_value(&spec, "{\"value\":9007199254740993}", 9007199254740993.0);
    want_value(&spec, "{\"value\":1.7976931348623157e308}", 1.7976931348623157e308);
    want_value(&spec, "{\"value\":4.9e-324}", 4.9e-324);
    /* Nesting: 1000 levels in all (the object and 999 arrays) are fine, 1001 are not. */
    for (int levels = 999; levels <= 1000; levels++) {
        k = 0;
        memcpy(deep, "{\"value\":1,\"x\":", 15);
        k = 15;
        for (int i = 0; i < levels; i++)
            deep[k++] = '[';
        for (int i = 0; i < levels; i++)
            deep[k++] = ']';
        deep[k++] = '}';
        deep[k] = '\0';
        if (levels == 999)
            want_event(&spec, deep, &ev);
        else
            want_drop(&spec, deep, WR_DROP_MALFORMED);
    }
    /* A must-understand label spelled with an escape is still one. */
    spec.key_template = "{name}";
    want_drop(&spec, "[{\"n\":\"a\",\"v\":1,\"x\\u005f\":1}]", WR_DROP_MALFORMED);
    want_event(&spec, "[{\"\\u006e\":\"a\",\"\\u0076\":1}]", &ev);
    assert_string_equal(ev.key, "a");
}

static void test_decode_json_value_types(void **state)
{
    struct wr_decode_spec spec = base_spec();

    (void)state;
    want_value(&spec, "{\"value\": -7}", -7.0);
    want_value(&spec, "{\"value\": \"21.5\"}", 21.5);
    want_value(&spec, "{\"value\": \" 3 \"}", 3.0);
    want_drop(&spec, "{}", WR_DROP_NO_VALUE);
    want_drop(&spec, "{\"Value\": 1}", WR_DROP_NO_VALUE); /* case-sensitive */
    want_drop(&spec, "{\"value\": true}", WR_DROP_NO_VALUE);
    want_drop(&spec, "{\"value\": false}", WR_DROP_NO_VALUE);
    want_drop(&spec, "{\"value\": null}", WR_DROP_NO_VALUE);
    want_drop(&spec, "{\"value\": \"abc\"}", WR_DROP_NO_VALUE);
    want_drop(&spec, "{\"value\": \"\"}", WR_DROP_NO_VALUE);
    want_drop(&spec, "{\"value\": {\"v\": 1}}", WR_DROP_NO_VALUE);
    want_drop(&spec, "{\"value\": [1]}", WR_DROP_NO_VALUE);
    want_drop(&spec, "{\"value\": 1e999}", WR_DROP_NON_FINITE);
    want_drop(&spec, "{\"value\": -1e999}", WR_DROP_NON_FINITE);
    want_drop(&spec, "{\"value\": \"NaN\"}", WR_DROP_NON_FINITE);
    /* Value problems are reported before time problems. */
    want_drop(&spec, "{\"value\": null, \"ts\": \"bad\"}", WR_DROP_NO_VALUE);

    spec.value_field = "temp";
    want_value(&spec, "{\"value\": 1, \"temp\": 2}", 2.0);
}

static void test_decode_json_time_units(void **state)
{
    struct wr_decode_spec spec = base_spec();
    struct wr_event ev;

    (void)state;
    spec.time_unit = WR_TIME_S;
    want_time(&spec, "{\"value\":1,\"ts\":1700000000}", 1700000000000);
    want_time(&spec, "{\"value\":1,\"ts\":1700000000.5}", 1700000000500);
    want_time(&spec, "{\"value\":1,\"ts\":1700000000.123}", 1700000000123);
    want_time(&spec, "{\"value\":1,\"ts\":0}", 0);
    /* Seconds are seconds even when large, as long as the year is below 10000. */
    want_time(&spec, "{\"value\":1,\"ts\":253402300799}", 253402300799000);

    spec.time_unit = WR_TIME_MS;
    want_time(&spec, "{\"value\":1,\"ts\":1700000000123}", 1700000000123);
    want_time(&spec, "{\"value\":1,\"ts\":1700000000}", 1700000000);
    want_time(&spec, "{\"value\":1,\"ts\":1.6}", 2);

    spec.time_unit = WR_TIME_AUTO;
    want_time(&spec, "{\"value\":1,\"ts\":1700000000}", 1700000000000);
    want_time(&spec, "{\"value\":1,\"ts\":1700000000123}", 1700000000123);
    want_time(&spec, "{\"value\":1,\"ts\":99999999999}", 99999999999000);
    want_time(&spec, "{\"value\":1,\"ts\":100000000000}", 100000000000);
    want_time(&spec, "{\"value\":1,\"ts\":\"1700000000\"}", 1700000000000);

    /* No time member, or no time field configured: processing time. */
    want_event(&spec, "{\"value\":1}", &ev);
    assert_false(ev.has_time);
    assert_int_equal(ev.time_ms, 0);
    spec.time_field = "";
    want_event(&spec, "{\"value\":1,\"ts\":\"garbage\"}", &ev);
    assert_false(ev.has_time);
    spec.time_field = NULL;
    want_event(&spec, "{\"value\":1,\"ts\":\"garbage\"}", &ev);
    assert_false(ev.has_time);
    spec.time_field = "when";
    want_time(&spec, "{\"value\":1,\"ts\":5,\"when\":1700000000}", 1700000000000);
}

static void test_decode_json_time_rfc3339(void **state)
{
    struct wr_decode_spec spec = base_spec();

    (void)state;
    want_time(&spec, "{\"value\":1,\"ts\":\"2026-11-24T07:05:00Z\"}", 1795503900000);
    want_time(&spec, "{\"value\":1,\"ts\":\"2026-11-24t07:05:00z\"}", 1795503900000);
    want_time(&spec, "{\"value\":1,\"ts\":\"2026-11-24 07:05:00Z\"}", 1795503900000);
    want_time(&spec, "{\"value\":1,\"ts\":\"2026-11-24T07:05:00.250Z\"}", 1795503900250);
    want_time(&spec, "{\"value\":1,\"ts\":\"2026-11-24T07:05:00.5Z\"}", 1795503900500);
    want_time(&spec, "{\"value\":1,\"ts\":\"2026-11-24T07:05:00.123999Z\"}", 1795503900123);
    want_time(&spec, "{\"value\":1,\"ts\":\"2026-11-24T08:35:00+01:30\"}", 1795503900000);
    want_time(&spec, "{\"value\":1,\"ts\":\"2026-11-24T02:05:00-05:00\"}", 1795503900000);
    want_time(&spec, "{\"value\":1,\"ts\":\"2026-11-23T23:05:00.250-08:00\"}", 1795503900250);
    want_time(&spec, "{\"value\":1,\"ts\":\"2024-02-29T12:00:00Z\"}", 1709208000000);
    want_time(&spec, "{\"value\":1,\"ts\":\"2000-03-01T00:00:00Z\"}", 951868800000);
    want_time(&spec, "{\"value\":1,\"ts\":\"1970-01-01T00:00:00Z\"}", 0);
    want_time(&spec, "{\"value\":1,\"ts\":\"1969-12-31T23:30:00-01:00\"}", 1800000);
    want_time(&spec, "{\"value\":1,\"ts\":\"9999-12-31T23:59:59.999Z\"}", 253402300799999);
    /* A leap second counts as the following second. */
    want_time(&spec, "{\"value\":1,\"ts\":\"2016-12-31T23:59:60Z\"}", 1483228800000);
}

static void test_decode_json_time_bad(void **state)
{
    static const char *const bad[] = {
        "-1",
        "-0.5",
        "true",
        "null",
        "{}",
        "[1]",
        "\"yesterday\"",
        "\"\"",
        "1e999",
        "1e300",
        "\"2026-02-29T00:00:00Z\"",
        "\"2026-13-01T00:00:00Z\"",
        "\"2026-00-01T00:00:00Z\"",
        "\"2026-11-00T00:00:00Z\"",
        "\"2026-11-31T00:00:00Z\"",
        "\"2026-11-24T24:00:00Z\"",
        "\"2026-11-24T07:60:00Z\"",
        "\"2026-11-24T07:05:61Z\"",
        "\"2026-11-24T07:05:00\"",
        "\"2026-11-24T07:05Z\"",
        "\"2026-11-24T07:05:00.Z\"",
        "\"2026-11-24T07:05:00+1:00\"",
        "\"2026-11-24T07:05:00+01:60\"",
        "\"2026-11-24T07:05:00+24:00\"",
        "\"2026-11-24T07:05:00+0100\"",
        "\"2026-11-24T07:05:00Z \"",
        "\"2026-11-24X07:05:00Z\"",
        "\"1969-12-31T23:59:59Z\"",
        "\"1970-01-01T00:30:00+01:00\"",
        "\"0000-01-01T00:00:00Z\"",
        "\"10000-01-01T00:00:00Z\"",
        "\"2026-1-24T07:05:00Z\"",
        "\"2026-11-24T07:05:00ZZ\"",
        "\"-2026-11-24T07:05:00Z\"",
        "\"2100-02-29T00:00:00Z\"",
    };
    struct wr_decode_spec spec = base_spec();
    char payload[128];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(payload, sizeof(payload), "{\"value\":1,\"ts\":%s}", bad[i]);
        want_drop(&spec, payload, WR_DROP_BAD_TIME);
    }
    spec.time_unit = WR_TIME_MS;
    want_drop(&spec, "{\"value\":1,\"ts\":1e308}", WR_DROP_BAD_TIME);
    want_drop(&spec, "{\"value\":1,\"ts\":-1e308}", WR_DROP_BAD_TIME);
    want_drop(&spec, "{\"value\":1,\"ts\":253402300800000}", WR_DROP_BAD_TIME);
    want_time(&spec, "{\"value\":1,\"ts\":253402300799999}", 253402300799999);
    spec.time_unit = WR_TIME_S;
    want_drop(&spec, "{\"value\":1,\"ts\":1.7976931348623157e308}", WR_DROP_BAD_TIME);
    /* 10000-01-01T00:00:00Z in seconds: the first refused instant. */
    want_drop(&spec, "{\"value\":1,\"ts\":253402300800}", WR_DROP_BAD_TIME);
    want_drop(&spec, "{\"value\":1,\"ts\":253402300799.9999}", WR_DROP_BAD_TIME);
}

static void test_decode_senml_basic(void **state)
{
    struct wr_decode_spec spec = base_spec();
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;

    (void)state;
    spec.key_template = "{name}";
    assert_int_equal(decode(&spec,
                            "[{\"bn\":\"dev1/\",\"bt\":1.7e9,\"n\":\"temp\",\"u\":\"Cel\","
                            "\"v\":21.5,\"bver\":10},{\"n\":\"hum\",\"v\":40,\"t\":10.25}]",
                            events, &res),
                     WR_OK);
    assert_int_equal(res.n_events, 2);
    assert_int_equal(total_drops(&res), 0);
    assert_string_equal(events[0].key, "dev1/temp");
    assert_true(events[0].value == 21.5);
    assert_true(events[0].has_time);
    assert_int_equal(events[0].time_ms, 1700000000000);
    assert_int_equal(events[0].stream, 7);
    assert_int_equal(events[0].arrival_mono_ms, 0);
    assert_string_equal(events[1].key, "dev1/hum");
    assert_true(events[1].value == 40.0);
    assert_int_equal(events[1].time_ms, 1700000010250);
}

static void test_decode_senml_base_carry(void **state)
{
    struct wr_decode_spec spec = base_spec();
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;

    (void)state;
    spec.key_template = "{name}";
    assert_int_equal(decode(&spec,
                            "[{\"bn\":\"a:\",\"bt\":1700000000,\"bv\":100,\"n\":\"x\",\"v\":1},"
                            "{\"n\":\"y\",\"v\":-2,\"t\":-60},"
                            "{\"bn\":\"b.\",\"n\":\"z\",\"v\":3,\"t\":1},"
                            "{\"bt\":1800000000,\"bv\":0,\"n\":\"w\",\"v\":4},"
                            "{\"bs\":1000,\"n\":\"s\",\"s\":5},"
                            "{\"bv\":7,\"n\":\"only_base\"},"
                            "{\"n\":\"\",\"v\":8},"
                            "{\"bn\":\"\",\"n\":\"plain\",\"v\":9}]",
                            events, &res),
                     WR_OK);
    assert_int_equal(res.n_events, 7);
    assert_int_equal(res.drops[WR_DROP_NO_VALUE], 1); /* bv alone is not a measurement */
    assert_int_equal(total_drops(&res), 1);

    assert_string_equal(events[0].key, "a:x");
    assert_true(events[0].value == 101.0);
    assert_int_equal(events[0].time_ms, 1700000000000);
    assert_string_equal(events[1].key, "a:y");
    assert_true(events[1].value == 98.0);
    assert_int_equal(events[1].time_ms, 1699999940000);
    assert_string_equal(events[2].key, "b.z");
    assert_true(events[2].value == 103.0);
    assert_int_equal(events[2].time_ms, 1700000001000);
    assert_string_equal(events[3].key, "b.w");
    assert_true(events[3].value == 4.0);
    assert_int_equal(events[3].time_ms, 1800000000000);
    assert_string_equal(events[4].key, "b.s");
    assert_true(events[4].value == 1005.0);
    assert_string_equal(events[5].key, "b.");
    assert_true(events[5].value == 15.0); /* bv 7 set by the dropped record carries */
    assert_string_equal(events[6].key, "plain");
    assert_true(events[6].value == 16.0);
}

static void test_decode_senml_relative_time(void **state)
{
    struct wr_decode_spec spec = base_spec();
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;

    (void)state;
    assert_int_equal(decode(&spec,
                            "[{\"n\":\"a\",\"v\":1},{\"n\":\"a\",\"v\":1,\"t\":-5},"
                            "{\"n\":\"a\",\"v\":1,\"t\":268435455.999},"
                            "{\"n\":\"a\",\"v\":1,\"t\":268435456},"
                            "{\"bt\":268435000,\"n\":\"a\",\"v\":1,\"t\":456},"
                            "{\"n\":\"a\",\"v\":1,\"t\":455},"
                            "{\"n\":\"a\",\"v\":1,\"t\":-1e308}]",
                            events, &res),
                     WR_OK);
    assert_int_equal(res.n_events, 7);
    assert_false(events[0].has_time);
    assert_int_equal(events[0].time_ms, 0);
    assert_false(events[1].has_time);
    assert_false(events[2].has_time);
    assert_true(events[3].has_time);
    assert_int_equal(events[3].time_ms, 268435456000);
    assert_true(events[4].has_time);
    assert_int_equal(events[4].time_ms, 268435456000);
    assert_false(events[5].has_time); /* bt + t just below 2^28 */
    assert_false(events[6].has_time);
}

static void test_decode_senml_mixed_accounting(void **state)
{
    static const char pack[] = "[{\"bn\":\"d/\",\"n\":\"ok1\",\"v\":1},"
                               "5,"
                               "\"str\","
                               "[],"
                               "{\"n\":\"x\",\"vs\":\"on\"},"
                               "{\"n\":\"x\",\"vb\":true},"
                               "{\"n\":\"x\",\"vd\":\"aGVsbG8\"},"
                               "{\"n\":\"x\"},"
                               "{\"n\":\"x\",\"v\":\"3\"},"
                               "{\"n\":\"bad name!\",\"v\":1},"
                               "{\"n\":7,\"v\":1},"
                               "{\"n\":\"x\",\"v\":1e999},"
                               "{\"bv\":1.7e308,\"n\":\"x\",\"v\":1.7e308},"
                               "{\"bv\":0,\"n\":\"x\",\"v\":1,\"t\":\"now\"},"
                               "{\"n\":\"x\",\"v\":1,\"t\":1e20},"
                               "{\"n\":\"x\",\"v\":1,\"foo_\":1},"
                               "{\"n\":\"ok2\",\"v\":2}]";
    struct wr_decode_spec spec = base_spec();
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;

    (void)state;
    spec.key_template = "{name}";
    assert_int_equal(decode(&spec, pack, events, &res), WR_OK);
    assert_int_equal(res.n_events, 2);
    assert_string_equal(events[0].key, "d/ok1");
    assert_string_equal(events[1].key, "d/ok2");
    assert_int_equal(res.drops[WR_DROP_MALFORMED], 4);
    assert_int_equal(res.drops[WR_DROP_NO_VALUE], 5);
    assert_int_equal(res.drops[WR_DROP_BAD_KEY], 2);
    assert_int_equal(res.drops[WR_DROP_NON_FINITE], 2);
    assert_int_equal(res.drops[WR_DROP_BAD_TIME], 2);
    assert_int_equal(res.n_events + total_drops(&res), 17);
}

static void test_decode_senml_bad_base_poisons(void **state)
{
    struct wr_decode_spec spec = base_spec();
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;

    (void)state;
    spec.key_template = "{name}";
    assert_int_equal(decode(&spec,
                            "[{\"bn\":5,\"n\":\"a\",\"v\":1},{\"n\":\"b\",\"v\":1},"
                            "{\"bn\":\"ok/\",\"n\":\"c\",\"v\":1},"
                            "{\"bt\":\"x\",\"n\":\"d\",\"v\":1},{\"n\":\"e\",\"v\":1},"
                            "{\"bt\":1700000000,\"n\":\"f\",\"v\":1},"
                            "{\"bv\":null,\"n\":\"g\",\"v\":1},{\"n\":\"h\",\"s\":1},"
                            "{\"bs\":[],\"n\":\"i\",\"s\":1}]",
                            events, &res),
                     WR_OK);
    assert_int_equal(res.drops[WR_DROP_BAD_KEY], 2);
    assert_int_equal(res.drops[WR_DROP_BAD_TIME], 2);
    assert_int_equal(res.drops[WR_DROP_NO_VALUE], 2);
    assert_int_equal(res.n_events, 3);
    assert_string_equal(events[0].key, "ok/c");
    assert_string_equal(events[1].key, "ok/f");
    assert_int_equal(events[1].time_ms, 1700000000000);
    assert_string_equal(events[2].key, "ok/h"); /* s does not need bv */
}

static void test_decode_senml_names(void **state)
{
    struct wr_decode_spec spec = base_spec();
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;
    char name63[64];
    char payload[256];

    (void)state;
    spec.key_template = "{name}";
    want_drop(&spec, "[{\"v\":1}]", WR_DROP_BAD_KEY);
    want_drop(&spec, "[{\"n\":\"\",\"v\":1}]", WR_DROP_BAD_KEY);
    want_drop(&spec, "[{\"n\":\"-a\",\"v\":1}]", WR_DROP_BAD_KEY);
    want_drop(&spec, "[{\"n\":\"_a\",\"v\":1}]", WR_DROP_BAD_KEY);
    want_drop(&spec, "[{\"n\":\"a b\",\"v\":1}]", WR_DROP_BAD_KEY);
    want_drop(&spec, "[{\"n\":\"\\u00e9\",\"v\":1}]", WR_DROP_BAD_KEY);
    /* cJSON would cut the name at the NUL; the whole payload is refused instead. */
    want_drop(&spec, "[{\"n\":\"a\\u0000b\",\"v\":1}]", WR_DROP_MALFORMED);
    want_drop(&spec, "{\"value\":\"21.5\\u0000x\"}", WR_DROP_MALFORMED);
    /* An escaped backslash followed by "u0000" is plain text. */
    want_event(&spec, "[{\"n\":\"a\",\"v\":1,\"u\":\"\\\\u0000\"}]", &events[0]);
    want_event(&spec, "[{\"n\":\"0a-b:c.d/e_f\",\"v\":1}]", &events[0]);
    assert_string_equal(events[0].key, "0a-b:c.d/e_f");

    memset(name63, 'n', 63);
    name63[63] = '\0';
    snprintf(payload, sizeof(payload), "[{\"n\":\"%s\",\"v\":1}]", name63);
    want_event(&spec, payload, &events[0]);
    assert_string_equal(events[0].key, name63);
    snprintf(payload, sizeof(payload), "[{\"n\":\"%sx\",\"v\":1}]", name63);
    want_drop(&spec, payload, WR_DROP_BAD_KEY);
    snprintf(payload, sizeof(payload), "[{\"bn\":\"%s\",\"n\":\"x\",\"v\":1},{\"n\":\"\",\"v\":1}]",
             name63);
    assert_int_equal(decode(&spec, payload, events, &res), WR_OK);
    assert_int_equal(res.n_events, 1);
    assert_int_equal(res.drops[WR_DROP_BAD_KEY], 1);
    snprintf(payload, sizeof(payload), "[{\"bn\":\"%sx\",\"v\":1}]", name63);
    want_drop(&spec, payload, WR_DROP_BAD_KEY);
}

static void test_decode_senml_too_many_records(void **state)
{
    struct wr_decode_spec spec = base_spec();
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;
    static const char pack[] = "[{\"n\":\"a\",\"v\":1},{\"n\":\"b\"},{\"n\":\"c\",\"v\":3},"
                               "{\"n\":\"d\",\"v\":4},{\"n\":\"e\",\"vs\":\"x\"},"
                               "{\"n\":\"f\",\"v\":6}]";

    (void)state;
    spec.key_template = "{name}";
    assert_int_equal(decode_len(&spec, "t", pack, strlen(pack), events, 2, &res), WR_OK);
    assert_int_equal(res.n_events, 2);
    assert_string_equal(events[0].key, "a");
    assert_string_equal(events[1].key, "c");
    assert_int_equal(res.drops[WR_DROP_TOO_MANY_RECORDS], 2);
    assert_int_equal(res.drops[WR_DROP_NO_VALUE], 2);
    assert_int_equal(res.n_events + total_drops(&res), 6);

    /* No room at all: events may be NULL. */
    assert_int_equal(wr_decode_message(&spec, "t", 1, pack, strlen(pack), NULL, 0, &res), WR_OK);
    assert_int_equal(res.n_events, 0);
    assert_int_equal(res.drops[WR_DROP_TOO_MANY_RECORDS], 4);
    assert_int_equal(total_drops(&res), 6);
    spec.key_template = "{topic}";
    assert_int_equal(wr_decode_message(&spec, "t", 1, "1", 1, NULL, 0, &res), WR_OK);
    assert_int_equal(res.drops[WR_DROP_TOO_MANY_RECORDS], 1);
    assert_int_equal(total_drops(&res), 1);
}

static void test_decode_senml_pack_malformed(void **state)
{
    static const char *const bad[] = {
        "[{\"n\":\"a\",\"v\":1},]", "[1,2", "[", "[{\"n\":\"a\",\"v\":1}] x", "[][]", "]",
    };
    struct wr_decode_spec spec = base_spec();
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;
    char deep[4096];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        want_drop(&spec, bad[i], WR_DROP_MALFORMED);
    /* An empty pack holds no records: nothing to produce, nothing to drop. */
    assert_int_equal(decode(&spec, " [ ] ", events, &res), WR_OK);
    assert_int_equal(res.n_events, 0);
    assert_int_equal(total_drops(&res), 0);
    /* Nesting deeper than cJSON's limit is refused, not a stack overflow. */
    memset(deep, '[', 2000);
    memset(deep + 2000, ']', 2000);
    deep[4000] = '\0';
    want_drop(&spec, deep, WR_DROP_MALFORMED);
}

static void test_decode_key_template(void **state)
{
    struct wr_decode_spec spec = base_spec();
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;
    static const char topic[] = "site/dev42/temp/extra";

    (void)state;
    spec.key_template = "{topic[1]}";
    want_event(&spec, "1", &events[0]);
    assert_string_equal(events[0].key, "dev42");

    spec.key_template = "{topic[1]}/{name}";
    assert_int_equal(
        decode(&spec, "[{\"bn\":\"s/\",\"n\":\"t\",\"v\":1},{\"n\":\"h\",\"v\":2}]", events, &res),
        WR_OK);
    assert_int_equal(res.n_events, 2);
    assert_string_equal(events[0].key, "dev42/s/t");
    assert_string_equal(events[1].key, "dev42/s/h");

    /* {name} is empty for the object and number forms. */
    spec.key_template = "k-{name}";
    want_event(&spec, "{\"value\":1}", &events[0]);
    assert_string_equal(events[0].key, "k-");

    /* The topic is given by length: only "site/dev42" counts. */
    spec.key_template = "{topic}";
    assert_int_equal(wr_decode_message(&spec, topic, 10, "1", 1, events, MAX_EVENTS, &res), WR_OK);
    assert_int_equal(res.n_events, 1);
    assert_string_equal(events[0].key, "site/dev42");
    spec.key_template = "{topic[2]}";
    assert_int_equal(wr_decode_message(&spec, topic, 10, "1", 1, events, MAX_EVENTS, &res), WR_OK);
    assert_int_equal(res.drops[WR_DROP_BAD_KEY], 1);
}

static void test_decode_bad_key(void **state)
{
    struct wr_decode_spec spec = base_spec();
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;
    char long_topic[100];

    (void)state;
    spec.key_template = "{topic[5]}";
    want_drop(&spec, "1", WR_DROP_BAD_KEY);
    want_drop(&spec, "{\"value\":1}", WR_DROP_BAD_KEY);
    assert_int_equal(decode(&spec, "[{\"n\":\"a\",\"v\":1},{\"n\":\"b\",\"v\":2}]", events, &res),
                     WR_OK);
    assert_int_equal(res.drops[WR_DROP_BAD_KEY], 2);
    assert_int_equal(res.n_events, 0);

    spec.key_template = "{bogus}";
    want_drop(&spec, "1", WR_DROP_BAD_KEY);
    spec.key_template = "{name}"; /* empty expansion for a number */
    want_drop(&spec, "1", WR_DROP_BAD_KEY);

    /* Too long for WR_KEY_MAX. */
    spec.key_template = "{topic}";
    memset(long_topic, 'a', sizeof(long_topic));
    assert_int_equal(
        wr_decode_message(&spec, long_topic, WR_KEY_MAX, "1", 1, events, MAX_EVENTS, &res), WR_OK);
    assert_int_equal(res.drops[WR_DROP_BAD_KEY], 1);
    assert_int_equal(
        wr_decode_message(&spec, long_topic, WR_KEY_MAX - 1, "1", 1, events, MAX_EVENTS, &res),
        WR_OK);
    assert_int_equal(res.n_events, 1);
    assert_int_equal(strlen(events[0].key), WR_KEY_MAX - 1);
    /* A valid 60-character SenML name that the template makes too long. */
    spec.key_template = "{name}-{topic}";
    want_drop(&spec,
              "[{\"n\":\"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwx\","
              "\"v\":1}]",
              WR_DROP_BAD_KEY);
}

static void test_decode_invalid_args(void **state)
{
    struct wr_decode_spec spec = base_spec();
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;

    (void)state;
    assert_int_equal(wr_decode_message(&spec, "t", 1, "1", 1, events, 1, NULL), WR_E_INVAL);
    res.n_events = 99;
    assert_int_equal(wr_decode_message(NULL, "t", 1, "1", 1, events, 1, &res), WR_E_INVAL);
    assert_int_equal(res.n_events, 0);
    assert_int_equal(wr_decode_message(&spec, NULL, 1, "1", 1, events, 1, &res), WR_E_INVAL);
    assert_int_equal(wr_decode_message(&spec, "t", 1, NULL, 1, events, 1, &res), WR_E_INVAL);
    assert_int_equal(wr_decode_message(&spec, "t", 1, "1", 1, NULL, 1, &res), WR_E_INVAL);
    spec.key_template = NULL;
    assert_int_equal(wr_decode_message(&spec, "t", 1, "1", 1, events, 1, &res), WR_E_INVAL);
    spec = base_spec();
    spec.value_field = NULL;
    assert_int_equal(wr_decode_message(&spec, "t", 1, "1", 1, events, 1, &res), WR_E_INVAL);
    spec = base_spec();
    spec.format = (enum wr_payload_format)42;
    assert_int_equal(wr_decode_message(&spec, "t", 1, "1", 1, events, 1, &res), WR_E_INVAL);
    assert_int_equal(total_drops(&res), 0);

    /* A NULL topic of length 0 is an empty topic, not an error. */
    spec = base_spec();
    spec.key_template = "const";
    assert_int_equal(wr_decode_message(&spec, NULL, 0, "1", 1, events, 1, &res), WR_OK);
    assert_int_equal(res.n_events, 1);
    assert_string_equal(events[0].key, "const");
}

/*
 * The decoder allocates nothing, on any path: with every plat allocation
 * counted (and made to fail), decoding each form, good and bad, for one and
 * for several streams, attempts none.
 */
static void test_decode_no_allocation(void **state)
{
    static const char *const payloads[] = {
        "[{\"bn\":\"d/\",\"bt\":1700000000,\"n\":\"a\",\"v\":1},"
        "{\"n\":\"b\",\"v\":2,\"t\":1},{\"n\":\"c\",\"vs\":\"x\"}]",
        "{\"value\":\"5\",\"ts\":\"2026-11-24T07:05:00Z\"}",
        "{\"ts\":1700000000123,\"value\":21.5,\"extra\":{\"a\":[1,2,{\"b\":null}]}}",
        "{\"value\":\"\\u0032\\u0031.5\",\"ts\":\"2026-11-24T07:05:00\\u005a\"}",
        "2.5",
        "1.00000000000000000000000001e-300",
        "[{\"n\":\"a\",\"v\":1},]",
        "{\"value\":1",
        "nan",
    };
    struct wr_decode_spec a = base_spec();
    struct wr_decode_spec b = base_spec();
    const struct wr_decode_spec *both[] = {&a, &b};
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;
    size_t produced = 0;

    (void)state;
    a.key_template = "{name}";
    b.key_template = "{topic[1]}-{name}";
    b.value_field = "v";
    b.time_field = "t";
    wr_test_alloc_fail_at(1);
    for (int round = 0; round < 100; round++) {
        for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
            const char *pl = payloads[i];

            assert_int_equal(
                wr_decode_message(&a, "s/d/t", 5, pl, strlen(pl), events, MAX_EVENTS, &res), WR_OK);
            produced += res.n_events;
            assert_int_equal(wr_decode_message_multi(both, 2, "s/d/t", 5, pl, strlen(pl), events,
                                                     MAX_EVENTS, &res),
                             WR_OK);
            produced += res.n_events;
        }
    }
    assert_true(produced > 0); /* events were made, so the paths that matter ran */
    assert_int_equal(wr_test_alloc_count(), 0);
    wr_test_alloc_fail_at(0);
}

/* Sum of drops, and the events of one stream, from decoding for that spec alone. */
struct single {
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;
};

/*
 * Decoding for several streams gives what decoding for each alone gives:
 * per stream the same events in the same order, and the drops summed.
 */
static void want_multi_equals_singles(const struct wr_decode_spec *const *specs, size_t n,
                                      const char *payload)
{
    struct wr_event events[MAX_EVENTS * 4];
    struct wr_decode_result res;
    uint32_t drops[WR_DROP_REASON_COUNT] = {0};
    size_t total = 0;

    assert_int_equal(wr_decode_message_multi(specs, n, "site/dev42/temp", 15, payload,
                                             strlen(payload), events, MAX_EVENTS * 4, &res),
                     WR_OK);
    for (size_t s = 0; s < n; s++) {
        struct single one;
        size_t k = 0;

        assert_int_equal(decode(specs[s], payload, one.events, &one.res), WR_OK);
        for (int r = 0; r < WR_DROP_REASON_COUNT; r++)
            drops[r] += one.res.drops[r];
        total += one.res.n_events;
        for (size_t i = 0; i < res.n_events; i++) {
            if (events[i].stream != specs[s]->stream)
                continue;
            if (k >= one.res.n_events)
                fail_msg("payload '%s': stream %u has extra events", payload,
                         (unsigned)specs[s]->stream);
            assert_string_equal(events[i].key, one.events[k].key);
            assert_true(events[i].value == one.events[k].value);
            assert_int_equal(events[i].has_time, one.events[k].has_time);
            assert_int_equal(events[i].time_ms, one.events[k].time_ms);
            k++;
        }
        if (k != one.res.n_events)
            fail_msg("payload '%s': stream %u lost events", payload, (unsigned)specs[s]->stream);
    }
    assert_int_equal(res.n_events, total);
    for (int r = 0; r < WR_DROP_REASON_COUNT; r++)
        if (res.drops[r] != drops[r])
            fail_msg("payload '%s': %s %u, singles %u", payload,
                     wr_drop_reason_name((enum wr_drop_reason)r), (unsigned)res.drops[r],
                     (unsigned)drops[r]);
}

/*
 * One object, several streams reading different value and time members with
 * different key templates, one of them in another form: one reading of the
 * payload serves them all.
 */
static void test_decode_multi_object_parsed_once(void **state)
{
    static const char payload[] = "{\"v\":1.5,\"temp\":\"22\",\"ts\":1700000000,"
                                  "\"when\":\"2026-11-24T07:05:00Z\",\"v\":99}";
    struct wr_decode_spec a = base_spec();
    struct wr_decode_spec b = base_spec();
    struct wr_decode_spec c = base_spec();
    struct wr_decode_spec d = base_spec();
    struct wr_decode_spec e = base_spec();
    const struct wr_decode_spec *specs[] = {&a, &b, &c, &d, &e};
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;
    uint64_t reads;

    (void)state;
    a.stream = 0;
    a.value_field = "v";
    a.time_field = "ts";
    a.time_unit = WR_TIME_S;
    a.key_template = "{topic[1]}";
    b.stream = 1;
    b.value_field = "temp";
    b.time_field = "when";
    b.key_template = "b-{topic[2]}";
    c.stream = 2;
    c.value_field = "missing"; /* no such member */
    d.stream = 3;
    d.format = WR_FORMAT_NUMBER; /* an object is not a number */
    e.stream = 4;
    e.value_field = "v";
    e.time_field = NULL;
    e.key_template = "{topic}";

    reads = wr_decode__json_reads();
    assert_int_equal(wr_decode_message_multi(specs, 5, "site/dev42/temp", 15, payload,
                                             strlen(payload), events, MAX_EVENTS, &res),
                     WR_OK);
    assert_int_equal(wr_decode__json_reads() - reads, 1);
    assert_int_equal(res.n_events, 3);
    assert_int_equal(res.drops[WR_DROP_NO_VALUE], 1);
    assert_int_equal(res.drops[WR_DROP_MALFORMED], 1);
    assert_int_equal(total_drops(&res), 2);
    /* Streams in the order given; the first "v" member counts. */
    assert_int_equal(events[0].stream, 0);
    assert_string_equal(events[0].key, "dev42");
    assert_true(events[0].value == 1.5);
    assert_int_equal(events[0].time_ms, 1700000000000);
    assert_int_equal(events[1].stream, 1);
    assert_string_equal(events[1].key, "b-temp");
    assert_true(events[1].value == 22.0);
    assert_int_equal(events[1].time_ms, 1795503900000);
    assert_int_equal(events[2].stream, 4);
    assert_string_equal(events[2].key, "site/dev42/temp");
    assert_false(events[2].has_time);

    want_multi_equals_singles(specs, 5, payload);
}

/*
 * One SenML pack for two SenML streams with different key templates and an
 * object stream: read once, each record interpreted once and keyed per
 * stream, record by record.
 */
static void test_decode_multi_senml_parsed_once(void **state)
{
    static const char pack[] = "[{\"bn\":\"dev1/\",\"bt\":1.7e9,\"n\":\"temp\",\"v\":21.5},"
                               "{\"n\":\"hum\",\"v\":40,\"t\":1},{\"n\":\"x\",\"vs\":\"on\"}]";
    struct wr_decode_spec a = base_spec();
    struct wr_decode_spec b = base_spec();
    struct wr_decode_spec c = base_spec();
    const struct wr_decode_spec *specs[] = {&a, &b, &c};
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;
    uint64_t reads;

    (void)state;
    a.stream = 0;
    a.key_template = "{name}";
    b.stream = 1;
    b.format = WR_FORMAT_SENML;
    b.key_template = "{topic[0]}:{name}";
    c.stream = 2;
    c.format = WR_FORMAT_JSON; /* a pack is not an object */

    reads = wr_decode__json_reads();
    assert_int_equal(wr_decode_message_multi(specs, 3, "site/dev42/temp", 15, pack, strlen(pack),
                                             events, MAX_EVENTS, &res),
                     WR_OK);
    assert_int_equal(wr_decode__json_reads() - reads, 1);
    assert_int_equal(res.n_events, 4);
    assert_int_equal(res.drops[WR_DROP_NO_VALUE], 2); /* the vs record, once per SenML stream */
    assert_int_equal(res.drops[WR_DROP_MALFORMED], 1);
    assert_int_equal(total_drops(&res), 3);
    assert_int_equal(events[0].stream, 0);
    assert_string_equal(events[0].key, "dev1/temp");
    assert_int_equal(events[1].stream, 1);
    assert_string_equal(events[1].key, "site:dev1/temp");
    assert_true(events[1].value == 21.5);
    assert_int_equal(events[1].time_ms, 1700000000000);
    assert_string_equal(events[2].key, "dev1/hum");
    assert_string_equal(events[3].key, "site:dev1/hum");
    assert_int_equal(events[3].time_ms, 1700000001000);

    /* The event array bounds the message as a whole. */
    assert_int_equal(wr_decode_message_multi(specs, 3, "site/dev42/temp", 15, pack, strlen(pack),
                                             events, 3, &res),
                     WR_OK);
    assert_int_equal(res.n_events, 3);
    assert_int_equal(res.drops[WR_DROP_TOO_MANY_RECORDS], 1);
    assert_string_equal(events[2].key, "dev1/hum");

    /* A pack broken at its end yields nothing, for every SenML stream. */
    assert_int_equal(wr_decode_message_multi(specs, 3, "site/dev42/temp", 15, pack,
                                             strlen(pack) - 1, events, MAX_EVENTS, &res),
                     WR_OK);
    assert_int_equal(res.n_events, 0);
    assert_int_equal(res.drops[WR_DROP_MALFORMED], 3);
    assert_int_equal(total_drops(&res), 3);

    want_multi_equals_singles(specs, 3, pack);
}

/* Over a mixed set of payloads, several streams at once equal each stream alone. */
static void test_decode_multi_equals_single(void **state)
{
    static const char *const payloads[] = {
        "21.5",
        "nan",
        "",
        "{\"value\":1,\"ts\":\"2026-11-24T07:05:00Z\",\"v\":2,\"t\":1700000000123}",
        "{\"value\":\"1e999\",\"v\":true}",
        "{\"value\":1,\"ts\":\"bad\",\"v\":\"3\",\"t\":-1}",
        "{\"value\":1,}",
        "[{\"bn\":\"a/\",\"n\":\"x\",\"v\":1},{\"n\":\"bad "
        "name\",\"v\":2},5,{\"n\":\"y\",\"s\":3}]",
        "[{\"n\":\"x\",\"v\":1,\"x_\":0},{\"bt\":\"no\",\"n\":\"z\",\"v\":1}]",
        "[]",
        "[1,",
        "12345678901234567890",
    };
    struct wr_decode_spec specs_v[6];
    const struct wr_decode_spec *specs[6];

    (void)state;
    for (size_t i = 0; i < 6; i++) {
        specs_v[i] = base_spec();
        specs_v[i].stream = (uint16_t)i;
        specs[i] = &specs_v[i];
    }
    specs_v[1].value_field = "v";
    specs_v[1].time_field = "t";
    specs_v[1].key_template = "{topic[1]}/{name}";
    specs_v[2].format = WR_FORMAT_NUMBER;
    specs_v[3].format = WR_FORMAT_SENML;
    specs_v[3].key_template = "{name}";
    specs_v[4].format = WR_FORMAT_JSON;
    specs_v[4].time_unit = WR_TIME_MS;
    specs_v[5].max_payload_bytes = 10;
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++)
        want_multi_equals_singles(specs, 6, payloads[i]);
}

static void test_decode_multi_invalid_args(void **state)
{
    struct wr_decode_spec a = base_spec();
    struct wr_decode_spec bad = base_spec();
    const struct wr_decode_spec *specs[] = {&a, &bad};
    const struct wr_decode_spec *with_null[] = {&a, NULL};
    struct wr_event events[MAX_EVENTS];
    struct wr_decode_result res;

    (void)state;
    bad.key_template = NULL;
    assert_int_equal(wr_decode_message_multi(specs, 2, "t", 1, "1", 1, events, 1, &res),
                     WR_E_INVAL);
    assert_int_equal(total_drops(&res), 0);
    assert_int_equal(wr_decode_message_multi(with_null, 2, "t", 1, "1", 1, events, 1, &res),
                     WR_E_INVAL);
    assert_int_equal(wr_decode_message_multi(NULL, 1, "t", 1, "1", 1, events, 1, &res), WR_E_INVAL);
    assert_int_equal(
        wr_decode_message_multi(specs, WR_DECODE_MAX_SPECS + 1, "t", 1, "1", 1, events, 1, &res),
        WR_E_INVAL);
    assert_int_equal(wr_decode_message_multi(specs, 1, "t", 1, "1", 1, events, 1, NULL),
                     WR_E_INVAL);
    /* No streams: nothing to do, nothing counted. */
    assert_int_equal(wr_decode_message_multi(NULL, 0, "t", 1, "1", 1, events, 1, &res), WR_OK);
    assert_int_equal(res.n_events, 0);
    assert_int_equal(total_drops(&res), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_number_plain),
        cmocka_unit_test(test_decode_number_forms),
        cmocka_unit_test(test_decode_number_malformed),
        cmocka_unit_test(test_decode_number_non_finite),
        cmocka_unit_test(test_decode_empty_payload),
        cmocka_unit_test(test_decode_oversize),
        cmocka_unit_test(test_decode_unterminated_payload),
        cmocka_unit_test(test_decode_auto_detection),
        cmocka_unit_test(test_decode_forced_formats),
        cmocka_unit_test(test_decode_json_malformed),
        cmocka_unit_test(test_decode_json_strict),
        cmocka_unit_test(test_decode_json_value_types),
        cmocka_unit_test(test_decode_json_time_units),
        cmocka_unit_test(test_decode_json_time_rfc3339),
        cmocka_unit_test(test_decode_json_time_bad),
        cmocka_unit_test(test_decode_senml_basic),
        cmocka_unit_test(test_decode_senml_base_carry),
        cmocka_unit_test(test_decode_senml_relative_time),
        cmocka_unit_test(test_decode_senml_mixed_accounting),
        cmocka_unit_test(test_decode_senml_bad_base_poisons),
        cmocka_unit_test(test_decode_senml_names),
        cmocka_unit_test(test_decode_senml_too_many_records),
        cmocka_unit_test(test_decode_senml_pack_malformed),
        cmocka_unit_test(test_decode_key_template),
        cmocka_unit_test(test_decode_bad_key),
        cmocka_unit_test(test_decode_invalid_args),
        cmocka_unit_test_setup_teardown(test_decode_no_allocation, wr_test_alloc_setup,
                                        wr_test_alloc_teardown),
        cmocka_unit_test(test_decode_multi_object_parsed_once),
        cmocka_unit_test(test_decode_multi_senml_parsed_once),
        cmocka_unit_test(test_decode_multi_equals_single),
        cmocka_unit_test(test_decode_multi_invalid_args),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
