#ifndef PLAT_THREAD_H
#define PLAT_THREAD_H

/*
 * Threads and mutexes. The pipeline starts a handful of long-lived threads
 * (ingest is Paho's, then window, store/forward) and joins them at shutdown;
 * nothing here is meant for short-lived workers.
 */

/** Entry point of a thread; arg is the pointer given to plat_thread_start. */
typedef void (*plat_thread_fn)(void *arg);

struct plat_thread;

/**
 * Start a thread running fn(arg). name labels the thread for ps/top/gdb
 * (the OS keeps at most 15 bytes; longer names are cut) and may be NULL.
 * The new thread inherits the caller's signal mask (see plat_signal.h).
 * Returns WR_OK, WR_E_INVAL (NULL out or fn), WR_E_NOMEM (no memory or the
 * system's thread limit is reached) or WR_E_IO (any other failure, logged).
 * *out is untouched on error. arg is passed through, not owned.
 */
int plat_thread_start(struct plat_thread **out, plat_thread_fn fn, void *arg, const char *name);

/**
 * Wait for the thread to return, then free it. NULL is a no-op (WR_OK).
 * Returns WR_OK or WR_E_STATE (called from the thread itself; nothing is
 * freed then). Exactly one call per started thread.
 */
int plat_thread_join(struct plat_thread *t);

/*
 * A plain (non-recursive) mutex. Locking one the caller already holds, or
 * unlocking one it does not hold, is a bug and is not detected.
 */
struct plat_mutex;

/** Returns WR_OK, WR_E_INVAL (NULL out) or WR_E_NOMEM. *out is untouched on error. */
int plat_mutex_create(struct plat_mutex **out);

/** Free an unlocked mutex. NULL is a no-op. */
void plat_mutex_destroy(struct plat_mutex *m);

/** Block until the mutex is held by the caller. m must not be NULL. */
void plat_mutex_lock(struct plat_mutex *m);

/** Release a mutex held by the caller. m must not be NULL. */
void plat_mutex_unlock(struct plat_mutex *m);

#endif /* PLAT_THREAD_H */
