#include "fleet_inbox.h"

#include <stdatomic.h>
#include <string.h>

#include "plat_log.h"
#include "plat_mem.h"
#include "plat_thread.h"
#include "wr_error.h"

#define MOD "fleet"

/* The uplink's handle on the inbox (its incomplete struct wr_uplink_inbox). */
struct wr_uplink_inbox {
    struct wr_fleet_inbox *in;
};

struct wr_fleet_inbox {
    struct plat_mutex *lock; /* guards slot, has_slot, superseded */
    struct wr_fleet_inbox_item slot;
    bool has_slot;
    uint64_t superseded;
    atomic_size_t max_bytes;
    struct wr_fleet_wake wake;
    struct wr_uplink_inbox handle;
    struct wr_uplink_inbound inbound;
};

static void on_uplink_message(struct wr_uplink_inbox *h, const void *payload, size_t len)
{
    wr_fleet_inbox_put(h->in, payload, len);
}

int wr_fleet_inbox_create(size_t max_bytes, const struct wr_fleet_wake *wake,
                          struct wr_fleet_inbox **out)
{
    struct wr_fleet_inbox *in;

    if (out == NULL || (wake != NULL && wake->wake == NULL))
        return WR_E_INVAL;
    in = plat_calloc(1, sizeof(*in));
    if (in == NULL)
        return WR_E_NOMEM;
    if (plat_mutex_create(&in->lock) != WR_OK) {
        plat_free(in);
        return WR_E_NOMEM;
    }
    atomic_init(&in->max_bytes, max_bytes);
    if (wake != NULL)
        in->wake = *wake;
    in->handle.in = in;
    in->inbound.message = on_uplink_message;
    in->inbound.inbox = &in->handle;
    *out = in;
    return WR_OK;
}

void wr_fleet_inbox_destroy(struct wr_fleet_inbox *in)
{
    if (in == NULL)
        return;
    wr_fleet_inbox_item_clear(&in->slot);
    plat_mutex_destroy(in->lock);
    plat_free(in);
}

void wr_fleet_inbox_set_limit(struct wr_fleet_inbox *in, size_t max_bytes)
{
    if (in != NULL)
        atomic_store(&in->max_bytes, max_bytes);
}

int wr_fleet_inbox_put(struct wr_fleet_inbox *in, const void *payload, size_t len)
{
    struct wr_fleet_inbox_item item;
    struct wr_fleet_inbox_item old;

    if (in == NULL || (payload == NULL && len > 0))
        return WR_E_INVAL;
    memset(&item, 0, sizeof(item));
    item.len = len;
    if (len > atomic_load(&in->max_bytes)) {
        item.oversize = true;
    } else {
        /* Copied before the lock is taken: the taker never waits for a copy. */
        item.payload = plat_malloc(len + 1);
        if (item.payload == NULL) {
            PLAT_ERROR(MOD, "no memory for a pushed config of %zu bytes; dropped", len);
            return WR_E_NOMEM;
        }
        if (len > 0)
            memcpy(item.payload, payload, len);
        item.payload[len] = '\0';
    }
    memset(&old, 0, sizeof(old));
    plat_mutex_lock(in->lock);
    if (in->has_slot) {
        old = in->slot;
        in->superseded++;
    }
    in->slot = item;
    in->has_slot = true;
    plat_mutex_unlock(in->lock);
    wr_fleet_inbox_item_clear(&old);
    if (in->wake.wake != NULL)
        in->wake.wake(in->wake.waker);
    return WR_OK;
}

bool wr_fleet_inbox_take(struct wr_fleet_inbox *in, struct wr_fleet_inbox_item *item)
{
    bool got;

    if (in == NULL || item == NULL)
        return false;
    plat_mutex_lock(in->lock);
    got = in->has_slot;
    if (got) {
        *item = in->slot;
        item->superseded = in->superseded;
        memset(&in->slot, 0, sizeof(in->slot));
        in->has_slot = false;
        in->superseded = 0;
    }
    plat_mutex_unlock(in->lock);
    return got;
}

void wr_fleet_inbox_item_clear(struct wr_fleet_inbox_item *item)
{
    if (item == NULL)
        return;
    plat_free(item->payload);
    memset(item, 0, sizeof(*item));
}

const struct wr_uplink_inbound *wr_fleet_inbox_inbound(struct wr_fleet_inbox *in)
{
    return in != NULL ? &in->inbound : NULL;
}
