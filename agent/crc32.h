#ifndef WR_CRC32_H
#define WR_CRC32_H

#include <stddef.h>
#include <stdint.h>

/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the one zlib and
 * Python's zlib.crc32 compute, so tests and tools can check records written
 * by the agent. Start with crc = 0 and feed the previous value to continue
 * over more bytes. Used for the crash journal and window snapshots; it
 * detects torn and stale records, it is no defence against tampering.
 * Pure and thread-safe.
 */
uint32_t wr_crc32(uint32_t crc, const void *data, size_t len);

#endif /* WR_CRC32_H */
