#ifndef WR_RELOAD_H
#define WR_RELOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "plat_sig.h"
#include "wr_config.h"
#include "wr_config_diff.h"

/*
 * When to reload and with what: SIGHUP requests, changes of the config file
 * (noticed by the caller's watch, platform/plat_inotify.h) and the complete
 * validation of the new text before anything is touched. Applying
 * is the caller's (main.c). config/SCHEMA.md "Reload" documents the
 * behaviour.
 *
 * Requests coalesce: any number of SIGHUPs and file events before the next
 * poll make one reload; those that arrive while a reload is being applied
 * stay pending (the kernel keeps the signal, inotify keeps the events) and
 * make exactly one more.
 *
 * Not thread-safe: one thread (the pipeline's) owns it.
 */

struct wr_reload;

enum wr_reload_outcome {
    WR_RELOAD_NONE = 0,  /* nothing requested, or the file is what runs already */
    WR_RELOAD_APPLY,     /* a valid, different config: apply *next */
    WR_RELOAD_INVALID,   /* requested, and refused: errs names every problem */
};

/**
 * Create for the config file at path, running cfg whose file bytes hash to
 * running_hash. Returns WR_OK, WR_E_INVAL or WR_E_NOMEM.
 */
int wr_reload_create(const char *path, const struct wr_config *cfg, const char *running_hash,
                     struct wr_reload **out);

/** A SIGHUP arrived: reload at the next poll (an unchanged file is logged as such). */
void wr_reload_request(struct wr_reload *r);

/** The file changed (debounced): look at it at the next poll. */
void wr_reload_file_changed(struct wr_reload *r);

/**
 * Check for a requested reload. On WR_RELOAD_APPLY, *next is the
 * new config (caller frees), *diff what changes and hash the SHA-256 of the
 * file's bytes. On WR_RELOAD_INVALID errs lists every problem by field
 * path (also logged) and the running config stays. A file whose bytes are
 * those already running (e.g. written by the agent itself) is NONE.
 */
enum wr_reload_outcome wr_reload_poll(struct wr_reload *r,
                                      struct wr_config **next, struct wr_config_diff *diff,
                                      struct wr_config_errors *errs,
                                      char hash[PLAT_SIG_SHA256_HEX_LEN]);

/**
 * What runs now (after an apply or a rollback); cfg is borrowed and must
 * stay valid until the next call or destroy. seen_hash is the file content
 * last judged, so that a file that was rolled back from is not applied
 * again until it changes.
 */
void wr_reload_set_running(struct wr_reload *r, const struct wr_config *cfg,
                           const char *seen_hash);

/**
 * The config file now holds bytes hashing to seen_hash, written by the
 * agent itself (a fleet push, or its rollback): the change event that
 * follows is not news. Call before writing.
 */
void wr_reload_set_seen(struct wr_reload *r, const char *seen_hash);

/** Free; NULL does nothing. */
void wr_reload_destroy(struct wr_reload *r);

/** SHA-256 hex of the file at path (at most 1 MiB). Returns plat_file codes. */
int wr_reload_file_hash(const char *path, char hash[PLAT_SIG_SHA256_HEX_LEN]);

#endif /* WR_RELOAD_H */
