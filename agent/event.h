#ifndef WR_EVENT_H
#define WR_EVENT_H

#include <stdbool.h>
#include <stdint.h>

/* Longest key (including the NUL) a stream's key template may produce. Longer keys are dropped. */
#define WR_KEY_MAX 64

/**
 * One decoded sample on its way from ingest to the window engine. Fixed size
 * and self-contained so it can travel through the bounded queue by value.
 */
struct wr_event {
    int64_t time_ms;         /* event time, Unix epoch ms (processing time if !has_time) */
    uint64_t arrival_mono_ms; /* monotonic arrival time, for processing-time windows */
    double value;
    uint16_t stream;         /* index into the config's streams */
    bool has_time;           /* false: the payload carried no timestamp */
    char key[WR_KEY_MAX];
};

/**
 * "Now" as the pipeline sees it, passed to code that reasons about time so
 * that it never reads a clock itself.
 */
struct wr_now {
    int64_t wall_ms;     /* corrected wall clock, Unix epoch ms */
    uint64_t mono_ms;    /* monotonic clock */
    bool wall_plausible; /* false while the wall clock looks unset (before 2020) */
};

#endif /* WR_EVENT_H */
