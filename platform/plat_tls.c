#define _GNU_SOURCE
#include "plat_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "plat_mem.h"
#include "plat_time.h"
#include "wr_error.h"

/* ASN.1 tag of an iPAddress GeneralName ([7] IMPLICIT OCTET STRING, RFC 5280 4.2.1.6). */
#define SAN_TAG_IP (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)

struct plat_tls {
    int fd;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    /* Length passed to the mbedtls_ssl_write call that returned WANT_WRITE (0: none). */
    size_t write_pending;
    /* Expected server identity, kept for error text and the IP check. */
    char expected[256];
    unsigned char expected_ip[16];
    size_t expected_ip_len; /* 4 or 16 when the expected name is an IP literal, else 0 */
};

/*
 * One DRBG for the process, seeded from the OS entropy once. Sessions on
 * different threads share it, so every draw takes the lock (mbedTLS's own
 * locking depends on how the library was configured; ours does not).
 */
static pthread_once_t rng_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static mbedtls_entropy_context rng_entropy;
static mbedtls_ctr_drbg_context rng_drbg;
static int rng_seed_rc;

static void rng_seed(void)
{
    static const unsigned char pers[] = "windrow-plat-tls";

    mbedtls_entropy_init(&rng_entropy);
    mbedtls_ctr_drbg_init(&rng_drbg);
    rng_seed_rc = mbedtls_ctr_drbg_seed(&rng_drbg, mbedtls_entropy_func, &rng_entropy, pers,
                                        sizeof(pers) - 1);
}

static int rng_draw(void *ctx, unsigned char *buf, size_t len)
{
    int rc;

    (void)ctx;
    pthread_mutex_lock(&rng_lock);
    rc = mbedtls_ctr_drbg_random(&rng_drbg, buf, len);
    pthread_mutex_unlock(&rng_lock);
    return rc;
}

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t err_len,
                                                          const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* "host:port", with brackets around an IPv6 literal. */
static void format_endpoint(const char *host, uint16_t port, char *out, size_t len)
{
    if (strchr(host, ':') != NULL)
        snprintf(out, len, "[%s]:%u", host, (unsigned)port);
    else
        snprintf(out, len, "%s:%u", host, (unsigned)port);
}

/* ---- error texts ------------------------------------------------------------------------ */

void plat_tls_describe_error(int mbedtls_rc, char *out, size_t len)
{
    char text[160];
    int code = mbedtls_rc < 0 ? -mbedtls_rc : mbedtls_rc;

    if (out == NULL || len == 0)
        return;
    mbedtls_strerror(mbedtls_rc, text, sizeof(text));
    snprintf(out, len, "%s (-0x%04X)", text, (unsigned)code);
}

struct flag_text {
    uint32_t flag;
    const char *text;
};

/* Ordered so that the cause an operator can act on comes first. */
static const struct flag_text verify_texts[] = {
    {MBEDTLS_X509_BADCERT_NOT_TRUSTED, "certificate unknown (not signed by the configured CA)"},
    {MBEDTLS_X509_BADCERT_CN_MISMATCH, NULL}, /* formatted with the expected name */
    {MBEDTLS_X509_BADCERT_EXPIRED, "certificate expired"},
    {MBEDTLS_X509_BADCERT_FUTURE, "certificate not yet valid (check the system clock)"},
    {MBEDTLS_X509_BADCERT_REVOKED, "certificate revoked"},
    {MBEDTLS_X509_BADCERT_MISSING, "the server sent no certificate"},
    {MBEDTLS_X509_BADCERT_SKIP_VERIFY, "certificate verification was skipped"},
    {MBEDTLS_X509_BADCERT_KEY_USAGE, "certificate key usage does not allow TLS server use"},
    {MBEDTLS_X509_BADCERT_EXT_KEY_USAGE,
     "certificate extended key usage does not allow TLS server use"},
    {MBEDTLS_X509_BADCERT_NS_CERT_TYPE, "certificate type does not allow TLS server use"},
    {MBEDTLS_X509_BADCERT_BAD_MD, "certificate signed with a disallowed hash algorithm"},
    {MBEDTLS_X509_BADCERT_BAD_PK, "certificate uses a disallowed public key algorithm"},
    {MBEDTLS_X509_BADCERT_BAD_KEY, "certificate key is too weak"},
    {MBEDTLS_X509_BADCERT_OTHER, "certificate rejected"},
    {MBEDTLS_X509_BADCRL_NOT_TRUSTED, "CRL not signed by the configured CA"},
    {MBEDTLS_X509_BADCRL_EXPIRED, "CRL expired"},
    {MBEDTLS_X509_BADCRL_FUTURE, "CRL not yet valid"},
    {MBEDTLS_X509_BADCRL_BAD_MD, "CRL signed with a disallowed hash algorithm"},
    {MBEDTLS_X509_BADCRL_BAD_PK, "CRL uses a disallowed public key algorithm"},
    {MBEDTLS_X509_BADCRL_BAD_KEY, "CRL key is too weak"},
};

/* Append s to out (capacity len, currently used bytes *pos), truncating safely. */
static void append(char *out, size_t len, size_t *pos, const char *s)
{
    int n;

    if (*pos >= len)
        return;
    n = snprintf(out + *pos, len - *pos, "%s", s);
    if (n > 0)
        *pos += (size_t)n;
}

void plat_tls_describe_verify_flags(uint32_t flags, const char *expected_name, char *out,
                                    size_t len)
{
    uint32_t known = 0;
    size_t pos = 0;
    size_t i;

    if (out == NULL || len == 0)
        return;
    out[0] = '\0';
    if (flags == 0) {
        append(out, len, &pos, "certificate verified");
        return;
    }
    for (i = 0; i < sizeof(verify_texts) / sizeof(verify_texts[0]); i++) {
        const struct flag_text *ft = &verify_texts[i];

        known |= ft->flag;
        if ((flags & ft->flag) == 0)
            continue;
        if (pos > 0)
            append(out, len, &pos, "; ");
        if (ft->text != NULL) {
            append(out, len, &pos, ft->text);
        } else {
            char buf[300];

            snprintf(buf, sizeof(buf), "server name mismatch: expected %s",
                     expected_name != NULL ? expected_name : "?");
            append(out, len, &pos, buf);
        }
    }
    if ((flags & ~known) != 0) {
        char buf[64];

        snprintf(buf, sizeof(buf), "certificate verification failed (flags 0x%08X)",
                 (unsigned)(flags & ~known));
        if (pos > 0)
            append(out, len, &pos, "; ");
        append(out, len, &pos, buf);
    }
}

/* RFC 5246 section 7.2 and RFC 8446 section 6 alert descriptions, worded for an operator. */
static const struct {
    uint8_t code;
    const char *text;
} alert_texts[] = {
    {10, "unexpected message"},
    {20, "bad record MAC"},
    {40, "handshake failure: no common parameters, or the broker requires a client "
         "certificate that was not sent"},
    {42, "bad certificate: the broker rejected our client certificate"},
    {43, "unsupported certificate: the broker rejected our client certificate"},
    {44, "certificate revoked: the broker rejected our client certificate"},
    {45, "certificate expired: the broker rejected our client certificate"},
    {46, "certificate unknown: the broker rejected our client certificate"},
    {47, "illegal parameter"},
    {48, "unknown CA: the broker does not trust our client certificate"},
    {49, "access denied"},
    {50, "decode error"},
    {51, "decrypt error"},
    {70, "protocol version not supported by the broker"},
    {71, "insufficient security: no cipher suite acceptable to the broker"},
    {80, "internal error in the broker"},
    {90, "user canceled"},
    {112, "unrecognized name: the broker does not serve that server name"},
    {116, "certificate required: the broker needs a client certificate"},
};

void plat_tls_describe_alert(uint8_t alert, char *out, size_t len)
{
    const char *text = "unknown alert";
    size_t i;

    if (out == NULL || len == 0)
        return;
    for (i = 0; i < sizeof(alert_texts) / sizeof(alert_texts[0]); i++) {
        if (alert_texts[i].code == alert)
            text = alert_texts[i].text;
    }
    snprintf(out, len, "%s (alert %u)", text, (unsigned)alert);
}

/* ---- socket layer ----------------------------------------------------------------------- */

/*
 * Our own BIO callbacks rather than mbedtls_net_*: send() with MSG_NOSIGNAL so
 * a broker that vanishes cannot kill the agent with SIGPIPE.
 */
static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    const struct plat_tls *t = ctx;
    ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL);

    if (n >= 0)
        return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    if (errno == EPIPE || errno == ECONNRESET)
        return MBEDTLS_ERR_NET_CONN_RESET;
    return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    const struct plat_tls *t = ctx;
    ssize_t n = recv(t->fd, buf, len, 0);

    if (n >= 0)
        return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (errno == ECONNRESET)
        return MBEDTLS_ERR_NET_CONN_RESET;
    return MBEDTLS_ERR_NET_RECV_FAILED;
}

static int remaining_ms(uint64_t deadline_ms)
{
    uint64_t now = plat_time_mono_ms();

    if (now >= deadline_ms)
        return 0;
    return deadline_ms - now > (uint64_t)INT32_MAX ? INT32_MAX : (int)(deadline_ms - now);
}

/* Wait for events on fd until the deadline. Returns WR_OK or WR_E_TIMEOUT. */
static int wait_fd(int fd, short events, uint64_t deadline_ms)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events, .revents = 0};
        int left = remaining_ms(deadline_ms);
        int n;

        if (left == 0)
            return WR_E_TIMEOUT;
        n = poll(&pfd, 1, left);
        if (n > 0)
            return WR_OK;
        if (n < 0 && errno != EINTR)
            return WR_OK; /* let the caller's next I/O call report the real error */
    }
}

/* Non-blocking connect to one address; returns WR_OK, WR_E_TIMEOUT or WR_E_CONN (*err_no). */
static int connect_one(const struct addrinfo *ai, uint64_t deadline_ms, int *fd_out, int *err_no)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    int so_err = 0;
    socklen_t so_len = sizeof(so_err);
    int rc;

    if (fd < 0) {
        *err_no = errno;
        return WR_E_CONN;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            *err_no = errno;
            close(fd);
            return WR_E_CONN;
        }
        rc = wait_fd(fd, POLLOUT, deadline_ms);
        if (rc != WR_OK) {
            close(fd);
            return rc;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_err, &so_len) != 0)
            so_err = errno;
        if (so_err != 0) {
            *err_no = so_err;
            close(fd);
            return WR_E_CONN;
        }
    }
    *fd_out = fd;
    return WR_OK;
}

static int connect_tcp(const char *host, uint16_t port, uint32_t timeout_ms, uint64_t deadline_ms,
                       int *fd_out, char *err, size_t err_len)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    struct addrinfo *ai;
    char service[8];
    char endpoint[300];
    int last_errno = 0;
    int rc = WR_E_CONN;
    int gai;

    format_endpoint(host, port, endpoint, sizeof(endpoint));
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        set_err(err, err_len, "cannot resolve %s: %s", host, gai_strerror(gai));
        return WR_E_CONN;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        rc = connect_one(ai, deadline_ms, fd_out, &last_errno);
        if (rc == WR_OK || rc == WR_E_TIMEOUT)
            break;
    }
    freeaddrinfo(res);
    if (rc == WR_E_TIMEOUT)
        set_err(err, err_len, "connect to %s timed out after %u ms", endpoint,
                (unsigned)timeout_ms);
    else if (rc != WR_OK && last_errno == ECONNREFUSED)
        set_err(err, err_len, "connection refused to %s", endpoint);
    else if (rc != WR_OK)
        set_err(err, err_len, "cannot connect to %s: %s", endpoint, strerror(last_errno));
    return rc;
}

/* ---- session ---------------------------------------------------------------------------- */

/*
 * mbedTLS 2.28 matches only DNS names, so an IP literal is checked here
 * against the leaf's iPAddress subjectAltNames, failing the chain the same way
 * mbedTLS does for a DNS mismatch.
 */
static int verify_ip_san(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    const struct plat_tls *t = ctx;
    const mbedtls_x509_sequence *san;

    if (depth != 0)
        return 0;
    for (san = &crt->subject_alt_names; san != NULL; san = san->next) {
        if (san->buf.tag == SAN_TAG_IP && san->buf.len == t->expected_ip_len &&
            memcmp(san->buf.p, t->expected_ip, t->expected_ip_len) == 0)
            return 0;
    }
    *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    return 0;
}

static int load_files(struct plat_tls *t, const struct plat_tls_config *cfg, char *err,
                      size_t err_len)
{
    char why[200];
    int mrc;

    mrc = mbedtls_x509_crt_parse_file(&t->ca, cfg->ca_file);
    /* A positive count means some certificates of a bundle were skipped; the rest load. */
    if (mrc < 0) {
        plat_tls_describe_error(mrc, why, sizeof(why));
        set_err(err, err_len, "cannot load CA file %s: %s", cfg->ca_file, why);
        return WR_E_TLS;
    }
    if (cfg->cert_file == NULL)
        return WR_OK;
    mrc = mbedtls_x509_crt_parse_file(&t->cert, cfg->cert_file);
    if (mrc != 0) {
        plat_tls_describe_error(mrc < 0 ? mrc : MBEDTLS_ERR_X509_INVALID_FORMAT, why, sizeof(why));
        set_err(err, err_len, "cannot load client certificate %s: %s", cfg->cert_file, why);
        return WR_E_TLS;
    }
    mrc = mbedtls_pk_parse_keyfile(&t->key, cfg->key_file, NULL);
    if (mrc != 0) {
        plat_tls_describe_error(mrc, why, sizeof(why));
        set_err(err, err_len, "cannot load client key %s: %s", cfg->key_file, why);
        return WR_E_TLS;
    }
    mrc = mbedtls_pk_check_pair(&t->cert.pk, &t->key);
    if (mrc != 0) {
        set_err(err, err_len, "client key %s does not match certificate %s", cfg->key_file,
                cfg->cert_file);
        return WR_E_TLS;
    }
    return WR_OK;
}

static int setup_ssl(struct plat_tls *t, const struct plat_tls_config *cfg, char *err,
                     size_t err_len)
{
    char why[200];
    int mrc;

    mrc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT);
    if (mrc != 0)
        goto fail;
    mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
    mbedtls_ssl_conf_rng(&t->conf, rng_draw, NULL);
    if (t->expected_ip_len > 0)
        mbedtls_ssl_conf_verify(&t->conf, verify_ip_san, t);
    if (cfg->cert_file != NULL) {
        mrc = mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &t->key);
        if (mrc != 0)
            goto fail;
    }
    mrc = mbedtls_ssl_setup(&t->ssl, &t->conf);
    if (mrc != 0)
        goto fail;
    /*
     * A DNS name is checked by mbedTLS and sent as SNI. An IP literal is not a
     * valid SNI value (RFC 6066 section 3) and is checked by verify_ip_san.
     */
    mrc = mbedtls_ssl_set_hostname(&t->ssl, t->expected_ip_len > 0 ? NULL : t->expected);
    if (mrc != 0)
        goto fail;
    mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
    return WR_OK;
fail:
    plat_tls_describe_error(mrc, why, sizeof(why));
    set_err(err, err_len, "TLS setup failed: %s", why);
    return mrc == MBEDTLS_ERR_SSL_ALLOC_FAILED ? WR_E_NOMEM : WR_E_TLS;
}

static void describe_handshake_failure(struct plat_tls *t, int mrc, const char *endpoint, char *err,
                                       size_t err_len)
{
    char why[300];

    if (mrc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        plat_tls_describe_verify_flags(mbedtls_ssl_get_verify_result(&t->ssl), t->expected, why,
                                       sizeof(why));
        set_err(err, err_len, "%s", why);
    } else if (mrc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE &&
               t->ssl.in_msgtype == MBEDTLS_SSL_MSG_ALERT && t->ssl.in_msglen >= 2) {
        /* mbedTLS keeps the alert record in in_msg: [level, description]. */
        plat_tls_describe_alert(t->ssl.in_msg[1], why, sizeof(why));
        /* Asked for a certificate we do not have: say so whichever of the
         * server's alert or its reset reaches us first (see below). */
        if (t->ssl.client_auth != 0 && mbedtls_pk_get_type(&t->key) == MBEDTLS_PK_NONE)
            set_err(err, err_len,
                    "handshake failed: %s requires a client certificate and none is "
                    "configured (it sent %s)",
                    endpoint, why);
        else
            set_err(err, err_len, "handshake failed: %s sent %s", endpoint, why);
    } else if ((mrc == MBEDTLS_ERR_SSL_CONN_EOF || mrc == MBEDTLS_ERR_NET_CONN_RESET) &&
               t->ssl.client_auth != 0 && t->ssl.state > MBEDTLS_SSL_CLIENT_CERTIFICATE) {
        /*
         * The server asked for a client certificate and hung up after our
         * reply. Its alert usually saying why is lost: it closes with our
         * later handshake records unread, so its kernel sends a reset that
         * discards the alert before we can read it.
         */
        plat_tls_describe_error(mrc, why, sizeof(why));
        if (mbedtls_pk_get_type(&t->key) != MBEDTLS_PK_NONE)
            set_err(err, err_len,
                    "handshake failed: %s closed the connection after receiving our client "
                    "certificate; the broker does not accept it (%s)",
                    endpoint, why);
        else
            set_err(err, err_len,
                    "handshake failed: %s requires a client certificate and none is "
                    "configured (%s)",
                    endpoint, why);
    } else if (mrc == MBEDTLS_ERR_SSL_CONN_EOF || mrc == MBEDTLS_ERR_NET_CONN_RESET) {
        plat_tls_describe_error(mrc, why, sizeof(why));
        set_err(err, err_len, "handshake failed: %s closed the connection: %s", endpoint, why);
    } else {
        plat_tls_describe_error(mrc, why, sizeof(why));
        set_err(err, err_len, "handshake failed: %s", why);
    }
}

static int handshake(struct plat_tls *t, const char *endpoint, uint32_t timeout_ms,
                     uint64_t deadline_ms, char *err, size_t err_len)
{
    for (;;) {
        int mrc = mbedtls_ssl_handshake(&t->ssl);
        int rc;

        if (mrc == 0)
            return WR_OK;
        if (mrc != MBEDTLS_ERR_SSL_WANT_READ && mrc != MBEDTLS_ERR_SSL_WANT_WRITE) {
            describe_handshake_failure(t, mrc, endpoint, err, err_len);
            return mrc == MBEDTLS_ERR_SSL_ALLOC_FAILED ? WR_E_NOMEM : WR_E_TLS;
        }
        rc = wait_fd(t->fd, mrc == MBEDTLS_ERR_SSL_WANT_READ ? POLLIN : POLLOUT, deadline_ms);
        if (rc != WR_OK) {
            set_err(err, err_len, "TLS handshake with %s timed out after %u ms", endpoint,
                    (unsigned)timeout_ms);
            return rc;
        }
    }
}

static void set_expected(struct plat_tls *t, const struct plat_tls_config *cfg, const char *host)
{
    const char *name =
        (cfg->server_name != NULL && cfg->server_name[0] != '\0') ? cfg->server_name : host;

    snprintf(t->expected, sizeof(t->expected), "%s", name);
    if (inet_pton(AF_INET, t->expected, t->expected_ip) == 1)
        t->expected_ip_len = 4;
    else if (inet_pton(AF_INET6, t->expected, t->expected_ip) == 1)
        t->expected_ip_len = 16;
}

int plat_tls_connect(const struct plat_tls_config *cfg, const char *host, uint16_t port,
                     uint32_t timeout_ms, struct plat_tls **out, char *err, size_t err_len)
{
    struct plat_tls *t = NULL;
    char endpoint[300];
    uint64_t deadline_ms;
    int one = 1;
    int rc;

    if (err != NULL && err_len > 0)
        err[0] = '\0';
    if (out != NULL)
        *out = NULL;
    if (cfg == NULL || host == NULL || host[0] == '\0' || port == 0 || timeout_ms == 0 ||
        out == NULL) {
        set_err(err, err_len, "invalid argument");
        return WR_E_INVAL;
    }
    if (cfg->ca_file == NULL || cfg->ca_file[0] == '\0') {
        set_err(err, err_len, "no CA file configured: server verification is mandatory");
        return WR_E_INVAL;
    }
    if ((cfg->cert_file == NULL) != (cfg->key_file == NULL)) {
        set_err(err, err_len, "cert_file and key_file must be given together");
        return WR_E_INVAL;
    }
    deadline_ms = plat_time_mono_ms() + timeout_ms;
    format_endpoint(host, port, endpoint, sizeof(endpoint));

    pthread_once(&rng_once, rng_seed);
    if (rng_seed_rc != 0) {
        char why[200];

        plat_tls_describe_error(rng_seed_rc, why, sizeof(why));
        set_err(err, err_len, "cannot seed the random generator: %s", why);
        return WR_E_TLS;
    }

    t = plat_calloc(1, sizeof(*t));
    if (t == NULL) {
        set_err(err, err_len, "out of memory");
        return WR_E_NOMEM;
    }
    t->fd = -1;
    mbedtls_ssl_init(&t->ssl);
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->ca);
    mbedtls_x509_crt_init(&t->cert);
    mbedtls_pk_init(&t->key);
    set_expected(t, cfg, host);

    rc = load_files(t, cfg, err, err_len);
    if (rc != WR_OK)
        goto fail;
    rc = setup_ssl(t, cfg, err, err_len);
    if (rc != WR_OK)
        goto fail;
    rc = connect_tcp(host, port, timeout_ms, deadline_ms, &t->fd, err, err_len);
    if (rc != WR_OK)
        goto fail;
    /* MQTT packets are small and latency matters more than segment count. */
    setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    rc = handshake(t, endpoint, timeout_ms, deadline_ms, err, err_len);
    if (rc != WR_OK)
        goto fail;
    *out = t;
    return WR_OK;
fail:
    plat_tls_close(t);
    return rc;
}

int plat_tls_read(struct plat_tls *t, void *buf, size_t len, size_t *n_out)
{
    int mrc;

    if (n_out != NULL)
        *n_out = 0;
    if (t == NULL || buf == NULL || len == 0 || n_out == NULL)
        return WR_E_INVAL;
    mrc = mbedtls_ssl_read(&t->ssl, buf, len);
    if (mrc > 0) {
        *n_out = (size_t)mrc;
        return WR_OK;
    }
    switch (mrc) {
    case MBEDTLS_ERR_SSL_WANT_READ:
    case MBEDTLS_ERR_SSL_WANT_WRITE:
        return WR_E_EMPTY;
    case 0:
    case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
    case MBEDTLS_ERR_SSL_CONN_EOF:
    case MBEDTLS_ERR_NET_CONN_RESET:
    case MBEDTLS_ERR_NET_RECV_FAILED:
        return WR_E_CONN;
    default:
        return WR_E_TLS;
    }
}

int plat_tls_write(struct plat_tls *t, const void *buf, size_t len, size_t *n_out)
{
    int mrc;

    if (n_out != NULL)
        *n_out = 0;
    if (t == NULL || buf == NULL || len == 0 || n_out == NULL)
        return WR_E_INVAL;
    /*
     * After WANT_WRITE mbedTLS has already encrypted the record and must be
     * called again with the same length to finish sending it (it then returns
     * that length). Retrying with more bytes would report bytes as sent that
     * never were, so the retry length is pinned here.
     */
    if (t->write_pending > 0) {
        if (len < t->write_pending)
            return WR_E_INVAL;
        len = t->write_pending;
    }
    mrc = mbedtls_ssl_write(&t->ssl, buf, len);
    if (mrc > 0) {
        t->write_pending = 0;
        *n_out = (size_t)mrc;
        return WR_OK;
    }
    switch (mrc) {
    case MBEDTLS_ERR_SSL_WANT_READ:
    case MBEDTLS_ERR_SSL_WANT_WRITE:
        t->write_pending = len;
        return WR_E_EMPTY;
    case MBEDTLS_ERR_NET_CONN_RESET:
    case MBEDTLS_ERR_NET_SEND_FAILED:
        return WR_E_CONN;
    default:
        return WR_E_TLS;
    }
}

size_t plat_tls_pending(const struct plat_tls *t)
{
    return t != NULL ? mbedtls_ssl_get_bytes_avail(&t->ssl) : 0;
}

int plat_tls_fd(const struct plat_tls *t)
{
    return t != NULL ? t->fd : -1;
}

void plat_tls_close(struct plat_tls *t)
{
    if (t == NULL)
        return;
    if (t->fd >= 0) {
        /* One non-blocking attempt: a peer that does not read cannot stall shutdown. */
        if (t->ssl.state == MBEDTLS_SSL_HANDSHAKE_OVER)
            (void)mbedtls_ssl_close_notify(&t->ssl);
        close(t->fd);
    }
    mbedtls_ssl_free(&t->ssl);
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_x509_crt_free(&t->ca);
    mbedtls_x509_crt_free(&t->cert);
    mbedtls_pk_free(&t->key);
    plat_free(t);
}
