#include "outbox.h"

#include <string.h>

#include "plat_log.h"
#include "plat_mem.h"
#include "store.h"
#include "wr_error.h"

#define MOD "outbox"
#define STORE_PAGE 256u

/*
 * A result is named inside the outbox by a reference: a stored result by its
 * store id (which never has the top bit set: SQLite rowids are positive
 * int64), a result in memory by its sequence number with the top bit set.
 * References appear only in this file.
 */
#define MEMORY_REF (UINT64_C(1) << 63)

static bool is_memory_ref(uint64_t ref)
{
    return (ref & MEMORY_REF) != 0;
}

/*
 * Memory ring: sequence numbers rise from head to tail, so an entry is found
 * by binary search. Acknowledgements leave removed entries between live
 * ones; they are squeezed out when the ring is full.
 */
struct mem_entry {
    uint64_t seq;
    uint64_t store_id;       /* set while a write of it awaits its transaction's commit */
    struct wr_result result; /* result.sketch points at sketch_bytes */
    uint8_t *sketch_bytes;   /* owned copy of the result's sketch; NULL without one */
    bool removed;
    bool in_flight;
    bool ever_sent; /* handed out at least once: upstream may have it */
    bool counted;   /* already counted as unpersisted */
};

struct wr_outbox_batch {
    bool in_use;
    size_t n;
    size_t cap;
    uint64_t *refs;
};

struct wr_outbox {
    struct wr_store *store;
    struct wr_metrics *metrics;
    uint64_t max_bytes;

    struct mem_entry *ring;
    size_t capacity;
    size_t head;
    size_t count;
    size_t live; /* entries not removed */
    uint64_t next_seq;
    uint64_t mem_due_seq; /* no entry below this is due */
    bool persist_failing; /* log the switch to memory once, and the way back */
    bool write_open;      /* between checkpoint_write and checkpoint_end */

    /* Stored results: every one with id <= store_cursor has been handed out
     * (or acknowledged); rows in flight behind it are skipped by id. */
    uint64_t store_cursor;
    /* Highest store id ever handed out, never lowered: the budget's floor. */
    uint64_t sent_floor;

    /* The last peek, so mark_sent knows what it marks. */
    uint64_t *peeked;
    size_t peek_cap;
    size_t n_peeked;
    bool peek_valid;
    /*
     * Sketch bytes of the stored results of the last peek (the store's own
     * copy lasts only until its next read), back to back in result order,
     * grown to the largest peek so far. Results from memory point into their
     * entries instead.
     */
    uint8_t *peek_bytes;
    size_t peek_bytes_cap;
    size_t peek_bytes_len;

    struct wr_outbox_batch **batches;
    size_t n_batches;
    size_t in_flight;

    struct wr_outbox_row *page;
    const struct wr_result **write_ptrs; /* capacity */
    uint64_t *write_ids;                 /* capacity */

    /* Acknowledged stored results whose delete failed: retried in the next checkpoint. */
    uint64_t *retry_ids;
    size_t n_retry;
    size_t cap_retry;

    uint64_t persisted;
    uint64_t spills;
    uint64_t sketch_bytes; /* held by live memory entries */
    struct plat_log_limiter sketch_limiter;
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
    ob->write_ptrs = plat_calloc(params->memory_capacity, sizeof(*ob->write_ptrs));
    ob->write_ids = plat_calloc(params->memory_capacity, sizeof(*ob->write_ids));
    if (ob->ring == NULL || ob->page == NULL || ob->write_ptrs == NULL || ob->write_ids == NULL) {
        wr_outbox_destroy(ob);
        return WR_E_NOMEM;
    }
    ob->capacity = params->memory_capacity;
    ob->store = params->store;
    ob->metrics = params->metrics;
    ob->max_bytes = params->max_bytes;
    ob->next_seq = 1;
    ob->mem_due_seq = 1;
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
        PLAT_WARN(MOD, "%zu results held only in memory are lost at exit (not checkpointed)",
                  ob->live);
    for (size_t i = 0; ob->ring != NULL && i < ob->count; i++) {
        struct mem_entry *e = &ob->ring[(ob->head + i) % ob->capacity];

        if (!e->removed)
            plat_free(e->sketch_bytes);
    }
    for (size_t i = 0; ob->batches != NULL && i < ob->n_batches; i++) {
        if (ob->batches[i] != NULL)
            plat_free(ob->batches[i]->refs);
        plat_free(ob->batches[i]);
    }
    plat_free(ob->batches);
    plat_free(ob->peeked);
    plat_free(ob->peek_bytes);
    plat_free(ob->ring);
    plat_free(ob->page);
    plat_free(ob->write_ptrs);
    plat_free(ob->write_ids);
    plat_free(ob->retry_ids);
    plat_free(ob);
}

/* ---- the memory ring ------------------------------------------------------------------------ */

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
    if (ob->count == 0)
        ob->head = 0;
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

/* Offset of the first entry with a sequence number >= seq. */
static size_t first_from(struct wr_outbox *ob, uint64_t seq)
{
    size_t lo = 0;
    size_t hi = ob->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (entry_at(ob, mid)->seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct mem_entry *find_entry(struct wr_outbox *ob, uint64_t seq)
{
    size_t offset = first_from(ob, seq);

    if (offset < ob->count && entry_at(ob, offset)->seq == seq && !entry_at(ob, offset)->removed)
        return entry_at(ob, offset);
    return NULL;
}

static void remove_entry(struct wr_outbox *ob, struct mem_entry *e)
{
    e->removed = true;
    e->in_flight = false;
    ob->live--;
    ob->sketch_bytes -= e->result.sketch_len;
    plat_free(e->sketch_bytes);
    e->sketch_bytes = NULL;
    e->result.sketch = NULL;
    e->result.sketch_len = 0;
}

/* ---- batches -------------------------------------------------------------------------------- */

static struct wr_outbox_batch *batch_get(struct wr_outbox *ob, size_t n)
{
    struct wr_outbox_batch *b = NULL;
    struct wr_outbox_batch **grown;

    for (size_t i = 0; i < ob->n_batches && b == NULL; i++)
        if (!ob->batches[i]->in_use)
            b = ob->batches[i];
    if (b == NULL) {
        b = plat_calloc(1, sizeof(*b));
        if (b == NULL)
            return NULL;
        grown = plat_calloc(ob->n_batches + 1, sizeof(*grown));
        if (grown == NULL) {
            plat_free(b);
            return NULL;
        }
        if (ob->n_batches > 0)
            memcpy(grown, ob->batches, ob->n_batches * sizeof(*grown));
        plat_free(ob->batches);
        ob->batches = grown;
        ob->batches[ob->n_batches++] = b;
    }
    if (b->cap < n) {
        uint64_t *refs = plat_calloc(n, sizeof(*refs));

        if (refs == NULL)
            return NULL;
        plat_free(b->refs);
        b->refs = refs;
        b->cap = n;
    }
    return b;
}

/* Is this stored result in a batch in flight? */
static bool store_ref_in_flight(const struct wr_outbox *ob, uint64_t id)
{
    for (size_t i = 0; i < ob->n_batches; i++) {
        const struct wr_outbox_batch *b = ob->batches[i];

        for (size_t j = 0; b->in_use && j < b->n; j++)
            if (b->refs[j] == id)
                return true;
    }
    return false;
}

/* The highest stored id in flight, so that reads above it skip the lookup. */
static uint64_t store_in_flight_max(const struct wr_outbox *ob)
{
    uint64_t max = 0;

    for (size_t i = 0; i < ob->n_batches; i++) {
        const struct wr_outbox_batch *b = ob->batches[i];

        for (size_t j = 0; b->in_use && j < b->n; j++)
            if (!is_memory_ref(b->refs[j]) && b->refs[j] > max)
                max = b->refs[j];
    }
    return max;
}

/* A memory entry in flight now lives in storage under id: its batch names it so. */
static void repoint_ref(struct wr_outbox *ob, uint64_t seq, uint64_t id)
{
    for (size_t i = 0; i < ob->n_batches; i++) {
        struct wr_outbox_batch *b = ob->batches[i];

        for (size_t j = 0; b->in_use && j < b->n; j++) {
            if (b->refs[j] == (seq | MEMORY_REF)) {
                b->refs[j] = id;
                return;
            }
        }
    }
}

/* ---- writing to storage --------------------------------------------------------------------- */

/*
 * Write every live entry not yet written, in order, in one unit (its own
 * transaction, or a savepoint of the open checkpoint). The ids are kept in
 * the entries until the unit's fate is known (commit_written / forget_written).
 */
static int write_live(struct wr_outbox *ob, size_t *written)
{
    size_t n = 0;
    int rc;

    *written = 0;
    /* A result the store would refuse stays in memory rather than fail every write. */
    for (size_t i = 0; i < ob->count; i++) {
        struct mem_entry *e = entry_at(ob, i);

        if (!e->removed && wr_store_outbox_accepts(ob->store, &e->result))
            ob->write_ptrs[n++] = &e->result;
    }
    if (n == 0)
        return WR_OK;
    rc = wr_store_outbox_append_ids(ob->store, ob->write_ptrs, n, ob->write_ids);
    if (rc != WR_OK)
        return rc;
    n = 0;
    for (size_t i = 0; i < ob->count; i++) {
        struct mem_entry *e = entry_at(ob, i);

        if (!e->removed && wr_store_outbox_accepts(ob->store, &e->result))
            e->store_id = ob->write_ids[n++];
    }
    *written = n;
    return WR_OK;
}

/* The written entries are in storage now: they leave memory. */
static void commit_written(struct wr_outbox *ob)
{
    uint64_t persisted = 0;

    for (size_t i = 0; i < ob->count; i++) {
        struct mem_entry *e = entry_at(ob, i);

        if (e->removed || e->store_id == 0)
            continue;
        if (e->in_flight)
            repoint_ref(ob, e->seq, e->store_id);
        if (e->ever_sent && e->store_id > ob->sent_floor)
            ob->sent_floor = e->store_id;
        e->store_id = 0;
        remove_entry(ob, e);
        persisted++;
    }
    pop_removed_head(ob);
    ob->persisted += persisted;
    wr_metrics_add(ob->metrics, WR_C_OUTBOX_PERSISTED, persisted);
    ob->peek_valid = false;
    if (ob->persist_failing)
        PLAT_INFO(MOD, "storage writable again: results are persisted again");
    ob->persist_failing = false;
}

static void forget_written(struct wr_outbox *ob)
{
    uint64_t unpersisted = 0;

    for (size_t i = 0; i < ob->count; i++) {
        struct mem_entry *e = entry_at(ob, i);

        e->store_id = 0;
        if (!e->removed && !e->counted) {
            e->counted = true;
            unpersisted++;
        }
    }
    wr_metrics_add(ob->metrics, WR_C_RESULTS_UNPERSISTED, unpersisted);
    if (!ob->persist_failing)
        PLAT_ERROR(MOD, "cannot persist results (storage failed): keeping up to %zu in memory",
                   ob->capacity);
    ob->persist_failing = true;
}

/* The ring is full: write it all out in one transaction, then it is empty. */
static bool spill(struct wr_outbox *ob)
{
    size_t written = 0;
    int rc;

    if (ob->store == NULL)
        return false;
    rc = write_live(ob, &written);
    if (rc != WR_OK) {
        wr_metrics_add(ob->metrics, WR_C_STORE_WRITE_FAILURES, 1);
        forget_written(ob);
        return false;
    }
    ob->spills++;
    commit_written(ob);
    wr_outbox_enforce_budget(ob);
    return true;
}

static void keep_in_memory(struct wr_outbox *ob, const struct wr_result *r)
{
    struct mem_entry *e;

    if (ob->count == ob->capacity) {
        pop_removed_head(ob);
        if (ob->count == ob->capacity && ob->live < ob->count)
            squeeze(ob);
    }
    if (ob->count == ob->capacity && !spill(ob)) {
        /* Full of live results that cannot be written: the oldest goes, and says so. */
        struct mem_entry *oldest = entry_at(ob, 0);

        if (oldest->in_flight)
            oldest->in_flight = false; /* its batch will find it gone */
        remove_entry(ob, oldest);
        wr_metrics_add(ob->metrics, WR_C_OUTBOX_DROPPED, 1);
        pop_removed_head(ob);
        ob->peek_valid = false;
    }
    e = entry_at(ob, ob->count);
    memset(e, 0, sizeof(*e));
    e->seq = ob->next_seq++;
    e->result = *r;
    e->result.agg.sketch = NULL;
    e->result.sketch = NULL;
    e->result.sketch_len = 0;
    if (r->sketch != NULL && r->sketch_len > 0) {
        /* Sized to this result's sketch: results of streams without quantiles pay nothing. */
        e->sketch_bytes = plat_malloc(r->sketch_len);
        if (e->sketch_bytes != NULL) {
            memcpy(e->sketch_bytes, r->sketch, r->sketch_len);
            e->result.sketch = e->sketch_bytes;
            e->result.sketch_len = r->sketch_len;
            ob->sketch_bytes += r->sketch_len;
        } else {
            plat_log_limited(&ob->sketch_limiter, 10000, PLAT_LOG_WARN, MOD,
                             "no memory for a result's sketch: it is kept without it (its "
                             "quantile values stay; a rollup of it has none)");
        }
    }
    ob->count++;
    ob->live++;
    if (ob->store == NULL) {
        /* No storage at all (state dir unusable): memory is all it gets. */
        e->counted = true;
        wr_metrics_add(ob->metrics, WR_C_RESULTS_UNPERSISTED, 1);
    }
}

int wr_outbox_append(struct wr_outbox *ob, const struct wr_result *results, size_t n)
{
    if (ob == NULL || (results == NULL && n > 0))
        return WR_E_INVAL;
    for (size_t i = 0; i < n; i++)
        keep_in_memory(ob, &results[i]);
    return WR_OK;
}

/* ---- the forwarder's side ------------------------------------------------------------------- */

static int reserve_peeked(struct wr_outbox *ob, size_t max)
{
    uint64_t *grown;

    if (max <= ob->peek_cap)
        return WR_OK;
    grown = plat_calloc(max, sizeof(*grown));
    if (grown == NULL)
        return WR_E_NOMEM;
    plat_free(ob->peeked);
    ob->peeked = grown;
    ob->peek_cap = max;
    return WR_OK;
}

/*
 * Append a stored result's sketch to the peek buffer. The buffer may still
 * move, so the view is cleared here and set once the stored results are in
 * (point_stored_sketches).
 */
static int keep_peeked_sketch(struct wr_outbox *ob, struct wr_result *r)
{
    size_t need = ob->peek_bytes_len + r->sketch_len;

    if (r->sketch == NULL || r->sketch_len == 0) {
        r->sketch = NULL;
        r->sketch_len = 0;
        return WR_OK;
    }
    if (plat_mem_reserve(&ob->peek_bytes, &ob->peek_bytes_cap, need, 1024) != 0)
        return WR_E_NOMEM;
    memcpy(ob->peek_bytes + ob->peek_bytes_len, r->sketch, r->sketch_len);
    ob->peek_bytes_len = need;
    r->sketch = NULL;
    return WR_OK;
}

/* The stored results' sketches lie back to back in the peek buffer, in result order. */
static void point_stored_sketches(struct wr_outbox *ob, struct wr_result *out, size_t n)
{
    size_t at = 0;

    for (size_t i = 0; i < n; i++) {
        if (out[i].sketch_len == 0)
            continue;
        out[i].sketch = ob->peek_bytes + at;
        at += out[i].sketch_len;
    }
}

static int peek_store(struct wr_outbox *ob, struct wr_result *out, size_t max, size_t *n)
{
    uint64_t after = ob->store_cursor;
    uint64_t busy_max = store_in_flight_max(ob);
    uint64_t stored = 0;

    wr_store_outbox_stats(ob->store, &stored, NULL);
    while (stored > 0 && *n < max) {
        size_t want = max - *n < STORE_PAGE ? max - *n : STORE_PAGE;
        size_t got = 0;
        int rc;

        /* Rows in flight are skipped, so a page may be read for fewer results. */
        if (want < STORE_PAGE && busy_max > after)
            want = STORE_PAGE;
        rc = wr_store_outbox_read(ob->store, after, ob->page, want, &got);
        if (rc != WR_OK)
            return rc;
        for (size_t i = 0; i < got && *n < max; i++) {
            uint64_t id = ob->page[i].id;

            after = id;
            if (id <= busy_max && store_ref_in_flight(ob, id))
                continue;
            out[*n] = ob->page[i].result;
            rc = keep_peeked_sketch(ob, &out[*n]);
            if (rc != WR_OK)
                return rc;
            ob->peeked[*n] = id;
            (*n)++;
        }
        if (got < want)
            break;
    }
    return WR_OK;
}

int wr_outbox_peek(struct wr_outbox *ob, struct wr_result *out, size_t max, size_t *n_out)
{
    size_t n = 0;
    int rc;

    if (ob == NULL || (out == NULL && max > 0) || n_out == NULL)
        return WR_E_INVAL;
    *n_out = 0;
    ob->peek_valid = false;
    if (max == 0)
        return WR_OK;
    rc = reserve_peeked(ob, max);
    if (rc != WR_OK)
        return rc;
    ob->peek_bytes_len = 0;
    if (ob->store != NULL) {
        rc = peek_store(ob, out, max, &n);
        if (rc != WR_OK)
            return rc;
    }
    point_stored_sketches(ob, out, n);
    for (size_t off = first_from(ob, ob->mem_due_seq); off < ob->count && n < max; off++) {
        struct mem_entry *e = entry_at(ob, off);

        if (e->removed || e->in_flight)
            continue;
        out[n] = e->result; /* its sketch view points into the entry */
        ob->peeked[n] = e->seq | MEMORY_REF;
        n++;
    }
    ob->n_peeked = n;
    ob->peek_valid = true;
    *n_out = n;
    return WR_OK;
}

int wr_outbox_mark_sent(struct wr_outbox *ob, size_t n, struct wr_outbox_batch **batch)
{
    struct wr_outbox_batch *b;

    if (ob == NULL || batch == NULL || n == 0 || !ob->peek_valid || n > ob->n_peeked)
        return WR_E_INVAL;
    b = batch_get(ob, n);
    if (b == NULL)
        return WR_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        uint64_t ref = ob->peeked[i];

        if (is_memory_ref(ref)) {
            struct mem_entry *e = find_entry(ob, ref & ~MEMORY_REF);

            /* Peeked just now, so it is there; the cursor moves past it. */
            if (e != NULL) {
                e->in_flight = true;
                e->ever_sent = true;
            }
            if ((ref & ~MEMORY_REF) >= ob->mem_due_seq)
                ob->mem_due_seq = (ref & ~MEMORY_REF) + 1;
        } else {
            if (ref > ob->store_cursor)
                ob->store_cursor = ref;
            if (ref > ob->sent_floor)
                ob->sent_floor = ref;
        }
        b->refs[i] = ref;
    }
    b->n = n;
    b->in_use = true;
    ob->in_flight += n;
    ob->peek_valid = false;
    *batch = b;
    return WR_OK;
}

static void end_batch(struct wr_outbox *ob, struct wr_outbox_batch *b)
{
    ob->in_flight -= b->n < ob->in_flight ? b->n : ob->in_flight;
    b->in_use = false;
    b->n = 0;
    ob->peek_valid = false;
}

/* Remember acknowledged ids whose delete failed; without memory they are sent again after a
 * restart. */
static void retry_later(struct wr_outbox *ob, const uint64_t *ids, size_t n)
{
    if (ob->n_retry + n > ob->cap_retry) {
        size_t cap = ob->cap_retry == 0 ? STORE_PAGE : ob->cap_retry;
        uint64_t *grown;

        while (cap < ob->n_retry + n)
            cap *= 2;
        grown = plat_calloc(cap, sizeof(*grown));
        if (grown == NULL)
            return;
        if (ob->n_retry > 0)
            memcpy(grown, ob->retry_ids, ob->n_retry * sizeof(*grown));
        plat_free(ob->retry_ids);
        ob->retry_ids = grown;
        ob->cap_retry = cap;
    }
    memcpy(ob->retry_ids + ob->n_retry, ids, n * sizeof(*ids));
    ob->n_retry += n;
}

static int delete_stored(struct wr_outbox *ob, const uint64_t *ids, size_t n)
{
    int rc;

    if (n == 0 || ob->store == NULL)
        return WR_OK;
    rc = wr_store_outbox_delete(ob->store, ids, n);
    if (rc != WR_OK) {
        /* The rows stay for now; the next checkpoint deletes them again. */
        wr_metrics_add(ob->metrics, WR_C_STORE_WRITE_FAILURES, 1);
        retry_later(ob, ids, n);
        if (!ob->persist_failing)
            PLAT_ERROR(MOD,
                       "cannot delete acknowledged results (%s): retrying at the next "
                       "checkpoint",
                       wr_strerror(rc));
        ob->persist_failing = true;
    }
    return rc;
}

int wr_outbox_acknowledge(struct wr_outbox *ob, struct wr_outbox_batch *b)
{
    uint64_t ids[STORE_PAGE];
    size_t n_ids = 0;
    int rc = WR_OK;

    if (ob == NULL || b == NULL || !b->in_use)
        return WR_E_INVAL;
    for (size_t i = 0; i < b->n; i++) {
        uint64_t ref = b->refs[i];

        if (is_memory_ref(ref)) {
            struct mem_entry *e = find_entry(ob, ref & ~MEMORY_REF);

            if (e != NULL)
                remove_entry(ob, e);
            continue;
        }
        ids[n_ids++] = ref;
        if (n_ids == STORE_PAGE) {
            int drc = delete_stored(ob, ids, n_ids);

            if (rc == WR_OK)
                rc = drc; /* keep the first failure's code; the rest still go */
            n_ids = 0;
        }
    }
    if (n_ids > 0) {
        int drc = delete_stored(ob, ids, n_ids);

        if (rc == WR_OK)
            rc = drc;
    }
    pop_removed_head(ob);
    end_batch(ob, b);
    return rc;
}

void wr_outbox_release(struct wr_outbox *ob, struct wr_outbox_batch *b)
{
    if (ob == NULL || b == NULL || !b->in_use)
        return;
    for (size_t i = 0; i < b->n; i++) {
        uint64_t ref = b->refs[i];

        if (is_memory_ref(ref)) {
            uint64_t seq = ref & ~MEMORY_REF;
            struct mem_entry *e = find_entry(ob, seq);

            if (e != NULL)
                e->in_flight = false;
            if (seq < ob->mem_due_seq)
                ob->mem_due_seq = seq;
        } else if (ref - 1 < ob->store_cursor) {
            ob->store_cursor = ref - 1;
        }
    }
    end_batch(ob, b);
}

/* ---- checkpoints and the budget ------------------------------------------------------------- */

int wr_outbox_checkpoint_write(struct wr_outbox *ob)
{
    size_t written = 0;

    if (ob == NULL)
        return WR_E_INVAL;
    if (ob->store == NULL)
        return WR_OK;
    ob->write_open = true;
    /* A failure is counted by the caller, whose whole checkpoint fails with it. */
    if (ob->n_retry > 0) {
        int rc = wr_store_outbox_delete(ob->store, ob->retry_ids, ob->n_retry);

        if (rc != WR_OK)
            return rc;
    }
    return write_live(ob, &written);
}

void wr_outbox_checkpoint_end(struct wr_outbox *ob, bool committed)
{
    bool wrote;

    if (ob == NULL || ob->store == NULL)
        return;
    wrote = ob->write_open;
    ob->write_open = false;
    if (!committed) {
        /* Also when the checkpoint failed before it came to the outbox. */
        forget_written(ob);
        return;
    }
    if (wrote) {
        ob->n_retry = 0;
        commit_written(ob);
    }
    wr_outbox_enforce_budget(ob);
}

void wr_outbox_enforce_budget(struct wr_outbox *ob)
{
    struct wr_store_budget_report rep;

    if (ob == NULL || ob->store == NULL || ob->max_bytes == 0 ||
        wr_store_bytes(ob->store) <= ob->max_bytes)
        return;
    memset(&rep, 0, sizeof(rep));
    /* Counted whatever the outcome: WR_E_FULL still reports what was done. */
    wr_store_enforce_budget(ob->store, ob->sent_floor, &rep);
    wr_metrics_add(ob->metrics, WR_C_OUTBOX_ROLLED_UP, rep.rolled_up);
    wr_metrics_add(ob->metrics, WR_C_OUTBOX_DROPPED, rep.dropped);
    /* Stored rows above the floor may have been merged or dropped: read them again. */
    ob->peek_valid = false;
}

/* ---- figures -------------------------------------------------------------------------------- */

void wr_outbox_get_stats(const struct wr_outbox *ob, struct wr_outbox_stats *stats)
{
    uint64_t rows = 0;
    uint64_t bytes = 0;

    if (stats == NULL)
        return;
    memset(stats, 0, sizeof(*stats));
    if (ob == NULL)
        return;
    if (ob->store != NULL)
        wr_store_outbox_stats(ob->store, &rows, &bytes);
    stats->stored_rows = rows;
    stats->memory_rows = ob->live;
    stats->rows = rows + ob->live;
    stats->bytes = bytes + ob->live * sizeof(struct wr_result) + ob->sketch_bytes;
    stats->persisted = ob->persisted;
    stats->spills = ob->spills;
    stats->in_flight = ob->in_flight;
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
    struct wr_outbox_stats s;

    wr_outbox_get_stats(ob, &s);
    if (rows != NULL)
        *rows = s.rows;
    if (bytes != NULL)
        *bytes = s.bytes;
}
