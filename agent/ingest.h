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
 *
 * Subscriptions follow the config, across restarts too: the filters the
 * session holds are remembered in the state directory (sub_record.h), and
 * on connect every remembered filter the config no longer has is
 * unsubscribed before the configured ones are subscribed. A reload makes a
 * new client (main.c rebuilds the links), so it goes the same way.
 */

struct wr_ingest;      /* defined by each implementation: the Paho one below, or a test's fake */
struct wr_ingest_sink; /* defined by whoever receives the messages (the pipeline) */

/**
 * Called on the source's thread (Paho's) for every message. Return true when
 * the message was taken (decoded and queued, or dropped and counted), false
 * to leave it with the source, which offers it again later. topic is not
 * NUL-terminated; both buffers are borrowed for the call.
 */
typedef bool (*wr_ingest_message_fn)(struct wr_ingest_sink *sink, const char *topic,
                                     size_t topic_len, const void *payload, size_t payload_len);

/** Called on the source's thread when the session comes up (subscribed) or goes down. */
typedef void (*wr_ingest_connection_fn)(struct wr_ingest_sink *sink, bool up);

struct wr_ingest_handlers {
    wr_ingest_message_fn message;
    wr_ingest_connection_fn connection; /* may be NULL */
    struct wr_ingest_sink *sink;
};

/* What the pipeline sees of its source: a typed interface, like struct wr_uplink_ops. */
struct wr_ingest_ops {
    /**
     * Start connecting; the source reconnects by itself until stop. handlers
     * is borrowed until stop returns. Returns WR_OK, WR_E_INVAL, WR_E_STATE
     * (started twice) or WR_E_CONN.
     */
    int (*start)(struct wr_ingest *ing, const struct wr_ingest_handlers *handlers);
    /**
     * Disconnect, waiting up to timeout_ms for in-flight acknowledgements;
     * after return no handler runs. Blocks, and may need the message
     * handler to return first: never call it from a thread the handler can
     * be waiting for. Idempotent.
     */
    void (*stop)(struct wr_ingest *ing, uint32_t timeout_ms);
};

/* ---- the Paho implementation ---------------------------------------------------------------- */

extern const struct wr_ingest_ops wr_ingest_paho_ops;

struct wr_ingest_params {
    const char *uri;
    const char *client_id;
    const char *username; /* NULL or "" for none */
    const char *password;
    uint32_t keepalive_s;
    int qos;
    const char *const *filters; /* topic filters to subscribe to */
    size_t n_filters;
    /* Where the session's subscriptions are remembered (sub_record.h); NULL or
     * "" for nowhere: then a filter removed from the config stays subscribed. */
    const char *state_dir;
    /* Paho's trace level, process-wide: "error" (NULL), "protocol", "minimum",
     * "medium", "maximum". Left alone while MQTT_C_CLIENT_TRACE is set. */
    const char *paho_trace;
};

/**
 * Create the client (not yet connected). Borrows params for the call. Reads
 * the session's subscription record from params->state_dir and, if the
 * config adds filters to it, writes it before returning (so the record
 * always holds every filter the session may have); an unreadable or
 * unwritable record is logged and does not fail the call.
 * Returns WR_OK, WR_E_INVAL (bad URI or arguments) or WR_E_NOMEM.
 */
int wr_ingest_create(const struct wr_ingest_params *params, struct wr_ingest **out);

/** True while connected and subscribed. Thread-safe. */
bool wr_ingest_connected(const struct wr_ingest *ing);

/** Stop (as wr_ingest_paho_ops.stop with timeout_ms) and free. NULL does nothing. */
void wr_ingest_destroy(struct wr_ingest *ing, uint32_t timeout_ms);

#endif /* WR_INGEST_H */
