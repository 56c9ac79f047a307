#ifndef PLAT_CLOCK_H
#define PLAT_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Wall-clock jump detection. Between two samples the wall clock should move
 * as far as the monotonic clock did; when it moves more than a threshold
 * further (NTP step, RTC-less boot setting the date, an operator's `date -s`)
 * that is a jump, reported once with its size. Pure logic: the caller
 * passes both readings, so tests need no real clock.
 */

struct plat_clock {
    int64_t last_wall_ms;
    uint64_t last_mono_ms;
    int64_t threshold_ms;
    bool primed;
};

/** Wall times before 2020-01-01 are taken as "clock not set yet". */
#define PLAT_CLOCK_PLAUSIBLE_MS INT64_C(1577836800000)

/** Start detection; threshold_ms is the largest discrepancy not reported as a jump. */
void plat_clock_init(struct plat_clock *c, int64_t threshold_ms);

/**
 * Feed one pair of readings. Returns the jump in ms (wall moved this much
 * more than mono; negative for a backward step) or 0 when there was none.
 */
int64_t plat_clock_sample(struct plat_clock *c, int64_t wall_ms, uint64_t mono_ms);

/** True when wall_ms looks like a set clock (on or after 2020-01-01). */
bool plat_clock_plausible(int64_t wall_ms);

#endif /* PLAT_CLOCK_H */
