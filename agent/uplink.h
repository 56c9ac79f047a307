#ifndef WR_UPLINK_H
#define WR_UPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The upstream side: a Paho MQTTAsync client that publishes encoded batches
 * with QoS 1 and reports each PUBACK. It speaks plain MQTT to the URI it is
 * given; for TLS that URI is the in-process bridge (platform/plat_bridge.h).
 * The session is clean: the outbox, not Paho, is what remembers unacknowledged
 * results, so after a reconnect the forwarder resends from the outbox.
 * Reconnects are scheduled by wr_uplink_poll with exponential backoff and
 * jitter so that a fleet does not reconnect in lockstep.
 */

struct wr_uplink;

/** Called on Paho's thread with the tag given to wr_uplink_publish; ok = PUBACK received. */
typedef void (*wr_uplink_ack_fn)(void *ctx, uint32_t tag, bool ok);

/** Called on Paho's thread when the connection comes up or goes down. */
typedef void (*wr_uplink_connection_fn)(void *ctx, bool up);

struct wr_uplink_params {
    const char *uri;
    const char *client_id;
    const char *username; /* NULL or "" for none */
    const char *password;
    uint32_t keepalive_s;
    int qos;
    uint32_t max_inflight;
    uint32_t reconnect_min_ms;
    uint32_t reconnect_max_ms;
    uint64_t jitter_seed;
    wr_uplink_ack_fn on_ack;
    wr_uplink_connection_fn on_connection; /* may be NULL */
    void *ctx;
};

/** Create (not connected). Returns WR_OK, WR_E_INVAL or WR_E_NOMEM. Borrows params. */
int wr_uplink_create(const struct wr_uplink_params *params, struct wr_uplink **out);

/**
 * Start a connect attempt if disconnected and the backoff delay has passed.
 * Call from the pipeline thread on every tick.
 */
void wr_uplink_poll(struct wr_uplink *up, uint64_t now_mono_ms);

/** True while connected. Thread-safe. */
bool wr_uplink_connected(const struct wr_uplink *up);

/**
 * Publish one message; on_ack(tag) follows. Returns WR_OK, WR_E_STATE (not
 * connected), WR_E_FULL (max_inflight reached) or WR_E_CONN (Paho refused).
 */
int wr_uplink_publish(struct wr_uplink *up, const char *topic, const void *payload, size_t len,
                      uint32_t tag);

/** Publish without tracking (status messages, QoS 0). Returns as wr_uplink_publish. */
int wr_uplink_publish_untracked(struct wr_uplink *up, const char *topic, const void *payload,
                                size_t len);

/** Disconnect, waiting up to timeout_ms, and free. NULL does nothing. */
void wr_uplink_destroy(struct wr_uplink *up, uint32_t timeout_ms);

#endif /* WR_UPLINK_H */
