#ifndef WR_DECODE_INTERNAL_H
#define WR_DECODE_INTERNAL_H

#include <stdint.h>

/*
 * For tests only: the number of times the calling thread has walked a JSON
 * payload, so that a test can show that a message decoded for several
 * streams was read once.
 */
uint64_t wr_decode__json_reads(void);

#endif /* WR_DECODE_INTERNAL_H */
