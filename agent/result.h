#ifndef WR_RESULT_H
#define WR_RESULT_H

#include <stdint.h>

#include "agg.h"
#include "event.h"
#include "sketch.h"

/* Quantile values a result carries (config's WR_CFG_MAX_QUANTILES). */
#define WR_RESULT_MAX_QUANTILES 8

/**
 * One closed window (or a revision of one), as it goes to the outbox and
 * upstream. The idempotency key is (agent id, stream, key, start_ms, revision).
 *
 * A result is a plain value: it is copied by assignment through the window
 * engine's emit call, the outbox, the store and the forwarder. The one part
 * that is not inline is the sketch (below), because a result of a stream
 * without quantiles should not pay for one and a sketch can be kilobytes:
 * `sketch` is a view of bytes that some holder owns. Who hands a result out
 * says how long the view stays valid; whoever keeps a result past that copies
 * the bytes (the outbox does, for every result it is given).
 */
struct wr_result {
    int64_t start_ms;  /* window start, Unix epoch ms, a multiple of size_s * 1000 */
    uint32_t size_s;   /* window length */
    uint32_t revision; /* 0 for the first emission, +1 per correction by late events */
    uint16_t stream;   /* index into the config's streams */
    char key[WR_KEY_MAX];
    struct wr_agg agg; /* agg.sketch is always NULL: the sketch travels serialized */
    /*
     * The stream's quantiles, estimated from the window's sketch at emission
     * (quantiles[i] for the stream's i-th configured q), or, for a rollup,
     * from the merged sketch; n_quantiles 0 when the stream has none or when
     * a rollup could not merge the sketches (one missing).
     */
    uint8_t n_quantiles;
    /*
     * The window's quantile sketch in its binary form (agent/sketch.h,
     * docs/upstream-schema.md "Sketch binary form"), at most
     * wr_result_sketch_max() bytes; sketch_len 0 (sketch NULL) when the stream
     * keeps no sketch. Borrowed: see above.
     */
    uint32_t sketch_len;
    double quantiles[WR_RESULT_MAX_QUANTILES];
    const uint8_t *sketch;
};

/* The longest sketch a result can carry (a bound for checks; real ones are far smaller). */
static inline size_t wr_result_sketch_max(void)
{
    return wr_sketch_serialized_max(WR_SKETCH_MAX_BUCKETS_MAX);
}

#endif /* WR_RESULT_H */
