/*
 * Fuzz target for the sketch's binary form (checkpoints, outbox rows and the
 * upstream "sketch" field all carry it). Whatever the input, deserialization
 * must either refuse it or give a sketch whose own serialization is the same
 * bytes (the form is canonical), whose quantiles are ordered, and which
 * merges with itself to twice its count.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wr_sketch *sk = NULL;
    struct wr_sketch *twice = NULL;
    uint8_t *again = NULL;
    size_t len = 0;
    double prev = 0;

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
