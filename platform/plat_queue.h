#ifndef PLAT_QUEUE_H
#define PLAT_QUEUE_H

#include <stddef.h>
#include <stdint.h>

/*
 * A bounded FIFO of fixed-size items, copied in and out by value. All memory
 * is reserved once by plat_queue_create, so pushing and popping never
 * allocate; the ring starts again at its first slot whenever it drains, so
 * only as much of it is touched (resident) as the queue has been deep. Any number of threads may push; one thread pops. Pushing never
 * blocks: a full queue is reported so that the producer (the ingest callback)
 * can apply backpressure instead of stalling.
 */

struct plat_queue;

/**
 * Create a queue of capacity items of item_size bytes each.
 * Returns WR_OK, WR_E_INVAL (NULL out, zero item_size or capacity, or a
 * total size that overflows size_t) or WR_E_NOMEM. *out is untouched on error.
 */
int plat_queue_create(size_t item_size, size_t capacity, struct plat_queue **out);

/** Free the queue. No thread may be using it. NULL is a no-op. */
void plat_queue_destroy(struct plat_queue *q);

/**
 * Append n items (n * item_size bytes at items), all or none, and wake the
 * consumer. Never blocks. Returns WR_OK (also for n == 0), WR_E_INVAL (NULL
 * argument), WR_E_FULL (fewer than n free slots now; nothing was pushed) or
 * WR_E_TOOBIG (n exceeds the capacity, so the batch can never fit). Borrows
 * items. Thread-safe.
 */
int plat_queue_push_all(struct plat_queue *q, const void *items, size_t n);

/**
 * As plat_queue_push_all, but when the n items do not fit, wait up to
 * timeout_ms for the consumer to make room (0: do not wait). Returns
 * WR_OK, WR_E_INVAL, WR_E_TOOBIG, or WR_E_FULL when the time ran out.
 * This is how a producer applies backpressure by blocking. Thread-safe.
 */
int plat_queue_push_wait(struct plat_queue *q, const void *items, size_t n, uint32_t timeout_ms);

/**
 * Wait until the queue holds at least one item, then move up to max items
 * (oldest first) into items and set *n_out to their number.
 * Waits at most timeout_ms (0 polls). Returns:
 *   WR_OK with *n_out >= 1   items were taken;
 *   WR_OK with *n_out == 0   plat_queue_wake was called and the queue was empty;
 *   WR_E_TIMEOUT             nothing arrived in time (*n_out == 0);
 *   WR_E_INVAL               NULL argument or max == 0.
 * A pending wake is consumed by the next return of pop, whatever it returns,
 * so a consumer that re-checks its own stop flag after every pop never
 * blocks after a wake. Only one thread may pop at a time.
 */
int plat_queue_pop(struct plat_queue *q, void *items, size_t max, size_t *n_out,
                   uint32_t timeout_ms);

/** Make the current or next plat_queue_pop return promptly. Thread-safe; NULL is a no-op. */
void plat_queue_wake(struct plat_queue *q);

/** Number of items queued now (a snapshot). Lock-free; callable from any thread. 0 for NULL. */
size_t plat_queue_depth(const struct plat_queue *q);

/** The capacity given at create (0 for NULL). Callable from any thread. */
size_t plat_queue_capacity(const struct plat_queue *q);

#endif /* PLAT_QUEUE_H */
