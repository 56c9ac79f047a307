#ifndef WR_WINDOW_H
#define WR_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agg.h"
#include "event.h"
#include "result.h"

/*
 * The window engine: tumbling windows per (stream, key), aligned to the
 * epoch (a window of size_s starts at a multiple of size_s * 1000 ms).
 *
 * Time. Each stream has a watermark W = M + (now.mono_ms - mono_at_M) - lateness,
 * where M is the highest event time accepted for the stream and mono_at_M
 * the monotonic time it was accepted: the stream's event clock is assumed
 * to run on with real time while the stream is quiet, so the last window of
 * a quiet stream still closes. A window [start, end) closes, and its result
 * is emitted, once W >= end. An event is
 *   - FUTURE if now.wall_plausible and time_ms > now.wall_ms + max_future_s,
 *     so one device with a fast clock cannot drag the watermark ahead;
 *   - LATE if its window has already closed: dropped, or under revise_late
 *     folded into the closed window, which is emitted again with
 *     revision + 1 on the next advance. Closed windows are kept for
 *     revise_horizon_s after they close; later events are LATE.
 * Events without a payload timestamp arrive stamped with processing time
 * (event->has_time == false); windows holding only such events are moved by
 * wr_window_clock_jump when the gateway's wall clock jumps, so a jump neither
 * closes them all at once nor opens windows decades away.
 *
 * Memory. The key limits and the memory budget are ceilings, not
 * allocations: create sizes nothing but the per-stream state, and the key
 * and window tables grow in chunks (doubling) as keys and windows arrive,
 * up to what the limits and the budget allow. A new key or window that finds
 * the ceiling reached, or whose growth fails to allocate, is refused as
 * WR_WINDOW_NO_MEMORY with the engine unchanged. In steady state adding and
 * closing windows reuses freed entries and allocates nothing; what a burst
 * took is kept, not handed back. The quantile sketches of streams that ask
 * for them also grow: a window slot gets its sketch with its first event
 * and keeps it (cleared) when the slot is reused; the sketch's bucket array
 * grows with the window's value range. An event whose sketch cannot grow is
 * dropped as WR_WINDOW_NO_MEMORY, so a window's sketch always holds all of
 * its values.
 *
 * Not thread-safe: one pipeline thread owns an engine.
 */

struct wr_window;

struct wr_window_stream_params {
    uint32_t size_s;             /* > 0 */
    uint32_t allowed_lateness_s;
    uint32_t max_future_s;
    uint32_t max_keys;           /* distinct keys with open or revisable windows; > 0 */
    bool revise_late;
    uint32_t revise_horizon_s;   /* used when revise_late */
    /*
     * Quantiles: windows of a stream with sketch set carry a quantile sketch
     * (agent/sketch.h) made with these parameters, allocated with the
     * window's first event; results carry the n_quantiles estimates.
     */
    bool sketch;
    double sketch_accuracy;
    uint32_t sketch_max_buckets;
    const double *quantiles;     /* n_quantiles (<= WR_RESULT_MAX_QUANTILES) in [0, 1]; copied */
    size_t n_quantiles;
};

struct wr_window_params {
    const struct wr_window_stream_params *streams; /* borrowed for the call */
    size_t n_streams;
    uint32_t max_keys_total;      /* 0 = sum of the streams' max_keys */
    uint64_t memory_budget_bytes; /* 0 = no budget beyond the key limits */
};

enum wr_window_outcome {
    WR_WINDOW_ADDED = 0,   /* folded into an open window */
    WR_WINDOW_REVISED,     /* folded into a closed window; a revision will be emitted */
    WR_WINDOW_LATE,        /* dropped: window closed and not revisable */
    WR_WINDOW_FUTURE,      /* dropped: too far ahead of the gateway clock */
    WR_WINDOW_KEY_LIMIT,   /* dropped: new key past max_keys or max_keys_total */
    WR_WINDOW_NO_MEMORY,   /* dropped: window slots exhausted (memory budget) */
};

/** One window's state, for checkpoints (wr_window_checkpoint) and restore. */
struct wr_window_state {
    uint16_t stream;
    char key[WR_KEY_MAX];
    int64_t start_ms;
    uint32_t revision;       /* revision of the last emission, or 0 */
    bool closed;             /* emitted and kept only for revisions */
    bool processing_time;    /* holds only processing-time events */
    bool changed;            /* changed since the last complete checkpoint (set by visits;
                                ignored by restore) */
    struct wr_agg agg;       /* agg.sketch: the window's sketch (borrowed), or NULL */
};

/** Called once per result. The result is borrowed for the call. */
typedef void (*wr_window_emit_fn)(void *ctx, const struct wr_result *result);

/** Called once per window state; return WR_OK to go on, anything else stops the walk. */
typedef int (*wr_window_visit_fn)(void *ctx, const struct wr_window_state *state);

/**
 * Create an engine. Returns WR_OK, WR_E_INVAL (no streams, a zero size_s or
 * max_keys, NULL out) or WR_E_NOMEM (including a memory budget too small
 * for one window per stream).
 */
int wr_window_create(const struct wr_window_params *params, struct wr_window **out);

/** Free an engine; NULL does nothing. Open windows are discarded (checkpoint first). */
void wr_window_destroy(struct wr_window *w);

/**
 * Fold one event into its window. *outcome says what happened; the return
 * is WR_OK whenever an outcome was decided, WR_E_INVAL for NULL arguments,
 * an unknown stream or a non-finite value. Borrows ev.
 */
int wr_window_add(struct wr_window *w, const struct wr_event *ev, const struct wr_now *now,
                  enum wr_window_outcome *outcome);

/**
 * Close every window the watermark has passed and emit its result; emit
 * pending revisions; forget closed windows past their revise horizon.
 * Results are emitted in order of window start within a stream.
 * Returns the number of results emitted (>= 0) or WR_E_INVAL.
 */
int wr_window_advance(struct wr_window *w, const struct wr_now *now, wr_window_emit_fn emit,
                      void *ctx);

/**
 * The monotonic time at which wr_window_advance next has something to close
 * or emit if no event arrives before then: now_mono_ms when it has already,
 * UINT64_MAX when no window is open. For a loop that sleeps until its next
 * deadline instead of polling. Reads no clock.
 */
uint64_t wr_window_next_due_mono_ms(const struct wr_window *w, uint64_t now_mono_ms);

/**
 * Emit every open window of stream now (a reload removed it or changed its
 * window size): results are revision 0 and hold the events seen so far. The
 * windows are kept as closed, so checkpoints record them emitted. Returns
 * the number emitted (>= 0) or WR_E_INVAL (NULL argument, unknown stream).
 */
int wr_window_cut_stream(struct wr_window *w, uint16_t stream, wr_window_emit_fn emit, void *ctx);

/**
 * The wall clock jumped by delta_ms (positive: forward). Windows holding
 * only processing-time events move by delta rounded to a whole number of
 * window sizes (merging with a window already at the target), and streams
 * whose highest event time came from processing time move their clock too.
 */
void wr_window_clock_jump(struct wr_window *w, int64_t delta_ms);

/**
 * Visit every window changed since the last complete checkpoint (open,
 * closed-and-revisable, including those closed since). When every visit
 * returns WR_OK the changes are marked clean; when one fails the walk stops,
 * nothing is marked clean, and its code is returned.
 */
int wr_window_checkpoint(struct wr_window *w, wr_window_visit_fn visit, void *ctx);

/**
 * Visit every window held (open, closed-and-revisable), changed or not,
 * without touching what the next checkpoint writes: for crash snapshots.
 * Returns WR_OK, WR_E_INVAL (NULL), or the first non-WR_OK code of visit.
 */
int wr_window_visit_all(const struct wr_window *w, wr_window_visit_fn visit, void *ctx);

/**
 * Mark every window unchanged: for a checkpoint that wrote what
 * wr_window_visit_all showed (state->changed), the counterpart of the
 * clean-up wr_window_checkpoint does after its walk.
 */
void wr_window_mark_clean(struct wr_window *w);

/**
 * Mark every window changed, so the next checkpoint writes them all again.
 * For a checkpoint whose walk succeeded but whose commit then failed.
 */
void wr_window_mark_all_dirty(struct wr_window *w);

/**
 * Windows of this stream that start before *floor_ms can no longer exist in
 * the engine at now or later: a store may delete their checkpoints.
 */
int wr_window_retention_floor(const struct wr_window *w, uint16_t stream, const struct wr_now *now,
                              int64_t *floor_ms);

/**
 * Put back one window from a checkpoint (before any wr_window_add). A later
 * state of the same window replaces an earlier one; a closed state of a
 * stream that does not revise removes it (checkpoints may record a window
 * open, then closed). Returns
 * WR_OK, WR_E_INVAL (unknown stream, misaligned start), WR_E_FULL (key
 * limit or no free slot), WR_E_NOMEM. state->agg.sketch is borrowed and
 * copied; for a stream with sketches a state without one (an older
 * checkpoint) restores with an empty sketch, and its quantiles then cover
 * only the events that follow.
 */
int wr_window_restore(struct wr_window *w, const struct wr_window_state *state);

/** A stream's clock for checkpoints: highest accepted event time (INT64_MIN if none). */
int wr_window_stream_clock(const struct wr_window *w, uint16_t stream, int64_t *max_event_ms);

/** Restore a stream's clock: highest event time seen, anchored at now. */
int wr_window_set_stream_clock(struct wr_window *w, uint16_t stream, int64_t max_event_ms,
                               const struct wr_now *now);

struct wr_window_stats {
    size_t windows_open;     /* not yet emitted */
    size_t windows_retained; /* emitted, kept for revisions */
    size_t keys;             /* distinct (stream, key) pairs tracked */
    size_t memory_bytes;     /* bytes the engine holds now (grows with keys) */
};

void wr_window_get_stats(const struct wr_window *w, struct wr_window_stats *stats);

#endif /* WR_WINDOW_H */
