#ifndef PLAT_TLS_H
#define PLAT_TLS_H

#include <stddef.h>
#include <stdint.h>

/*
 * TLS client sessions on mbedTLS, the only TLS stack Windrow links.
 *
 * Policy, not options: TLS 1.2 is the minimum, the server certificate is
 * always verified against ca_file (MBEDTLS_SSL_VERIFY_REQUIRED; there is no way
 * to turn that off), and the server's name is always checked. Failures come
 * back as one readable line in the caller's err buffer, e.g.
 *   "certificate unknown (not signed by the configured CA)"
 *   "server name mismatch: expected broker.example"
 *   "certificate expired"
 *   "handshake failed: <mbedTLS text>"
 *   "connection refused to host:port"
 *   "cannot load CA file X: <mbedTLS text>"
 *
 * The random generator is seeded from mbedtls_entropy once per process, on
 * the first connect, and shared (under a lock) by all sessions.
 */

struct plat_tls;

struct plat_tls_config {
    const char *ca_file;     /* PEM bundle of trusted CAs; required */
    const char *cert_file;   /* client certificate (PEM) for mutual TLS; NULL for none */
    const char *key_file;    /* its private key (PEM, unencrypted); NULL iff cert_file is NULL */
    const char *server_name; /* name expected in the server certificate and sent as SNI;
                                NULL or "" to use the host passed to plat_tls_connect */
};

/**
 * Open a TCP connection to host:port and complete a TLS handshake within
 * timeout_ms in total (name resolution excepted, it has no timeout).
 *
 * The expected name is cfg->server_name or else host. A DNS name is matched
 * against the certificate's DNS subjectAltNames (or CN when it has none); an
 * IPv4/IPv6 literal is matched against its IP-address subjectAltNames.
 *
 * Returns WR_OK with *out set, or:
 *   WR_E_INVAL   NULL cfg/host/out, empty host, port 0, timeout_ms 0, no ca_file,
 *                only one of cert_file/key_file
 *   WR_E_TLS     a file could not be loaded, the key does not match the
 *                certificate, the handshake failed (including a fatal alert
 *                from the server, e.g. because it rejected our certificate),
 *                or verification failed
 *   WR_E_CONN    name resolution failed, connection refused, unreachable, reset
 *   WR_E_TIMEOUT the TCP connect or the handshake did not finish in time
 *   WR_E_NOMEM   allocation failed
 * On failure *out is NULL and err (if not NULL and err_len > 0) holds the
 * reason, NUL-terminated and truncated to err_len. The original mbedTLS or
 * errno code is part of the text; nothing is logged here (the caller decides).
 * Thread-safe: sessions are independent. The returned session's socket is
 * non-blocking and close-on-exec.
 */
int plat_tls_connect(const struct plat_tls_config *cfg, const char *host, uint16_t port,
                     uint32_t timeout_ms, struct plat_tls **out, char *err, size_t err_len);

/**
 * Read up to len decrypted bytes without blocking.
 * Returns WR_OK with *n_out > 0, or:
 *   WR_E_EMPTY   nothing available now: poll plat_tls_fd() for POLLIN
 *   WR_E_CONN    the session is over (close_notify, EOF or reset)
 *   WR_E_TLS     a TLS protocol error (bad record, fatal alert)
 *   WR_E_INVAL   NULL argument or len 0
 * *n_out is 0 on every error.
 */
int plat_tls_read(struct plat_tls *t, void *buf, size_t len, size_t *n_out);

/**
 * Encrypt and send up to len bytes without blocking; may write fewer (one
 * record of at most 16 KiB per call).
 * Returns WR_OK with *n_out > 0 bytes taken, or:
 *   WR_E_EMPTY   the socket is full: poll plat_tls_fd() for POLLOUT, then call
 *                again with the SAME bytes (mbedTLS has already encrypted them
 *                and only finishes sending; it then reports them as taken)
 *   WR_E_CONN    the peer is gone
 *   WR_E_TLS     a TLS error
 *   WR_E_INVAL   NULL argument or len 0
 */
int plat_tls_write(struct plat_tls *t, const void *buf, size_t len, size_t *n_out);

/**
 * Decrypted bytes already held inside mbedTLS. poll() on the socket does not
 * see them, so a reader must drain these before it waits. 0 for NULL.
 */
size_t plat_tls_pending(const struct plat_tls *t);

/** The session's socket, for poll(); -1 for NULL. Owned by the session: do not close it. */
int plat_tls_fd(const struct plat_tls *t);

/** Send close_notify (best effort, never blocks), close the socket, free. NULL is a no-op. */
void plat_tls_close(struct plat_tls *t);

/**
 * Describe X.509 verification flags (MBEDTLS_X509_BADCERT_* / BADCRL_*, as
 * from mbedtls_ssl_get_verify_result) in words, several joined by "; ".
 * expected_name is quoted for a name mismatch (NULL prints "?").
 * Always NUL-terminates out when len > 0; flags 0 gives "certificate verified".
 */
void plat_tls_describe_verify_flags(uint32_t flags, const char *expected_name, char *out,
                                    size_t len);

/**
 * Describe a negative mbedTLS error code as "<mbedTLS text> (-0xNNNN)".
 * Always NUL-terminates out when len > 0.
 */
void plat_tls_describe_error(int mbedtls_rc, char *out, size_t len);

/**
 * Describe a TLS alert description code received from the server
 * (RFC 5246 section 7.2), e.g. 48 -> "unknown CA: the broker does not trust
 * our client certificate". Always NUL-terminates out when len > 0.
 */
void plat_tls_describe_alert(uint8_t alert, char *out, size_t len);

#endif /* PLAT_TLS_H */
