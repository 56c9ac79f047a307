#ifndef PLAT_NOTIFY_H
#define PLAT_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * systemd's service notification protocol, written here instead of linking
 * libsystemd: one datagram per state change ("READY=1", "STATUS=...",
 * "STOPPING=1", "WATCHDOG=1", newline-separated assignments) sent to the
 * AF_UNIX socket named by $NOTIFY_SOCKET. A name starting with '@' is an
 * abstract socket (the '@' becomes a NUL byte). $WATCHDOG_USEC asks for a
 * "WATCHDOG=1" at least that often; $WATCHDOG_PID, when set, names the
 * process that must send it (another PID means: not us).
 *
 * Without $NOTIFY_SOCKET (not started by systemd, or Type=simple) every send
 * is a successful no-op, so callers need no "are we under systemd" branch.
 * Sending never blocks: the socket is non-blocking and a datagram that
 * cannot be sent at once is dropped (and WR_E_IO returned), because a stuck
 * supervisor must not stall the caller.
 */

struct plat_notify;

/** The longest datagram sent; STATUS text beyond it is cut. */
#define PLAT_NOTIFY_MAX_BYTES 256u

/**
 * Parse $WATCHDOG_USEC / $WATCHDOG_PID values (either may be NULL = unset)
 * for the process self_pid. Sets *interval_us to the requested interval, or
 * 0 when no watchdog applies to this process (usec unset, or pid set to
 * another process). Returns WR_OK, or WR_E_PARSE (not a positive decimal
 * number; *interval_us = 0) so that the caller can log a broken environment.
 */
int plat_notify_parse_watchdog(const char *usec, const char *pid, long self_pid,
                               uint64_t *interval_us);

/**
 * Format one notification into buf: "KEY=VALUE" for state (e.g. "READY=1"),
 * followed by "\nSTATUS=<status>" when status is not NULL. Newlines in status
 * become spaces (a newline would start a new assignment), and status is cut
 * so that the whole message fits in cap. *len gets the length without the
 * NUL. Returns WR_OK, WR_E_INVAL (NULL buf/len, cap 0, or both state and
 * status NULL) or WR_E_TOOBIG (state itself does not fit).
 */
int plat_notify_format(char *buf, size_t cap, const char *state, const char *status, size_t *len);

/**
 * Open the notification channel named by $NOTIFY_SOCKET and read the watchdog
 * settings. Without $NOTIFY_SOCKET the object is created inactive. Returns
 * WR_OK, WR_E_NOMEM, WR_E_INVAL (NULL out, or a $NOTIFY_SOCKET that is neither
 * an absolute path nor an '@' name, or does not fit an AF_UNIX address;
 * logged) or WR_E_IO (socket() failed; logged). *out is untouched on error.
 */
int plat_notify_open(struct plat_notify **out);

/** Close; NULL does nothing. */
void plat_notify_close(struct plat_notify *n);

/** True when a supervisor listens ($NOTIFY_SOCKET was set). NULL is false. */
bool plat_notify_active(const struct plat_notify *n);

/**
 * The watchdog interval systemd asked for in ms (0: none). Ping at half of it,
 * from the loop whose stall should trigger a restart.
 */
uint64_t plat_notify_watchdog_interval_ms(const struct plat_notify *n);

/**
 * Send state (e.g. "READY=1", "STOPPING=1", "WATCHDOG=1"; may be NULL) plus an
 * optional STATUS line. Returns WR_OK (also when inactive or n is NULL),
 * WR_E_INVAL or WR_E_IO (the datagram was not sent; not logged, callers
 * decide how loud to be). Thread-safe.
 */
int plat_notify_send(struct plat_notify *n, const char *state, const char *status);

/** READY=1 with a status line. As plat_notify_send. */
int plat_notify_ready(struct plat_notify *n, const char *status);

/** STOPPING=1. As plat_notify_send. */
int plat_notify_stopping(struct plat_notify *n);

/** WATCHDOG=1. As plat_notify_send. */
int plat_notify_watchdog(struct plat_notify *n);

#endif /* PLAT_NOTIFY_H */
