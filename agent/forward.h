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
 * from the outbox only when their message is acknowledged. A failed publish,
 * a failed message or a lost connection hands the message's results back to
 * the outbox, which offers them again oldest first, so upstream sees every
 * result at least once and duplicates carry the same
 * idempotency key. The backlog is sent at resend_per_s results per second at
 * most, so a fleet whose broker returns does not flood it.
 *
 * It does no I/O of its own: the outbox and the uplink come in through
 * struct wr_forward_io, and the outbox alone decides which results are due. Not thread-safe: call
 * from the pipeline thread only.
 */

struct wr_forward;

/*
 * What the forwarder sends from and through. Both are named here and defined
 * by their implementers (agent/outbox.c, agent/uplink.c, or a test's fake),
 * like coreMQTT's NetworkContext: a callback cannot be handed the wrong
 * context, and the forwarder knows nothing of how the outbox identifies,
 * orders or stores its results.
 */
struct wr_outbox;
struct wr_outbox_batch; /* the results of one upstream message, owned by the outbox */
struct wr_uplink;

struct wr_forward_io {
    struct wr_outbox *outbox;
    /**
     * Copy up to max of the oldest results due for sending (neither in
     * flight nor acknowledged) into out, oldest first; *n = 0 when none is
     * due. Changes nothing: the next peek sees the same results until some
     * are marked sent.
     */
    int (*peek)(struct wr_outbox *ob, struct wr_result *out, size_t max, size_t *n);
    /**
     * The first n results of the last peek go out in one message: they are
     * in flight under *batch until acknowledge or release ends the handle.
     */
    int (*mark_sent)(struct wr_outbox *ob, size_t n, struct wr_outbox_batch **batch);
    /** The batch's message was acknowledged: its results are done. Ends the handle. */
    int (*acknowledge)(struct wr_outbox *ob, struct wr_outbox_batch *batch);
    /**
     * The batch's message was refused, failed or lost with the connection:
     * its results are due again, before newer ones. Ends the handle.
     */
    void (*release)(struct wr_outbox *ob, struct wr_outbox_batch *batch);

    struct wr_uplink *uplink;
    /** Publish a message; an acknowledgement for tag comes back via wr_forward_on_ack. */
    int (*publish)(struct wr_uplink *up, const char *topic, const void *payload, size_t len,
                   uint32_t tag);
};

struct wr_forward_params {
    const char *agent_id;
    const char *topic;                 /* expanded results topic */
    const char *const *stream_names;   /* by stream index */
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
    uint64_t results_sent; /* including resends */
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

/** The message with this tag was acknowledged (ok: its results are done) or failed (released). */
int wr_forward_on_ack(struct wr_forward *fw, const struct wr_forward_io *io, uint32_t tag, bool ok,
                      uint64_t now_mono_ms);

/** The connection was lost: release every message in flight (they are sent again). */
void wr_forward_on_disconnect(struct wr_forward *fw, const struct wr_forward_io *io);

void wr_forward_get_stats(const struct wr_forward *fw, struct wr_forward_stats *stats);

#endif /* WR_FORWARD_H */
