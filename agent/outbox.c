#include "outbox.h"

#include <string.h>

#include "plat_log.h"
#include "plat_mem.h"
#include "store.h"
#include "wr_error.h"

#define MOD "outbox"
#define STORE_PAGE 256u

/* Memory ring: ids rise from head to tail, so an id is found by binary search.
 * Acknowledgements can leave removed entries between live ones; they are
 * squeezed out when the ring is full, before a live result is dropped. */
struct mem_entry {
    uint64_t id; /* without WR_OUTBOX_MEMORY_ID_BIT */
    struct wr_result result;
    bool removed;
};

struct wr_outbox {
    struct wr_store *store;
    struct wr_metrics *metrics;
    struct mem_entry *ring;
    size_t capacity;
    size_t head;
    size_t count;
    uint64_t next_id;      /* id of the next memory entry, without the memory bit */
    size_t live;           /* entries not removed */
    bool store_failing;    /* log the switch to memory once, and the way back */
    struct wr_outbox_row *page;
};

int wr_outbox_create(const struct wr_outbox_params *params, struct wr_outbox **out)
{
    struct wr_outbox *ob;

    if (params == NULL || out == NULL || params->memory_capacity == 0)
        return WR_E_INVAL;
    ob = plat_calloc(1, sizeof(*ob));
    if (ob == NULL)
        return WR_E_NOMEM;
    ob->ring = plat_calloc(params->memory_capacity, sizeof(*ob->ring));
    ob->page = plat_calloc(STORE_PAGE, sizeof(*ob->page));
    if (ob->ring == NULL || ob->page == NULL) {
        wr_outbox_destroy(ob);
        return WR_E_NOMEM;
    }
    ob->capacity = params->memory_capacity;
    ob->store = params->store;
    ob->metrics = params->metrics;
    ob->next_id = 1;
    *out = ob;
    return WR_OK;
}

void wr_outbox_set_store(struct wr_outbox *ob, struct wr_store *store)
{
    if (ob != NULL && ob->store == NULL)
        ob->store = store;
}

void wr_outbox_destroy(struct wr_outbox *ob)
{
    if (ob == NULL)
        return;
    if (ob->live > 0)
        PLAT_WARN(MOD, "%zu results held only in memory are lost at exit (storage failed)",
                  ob->live);
    plat_free(ob->ring);
    plat_free(ob->page);
    plat_free(ob);
}

static struct mem_entry *entry_at(struct wr_outbox *ob, size_t offset)
{
    return &ob->ring[(ob->head + offset) % ob->capacity];
}

static void pop_removed_head(struct wr_outbox *ob)
{
    while (ob->count > 0 && entry_at(ob, 0)->removed) {
        ob->head = (ob->head + 1) % ob->capacity;
        ob->count--;
    }
}

/* Move the live entries together, keeping their order. */
static void squeeze(struct wr_outbox *ob)
{
    size_t kept = 0;

    for (size_t i = 0; i < ob->count; i++) {
        struct mem_entry *e = entry_at(ob, i);

        if (e->removed)
            continue;
        if (kept != i)
            *entry_at(ob, kept) = *e;
        kept++;
    }
    ob->count = kept;
}

/* Offset of the first entry with an id greater than after. */
static size_t first_after(struct wr_outbox *ob, uint64_t after)
{
    size_t lo = 0;
    size_t hi = ob->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (entry_at(ob, mid)->id <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void keep_in_memory(struct wr_outbox *ob, const struct wr_result *r)
{
    struct mem_entry *e;

    if (ob->count == ob->capacity) {
        pop_removed_head(ob);
        if (ob->count == ob->capacity && ob->live < ob->count)
            squeeze(ob);
    }
    if (ob->count == ob->capacity) {
        /* Full of live results: the oldest goes, and says so in the counters. */
        entry_at(ob, 0)->removed = true;
        ob->live--;
        wr_metrics_add(ob->metrics, WR_C_OUTBOX_DROPPED, 1);
        pop_removed_head(ob);
    }
    e = entry_at(ob, ob->count);
    e->id = ob->next_id++;
    e->result = *r;
    e->removed = false;
    ob->count++;
    ob->live++;
    wr_metrics_add(ob->metrics, WR_C_RESULTS_UNPERSISTED, 1);
}

int wr_outbox_append(struct wr_outbox *ob, const struct wr_result *results, size_t n)
{
    int rc = WR_E_STATE;

    if (ob == NULL || (results == NULL && n > 0))
        return WR_E_INVAL;
    if (n == 0)
        return WR_OK;
    if (ob->store != NULL)
        rc = wr_store_outbox_append(ob->store, results, n);
    if (rc == WR_OK) {
        if (ob->store_failing)
            PLAT_INFO(MOD, "storage writable again: results are persisted again");
        ob->store_failing = false;
        return WR_OK;
    }
    if (ob->store != NULL) {
        wr_metrics_add(ob->metrics, WR_C_STORE_WRITE_FAILURES, 1);
        if (!ob->store_failing)
            PLAT_ERROR(MOD, "cannot persist results (%s): keeping up to %zu in memory",
                       wr_strerror(rc), ob->capacity);
        ob->store_failing = true;
    }
    for (size_t i = 0; i < n; i++)
        keep_in_memory(ob, &results[i]);
    return WR_OK;
}

static size_t read_memory(struct wr_outbox *ob, uint64_t after, struct wr_forward_row *rows,
                          size_t max)
{
    size_t n = 0;

    for (size_t offset = first_after(ob, after); offset < ob->count && n < max; offset++) {
        struct mem_entry *e = entry_at(ob, offset);

        if (e->removed)
            continue;
        rows[n].id = e->id | WR_OUTBOX_MEMORY_ID_BIT;
        rows[n].result = e->result;
        n++;
    }
    return n;
}

int wr_outbox_read(void *ctx, struct wr_forward_cursor *cursor, struct wr_forward_row *rows,
                   size_t max, size_t *n_out)
{
    struct wr_outbox *ob = ctx;
    size_t n = 0;

    if (ob == NULL || cursor == NULL || rows == NULL || n_out == NULL)
        return WR_E_INVAL;
    /* pos[0]: last store id read; pos[1]: last memory id read (without the bit). */
    if (ob->store != NULL) {
        size_t want = max < STORE_PAGE ? max : STORE_PAGE;
        size_t got = 0;
        int rc = wr_store_outbox_read(ob->store, cursor->pos[0], ob->page, want, &got);

        if (rc == WR_OK) {
            for (size_t i = 0; i < got; i++) {
                rows[i].id = ob->page[i].id;
                rows[i].result = ob->page[i].result;
            }
            n = got;
            if (got > 0)
                cursor->pos[0] = rows[got - 1].id;
        }
    }
    if (n == 0) {
        n = read_memory(ob, cursor->pos[1], rows, max);
        if (n > 0)
            cursor->pos[1] = rows[n - 1].id & ~WR_OUTBOX_MEMORY_ID_BIT;
    }
    *n_out = n;
    return WR_OK;
}

static void remove_from_memory(struct wr_outbox *ob, uint64_t id)
{
    size_t offset = first_after(ob, id - 1);

    if (offset < ob->count && entry_at(ob, offset)->id == id && !entry_at(ob, offset)->removed) {
        entry_at(ob, offset)->removed = true;
        ob->live--;
    }
}

int wr_outbox_remove(void *ctx, const uint64_t *ids, size_t n)
{
    struct wr_outbox *ob = ctx;
    uint64_t store_ids[STORE_PAGE];
    size_t n_store = 0;
    int rc = WR_OK;

    if (ob == NULL || (ids == NULL && n > 0))
        return WR_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] & WR_OUTBOX_MEMORY_ID_BIT) {
            remove_from_memory(ob, ids[i] & ~WR_OUTBOX_MEMORY_ID_BIT);
            continue;
        }
        if (ob->store == NULL)
            continue; /* not one of ours */
        store_ids[n_store++] = ids[i];
        if (n_store == STORE_PAGE || i + 1 == n) {
            int drc = wr_store_outbox_delete(ob->store, store_ids, n_store);

            if (drc != WR_OK && rc == WR_OK)
                rc = drc; /* keep the first failure's code; the rest still go */
            n_store = 0;
        }
    }
    if (n_store > 0) {
        int drc = wr_store_outbox_delete(ob->store, store_ids, n_store);

        if (drc != WR_OK && rc == WR_OK)
            rc = drc;
    }
    pop_removed_head(ob);
    if (rc != WR_OK) {
        /* The rows stay and are sent again: a duplicate, never a loss. */
        wr_metrics_add(ob->metrics, WR_C_STORE_WRITE_FAILURES, 1);
    }
    return rc;
}

void wr_outbox_enforce_budget(struct wr_outbox *ob, uint64_t min_id)
{
    struct wr_store_budget_report rep;

    if (ob == NULL || ob->store == NULL)
        return;
    memset(&rep, 0, sizeof(rep));
    /* Counted whatever the outcome: WR_E_FULL still reports what was done. */
    wr_store_enforce_budget(ob->store, min_id, &rep);
    wr_metrics_add(ob->metrics, WR_C_OUTBOX_ROLLED_UP, rep.rolled_up);
    wr_metrics_add(ob->metrics, WR_C_OUTBOX_DROPPED, rep.dropped);
}

int wr_outbox_visit_memory(const struct wr_outbox *ob, wr_outbox_result_fn fn, void *ctx)
{
    if (ob == NULL || fn == NULL)
        return WR_E_INVAL;
    for (size_t i = 0; i < ob->count; i++) {
        const struct mem_entry *e = &ob->ring[(ob->head + i) % ob->capacity];
        int rc;

        if (e->removed)
            continue;
        rc = fn(ctx, &e->result);
        if (rc != WR_OK)
            return rc;
    }
    return WR_OK;
}

void wr_outbox_stats(const struct wr_outbox *ob, uint64_t *rows, uint64_t *bytes)
{
    uint64_t r = 0;
    uint64_t b = 0;

    if (ob == NULL)
        return;
    if (ob->store != NULL)
        wr_store_outbox_stats(ob->store, &r, &b);
    r += ob->live;
    b += ob->live * sizeof(struct wr_result);
    if (rows != NULL)
        *rows = r;
    if (bytes != NULL)
        *bytes = b;
}
