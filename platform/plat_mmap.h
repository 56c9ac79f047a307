#ifndef PLAT_MMAP_H
#define PLAT_MMAP_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Files mapped into memory, shared with the page cache (MAP_SHARED). Meant
 * for state in RAM-backed file systems (tmpfs, /run): what the process
 * stores into the mapping is in the file the moment the store completes, so
 * it outlives a crash of the process (SIGKILL, abort, segfault) without any
 * system call per write, but not a reboot. Nothing here fsyncs: on a disk
 * file system the kernel writes the pages back whenever it likes.
 *
 * OS errors are mapped as in plat_file.h (ENOSPC -> WR_E_NOSPC, EACCES/EPERM/
 * EROFS -> WR_E_DENIED, ENOENT -> WR_E_NOTFOUND, else WR_E_IO) and logged
 * once with the path. A mapping is used by one thread at a time unless the
 * caller synchronises; the functions themselves keep no shared state.
 */

struct plat_mmap;

enum plat_mmap_flags {
    PLAT_MMAP_CREATE = 1u << 0,   /* create the file if it does not exist (mode 0600) */
    PLAT_MMAP_READONLY = 1u << 1, /* map for reading only; the file is never resized */
    PLAT_MMAP_TRUNCATE = 1u << 2, /* drop the old contents first: the mapping starts zeroed */
};

/**
 * Map the file at path. len_bytes 0 maps the file at its current size (which
 * must not be 0); otherwise the file is resized to len_bytes first (bytes
 * added read as zero) — not allowed with PLAT_MMAP_READONLY.
 * Returns WR_OK, WR_E_INVAL (NULL argument, empty file with len_bytes 0,
 * READONLY with len_bytes > 0), WR_E_NOMEM, WR_E_NOTFOUND, WR_E_DENIED,
 * WR_E_NOSPC or WR_E_IO.
 */
int plat_mmap_open(const char *path, size_t len_bytes, unsigned flags, struct plat_mmap **out);

/** Start of the mapping (NULL for NULL). */
void *plat_mmap_data(const struct plat_mmap *m);

/** Length of the mapping in bytes (0 for NULL). */
size_t plat_mmap_len(const struct plat_mmap *m);

/**
 * Grow or shrink a writable mapping and its file to len_bytes (> 0). The
 * mapping may move: re-read plat_mmap_data. Returns WR_OK, WR_E_INVAL
 * (NULL, 0, read-only mapping), WR_E_NOSPC or WR_E_IO; on error the old
 * mapping stays valid.
 */
int plat_mmap_resize(struct plat_mmap *m, size_t len_bytes);

/** Unmap and close; NULL does nothing. The file stays. */
void plat_mmap_close(struct plat_mmap *m);

/**
 * Remove the file at path. A missing file is success. Returns WR_OK,
 * WR_E_INVAL (NULL), WR_E_DENIED or WR_E_IO.
 */
int plat_mmap_remove(const char *path);

#endif /* PLAT_MMAP_H */
