#include "window_table.h"

#include <assert.h>

#include "plat_mem.h"
#include "wr_error.h"

/* Capacity: a power of two of at least twice the entries, so probes stay short. */
static size_t capacity_for(size_t max_entries)
{
    size_t cap = 8;

    if (max_entries > ((size_t)1 << 30))
        return 0;
    while (cap < max_entries * 2)
        cap *= 2;
    return cap;
}

uint64_t wr_window__tab_bytes(size_t max_entries)
{
    return (uint64_t)capacity_for(max_entries) * sizeof(struct wr_window__cell);
}

int wr_window__tab_init(struct wr_window__tab *t, size_t max_entries)
{
    size_t cap = capacity_for(max_entries);

    t->cells = NULL;
    t->mask = 0;
    if (cap == 0 || (uint64_t)cap * sizeof(*t->cells) > SIZE_MAX)
        return WR_E_NOMEM;
    t->cells = plat_malloc(cap * sizeof(*t->cells));
    if (t->cells == NULL)
        return WR_E_NOMEM;
    for (size_t i = 0; i < cap; i++) {
        t->cells[i].entry = WR_WINDOW__TAB_EMPTY;
        t->cells[i].hash = 0;
    }
    t->mask = (uint32_t)(cap - 1);
    return WR_OK;
}

int wr_window__tab_reserve(struct wr_window__tab *t, size_t n_entries)
{
    size_t cap = capacity_for(n_entries);
    size_t old_cap = t->cells != NULL ? (size_t)t->mask + 1 : 0;
    struct wr_window__tab bigger;

    if (cap == 0)
        return WR_E_NOMEM;
    if (cap <= old_cap)
        return WR_OK;
    if (wr_window__tab_init(&bigger, n_entries) != WR_OK)
        return WR_E_NOMEM;
    /* Cells keep their hash, so rehashing needs nothing from the owner. */
    for (size_t i = 0; i < old_cap; i++) {
        if (t->cells[i].entry != WR_WINDOW__TAB_EMPTY)
            wr_window__tab_insert(&bigger, t->cells[i].hash, t->cells[i].entry);
    }
    plat_free(t->cells);
    *t = bigger;
    return WR_OK;
}

void wr_window__tab_free(struct wr_window__tab *t)
{
    plat_free(t->cells);
    t->cells = NULL;
    t->mask = 0;
}

void wr_window__tab_probe_start(const struct wr_window__tab *t, uint32_t hash,
                                struct wr_window__probe *p)
{
    p->pos = hash & t->mask;
    p->hash = hash;
}

bool wr_window__tab_probe_next(const struct wr_window__tab *t, struct wr_window__probe *p,
                               uint32_t *entry, uint32_t *pos)
{
    for (;;) {
        const struct wr_window__cell *c = &t->cells[p->pos];
        uint32_t here = p->pos;

        if (c->entry == WR_WINDOW__TAB_EMPTY)
            return false;
        p->pos = (p->pos + 1) & t->mask;
        if (c->hash == p->hash) {
            *entry = c->entry;
            *pos = here;
            return true;
        }
    }
}

void wr_window__tab_insert(struct wr_window__tab *t, uint32_t hash, uint32_t entry)
{
    uint32_t pos = hash & t->mask;

    assert(entry != WR_WINDOW__TAB_EMPTY);
    while (t->cells[pos].entry != WR_WINDOW__TAB_EMPTY)
        pos = (pos + 1) & t->mask;
    t->cells[pos].entry = entry;
    t->cells[pos].hash = hash;
}

void wr_window__tab_remove_at(struct wr_window__tab *t, uint32_t pos)
{
    uint32_t hole = pos;
    uint32_t next = pos;

    assert(t->cells[pos].entry != WR_WINDOW__TAB_EMPTY);
    /*
     * Backward-shift deletion: walk the cluster after the hole and move back
     * every cell whose home position does not lie cyclically in (hole, next],
     * since such a cell would otherwise become unreachable from its home.
     */
    for (;;) {
        uint32_t home;

        next = (next + 1) & t->mask;
        if (t->cells[next].entry == WR_WINDOW__TAB_EMPTY)
            break;
        home = t->cells[next].hash & t->mask;
        if (((next - home) & t->mask) >= ((next - hole) & t->mask)) {
            t->cells[hole] = t->cells[next];
            hole = next;
        }
    }
    t->cells[hole].entry = WR_WINDOW__TAB_EMPTY;
    t->cells[hole].hash = 0;
}
