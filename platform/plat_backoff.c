#include "plat_backoff.h"

#include <stddef.h>

#include "wr_error.h"

/* splitmix64 (Steele, Lea, Flood 2014): tiny, full period, good enough for jitter. */
static uint64_t splitmix64_next(uint64_t *state)
{
    uint64_t z;

    *state += 0x9e3779b97f4a7c15ull;
    z = *state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int plat_backoff_init(struct plat_backoff *b, uint32_t min_ms, uint32_t max_ms, uint64_t seed)
{
    if (b == NULL || min_ms == 0 || min_ms > max_ms)
        return WR_E_INVAL;
    b->min_ms = min_ms;
    b->max_ms = max_ms;
    b->attempt = 0;
    b->rng = seed;
    return WR_OK;
}

/* min(max_ms, min_ms * 2^attempt) computed in 64 bits without overflow. */
static uint32_t current_cap(const struct plat_backoff *b)
{
    uint64_t cap = b->min_ms;
    uint32_t i;

    for (i = 0; i < b->attempt && cap < b->max_ms; i++)
        cap *= 2u;
    return cap < b->max_ms ? (uint32_t)cap : b->max_ms;
}

uint32_t plat_backoff_next_ms(struct plat_backoff *b)
{
    uint32_t cap;
    uint64_t span;
    uint32_t delay;

    if (b == NULL || b->min_ms == 0)
        return 0;
    cap = current_cap(b);
    /*
     * Modulo reduction: the bias is at most span / 2^64, far below anything a
     * reconnect schedule could notice, and it keeps the draw branch-free.
     */
    span = (uint64_t)cap - b->min_ms + 1u;
    delay = b->min_ms + (uint32_t)(splitmix64_next(&b->rng) % span);
    if (cap < b->max_ms)
        b->attempt++;
    return delay;
}

void plat_backoff_reset(struct plat_backoff *b)
{
    if (b != NULL)
        b->attempt = 0;
}
