#ifndef WR_OUTBOX_H
#define WR_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "result.h"

/*
 * The outbox: the one owner of "results awaiting upstream". Closed window
 * results wait here until the upstream broker acknowledges them.
 *
 * Write-behind. A result lives in memory first. It reaches storage only if
 * it is still unacknowledged at a durable checkpoint (wr_outbox_checkpoint_write,
 * inside the checkpoint's transaction), or when the memory ring is full
 * (everything in memory is then written in one transaction: a spill). A
 * result acknowledged before either never touches storage; one that was
 * written is deleted from storage when it is acknowledged. So with a healthy
 * uplink the outbox writes nothing.
 *
 * The delivery contract: at least once; a result is forgotten only after its
 * acknowledgement (or when the storage budget rolls it up or drops it, or,
 * with storage failing, when the memory ring overflows: both counted). A
 * result only in memory when the process dies is produced again from the
 * restored window state (docs/storage.md, "What a crash can lose").
 *
 * Storage failing (disk full, read-only state dir): results stay in the
 * bounded memory ring and are sent from there; those a checkpoint or spill
 * could not write are counted once each in windrow_results_unpersisted_total,
 * and when the ring is full the oldest is dropped (windrow_outbox_dropped_total).
 * The next checkpoint that commits writes them.
 *
 * Order and identity are the outbox's own business: results are offered
 * oldest first (storage before memory: whatever reached storage is older than
 * what is still only in memory), a result handed back (released) is offered
 * again before newer ones, and the forwarder sees results and opaque batch
 * handles, never ids. The storage budget (rollup, then drop oldest) is
 * enforced here, after every write, and never touches a stored result that
 * has ever been handed out for sending: upstream may have it, and a coarser
 * result containing its events would count them twice.
 *
 * Not thread-safe: pipeline thread only.
 */

struct wr_outbox;
struct wr_outbox_batch;
struct wr_store;

struct wr_outbox_params {
    struct wr_store *store;     /* borrowed; NULL = memory only */
    size_t memory_capacity;     /* results the memory ring holds (> 0) */
    uint64_t max_bytes;         /* storage budget (storage.max_bytes); 0 = none */
    struct wr_metrics *metrics; /* borrowed; may be NULL */
};

/** Returns WR_OK, WR_E_INVAL or WR_E_NOMEM. */
int wr_outbox_create(const struct wr_outbox_params *params, struct wr_outbox **out);

/**
 * Start using a store that became available after create (borrowed). Results
 * in memory are written at the next checkpoint.
 */
void wr_outbox_set_store(struct wr_outbox *ob, struct wr_store *store);

/** Free; NULL does nothing. Results only in memory are lost (logged): checkpoint first. */
void wr_outbox_destroy(struct wr_outbox *ob);

/**
 * Keep n results (borrowed, copied, their sketch bytes too: each result in
 * memory holds a copy sized to its own sketch). Returns WR_OK when all were kept;
 * WR_E_INVAL for bad arguments. Storage errors are absorbed and counted,
 * never returned: a result is only lost when the ring overflows with storage
 * failing.
 */
int wr_outbox_append(struct wr_outbox *ob, const struct wr_result *results, size_t n);

/* ---- the forwarder's side (struct wr_forward_io) -------------------------------------------- */

/**
 * Copy up to max of the oldest results due for sending (not in flight, not
 * acknowledged) into out; *n how many. Their sketch bytes (result.sketch)
 * stay the outbox's: valid until the next outbox call other than
 * wr_outbox_mark_sent. Changes no state. Returns WR_OK
 * (also when none is due), WR_E_INVAL, WR_E_NOMEM, or a storage error from
 * reading stored results (the memory ones are then not offered either, so
 * order holds; the next call tries again).
 */
int wr_outbox_peek(struct wr_outbox *ob, struct wr_result *out, size_t max, size_t *n);

/**
 * The first n results of the last peek go out in one message: they are in
 * flight under *batch (owned by the outbox) until wr_outbox_acknowledge or
 * wr_outbox_release. Returns WR_OK, WR_E_INVAL (NULL, n == 0, or more than
 * the last peek returned, or the outbox changed since: peek again) or
 * WR_E_NOMEM.
 */
int wr_outbox_mark_sent(struct wr_outbox *ob, size_t n, struct wr_outbox_batch **batch);

/**
 * Upstream acknowledged the batch: its results are done (deleted from
 * storage if they had been written). Ends the handle. Returns WR_OK,
 * WR_E_INVAL, or a storage error from the delete: the results are then
 * done here, and the delete is retried in the next checkpoint's
 * transaction (should the process die first, they are sent again after the
 * restart: a duplicate, never a loss).
 */
int wr_outbox_acknowledge(struct wr_outbox *ob, struct wr_outbox_batch *batch);

/** The batch was not acknowledged: its results are due again, before newer ones. Ends the handle.
 */
void wr_outbox_release(struct wr_outbox *ob, struct wr_outbox_batch *batch);

/* ---- checkpoints ---------------------------------------------------------------------------- */

/**
 * Inside an open store checkpoint (wr_store_checkpoint_begin): write every
 * result still only in memory and not acknowledged, in order, in that
 * transaction (and retry deletes of acknowledged results that failed). Then call wr_outbox_checkpoint_end with whether the
 * transaction committed, before any other outbox call. Returns WR_OK
 * (nothing to write and no store included) or a storage error: the
 * checkpoint must then be rolled back, since it would otherwise record
 * windows as closed whose results it does not hold.
 */
int wr_outbox_checkpoint_write(struct wr_outbox *ob);

/**
 * The checkpoint committed (the written results now live in storage, and
 * the budget is enforced) or was rolled back (they stay in memory, counted
 * as unpersisted once each).
 */
void wr_outbox_checkpoint_end(struct wr_outbox *ob, bool committed);

/** Keep the store within max_bytes (rollup, then drop oldest), counted in the metrics. */
void wr_outbox_enforce_budget(struct wr_outbox *ob);

/** Called per result by wr_outbox_visit_memory; borrowed. Non-WR_OK stops the walk. */
typedef int (*wr_outbox_result_fn)(void *ctx, const struct wr_result *result);

/**
 * Visit, oldest first, every result that waits only in memory (not in the
 * store, not yet acknowledged, in flight or not): what a crash snapshot must keep, since a
 * process crash would otherwise lose it. Putting them back after a crash is
 * an ordinary wr_outbox_append. Returns WR_OK, WR_E_INVAL, or fn's code.
 */
int wr_outbox_visit_memory(const struct wr_outbox *ob, wr_outbox_result_fn fn, void *ctx);

/* ---- figures -------------------------------------------------------------------------------- */

struct wr_outbox_stats {
    uint64_t rows;        /* results waiting: stored + memory */
    uint64_t bytes;       /* approximate bytes of those */
    uint64_t memory_rows; /* results only in memory */
    uint64_t stored_rows; /* results in storage */
    uint64_t persisted;   /* results ever written to storage (checkpoints and spills) */
    uint64_t spills;      /* times a full memory ring was written out */
    uint64_t in_flight;   /* results handed out and not yet acknowledged or released */
};

/** Copy the figures; NULL ob gives zeros. */
void wr_outbox_get_stats(const struct wr_outbox *ob, struct wr_outbox_stats *stats);

/** Results waiting (store + memory) and their approximate bytes; NULLs allowed. */
void wr_outbox_stats(const struct wr_outbox *ob, uint64_t *rows, uint64_t *bytes);

#endif /* WR_OUTBOX_H */
