/*
 * The CBOR form of upstream messages, byte for byte. The fixtures were
 * worked out from RFC 8949 and docs/upstream-schema.md ("CBOR") by a
 * separate script, not by running this encoder.
 */
#include "test_support.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "encode.h"
#include "sketch.h"
#include "wr_error.h"

#define BASIC_MASK (WR_AGG_COUNT | WR_AGG_SUM | WR_AGG_MIN | WR_AGG_MAX | WR_AGG_MEAN)

static struct wr_result make_result(uint16_t stream, uint32_t size_s, int64_t start_ms,
                                    uint32_t revision, const char *key)
{
    struct wr_result r;

    memset(&r, 0, sizeof(r));
    r.stream = stream;
    r.size_s = size_s;
    r.start_ms = start_ms;
    r.revision = revision;
    snprintf(r.key, sizeof(r.key), "%s", key);
    return r;
}

static void set_agg(struct wr_result *r, uint64_t count, double sum, double min, double max,
                    double mean)
{
    r->agg.count = count;
    r->agg.sum = sum;
    r->agg.min = min;
    r->agg.max = max;
    r->agg.mean = mean;
}

/* Where needle occurs in the len bytes at buf, NULL if nowhere (CBOR holds NULs: not strstr). */
static const char *find(const char *buf, size_t len, const char *needle)
{
    size_t n = strlen(needle);

    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, needle, n) == 0)
            return buf + i;
    return NULL;
}

static void assert_bytes(const char *got, size_t got_len, const char *want, size_t want_len)
{
    if (got_len != want_len || memcmp(got, want, want_len) != 0) {
        for (size_t i = 0; i < got_len && i < want_len; i++) {
            if (got[i] != want[i]) {
                fail_msg("first difference at byte %zu: got %02x, want %02x (lengths %zu, %zu)", i,
                         (unsigned char)got[i], (unsigned char)want[i], got_len, want_len);
            }
        }
        fail_msg("lengths differ: got %zu, want %zu", got_len, want_len);
    }
}

/* The JSON example of docs/upstream-schema.md, as CBOR. */
static void test_cbor_exact_small_batch(void **state)
{
    static const char want[] = "\xd9\xd9\xf7\xa5\x61\x76\x01\x65\x61\x67\x65\x6e\x74\x64\x67\x77"
                               "\x2d\x31\x63\x73\x65\x71\x07\x67\x73\x65\x6e\x74\x5f\x6d\x73\x1b"
                               "\x00\x00\x01\x8b\xcf\xe7\x4a\x40\x66\x67\x72\x6f\x75\x70\x73\x9f"
                               "\xa3\x66\x73\x74\x72\x65\x61\x6d\x64\x74\x65\x6d\x70\x66\x73\x69"
                               "\x7a\x65\x5f\x73\x18\x3c\x67\x72\x65\x73\x75\x6c\x74\x73\x9f\xa9"
                               "\x62\x69\x64\x70\x30\x35\x63\x37\x64\x37\x36\x65\x32\x33\x39\x64"
                               "\x63\x39\x39\x64\x63\x6b\x65\x79\x64\x64\x65\x76\x31\x65\x73\x74"
                               "\x61\x72\x74\x1a\x65\x53\xf1\x28\x63\x72\x65\x76\x00\x65\x63\x6f"
                               "\x75\x6e\x74\x03\x63\x73\x75\x6d\xf9\x53\xf0\x63\x6d\x69\x6e\xf9"
                               "\x4d\x20\x63\x6d\x61\x78\x16\x64\x6d\x65\x61\x6e\xfb\x40\x35\x2a"
                               "\xaa\xaa\xaa\xaa\xab\xa9\x62\x69\x64\x70\x63\x63\x66\x39\x31\x32"
                               "\x61\x62\x34\x34\x38\x33\x39\x37\x35\x35\x63\x6b\x65\x79\x64\x64"
                               "\x65\x76\x32\x65\x73\x74\x61\x72\x74\x1a\x65\x53\xf1\x28\x63\x72"
                               "\x65\x76\x01\x65\x63\x6f\x75\x6e\x74\x01\x63\x73\x75\x6d\xf9\x4c"
                               "\xd0\x63\x6d\x69\x6e\xf9\x4c\xd0\x63\x6d\x61\x78\xf9\x4c\xd0\x64"
                               "\x6d\x65\x61\x6e\xf9\x4c\xd0\xff\xa3\x66\x73\x74\x72\x65\x61\x6d"
                               "\x63\x68\x75\x6d\x66\x73\x69\x7a\x65\x5f\x73\x19\x01\x2c\x67\x72"
                               "\x65\x73\x75\x6c\x74\x73\x9f\xa6\x62\x69\x64\x70\x34\x61\x63\x65"
                               "\x37\x37\x63\x66\x37\x62\x62\x33\x63\x32\x37\x33\x63\x6b\x65\x79"
                               "\x64\x64\x65\x76\x31\x65\x73\x74\x61\x72\x74\x1a\x65\x53\xf1\x64"
                               "\x63\x72\x65\x76\x00\x65\x63\x6f\x75\x6e\x74\x02\x63\x6d\x61\x78"
                               "\x18\x33\xff\xff";
    struct wr_encoder enc;
    struct wr_result r1 = make_result(0, 60, 1700000040000, 0, "dev1");
    struct wr_result r2 = make_result(0, 60, 1700000040000, 1, "dev2");
    struct wr_result r3 = make_result(1, 300, 1700000100000, 0, "dev1");
    char buf[1024];
    size_t len = 0;

    (void)state;
    set_agg(&r1, 3, 63.5, 20.5, 22.0, 63.5 / 3.0);
    set_agg(&r2, 1, 19.25, 19.25, 19.25, 19.25);
    set_agg(&r3, 2, 101.0, 50.0, 51.0, 50.5);
    assert_int_equal(
        wr_encoder_begin_as(&enc, WR_ENCODING_CBOR, buf, sizeof(buf), "gw-1", 7, 1700000123456),
        WR_OK);
    assert_int_equal(wr_encoder_add(&enc, "temp", BASIC_MASK, &r1), WR_OK);
    assert_int_equal(wr_encoder_add(&enc, "temp", BASIC_MASK, &r2), WR_OK);
    assert_int_equal(wr_encoder_add(&enc, "hum", WR_AGG_COUNT | WR_AGG_MAX, &r3), WR_OK);
    assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
    assert_int_equal(len, 340);
    assert_bytes(buf, len, want, sizeof(want) - 1);
}

/*
 * Every aggregate and every number form: negative integer, negative zero,
 * float64, null (non-finite), half, float32, subnormal half; a key that is
 * not UTF-8 (a byte string); the largest seq and a negative sent_ms.
 */
static void test_cbor_every_field_and_number_form(void **state)
{
    static const char want[] = "\xd9\xd9\xf7\xa5\x61\x76\x01\x65\x61\x67\x65\x6e\x74\x64\x67\x77"
                               "\x2d\x31\x63\x73\x65\x71\x1b\xff\xff\xff\xff\xff\xff\xff\xff\x67"
                               "\x73\x65\x6e\x74\x5f\x6d\x73\x20\x66\x67\x72\x6f\x75\x70\x73\x9f"
                               "\xa3\x66\x73\x74\x72\x65\x61\x6d\x61\x73\x66\x73\x69\x7a\x65\x5f"
                               "\x73\x18\x3c\x67\x72\x65\x73\x75\x6c\x74\x73\x9f\xac\x62\x69\x64"
                               "\x70\x37\x64\x66\x62\x33\x39\x30\x62\x30\x33\x33\x63\x33\x33\x63"
                               "\x32\x63\x6b\x65\x79\x42\x6b\xff\x65\x73\x74\x61\x72\x74\x1a\x65"
                               "\x53\xf1\x28\x63\x72\x65\x76\x02\x65\x63\x6f\x75\x6e\x74\x04\x63"
                               "\x73\x75\x6d\x22\x63\x6d\x69\x6e\xf9\x80\x00\x63\x6d\x61\x78\xfb"
                               "\x7e\x37\xe4\x3c\x88\x00\x75\x9c\x64\x6d\x65\x61\x6e\xf6\x66\x73"
                               "\x74\x64\x64\x65\x76\xf9\x38\x00\x65\x66\x69\x72\x73\x74\xfa\x7f"
                               "\x7f\xff\xff\x64\x6c\x61\x73\x74\xf9\x00\x01\xff\xff";
    struct wr_encoder enc;
    struct wr_result r = make_result(0, 60, 1700000040000, 2, "k\xff");
    char buf[512];
    size_t len = 0;

    (void)state;
    set_agg(&r, 4, -3.0, -0.0, 1e300, NAN);
    r.agg.m2 = 1.0; /* stddev sqrt(1 / 4) = 0.5 */
    r.agg.first = FLT_MAX;
    r.agg.last = ldexp(1.0, -24);
    assert_int_equal(
        wr_encoder_begin_as(&enc, WR_ENCODING_CBOR, buf, sizeof(buf), "gw-1", UINT64_MAX, -1),
        WR_OK);
    assert_int_equal(wr_encoder_add(&enc, "s", WR_AGG_ALL, &r), WR_OK);
    assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
    assert_int_equal(len, 189);
    assert_bytes(buf, len, want, sizeof(want) - 1);
}

/*
 * A result carries its sketch as bytes (result.h): serialize one of these
 * values (a = 0.01, 512 buckets) into buf and point r at it, with the
 * quantile values the window engine would have computed.
 */
static void set_sketch(struct wr_result *r, const double *values, size_t n, uint8_t *buf,
                       size_t cap)
{
    struct wr_sketch *sk = NULL;
    size_t len = 0;

    assert_int_equal(wr_sketch_create(0.01, 512, &sk), WR_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(wr_sketch_add(sk, values[i]), WR_OK);
    assert_int_equal(wr_sketch_serialize(sk, buf, cap, &len), WR_OK);
    r->sketch = buf;
    r->sketch_len = (uint32_t)len;
    wr_sketch_destroy(sk);
}

static void set_quantiles(struct wr_result *r, double q0, double q1)
{
    r->n_quantiles = 2;
    r->quantiles[0] = q0;
    r->quantiles[1] = q1;
}

/* Quantiles (a map keyed by q's shortest text) and the sketch (a byte string). */
static void test_cbor_quantiles_and_sketch(void **state)
{
    static const char want[] = "\xd9\xd9\xf7\xa5\x61\x76\x01\x65\x61\x67\x65\x6e\x74\x64\x67\x77"
                               "\x2d\x31\x63\x73\x65\x71\x00\x67\x73\x65\x6e\x74\x5f\x6d\x73\x00"
                               "\x66\x67\x72\x6f\x75\x70\x73\x9f\xa3\x66\x73\x74\x72\x65\x61\x6d"
                               "\x61\x71\x66\x73\x69\x7a\x65\x5f\x73\x0a\x67\x72\x65\x73\x75\x6c"
                               "\x74\x73\x9f\xa8\x62\x69\x64\x70\x63\x62\x39\x62\x63\x37\x38\x36"
                               "\x39\x64\x62\x66\x61\x30\x61\x32\x63\x6b\x65\x79\x61\x61\x65\x73"
                               "\x74\x61\x72\x74\x00\x63\x72\x65\x76\x00\x65\x63\x6f\x75\x6e\x74"
                               "\x01\x63\x6d\x69\x6e\xf9\x41\x00\x69\x71\x75\x61\x6e\x74\x69\x6c"
                               "\x65\x73\xa2\x63\x30\x2e\x35\xf9\x41\x00\x64\x30\x2e\x39\x39\xf9"
                               "\x41\x00\x66\x73\x6b\x65\x74\x63\x68\x50\x01\x7b\x14\xae\x47\xe1"
                               "\x7a\x84\x3f\x80\x04\x00\x01\x5c\x01\x00\xff\xff";
    static const double qs[] = {0.5, 0.99};
    struct wr_encode_stream st = {"q", WR_AGG_COUNT | WR_AGG_MIN, qs, 2, true};
    struct wr_encoder enc;
    struct wr_result r = make_result(0, 10, 0, 0, "a");
    char buf[512];
    size_t len = 0;

    static const double one[] = {2.5};
    uint8_t sk[64];

    (void)state;
    set_agg(&r, 1, 2.5, 2.5, 2.5, 2.5);
    set_sketch(&r, one, 1, sk, sizeof(sk));
    set_quantiles(&r, 2.5, 2.5);
    assert_int_equal(wr_encoder_begin_as(&enc, WR_ENCODING_CBOR, buf, sizeof(buf), "gw-1", 0, 0),
                     WR_OK);
    assert_int_equal(wr_encoder_add_stream(&enc, &st, &r), WR_OK);
    assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
    assert_int_equal(len, 172);
    assert_bytes(buf, len, want, sizeof(want) - 1);
}

/* The same result in JSON: quantiles as an object, the sketch as base64. */
static void test_json_quantiles_and_sketch(void **state)
{
    static const char want[] =
        "{\"v\":1,\"agent\":\"gw-1\",\"seq\":0,\"sent_ms\":0,\"groups\":["
        "{\"stream\":\"q\",\"size_s\":10,\"results\":["
        "{\"id\":\"cb9bc7869dbfa0a2\",\"key\":\"a\",\"start\":0,\"rev\":0,\"count\":1,"
        "\"min\":2.5,\"quantiles\":{\"0.5\":2.5,\"0.99\":2.5},"
        "\"sketch\":\"AXsUrkfheoQ/gAQAAVwBAA==\"}]}]}";
    static const double qs[] = {0.5, 0.99};
    struct wr_encode_stream st = {"q", WR_AGG_COUNT | WR_AGG_MIN, qs, 2, true};
    struct wr_encoder enc;
    struct wr_result r = make_result(0, 10, 0, 0, "a");
    char buf[512];
    size_t len = 0;

    static const double one[] = {2.5};
    uint8_t sk[64];

    (void)state;
    set_agg(&r, 1, 2.5, 2.5, 2.5, 2.5);
    set_sketch(&r, one, 1, sk, sizeof(sk));
    set_quantiles(&r, 2.5, 2.5);
    assert_int_equal(wr_encoder_begin(&enc, buf, sizeof(buf), "gw-1", 0, 0), WR_OK);
    assert_int_equal(wr_encoder_add_stream(&enc, &st, &r), WR_OK);
    assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
    assert_string_equal(buf, want);
}

/*
 * A sketch of several buckets in both stores and a zero count (values 1,
 * 1.05, 1.1, 1.2, -2, 0): 28 bytes, so CBOR's byte string takes a one-byte
 * length (58 1c). The bytes, worked out from the format in
 * docs/upstream-schema.md by a separate script: version 01, accuracy
 * 7b14ae47e17a843f, max_buckets 80 04, zero 01, positive store n 0b lo 00
 * counts 01 00 00 01 00 01 00 00 00 00 01, negative store n 01 lo 46 (35
 * ZigZag) count 01. The message ends with the sketch member and the closing
 * breaks of results and groups.
 */
static void test_cbor_sketch_field_exact(void **state)
{
    static const char tail[] = "\x66\x73\x6b\x65\x74\x63\x68\x58\x1c"
                               "\x01\x7b\x14\xae\x47\xe1\x7a\x84\x3f\x80\x04\x01\x0b\x00\x01"
                               "\x00\x00\x01\x00\x01\x00\x00\x00\x00\x01\x01\x46\x01\xff\xff";
    static const char json_tail[] = ",\"sketch\":\"AXsUrkfheoQ/gAQBCwABAAABAAEAAAAAAQFGAQ==\"}]}]}";
    static const double values[] = {1.0, 1.05, 1.1, 1.2, -2.0, 0.0};
    struct wr_encode_stream st = {"q", WR_AGG_COUNT, NULL, 0, true};
    struct wr_encoder enc;
    struct wr_result r = make_result(0, 10, 0, 0, "a");
    uint8_t sk[64];
    char buf[512];
    size_t len = 0;

    (void)state;
    set_agg(&r, 6, 0.35, -2.0, 1.2, 0.35 / 6);
    set_sketch(&r, values, 6, sk, sizeof(sk));
    assert_int_equal(r.sketch_len, 28);
    assert_int_equal(wr_encoder_begin_as(&enc, WR_ENCODING_CBOR, buf, sizeof(buf), "gw-1", 0, 0),
                     WR_OK);
    assert_int_equal(wr_encoder_add_stream(&enc, &st, &r), WR_OK);
    assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
    assert_true(len > sizeof(tail) - 1);
    assert_bytes(buf + len - (sizeof(tail) - 1), sizeof(tail) - 1, tail, sizeof(tail) - 1);
    /* No quantiles configured: the sketch alone (sketch.upstream without quantiles). */
    assert_null(find(buf, len, "quantiles"));

    assert_int_equal(wr_encoder_begin(&enc, buf, sizeof(buf), "gw-1", 0, 0), WR_OK);
    assert_int_equal(wr_encoder_add_stream(&enc, &st, &r), WR_OK);
    assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
    assert_true(len > strlen(json_tail));
    assert_string_equal(buf + len - strlen(json_tail), json_tail);
}

/* The stream decides: quantiles without the sketch when sketch.upstream is off. */
static void test_quantiles_without_sketch_member(void **state)
{
    static const double qs[] = {0.5, 0.99};
    static const double one[] = {2.5};
    struct wr_encode_stream st = {"q", WR_AGG_COUNT, qs, 2, false};
    struct wr_encoder enc;
    struct wr_result r = make_result(0, 10, 0, 0, "a");
    uint8_t sk[64];
    char buf[512];
    size_t len = 0;

    (void)state;
    set_agg(&r, 1, 2.5, 2.5, 2.5, 2.5);
    set_sketch(&r, one, 1, sk, sizeof(sk));
    set_quantiles(&r, 2.5, 2.5);
    for (int cbor = 0; cbor < 2; cbor++) {
        assert_int_equal(wr_encoder_begin_as(&enc, cbor ? WR_ENCODING_CBOR : WR_ENCODING_JSON, buf,
                                             sizeof(buf), "gw-1", 0, 0),
                         WR_OK);
        assert_int_equal(wr_encoder_add_stream(&enc, &st, &r), WR_OK);
        assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
        assert_non_null(find(buf, len, "quantiles"));
        assert_null(find(buf, len, "sketch"));
    }
}

/*
 * Without quantile values and a sketch on the result (a rollup whose windows
 * did not all have one), neither member is written, in either encoding;
 * values for another number of quantiles (another config) are not written
 * either.
 */
static void test_quantiles_omitted_without_sketch(void **state)
{
    static const double qs[] = {0.5};
    struct wr_encode_stream st = {"q", WR_AGG_COUNT, qs, 1, true};
    struct wr_encoder enc;
    struct wr_result r = make_result(0, 10, 0, 0, "a");
    char buf[512];
    size_t len = 0;

    (void)state;
    set_agg(&r, 1, 2.5, 2.5, 2.5, 2.5);
    assert_int_equal(wr_encoder_begin(&enc, buf, sizeof(buf), "gw-1", 0, 0), WR_OK);
    assert_int_equal(wr_encoder_add_stream(&enc, &st, &r), WR_OK);
    assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
    assert_null(strstr(buf, "quantiles"));
    assert_null(strstr(buf, "sketch"));
    r.n_quantiles = 2;
    assert_int_equal(wr_encoder_begin_as(&enc, WR_ENCODING_CBOR, buf, sizeof(buf), "gw-1", 0, 0),
                     WR_OK);
    assert_int_equal(wr_encoder_add_stream(&enc, &st, &r), WR_OK);
    assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
    assert_null(find(buf, len, "quantiles"));
    assert_null(find(buf, len, "sketch"));
}

/* A result that does not fit leaves the message as it was, and it still finishes well-formed. */
static void test_cbor_toobig_leaves_state_unchanged(void **state)
{
    struct wr_encoder enc;
    struct wr_result r = make_result(0, 60, 1700000040000, 0, "dev1");
    char ref[1024];
    size_t ref_len = 0;

    (void)state;
    set_agg(&r, 3, 63.5, 20.5, 22.0, 63.5 / 3.0);
    assert_int_equal(wr_encoder_begin_as(&enc, WR_ENCODING_CBOR, ref, sizeof(ref), "gw-1", 1, 2),
                     WR_OK);
    assert_int_equal(wr_encoder_add(&enc, "temp", BASIC_MASK, &r), WR_OK);
    assert_int_equal(wr_encoder_finish(&enc, &ref_len), WR_OK);
    /* Every capacity: either the result fits and the message equals ref, or it is empty. */
    for (size_t cap = 0; cap <= ref_len + 2; cap++) {
        char buf[1024];
        size_t len = 0;
        int rc = wr_encoder_begin_as(&enc, WR_ENCODING_CBOR, buf, cap, "gw-1", 1, 2);

        if (rc != WR_OK) {
            assert_int_equal(rc, WR_E_TOOBIG);
            continue;
        }
        rc = wr_encoder_add(&enc, "temp", BASIC_MASK, &r);
        assert_int_equal(wr_encoder_finish(&enc, &len), WR_OK);
        assert_true(len <= cap);
        if (rc == WR_OK) {
            assert_int_equal(len, ref_len);
            assert_memory_equal(buf, ref, len);
        } else {
            assert_int_equal(rc, WR_E_TOOBIG);
            assert_int_equal(enc.n_results, 0);
            /* The empty message: the head, then the break that closes "groups". */
            assert_int_equal((unsigned char)buf[len - 1], 0xff);
            assert_int_equal((unsigned char)buf[len - 2], 0x9f);
        }
    }
}

static void test_encoder_rejects_unknown_encoding(void **state)
{
    struct wr_encoder enc;
    char buf[64];

    (void)state;
    assert_int_equal(wr_encoder_begin_as(&enc, (enum wr_encoding)7, buf, sizeof(buf), "a", 0, 0),
                     WR_E_INVAL);
    assert_int_equal(wr_encoder_add(&enc, "s", 1, NULL), WR_E_INVAL);
}

/* zstd: one frame with the magic number, decompressible to the same bytes. */
static void test_compress_frame(void **state)
{
    struct wr_compressor *c = NULL;
    char in[4000];
    char out[8192];
    size_t len = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (char)("result,"[i % 7]);
    assert_int_equal(wr_compressor_create(0, &c), WR_E_INVAL);
    assert_int_equal(wr_compressor_create(3, &c), WR_OK);
    assert_true(wr_compress_bound(sizeof(in)) <= sizeof(out));
    assert_int_equal(wr_compress(c, in, sizeof(in), out, sizeof(out), &len), WR_OK);
    assert_true(len > 4 && len < sizeof(in) / 10);
    assert_memory_equal(out, "\x28\xb5\x2f\xfd", 4);
    assert_int_equal(wr_compress(c, in, sizeof(in), out, 4, &len), WR_E_TOOBIG);
    assert_int_equal(wr_compress(NULL, in, sizeof(in), out, sizeof(out), &len), WR_E_INVAL);
    wr_compressor_destroy(c);
    wr_compressor_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cbor_exact_small_batch),
        cmocka_unit_test(test_cbor_every_field_and_number_form),
        cmocka_unit_test(test_cbor_quantiles_and_sketch),
        cmocka_unit_test(test_json_quantiles_and_sketch),
        cmocka_unit_test(test_cbor_sketch_field_exact),
        cmocka_unit_test(test_quantiles_without_sketch_member),
        cmocka_unit_test(test_quantiles_omitted_without_sketch),
        cmocka_unit_test(test_cbor_toobig_leaves_state_unchanged),
        cmocka_unit_test(test_encoder_rejects_unknown_encoding),
        cmocka_unit_test(test_compress_frame),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
