#define _POSIX_C_SOURCE 200809L
#include "plat_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plat_log.h"
#include "plat_mem.h"
#include "wr_error.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* Mode of files written by plat_file_write_atomic: the metrics textfile must be world-readable. */
#define FILE_MODE 0644
/* First buffer for files whose size fstat cannot tell (pipes, /proc). */
#define READ_CHUNK 4096

/* Translates errno from op on path into the agent's error space, logging it once. */
static int map_errno(int err, const char *op, const char *path)
{
    char msg[128];
    int rc;

    /* Without _GNU_SOURCE this is the POSIX strerror_r, which fills msg. */
    if (strerror_r(err, msg, sizeof(msg)) != 0)
        snprintf(msg, sizeof(msg), "error %d", err);
    switch (err) {
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        rc = WR_E_NOSPC;
        break;
    case EACCES:
    case EPERM:
    case EROFS:
        rc = WR_E_DENIED;
        break;
    case ENOENT:
        rc = WR_E_NOTFOUND;
        break;
    default:
        rc = WR_E_IO;
        break;
    }
    if (rc == WR_E_NOTFOUND)
        PLAT_DEBUG("file", "%s %s: %s", op, path, msg);
    else
        PLAT_WARN("file", "%s %s: %s", op, path, msg);
    return rc;
}

/* Copies the directory part of path into dir ("." for a bare name, "/" for "/name"). */
static int dir_of(const char *path, char dir[PATH_MAX])
{
    const char *slash = strrchr(path, '/');
    size_t n;

    if (slash == NULL) {
        memcpy(dir, ".", 2);
        return WR_OK;
    }
    n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= PATH_MAX)
        return WR_E_INVAL;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return WR_OK;
}

/* Makes a directory entry change (create, rename) durable. */
static int fsync_dir(const char *path)
{
    char dir[PATH_MAX];
    int fd;
    int rc = WR_OK;

    if (dir_of(path, dir) != WR_OK)
        return WR_E_INVAL;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return map_errno(errno, "open directory", dir);
    /* Some file systems cannot fsync a directory (EINVAL); their entries need no flush. */
    if (fsync(fd) != 0 && errno != EINVAL)
        rc = map_errno(errno, "fsync directory", dir);
    close(fd);
    return rc;
}

static int write_full(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Write tmp, fsync, rename over path, fsync the directory. exact_mode < 0:
 * FILE_MODE less the umask; otherwise exactly those permission bits.
 */
static int write_atomic(const char *path, const void *data, size_t len, int exact_mode)
{
    char tmp[PATH_MAX];
    int fd = -1;
    int n;
    int err;
    int rc;

    if (path == NULL || path[0] == '\0' || (data == NULL && len > 0))
        return WR_E_INVAL;
    n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return WR_E_INVAL;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
              exact_mode < 0 ? FILE_MODE : (mode_t)0600);
    if (fd < 0)
        return map_errno(errno, "create", tmp);
    if (exact_mode >= 0 && fchmod(fd, (mode_t)exact_mode) != 0) {
        rc = map_errno(errno, "chmod", tmp);
        goto fail;
    }
    err = write_full(fd, data, len);
    if (err != 0) {
        rc = map_errno(err, "write", tmp);
        goto fail;
    }
    /* The data must be on disk before the rename makes it visible under path. */
    if (fsync(fd) != 0) {
        rc = map_errno(errno, "fsync", tmp);
        goto fail;
    }
    err = close(fd) != 0 ? errno : 0;
    fd = -1;
    if (err != 0) {
        rc = map_errno(err, "close", tmp);
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        rc = map_errno(errno, "rename to", path);
        goto fail;
    }
    /* From here the new contents are in place; only their durability is in question. */
    return fsync_dir(path);
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

int plat_file_write_atomic(const char *path, const void *data, size_t len)
{
    return write_atomic(path, data, len, -1);
}

int plat_file_replace(const char *path, const void *data, size_t len)
{
    struct stat st;
    int mode = 0600;

    if (path == NULL || path[0] == '\0' || (data == NULL && len > 0))
        return WR_E_INVAL;
    if (stat(path, &st) == 0)
        mode = (int)(st.st_mode & 07777);
    else if (errno != ENOENT)
        return map_errno(errno, "stat", path);
    return write_atomic(path, data, len, mode);
}

/* mkdir that accepts an existing directory. */
static int mkdir_one(const char *path, mode_t mode)
{
    struct stat st;

    if (mkdir(path, mode) == 0)
        return WR_OK;
    if (errno != EEXIST)
        return map_errno(errno, "mkdir", path);
    if (stat(path, &st) != 0)
        return map_errno(errno, "stat", path);
    if (!S_ISDIR(st.st_mode))
        return map_errno(ENOTDIR, "mkdir", path);
    return WR_OK;
}

int plat_file_mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t len;
    int rc;

    if (path == NULL || path[0] == '\0')
        return WR_E_INVAL;
    len = strlen(path);
    if (len >= sizeof(buf))
        return WR_E_INVAL;
    memcpy(buf, path, len + 1);
    /* Create each prefix that ends before a '/', skipping the root and empty components. */
    for (size_t i = 1; i < len; i++) {
        if (buf[i] != '/' || buf[i - 1] == '/')
            continue;
        buf[i] = '\0';
        rc = mkdir_one(buf, mode);
        buf[i] = '/';
        if (rc != WR_OK)
            return rc;
    }
    return mkdir_one(buf, mode);
}

int plat_file_read_all(const char *path, size_t max_bytes, char **data, size_t *len)
{
    struct stat st;
    char *buf = NULL;
    size_t limit;
    size_t alloc;
    size_t used = 0;
    int fd;
    int rc;

    if (path == NULL || data == NULL || len == NULL)
        return WR_E_INVAL;
    /* Reading one byte past max_bytes is how a file that grew or lied about its size is caught. */
    limit = max_bytes < SIZE_MAX - 1 ? max_bytes + 1 : SIZE_MAX - 1;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return map_errno(errno, "open", path);
    if (fstat(fd, &st) != 0) {
        rc = map_errno(errno, "stat", path);
        goto fail;
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > (uint64_t)max_bytes) {
        rc = WR_E_TOOBIG;
        goto fail;
    }
    alloc = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : READ_CHUNK;
    if (alloc > limit + 1)
        alloc = limit + 1;
    buf = plat_malloc(alloc);
    if (buf == NULL) {
        rc = WR_E_NOMEM;
        goto fail;
    }
    /* Invariant: used < alloc, so buf[used] can always take the NUL. */
    for (;;) {
        ssize_t n;

        if (used == alloc - 1) {
            size_t grown;
            char *p;

            if (used >= limit)
                break;
            grown = alloc <= (limit + 1) / 2 ? alloc * 2 : limit + 1;
            p = plat_realloc(buf, grown);
            if (p == NULL) {
                rc = WR_E_NOMEM;
                goto fail;
            }
            buf = p;
            alloc = grown;
        }
        n = read(fd, buf + used, alloc - 1 - used);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = map_errno(errno, "read", path);
            goto fail;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    if (used > max_bytes) {
        rc = WR_E_TOOBIG;
        goto fail;
    }
    close(fd);
    buf[used] = '\0';
    *data = buf;
    *len = used;
    return WR_OK;
fail:
    close(fd);
    plat_free(buf);
    return rc;
}

bool plat_file_exists(const char *path)
{
    struct stat st;

    return path != NULL && stat(path, &st) == 0;
}

int plat_file_rename(const char *old_path, const char *new_path)
{
    if (old_path == NULL || new_path == NULL)
        return WR_E_INVAL;
    if (rename(old_path, new_path) != 0)
        return map_errno(errno, "rename", old_path);
    return fsync_dir(new_path);
}

int plat_file_mtime_ms(const char *path, int64_t *mtime_ms)
{
    struct stat st;

    if (path == NULL || mtime_ms == NULL)
        return WR_E_INVAL;
    if (stat(path, &st) != 0)
        return map_errno(errno, "stat", path);
    *mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + (int64_t)st.st_mtim.tv_nsec / 1000000;
    return WR_OK;
}
