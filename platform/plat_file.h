#ifndef PLAT_FILE_H
#define PLAT_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Files the agent owns: state, metrics textfile, config written by fleet
 * management. Errors from the OS are mapped once, here, to the agent's error
 * space and logged with the path and the system's message:
 *   ENOSPC, EDQUOT               -> WR_E_NOSPC
 *   EACCES, EPERM, EROFS         -> WR_E_DENIED
 *   ENOENT                       -> WR_E_NOTFOUND (logged at debug level only:
 *                                   callers often expect it)
 *   anything else                -> WR_E_IO
 * Paths are used as given (relative to the working directory if relative).
 * All functions are thread-safe as far as the file system is.
 */

/**
 * Replace the file at path with len bytes of data so that, after a crash or
 * power loss, path holds either the old or the new contents, never a mix:
 * write "<path>.tmp.<pid>", fsync it, rename it over path, fsync the directory.
 * The new file gets mode 0644 (less the umask). The temporary file is removed
 * on failure. Returns WR_OK, WR_E_INVAL (NULL path, NULL data with len > 0, or
 * a path too long), WR_E_NOSPC, WR_E_DENIED, WR_E_NOTFOUND (directory missing)
 * or WR_E_IO.
 */
int plat_file_write_atomic(const char *path, const void *data, size_t len);

/**
 * As plat_file_write_atomic, for a file whose permissions are the operator's
 * (the config file, which may hold credentials): the new file gets exactly
 * the permission bits of the one it replaces, 0600 if there is none. Same
 * returns, and WR_E_DENIED or WR_E_IO if the old file cannot be looked at.
 */
int plat_file_replace(const char *path, const void *data, size_t len);

/**
 * Create the directory path and any missing parents with mode (less the
 * umask), like mkdir -p. An existing directory is success. Returns WR_OK,
 * WR_E_INVAL (NULL or empty path, or too long), WR_E_NOSPC, WR_E_DENIED or
 * WR_E_IO (e.g. a component exists and is not a directory).
 */
int plat_file_mkdir_p(const char *path, mode_t mode);

/**
 * Read a whole file of at most max_bytes bytes. On WR_OK, *data is a
 * plat_malloc'd buffer the caller frees with plat_free, holding *len bytes
 * followed by a NUL (so text can be parsed in place; the content may itself
 * contain NULs). Returns WR_OK, WR_E_INVAL (NULL argument), WR_E_TOOBIG (the
 * file is longer than max_bytes), WR_E_NOMEM, WR_E_NOTFOUND, WR_E_DENIED or
 * WR_E_IO. *data and *len are untouched on error.
 */
int plat_file_read_all(const char *path, size_t max_bytes, char **data, size_t *len);

/** True if something (file, directory, ...) exists at path; false for NULL or on any error. */
bool plat_file_exists(const char *path);

/**
 * Rename old_path to new_path (replacing new_path atomically if it exists),
 * then fsync new_path's directory so the rename survives a crash. Both must be
 * on the same file system. Returns WR_OK, WR_E_INVAL (NULL argument),
 * WR_E_NOTFOUND, WR_E_DENIED, WR_E_NOSPC or WR_E_IO.
 */
int plat_file_rename(const char *old_path, const char *new_path);

/**
 * Last modification time of path in Unix epoch milliseconds (wall clock; used
 * to notice config files replaced behind the agent's back). Returns WR_OK,
 * WR_E_INVAL (NULL argument), WR_E_NOTFOUND, WR_E_DENIED or WR_E_IO.
 */
int plat_file_mtime_ms(const char *path, int64_t *mtime_ms);

#endif /* PLAT_FILE_H */
