#ifndef WR_FLEET_INBOX_H
#define WR_FLEET_INBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uplink.h"

/*
 * The hand-over of pushed config messages from the uplink (Paho's thread,
 * under Paho's process-wide mutex) to the thread that judges them (the
 * pipeline's, in main.c's loop). It holds one message: a newer one replaces
 * one not yet taken, because a config topic is latest-wins (retained) and
 * only the newest push can be applied anyway. A message above the size
 * limit is not copied; its size is kept so the refusal can say it.
 *
 * put never waits for the taker: it holds the inbox's own lock only to swap
 * a pointer, and the copy is made before. The inbox outlives the uplinks
 * that feed it (one per pipeline, rebuilt on every reload).
 */

struct wr_fleet_inbox;
struct wr_fleet_waker; /* defined by whoever is woken (main.c) */

/** Called (on Paho's thread) after a message was put, so the taker looks soon. */
struct wr_fleet_wake {
    void (*wake)(struct wr_fleet_waker *waker);
    struct wr_fleet_waker *waker;
};

struct wr_fleet_inbox_item {
    char *payload;       /* a copy (plat_malloc, NUL added); NULL when oversize */
    size_t len;          /* the message's size in bytes */
    bool oversize;       /* len was above the limit: not copied */
    uint64_t superseded; /* messages replaced before being taken, since the last take */
};

/**
 * Create with a size limit (bytes; fleet.max_envelope_bytes). wake may be
 * NULL; it is copied. Returns WR_OK, WR_E_INVAL or WR_E_NOMEM.
 */
int wr_fleet_inbox_create(size_t max_bytes, const struct wr_fleet_wake *wake,
                          struct wr_fleet_inbox **out);

/** Free, with any message not taken. NULL does nothing. No put may run or follow. */
void wr_fleet_inbox_destroy(struct wr_fleet_inbox *in);

/** Change the size limit for messages put from now on. Thread-safe. */
void wr_fleet_inbox_set_limit(struct wr_fleet_inbox *in, size_t max_bytes);

/**
 * Keep a copy of payload (len bytes, borrowed), replacing a message not yet
 * taken, then wake. Thread-safe, never waits for the taker. Returns WR_OK,
 * WR_E_INVAL or WR_E_NOMEM (the message is dropped and logged; a retained
 * push comes again with the next connection).
 */
int wr_fleet_inbox_put(struct wr_fleet_inbox *in, const void *payload, size_t len);

/**
 * Take the waiting message, if any: true and *item filled (the caller owns
 * it; release with wr_fleet_inbox_item_clear), or false. Thread-safe.
 */
bool wr_fleet_inbox_take(struct wr_fleet_inbox *in, struct wr_fleet_inbox_item *item);

/** Free what an item owns and zero it. NULL does nothing. */
void wr_fleet_inbox_item_clear(struct wr_fleet_inbox_item *item);

/** The uplink's view of the inbox (struct wr_uplink_params.inbound); owned by the inbox. */
const struct wr_uplink_inbound *wr_fleet_inbox_inbound(struct wr_fleet_inbox *in);

#endif /* WR_FLEET_INBOX_H */
