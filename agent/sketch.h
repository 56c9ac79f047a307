#ifndef WR_SKETCH_H
#define WR_SKETCH_H

#include <stddef.h>
#include <stdint.h>

/*
 * A mergeable quantile sketch with a relative-error guarantee, in the style
 * of DDSketch (logarithmic buckets). Written for Windrow; see
 * docs/upstream-schema.md ("Sketch") for the format and docs/decisions.md for
 * why this design.
 *
 * Buckets. With relative accuracy a (0 < a < 1) and gamma = (1 + a) / (1 - a),
 * a value x with |x| >= WR_SKETCH_MIN_INDEXABLE falls in bucket
 * i = ceil(log_gamma(|x|)), which covers (gamma^(i-1), gamma^i]. Positive
 * and negative values have a store each (the negative store is indexed by
 * |x|); values with |x| < WR_SKETCH_MIN_INDEXABLE (0 included) are counted
 * in a zero bucket. A bucket is reported as 2 * gamma^i / (gamma + 1), which
 * is within a * |x| of every value in it.
 *
 * Guarantee. For q in [0, 1] let x be the value of rank floor(q * (n - 1))
 * (0-based) among the n values added. wr_sketch_quantile returns y with
 * |y - x| <= a * |x| when |x| >= WR_SKETCH_MIN_INDEXABLE, and y == 0 with
 * |x| < WR_SKETCH_MIN_INDEXABLE otherwise, provided x's bucket was not
 * collapsed (below).
 *
 * Size bound and collapse rule. Each store keeps at most max_buckets
 * consecutive bucket indices. When a value or a merge would widen a store
 * past that, the buckets of the smallest magnitudes are folded into the
 * lowest index that is kept (hi - max_buckets + 1): quantiles of the largest
 * magnitudes keep the guarantee, those within the collapsed range are
 * over-estimated in magnitude. The collapse depends only on the highest
 * index ever seen, so adding values one by one and merging sketches of any
 * grouping give bit-identical sketches (merge is exact, associative and
 * commutative). With a = 0.01 one store of 512 buckets spans a factor of
 * about 2.7e4 between its smallest and largest magnitude before collapsing.
 *
 * Memory. A sketch starts with no bucket array and grows it in chunks as its
 * index range widens, up to max_buckets per store (8 bytes per bucket).
 *
 * Not thread-safe; a sketch belongs to one thread at a time.
 */

/** Magnitudes below this count as zero (their quantiles are reported as 0). */
#define WR_SKETCH_MIN_INDEXABLE 1e-9

/** Accepted relative accuracies and bucket limits. */
#define WR_SKETCH_ACCURACY_MIN 0.0001
#define WR_SKETCH_ACCURACY_MAX 0.2
#define WR_SKETCH_DEFAULT_ACCURACY 0.01
#define WR_SKETCH_MAX_BUCKETS_MIN 16u
#define WR_SKETCH_MAX_BUCKETS_MAX 8192u
#define WR_SKETCH_DEFAULT_MAX_BUCKETS 512u

/*
 * The longest binary form of a sketch with this bucket limit: version,
 * accuracy, max_buckets, zero count, and two full stores, every varint at its
 * longest (counts 10 bytes, the ZigZag index 5, lengths 2).
 */
static inline size_t wr_sketch_serialized_max(uint32_t max_buckets)
{
    return 1u + 8u + 2u + 10u + 2u * (2u + 5u + (size_t)max_buckets * 10u);
}

/** Serialization format version (first byte of wr_sketch_serialize's output). */
#define WR_SKETCH_FORMAT_V1 1u

struct wr_sketch;

/**
 * Create an empty sketch. accuracy in [WR_SKETCH_ACCURACY_MIN,
 * WR_SKETCH_ACCURACY_MAX], max_buckets in [WR_SKETCH_MAX_BUCKETS_MIN,
 * WR_SKETCH_MAX_BUCKETS_MAX]. Returns WR_OK, WR_E_INVAL (out NULL or a
 * parameter out of range) or WR_E_NOMEM. The caller owns *out.
 */
int wr_sketch_create(double accuracy, uint32_t max_buckets, struct wr_sketch **out);

/** Free a sketch; NULL does nothing. */
void wr_sketch_destroy(struct wr_sketch *sk);

/** Forget every value, keeping parameters and allocated buckets. NULL does nothing. */
void wr_sketch_clear(struct wr_sketch *sk);

/**
 * Add one value. Returns WR_OK, WR_E_INVAL (NULL or non-finite value) or
 * WR_E_NOMEM (the bucket array could not grow; the sketch is unchanged).
 */
int wr_sketch_add(struct wr_sketch *sk, double value);

/**
 * Fold src into dst, as if every value added to src had been added to dst.
 * Returns WR_OK, WR_E_INVAL (NULL, or the two differ in accuracy or
 * max_buckets) or WR_E_NOMEM (dst unchanged). Borrows src.
 */
int wr_sketch_merge(struct wr_sketch *dst, const struct wr_sketch *src);

/** A new sketch equal to src. Returns WR_OK, WR_E_INVAL or WR_E_NOMEM. */
int wr_sketch_copy(const struct wr_sketch *src, struct wr_sketch **out);

/** Number of values added (0 for NULL). */
uint64_t wr_sketch_count(const struct wr_sketch *sk);

/**
 * Estimate the q-quantile (see the guarantee above). Returns WR_OK,
 * WR_E_INVAL (NULL, or q not in [0, 1]) or WR_E_EMPTY (no values).
 */
int wr_sketch_quantile(const struct wr_sketch *sk, double q, double *out);

/** The sketch's relative accuracy and bucket limit. */
double wr_sketch_accuracy(const struct wr_sketch *sk);
uint32_t wr_sketch_max_buckets(const struct wr_sketch *sk);

/** Bytes allocated for the sketch (struct and bucket array). */
size_t wr_sketch_memory_bytes(const struct wr_sketch *sk);

/**
 * A read-only view of one store for encoders: counts[k] is the number of
 * values in bucket index lo + k, for k < n (n == 0 for an empty store; the
 * first and last counts of a non-empty view are never 0). Valid until the
 * sketch is next changed or destroyed.
 */
struct wr_sketch_store_view {
    int32_t lo;
    uint32_t n;
    const uint64_t *counts;
};

/**
 * Views of the positive and negative stores and the zero count. Any out
 * pointer may be NULL. Returns WR_OK or WR_E_INVAL (sk NULL).
 */
int wr_sketch_view(const struct wr_sketch *sk, struct wr_sketch_store_view *positive,
                   struct wr_sketch_store_view *negative, uint64_t *zero_count);

/**
 * Serialize (format in docs/upstream-schema.md, "Sketch binary form").
 * Writes at most cap bytes to buf; *len_out is the length. Returns WR_OK,
 * WR_E_INVAL or WR_E_TOOBIG (cap too small; *len_out is then the length
 * needed). wr_sketch_serialized_size gives that length directly.
 */
int wr_sketch_serialize(const struct wr_sketch *sk, uint8_t *buf, size_t cap, size_t *len_out);
size_t wr_sketch_serialized_size(const struct wr_sketch *sk);

/**
 * Rebuild a sketch from wr_sketch_serialize's output. Input of any content
 * is safe: it is refused with WR_E_PARSE (truncated, trailing bytes, bad
 * varint), WR_E_CORRUPT (unknown version, accuracy or max_buckets out of
 * range, a store wider than max_buckets, zero first or last count, total
 * count overflow), WR_E_INVAL (NULL) or WR_E_NOMEM. The caller owns *out.
 */
int wr_sketch_deserialize(const uint8_t *buf, size_t len, struct wr_sketch **out);

#endif /* WR_SKETCH_H */
