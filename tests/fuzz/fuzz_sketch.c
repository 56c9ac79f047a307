/*
 * Fuzz target for the sketch's binary form (checkpoints, outbox rows and the
 * upstream "sketch" field all carry it). Whatever the input, deserialization
 * must either refuse it or give a sketch whose own serialization is the same
 * bytes (the form is canonical), whose quantiles are ordered, and which
 * merges with itself to twice its count.
 *
 * The same input is also read as a pair, the way a rollup or a consumer
 * merges results' sketches: byte 0 is the length k of the first sketch,
 * bytes 1..k the first, the rest the second. When both decode and share
 * parameters, merging either into the other gives the same bytes, the counts
 * add, and the merge reads back (to the same bytes) through deserialization.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sketch.h"
#include "wr_error.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

/* The canonical bytes of sk, malloc'd; *len their length. */
static uint8_t *bytes_of(const struct wr_sketch *sk, size_t *len)
{
    size_t n = wr_sketch_serialized_size(sk);
    uint8_t *b = malloc(n);

    check(b != NULL);
    check(wr_sketch_serialize(sk, b, n, len) == WR_OK && *len == n);
    return b;
}

static void check_pair(const uint8_t *data, size_t size)
{
    struct wr_sketch *a = NULL;
    struct wr_sketch *b = NULL;
    struct wr_sketch *ab = NULL;
    struct wr_sketch *ba = NULL;
    struct wr_sketch *back = NULL;
    size_t k;

    if (size < 1)
        return;
    k = data[0];
    if (k > size - 1)
        return;
    if (wr_sketch_deserialize(data + 1, k, &a) != WR_OK ||
        wr_sketch_deserialize(data + 1 + k, size - 1 - k, &b) != WR_OK)
        goto done;
    check(wr_sketch_copy(a, &ab) == WR_OK && wr_sketch_copy(b, &ba) == WR_OK);
    {
        int rc1 = wr_sketch_merge(ab, b);
        int rc2 = wr_sketch_merge(ba, a);
        size_t n1 = 0;
        size_t n2 = 0;
        uint8_t *b1;
        uint8_t *b2;

        check(rc1 == rc2);
        if (rc1 != WR_OK) {
            /* Other parameters, or counts that would overflow: refused, nothing half done. */
            check(rc1 == WR_E_INVAL || rc1 == WR_E_RANGE);
            check(wr_sketch_count(ab) == wr_sketch_count(a));
            goto done;
        }
        check(wr_sketch_count(ab) == wr_sketch_count(a) + wr_sketch_count(b));
        b1 = bytes_of(ab, &n1);
        b2 = bytes_of(ba, &n2);
        check(n1 == n2 && memcmp(b1, b2, n1) == 0);
        check(wr_sketch_deserialize(b1, n1, &back) == WR_OK);
        free(b2);
        b2 = bytes_of(back, &n2);
        check(n1 == n2 && memcmp(b1, b2, n1) == 0);
        free(b1);
        free(b2);
    }
done:
    wr_sketch_destroy(a);
    wr_sketch_destroy(b);
    wr_sketch_destroy(ab);
    wr_sketch_destroy(ba);
    wr_sketch_destroy(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wr_sketch *sk = NULL;
    struct wr_sketch *twice = NULL;
    uint8_t *again = NULL;
    size_t len = 0;
    double prev = 0;

    check_pair(data, size);
    if (wr_sketch_deserialize(data, size, &sk) != WR_OK) {
        check(sk == NULL);
        return 0;
    }
    check(wr_sketch_serialized_size(sk) == size);
    again = malloc(size > 0 ? size : 1);
    check(again != NULL);
    check(wr_sketch_serialize(sk, again, size, &len) == WR_OK);
    check(len == size && memcmp(again, data, size) == 0);
    if (wr_sketch_count(sk) > 0) {
        for (int i = 0; i <= 20; i++) {
            double v = 0;

            check(wr_sketch_quantile(sk, i / 20.0, &v) == WR_OK);
            check(i == 0 || v >= prev);
            prev = v;
        }
    }
    if (wr_sketch_copy(sk, &twice) == WR_OK) {
        int rc = wr_sketch_merge(twice, sk);

        check(rc != WR_OK || wr_sketch_count(twice) == 2 * wr_sketch_count(sk));
    }
    free(again);
    wr_sketch_destroy(twice);
    wr_sketch_destroy(sk);
    return 0;
}
