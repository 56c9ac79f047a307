#define _GNU_SOURCE /* SOCK_CLOEXEC, SOCK_NONBLOCK, MSG_NOSIGNAL */
#include "plat_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "plat_log.h"
#include "plat_mem.h"
#include "wr_error.h"

#define MOD "notify"

struct plat_notify {
    int fd; /* -1: inactive */
    struct sockaddr_un addr;
    socklen_t addr_len;
    uint64_t watchdog_ms;
};

/* A positive decimal number that fits 64 bits, nothing else (no sign, no spaces). */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (s == NULL || *s == '\0')
        return WR_E_PARSE;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9u) / 10u)
            return WR_E_PARSE;
        v = v * 10u + (uint64_t)(*s - '0');
    }
    *out = v;
    return WR_OK;
}

int plat_notify_parse_watchdog(const char *usec, const char *pid, long self_pid,
                               uint64_t *interval_us)
{
    uint64_t us = 0;
    uint64_t owner = 0;

    if (interval_us == NULL)
        return WR_E_INVAL;
    *interval_us = 0;
    if (usec == NULL)
        return WR_OK;
    if (parse_u64(usec, &us) != WR_OK || us == 0)
        return WR_E_PARSE;
    if (pid != NULL) {
        if (parse_u64(pid, &owner) != WR_OK || owner == 0)
            return WR_E_PARSE;
        if (self_pid < 0 || owner != (uint64_t)self_pid)
            return WR_OK; /* meant for another process of the service */
    }
    *interval_us = us;
    return WR_OK;
}

int plat_notify_format(char *buf, size_t cap, const char *state, const char *status, size_t *len)
{
    size_t n = 0;

    if (buf == NULL || len == NULL || cap == 0 || (state == NULL && status == NULL))
        return WR_E_INVAL;
    *len = 0;
    buf[0] = '\0';
    if (state != NULL) {
        n = strlen(state);
        if (n + 1 > cap)
            return WR_E_TOOBIG;
        memcpy(buf, state, n);
    }
    if (status != NULL) {
        static const char key[] = "STATUS=";
        size_t sep = n > 0 ? 1u : 0u;

        if (n + sep + sizeof(key) - 1 + 1 <= cap) {
            if (sep)
                buf[n++] = '\n';
            memcpy(buf + n, key, sizeof(key) - 1);
            n += sizeof(key) - 1;
            for (const char *c = status; *c != '\0' && n + 1 < cap; c++)
                buf[n++] = (*c == '\n' || *c == '\r') ? ' ' : *c;
        }
    }
    buf[n] = '\0';
    *len = n;
    return WR_OK;
}

/* "/path" or "@abstract" into an AF_UNIX address; the abstract name gets a leading NUL. */
static int make_address(const char *name, struct sockaddr_un *addr, socklen_t *len)
{
    size_t n = strlen(name);

    if ((name[0] != '/' && name[0] != '@') || n < 2 || n > sizeof(addr->sun_path) - 1)
        return WR_E_INVAL;
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, name, n);
    if (name[0] == '@') {
        addr->sun_path[0] = '\0';
        /* Abstract names are length-delimited: no trailing NUL in the address. */
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return WR_OK;
}

int plat_notify_open(struct plat_notify **out)
{
    struct plat_notify *n;
    const char *name = getenv("NOTIFY_SOCKET");
    uint64_t us = 0;

    if (out == NULL)
        return WR_E_INVAL;
    n = plat_calloc(1, sizeof(*n));
    if (n == NULL)
        return WR_E_NOMEM;
    n->fd = -1;
    if (name == NULL || name[0] == '\0') {
        *out = n;
        return WR_OK;
    }
    if (make_address(name, &n->addr, &n->addr_len) != WR_OK) {
        PLAT_ERROR(MOD,
                   "NOTIFY_SOCKET=%s is not an absolute path or '@' name that fits a socket "
                   "address; no notifications are sent",
                   name);
        plat_free(n);
        return WR_E_INVAL;
    }
    if (plat_notify_parse_watchdog(getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID"), (long)getpid(),
                                   &us) != WR_OK)
        PLAT_WARN(MOD, "ignoring unparsable WATCHDOG_USEC/WATCHDOG_PID");
    n->watchdog_ms = us / 1000u;
    if (us > 0 && n->watchdog_ms == 0)
        n->watchdog_ms = 1;
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (n->fd < 0) {
        PLAT_ERROR(MOD, "cannot create the notification socket: %s", strerror(errno));
        plat_free(n);
        return WR_E_IO;
    }
    *out = n;
    return WR_OK;
}

void plat_notify_close(struct plat_notify *n)
{
    if (n == NULL)
        return;
    if (n->fd >= 0)
        close(n->fd);
    plat_free(n);
}

bool plat_notify_active(const struct plat_notify *n)
{
    return n != NULL && n->fd >= 0;
}

uint64_t plat_notify_watchdog_interval_ms(const struct plat_notify *n)
{
    return plat_notify_active(n) ? n->watchdog_ms : 0;
}

int plat_notify_send(struct plat_notify *n, const char *state, const char *status)
{
    char buf[PLAT_NOTIFY_MAX_BYTES];
    size_t len = 0;
    int rc;

    if (!plat_notify_active(n))
        return WR_OK;
    rc = plat_notify_format(buf, sizeof(buf), state, status, &len);
    if (rc != WR_OK)
        return rc;
    /* sendto on one datagram socket is atomic, so concurrent senders need no lock. */
    if (sendto(n->fd, buf, len, MSG_NOSIGNAL, (const struct sockaddr *)&n->addr, n->addr_len) !=
        (ssize_t)len)
        return WR_E_IO;
    return WR_OK;
}

int plat_notify_ready(struct plat_notify *n, const char *status)
{
    return plat_notify_send(n, "READY=1", status);
}

int plat_notify_stopping(struct plat_notify *n)
{
    return plat_notify_send(n, "STOPPING=1", NULL);
}

int plat_notify_watchdog(struct plat_notify *n)
{
    return plat_notify_send(n, "WATCHDOG=1", NULL);
}
