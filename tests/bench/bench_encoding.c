/*
 * Bytes per result on the uplink for each upstream encoding: JSON, CBOR and
 * CBOR+zstd at batch sizes 1, 20 and 200 (the table in
 * docs/upstream-schema.md). Results are made like a gateway's: 60 s windows
 * of temperature-like readings from keys "dev0001".., all eight aggregates,
 * optionally with three quantiles and the sketch itself. Deterministic; it
 * measures sizes, not time, so it is quick and safe to run anywhere.
 *
 * Usage: bench_encoding [--quantiles] [--sketch]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "encode.h"
#include "sketch.h"
#include "wr_error.h"

#define MAX_BATCH 200
#define BUF_BYTES (1u << 20)

static uint64_t rng = 0x9e3779b97f4a7c15u;

static double unit(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* One minute of a sensor at 1 Hz: slow drift plus noise, two decimals, like a real reading. */
static void make_result(struct wr_result *r, unsigned i, bool with_sketch, const double *qs,
                        uint8_t nq)
{
    double base = 18.0 + 8.0 * unit();
    uint8_t *bytes;
    size_t len = 0;

    memset(r, 0, sizeof(*r));
    r->stream = 0;
    r->size_s = 60;
    r->start_ms = 1700000040000 + 60000 * (int64_t)(i / 50);
    snprintf(r->key, sizeof(r->key), "dev%04u", i % 50 + 1);
    wr_agg_init(&r->agg);
    if (with_sketch && wr_sketch_create(0.01, 512, &r->agg.sketch) != WR_OK)
        exit(1);
    for (int s = 0; s < 60; s++) {
        double v = round((base + 0.01 * s + 0.2 * (unit() - 0.5)) * 100.0) / 100.0;

        wr_agg_add(&r->agg, v, r->start_ms + 1000 * s);
        if (r->agg.sketch != NULL)
            wr_sketch_add(r->agg.sketch, v);
    }
    if (r->agg.sketch == NULL)
        return;
    /* As the window engine emits it: quantile values, and the sketch as bytes. */
    for (uint8_t k = 0; k < nq; k++)
        if (wr_agg_quantile(&r->agg, qs[k], &r->quantiles[k]) == WR_OK)
            r->n_quantiles = (uint8_t)(k + 1);
    bytes = malloc(wr_sketch_serialized_size(r->agg.sketch));
    if (bytes == NULL ||
        wr_sketch_serialize(r->agg.sketch, bytes, wr_sketch_serialized_size(r->agg.sketch), &len) !=
            WR_OK)
        exit(1);
    r->sketch = bytes;
    r->sketch_len = (uint32_t)len;
    wr_sketch_destroy(r->agg.sketch);
    r->agg.sketch = NULL;
}

static size_t encode(enum wr_encoding e, const struct wr_encode_stream *st,
                     const struct wr_result *rs, size_t n, char *buf)
{
    struct wr_encoder enc;
    size_t len = 0;

    if (wr_encoder_begin_as(&enc, e, buf, BUF_BYTES, "gw-plant3-line2", 42, 1700000123456) != WR_OK)
        exit(1);
    for (size_t i = 0; i < n; i++)
        if (wr_encoder_add_stream(&enc, st, &rs[i]) != WR_OK)
            exit(1);
    if (wr_encoder_finish(&enc, &len) != WR_OK)
        exit(1);
    return len;
}

int main(int argc, char **argv)
{
    static const double qs[] = {0.5, 0.9, 0.99};
    static const size_t batches[] = {1, 20, 200};
    static struct wr_result rs[MAX_BATCH];
    struct wr_encode_stream st = {"temperature", WR_AGG_ALL, NULL, 0, false};
    struct wr_compressor *zc = NULL;
    char *buf = malloc(BUF_BYTES);
    char *zbuf = malloc(wr_compress_bound(BUF_BYTES));
    bool sketch_state = false;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quantiles") == 0) {
            st.quantiles = qs;
            st.n_quantiles = 3;
            sketch_state = true;
        } else if (strcmp(argv[i], "--sketch") == 0) {
            st.sketch = true;
            sketch_state = true;
        } else {
            fprintf(stderr, "usage: %s [--quantiles] [--sketch]\n", argv[0]);
            return 2;
        }
    }
    if (buf == NULL || zbuf == NULL || wr_compressor_create(3, &zc) != WR_OK)
        return 1;
    for (unsigned i = 0; i < MAX_BATCH; i++)
        make_result(&rs[i], i, sketch_state, qs, 3);
    printf("| batch | JSON | CBOR | CBOR+zstd | JSON+zstd |\n| --- | --- | --- | --- | --- |\n");
    for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
        size_t n = batches[b];
        size_t json = encode(WR_ENCODING_JSON, &st, rs, n, buf);
        size_t jz = 0;
        size_t cbor;
        size_t cz = 0;

        if (wr_compress(zc, buf, json, zbuf, wr_compress_bound(BUF_BYTES), &jz) != WR_OK)
            return 1;
        cbor = encode(WR_ENCODING_CBOR, &st, rs, n, buf);
        if (wr_compress(zc, buf, cbor, zbuf, wr_compress_bound(BUF_BYTES), &cz) != WR_OK)
            return 1;
        printf("| %zu | %.1f | %.1f | %.1f | %.1f |\n", n, (double)json / (double)n,
               (double)cbor / (double)n, (double)cz / (double)n, (double)jz / (double)n);
    }
    for (unsigned i = 0; i < MAX_BATCH; i++)
        free((void *)(uintptr_t)rs[i].sketch);
    wr_compressor_destroy(zc);
    free(buf);
    free(zbuf);
    return 0;
}
