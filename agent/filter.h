#ifndef WR_FILTER_H
#define WR_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drop.h"
#include "event.h"
#include "wr_config.h"

/*
 * The filter stage: per-stream checks applied to each decoded event before
 * it is queued. Per stream (struct wr_filter_config):
 *   - range:        value < min or value > max          -> WR_DROP_FILTER_RANGE
 *   - dedup:        (time_ms, value bits) equal to one of the key's last
 *                   WR_FILTER_DEDUP_DEPTH accepted events -> WR_DROP_FILTER_DUPLICATE
 *   - min interval: time_ms - last accepted time_ms < min_interval_ms, or
 *                   time_ms earlier than the last accepted time (an event
 *                   that goes back in time is inside the interval by
 *                   definition)                           -> WR_DROP_FILTER_INTERVAL
 *   - deadband:     |value - last accepted value| < deadband
 *                                                         -> WR_DROP_FILTER_DEADBAND
 * checked in that order; the first that fails names the reason. Then
 *   - heartbeat:    with max_silence_ms > 0, an event the deadband would drop
 *                   is accepted instead when the key's last accepted event
 *                   was at least max_silence_ms ago (monotonic now_mono_ms),
 *                   so a flat signal still shows it is alive; it counts in
 *                   wr_filter_stats.heartbeats. Only the deadband is
 *                   overridden: the interval is a rate limit, and a dedup hit
 *                   is a redelivery of a reading already counted.
 * The first event of a key always passes the three stateful checks. Only accepted
 * events update a key's state.
 *
 * Transactions. wr_filter_check stages the state change of an accepted
 * event; later checks in the same batch see it (so two events of one key in
 * one message are filtered against each other), but the key table changes
 * only in wr_filter_commit. The caller checks every event of a message,
 * pushes the accepted ones to the queue and then calls wr_filter_commit if
 * the push succeeded, or wr_filter_rollback if the message is left with
 * Paho for redelivery, so that the redelivered copy is filtered exactly as
 * the first one was (not as a duplicate of itself). Every sequence of
 * checks must end in one commit or rollback.
 *
 * Key state. Streams with a stateful check (dedup, min_interval_ms > 0 or
 * deadband > 0) keep per-(stream, key) state in one table sized at create:
 * nothing is allocated per event. A key's state expires horizon_ms after
 * its last accepted event (monotonic time): the key then counts as new
 * again (its next event passes the stateful checks) and its slot may be
 * taken by another key, least recently accepted first. A new key that finds
 * no free or expired slot is not tracked: its events pass the stateful
 * checks and are counted in wr_filter_stats.untracked. The filter never
 * drops an event because its table is full.
 *
 * Never reads a clock: the caller passes now_mono_ms.
 *
 * Not thread-safe: one thread (Paho's callback thread) owns a filter.
 */

/* Accepted (time, value) pairs remembered per key for dedup. Four covers a
 * QoS 1 redelivery of a message a few messages older than the newest one. */
#define WR_FILTER_DEDUP_DEPTH 4

struct wr_filter;

struct wr_filter_params {
    const struct wr_filter_config *streams; /* n_streams configs, indexed by wr_event.stream;
                                               copied, borrowed for the call */
    size_t n_streams;                       /* 1..65536 */
    uint32_t max_keys;   /* keys with state at once, over all stateful streams; > 0 when any
                            stream is stateful, at most WR_FILTER_MAX_KEYS */
    uint32_t max_batch;  /* distinct keys staged between commits, > 0: use at least the most
                            events the caller checks per message; further keys go untracked */
    uint64_t horizon_ms; /* key state expires this long after its last accepted event; 0 =
                            never. Raised to the largest min_interval_ms and max_silence_ms so
                            that expiry never shortens an interval or hides a heartbeat. */
};

#define WR_FILTER_MAX_KEYS (1u << 26)

struct wr_filter_stats {
    uint64_t untracked;  /* accepted events whose key could not get state (table or batch full) */
    uint64_t evicted;    /* expired keys whose slot went to another key */
    uint64_t heartbeats; /* committed events let through by max_silence_ms */
    uint32_t keys;       /* keys holding state now (expired ones included until reused) */
    uint32_t max_keys;   /* the table's capacity */
};

/**
 * Create a filter. Returns WR_OK; WR_E_INVAL for NULL params/streams/out,
 * n_streams 0 or over 65536, min > max, a negative or non-finite deadband,
 * a non-finite bound, max_batch 0, or max_keys 0 or over WR_FILTER_MAX_KEYS
 * while some stream is stateful; WR_E_NOMEM. No table is allocated when no
 * stream is stateful.
 */
int wr_filter_create(const struct wr_filter_params *params, struct wr_filter **out);

/** Free a filter; NULL does nothing. Staged changes are discarded. */
void wr_filter_destroy(struct wr_filter *f);

/**
 * Decide whether ev passes its stream's filter. Returns true to accept;
 * false with *reason set to the WR_DROP_FILTER_* reason to drop. An
 * accepted event's state change is staged until wr_filter_commit. Events
 * of unknown streams, a NULL f or ev are refused with WR_DROP_MALFORMED.
 * ev->time_ms must already hold the event's effective time (processing time
 * for events without a timestamp). now_mono_ms is the monotonic clock; it
 * is recorded as the key's last acceptance at commit. Borrows ev; reason
 * may be NULL.
 */
bool wr_filter_check(struct wr_filter *f, const struct wr_event *ev, uint64_t now_mono_ms,
                     enum wr_drop_reason *reason);

/**
 * Apply every change staged since the last commit or rollback to the key
 * table: the accepted events were queued. New keys take a free slot or the
 * least recently accepted expired one; if there is none they stay untracked.
 * NULL does nothing.
 */
void wr_filter_commit(struct wr_filter *f);

/**
 * Heartbeats committed since the last call (for the events_heartbeat
 * counter); 0 for NULL f.
 */
uint64_t wr_filter_take_heartbeats(struct wr_filter *f);

/**
 * Discard every change staged since the last commit or rollback: the
 * accepted events were not queued and will be offered again. NULL does
 * nothing.
 */
void wr_filter_rollback(struct wr_filter *f);

/** Counters and occupancy; zeroes for NULL f. Staged changes are not counted. */
struct wr_filter_stats wr_filter_stats(const struct wr_filter *f);

#endif /* WR_FILTER_H */
