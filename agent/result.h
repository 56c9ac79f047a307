#ifndef WR_RESULT_H
#define WR_RESULT_H

#include <stdint.h>

#include "agg.h"
#include "event.h"

/* Quantile values a result carries (config's WR_CFG_MAX_QUANTILES). */
#define WR_RESULT_MAX_QUANTILES 8

/**
 * One closed window (or a revision of one), as it goes to the outbox and
 * upstream. The idempotency key is (agent id, stream, key, start_ms, revision).
 */
struct wr_result {
    int64_t start_ms;   /* window start, Unix epoch ms, a multiple of size_s * 1000 */
    uint32_t size_s;    /* window length */
    uint32_t revision;  /* 0 for the first emission, +1 per correction by late events */
    uint16_t stream;    /* index into the config's streams */
    char key[WR_KEY_MAX];
    struct wr_agg agg;     /* agg.sketch is borrowed: valid only during the emit call */
    /*
     * The stream's quantiles, estimated from the window's sketch at emission
     * (quantiles[i] for the stream's i-th configured q); 0 values when the
     * stream has none or when a rollup merged results (quantile values do
     * not merge).
     */
    uint8_t n_quantiles;
    double quantiles[WR_RESULT_MAX_QUANTILES];
};

#endif /* WR_RESULT_H */
