#ifndef WR_AGG_H
#define WR_AGG_H

#include <stdint.h>

struct wr_sketch;

/*
 * The running aggregate of one window. Every field is mergeable, so results
 * can be rolled up into coarser windows exactly (wr_agg_merge). The mean and
 * the sum of squared deviations (m2) are kept with Welford's method so that
 * stddev stays accurate for values with a large common offset.
 */

enum wr_agg_kind {
    WR_AGG_COUNT = 1u << 0,
    WR_AGG_SUM = 1u << 1,
    WR_AGG_MIN = 1u << 2,
    WR_AGG_MAX = 1u << 3,
    WR_AGG_MEAN = 1u << 4,
    WR_AGG_FIRST = 1u << 5,
    WR_AGG_LAST = 1u << 6,
    WR_AGG_STDDEV = 1u << 7,
};

#define WR_AGG_ALL 0xffu
#define WR_AGG_KIND_COUNT 8

struct wr_agg {
    uint64_t count;
    double sum;
    double min;
    double max;
    double mean;
    double m2;       /* sum of squared deviations from the mean */
    double first;    /* value with the earliest event time (first arrival on ties) */
    double last;     /* value with the latest event time (last arrival on ties) */
    int64_t first_ms;
    int64_t last_ms;
    /*
     * Quantile sketch (agent/sketch.h) of streams that ask for quantiles,
     * NULL otherwise. wr_agg_add/merge do not touch it: its owner (the
     * window engine, the outbox) manages it, because copies of struct
     * wr_agg are shallow.
     */
    struct wr_sketch *sketch;
};

/** Reset to the empty aggregate (count 0). */
void wr_agg_init(struct wr_agg *a);

/** Fold one finite value observed at event time t_ms into a. */
void wr_agg_add(struct wr_agg *a, double value, int64_t t_ms);

/** Fold b into a; the result equals folding both inputs' values into one aggregate. */
void wr_agg_merge(struct wr_agg *a, const struct wr_agg *b);

/**
 * The q-quantile from a's sketch, clamped to [min, max] (which keeps the
 * sketch's bound and makes one-value windows exact). Returns WR_OK,
 * WR_E_INVAL (q not in [0, 1]) or WR_E_EMPTY (no sketch or no values).
 */
int wr_agg_quantile(const struct wr_agg *a, double q, double *out);

/** Population standard deviation; 0 for fewer than two values. */
double wr_agg_stddev(const struct wr_agg *a);

/** Name used in config and upstream messages ("count", "sum", ...); NULL for unknown kind. */
const char *wr_agg_kind_name(enum wr_agg_kind kind);

/** Parse an aggregate name; returns the kind bit or 0 if unknown. */
unsigned wr_agg_kind_parse(const char *name);

#endif /* WR_AGG_H */
