#define _POSIX_C_SOURCE 200809L
#include "plat_mmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plat_log.h"
#include "plat_mem.h"
#include "wr_error.h"

#define MOD "mmap"
/* Runtime state is the agent's alone. */
#define FILE_MODE 0600

struct plat_mmap {
    int fd;
    void *data;
    size_t len;
    bool readonly;
};

static int map_errno(int err, const char *op, const char *path)
{
    char msg[128];

    if (strerror_r(err, msg, sizeof(msg)) != 0)
        snprintf(msg, sizeof(msg), "error %d", err);
    switch (err) {
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        PLAT_WARN(MOD, "%s %s: %s", op, path, msg);
        return WR_E_NOSPC;
    case EACCES:
    case EPERM:
    case EROFS:
        PLAT_WARN(MOD, "%s %s: %s", op, path, msg);
        return WR_E_DENIED;
    case ENOENT:
        PLAT_DEBUG(MOD, "%s %s: %s", op, path, msg);
        return WR_E_NOTFOUND;
    case ENOMEM:
        PLAT_WARN(MOD, "%s %s: %s", op, path, msg);
        return WR_E_NOMEM;
    default:
        PLAT_WARN(MOD, "%s %s: %s", op, path, msg);
        return WR_E_IO;
    }
}

/*
 * ftruncate only sets the size; on tmpfs the pages are allocated when first
 * touched, and a store into a page that cannot be allocated raises SIGBUS.
 * posix_fallocate reserves them now, so a full file system is an error code
 * here instead of a signal later.
 */
static int size_file(int fd, size_t old_len, size_t len)
{
    int err;

    if (ftruncate(fd, (off_t)len) != 0)
        return errno;
    if (len <= old_len)
        return 0;
    err = posix_fallocate(fd, (off_t)old_len, (off_t)(len - old_len));
    /* Some file systems cannot preallocate; they are not RAM-backed, so SIGBUS is unlikely. */
    return err == EOPNOTSUPP || err == EINVAL ? 0 : err;
}

int plat_mmap_open(const char *path, size_t len_bytes, unsigned flags, struct plat_mmap **out)
{
    bool ro = (flags & PLAT_MMAP_READONLY) != 0;
    int oflags = ro ? O_RDONLY : O_RDWR;
    struct plat_mmap *m = NULL;
    struct stat sb;
    size_t old_len;
    int fd;
    int err;
    int rc;

    if (path == NULL || out == NULL || (ro && len_bytes > 0))
        return WR_E_INVAL;
    if (!ro && (flags & PLAT_MMAP_CREATE))
        oflags |= O_CREAT;
    if (!ro && (flags & PLAT_MMAP_TRUNCATE))
        oflags |= O_TRUNC;
    fd = open(path, oflags | O_CLOEXEC, FILE_MODE);
    if (fd < 0)
        return map_errno(errno, "open", path);
    if (fstat(fd, &sb) != 0) {
        rc = map_errno(errno, "stat", path);
        goto fail;
    }
    old_len = (size_t)sb.st_size;
    if (len_bytes == 0) {
        if (old_len == 0 || (uint64_t)sb.st_size > SIZE_MAX / 2) {
            rc = WR_E_INVAL;
            goto fail;
        }
        len_bytes = old_len;
    } else if (len_bytes != old_len) {
        err = size_file(fd, old_len, len_bytes);
        if (err != 0) {
            rc = map_errno(err, "resize", path);
            goto fail;
        }
    }
    m = plat_calloc(1, sizeof(*m));
    if (m == NULL) {
        rc = WR_E_NOMEM;
        goto fail;
    }
    m->data = mmap(NULL, len_bytes, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m->data == MAP_FAILED) {
        rc = map_errno(errno, "mmap", path);
        goto fail;
    }
    m->fd = fd;
    m->len = len_bytes;
    m->readonly = ro;
    *out = m;
    return WR_OK;
fail:
    plat_free(m);
    close(fd);
    return rc;
}

void *plat_mmap_data(const struct plat_mmap *m)
{
    return m != NULL ? m->data : NULL;
}

size_t plat_mmap_len(const struct plat_mmap *m)
{
    return m != NULL ? m->len : 0;
}

int plat_mmap_resize(struct plat_mmap *m, size_t len_bytes)
{
    void *data;
    int err;

    if (m == NULL || len_bytes == 0 || m->readonly)
        return WR_E_INVAL;
    if (len_bytes == m->len)
        return WR_OK;
    err = size_file(m->fd, m->len, len_bytes);
    if (err != 0) {
        /* Give back what a failed growth may have added; the old mapping is intact. */
        if (len_bytes > m->len && ftruncate(m->fd, (off_t)m->len) != 0)
            PLAT_WARN(MOD, "cannot shrink a mapped file back after a failed resize");
        return map_errno(err, "resize", "mapped file");
    }
    data = mmap(NULL, len_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
    if (data == MAP_FAILED)
        return map_errno(errno, "mmap", "mapped file");
    munmap(m->data, m->len);
    m->data = data;
    m->len = len_bytes;
    return WR_OK;
}

void plat_mmap_close(struct plat_mmap *m)
{
    if (m == NULL)
        return;
    if (m->data != NULL && m->data != MAP_FAILED)
        munmap(m->data, m->len);
    close(m->fd);
    plat_free(m);
}

int plat_mmap_remove(const char *path)
{
    if (path == NULL)
        return WR_E_INVAL;
    if (unlink(path) != 0 && errno != ENOENT)
        return map_errno(errno, "remove", path);
    return WR_OK;
}
