#ifndef WR_INGEST_H
#define WR_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The source side: a Paho MQTTAsync client on the gateway's local broker.
 * QoS 1 subscriptions on a persistent session (clean session off, stable
 * client id), so the broker keeps queueing for Windrow while it is away or
 * busy; Paho reconnects on its own and the subscriptions are renewed on
 * every connect.
 */

struct wr_ingest;

/**
 * Called on Paho's thread for every message. Return true when the message
 * was taken (decoded and queued, or dropped and counted), false to leave it
 * with Paho, which offers it again later: that is the backpressure path.
 * topic is not NUL-terminated; both buffers are borrowed for the call.
 */
typedef bool (*wr_ingest_message_fn)(void *ctx, const char *topic, size_t topic_len,
                                     const void *payload, size_t payload_len);

/** Called on Paho's thread when the session comes up (subscribed) or goes down. */
typedef void (*wr_ingest_connection_fn)(void *ctx, bool up);

struct wr_ingest_params {
    const char *uri;
    const char *client_id;
    const char *username; /* NULL or "" for none */
    const char *password;
    uint32_t keepalive_s;
    int qos;
    const char *const *filters; /* topic filters to subscribe to */
    size_t n_filters;
    wr_ingest_message_fn on_message;
    wr_ingest_connection_fn on_connection; /* may be NULL */
    void *ctx;
};

/**
 * Create the client (not yet connected). Borrows params for the call.
 * Returns WR_OK, WR_E_INVAL (bad URI or arguments) or WR_E_NOMEM.
 */
int wr_ingest_create(const struct wr_ingest_params *params, struct wr_ingest **out);

/** Start connecting; Paho retries until wr_ingest_destroy. Returns WR_OK or WR_E_CONN. */
int wr_ingest_start(struct wr_ingest *ing);

/** True while connected and subscribed. Thread-safe. */
bool wr_ingest_connected(const struct wr_ingest *ing);

/**
 * Disconnect (waiting up to timeout_ms for in-flight acknowledgements) and
 * free. After it returns no callback runs. NULL does nothing.
 */
void wr_ingest_destroy(struct wr_ingest *ing, uint32_t timeout_ms);

#endif /* WR_INGEST_H */
