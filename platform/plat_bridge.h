#ifndef PLAT_BRIDGE_H
#define PLAT_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#include "plat_tls.h"

/*
 * Loopback bridge between Paho (plain tcp://) and a TLS session with the real
 * upstream broker, so that Paho never needs a TLS stack of its own.
 *
 * The bridge listens on 127.0.0.1 on an ephemeral port. A connection made by
 * this very process is accepted: the bridge opens a TLS session to the
 * upstream broker (plat_tls_connect) and relays bytes both ways until either
 * side closes, then closes both. A connection from any other process is
 * refused and logged. "This process" is checked through the kernel's view: the
 * peer's TCP socket is looked up by its addresses in /proc/net/tcp and tcp6,
 * and its inode must be one of the sockets in /proc/self/fd.
 *
 * One pair at a time: a new accepted connection replaces the current pair
 * (that is what a Paho reconnect looks like). If the TLS session cannot be
 * opened the accepted socket is closed at once, so Paho sees a failed connect
 * and runs its own retry logic; the reason is reported to on_event and kept
 * for plat_bridge_last_error. MQTT itself (keepalive, QoS, reconnect) stays
 * entirely Paho's business.
 *
 * One relay thread does everything (accept, TLS connect, relay) with poll().
 */

struct plat_bridge;

enum plat_bridge_event {
    PLAT_BRIDGE_TLS_UP,          /* detail: "host:port" of the upstream broker */
    PLAT_BRIDGE_TLS_FAILED,      /* detail: readable reason, as from plat_tls_connect */
    PLAT_BRIDGE_FOREIGN_REFUSED, /* detail: "127.0.0.1:port (reason)" of the refused peer */
    PLAT_BRIDGE_CLOSED,          /* detail: which side ended the relayed session, and how */
};

/** Short name of an event ("tls_up", "tls_failed", "foreign_refused", "closed"). */
const char *plat_bridge_event_name(enum plat_bridge_event ev);

/**
 * Event callback. Runs on the relay thread: keep it short, copy detail if it
 * is needed later (it is valid only during the call), and never call
 * plat_bridge_stop from it.
 */
typedef void (*plat_bridge_event_fn)(void *ctx, enum plat_bridge_event ev, const char *detail);

struct plat_bridge_config {
    const char *host;              /* upstream broker host (DNS name or IP literal) */
    uint16_t port;                 /* upstream broker port */
    struct plat_tls_config tls;    /* trust anchors, client certificate, expected name */
    uint32_t connect_timeout_ms;   /* TCP connect + handshake budget; 0 means 10000 */
    plat_bridge_event_fn on_event; /* optional */
    void *event_ctx;               /* passed to on_event */
};

/**
 * Start listening and start the relay thread. All strings in cfg are copied.
 * Returns WR_OK with *out set, or:
 *   WR_E_INVAL  NULL cfg/out, empty host, port 0, no tls.ca_file, only one of
 *               tls.cert_file / tls.key_file
 *   WR_E_NOMEM  allocation failed
 *   WR_E_IO     socket, bind, listen, pipe or thread creation failed (logged)
 * The files are read at each TLS connect, not here, so a bad CA path shows up
 * as PLAT_BRIDGE_TLS_FAILED (and in plat_bridge_last_error).
 */
int plat_bridge_start(const struct plat_bridge_config *cfg, struct plat_bridge **out);

/** The loopback port Paho should connect to ("tcp://127.0.0.1:<port>"); 0 for NULL. */
uint16_t plat_bridge_port(const struct plat_bridge *b);

/**
 * Copy the reason of the last TLS failure or refusal into buf (NUL-terminated,
 * truncated to len). Returns WR_OK, WR_E_EMPTY (nothing has failed yet; buf is
 * "") or WR_E_INVAL (NULL b or buf, len 0). Thread-safe.
 */
int plat_bridge_last_error(struct plat_bridge *b, char *buf, size_t len);

/**
 * Stop the relay thread, close every socket and free b. Waits for a TLS
 * connect in progress to finish (at most connect_timeout_ms). NULL is a no-op.
 * Call from the thread that owns b, never from on_event.
 */
void plat_bridge_stop(struct plat_bridge *b);

#endif /* PLAT_BRIDGE_H */
