#include "decode.h"
#include "decode_internal.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "key_template.h"
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
 *   - One message decoded for several streams is read once: the JSON reader
 *     below walks it a single time, collecting what every stream needs, and
 *     each SenML record is interpreted once and then keyed per stream.
 *   - Nothing here allocates: the per-event path stays off the heap.
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
 * Powers of ten that a double holds exactly. With a mantissa of at most 2^53
 * and one of these, one IEEE multiplication or division gives the correctly
 * rounded result (Clinger's fast path), the same double strtod returns.
 */
static const double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#define FAST_POW10_MAX 22
#define FAST_MANTISSA_MAX (UINT64_C(1) << 53)

/*
 * The fast path for s[0 .. len), already checked to be [+-] digits [. digits]
 * [e [+-] digits] with at least one digit. False when the number needs
 * strtod: too many significant digits or too large an exponent, or a
 * platform that evaluates doubles in wider registers (then the single
 * rounding this relies on is not guaranteed).
 */
static bool decimal_fast(const char *s, size_t len, double *out)
{
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    uint64_t m = 0;
    int digits = 0;
    long exp10 = 0;
    bool neg = false;
    size_t i = 0;
    double d;

    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i++;
    }
    for (; i < len && is_digit(s[i]); i++) {
        if (m == 0 && s[i] == '0')
            continue;
        if (++digits > 19)
            return false;
        m = m * 10 + (uint64_t)(s[i] - '0');
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && is_digit(s[i]); i++) {
            exp10--;
            if (m == 0 && s[i] == '0')
                continue;
            if (++digits > 19)
                return false;
            m = m * 10 + (uint64_t)(s[i] - '0');
        }
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false;
        long e = 0;

        i++;
        if (s[i] == '+' || s[i] == '-') {
            eneg = s[i] == '-';
            i++;
        }
        for (; i < len; i++) {
            if (e > 100000)
                return false;
            e = e * 10 + (s[i] - '0');
        }
        exp10 += eneg ? -e : e;
    }
    if (m == 0) {
        *out = neg ? -0.0 : 0.0;
        return true;
    }
    if (m > FAST_MANTISSA_MAX || exp10 < -FAST_POW10_MAX || exp10 > FAST_POW10_MAX)
        return false;
    d = (double)m;
    d = exp10 < 0 ? d / exact_pow10[-exp10] : d * exact_pow10[exp10];
    *out = neg ? -d : d;
    return true;
#else
    (void)s;
    (void)len;
    (void)out;
    return false;
#endif
}

/*
 * Convert s[0 .. len), already checked to be a decimal number of at most
 * NUMBER_TEXT_MAX characters. Overflow is NUM_NON_FINITE, with *out set to
 * the infinity strtod returned (JSON numbers keep it, see json_number).
 */
static enum num_status convert_decimal(const char *s, size_t len, double *out)
{
    char buf[NUMBER_TEXT_MAX + 1];
    char *end = NULL;
    double v;

    assert(len > 0 && len <= NUMBER_TEXT_MAX);
    if (decimal_fast(s, len, out))
        return NUM_OK;
    /*
     * strtod needs a terminated string. The text is validated, so strtod
     * must consume all of it; if it does not (a process locale whose decimal
     * point is not '.'), refuse rather than return a truncated value.
     */
    memcpy(buf, s, len);
    buf[len] = '\0';
    v = strtod(buf, &end);
    if (end != buf + len)
        return NUM_SYNTAX;
    *out = v;
    return isfinite(v) ? NUM_OK : NUM_NON_FINITE;
}

/*
 * Strictly parse s[0 .. len) (not NUL-terminated) as one decimal number with
 * optional surrounding JSON whitespace: [+-] digits [. digits] [e [+-] digits],
 * or [+-] . digits [e ...]. "nan", "inf" and "infinity" in any case, and
 * values that overflow, are NUM_NON_FINITE.
 */
static enum num_status parse_number_text(const char *s, size_t len, double *out)
{
    size_t pos = 0;
    size_t int_digits;
    size_t frac_digits = 0;
    const char *body;

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

    return convert_decimal(body, len, out);
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

/*
 * The JSON reader. It walks the payload once, in place, and allocates
 * nothing: containers nobody asked about are validated and skipped with a
 * bit per nesting level on the stack, and what the decoder needs (the members
 * a stream names, the SenML fields of each record) is kept as spans into the
 * payload. Strings are decoded, and numbers converted, only when used. The
 * text must be one RFC 8259 JSON value and nothing else but whitespace:
 * control characters inside strings, bad escapes, unpaired surrogates,
 * leading zeros, "+1", ".5", "1." and nesting deeper than JSON_DEPTH_MAX are
 * syntax errors. "\u0000" is refused too (see has_time in decode.h).
 */

/* JSON payloads walked by this thread (decode_internal.h). */
static _Thread_local uint64_t json_reads;

uint64_t wr_decode__json_reads(void)
{
    return json_reads;
}

/* Deepest nesting of arrays and objects accepted (the top level counts as 1). */
#define JSON_DEPTH_MAX 1000

enum jtype {
    JT_NONE = 0, /* member absent */
    JT_NUMBER,
    JT_STRING,
    JT_OTHER, /* true, false, null, an object or an array */
};

/* A scalar's text: a number's characters, or a string's content between its quotes. */
struct jval {
    const char *s;
    size_t len;
    enum jtype type;
    bool escaped; /* the string holds at least one backslash escape */
};

struct jscan {
    const char *p;
    size_t len;
    size_t pos;
};

static inline void skip_ws(struct jscan *js)
{
    while (js->pos < js->len && is_json_space(js->p[js->pos]))
        js->pos++;
}

/* The character at the cursor, or '\0' at the end (a NUL byte is never valid JSON here). */
static inline char peek(const struct jscan *js)
{
    return js->pos < js->len ? js->p[js->pos] : '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at s[i .. i + 4) within len. */
static bool read_hex4(const char *s, size_t len, size_t i, unsigned *out)
{
    unsigned v = 0;

    if (len < 4 || i > len - 4)
        return false;
    for (size_t k = 0; k < 4; k++) {
        int h = hex_value(s[i + k]);

        if (h < 0)
            return false;
        v = (v << 4) | (unsigned)h;
    }
    *out = v;
    return true;
}

/* A string at the cursor (on its opening quote); checks every escape. */
static bool scan_string(struct jscan *js, struct jval *out)
{
    const char *p = js->p;
    size_t n = js->len;
    size_t start = js->pos + 1;
    size_t i = start;
    bool escaped = false;

    for (;;) {
        unsigned char c;
        unsigned cp;
        unsigned lo;

        if (i >= n)
            return false;
        c = (unsigned char)p[i];
        if (c == '"')
            break;
        if (c < 0x20)
            return false;
        if (c != '\\') {
            i++;
            continue;
        }
        escaped = true;
        if (i + 1 >= n)
            return false;
        switch (p[i + 1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            i += 2;
            break;
        case 'u':
            if (!read_hex4(p, n, i + 2, &cp) || cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
                return false;
            i += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (i + 1 >= n || p[i] != '\\' || p[i + 1] != 'u' || !read_hex4(p, n, i + 2, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return false;
                i += 6;
            }
            break;
        default:
            return false;
        }
    }
    out->s = p + start;
    out->len = i - start;
    out->type = JT_STRING;
    out->escaped = escaped;
    js->pos = i + 1;
    return true;
}

/* An RFC 8259 number at the cursor, at most NUMBER_TEXT_MAX characters. */
static bool scan_number(struct jscan *js, struct jval *out)
{
    const char *p = js->p;
    size_t n = js->len;
    size_t start = js->pos;
    size_t i = start;

    if (i < n && p[i] == '-')
        i++;
    if (i >= n || !is_digit(p[i]))
        return false;
    if (p[i] == '0')
        i++;
    else
        i += count_digits(p + i, n - i);
    if (i < n && p[i] == '.') {
        size_t d = count_digits(p + i + 1, n - i - 1);

        if (d == 0)
            return false;
        i += 1 + d;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        size_t d;

        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        d = count_digits(p + i, n - i);
        if (d == 0)
            return false;
        i += d;
    }
    if (i - start > NUMBER_TEXT_MAX)
        return false;
    out->s = p + start;
    out->len = i - start;
    out->type = JT_NUMBER;
    out->escaped = false;
    js->pos = i;
    return true;
}

static bool scan_literal(struct jscan *js, const char *word, size_t len)
{
    if (js->len - js->pos < len || memcmp(js->p + js->pos, word, len) != 0)
        return false;
    js->pos += len;
    return true;
}

/* A string, number or literal at the cursor. */
static bool scan_scalar(struct jscan *js, struct jval *out)
{
    out->type = JT_OTHER;
    out->escaped = false;
    switch (peek(js)) {
    case '"':
        return scan_string(js, out);
    case 't':
        return scan_literal(js, "true", 4);
    case 'f':
        return scan_literal(js, "false", 5);
    case 'n':
        return scan_literal(js, "null", 4);
    default:
        return scan_number(js, out);
    }
}

/* A member's key and the colon after it, from the cursor (whitespace first). */
static bool scan_key(struct jscan *js, struct jval *key)
{
    skip_ws(js);
    if (peek(js) != '"' || !scan_string(js, key))
        return false;
    skip_ws(js);
    if (peek(js) != ':')
        return false;
    js->pos++;
    return true;
}

/*
 * Validate and step over the array or object at the cursor, which lies
 * inside outer_depth open containers. Iterative, so hostile nesting costs a
 * bit of stack per level, never a stack overflow.
 */
static bool skip_container(struct jscan *js, unsigned outer_depth)
{
    unsigned char is_object[JSON_DEPTH_MAX / 8 + 1];
    unsigned depth = 0;
    struct jval v;

    for (;;) {
        char c;

        /* At the start of a value. */
        skip_ws(js);
        c = peek(js);
        if (c == '{' || c == '[') {
            bool obj = c == '{';

            if (outer_depth + depth >= JSON_DEPTH_MAX)
                return false;
            if (obj)
                is_object[depth / 8] = (unsigned char)(is_object[depth / 8] | (1u << (depth % 8)));
            else
                is_object[depth / 8] = (unsigned char)(is_object[depth / 8] & ~(1u << (depth % 8)));
            depth++;
            js->pos++;
            skip_ws(js);
            if (peek(js) != (obj ? '}' : ']')) {
                if (obj && !scan_key(js, &v))
                    return false;
                continue;
            }
            js->pos++;
            depth--;
        } else if (!scan_scalar(js, &v)) {
            return false;
        }
        /* After a value: close what ends here, then go on to the next element. */
        for (;;) {
            bool obj;

            if (depth == 0)
                return true;
            obj = (((unsigned)is_object[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1u) != 0;
            skip_ws(js);
            c = peek(js);
            if (c == ',') {
                js->pos++;
                if (obj && !scan_key(js, &v))
                    return false;
                break;
            }
            if (c != (obj ? '}' : ']'))
                return false;
            js->pos++;
            depth--;
        }
    }
}

/* Any value at the cursor; containers are skipped and reported as JT_OTHER. */
static bool scan_value(struct jscan *js, struct jval *out, unsigned depth)
{
    char c;

    skip_ws(js);
    c = peek(js);
    if (c == '{' || c == '[') {
        out->type = JT_OTHER;
        out->escaped = false;
        return skip_container(js, depth);
    }
    return scan_scalar(js, out);
}

/*
 * The next member of the object whose '{' the cursor has passed; values lie
 * at depth (the open containers including this object). Returns 1 with key
 * and value, 0 after the closing brace, -1 on a syntax error.
 */
static int object_next(struct jscan *js, bool *first, struct jval *key, struct jval *val,
                       unsigned depth)
{
    skip_ws(js);
    if (peek(js) == '}') {
        js->pos++;
        return 0;
    }
    if (!*first) {
        if (peek(js) != ',')
            return -1;
        js->pos++;
    }
    *first = false;
    if (!scan_key(js, key) || !scan_value(js, val, depth))
        return -1;
    return 1;
}

/*
 * Decoded strings. Escapes were checked by scan_string, so decoding cannot
 * fail; \uXXXX (with surrogate pairs) becomes UTF-8.
 */
struct jstr_iter {
    const char *s;
    size_t len;
    size_t i;
    unsigned char pending[4];
    unsigned n_pending;
    unsigned next_pending;
};

static void jstr_begin(struct jstr_iter *it, const struct jval *v)
{
    it->s = v->s;
    it->len = v->len;
    it->i = 0;
    it->n_pending = 0;
    it->next_pending = 0;
}

static void jstr_queue_utf8(struct jstr_iter *it, unsigned cp)
{
    if (cp < 0x80) {
        it->pending[0] = (unsigned char)cp;
        it->n_pending = 1;
    } else if (cp < 0x800) {
        it->pending[0] = (unsigned char)(0xC0 | (cp >> 6));
        it->pending[1] = (unsigned char)(0x80 | (cp & 0x3F));
        it->n_pending = 2;
    } else if (cp < 0x10000) {
        it->pending[0] = (unsigned char)(0xE0 | (cp >> 12));
        it->pending[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        it->pending[2] = (unsigned char)(0x80 | (cp & 0x3F));
        it->n_pending = 3;
    } else {
        it->pending[0] = (unsigned char)(0xF0 | (cp >> 18));
        it->pending[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        it->pending[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        it->pending[3] = (unsigned char)(0x80 | (cp & 0x3F));
        it->n_pending = 4;
    }
    it->next_pending = 0;
}

/* The next decoded byte (0..255), or -1 at the end. */
static int jstr_next(struct jstr_iter *it)
{
    char c;
    /* read_hex4 leaves them unset only for bad hex, which validation ruled out. */
    unsigned cp = 0;
    unsigned lo = 0xDC00;

    if (it->next_pending < it->n_pending)
        return it->pending[it->next_pending++];
    if (it->i >= it->len)
        return -1;
    c = it->s[it->i];
    if (c != '\\') {
        it->i++;
        return (unsigned char)c;
    }
    c = it->s[it->i + 1];
    it->i += 2;
    switch (c) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'u':
        (void)read_hex4(it->s, it->len, it->i, &cp);
        it->i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            (void)read_hex4(it->s, it->len, it->i + 2, &lo);
            it->i += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        jstr_queue_utf8(it, cp);
        return it->pending[it->next_pending++];
    default:
        return (unsigned char)c; /* '"', '\\' or '/' */
    }
}

/* True if the decoded string is exactly name[0 .. name_len). */
static bool jstr_equals(const struct jval *v, const char *name, size_t name_len)
{
    struct jstr_iter it;
    size_t k = 0;
    int c;

    if (!v->escaped)
        return v->len == name_len && memcmp(v->s, name, name_len) == 0;
    jstr_begin(&it, v);
    while ((c = jstr_next(&it)) >= 0) {
        if (k >= name_len || (unsigned char)name[k] != c)
            return false;
        k++;
    }
    return k == name_len;
}

/* Decode into out (NUL-terminated); false if it does not fit in cap bytes with the NUL. */
static bool jstr_copy(const struct jval *v, char *out, size_t cap, size_t *out_len)
{
    struct jstr_iter it;
    size_t k = 0;
    int c;

    if (!v->escaped) {
        if (v->len >= cap)
            return false;
        memcpy(out, v->s, v->len);
        out[v->len] = '\0';
        *out_len = v->len;
        return true;
    }
    jstr_begin(&it, v);
    while ((c = jstr_next(&it)) >= 0) {
        if (k + 1 >= cap)
            return false;
        out[k++] = (char)c;
    }
    out[k] = '\0';
    *out_len = k;
    return true;
}

/* The decoded string's last byte, or -1 for the empty string. */
static int jstr_last(const struct jval *v)
{
    struct jstr_iter it;
    int last = -1;
    int c;

    if (!v->escaped)
        return v->len > 0 ? (unsigned char)v->s[v->len - 1] : -1;
    jstr_begin(&it, v);
    while ((c = jstr_next(&it)) >= 0)
        last = c;
    return last;
}

/* A JSON number token's value; an overflow gives the infinity strtod gives. */
static double json_number(const struct jval *v)
{
    double d = NAN;

    assert(v->type == JT_NUMBER);
    (void)convert_decimal(v->s, v->len, &d);
    return d;
}

/*
 * A JSON string holding a number, parsed as strictly as a bare payload. An
 * escaped string is decoded first; leading and trailing whitespace is
 * dropped while decoding, so that only the number itself needs room.
 */
static enum num_status string_number(const struct jval *v, double *out)
{
    char buf[NUMBER_TEXT_MAX + 2];
    struct jstr_iter it;
    size_t k = 0;
    size_t spaces = 0;
    int c;

    if (!v->escaped)
        return parse_number_text(v->s, v->len, out);
    jstr_begin(&it, v);
    while ((c = jstr_next(&it)) >= 0) {
        if (is_json_space((char)c)) {
            if (k > 0)
                spaces++;
            continue;
        }
        /* Whitespace inside the text makes it malformed; keep one to say so. */
        if (spaces > 0 && k < sizeof(buf))
            buf[k++] = ' ';
        spaces = 0;
        if (k >= sizeof(buf))
            return NUM_SYNTAX; /* longer than NUMBER_TEXT_MAX: not a number */
        buf[k++] = (char)c;
    }
    return parse_number_text(buf, k, out);
}

/*
 * Longest escaped time string that is decoded to be read as RFC 3339 (which
 * needs at most 29 characters plus fraction digits beyond the millisecond).
 * An escaped string longer than this is a bad time; unescaped ones have no limit.
 */
#define TIME_TEXT_MAX 128

/* A JSON object's time member: number, numeric string or RFC 3339 string. */
static bool time_from_value(const struct jval *v, enum wr_time_unit unit, int64_t *out_ms)
{
    char buf[TIME_TEXT_MAX];
    size_t len;
    double t;

    if (v->type == JT_NUMBER)
        return ms_from_number(json_number(v), unit, out_ms);
    if (v->type != JT_STRING)
        return false;
    if (string_number(v, &t) == NUM_OK)
        return ms_from_number(t, unit, out_ms);
    if (!v->escaped)
        return parse_rfc3339(v->s, v->len, out_ms);
    return jstr_copy(v, buf, sizeof(buf), &len) && parse_rfc3339(buf, len, out_ms);
}

/*
 * Events out: one output array shared by every stream the message is decoded
 * for. A record or value that fails counts under its reason; one that would
 * have become an event when the array is full counts as TOO_MANY_RECORDS.
 */
struct out {
    struct wr_event *events;
    size_t max_events;
    struct wr_decode_result *res;
};

_Static_assert(WR_KEY_MAX <= WR_KEY_PREPARED_TEXT, "keys must fit a prepared template");

/*
 * Expand spec's key template into key, from kp when the template was
 * prepared for this message's topic (NULL: from the template itself);
 * BAD_KEY on any failure. name is name_len bytes, NUL-terminated, or NULL.
 */
static enum wr_drop_reason fill_key(const struct wr_decode_spec *spec, const char *topic,
                                    size_t topic_len, const struct wr_key_prepared *kp,
                                    const char *name, size_t name_len, char *key)
{
    int rc;

    if (kp != NULL)
        rc = wr_key_prepared_expand(kp, name, name_len, key, WR_KEY_MAX);
    else
        rc = wr_key_template_expand(spec->key_template, topic, topic_len, name, key, WR_KEY_MAX);
    return rc == WR_OK ? DECODE_OK : WR_DROP_BAD_KEY;
}

/*
 * Emit one event for spec with the given value and time, keyed by the
 * template (name is the SenML name or NULL), or count why not.
 */
static void emit(struct out *o, const struct wr_decode_spec *spec, const char *topic,
                 size_t topic_len, const struct wr_key_prepared *kp, const char *name,
                 size_t name_len, enum wr_drop_reason reason, double value, bool has_time,
                 int64_t time_ms)
{
    struct wr_decode_result *res = o->res;
    char spare[WR_KEY_MAX];
    struct wr_event *ev;
    bool room = res->n_events < o->max_events;

    if (reason == DECODE_OK)
        reason = fill_key(spec, topic, topic_len, kp, name, name_len,
                          room ? o->events[res->n_events].key : spare);
    if (reason == DECODE_OK && !room)
        reason = WR_DROP_TOO_MANY_RECORDS;
    if (reason != DECODE_OK) {
        res->drops[reason]++;
        return;
    }
    ev = &o->events[res->n_events++];
    ev->time_ms = has_time ? time_ms : 0;
    ev->arrival_mono_ms = 0;
    ev->value = value;
    ev->stream = spec->stream;
    ev->has_time = has_time;
}

static void emit_drop(struct out *o, enum wr_drop_reason reason)
{
    o->res->drops[reason]++;
}

/* The JSON object form: which member each spec reads, found in one pass. */
struct wanted {
    const char *name;
    size_t len;
    struct jval val; /* first member of that name; JT_NONE if absent */
};

#define WANTED_MAX (2 * WR_DECODE_MAX_SPECS)

struct object_plan {
    struct wanted fields[WANTED_MAX];
    size_t n_fields;
    uint8_t value_of[WR_DECODE_MAX_SPECS]; /* index into fields */
    uint8_t time_of[WR_DECODE_MAX_SPECS];  /* index into fields, or UINT8_MAX for none */
};

static uint8_t plan_field(struct object_plan *plan, const char *name)
{
    size_t len = strlen(name);
    size_t i;

    for (i = 0; i < plan->n_fields; i++)
        if (plan->fields[i].len == len && memcmp(plan->fields[i].name, name, len) == 0)
            return (uint8_t)i;
    assert(plan->n_fields < WANTED_MAX);
    plan->fields[i].name = name;
    plan->fields[i].len = len;
    plan->fields[i].val.type = JT_NONE;
    plan->n_fields++;
    return (uint8_t)i;
}

/* Read the top-level object once, keeping the first member of each wanted name. */
static bool read_object(struct jscan *js, struct object_plan *plan)
{
    bool first = true;
    struct jval key;
    struct jval val;
    int r;

    js->pos++; /* the '{' */
    while ((r = object_next(js, &first, &key, &val, 1)) > 0) {
        for (size_t i = 0; i < plan->n_fields; i++) {
            struct wanted *w = &plan->fields[i];

            if (w->val.type == JT_NONE && jstr_equals(&key, w->name, w->len)) {
                w->val = val;
                break; /* names in the plan are distinct */
            }
        }
    }
    return r == 0;
}

static void object_event(struct out *o, const struct wr_decode_spec *spec, const char *topic,
                         size_t topic_len, const struct jval *value, const struct jval *time)
{
    double v = 0.0;
    int64_t time_ms = 0;
    bool has_time = false;
    enum wr_drop_reason reason = DECODE_OK;

    if (value->type == JT_NUMBER) {
        v = json_number(value);
    } else if (value->type == JT_STRING) {
        enum num_status st = string_number(value, &v);

        if (st == NUM_NON_FINITE)
            reason = WR_DROP_NON_FINITE;
        else if (st != NUM_OK)
            reason = WR_DROP_NO_VALUE;
    } else {
        reason = WR_DROP_NO_VALUE;
    }
    if (reason == DECODE_OK && !isfinite(v))
        reason = WR_DROP_NON_FINITE;
    /* Value problems are reported before time problems. */
    if (reason == DECODE_OK && time != NULL && time->type != JT_NONE) {
        if (time_from_value(time, spec->time_unit, &time_ms))
            has_time = true;
        else
            reason = WR_DROP_BAD_TIME;
    }
    emit(o, spec, topic, topic_len, NULL, NULL, 0, reason, v, has_time, time_ms);
}

/*
 * SenML (RFC 8428). The fields of one record, as spans, and the base fields
 * carried from record to record. A base field of the wrong type poisons
 * every later record that relies on it, until a record sets it again:
 * guessing a default would produce silently wrong keys, values or times.
 */
enum senml_field {
    SF_BN,
    SF_BT,
    SF_BV,
    SF_BS,
    SF_N,
    SF_V,
    SF_S,
    SF_T,
    SF_COUNT,
    SF_VS_VB_VD = SF_COUNT, /* only presence matters */
    SF_OTHER,
};

struct senml_record {
    struct jval f[SF_COUNT];
    bool has_other_value; /* vs, vb or vd */
    bool must_understand; /* a label ending in '_' (RFC 8428 4.4) */
};

struct senml_base {
    char name[WR_KEY_MAX];
    size_t name_len;
    bool name_bad;
    double time;
    bool time_bad;
    double value;
    bool value_bad;
    double sum;
    bool sum_bad;
};

/* Which SenML field a label names. Labels are compared as decoded text. */
static enum senml_field senml_classify(const struct jval *key)
{
    char k[3];
    size_t len;

    if (!key->escaped) {
        if (key->len == 0 || key->len > 2)
            return SF_OTHER;
        memcpy(k, key->s, key->len);
        len = key->len;
    } else if (!jstr_copy(key, k, sizeof(k), &len)) {
        return SF_OTHER;
    }
    if (len == 1) {
        switch (k[0]) {
        case 'n':
            return SF_N;
        case 'v':
            return SF_V;
        case 's':
            return SF_S;
        case 't':
            return SF_T;
        default:
            return SF_OTHER;
        }
    }
    if (len != 2)
        return SF_OTHER;
    if (k[0] == 'b') {
        switch (k[1]) {
        case 'n':
            return SF_BN;
        case 't':
            return SF_BT;
        case 'v':
            return SF_BV;
        case 's':
            return SF_BS;
        default:
            return SF_OTHER;
        }
    }
    if (k[0] == 'v' && (k[1] == 's' || k[1] == 'b' || k[1] == 'd'))
        return SF_VS_VB_VD;
    return SF_OTHER;
}

/* Read one record object (cursor on its '{') into rec. */
static bool read_senml_record(struct jscan *js, struct senml_record *rec)
{
    bool first = true;
    struct jval key;
    struct jval val;
    int r;

    for (size_t i = 0; i < SF_COUNT; i++)
        rec->f[i].type = JT_NONE;
    rec->has_other_value = false;
    rec->must_understand = false;
    js->pos++; /* the '{' */
    while ((r = object_next(js, &first, &key, &val, 2)) > 0) {
        enum senml_field f = senml_classify(&key);

        if (f < SF_COUNT) {
            if (rec->f[f].type == JT_NONE)
                rec->f[f] = val;
        } else if (f == SF_VS_VB_VD) {
            rec->has_other_value = true;
        } else if (jstr_last(&key) == '_') {
            rec->must_understand = true;
        }
    }
    return r == 0;
}

static void senml_base_number(const struct jval *v, double *val, bool *bad)
{
    if (v->type == JT_NONE)
        return;
    *bad = v->type != JT_NUMBER;
    *val = *bad ? 0.0 : json_number(v);
}

static void senml_update_base(const struct senml_record *rec, struct senml_base *base)
{
    const struct jval *bn = &rec->f[SF_BN];

    if (bn->type != JT_NONE) {
        /* A base name too long for any key is as unusable as a wrong type. */
        base->name_bad = bn->type != JT_STRING ||
                         !jstr_copy(bn, base->name, sizeof(base->name), &base->name_len);
        if (base->name_bad) {
            base->name[0] = '\0';
            base->name_len = 0;
        }
    }
    senml_base_number(&rec->f[SF_BT], &base->time, &base->time_bad);
    senml_base_number(&rec->f[SF_BV], &base->value, &base->value_bad);
    senml_base_number(&rec->f[SF_BS], &base->sum, &base->sum_bad);
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

static enum wr_drop_reason senml_name(const struct senml_record *rec, const struct senml_base *base,
                                      char *name, size_t name_size, size_t *name_len)
{
    const struct jval *n = &rec->f[SF_N];
    size_t n_len = 0;

    if (base->name_bad)
        return WR_DROP_BAD_KEY;
    memcpy(name, base->name, base->name_len + 1);
    if (n->type != JT_NONE) {
        if (n->type != JT_STRING ||
            !jstr_copy(n, name + base->name_len, name_size - base->name_len, &n_len))
            return WR_DROP_BAD_KEY;
    }
    *name_len = base->name_len + n_len;
    return senml_name_valid(name) ? DECODE_OK : WR_DROP_BAD_KEY;
}

static enum wr_drop_reason senml_value(const struct senml_record *rec,
                                       const struct senml_base *base, double *out)
{
    const struct jval *v = &rec->f[SF_V];
    const struct jval *s = &rec->f[SF_S];

    if (v->type != JT_NONE) {
        if (v->type != JT_NUMBER || base->value_bad)
            return WR_DROP_NO_VALUE;
        *out = base->value + json_number(v);
    } else if (rec->has_other_value) {
        /* String, boolean and data values cannot be aggregated. */
        return WR_DROP_NO_VALUE;
    } else if (s->type != JT_NONE) {
        if (s->type != JT_NUMBER || base->sum_bad)
            return WR_DROP_NO_VALUE;
        *out = base->sum + json_number(s);
    } else {
        return WR_DROP_NO_VALUE;
    }
    return isfinite(*out) ? DECODE_OK : WR_DROP_NON_FINITE;
}

static enum wr_drop_reason senml_time(const struct senml_record *rec, const struct senml_base *base,
                                      bool *has_time, int64_t *time_ms)
{
    const struct jval *item = &rec->f[SF_T];
    double t = base->time;

    if (base->time_bad)
        return WR_DROP_BAD_TIME;
    if (item->type != JT_NONE) {
        if (item->type != JT_NUMBER)
            return WR_DROP_BAD_TIME;
        t += json_number(item);
    }
    if (!isfinite(t))
        return WR_DROP_BAD_TIME;
    if (t < SENML_RELATIVE_LIMIT_S) {
        /* Relative to a "now" we do not read: leave it to processing time. */
        *has_time = false;
        *time_ms = 0;
        return DECODE_OK;
    }
    if (!ms_from_double(t * 1000.0, time_ms))
        return WR_DROP_BAD_TIME;
    *has_time = true;
    return DECODE_OK;
}

/* The streams a message is decoded for, split by the form each reads it as. */
struct spec_set {
    const struct wr_decode_spec *const *v;
    size_t n;
    /* SenML streams: their templates prepared for this topic, where that works (else NULL). */
    const struct wr_key_prepared *const *keys;
};

/* Interpret one record once, then key it for every SenML stream. */
static void senml_emit(struct out *o, const struct spec_set *senml, const char *topic,
                       size_t topic_len, const struct senml_record *rec, struct senml_base *base)
{
    char name[WR_KEY_MAX] = "";
    size_t name_len = 0;
    enum wr_drop_reason reason;
    double value = 0.0;
    bool has_time = false;
    int64_t time_ms = 0;

    if (rec->must_understand) {
        reason = WR_DROP_MALFORMED;
    } else {
        /* Base fields apply to their own record too, and to all that follow. */
        senml_update_base(rec, base);
        reason = senml_name(rec, base, name, sizeof(name), &name_len);
        if (reason == DECODE_OK)
            reason = senml_value(rec, base, &value);
        if (reason == DECODE_OK)
            reason = senml_time(rec, base, &has_time, &time_ms);
    }
    for (size_t i = 0; i < senml->n; i++)
        emit(o, senml->v[i], topic, topic_len, senml->keys[i], name, name_len, reason, value,
             has_time, time_ms);
}

/*
 * Read the pack at the cursor once, emitting as it goes. Returns false on a
 * syntax error anywhere in it; the caller then takes back what was emitted.
 */
static bool read_senml_pack(struct jscan *js, struct out *o, const struct spec_set *senml,
                            const char *topic, size_t topic_len)
{
    struct senml_base base;
    struct senml_record rec;
    bool first = true;

    memset(&base, 0, sizeof(base));
    js->pos++; /* the '[' */
    for (;;) {
        skip_ws(js);
        if (peek(js) == ']') {
            js->pos++;
            return true;
        }
        if (!first) {
            if (peek(js) != ',')
                return false;
            js->pos++;
            skip_ws(js);
        }
        first = false;
        if (peek(js) == '{') {
            if (!read_senml_record(js, &rec))
                return false;
            senml_emit(o, senml, topic, topic_len, &rec, &base);
        } else {
            struct jval v;

            if (!scan_value(js, &v, 1))
                return false;
            for (size_t i = 0; i < senml->n; i++)
                emit_drop(o, WR_DROP_MALFORMED);
        }
    }
}

/* Only whitespace may follow the top-level value. */
static bool at_end(struct jscan *js)
{
    skip_ws(js);
    return js->pos == js->len;
}

static void decode_objects(struct out *o, const struct spec_set *objs, struct jscan *js,
                           const char *topic, size_t topic_len)
{
    struct object_plan plan;

    plan.n_fields = 0;
    for (size_t i = 0; i < objs->n; i++) {
        const struct wr_decode_spec *spec = objs->v[i];

        plan.value_of[i] = plan_field(&plan, spec->value_field);
        plan.time_of[i] = (spec->time_field != NULL && spec->time_field[0] != '\0')
                              ? plan_field(&plan, spec->time_field)
                              : UINT8_MAX;
    }
    json_reads++;
    if (!read_object(js, &plan) || !at_end(js)) {
        for (size_t i = 0; i < objs->n; i++)
            emit_drop(o, WR_DROP_MALFORMED);
        return;
    }
    for (size_t i = 0; i < objs->n; i++)
        object_event(o, objs->v[i], topic, topic_len, &plan.fields[plan.value_of[i]].val,
                     plan.time_of[i] == UINT8_MAX ? NULL : &plan.fields[plan.time_of[i]].val);
}

static void decode_packs(struct out *o, struct spec_set *packs, struct jscan *js, const char *topic,
                         size_t topic_len)
{
    struct wr_key_prepared prepared[WR_DECODE_MAX_SPECS];
    const struct wr_key_prepared *keys[WR_DECODE_MAX_SPECS];
    struct wr_decode_result saved = *o->res;

    /* The topic is the same for every record: expand what depends on it once. */
    for (size_t i = 0; i < packs->n; i++)
        keys[i] = wr_key_template_prepare(packs->v[i]->key_template, topic, topic_len,
                                          &prepared[i]) == WR_OK
                      ? &prepared[i]
                      : NULL;
    packs->keys = keys;
    json_reads++;
    if (read_senml_pack(js, o, packs, topic, topic_len) && at_end(js))
        return;
    /* A pack that is not valid JSON to its end yields nothing: one MALFORMED per stream. */
    *o->res = saved;
    for (size_t i = 0; i < packs->n; i++)
        emit_drop(o, WR_DROP_MALFORMED);
}

static bool spec_valid(const struct wr_decode_spec *spec)
{
    return spec != NULL && spec->key_template != NULL && spec->value_field != NULL &&
           (unsigned)spec->format <= WR_FORMAT_SENML;
}

int wr_decode_message_multi(const struct wr_decode_spec *const *specs, size_t n_specs,
                            const char *topic, size_t topic_len, const void *payload,
                            size_t payload_len, struct wr_event *events, size_t max_events,
                            struct wr_decode_result *res)
{
    const char *p = payload;
    const struct wr_decode_spec *objs[WR_DECODE_MAX_SPECS];
    const struct wr_decode_spec *packs[WR_DECODE_MAX_SPECS];
    struct spec_set obj_set = {objs, 0, NULL};
    struct spec_set pack_set = {packs, 0, NULL};
    struct out o = {events, max_events, res};
    enum num_status number = NUM_SYNTAX;
    double number_value = 0.0;
    bool number_done = false;
    size_t first = 0;
    struct jscan js;

    if (res == NULL)
        return WR_E_INVAL;
    memset(res, 0, sizeof(*res));
    if ((specs == NULL && n_specs > 0) || n_specs > WR_DECODE_MAX_SPECS ||
        (topic == NULL && topic_len > 0) || (payload == NULL && payload_len > 0) ||
        (events == NULL && max_events > 0))
        return WR_E_INVAL;
    for (size_t i = 0; i < n_specs; i++)
        if (!spec_valid(specs[i]))
            return WR_E_INVAL;
    if (topic == NULL)
        topic = "";

    while (first < payload_len && is_json_space(p[first]))
        first++;

    /*
     * Each stream reads the payload in its own form; the forms that need
     * JSON share one reading of it below. Numbers and objects give one
     * event or one drop per stream, in the order of specs; a pack gives its
     * records in order, each keyed for every SenML stream in turn.
     */
    for (size_t i = 0; i < n_specs; i++) {
        const struct wr_decode_spec *spec = specs[i];
        enum wr_payload_format format = spec->format;

        if (payload_len > spec->max_payload_bytes) {
            emit_drop(&o, WR_DROP_OVERSIZE);
            continue;
        }
        if (first == payload_len) {
            emit_drop(&o, WR_DROP_MALFORMED);
            continue;
        }
        if (format == WR_FORMAT_AUTO)
            format = p[first] == '{'   ? WR_FORMAT_JSON
                     : p[first] == '[' ? WR_FORMAT_SENML
                                       : WR_FORMAT_NUMBER;
        switch (format) {
        case WR_FORMAT_NUMBER:
            if (!number_done) {
                number = parse_number_text(p, payload_len, &number_value);
                number_done = true;
            }
            emit(&o, spec, topic, topic_len, NULL, NULL, 0,
                 number == NUM_OK           ? DECODE_OK
                 : number == NUM_NON_FINITE ? WR_DROP_NON_FINITE
                                            : WR_DROP_MALFORMED,
                 number_value, false, 0);
            break;
        case WR_FORMAT_JSON:
            if (p[first] == '{')
                objs[obj_set.n++] = spec;
            else
                emit_drop(&o, WR_DROP_MALFORMED);
            break;
        case WR_FORMAT_SENML:
        default:
            if (p[first] == '[')
                packs[pack_set.n++] = spec;
            else
                emit_drop(&o, WR_DROP_MALFORMED);
            break;
        }
    }

    /* A payload starts with '{' or '[', never both: at most one of these runs. */
    js.p = p;
    js.len = payload_len;
    js.pos = first;
    if (obj_set.n > 0)
        decode_objects(&o, &obj_set, &js, topic, topic_len);
    else if (pack_set.n > 0)
        decode_packs(&o, &pack_set, &js, topic, topic_len);
    return WR_OK;
}

int wr_decode_message(const struct wr_decode_spec *spec, const char *topic, size_t topic_len,
                      const void *payload, size_t payload_len, struct wr_event *events,
                      size_t max_events, struct wr_decode_result *res)
{
    return wr_decode_message_multi(&spec, 1, topic, topic_len, payload, payload_len, events,
                                   max_events, res);
}
