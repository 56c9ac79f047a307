#ifndef PLAT_BOOT_H
#define PLAT_BOOT_H

#include <stddef.h>

/*
 * The identity of the running boot: state kept in RAM-backed storage is only
 * trusted when it was written during this boot.
 */

/* A boot id is a UUID in text form: 36 characters plus the NUL. */
#define PLAT_BOOT_ID_LEN 37

/**
 * Read the kernel's boot id (/proc/sys/kernel/random/boot_id on Linux) into
 * out (NUL-terminated, at most out_len bytes, lower-case as the kernel gives
 * it). Returns WR_OK, WR_E_INVAL (NULL or out_len < PLAT_BOOT_ID_LEN),
 * WR_E_PARSE (not a UUID), or WR_E_NOTFOUND/WR_E_DENIED/WR_E_IO when it
 * cannot be read. Thread-safe.
 */
int plat_boot_id(char *out, size_t out_len);

#endif /* PLAT_BOOT_H */
