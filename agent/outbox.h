#ifndef WR_OUTBOX_H
#define WR_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "forward.h"
#include "metrics.h"
#include "result.h"

/*
 * Where closed window results wait until upstream acknowledges them.
 * Results go into the SQLite store (agent/store.h) before they are
 * published. When the store cannot be written (disk full, read-only state
 * dir) results are kept in a bounded memory ring instead and sent from
 * there, so ingest and forwarding go on; each such result is counted in
 * windrow_results_unpersisted_total, and the oldest is dropped (counted
 * in windrow_outbox_dropped_total) when the ring is full. New results go
 * to the store again as soon as a write succeeds.
 *
 * Memory rows have ids with the top bit set so they never collide with
 * the store's. Reads return store rows first, then memory rows.
 * Not thread-safe: pipeline thread only.
 */

struct wr_outbox;
struct wr_store;

#define WR_OUTBOX_MEMORY_ID_BIT (UINT64_C(1) << 63)

struct wr_outbox_params {
    struct wr_store *store;      /* borrowed; NULL = memory only */
    size_t memory_capacity;      /* results the ring holds */
    struct wr_metrics *metrics;  /* borrowed */
};

/** Returns WR_OK, WR_E_INVAL or WR_E_NOMEM. */
int wr_outbox_create(const struct wr_outbox_params *params, struct wr_outbox **out);

/**
 * Start using a store that became available after create (borrowed). New
 * results go to it; rows already in memory stay there until acknowledged.
 */
void wr_outbox_set_store(struct wr_outbox *ob, struct wr_store *store);
void wr_outbox_destroy(struct wr_outbox *ob);

/**
 * Keep n results. Returns WR_OK when all were kept (in the store or in
 * memory); WR_E_INVAL for bad arguments. Storage errors are absorbed and
 * counted, never returned: a result is only lost when the ring overflows.
 */
int wr_outbox_append(struct wr_outbox *ob, const struct wr_result *results, size_t n);

/** struct wr_forward_io.read: rows after *cursor, oldest first. ctx is the outbox. */
int wr_outbox_read(void *ctx, struct wr_forward_cursor *cursor, struct wr_forward_row *rows,
                   size_t max, size_t *n);

/** struct wr_forward_io.remove: delete acknowledged rows. ctx is the outbox. */
int wr_outbox_remove(void *ctx, const uint64_t *ids, size_t n);

/**
 * Keep the store within its byte budget (rollup, then drop oldest), never
 * touching rows at or below min_id (they may be in flight). Counts what it did.
 */
void wr_outbox_enforce_budget(struct wr_outbox *ob, uint64_t min_id);

/** Called per result by wr_outbox_visit_memory; borrowed. Non-WR_OK stops the walk. */
typedef int (*wr_outbox_result_fn)(void *ctx, const struct wr_result *result);

/**
 * Visit, oldest first, every result that waits only in memory (not in the
 * store, not yet acknowledged): what a crash snapshot must keep, since a
 * process crash would otherwise lose it. Putting them back after a crash is
 * an ordinary wr_outbox_append. Returns WR_OK, WR_E_INVAL, or fn's code.
 */
int wr_outbox_visit_memory(const struct wr_outbox *ob, wr_outbox_result_fn fn, void *ctx);

/** Results waiting (store + memory) and their approximate bytes. */
void wr_outbox_stats(const struct wr_outbox *ob, uint64_t *rows, uint64_t *bytes);

#endif /* WR_OUTBOX_H */
