#ifndef WR_BACKPRESSURE_H
#define WR_BACKPRESSURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wr_config.h"

/*
 * The backpressure state machine, driven by the fill of the event queue
 * (depth / capacity, compared in whole percent of capacity without
 * rounding) with hysteresis:
 *
 *   NORMAL   -> SHEDDING  when fill >= shed_enter_pct
 *   NORMAL   -> CRITICAL  when fill >= critical_enter_pct (skipping SHEDDING)
 *   SHEDDING -> CRITICAL  when fill >= critical_enter_pct
 *   SHEDDING -> NORMAL    when fill <= shed_leave_pct
 *   CRITICAL -> SHEDDING  when fill <= critical_leave_pct
 *   CRITICAL -> NORMAL    when fill <= critical_leave_pct and fill <= shed_leave_pct
 *
 * so a fill oscillating between a leave and an enter threshold never flips
 * the state. Each update makes at most one transition and reports it once.
 *
 * Shedding. Let P0 < P1 < ... < P(L-1) be the distinct priorities of the
 * configured streams. In SHEDDING the k lowest levels are shed, where
 *
 *   k = 1 + floor((fill - shed_enter) * (L - 1) / (critical_enter - shed_enter))
 *
 * clamped to 1..L-1: at shed_enter only the lowest level is shed, and more
 * levels follow as the fill approaches critical_enter, but the highest
 * level P(L-1) is never shed (with a single level nothing is shed). Below
 * shed_enter, while SHEDDING is held by hysteresis, k is 1. In CRITICAL the
 * caller does not take messages at all (it returns false to Paho so that the
 * local broker holds them); should_shed then answers as for k = L-1, for a
 * caller that takes a message anyway.
 *
 * shed_mode WR_SHED_SAMPLE keeps one event in sample_keep_one_in of a shed
 * stream instead of none: a deterministic counter per stream keeps the
 * first event and then every N-th (the counter persists across episodes).
 *
 * Thread-safety: update and should_shed belong to one thread (Paho's
 * callback thread). wr_backpressure_current may be called from any thread
 * (it reads an atomic), e.g. for the metrics gauge.
 */

enum wr_bp_state {
    WR_BP_NORMAL = 0,
    WR_BP_SHEDDING = 1,
    WR_BP_CRITICAL = 2,
};

struct wr_backpressure;

struct wr_backpressure_params {
    uint8_t shed_enter_pct;
    uint8_t shed_leave_pct;
    uint8_t critical_enter_pct;
    uint8_t critical_leave_pct;
    enum wr_shed_mode shed_mode;
    uint32_t sample_keep_one_in; /* WR_SHED_SAMPLE: >= 1 (1 keeps everything) */
    const uint8_t *priorities;   /* per stream, 0..9, higher = more important; copied */
    size_t n_streams;            /* >= 1 */
};

/**
 * Create a state machine in NORMAL. Returns WR_OK; WR_E_INVAL for NULL
 * params/priorities/out, n_streams 0, a priority over 9, thresholds not
 * ordered shed_leave < shed_enter <= critical_leave < critical_enter <= 100,
 * or sample_keep_one_in 0 in sample mode; WR_E_NOMEM.
 */
int wr_backpressure_create(const struct wr_backpressure_params *params,
                           struct wr_backpressure **out);

/** Free a state machine; NULL does nothing. */
void wr_backpressure_destroy(struct wr_backpressure *bp);

/**
 * Feed the queue's depth and capacity (a depth over capacity counts as
 * full). Returns the state after the update; *changed (may be NULL) is true
 * when this call changed the state, so the caller can log once per
 * transition. capacity 0 or a NULL bp changes nothing (NULL bp: NORMAL).
 */
enum wr_bp_state wr_backpressure_update(struct wr_backpressure *bp, size_t depth, size_t capacity,
                                        bool *changed);

/**
 * Whether to shed (drop, counted as WR_DROP_SHED) the next event of stream
 * stream_index, given the state of the last update. NORMAL: never. In
 * sample mode a true answer advances the stream's counter, so call it once
 * per event. Unknown streams and a NULL bp are never shed.
 */
bool wr_backpressure_should_shed(struct wr_backpressure *bp, size_t stream_index);

/**
 * Streams with a priority below this are shed now (0: none, in NORMAL or
 * with a single priority level). Same thread as update.
 */
unsigned wr_backpressure_shed_below(const struct wr_backpressure *bp);

/** The current state, from any thread; NORMAL for NULL. */
enum wr_bp_state wr_backpressure_current(const struct wr_backpressure *bp);

/** "normal", "shedding", "critical"; "unknown" for other values. */
const char *wr_backpressure_state_name(enum wr_bp_state state);

#endif /* WR_BACKPRESSURE_H */
