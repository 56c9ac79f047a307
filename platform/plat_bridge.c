#define _GNU_SOURCE
#include "plat_bridge.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include "plat_log.h"
#include "plat_mem.h"
#include "wr_error.h"

#define LOG_MODULE "tls-bridge"
#define RELAY_BUF_BYTES 16384u /* one full TLS record */
#define DEFAULT_TIMEOUT_MS 10000u

struct plat_bridge {
    /* Configuration, owned copies. */
    char *host;
    uint16_t port;
    char *ca_file;
    char *cert_file;
    char *key_file;
    char *server_name;
    struct plat_tls_config tls; /* points at the copies above */
    uint32_t timeout_ms;
    plat_bridge_event_fn on_event;
    void *event_ctx;

    int listen_fd;
    uint16_t listen_port;
    int wake_rd; /* a byte here asks the relay thread to stop */
    int wake_wr;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t lock; /* guards last_error */
    bool lock_ready;
    char last_error[512];

    /*
     * The relayed pair, touched only by the relay thread. Each buffer holds
     * bytes read from one side and not yet fully written to the other; a side
     * is read only when its buffer is empty, so each direction keeps its order
     * and backpressure reaches the sender through TCP.
     */
    int local_fd;
    struct plat_tls *session;
    unsigned char up[RELAY_BUF_BYTES]; /* Paho -> broker */
    size_t up_len;
    size_t up_off;
    unsigned char down[RELAY_BUF_BYTES]; /* broker -> Paho */
    size_t down_len;
    size_t down_off;
};

const char *plat_bridge_event_name(enum plat_bridge_event ev)
{
    switch (ev) {
    case PLAT_BRIDGE_TLS_UP:
        return "tls_up";
    case PLAT_BRIDGE_TLS_FAILED:
        return "tls_failed";
    case PLAT_BRIDGE_FOREIGN_REFUSED:
        return "foreign_refused";
    case PLAT_BRIDGE_CLOSED:
        return "closed";
    }
    return "unknown";
}

static void emit(struct plat_bridge *b, enum plat_bridge_event ev, const char *detail)
{
    if (b->on_event != NULL)
        b->on_event(b->event_ctx, ev, detail);
}

static void set_last_error(struct plat_bridge *b, const char *text)
{
    pthread_mutex_lock(&b->lock);
    snprintf(b->last_error, sizeof(b->last_error), "%s", text);
    pthread_mutex_unlock(&b->lock);
}

/* ---- own-process check ------------------------------------------------------------------ */

/*
 * Inode of the TCP socket whose local end is `self` and remote end `remote`,
 * from /proc/net/tcp. The kernel prints an IPv4 address as the %08X of its
 * network-order 32-bit value read in host order, i.e. the raw s_addr, and the
 * port in host order. Returns true and sets *inode when found.
 */
static bool find_inode_tcp4(const struct sockaddr_in *self, const struct sockaddr_in *remote,
                            unsigned long *inode)
{
    FILE *f = fopen("/proc/net/tcp", "re");
    char line[512];
    bool found = false;

    if (f == NULL)
        return false;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        unsigned int la;
        unsigned int lp;
        unsigned int ra;
        unsigned int rp;
        unsigned long ino;

        if (sscanf(line, " %*u: %8X:%4X %8X:%4X %*X %*X:%*X %*X:%*X %*X %*u %*u %lu", &la, &lp, &ra,
                   &rp, &ino) != 5)
            continue;
        if ((uint32_t)la == self->sin_addr.s_addr && lp == ntohs(self->sin_port) &&
            (uint32_t)ra == remote->sin_addr.s_addr && rp == ntohs(remote->sin_port)) {
            *inode = ino;
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* 32 hex digits as printed for tcp6: four host-order 32-bit words of the raw address. */
static bool parse_addr6(const char *hex, uint32_t words[4])
{
    int i;

    if (strlen(hex) != 32)
        return false;
    for (i = 0; i < 4; i++) {
        char part[9];
        unsigned int v;

        memcpy(part, hex + 8 * i, 8);
        part[8] = '\0';
        if (sscanf(part, "%8X", &v) != 1)
            return false;
        words[i] = (uint32_t)v;
    }
    return true;
}

/* An IPv4 address as a dual-stack socket shows it: ::ffff:a.b.c.d, as raw words. */
static void mapped_words(const struct sockaddr_in *sin, uint32_t words[4])
{
    struct in6_addr a6;

    memset(&a6, 0, sizeof(a6));
    a6.s6_addr[10] = 0xff;
    a6.s6_addr[11] = 0xff;
    memcpy(&a6.s6_addr[12], &sin->sin_addr.s_addr, 4);
    memcpy(words, a6.s6_addr, 16);
}

/* Same as find_inode_tcp4 for a dual-stack socket that connected to our IPv4 listener. */
static bool find_inode_tcp6(const struct sockaddr_in *self, const struct sockaddr_in *remote,
                            unsigned long *inode)
{
    FILE *f = fopen("/proc/net/tcp6", "re");
    char line[512];
    uint32_t want_l[4];
    uint32_t want_r[4];
    bool found = false;

    if (f == NULL)
        return false;
    mapped_words(self, want_l);
    mapped_words(remote, want_r);
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        char lhex[33];
        char rhex[33];
        unsigned int lp;
        unsigned int rp;
        unsigned long ino;
        uint32_t la[4];
        uint32_t ra[4];

        if (sscanf(
                line,
                " %*u: %32[0-9A-Fa-f]:%4X %32[0-9A-Fa-f]:%4X %*X %*X:%*X %*X:%*X %*X %*u %*u %lu",
                lhex, &lp, rhex, &rp, &ino) != 5)
            continue;
        if (!parse_addr6(lhex, la) || !parse_addr6(rhex, ra))
            continue;
        if (memcmp(la, want_l, sizeof(la)) == 0 && lp == ntohs(self->sin_port) &&
            memcmp(ra, want_r, sizeof(ra)) == 0 && rp == ntohs(remote->sin_port)) {
            *inode = ino;
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* True when one of this process's descriptors is the socket with this inode. */
static bool own_fd_has_inode(unsigned long inode)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *de;
    char want[64];
    bool found = false;

    if (dir == NULL)
        return false;
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    while (!found && (de = readdir(dir)) != NULL) {
        char target[64];
        ssize_t n;

        if (de->d_name[0] == '.')
            continue;
        n = readlinkat(dirfd(dir), de->d_name, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        found = strcmp(target, want) == 0;
    }
    closedir(dir);
    return found;
}

/*
 * The connecting socket is the one whose local address is the accepted
 * connection's peer and whose remote address is the accepted connection's
 * local address. It belongs to us iff its inode is among our descriptors.
 */
static bool peer_is_own(const struct sockaddr_in *peer, const struct sockaddr_in *local,
                        const char **why)
{
    unsigned long inode = 0;

    if (!find_inode_tcp4(peer, local, &inode) && !find_inode_tcp6(peer, local, &inode)) {
        *why = "peer socket not found in /proc/net/tcp";
        return false;
    }
    if (!own_fd_has_inode(inode)) {
        *why = "peer socket belongs to another process";
        return false;
    }
    return true;
}

/* ---- relay ------------------------------------------------------------------------------ */

static void close_pair(struct plat_bridge *b, const char *reason)
{
    if (b->session == NULL)
        return;
    plat_tls_close(b->session);
    b->session = NULL;
    close(b->local_fd);
    b->local_fd = -1;
    b->up_len = 0;
    b->up_off = 0;
    b->down_len = 0;
    b->down_off = 0;
    PLAT_INFO(LOG_MODULE, "relay to %s:%u closed: %s", b->host, (unsigned)b->port, reason);
    emit(b, PLAT_BRIDGE_CLOSED, reason);
}

static bool would_block(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/* Move what can move without blocking, one buffer per direction. */
static void pump(struct plat_bridge *b)
{
    size_t n;
    ssize_t got;
    int rc;

    if (b->up_len == 0) {
        got = recv(b->local_fd, b->up, sizeof(b->up), 0);
        if (got > 0) {
            b->up_len = (size_t)got;
            b->up_off = 0;
        } else if (got == 0) {
            close_pair(b, "local client closed the connection");
            return;
        } else if (!would_block(errno)) {
            close_pair(b, "local client connection failed");
            return;
        }
    }
    while (b->up_len > 0) {
        rc = plat_tls_write(b->session, b->up + b->up_off, b->up_len - b->up_off, &n);
        if (rc == WR_E_EMPTY)
            break;
        if (rc != WR_OK) {
            close_pair(b, rc == WR_E_CONN ? "upstream connection lost while sending"
                                          : "upstream TLS error while sending");
            return;
        }
        b->up_off += n;
        if (b->up_off == b->up_len) {
            b->up_len = 0;
            b->up_off = 0;
        }
    }

    if (b->down_len == 0) {
        rc = plat_tls_read(b->session, b->down, sizeof(b->down), &n);
        if (rc == WR_OK) {
            b->down_len = n;
            b->down_off = 0;
        } else if (rc != WR_E_EMPTY) {
            close_pair(b, rc == WR_E_CONN ? "upstream broker closed the session"
                                          : "upstream TLS error while receiving");
            return;
        }
    }
    while (b->down_len > 0) {
        got = send(b->local_fd, b->down + b->down_off, b->down_len - b->down_off, MSG_NOSIGNAL);
        if (got < 0 && would_block(errno))
            break;
        if (got <= 0) {
            close_pair(b, "local client connection failed");
            return;
        }
        b->down_off += (size_t)got;
        if (b->down_off == b->down_len) {
            b->down_len = 0;
            b->down_off = 0;
        }
    }
}

static void refuse(struct plat_bridge *b, int fd, const struct sockaddr_in *peer, const char *why)
{
    char addr[INET_ADDRSTRLEN] = "?";
    char detail[160];

    inet_ntop(AF_INET, &peer->sin_addr, addr, sizeof(addr));
    snprintf(detail, sizeof(detail), "%s:%u (%s)", addr, (unsigned)ntohs(peer->sin_port), why);
    close(fd);
    PLAT_WARN(LOG_MODULE, "refused loopback connection from %s", detail);
    set_last_error(b, detail);
    emit(b, PLAT_BRIDGE_FOREIGN_REFUSED, detail);
}

static void accept_one(struct plat_bridge *b)
{
    struct sockaddr_in peer;
    struct sockaddr_in local;
    socklen_t peer_len = sizeof(peer);
    socklen_t local_len = sizeof(local);
    struct plat_tls *session = NULL;
    const char *why = NULL;
    char err[512];
    char endpoint[300];
    int one = 1;
    int fd;
    int rc;

    fd = accept4(b->listen_fd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (!would_block(errno) && errno != ECONNABORTED)
            PLAT_WARN(LOG_MODULE, "accept failed: %s", strerror(errno));
        return;
    }
    if (peer.sin_family != AF_INET || getsockname(fd, (struct sockaddr *)&local, &local_len) != 0) {
        memset(&peer, 0, sizeof(peer));
        refuse(b, fd, &peer, "unexpected address family");
        return;
    }
    if (!peer_is_own(&peer, &local, &why)) {
        refuse(b, fd, &peer, why);
        return;
    }

    /* A new connection from Paho means it gave up on the old one. */
    close_pair(b, "replaced by a new local connection");
    rc = plat_tls_connect(&b->tls, b->host, b->port, b->timeout_ms, &session, err, sizeof(err));
    if (rc != WR_OK) {
        close(fd);
        PLAT_WARN(LOG_MODULE, "upstream %s:%u: %s (%s)", b->host, (unsigned)b->port, err,
                  wr_strerror(rc));
        set_last_error(b, err);
        emit(b, PLAT_BRIDGE_TLS_FAILED, err);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    b->local_fd = fd;
    b->session = session;
    snprintf(endpoint, sizeof(endpoint), "%s:%u", b->host, (unsigned)b->port);
    PLAT_INFO(LOG_MODULE, "TLS session to %s established", endpoint);
    emit(b, PLAT_BRIDGE_TLS_UP, endpoint);
}

static void *relay_main(void *arg)
{
    struct plat_bridge *b = arg;

    for (;;) {
        struct pollfd pfd[4];
        int timeout_ms = -1;
        int n;

        if (b->session != NULL)
            pump(b);
        memset(pfd, 0, sizeof(pfd));
        pfd[0].fd = b->wake_rd;
        pfd[0].events = POLLIN;
        pfd[1].fd = b->listen_fd;
        pfd[1].events = POLLIN;
        pfd[2].fd = -1;
        pfd[3].fd = -1;
        if (b->session != NULL) {
            short lev = (short)((b->up_len == 0 ? POLLIN : 0) | (b->down_len > 0 ? POLLOUT : 0));
            short tev = (short)((b->down_len == 0 ? POLLIN : 0) | (b->up_len > 0 ? POLLOUT : 0));

            /*
             * A descriptor with nothing to wait for stays out of the set, or a
             * hang-up on it would wake poll() in a loop while the other side is
             * still draining.
             */
            pfd[2].fd = lev != 0 ? b->local_fd : -1;
            pfd[2].events = lev;
            pfd[3].fd = tev != 0 ? plat_tls_fd(b->session) : -1;
            pfd[3].events = tev;
            /* Decrypted bytes inside mbedTLS do not make the socket readable. */
            if (b->down_len == 0 && plat_tls_pending(b->session) > 0)
                timeout_ms = 0;
        }
        n = poll(pfd, 4, timeout_ms);
        if (n < 0 && errno != EINTR) {
            PLAT_ERROR(LOG_MODULE, "poll failed: %s", strerror(errno));
            break;
        }
        if (n > 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0)
            break;
        if (n > 0 && (pfd[1].revents & POLLIN) != 0)
            accept_one(b);
    }
    close_pair(b, "bridge stopped");
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static int copy_str(const char *src, char **dst)
{
    if (src == NULL)
        return WR_OK;
    *dst = plat_strdup(src);
    return *dst != NULL ? WR_OK : WR_E_NOMEM;
}

static int open_listener(struct plat_bridge *b)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    int fds[2];

    b->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (b->listen_fd < 0)
        goto fail;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(b->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(b->listen_fd, 8) != 0 ||
        getsockname(b->listen_fd, (struct sockaddr *)&addr, &len) != 0)
        goto fail;
    b->listen_port = ntohs(addr.sin_port);
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
        goto fail;
    b->wake_rd = fds[0];
    b->wake_wr = fds[1];
    return WR_OK;
fail:
    PLAT_ERROR(LOG_MODULE, "cannot open the loopback listener: %s", strerror(errno));
    return WR_E_IO;
}

int plat_bridge_start(const struct plat_bridge_config *cfg, struct plat_bridge **out)
{
    struct plat_bridge *b = NULL;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (cfg == NULL || out == NULL || cfg->host == NULL || cfg->host[0] == '\0' || cfg->port == 0 ||
        cfg->tls.ca_file == NULL || cfg->tls.ca_file[0] == '\0' ||
        (cfg->tls.cert_file == NULL) != (cfg->tls.key_file == NULL))
        return WR_E_INVAL;

    b = plat_calloc(1, sizeof(*b));
    if (b == NULL)
        return WR_E_NOMEM;
    b->listen_fd = -1;
    b->wake_rd = -1;
    b->wake_wr = -1;
    b->local_fd = -1;
    if (pthread_mutex_init(&b->lock, NULL) != 0) {
        rc = WR_E_IO;
        goto fail;
    }
    b->lock_ready = true;
    rc = copy_str(cfg->host, &b->host);
    if (rc == WR_OK)
        rc = copy_str(cfg->tls.ca_file, &b->ca_file);
    if (rc == WR_OK)
        rc = copy_str(cfg->tls.cert_file, &b->cert_file);
    if (rc == WR_OK)
        rc = copy_str(cfg->tls.key_file, &b->key_file);
    if (rc == WR_OK)
        rc = copy_str(cfg->tls.server_name, &b->server_name);
    if (rc != WR_OK)
        goto fail;
    b->port = cfg->port;
    b->tls.ca_file = b->ca_file;
    b->tls.cert_file = b->cert_file;
    b->tls.key_file = b->key_file;
    b->tls.server_name = b->server_name;
    b->timeout_ms = cfg->connect_timeout_ms != 0 ? cfg->connect_timeout_ms : DEFAULT_TIMEOUT_MS;
    b->on_event = cfg->on_event;
    b->event_ctx = cfg->event_ctx;

    rc = open_listener(b);
    if (rc != WR_OK)
        goto fail;
    if (pthread_create(&b->thread, NULL, relay_main, b) != 0) {
        PLAT_ERROR(LOG_MODULE, "cannot start the relay thread");
        rc = WR_E_IO;
        goto fail;
    }
    b->thread_started = true;
    *out = b;
    return WR_OK;
fail:
    plat_bridge_stop(b);
    return rc;
}

uint16_t plat_bridge_port(const struct plat_bridge *b)
{
    return b != NULL ? b->listen_port : 0;
}

int plat_bridge_last_error(struct plat_bridge *b, char *buf, size_t len)
{
    int rc;

    if (b == NULL || buf == NULL || len == 0)
        return WR_E_INVAL;
    pthread_mutex_lock(&b->lock);
    snprintf(buf, len, "%s", b->last_error);
    rc = b->last_error[0] != '\0' ? WR_OK : WR_E_EMPTY;
    pthread_mutex_unlock(&b->lock);
    return rc;
}

void plat_bridge_stop(struct plat_bridge *b)
{
    if (b == NULL)
        return;
    if (b->thread_started) {
        static const char wake = 'x';
        ssize_t w;

        do {
            w = write(b->wake_wr, &wake, 1);
        } while (w < 0 && errno == EINTR);
        pthread_join(b->thread, NULL);
    }
    if (b->listen_fd >= 0)
        close(b->listen_fd);
    if (b->wake_rd >= 0)
        close(b->wake_rd);
    if (b->wake_wr >= 0)
        close(b->wake_wr);
    if (b->lock_ready)
        pthread_mutex_destroy(&b->lock);
    plat_free(b->host);
    plat_free(b->ca_file);
    plat_free(b->cert_file);
    plat_free(b->key_file);
    plat_free(b->server_name);
    plat_free(b);
}
