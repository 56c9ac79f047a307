#include "decode.h"
#include "wr_json.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "key_template.h"
#include "plat_mem.h"
#include "wr_error.h"

/*
 * Decisions this module makes where the payload forms leave room (also in
 * the header):
 *   - A JSON object's value member may be a number or a string holding a
 *     number ("21.5"); strings are parsed as strictly as a bare number.
 *     A time member may be a number, a numeric string, or an RFC 3339 string.
 *   - Times are rounded to the nearest millisecond and must fall in the years
 *     1970..9999 (UTC).
 *   - SenML: a record's value is bv + v; without v it is bs + s when s is
 *     present; a record with only vs/vb/vd or no value at all is NO_VALUE.
 *     Times below 2^28 s are relative to "now" (RFC 8428 4.5.3); the decoder
 *     does not read clocks, so such records get processing time (!has_time).
 *   - A SenML record that fails for its own reason counts under that reason
 *     even when the event array is full; only records that would have become
 *     events count as TOO_MANY_RECORDS.
 */

/* Sentinel "no drop" result of the per-event helpers. */
#define DECODE_OK WR_DROP_REASON_COUNT

/* 10000-01-01T00:00:00Z in Unix ms: the first instant we refuse. */
#define TIME_MS_LIMIT 253402300800000.0

/* WR_TIME_AUTO: numbers below this are seconds, others milliseconds. */
#define TIME_AUTO_MS_THRESHOLD 1e11

/* RFC 8428 4.5.3: SenML times below 2^28 seconds are relative to now. */
#define SENML_RELATIVE_LIMIT_S 268435456.0

/*
 * Longest numeric text we convert (bare payloads and numeric strings). 330
 * characters hold any double written out in full; longer is not a sensor value.
 */
#define NUMBER_TEXT_MAX 330

enum num_status {
    NUM_OK,
    NUM_SYNTAX,
    NUM_NON_FINITE,
};

static bool is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool equals_nocase(const char *s, size_t len, const char *word)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (word[i] == '\0' || ascii_lower(s[i]) != word[i])
            return false;
    }
    return word[len] == '\0';
}

/* Length of the leading run of digits in s[0 .. len). */
static size_t count_digits(const char *s, size_t len)
{
    size_t n = 0;

    while (n < len && is_digit(s[n]))
        n++;
    return n;
}

/*
 * Strictly parse s[0 .. len) (not NUL-terminated) as one decimal number with
 * optional surrounding JSON whitespace: [+-] digits [. digits] [e [+-] digits],
 * or [+-] . digits [e ...]. "nan", "inf" and "infinity" in any case, and
 * values that overflow, are NUM_NON_FINITE.
 */
static enum num_status parse_number_text(const char *s, size_t len, double *out)
{
    char buf[NUMBER_TEXT_MAX + 1];
    size_t pos = 0;
    size_t int_digits;
    size_t frac_digits = 0;
    const char *body;
    char *end = NULL;
    double v;

    while (len > 0 && is_json_space(s[0])) {
        s++;
        len--;
    }
    while (len > 0 && is_json_space(s[len - 1]))
        len--;
    if (len == 0)
        return NUM_SYNTAX;

    body = s;
    if (s[0] == '+' || s[0] == '-')
        pos++;
    if (equals_nocase(s + pos, len - pos, "nan") || equals_nocase(s + pos, len - pos, "inf") ||
        equals_nocase(s + pos, len - pos, "infinity"))
        return NUM_NON_FINITE;

    int_digits = count_digits(s + pos, len - pos);
    pos += int_digits;
    if (pos < len && s[pos] == '.') {
        pos++;
        frac_digits = count_digits(s + pos, len - pos);
        pos += frac_digits;
    }
    if (int_digits == 0 && frac_digits == 0)
        return NUM_SYNTAX;
    if (pos < len && (s[pos] == 'e' || s[pos] == 'E')) {
        size_t exp_digits;

        pos++;
        if (pos < len && (s[pos] == '+' || s[pos] == '-'))
            pos++;
        exp_digits = count_digits(s + pos, len - pos);
        if (exp_digits == 0)
            return NUM_SYNTAX;
        pos += exp_digits;
    }
    if (pos != len || len > NUMBER_TEXT_MAX)
        return NUM_SYNTAX;

    /*
     * strtod needs a terminated string. The text is validated above, so
     * strtod must consume all of it; if it does not (a process locale whose
     * decimal point is not '.'), refuse rather than return a truncated value.
     */
    memcpy(buf, body, len);
    buf[len] = '\0';
    v = strtod(buf, &end);
    if (end != buf + len)
        return NUM_SYNTAX;
    if (!isfinite(v))
        return NUM_NON_FINITE;
    *out = v;
    return NUM_OK;
}

/* Round a millisecond count to an integer; false unless it lies in 1970..9999. */
static bool ms_from_double(double ms, int64_t *out)
{
    double r;

    /* Written so that NaN fails too; the range check precedes the cast. */
    if (!(ms >= 0.0 && ms < TIME_MS_LIMIT))
        return false;
    r = floor(ms + 0.5);
    if (!(r < TIME_MS_LIMIT))
        return false;
    *out = (int64_t)r;
    return true;
}

static bool ms_from_number(double t, enum wr_time_unit unit, int64_t *out)
{
    bool seconds;

    if (!isfinite(t))
        return false;
    switch (unit) {
    case WR_TIME_S:
        seconds = true;
        break;
    case WR_TIME_MS:
        seconds = false;
        break;
    case WR_TIME_AUTO:
    default:
        seconds = fabs(t) < TIME_AUTO_MS_THRESHOLD;
        break;
    }
    return ms_from_double(seconds ? t * 1000.0 : t, out);
}

static bool read_fixed_digits(const char *s, size_t n, int *out)
{
    int v = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool is_leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return (m == 2 && is_leap_year(y)) ? 29 : days[m - 1];
}

/* Leap years in 1 .. y (y >= 0). */
static int64_t leap_years_through(int64_t y)
{
    return y / 4 - y / 100 + y / 400;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar; y >= 1. */
static int64_t days_from_civil(int y, int m, int d)
{
    static const int before_month[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t days;

    days =
        365 * ((int64_t)y - 1970) + leap_years_through((int64_t)y - 1) - leap_years_through(1969);
    days += before_month[m - 1];
    if (m > 2 && is_leap_year(y))
        days++;
    return days + d - 1;
}

/*
 * RFC 3339 date-time, strictly: YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm),
 * 'T' may also be 't' or a space, 'Z' may be 'z'. Fractions beyond the
 * millisecond are truncated. A leap second (:60) counts as the next second.
 */
static bool parse_rfc3339(const char *s, size_t len, int64_t *out_ms)
{
    int year;
    int month;
    int day;
    int hour;
    int minute;
    int second;
    int off_h = 0;
    int off_m = 0;
    int64_t frac_ms = 0;
    int64_t offset_s = 0;
    int64_t total_ms;
    size_t pos;

    if (len < 20)
        return false;
    if (!read_fixed_digits(s, 4, &year) || s[4] != '-' || !read_fixed_digits(s + 5, 2, &month) ||
        s[7] != '-' || !read_fixed_digits(s + 8, 2, &day) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !read_fixed_digits(s + 11, 2, &hour) ||
        s[13] != ':' || !read_fixed_digits(s + 14, 2, &minute) || s[16] != ':' ||
        !read_fixed_digits(s + 17, 2, &second))
        return false;
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
        hour > 23 || minute > 59 || second > 60)
        return false;

    pos = 19;
    if (s[pos] == '.') {
        size_t n;
        size_t i;

        pos++;
        n = count_digits(s + pos, len - pos);
        if (n == 0)
            return false;
        for (i = 0; i < 3; i++)
            frac_ms = frac_ms * 10 + (i < n ? s[pos + i] - '0' : 0);
        pos += n;
    }
    if (pos >= len)
        return false;
    if (s[pos] == 'Z' || s[pos] == 'z') {
        pos++;
    } else if (s[pos] == '+' || s[pos] == '-') {
        if (len - pos < 6 || !read_fixed_digits(s + pos + 1, 2, &off_h) || s[pos + 3] != ':' ||
            !read_fixed_digits(s + pos + 4, 2, &off_m) || off_h > 23 || off_m > 59)
            return false;
        offset_s = (int64_t)off_h * 3600 + (int64_t)off_m * 60;
        if (s[pos] == '-')
            offset_s = -offset_s;
        pos += 6;
    } else {
        return false;
    }
    if (pos != len)
        return false;

    /* Local time minus the offset is UTC; all terms are small, no overflow. */
    total_ms = (days_from_civil(year, month, day) * 86400 + (int64_t)hour * 3600 +
                (int64_t)minute * 60 + second - offset_s) *
                   1000 +
               frac_ms;
    if (total_ms < 0 || (double)total_ms >= TIME_MS_LIMIT)
        return false;
    *out_ms = total_ms;
    return true;
}

/* A JSON object's time member: number, numeric string or RFC 3339 string. */
static bool time_from_item(const cJSON *item, enum wr_time_unit unit, int64_t *out_ms)
{
    if (cJSON_IsNumber(item))
        return ms_from_number(item->valuedouble, unit, out_ms);
    if (cJSON_IsString(item) && item->valuestring != NULL) {
        const char *s = item->valuestring;
        size_t len = strlen(s);
        double t;

        if (parse_number_text(s, len, &t) == NUM_OK)
            return ms_from_number(t, unit, out_ms);
        return parse_rfc3339(s, len, out_ms);
    }
    return false;
}

/* Fill ev->key from the stream's template; BAD_KEY on any failure. */
static enum wr_drop_reason fill_key(const struct wr_decode_spec *spec, const char *topic,
                                    size_t topic_len, const char *name, struct wr_event *ev)
{
    if (wr_key_template_expand(spec->key_template, topic, topic_len, name, ev->key,
                               sizeof(ev->key)) != WR_OK)
        return WR_DROP_BAD_KEY;
    return DECODE_OK;
}

static void init_event(const struct wr_decode_spec *spec, struct wr_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->stream = spec->stream;
}

/* Store ev as the next event, or count the drop. */
static void emit(struct wr_event *events, size_t max_events, struct wr_decode_result *res,
                 enum wr_drop_reason reason, const struct wr_event *ev)
{
    if (reason == DECODE_OK && res->n_events >= max_events)
        reason = WR_DROP_TOO_MANY_RECORDS;
    if (reason != DECODE_OK) {
        res->drops[reason]++;
        return;
    }
    events[res->n_events++] = *ev;
}

static enum wr_drop_reason decode_number(const struct wr_decode_spec *spec, const char *topic,
                                         size_t topic_len, const char *p, size_t len,
                                         struct wr_event *ev)
{
    switch (parse_number_text(p, len, &ev->value)) {
    case NUM_OK:
        break;
    case NUM_NON_FINITE:
        return WR_DROP_NON_FINITE;
    case NUM_SYNTAX:
    default:
        return WR_DROP_MALFORMED;
    }
    return fill_key(spec, topic, topic_len, NULL, ev);
}

static enum wr_drop_reason decode_object(const struct wr_decode_spec *spec, const char *topic,
                                         size_t topic_len, const cJSON *root, struct wr_event *ev)
{
    const cJSON *item;

    item = cJSON_GetObjectItemCaseSensitive(root, spec->value_field);
    if (cJSON_IsNumber(item)) {
        ev->value = item->valuedouble;
    } else if (cJSON_IsString(item) && item->valuestring != NULL) {
        enum num_status st;

        st = parse_number_text(item->valuestring, strlen(item->valuestring), &ev->value);
        if (st == NUM_NON_FINITE)
            return WR_DROP_NON_FINITE;
        if (st != NUM_OK)
            return WR_DROP_NO_VALUE;
    } else {
        return WR_DROP_NO_VALUE;
    }
    if (!isfinite(ev->value))
        return WR_DROP_NON_FINITE;

    if (spec->time_field != NULL && spec->time_field[0] != '\0') {
        item = cJSON_GetObjectItemCaseSensitive(root, spec->time_field);
        if (item != NULL) {
            if (!time_from_item(item, spec->time_unit, &ev->time_ms))
                return WR_DROP_BAD_TIME;
            ev->has_time = true;
        }
    }
    return fill_key(spec, topic, topic_len, NULL, ev);
}

/*
 * SenML base fields carried from record to record. A base field of the
 * wrong type poisons every later record that relies on it, until a record
 * sets it again: guessing a default would produce silently wrong keys,
 * values or times.
 */
struct senml_base {
    char name[WR_KEY_MAX];
    bool name_bad;
    double time;
    bool time_bad;
    double value;
    bool value_bad;
    double sum;
    bool sum_bad;
};

static void senml_base_number(const cJSON *rec, const char *field, double *val, bool *bad)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(rec, field);

    if (item == NULL)
        return;
    *bad = !cJSON_IsNumber(item);
    *val = *bad ? 0.0 : item->valuedouble;
}

static void senml_update_base(const cJSON *rec, struct senml_base *base)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(rec, "bn");

    if (item != NULL) {
        /* A base name too long for any key is as unusable as a wrong type. */
        base->name_bad = !cJSON_IsString(item) || item->valuestring == NULL ||
                         strlen(item->valuestring) >= sizeof(base->name);
        if (base->name_bad)
            base->name[0] = '\0';
        else
            strcpy(base->name, item->valuestring);
    }
    senml_base_number(rec, "bt", &base->time, &base->time_bad);
    senml_base_number(rec, "bv", &base->value, &base->value_bad);
    senml_base_number(rec, "bs", &base->sum, &base->sum_bad);
}

/* RFC 8428 4.5.1: first character alphanumeric, then alphanumerics and "-:./_". */
static bool senml_name_valid(const char *name)
{
    size_t i;

    if (!is_alnum(name[0]))
        return false;
    for (i = 1; name[i] != '\0'; i++) {
        char c = name[i];

        if (!is_alnum(c) && c != '-' && c != ':' && c != '.' && c != '/' && c != '_')
            return false;
    }
    return true;
}

/* RFC 8428 4.4: labels ending in '_' must be understood, and we understand none. */
static bool senml_has_must_understand(const cJSON *rec)
{
    const cJSON *member;

    for (member = rec->child; member != NULL; member = member->next) {
        size_t len = member->string != NULL ? strlen(member->string) : 0;

        if (len > 0 && member->string[len - 1] == '_')
            return true;
    }
    return false;
}

static enum wr_drop_reason senml_name(const cJSON *rec, const struct senml_base *base, char *name,
                                      size_t name_size)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(rec, "n");
    const char *n = "";
    size_t base_len;
    size_t n_len;

    if (base->name_bad)
        return WR_DROP_BAD_KEY;
    if (item != NULL) {
        if (!cJSON_IsString(item) || item->valuestring == NULL)
            return WR_DROP_BAD_KEY;
        n = item->valuestring;
    }
    base_len = strlen(base->name);
    n_len = strlen(n);
    if (n_len >= name_size - base_len)
        return WR_DROP_BAD_KEY;
    memcpy(name, base->name, base_len);
    memcpy(name + base_len, n, n_len + 1);
    return senml_name_valid(name) ? DECODE_OK : WR_DROP_BAD_KEY;
}

static enum wr_drop_reason senml_value(const cJSON *rec, const struct senml_base *base, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, "v");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(rec, "s");

    if (v != NULL) {
        if (!cJSON_IsNumber(v) || base->value_bad)
            return WR_DROP_NO_VALUE;
        *out = base->value + v->valuedouble;
    } else if (cJSON_HasObjectItem(rec, "vs") || cJSON_HasObjectItem(rec, "vb") ||
               cJSON_HasObjectItem(rec, "vd")) {
        /* String, boolean and data values cannot be aggregated. */
        return WR_DROP_NO_VALUE;
    } else if (s != NULL) {
        if (!cJSON_IsNumber(s) || base->sum_bad)
            return WR_DROP_NO_VALUE;
        *out = base->sum + s->valuedouble;
    } else {
        return WR_DROP_NO_VALUE;
    }
    return isfinite(*out) ? DECODE_OK : WR_DROP_NON_FINITE;
}

static enum wr_drop_reason senml_time(const cJSON *rec, const struct senml_base *base,
                                      struct wr_event *ev)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(rec, "t");
    double t = base->time;

    if (base->time_bad)
        return WR_DROP_BAD_TIME;
    if (item != NULL) {
        if (!cJSON_IsNumber(item))
            return WR_DROP_BAD_TIME;
        t += item->valuedouble;
    }
    if (!isfinite(t))
        return WR_DROP_BAD_TIME;
    if (t < SENML_RELATIVE_LIMIT_S) {
        /* Relative to a "now" we do not read: leave it to processing time. */
        ev->has_time = false;
        ev->time_ms = 0;
        return DECODE_OK;
    }
    if (!ms_from_double(t * 1000.0, &ev->time_ms))
        return WR_DROP_BAD_TIME;
    ev->has_time = true;
    return DECODE_OK;
}

static enum wr_drop_reason senml_record(const struct wr_decode_spec *spec, const char *topic,
                                        size_t topic_len, const cJSON *rec, struct senml_base *base,
                                        struct wr_event *ev)
{
    char name[WR_KEY_MAX];
    enum wr_drop_reason reason;

    if (!cJSON_IsObject(rec) || senml_has_must_understand(rec))
        return WR_DROP_MALFORMED;
    /* Base fields apply to their own record too, and to all that follow. */
    senml_update_base(rec, base);

    reason = senml_name(rec, base, name, sizeof(name));
    if (reason != DECODE_OK)
        return reason;
    reason = senml_value(rec, base, &ev->value);
    if (reason != DECODE_OK)
        return reason;
    reason = senml_time(rec, base, ev);
    if (reason != DECODE_OK)
        return reason;
    return fill_key(spec, topic, topic_len, name, ev);
}

static void decode_senml(const struct wr_decode_spec *spec, const char *topic, size_t topic_len,
                         const cJSON *root, struct wr_event *events, size_t max_events,
                         struct wr_decode_result *res)
{
    struct senml_base base;
    const cJSON *rec;

    memset(&base, 0, sizeof(base));
    for (rec = root->child; rec != NULL; rec = rec->next) {
        struct wr_event ev;
        enum wr_drop_reason reason;

        init_event(spec, &ev);
        reason = senml_record(spec, topic, topic_len, rec, &base, &ev);
        emit(events, max_events, res, reason, &ev);
    }
}

/*
 * cJSON decodes "\u0000" into a NUL inside the string and then treats the
 * string as ending there, so the name "a\u0000b" would silently become "a".
 * No sensor value or name needs a NUL: such payloads are refused whole.
 */
static bool has_escaped_nul(const char *p, size_t len)
{
    bool in_string = false;
    size_t i;

    for (i = 0; i < len; i++) {
        if (!in_string) {
            in_string = p[i] == '"';
        } else if (p[i] == '"') {
            in_string = false;
        } else if (p[i] == '\\') {
            if (len - i >= 6 && p[i + 1] == 'u' && memcmp(p + i + 2, "0000", 4) == 0)
                return true;
            i++; /* skip the escaped character, which may be a quote */
        }
    }
    return false;
}

/*
 * Parse p[0 .. len) as exactly one JSON value of the given type. Returns
 * WR_OK with *out set, WR_E_PARSE, or WR_E_NOMEM.
 */
static int parse_json(const char *p, size_t len, int type, cJSON **out)
{
    const char *end = NULL;
    cJSON *root;
    size_t rest;

    if (has_escaped_nul(p, len))
        return WR_E_PARSE;
    wr_json_begin();
    /*
     * cJSON's require_null_terminated would read a NUL inside len, which an
     * MQTT payload does not have, so check the tail ourselves.
     */
    root = cJSON_ParseWithLengthOpts(p, len, &end, 0);
    if (root == NULL)
        return wr_json_out_of_memory() ? WR_E_NOMEM : WR_E_PARSE;
    assert(end >= p && end <= p + len);
    for (rest = (size_t)(end - p); rest < len; rest++) {
        if (!is_json_space(p[rest])) {
            cJSON_Delete(root);
            return WR_E_PARSE;
        }
    }
    if ((root->type & 0xFF) != type) {
        cJSON_Delete(root);
        return WR_E_PARSE;
    }
    *out = root;
    return WR_OK;
}

int wr_decode_message(const struct wr_decode_spec *spec, const char *topic, size_t topic_len,
                      const void *payload, size_t payload_len, struct wr_event *events,
                      size_t max_events, struct wr_decode_result *res)
{
    const char *p = payload;
    enum wr_payload_format format;
    struct wr_event ev;
    cJSON *root = NULL;
    size_t first = 0;
    int rc;

    if (res == NULL)
        return WR_E_INVAL;
    memset(res, 0, sizeof(*res));
    if (spec == NULL || spec->key_template == NULL || spec->value_field == NULL ||
        (topic == NULL && topic_len > 0) || (payload == NULL && payload_len > 0) ||
        (events == NULL && max_events > 0) || (unsigned)spec->format > WR_FORMAT_SENML)
        return WR_E_INVAL;
    if (topic == NULL)
        topic = "";

    if (payload_len > spec->max_payload_bytes) {
        res->drops[WR_DROP_OVERSIZE]++;
        return WR_OK;
    }
    while (first < payload_len && is_json_space(p[first]))
        first++;
    if (first == payload_len) {
        res->drops[WR_DROP_MALFORMED]++;
        return WR_OK;
    }

    format = spec->format;
    if (format == WR_FORMAT_AUTO) {
        if (p[first] == '{')
            format = WR_FORMAT_JSON;
        else if (p[first] == '[')
            format = WR_FORMAT_SENML;
        else
            format = WR_FORMAT_NUMBER;
    }

    init_event(spec, &ev);
    if (format == WR_FORMAT_NUMBER) {
        emit(events, max_events, res, decode_number(spec, topic, topic_len, p, payload_len, &ev),
             &ev);
        return WR_OK;
    }

    rc = parse_json(p, payload_len, format == WR_FORMAT_JSON ? cJSON_Object : cJSON_Array, &root);
    if (rc == WR_E_NOMEM) {
        /* Nothing counted: the caller may retry the message later. */
        return WR_E_NOMEM;
    }
    if (rc != WR_OK) {
        res->drops[WR_DROP_MALFORMED]++;
        return WR_OK;
    }
    if (format == WR_FORMAT_JSON)
        emit(events, max_events, res, decode_object(spec, topic, topic_len, root, &ev), &ev);
    else
        decode_senml(spec, topic, topic_len, root, events, max_events, res);
    cJSON_Delete(root);
    return WR_OK;
}
