#ifndef WR_RESULT_H
#define WR_RESULT_H

#include <stdint.h>

#include "agg.h"
#include "event.h"

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
    struct wr_agg agg;
};

#endif /* WR_RESULT_H */
