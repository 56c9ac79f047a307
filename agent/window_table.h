#ifndef WR_WINDOW_TABLE_H
#define WR_WINDOW_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Internal to the window engine: an open-addressing index from a 32-bit
 * hash to 32-bit entry numbers (linear probing, load factor at most 1/2).
 * The table holds no keys: callers probe by hash and compare their own
 * entries. Each cell keeps the hash next to the entry number so that
 * deletion can shift later cells back (no tombstones) without calling back
 * into the owner. It starts small and grows (doubling, rehashing from the
 * hashes kept in the cells) as the owner reserves room for more entries.
 */

#define WR_WINDOW__TAB_EMPTY UINT32_MAX

struct wr_window__cell {
    uint32_t entry;
    uint32_t hash;
};

struct wr_window__tab {
    struct wr_window__cell *cells;
    uint32_t mask;
};

/** Cursor over the cells whose hash matches, in probe order. */
struct wr_window__probe {
    uint32_t pos;
    uint32_t hash;
};

/** Bytes the table for max_entries entries allocates; 0 above 2^30 entries (refused). */
uint64_t wr_window__tab_bytes(size_t max_entries);

/** Bytes the table holds now. */
static inline uint64_t wr_window__tab_bytes_now(const struct wr_window__tab *t)
{
    return t->cells != NULL ? ((uint64_t)t->mask + 1) * sizeof(*t->cells) : 0;
}

/** Allocate an empty table with room for max_entries entries. Returns WR_OK or WR_E_NOMEM. */
int wr_window__tab_init(struct wr_window__tab *t, size_t max_entries);

/**
 * Make room for n_entries entries (load factor at most 1/2), growing the
 * table if needed. On WR_E_NOMEM the table is unchanged. Entry numbers and
 * hashes are kept; probe cursors and cell positions are not.
 */
int wr_window__tab_reserve(struct wr_window__tab *t, size_t n_entries);

/** Free the cells; a zeroed table is fine. */
void wr_window__tab_free(struct wr_window__tab *t);

void wr_window__tab_probe_start(const struct wr_window__tab *t, uint32_t hash,
                                struct wr_window__probe *p);

/**
 * Next cell holding an entry with the probe's hash: its entry number in
 * *entry and its cell position in *pos (for wr_window__tab_remove_at).
 * false once the probe reaches an empty cell.
 */
bool wr_window__tab_probe_next(const struct wr_window__tab *t, struct wr_window__probe *p,
                               uint32_t *entry, uint32_t *pos);

/** Insert an entry; the caller has reserved room for it (wr_window__tab_reserve). */
void wr_window__tab_insert(struct wr_window__tab *t, uint32_t hash, uint32_t entry);

/** Remove the cell at pos (from wr_window__tab_probe_next) by backward shifting. */
void wr_window__tab_remove_at(struct wr_window__tab *t, uint32_t pos);

/** Well-mixed 32-bit hash of a 64-bit value (a murmur3-style finaliser). */
static inline uint32_t wr_window__mix(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return (uint32_t)x;
}

#endif /* WR_WINDOW_TABLE_H */
