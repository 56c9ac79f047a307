#ifndef WR_ENCODE_H
#define WR_ENCODE_H

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
 * Only the stream's configured aggregates are written (count always).
 * Numbers use the shortest text that reads back to the same double.
 *
 * The encoder writes into a caller-owned buffer and never allocates, so a
 * batch is built by adding results until one no longer fits.
 */

struct wr_encoder {
    char *buf;
    size_t cap;
    size_t len;
    const char *agent_id;
    int open_stream;       /* stream of the open group, -1 if none */
    uint32_t open_size_s;
    size_t n_results;
};

/**
 * Start a message in buf (cap bytes, the batch's max_bytes). Returns WR_OK,
 * WR_E_INVAL (NULL argument) or WR_E_TOOBIG (even an empty message does not fit).
 */
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

/** Close the message; *len_out is its length (buf is NUL-terminated too). */
int wr_encoder_finish(struct wr_encoder *enc, size_t *len_out);

/**
 * The idempotency key of a result: 16 lowercase hex digits of FNV-1a 64 over
 * "agent\0stream\0key\0<start_ms>\0<size_s>\0<revision>" (decimal numbers).
 * The window size is included so that a rolled-up result never shares a key
 * with the finer results it replaced. out must hold 17 bytes.
 */
void wr_encode_idempotency_key(const char *agent_id, const char *stream_name,
                               const struct wr_result *result, char out[17]);

#endif /* WR_ENCODE_H */
