#ifndef WR_ENCODE_H
#define WR_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

/*
 * Upstream message encoding, schema version 1 (docs/upstream-schema.md).
 * One message carries a batch of results; agent id, stream name and window
 * size are written once per group of consecutive results that share them:
 *
 *   {"v":1,"agent":"gw-1","seq":7,"sent_ms":1700000123456,
 *    "groups":[{"stream":"temp","size_s":60,"results":[
 *       {"id":"3f1c9a0b6e2d4c17","key":"dev1","start":1700000040,"rev":0,
 *        "count":3,"sum":63.5,"min":20.5,"max":22,"mean":21.166666666666668}]}]}
 *
 * Only the stream's configured aggregates are written (count always), then
 * "quantiles" ({"0.5":21.2,...}: the result's quantile values, one per
 * configured q) and "sketch" (base64 of result.sketch, its binary form) when
 * the stream asks for them and the result carries them.
 * Numbers use the shortest text that reads back to the same double.
 *
 * CBOR (WR_ENCODING_CBOR) carries the same maps with the same member names
 * (docs/upstream-schema.md, "CBOR"): whole numbers as integers, others as the
 * shortest IEEE float that holds them exactly, the sketch as a byte string.
 *
 * The encoder writes into a caller-owned buffer and never allocates, so a
 * batch is built by adding results until one no longer fits.
 */

enum wr_encoding {
    WR_ENCODING_JSON = 0, /* first byte '{' */
    WR_ENCODING_CBOR,     /* RFC 8949; starts with the self-described CBOR tag d9 d9 f7 */
};

enum wr_compression {
    WR_COMPRESSION_NONE = 0,
    WR_COMPRESSION_ZSTD, /* one zstd frame per message; starts with 28 b5 2f fd */
};

/** What the encoder writes for one stream's results. Borrowed for the call. */
struct wr_encode_stream {
    const char *name;
    unsigned aggregates;     /* WR_AGG_* mask; count is always written */
    const double *quantiles; /* n_quantiles values in [0, 1], written as "quantiles" */
    size_t n_quantiles;
    bool sketch; /* also write the sketch itself ("sketch") */
};

struct wr_encoder {
    char *buf;
    size_t cap;
    size_t len;
    const char *agent_id;
    enum wr_encoding encoding;
    int open_stream; /* stream of the open group, -1 if none */
    uint32_t open_size_s;
    size_t n_results;
};

/**
 * Start a message in buf (cap bytes, the batch's max_bytes). Returns WR_OK,
 * WR_E_INVAL (NULL argument, unknown encoding) or WR_E_TOOBIG (even an empty
 * message does not fit). wr_encoder_begin is wr_encoder_begin_as with JSON.
 */
int wr_encoder_begin_as(struct wr_encoder *enc, enum wr_encoding encoding, char *buf, size_t cap,
                        const char *agent_id, uint64_t seq, int64_t sent_ms);
int wr_encoder_begin(struct wr_encoder *enc, char *buf, size_t cap, const char *agent_id,
                     uint64_t seq, int64_t sent_ms);

/**
 * Append one result of the stream named stream_name, writing the aggregates
 * in the WR_AGG_* mask. Returns WR_OK, or WR_E_TOOBIG when the result and
 * the message's closing bytes would not fit, in which case the encoder is
 * unchanged and the message can still be finished.
 */
int wr_encoder_add(struct wr_encoder *enc, const char *stream_name, unsigned aggregates,
                   const struct wr_result *result);

/** As wr_encoder_add, with the stream's quantiles and sketch choice. Same returns. */
int wr_encoder_add_stream(struct wr_encoder *enc, const struct wr_encode_stream *stream,
                          const struct wr_result *result);

/** Close the message; *len_out is its length (a JSON buf is NUL-terminated too). */
int wr_encoder_finish(struct wr_encoder *enc, size_t *len_out);

/**
 * The idempotency key of a result: 16 lowercase hex digits of FNV-1a 64 over
 * "agent\0stream\0key\0<start_ms>\0<size_s>\0<revision>" (decimal numbers).
 * The window size is included so that a rolled-up result never shares a key
 * with the finer results it replaced. out must hold 17 bytes.
 */
void wr_encode_idempotency_key(const char *agent_id, const char *stream_name,
                               const struct wr_result *result, char out[17]);

/*
 * Batch compression (zstd). A compressor keeps its context between
 * messages so that compressing allocates nothing after create.
 */
struct wr_compressor;

/** level: zstd level 1..19. Returns WR_OK, WR_E_INVAL or WR_E_NOMEM. */
int wr_compressor_create(int level, struct wr_compressor **out);
void wr_compressor_destroy(struct wr_compressor *c);

/** Room a compressed copy of n bytes may need at worst. */
size_t wr_compress_bound(size_t n);

/**
 * Compress in[0..n) into one zstd frame in out (cap bytes). Returns WR_OK,
 * WR_E_INVAL or WR_E_TOOBIG (cap below what this input needed).
 */
int wr_compress(struct wr_compressor *c, const void *in, size_t n, void *out, size_t cap,
                size_t *len_out);

#endif /* WR_ENCODE_H */
