/*
 * What a checkpoint writes of the window state: per period (stream, window
 * start), one window set (store.h) holding either every window of the
 * period, replacing what the store had for it, or only the windows that
 * changed, adding to it. The choice keeps a checkpoint's bytes within twice
 * the state that changed, amortized:
 *   - a period is replaced when at least half its windows changed (then it
 *     writes at most twice what changed), or when what earlier additions
 *     wrote since its last replacement plus what changed now reaches the
 *     whole period (then the replacement costs no more than those changes
 *     did, and the sets of a period stay few);
 *   - a period the pipeline has not written since it started is replaced at
 *     its first change (what the store holds for it is not known), and one
 *     whose windows are all gone is emptied.
 * With the defaults (windows shorter than the interval, or all keys busy)
 * every period written is replaced. docs/storage.md, "Compact checkpoints".
 */
#include "pipeline_internal.h"

#include <stdlib.h>
#include <string.h>

#include "plat_log.h"
#include "plat_mem.h"
#include "wr_error.h"

#define MOD "pipeline"

/* One window seen by the walk, in the engine's visit order. */
struct ckpt_entry {
    uint16_t stream;
    bool changed;
    int64_t start_ms;
    uint32_t period; /* index into plan.periods, once sorted */
    uint32_t size;   /* bytes of its record */
};

struct ckpt_period {
    uint16_t stream;
    int64_t start_ms;
    uint32_t n;       /* windows in the engine */
    uint32_t changed; /* of them, changed since the last checkpoint */
    uint64_t bytes_all;
    uint64_t bytes_changed;
    bool write;
    bool replace;
    size_t offset;
    size_t fill;
    uint32_t written;
    uint64_t logical;
};

struct ckpt_plan {
    struct wr_pipeline *p;
    bool all_fields;
    struct ckpt_entry *entries;
    size_t n_entries;
    size_t cap_entries;
    struct ckpt_period *periods;
    size_t n_periods;
    unsigned char *buf;
    size_t at; /* pass 2: the entry being visited */
    int rc;
};

static int cmp_period(uint16_t sa, int64_t ta, uint16_t sb, int64_t tb)
{
    if (sa != sb)
        return sa < sb ? -1 : 1;
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct ckpt_entry *x = *(const struct ckpt_entry *const *)a;
    const struct ckpt_entry *y = *(const struct ckpt_entry *const *)b;

    return cmp_period(x->stream, x->start_ms, y->stream, y->start_ms);
}

/* Pass 1: every window, with the size of its record. */
static int collect(void *ctx, const struct wr_window_state *st)
{
    struct ckpt_plan *pl = ctx;
    struct ckpt_entry *e;
    size_t size = wr_store_window_record_size(pl->p->store, st, pl->all_fields);

    if (size == 0 || size > UINT32_MAX)
        return WR_E_INVAL;
    if (pl->n_entries == pl->cap_entries) {
        size_t cap = pl->cap_entries < 256 ? 256 : pl->cap_entries * 2;
        struct ckpt_entry *grown = plat_realloc(pl->entries, cap * sizeof(*grown));

        if (grown == NULL)
            return WR_E_NOMEM;
        pl->entries = grown;
        pl->cap_entries = cap;
    }
    e = &pl->entries[pl->n_entries++];
    e->stream = st->stream;
    e->start_ms = st->start_ms;
    e->changed = st->changed;
    e->size = (uint32_t)size;
    return WR_OK;
}

/* The periods of the entries, sorted, each entry pointing at its own. */
static int group(struct ckpt_plan *pl)
{
    struct ckpt_entry **order;
    size_t n = 0;

    if (pl->n_entries == 0)
        return WR_OK;
    order = plat_malloc(pl->n_entries * sizeof(*order));
    pl->periods = plat_calloc(pl->n_entries, sizeof(*pl->periods));
    if (order == NULL || pl->periods == NULL) {
        plat_free(order);
        return WR_E_NOMEM;
    }
    for (size_t i = 0; i < pl->n_entries; i++)
        order[i] = &pl->entries[i];
    qsort(order, pl->n_entries, sizeof(*order), cmp_entry);
    for (size_t i = 0; i < pl->n_entries; i++) {
        struct ckpt_entry *e = order[i];
        struct ckpt_period *per;

        if (n == 0 || cmp_period(pl->periods[n - 1].stream, pl->periods[n - 1].start_ms, e->stream,
                                 e->start_ms) != 0) {
            pl->periods[n].stream = e->stream;
            pl->periods[n].start_ms = e->start_ms;
            n++;
        }
        per = &pl->periods[n - 1];
        e->period = (uint32_t)(n - 1);
        per->n++;
        per->bytes_all += e->size;
        if (e->changed) {
            per->changed++;
            per->bytes_changed += e->size;
        }
    }
    pl->n_periods = n;
    plat_free(order);
    return WR_OK;
}

/* The tracked period (stream, start), or NULL: written by this pipeline, sorted. */
static struct wr_pipeline_ckpt_period *tracked(const struct wr_pipeline_ckpt *ck, uint16_t stream,
                                               int64_t start_ms)
{
    size_t lo = 0;
    size_t hi = ck->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_period(ck->periods[mid].stream, ck->periods[mid].start_ms, stream, start_ms);

        if (c == 0)
            return &ck->periods[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Which periods are written, and how; the buffer that holds their records. */
static int decide(struct ckpt_plan *pl)
{
    const struct wr_pipeline_ckpt *ck = &pl->p->ckpt;
    size_t total = 0;

    for (size_t i = 0; i < pl->n_periods; i++) {
        struct ckpt_period *per = &pl->periods[i];
        const struct wr_pipeline_ckpt_period *t = tracked(ck, per->stream, per->start_ms);

        if (pl->all_fields) {
            per->write = per->replace = true;
        } else if (per->changed > 0) {
            per->write = true;
            per->replace = t == NULL || 2 * (uint64_t)per->changed >= per->n ||
                           t->added_since_replace + per->changed >= per->n;
        }
        if (!per->write)
            continue;
        per->offset = total;
        total += (size_t)(per->replace ? per->bytes_all : per->bytes_changed);
    }
    pl->buf = plat_malloc(total > 0 ? total : 1);
    return pl->buf != NULL ? WR_OK : WR_E_NOMEM;
}

/* Pass 2: the records, each into its period's part of the buffer (same visit order). */
static int encode(void *ctx, const struct wr_window_state *st)
{
    struct ckpt_plan *pl = ctx;
    const struct ckpt_entry *e;
    struct ckpt_period *per;
    size_t got;

    if (pl->at >= pl->n_entries)
        return WR_E_STATE; /* the engine changed between the passes: it cannot */
    e = &pl->entries[pl->at++];
    per = &pl->periods[e->period];
    if (!per->write || (!per->replace && !st->changed))
        return WR_OK;
    got = wr_store_window_record_encode(pl->p->store, st, pl->all_fields,
                                        pl->buf + per->offset + per->fill, e->size);
    if (got != e->size)
        return WR_E_INVAL;
    per->fill += got;
    per->written++;
    if (st->changed)
        per->logical += got;
    return WR_OK;
}

/* Periods tracked but without windows now: their sets are emptied. */
static int empty_gone_periods(struct ckpt_plan *pl)
{
    const struct wr_pipeline_ckpt *ck = &pl->p->ckpt;
    size_t j = 0;

    for (size_t i = 0; i < ck->n; i++) {
        const struct wr_pipeline_ckpt_period *t = &ck->periods[i];
        int rc;

        while (j < pl->n_periods && cmp_period(pl->periods[j].stream, pl->periods[j].start_ms,
                                               t->stream, t->start_ms) < 0)
            j++;
        if (j < pl->n_periods &&
            cmp_period(pl->periods[j].stream, pl->periods[j].start_ms, t->stream, t->start_ms) == 0)
            continue;
        rc = wr_store_put_window_set(pl->p->store, t->stream, t->start_ms, true, NULL, 0, 0, 0);
        if (rc != WR_OK)
            return rc;
    }
    return WR_OK;
}

/*
 * The tracked periods after this checkpoint commits: every period the
 * engine holds that this pipeline has written (now or before), with what
 * additions wrote since its last replacement.
 */
static int next_tracked(const struct ckpt_plan *pl, struct wr_pipeline_ckpt *next)
{
    const struct wr_pipeline_ckpt *ck = &pl->p->ckpt;

    memset(next, 0, sizeof(*next));
    if (pl->n_periods == 0)
        return WR_OK;
    next->periods = plat_calloc(pl->n_periods, sizeof(*next->periods));
    if (next->periods == NULL)
        return WR_E_NOMEM;
    for (size_t i = 0; i < pl->n_periods; i++) {
        const struct ckpt_period *per = &pl->periods[i];
        const struct wr_pipeline_ckpt_period *t = tracked(ck, per->stream, per->start_ms);
        struct wr_pipeline_ckpt_period *out;

        if (!per->write && t == NULL)
            continue;
        out = &next->periods[next->n++];
        out->stream = per->stream;
        out->start_ms = per->start_ms;
        if (per->replace)
            out->added_since_replace = 0;
        else
            out->added_since_replace = t->added_since_replace + (per->write ? per->written : 0);
    }
    return WR_OK;
}

static void plan_free(struct ckpt_plan *pl)
{
    plat_free(pl->entries);
    plat_free(pl->periods);
    plat_free(pl->buf);
}

int wr_pipeline__write_windows(struct wr_pipeline *p, bool all_fields,
                               struct wr_pipeline_ckpt *next)
{
    struct ckpt_plan pl;
    int rc;

    memset(&pl, 0, sizeof(pl));
    memset(next, 0, sizeof(*next));
    pl.p = p;
    pl.all_fields = all_fields;
    rc = wr_window_visit_all(p->window, collect, &pl);
    if (rc == WR_OK)
        rc = group(&pl);
    if (rc == WR_OK)
        rc = decide(&pl);
    if (rc == WR_OK)
        rc = wr_window_visit_all(p->window, encode, &pl);
    for (size_t i = 0; rc == WR_OK && i < pl.n_periods; i++) {
        const struct ckpt_period *per = &pl.periods[i];

        if (per->write)
            rc = wr_store_put_window_set(p->store, per->stream, per->start_ms, per->replace,
                                         pl.buf + per->offset, per->fill, per->written,
                                         per->logical);
    }
    if (rc == WR_OK)
        rc = empty_gone_periods(&pl);
    if (rc == WR_OK)
        rc = next_tracked(&pl, next);
    if (rc == WR_OK)
        wr_window_mark_clean(p->window);
    plan_free(&pl);
    return rc;
}

void wr_pipeline__ckpt_commit(struct wr_pipeline *p, struct wr_pipeline_ckpt *next, bool committed)
{
    plat_free(p->ckpt.periods);
    if (committed) {
        p->ckpt = *next;
    } else {
        /* What the store holds is not known any more: replace each period at its next change. */
        plat_free(next->periods);
        memset(&p->ckpt, 0, sizeof(p->ckpt));
    }
    memset(next, 0, sizeof(*next));
}

void wr_pipeline__ckpt_free(struct wr_pipeline *p)
{
    plat_free(p->ckpt.periods);
    memset(&p->ckpt, 0, sizeof(p->ckpt));
}
