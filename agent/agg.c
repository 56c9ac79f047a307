#include "agg.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "sketch.h"
#include "wr_error.h"

/*
 * Names in bit order: index i names the kind 1u << i. Config files and
 * upstream messages use these spellings, so they are part of the contract.
 */
static const char *const kind_names[WR_AGG_KIND_COUNT] = {
    "count", "sum", "min", "max", "mean", "first", "last", "stddev",
};

void wr_agg_init(struct wr_agg *a)
{
    /*
     * min and max start at the identities of their operations so the first
     * add (or a merge) sets them without a special case. An empty aggregate
     * is never emitted, so these infinities never reach an encoder.
     */
    a->count = 0;
    a->sum = 0.0;
    a->min = INFINITY;
    a->max = -INFINITY;
    a->mean = 0.0;
    a->m2 = 0.0;
    a->first = 0.0;
    a->last = 0.0;
    a->first_ms = INT64_MAX;
    a->last_ms = INT64_MIN;
    a->sketch = NULL;
}

void wr_agg_add(struct wr_agg *a, double value, int64_t t_ms)
{
    double delta;

    a->count++;
    a->sum += value;
    if (value < a->min)
        a->min = value;
    if (value > a->max)
        a->max = value;
    /* Welford: update the mean, then m2 with the deviations before and after. */
    delta = value - a->mean;
    a->mean += delta / (double)a->count;
    a->m2 += delta * (value - a->mean);
    /*
     * Strict < keeps the earlier arrival on equal times for first; >= lets
     * the later arrival win on equal times for last. The count test makes
     * the first add win even at t_ms == INT64_MAX / INT64_MIN.
     */
    if (a->count == 1 || t_ms < a->first_ms) {
        a->first = value;
        a->first_ms = t_ms;
    }
    if (a->count == 1 || t_ms >= a->last_ms) {
        a->last = value;
        a->last_ms = t_ms;
    }
}

void wr_agg_merge(struct wr_agg *a, const struct wr_agg *b)
{
    double na;
    double nb;
    double n;
    double delta;

    if (b->count == 0)
        return;
    if (a->count == 0) {
        struct wr_sketch *own = a->sketch;

        *a = *b;
        a->sketch = own;
        return;
    }
    /* Chan et al.'s pairwise combination of (count, mean, m2). */
    na = (double)a->count;
    nb = (double)b->count;
    n = na + nb;
    delta = b->mean - a->mean;
    a->m2 = a->m2 + b->m2 + delta * delta * (na * nb / n);
    a->mean = a->mean + delta * (nb / n);
    a->count += b->count;
    a->sum += b->sum;
    if (b->min < a->min)
        a->min = b->min;
    if (b->max > a->max)
        a->max = b->max;
    /*
     * a is taken to have arrived before b: on equal times a keeps its first
     * and b's last wins, the same tie rule as sequential adds.
     */
    if (b->first_ms < a->first_ms) {
        a->first = b->first;
        a->first_ms = b->first_ms;
    }
    if (b->last_ms >= a->last_ms) {
        a->last = b->last;
        a->last_ms = b->last_ms;
    }
}

int wr_agg_quantile(const struct wr_agg *a, double q, double *out)
{
    double v = 0.0;
    int rc;

    if (a == NULL || out == NULL || !(q >= 0.0 && q <= 1.0))
        return WR_E_INVAL;
    if (a->sketch == NULL || a->count == 0)
        return WR_E_EMPTY;
    rc = wr_sketch_quantile(a->sketch, q, &v);
    if (rc != WR_OK)
        return rc;
    /* The exact quantile lies in [min, max]; moving the estimate towards it only helps. */
    if (v < a->min)
        v = a->min;
    if (v > a->max)
        v = a->max;
    *out = v;
    return WR_OK;
}

double wr_agg_stddev(const struct wr_agg *a)
{
    /* Rounding can leave m2 a hair below zero for identical values. */
    if (a->count < 2 || !(a->m2 > 0.0))
        return 0.0;
    return sqrt(a->m2 / (double)a->count);
}

const char *wr_agg_kind_name(enum wr_agg_kind kind)
{
    unsigned bits = (unsigned)kind;

    for (unsigned i = 0; i < WR_AGG_KIND_COUNT; i++) {
        if (bits == 1u << i)
            return kind_names[i];
    }
    return NULL;
}

unsigned wr_agg_kind_parse(const char *name)
{
    if (name == NULL)
        return 0;
    for (unsigned i = 0; i < WR_AGG_KIND_COUNT; i++) {
        if (strcmp(name, kind_names[i]) == 0)
            return 1u << i;
    }
    return 0;
}
