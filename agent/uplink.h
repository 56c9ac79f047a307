#ifndef WR_UPLINK_H
#define WR_UPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The upstream link, as the pipeline sees it: a typed interface (struct
 * wr_uplink_ops) over an incomplete struct wr_uplink that each implementation
 * defines for itself, like coreMQTT's transport interface and its
 * NetworkContext. The real one below is a Paho MQTTAsync client; the
 * pipeline's unit test defines a fake.
 *
 * Every operation the pipeline calls returns at once: it copies what it is
 * given into the link's bounded mailbox and never waits for the network or
 * for Paho. Paho's callback for the local broker runs under Paho's
 * process-wide mutex and may be waiting for the pipeline to make queue room,
 * so a pipeline that called into Paho could wait for that callback while it
 * waits for the pipeline (docs/decisions.md). Reports (acknowledgements,
 * connection changes) come back through struct wr_uplink_reports, on any
 * thread, and must not block either.
 */

struct wr_uplink;       /* defined by each implementation */
struct wr_uplink_sink;  /* defined by whoever receives the reports (the pipeline) */
struct wr_uplink_inbox; /* defined by whoever takes messages from the subscribed topic */

/*
 * Where messages published to the link's subscribed topic go (fleet pushes,
 * agent/fleet_inbox.h). message runs on Paho's thread, under Paho's
 * process-wide mutex: it copies what it keeps from the borrowed payload and
 * returns at once, never waiting for a thread that calls Paho.
 */
struct wr_uplink_inbound {
    void (*message)(struct wr_uplink_inbox *inbox, const void *payload, size_t len);
    struct wr_uplink_inbox *inbox;
};

struct wr_uplink_reports {
    /** The message published with tag was acknowledged (ok) or will not be (failed, lost). */
    void (*acked)(struct wr_uplink_sink *sink, uint32_t tag, bool ok);
    /** The connection came up or went down. */
    void (*connection)(struct wr_uplink_sink *sink, bool up);
    struct wr_uplink_sink *sink;
};

struct wr_uplink_ops {
    /**
     * Start connecting, and reconnecting with backoff, in the background.
     * reports is borrowed until stop returns. Returns WR_OK, WR_E_STATE
     * (started twice) or WR_E_NOMEM.
     */
    int (*start)(struct wr_uplink *up, const struct wr_uplink_reports *reports);
    /**
     * Queue one message for publishing with the configured QoS; topic and
     * payload are copied. Exactly one acked(tag) report follows for each
     * WR_OK. Returns WR_OK, WR_E_INVAL, WR_E_STATE (not connected),
     * WR_E_FULL (max_inflight messages queued or unacknowledged) or
     * WR_E_NOMEM. Never blocks.
     */
    int (*publish)(struct wr_uplink *up, const char *topic, const void *payload, size_t len,
                   uint32_t tag);
    /**
     * Publish a status message (QoS 0, retained, untracked); a newer one
     * replaces one not yet sent. Returns WR_OK, WR_E_INVAL, WR_E_STATE or WR_E_NOMEM.
     * Never blocks.
     */
    int (*publish_status)(struct wr_uplink *up, const char *topic, const void *payload, size_t len);
    /**
     * Publish a report that must not be lost to a disconnect (a fleet
     * outcome on windrow/{agent}/config/state): QoS 1, retained, untracked,
     * kept until a connection has it acknowledged, sent again after a
     * reconnect if it was not; a newer report replaces one not yet
     * acknowledged. Accepted before start and while disconnected; stop
     * gives one not yet sent a last chance (bounded by its timeout).
     * Returns WR_OK, WR_E_INVAL or WR_E_NOMEM. Never blocks.
     */
    int (*publish_report)(struct wr_uplink *up, const char *topic, const void *payload,
                          size_t len);
    /** True while a report waits for its acknowledgement (e.g. after stop). Thread-safe. */
    bool (*report_pending)(const struct wr_uplink *up);
    /** True while connected. Thread-safe. */
    bool (*connected)(const struct wr_uplink *up);
    /**
     * Stop: messages not yet handed to the network are reported failed, the
     * connection is closed (waiting up to timeout_ms for it), and after
     * return no report is made. Idempotent; a link never started is fine.
     */
    void (*stop)(struct wr_uplink *up, uint32_t timeout_ms);
};

/* ---- the Paho implementation ---------------------------------------------------------------- */

/*
 * A Paho MQTTAsync client that publishes encoded batches with QoS 1, driven
 * by one thread of its own ("wr-uplink") that makes every Paho call for this
 * client: connect, reconnect (exponential backoff with jitter, so a fleet
 * does not reconnect in lockstep), publish, subscribe, disconnect. It speaks
 * plain MQTT to the URI it is given; for TLS that URI is the in-process bridge
 * (platform/plat_bridge.h). The session is clean: the outbox, not Paho, is
 * what remembers unacknowledged results, so after a reconnect the forwarder
 * resends from the outbox, and the fleet config topic is subscribed again on
 * every connection (its retained message then arrives again; the fleet
 * module recognises what it has already applied).
 */

extern const struct wr_uplink_ops wr_uplink_paho_ops;

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
    /* Status topic: the broker keeps WR_UPLINK_OFFLINE retained on it when the
     * connection dies (Last Will), and a clean stop publishes the same. NULL or
     * "" for none. Status messages are published retained. */
    const char *will_topic;
    /* Fleet pushes: subscribed with QoS 1 on every connection (the session is
     * clean), and what arrives on it is handed to inbound. NULL or "": none. */
    const char *subscribe_topic;
    const struct wr_uplink_inbound *inbound; /* borrowed; must outlive the link */
};

#define WR_UPLINK_OFFLINE "offline"

/** Create (not connected, no thread yet). Returns WR_OK, WR_E_INVAL or WR_E_NOMEM. Borrows params.
 */
int wr_uplink_create(const struct wr_uplink_params *params, struct wr_uplink **out);

/** Stop (as wr_uplink_paho_ops.stop with timeout_ms) and free. NULL does nothing. */
void wr_uplink_destroy(struct wr_uplink *up, uint32_t timeout_ms);

#endif /* WR_UPLINK_H */
