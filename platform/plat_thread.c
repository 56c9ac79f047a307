/* pthread_setname_np is a GNU extension; it stays inside this file. */
#define _GNU_SOURCE
#include "plat_thread.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "plat_log.h"
#include "plat_mem.h"
#include "wr_error.h"

/* Linux limits thread names to 16 bytes including the NUL. */
#define NAME_MAX_BYTES 16

struct plat_thread {
    pthread_t tid;
    plat_thread_fn fn;
    void *arg;
    char name[NAME_MAX_BYTES];
};

struct plat_mutex {
    pthread_mutex_t m;
};

/* _GNU_SOURCE selects glibc's strerror_r, which returns the text instead of filling buf. */
static const char *error_text(int err, char *buf, size_t len)
{
#if defined(__GLIBC__)
    return strerror_r(err, buf, len);
#else
    if (strerror_r(err, buf, len) != 0)
        snprintf(buf, len, "error %d", err);
    return buf;
#endif
}

/* Runs in the new thread: naming it from inside avoids a race with an early exit. */
static void *trampoline(void *p)
{
    struct plat_thread *t = p;

    if (t->name[0] != '\0')
        (void)pthread_setname_np(pthread_self(), t->name);
    t->fn(t->arg);
    return NULL;
}

int plat_thread_start(struct plat_thread **out, plat_thread_fn fn, void *arg, const char *name)
{
    struct plat_thread *t;
    int err;

    if (out == NULL || fn == NULL)
        return WR_E_INVAL;
    t = plat_calloc(1, sizeof(*t));
    if (t == NULL)
        return WR_E_NOMEM;
    t->fn = fn;
    t->arg = arg;
    if (name != NULL)
        snprintf(t->name, sizeof(t->name), "%s", name);
    err = pthread_create(&t->tid, NULL, trampoline, t);
    if (err != 0) {
        char buf[128];

        PLAT_ERROR("thread", "cannot start thread %s: %s", name != NULL ? name : "(unnamed)",
                   error_text(err, buf, sizeof(buf)));
        plat_free(t);
        return err == EAGAIN ? WR_E_NOMEM : WR_E_IO;
    }
    *out = t;
    return WR_OK;
}

int plat_thread_join(struct plat_thread *t)
{
    if (t == NULL)
        return WR_OK;
    if (pthread_equal(t->tid, pthread_self()))
        return WR_E_STATE;
    /* The only other failures (EINVAL, ESRCH) mean t was not a live joinable thread: a bug. */
    if (pthread_join(t->tid, NULL) != 0)
        assert(!"pthread_join failed on a started thread");
    plat_free(t);
    return WR_OK;
}

int plat_mutex_create(struct plat_mutex **out)
{
    struct plat_mutex *m;

    if (out == NULL)
        return WR_E_INVAL;
    m = plat_malloc(sizeof(*m));
    if (m == NULL)
        return WR_E_NOMEM;
    if (pthread_mutex_init(&m->m, NULL) != 0) {
        plat_free(m);
        return WR_E_NOMEM;
    }
    *out = m;
    return WR_OK;
}

void plat_mutex_destroy(struct plat_mutex *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->m);
    plat_free(m);
}

void plat_mutex_lock(struct plat_mutex *m)
{
    assert(m != NULL);
    pthread_mutex_lock(&m->m);
}

void plat_mutex_unlock(struct plat_mutex *m)
{
    assert(m != NULL);
    pthread_mutex_unlock(&m->m);
}
