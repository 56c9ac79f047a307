#define _POSIX_C_SOURCE 200809L
#include "plat_queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "plat_mem.h"
#include "wr_error.h"

/*
 * A ring buffer under one mutex. Invariants (under lock): 0 <= count <=
 * capacity, the items live in slots head, head+1, ... (mod capacity), and
 * depth == count. depth is a copy of count kept atomic so that metrics and
 * the backpressure logic can read it without taking the lock.
 */
struct plat_queue {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    pthread_cond_t nonfull; /* producers waiting in plat_queue_push_wait */
    size_t push_waiters;
    unsigned char *slots;
    size_t item_size;
    size_t capacity;
    size_t head;
    size_t count;
    bool wake_pending;
    bool lock_ready;
    bool cond_ready;
    _Atomic size_t depth;
};

int plat_queue_create(size_t item_size, size_t capacity, struct plat_queue **out)
{
    struct plat_queue *q = NULL;
    pthread_condattr_t attr;
    int rc;

    if (out == NULL || item_size == 0 || capacity == 0 || capacity > SIZE_MAX / item_size)
        return WR_E_INVAL;
    q = plat_calloc(1, sizeof(*q));
    if (q == NULL)
        return WR_E_NOMEM;
    q->item_size = item_size;
    q->capacity = capacity;
    atomic_init(&q->depth, 0);
    q->slots = plat_malloc(item_size * capacity);
    if (q->slots == NULL) {
        rc = WR_E_NOMEM;
        goto fail;
    }
    if (pthread_mutex_init(&q->lock, NULL) != 0) {
        rc = WR_E_NOMEM;
        goto fail;
    }
    q->lock_ready = true;
    /* Timeouts must not stretch or shrink when the wall clock jumps. */
    if (pthread_condattr_init(&attr) != 0) {
        rc = WR_E_NOMEM;
        goto fail;
    }
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&q->nonempty, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        rc = WR_E_NOMEM;
        goto fail;
    }
    if (pthread_cond_init(&q->nonfull, &attr) != 0) {
        pthread_cond_destroy(&q->nonempty);
        pthread_condattr_destroy(&attr);
        rc = WR_E_NOMEM;
        goto fail;
    }
    pthread_condattr_destroy(&attr);
    q->cond_ready = true;
    *out = q;
    return WR_OK;
fail:
    plat_queue_destroy(q);
    return rc;
}

void plat_queue_destroy(struct plat_queue *q)
{
    if (q == NULL)
        return;
    if (q->cond_ready) {
        pthread_cond_destroy(&q->nonempty);
        pthread_cond_destroy(&q->nonfull);
    }
    if (q->lock_ready)
        pthread_mutex_destroy(&q->lock);
    plat_free(q->slots);
    plat_free(q);
}

/* Copies n items between the ring (starting at slot first) and flat memory, in two runs at most. */
static void ring_copy_in(struct plat_queue *q, size_t first, const unsigned char *src, size_t n)
{
    size_t run = q->capacity - first;

    if (run > n)
        run = n;
    memcpy(q->slots + first * q->item_size, src, run * q->item_size);
    memcpy(q->slots, src + run * q->item_size, (n - run) * q->item_size);
}

static void ring_copy_out(const struct plat_queue *q, size_t first, unsigned char *dst, size_t n)
{
    size_t run = q->capacity - first;

    if (run > n)
        run = n;
    memcpy(dst, q->slots + first * q->item_size, run * q->item_size);
    memcpy(dst + run * q->item_size, q->slots, (n - run) * q->item_size);
}

static struct timespec deadline_after(uint32_t timeout_ms);

int plat_queue_push_all(struct plat_queue *q, const void *items, size_t n)
{
    return plat_queue_push_wait(q, items, n, 0);
}

int plat_queue_push_wait(struct plat_queue *q, const void *items, size_t n, uint32_t timeout_ms)
{
    struct timespec deadline;
    size_t tail;

    if (q == NULL || (items == NULL && n > 0))
        return WR_E_INVAL;
    if (n == 0)
        return WR_OK;
    if (n > q->capacity)
        return WR_E_TOOBIG;
    if (timeout_ms > 0)
        deadline = deadline_after(timeout_ms);
    pthread_mutex_lock(&q->lock);
    while (q->capacity - q->count < n) {
        int err;

        if (timeout_ms == 0) {
            pthread_mutex_unlock(&q->lock);
            return WR_E_FULL;
        }
        q->push_waiters++;
        err = pthread_cond_timedwait(&q->nonfull, &q->lock, &deadline);
        q->push_waiters--;
        if (err == ETIMEDOUT && q->capacity - q->count < n) {
            pthread_mutex_unlock(&q->lock);
            return WR_E_FULL;
        }
    }
    tail = (q->head + q->count) % q->capacity;
    ring_copy_in(q, tail, items, n);
    q->count += n;
    atomic_store(&q->depth, q->count);
    pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
    return WR_OK;
}

static struct timespec deadline_after(uint32_t timeout_ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000u);
    ts.tv_nsec += (long)(timeout_ms % 1000u) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int plat_queue_pop(struct plat_queue *q, void *items, size_t max, size_t *n_out,
                   uint32_t timeout_ms)
{
    struct timespec deadline;
    size_t n;
    int rc = WR_OK;

    if (n_out != NULL)
        *n_out = 0;
    if (q == NULL || items == NULL || n_out == NULL || max == 0)
        return WR_E_INVAL;
    deadline = deadline_after(timeout_ms);
    pthread_mutex_lock(&q->lock);
    /* Spurious wakeups just go round the loop; only the deadline ends the wait. */
    while (q->count == 0 && !q->wake_pending) {
        int err =
            timeout_ms == 0 ? ETIMEDOUT : pthread_cond_timedwait(&q->nonempty, &q->lock, &deadline);
        if (err == ETIMEDOUT) {
            if (q->count == 0 && !q->wake_pending)
                rc = WR_E_TIMEOUT;
            break;
        }
    }
    q->wake_pending = false;
    n = q->count < max ? q->count : max;
    if (n > 0) {
        ring_copy_out(q, q->head, items, n);
        q->head = (q->head + n) % q->capacity;
        q->count -= n;
        /*
         * An empty ring starts again at slot 0, so the pages of the ring that
         * are ever touched (and stay resident) follow the deepest the queue
         * has been, not its capacity: a queue that keeps up never walks
         * through all of it.
         */
        if (q->count == 0)
            q->head = 0;
        atomic_store(&q->depth, q->count);
        if (q->push_waiters > 0)
            pthread_cond_broadcast(&q->nonfull);
        rc = WR_OK;
    }
    pthread_mutex_unlock(&q->lock);
    *n_out = n;
    return rc;
}

void plat_queue_wake(struct plat_queue *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->lock);
    q->wake_pending = true;
    pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
}

size_t plat_queue_depth(const struct plat_queue *q)
{
    if (q == NULL)
        return 0;
    return atomic_load(&q->depth);
}

size_t plat_queue_capacity(const struct plat_queue *q)
{
    return q == NULL ? 0 : q->capacity;
}
