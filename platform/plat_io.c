#define _POSIX_C_SOURCE 200809L
#include "plat_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "wr_error.h"

#define SELF_IO_PATH "/proc/self/io"

static bool name_is(const char *name, size_t name_len, const char *want)
{
    return name_len == strlen(want) && memcmp(name, want, name_len) == 0;
}

/* A decimal counter, optionally surrounded by blanks; false if empty, not digits, or > 2^64-1. */
static bool parse_u64(const char *p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    bool any = false;

    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');

        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        any = true;
    }
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
        p++;
    if (!any || p != end)
        return false;
    *out = v;
    return true;
}

int plat_io_parse(const char *text, size_t len, struct plat_io_counters *out)
{
    struct plat_io_counters c = {0, 0, 0};
    const char *p = text;
    const char *end;
    bool have_write = false;

    if (text == NULL || out == NULL)
        return WR_E_INVAL;
    end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl != NULL ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        uint64_t v = 0;

        if (eol == p) { /* an empty line (the text's final newline included) */
            p = eol + 1;
            continue;
        }
        if (colon == NULL || !parse_u64(colon + 1, eol, &v))
            return WR_E_PARSE;
        if (name_is(p, (size_t)(colon - p), "write_bytes")) {
            c.write_bytes = v;
            have_write = true;
        } else if (name_is(p, (size_t)(colon - p), "read_bytes")) {
            c.read_bytes = v;
        } else if (name_is(p, (size_t)(colon - p), "cancelled_write_bytes")) {
            c.cancelled_write_bytes = v;
        }
        p = eol + 1;
    }
    if (!have_write)
        return WR_E_PARSE;
    *out = c;
    return WR_OK;
}

static int map_errno(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        return WR_E_NOTFOUND;
    case EACCES:
    case EPERM:
        return WR_E_DENIED;
    default:
        return WR_E_IO;
    }
}

int plat_io_read_file(const char *path, struct plat_io_counters *out)
{
    /* One byte more than accepted, to tell a full buffer from a longer file. */
    char buf[PLAT_IO_TEXT_MAX + 1];
    size_t len = 0;
    int fd;
    int rc = WR_OK;

    if (path == NULL || out == NULL)
        return WR_E_INVAL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return map_errno(errno);
    /* procfs hands the whole text to one read, but a regular file (a fixture) may not. */
    while (len < sizeof(buf)) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = map_errno(errno);
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (rc != WR_OK)
        return rc;
    if (len > PLAT_IO_TEXT_MAX)
        return WR_E_TOOBIG;
    return plat_io_parse(buf, len, out);
}

int plat_io_self(struct plat_io_counters *out)
{
    return plat_io_read_file(SELF_IO_PATH, out);
}
