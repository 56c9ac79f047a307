#ifndef PLAT_BACKOFF_H
#define PLAT_BACKOFF_H

#include <stdint.h>

/*
 * Reconnect delays: exponential growth with "full jitter". The delay for
 * attempt k (k = 0 after init or reset) is drawn uniformly from
 * [min_ms, min(max_ms, min_ms * 2^k)], so it is always within [min_ms, max_ms],
 * its upper bound doubles per failed attempt, and a fleet of gateways that lost
 * the uplink together does not reconnect in lockstep.
 *
 * The generator is splitmix64 seeded by the caller, so a given seed yields the
 * same sequence everywhere (tests); production seeds from something that
 * differs per device and boot. Zero-initialise or call plat_backoff_init; the
 * layout is public only so the struct can live on the stack or inside another.
 * Not thread-safe: one instance per retry loop.
 */
struct plat_backoff {
    uint32_t min_ms;
    uint32_t max_ms;
    uint32_t attempt; /* failed attempts since init/reset; saturates once the cap is reached */
    uint64_t rng;     /* splitmix64 state */
};

/**
 * Set the bounds and seed and start at attempt 0.
 * Returns WR_OK, or WR_E_INVAL (b NULL, min_ms 0, or min_ms > max_ms).
 */
int plat_backoff_init(struct plat_backoff *b, uint32_t min_ms, uint32_t max_ms, uint64_t seed);

/**
 * Delay in ms to wait before the next attempt, then count the attempt.
 * Always in [min_ms, max_ms]; 0 only for a NULL or never-initialised b.
 */
uint32_t plat_backoff_next_ms(struct plat_backoff *b);

/** Back to attempt 0 after a success; the generator state is kept. NULL is a no-op. */
void plat_backoff_reset(struct plat_backoff *b);

#endif /* PLAT_BACKOFF_H */
