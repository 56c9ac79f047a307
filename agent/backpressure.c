#include "backpressure.h"

#include <stdatomic.h>
#include <string.h>

#include "plat_mem.h"
#include "wr_error.h"

#define MAX_PRIORITY 9u

struct wr_backpressure {
    uint8_t shed_enter_pct;
    uint8_t shed_leave_pct;
    uint8_t critical_enter_pct;
    uint8_t critical_leave_pct;
    bool sample;
    uint32_t keep_one_in;

    uint8_t *priorities; /* per stream */
    uint32_t *sample_at; /* per stream: events since the last one kept, mod keep_one_in */
    size_t n_streams;
    uint8_t levels[MAX_PRIORITY + 1]; /* distinct priorities, ascending */
    unsigned n_levels;

    enum wr_bp_state state;
    unsigned shed_below;  /* streams with a lower priority are shed; 0 = none */
    atomic_int published; /* copy of state for other threads */
};

/* fill >= pct, i.e. depth / capacity >= pct / 100, without division or rounding. */
static bool at_least(uint64_t depth, uint64_t capacity, unsigned pct)
{
    return depth * 100u >= (uint64_t)pct * capacity;
}

static bool at_most(uint64_t depth, uint64_t capacity, unsigned pct)
{
    return depth * 100u <= (uint64_t)pct * capacity;
}

static enum wr_bp_state next_state(const struct wr_backpressure *bp, uint64_t depth,
                                   uint64_t capacity)
{
    switch (bp->state) {
    case WR_BP_NORMAL:
        if (at_least(depth, capacity, bp->critical_enter_pct))
            return WR_BP_CRITICAL;
        if (at_least(depth, capacity, bp->shed_enter_pct))
            return WR_BP_SHEDDING;
        return WR_BP_NORMAL;
    case WR_BP_SHEDDING:
        if (at_least(depth, capacity, bp->critical_enter_pct))
            return WR_BP_CRITICAL;
        if (at_most(depth, capacity, bp->shed_leave_pct))
            return WR_BP_NORMAL;
        return WR_BP_SHEDDING;
    case WR_BP_CRITICAL:
    default:
        if (!at_most(depth, capacity, bp->critical_leave_pct))
            return WR_BP_CRITICAL;
        if (at_most(depth, capacity, bp->shed_leave_pct))
            return WR_BP_NORMAL;
        return WR_BP_SHEDDING;
    }
}

/*
 * The number of lowest priority levels shed (see the header):
 * 1 + (fill - enter) * (L - 1) / (critical - enter), in integers as
 * (100 * depth - enter * capacity) * (L - 1) / ((critical - enter) * capacity).
 * Depth is at most capacity (at most 2^32 in practice), so nothing overflows.
 */
static unsigned levels_shed(const struct wr_backpressure *bp, uint64_t depth, uint64_t capacity)
{
    unsigned sheddable = bp->n_levels - 1u;
    uint64_t enter = (uint64_t)bp->shed_enter_pct * capacity;
    uint64_t num;
    uint64_t den;
    uint64_t k;

    if (sheddable == 0)
        return 0;
    if (bp->state == WR_BP_CRITICAL)
        return sheddable;
    if (depth * 100u <= enter)
        return 1;
    num = (depth * 100u - enter) * sheddable;
    den = (uint64_t)(bp->critical_enter_pct - bp->shed_enter_pct) * capacity;
    k = 1u + num / den;
    return k > sheddable ? sheddable : (unsigned)k;
}

enum wr_bp_state wr_backpressure_update(struct wr_backpressure *bp, size_t depth, size_t capacity,
                                        bool *changed)
{
    enum wr_bp_state next;
    uint64_t d = depth;
    uint64_t cap = capacity;

    if (changed != NULL)
        *changed = false;
    if (bp == NULL)
        return WR_BP_NORMAL;
    if (cap == 0)
        return bp->state;
    if (d > cap)
        d = cap;
    next = next_state(bp, d, cap);
    if (next != bp->state) {
        bp->state = next;
        atomic_store_explicit(&bp->published, (int)next, memory_order_relaxed);
        if (changed != NULL)
            *changed = true;
    }
    if (bp->state == WR_BP_NORMAL) {
        bp->shed_below = 0;
    } else {
        unsigned k = levels_shed(bp, d, cap);

        bp->shed_below = k > 0 ? bp->levels[k] : 0u;
    }
    return bp->state;
}

bool wr_backpressure_should_shed(struct wr_backpressure *bp, size_t stream_index)
{
    uint32_t *at;

    if (bp == NULL || stream_index >= bp->n_streams)
        return false;
    if (bp->priorities[stream_index] >= bp->shed_below)
        return false;
    if (!bp->sample)
        return true;
    /* Keep the first event of each run of keep_one_in, shed the rest. */
    at = &bp->sample_at[stream_index];
    if (*at == 0) {
        *at = bp->keep_one_in > 1u ? 1u : 0u;
        return false;
    }
    *at = *at + 1u >= bp->keep_one_in ? 0u : *at + 1u;
    return true;
}

unsigned wr_backpressure_shed_below(const struct wr_backpressure *bp)
{
    return bp != NULL ? bp->shed_below : 0u;
}

enum wr_bp_state wr_backpressure_current(const struct wr_backpressure *bp)
{
    if (bp == NULL)
        return WR_BP_NORMAL;
    return (enum wr_bp_state)atomic_load_explicit(&bp->published, memory_order_relaxed);
}

const char *wr_backpressure_state_name(enum wr_bp_state state)
{
    switch (state) {
    case WR_BP_NORMAL:
        return "normal";
    case WR_BP_SHEDDING:
        return "shedding";
    case WR_BP_CRITICAL:
        return "critical";
    }
    return "unknown";
}

static bool params_valid(const struct wr_backpressure_params *p)
{
    if (p->priorities == NULL || p->n_streams == 0)
        return false;
    if (!(p->shed_leave_pct < p->shed_enter_pct && p->shed_enter_pct <= p->critical_leave_pct &&
          p->critical_leave_pct < p->critical_enter_pct && p->critical_enter_pct <= 100u))
        return false;
    if (p->shed_mode == WR_SHED_SAMPLE && p->sample_keep_one_in == 0)
        return false;
    if (p->shed_mode != WR_SHED_SAMPLE && p->shed_mode != WR_SHED_DROP)
        return false;
    for (size_t s = 0; s < p->n_streams; s++)
        if (p->priorities[s] > MAX_PRIORITY)
            return false;
    return true;
}

int wr_backpressure_create(const struct wr_backpressure_params *params,
                           struct wr_backpressure **out)
{
    struct wr_backpressure *bp;
    bool present[MAX_PRIORITY + 1];

    if (params == NULL || out == NULL || !params_valid(params))
        return WR_E_INVAL;
    bp = plat_calloc(1, sizeof(*bp));
    if (bp == NULL)
        return WR_E_NOMEM;
    bp->priorities = plat_calloc(params->n_streams, sizeof(*bp->priorities));
    bp->sample_at = plat_calloc(params->n_streams, sizeof(*bp->sample_at));
    if (bp->priorities == NULL || bp->sample_at == NULL) {
        wr_backpressure_destroy(bp);
        return WR_E_NOMEM;
    }
    bp->shed_enter_pct = params->shed_enter_pct;
    bp->shed_leave_pct = params->shed_leave_pct;
    bp->critical_enter_pct = params->critical_enter_pct;
    bp->critical_leave_pct = params->critical_leave_pct;
    bp->sample = params->shed_mode == WR_SHED_SAMPLE;
    bp->keep_one_in = params->sample_keep_one_in;
    bp->n_streams = params->n_streams;
    memset(present, 0, sizeof(present));
    for (size_t s = 0; s < params->n_streams; s++) {
        bp->priorities[s] = params->priorities[s];
        present[params->priorities[s]] = true;
    }
    for (unsigned p = 0; p <= MAX_PRIORITY; p++)
        if (present[p])
            bp->levels[bp->n_levels++] = (uint8_t)p;
    bp->state = WR_BP_NORMAL;
    bp->shed_below = 0;
    atomic_init(&bp->published, (int)WR_BP_NORMAL);
    *out = bp;
    return WR_OK;
}

void wr_backpressure_destroy(struct wr_backpressure *bp)
{
    if (bp == NULL)
        return;
    plat_free(bp->sample_at);
    plat_free(bp->priorities);
    plat_free(bp);
}
