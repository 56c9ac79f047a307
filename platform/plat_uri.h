#ifndef PLAT_URI_H
#define PLAT_URI_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Broker URIs as they appear in the config: "scheme://host[:port]".
 *
 *   tcp://, mqtt://    plain MQTT, default port 1883
 *   ssl://, mqtts://   MQTT over TLS, default port 8883
 *
 * host is a DNS name or IPv4 literal ([A-Za-z0-9._-]), or an IPv6 literal in
 * brackets ("[::1]"). The scheme is matched without regard to case. Nothing
 * else is accepted: no user info, no path (not even a trailing "/"), no query,
 * no IPv6 zone, no port 0, no port above 65535.
 */

#define PLAT_URI_SCHEME_MAX 8
#define PLAT_URI_HOST_MAX 256

struct plat_uri {
    char scheme[PLAT_URI_SCHEME_MAX]; /* lower case: "tcp", "mqtt", "ssl" or "mqtts" */
    char host[PLAT_URI_HOST_MAX];     /* IPv6 literals without the brackets */
    uint16_t port;                    /* explicit port, or the scheme's default */
    bool tls;                         /* true for ssl:// and mqtts:// */
};

/**
 * Parse uri into *out.
 * Returns WR_OK, or WR_E_INVAL (NULL argument, unknown scheme, empty or
 * malformed host, host longer than PLAT_URI_HOST_MAX - 1 bytes, bad port,
 * trailing characters). On error *out is zeroed. Pure function; thread-safe.
 */
int plat_uri_parse(const char *uri, struct plat_uri *out);

#endif /* PLAT_URI_H */
