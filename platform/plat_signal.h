#ifndef PLAT_SIGNAL_H
#define PLAT_SIGNAL_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Process signals as events for the main loop instead of asynchronous
 * handlers. plat_signal_install blocks the shutdown and reload signals in
 * the calling thread; threads started afterwards inherit that mask, so the
 * signals stay pending for the process until plat_signal_wait takes them.
 * No code runs in signal context.
 *
 * The signals are read through a signalfd, so a wait can also sleep on
 * another descriptor (plat_signal_wait_fd: the config file's inotify watch)
 * and the waiting thread wakes only for a signal, that descriptor or its
 * timeout.
 *
 * Call plat_signal_install first thing in main, before any thread exists
 * (including Paho's): a thread started earlier would not block the signals,
 * and SIGTERM delivered to it would kill the process without a clean shutdown.
 */

enum plat_signal_kind {
    PLAT_SIGNAL_NONE = 0, /* nothing arrived before the timeout */
    PLAT_SIGNAL_TERM = 1, /* SIGTERM or SIGINT: shut down cleanly */
    PLAT_SIGNAL_HUP = 2,  /* SIGHUP: reload the config */
};

/**
 * Block SIGTERM, SIGINT and SIGHUP in the calling thread (and so in every
 * thread it starts later), ignore SIGPIPE process-wide so that a write to
 * a closed socket fails with EPIPE instead of killing the process, and open
 * the signalfd the waits read. Idempotent. Returns WR_OK or WR_E_IO (logged).
 */
int plat_signal_install(void);

/**
 * Wait up to timeout_ms (0 polls) for one of the blocked signals and set
 * *which to a plat_signal_kind: PLAT_SIGNAL_NONE on timeout (or when the wait
 * was interrupted), otherwise the kind of the signal taken. Signals of the
 * same kind that arrive while one is pending are merged into one.
 * Returns WR_OK, WR_E_INVAL (NULL which) or WR_E_STATE (plat_signal_install
 * was not called). Normally called by the main thread only.
 */
int plat_signal_wait(uint32_t timeout_ms, int *which);

/**
 * As plat_signal_wait, and also end the wait when fd (if >= 0) is readable:
 * *fd_ready (if fd_ready is not NULL) is then true, possibly together with a
 * signal. fd < 0 waits for signals only. The descriptor is only polled,
 * never read. Returns WR_OK, WR_E_INVAL (NULL which), WR_E_STATE (not
 * installed) or WR_E_IO (poll failed; logged). Call from one thread at a time.
 */
int plat_signal_wait_fd(uint32_t timeout_ms, int fd, int *which, bool *fd_ready);

/**
 * Send SIGTERM to this process, as an internal shutdown request or in tests;
 * the next plat_signal_wait reports PLAT_SIGNAL_TERM. Only safe after
 * plat_signal_install (otherwise the default action ends the process).
 * Returns WR_OK or WR_E_STATE (not installed). Thread-safe.
 */
int plat_signal_raise_term(void);

/** Like plat_signal_raise_term, with SIGHUP (reported as PLAT_SIGNAL_HUP). */
int plat_signal_raise_hup(void);

#endif /* PLAT_SIGNAL_H */
