#define _GNU_SOURCE
#include "plat_inotify.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "plat_log.h"
#include "plat_mem.h"
#include "wr_error.h"

#define MOD "inotify"
#define WATCH_MASK                                                                                 \
    (IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |           \
     IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

struct plat_inotify {
    int fd;
    int wd;
    uint32_t debounce_ms;
    bool pending;
    uint64_t last_event_ms;  /* monotonic time of the last poll that saw an event */
    char name[NAME_MAX + 1]; /* the file's last path component */
};

static int map_errno(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        return WR_E_NOTFOUND;
    case EACCES:
    case EPERM:
        return WR_E_DENIED;
    case EMFILE:
    case ENFILE:
    case ENOSPC:
        return WR_E_FULL;
    case ENOMEM:
        return WR_E_NOMEM;
    default:
        return WR_E_IO;
    }
}

static int split_path(const char *path, char *dir, size_t dir_len, char *name, size_t name_len)
{
    const char *slash = strrchr(path, '/');
    size_t plen = strlen(path);

    if (plen == 0 || plen >= PATH_MAX || path[plen - 1] == '/')
        return WR_E_INVAL;
    if (slash == NULL) {
        snprintf(dir, dir_len, ".");
        if (plen >= name_len)
            return WR_E_INVAL;
        snprintf(name, name_len, "%s", path);
        return WR_OK;
    }
    if (strlen(slash + 1) >= name_len || (size_t)(slash - path) >= dir_len)
        return WR_E_INVAL;
    if (slash == path)
        snprintf(dir, dir_len, "/");
    else
        snprintf(dir, dir_len, "%.*s", (int)(slash - path), path);
    snprintf(name, name_len, "%s", slash + 1);
    return WR_OK;
}

int plat_inotify_create(const char *file_path, uint32_t debounce_ms, struct plat_inotify **out)
{
    char dir[PATH_MAX];
    struct plat_inotify *w;
    int rc;

    if (file_path == NULL || out == NULL)
        return WR_E_INVAL;
    w = plat_calloc(1, sizeof(*w));
    if (w == NULL)
        return WR_E_NOMEM;
    w->fd = -1;
    w->debounce_ms = debounce_ms;
    rc = split_path(file_path, dir, sizeof(dir), w->name, sizeof(w->name));
    if (rc != WR_OK)
        goto fail;
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        rc = map_errno(errno);
        PLAT_ERROR(MOD, "inotify_init1: %s", strerror(errno));
        goto fail;
    }
    w->wd = inotify_add_watch(w->fd, dir, WATCH_MASK | IN_ONLYDIR);
    if (w->wd < 0) {
        rc = map_errno(errno);
        PLAT_ERROR(MOD, "cannot watch %s: %s", dir, strerror(errno));
        goto fail;
    }
    *out = w;
    return WR_OK;
fail:
    plat_inotify_destroy(w);
    return rc;
}

/* Drain the descriptor; true if any event named our file (or hit the directory itself). */
static int read_events(struct plat_inotify *w, bool *seen)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

    for (;;) {
        ssize_t n = read(w->fd, buf, sizeof(buf));

        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return WR_OK;
            if (errno == EINTR)
                continue;
            PLAT_ERROR(MOD, "reading inotify events: %s", strerror(errno));
            return WR_E_IO;
        }
        if (n == 0)
            return WR_OK;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;

            if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
                PLAT_ERROR(MOD, "the watched directory of %s went away", w->name);
                return WR_E_IO;
            }
            if (ev->mask & IN_Q_OVERFLOW)
                *seen = true; /* events were lost: one of them may have been ours */
            else if (ev->len > 0 && strcmp(ev->name, w->name) == 0)
                *seen = true;
            p += sizeof(struct inotify_event) + ev->len;
        }
    }
}

int plat_inotify_poll(struct plat_inotify *w, uint64_t now_mono_ms, bool *changed)
{
    bool seen = false;
    int rc;

    if (w == NULL || changed == NULL)
        return WR_E_INVAL;
    *changed = false;
    rc = read_events(w, &seen);
    if (seen) {
        w->pending = true;
        w->last_event_ms = now_mono_ms;
    }
    if (w->pending && now_mono_ms >= w->last_event_ms + w->debounce_ms) {
        w->pending = false;
        *changed = true;
    }
    return rc;
}

int plat_inotify_fd(const struct plat_inotify *w)
{
    return w != NULL ? w->fd : -1;
}

uint64_t plat_inotify_due_ms(const struct plat_inotify *w)
{
    if (w == NULL || !w->pending)
        return UINT64_MAX;
    if (w->last_event_ms > UINT64_MAX - w->debounce_ms)
        return UINT64_MAX - 1u;
    return w->last_event_ms + w->debounce_ms;
}

void plat_inotify_destroy(struct plat_inotify *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0)
        close(w->fd);
    plat_free(w);
}
