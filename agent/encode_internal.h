#ifndef WR_ENCODE_INTERNAL_H
#define WR_ENCODE_INTERNAL_H

/*
 * Shared between the JSON writer (encode.c) and the CBOR writer
 * (encode_cbor.c). Not for other modules.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encode.h"

/* Longest number text: "-1.2345678901234567e-308" is 24 bytes; "%.0f" of 2^53 is 17. */
#define WR_ENCODE__NUM_MAX 32

/* A bounded appender: once something does not fit, everything after it is ignored. */
struct wr_encode__writer {
    char *buf;
    size_t limit; /* bytes of buf the writer may use */
    size_t len;
    bool overflow;
};

void wr_encode__put_raw(struct wr_encode__writer *w, const void *s, size_t n);

/** Shortest %.15g..%.17g text that reads back to v; "null" if not finite. Returns its length. */
size_t wr_encode__format_double(double v, char out[WR_ENCODE__NUM_MAX]);

/** True when the result has quantile values to write for this stream (r->quantiles). */
bool wr_encode__has_quantiles(const struct wr_encode_stream *st, const struct wr_result *r);

/** True when the result has a sketch to write for this stream. */
bool wr_encode__has_sketch(const struct wr_encode_stream *st, const struct wr_result *r);

/* CBOR pieces: the message head, a group head, one result, and the closing bytes. */
#define WR_ENCODE__CBOR_CLOSE_NO_GROUP "\xff"
#define WR_ENCODE__CBOR_CLOSE_GROUP "\xff\xff"

void wr_encode__cbor_head(struct wr_encode__writer *w, const char *agent_id, uint64_t seq,
                          int64_t sent_ms);
void wr_encode__cbor_group(struct wr_encode__writer *w, bool close_previous,
                           const char *stream_name, uint32_t size_s);
void wr_encode__cbor_result(struct wr_encode__writer *w, const char id[17],
                            const struct wr_encode_stream *st, const struct wr_result *r);

#endif /* WR_ENCODE_INTERNAL_H */
