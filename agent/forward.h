#ifndef WR_FORWARD_H
#define WR_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encode.h"
#include "result.h"

/*
 * The forwarder: takes results waiting in the outbox, batches them
 * (max results, max bytes, max delay) into upstream messages, publishes them
 * with at most max_inflight messages unacknowledged, and removes results
 * from the outbox only when their message is acknowledged. A failed publish
 * or a lost connection rewinds to the oldest unacknowledged result, so
 * upstream sees every result at least once and duplicates carry the same
 * idempotency key. The backlog is sent at resend_per_s results per second at
 * most, so a fleet whose broker returns does not flood it.
 *
 * It does no I/O of its own: the outbox and the uplink come in through
 * struct wr_forward_io. Not thread-safe: call from the pipeline thread only.
 */

struct wr_forward;

/** One result waiting in the outbox, with the outbox's id for it. */
struct wr_forward_row {
    uint64_t id;
    struct wr_result result;
};

/** Position in the outbox, interpreted by the outbox only; all zero = its start. */
struct wr_forward_cursor {
    uint64_t pos[2];
};

struct wr_forward_io {
    /** Read up to max rows after *cursor, oldest first, advancing it; *n = 0 at the end. */
    int (*read)(void *ctx, struct wr_forward_cursor *cursor, struct wr_forward_row *rows,
                size_t max, size_t *n);
    /** Remove acknowledged rows. */
    int (*remove)(void *ctx, const uint64_t *ids, size_t n);
    /** Publish a message; an acknowledgement for tag comes back via wr_forward_on_ack. */
    int (*publish)(void *ctx, const char *topic, const void *payload, size_t len, uint32_t tag);
    void *ctx;
};

struct wr_forward_params {
    const char *agent_id;
    const char *topic;                /* expanded results topic */
    const char *const *stream_names;  /* by stream index */
    const unsigned *stream_aggregates; /* WR_AGG_* mask by stream index */
    size_t n_streams;
    uint32_t max_results;
    uint32_t max_bytes;
    uint32_t max_delay_ms;
    uint32_t max_inflight;
    uint32_t resend_per_s;
    enum wr_encoding encoding;       /* 0 = JSON */
    enum wr_compression compression; /* 0 = none */
    /* Optional, by stream index (NULL: no stream has them): the quantiles to
     * write (stream_n_quantiles[s] values at stream_quantiles[s]) and whether
     * to write the sketch itself. */
    const double *const *stream_quantiles;
    const size_t *stream_n_quantiles;
    const bool *stream_sketch;
};

struct wr_forward_stats {
    uint64_t messages_sent;
    uint64_t results_sent;     /* including resends */
    uint64_t results_acked;
    uint64_t messages_failed;
    uint32_t inflight_messages;
    uint64_t last_ack_latency_ms;
};

/** Create. Copies what it keeps from params. Returns WR_OK, WR_E_INVAL or WR_E_NOMEM. */
int wr_forward_create(const struct wr_forward_params *params, struct wr_forward **out);

/** Free; NULL does nothing. */
void wr_forward_destroy(struct wr_forward *fw);

/** n new results were appended to the outbox at now_mono_ms (starts the max_delay clock). */
void wr_forward_notify_appended(struct wr_forward *fw, size_t n, uint64_t now_mono_ms);

/** The outbox holds older results (e.g. after a restart): send without waiting for max_delay. */
void wr_forward_notify_backlog(struct wr_forward *fw, uint64_t rows);

/**
 * Send what is due: while a message slot is free and a batch is due, read,
 * encode and publish one. Call on every tick while connected.
 * Returns the number of messages published (>= 0) or a negative WR_E_* from io.
 */
int wr_forward_pump(struct wr_forward *fw, const struct wr_forward_io *io, uint64_t now_mono_ms,
                    int64_t now_wall_ms);

/**
 * When wr_forward_pump next has something to send, for a loop that sleeps
 * until its next deadline: now_mono_ms when a batch is due now, the end of
 * the batch delay or of the pacing pause, or UINT64_MAX when nothing waits or
 * every message slot is in flight (an acknowledgement is the next event).
 */
uint64_t wr_forward_next_due_ms(const struct wr_forward *fw, uint64_t now_mono_ms);

/** The message with this tag was acknowledged (ok) or failed; removes its rows on ok. */
int wr_forward_on_ack(struct wr_forward *fw, const struct wr_forward_io *io, uint32_t tag, bool ok,
                      uint64_t now_mono_ms);

/** The connection was lost: forget in-flight messages and rewind to the oldest result. */
void wr_forward_on_disconnect(struct wr_forward *fw);

void wr_forward_get_stats(const struct wr_forward *fw, struct wr_forward_stats *stats);

/**
 * The highest outbox id (below WR_OUTBOX_MEMORY_ID_BIT) the forwarder holds:
 * read, in flight, carried to the next message, or ever published (a message
 * given up on at a disconnect may still have reached the broker). The storage
 * budget must not
 * roll up or drop rows at or below it, or upstream would get their events
 * twice (once as sent, once inside a coarser result).
 */
uint64_t wr_forward_held_floor(const struct wr_forward *fw);

#endif /* WR_FORWARD_H */
