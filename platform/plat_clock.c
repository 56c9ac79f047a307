#include "plat_clock.h"

void plat_clock_init(struct plat_clock *c, int64_t threshold_ms)
{
    c->last_wall_ms = 0;
    c->last_mono_ms = 0;
    c->threshold_ms = threshold_ms;
    c->primed = false;
}

int64_t plat_clock_sample(struct plat_clock *c, int64_t wall_ms, uint64_t mono_ms)
{
    int64_t expected;
    int64_t drift;

    if (!c->primed) {
        c->primed = true;
        c->last_wall_ms = wall_ms;
        c->last_mono_ms = mono_ms;
        return 0;
    }
    expected = c->last_wall_ms + (int64_t)(mono_ms - c->last_mono_ms);
    drift = wall_ms - expected;
    c->last_wall_ms = wall_ms;
    c->last_mono_ms = mono_ms;
    if (drift > c->threshold_ms || drift < -c->threshold_ms)
        return drift;
    return 0;
}

bool plat_clock_plausible(int64_t wall_ms)
{
    return wall_ms >= PLAT_CLOCK_PLAUSIBLE_MS;
}
