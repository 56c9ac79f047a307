#ifndef PLAT_IO_H
#define PLAT_IO_H

#include <stddef.h>
#include <stdint.h>

/*
 * The process's storage I/O as the kernel accounts it: how many bytes it
 * caused to be written to (and read from) storage, for the wear metric
 * windrow_storage_written_bytes_total. On Linux this is /proc/<pid>/io
 * (task I/O accounting): write_bytes counts page-cache pages the process
 * dirtied on a file system with a backing device, so writes to tmpfs (the
 * crash journal in /run) are not in it; cancelled_write_bytes is what was
 * dirtied and then truncated before it reached the device.
 */

struct plat_io_counters {
    uint64_t read_bytes;
    uint64_t write_bytes;
    uint64_t cancelled_write_bytes;
};

/* The longest /proc/<pid>/io text accepted (it is about 120 bytes). */
#define PLAT_IO_TEXT_MAX 1024

/**
 * Parse the text of /proc/<pid>/io: lines "name: value". write_bytes is
 * required; read_bytes and cancelled_write_bytes are 0 when absent; other
 * lines are ignored. len bytes of text are read (no NUL needed). Returns
 * WR_OK, WR_E_INVAL (NULL argument) or WR_E_PARSE (no write_bytes line, a
 * counter that is not a decimal number or does not fit 64 bits, a line
 * without ':').
 */
int plat_io_parse(const char *text, size_t len, struct plat_io_counters *out);

/**
 * Read and parse a file in that format (used for /proc/self/io, and by tests
 * with fixtures). Returns the codes of plat_io_parse, or WR_E_NOTFOUND (no
 * such file: no /proc, or a kernel without task I/O accounting),
 * WR_E_DENIED (not readable), WR_E_TOOBIG (longer than PLAT_IO_TEXT_MAX) or
 * WR_E_IO. Does not allocate. Thread-safe.
 */
int plat_io_read_file(const char *path, struct plat_io_counters *out);

/** This process's counters (all threads): plat_io_read_file of /proc/self/io. */
int plat_io_self(struct plat_io_counters *out);

#endif /* PLAT_IO_H */
