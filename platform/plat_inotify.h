#ifndef PLAT_INOTIFY_H
#define PLAT_INOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Notice that one file changed, whatever way it was written. The watch is
 * on the file's DIRECTORY (inotify), filtered by the file's name, so that
 * every way of saving is seen:
 *   - atomic replace (write a temp file, rename it over the name): IN_MOVED_TO;
 *   - in-place writes (echo > file, truncate + write): IN_CLOSE_WRITE / IN_MODIFY;
 *   - editors that rename the old file away and create a new one (vim's
 *     backup dance, "file~", "4913" probes): IN_CREATE, IN_MOVED_FROM, ...;
 *   - removal and re-creation: IN_DELETE then IN_CREATE.
 * A watch on the file itself would be lost at the first rename.
 *
 * Changes are debounced: a change is reported once no further event for
 * the name has arrived for debounce_ms, so an editor's burst of events, or a
 * writer that takes several write() calls, gives one report. The caller
 * passes the monotonic time (plat_time_mono_ms) so the debounce is testable.
 *
 * Not thread-safe: one thread owns a watch.
 */

struct plat_inotify;

/**
 * Watch the directory of file_path for events concerning its last path
 * component. Returns WR_OK, WR_E_INVAL (NULL, empty, a path ending in '/',
 * or too long), WR_E_NOTFOUND (directory missing), WR_E_DENIED, WR_E_FULL
 * (the user's inotify instance or watch limit) or WR_E_IO. Logged once.
 */
int plat_inotify_create(const char *file_path, uint32_t debounce_ms, struct plat_inotify **out);

/**
 * Read every pending event without blocking, then set *changed to true if
 * the file changed and has been quiet for debounce_ms as of now_mono_ms (the
 * pending change is then consumed), false otherwise.
 * Returns WR_OK, WR_E_INVAL (NULL argument) or WR_E_IO (the watch broke, e.g.
 * the directory was removed; logged; the caller may create a new watch).
 */
int plat_inotify_poll(struct plat_inotify *w, uint64_t now_mono_ms, bool *changed);

/**
 * The watch's descriptor, readable when events are waiting, for a caller
 * that sleeps on it (poll) and calls plat_inotify_poll when it wakes; -1 for
 * NULL. Owned by the watch: never read or closed by the caller.
 */
int plat_inotify_fd(const struct plat_inotify *w);

/**
 * The monotonic time at which a change seen but not yet reported ends its
 * debounce (plat_inotify_poll then reports it), or UINT64_MAX when none is
 * pending (nothing is due until the descriptor becomes readable) or w is NULL.
 */
uint64_t plat_inotify_due_ms(const struct plat_inotify *w);

/** Stop watching and free; NULL does nothing. */
void plat_inotify_destroy(struct plat_inotify *w);

#endif /* PLAT_INOTIFY_H */
