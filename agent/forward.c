#include "forward.h"

#include <string.h>

#include "encode.h"
#include "plat_log.h"
#include "plat_mem.h"
#include "wr_error.h"

#define MOD "forward"
#define SLOT_BITS 10u
#define SLOT_MASK ((1u << SLOT_BITS) - 1u)
/* The tag keeps only the generation's low bits; compare those. */
#define GENERATION_MASK (UINT32_MAX >> SLOT_BITS)

/* One upstream message awaiting its PUBACK. */
struct slot {
    bool used;
    uint32_t generation; /* bumped on every release so stale acks are ignored */
    struct wr_outbox_batch *batch;
    size_t n;
    uint64_t sent_mono_ms;
};

struct wr_forward {
    char *agent_id;
    char *topic;
    char **stream_names;
    unsigned *stream_aggregates;
    struct wr_encode_stream *enc_streams; /* by stream; names point into stream_names */
    double *quantiles;                    /* storage behind enc_streams[].quantiles */
    enum wr_encoding encoding;
    struct wr_compressor *compressor;     /* NULL: no compression */
    char *zmsg;                           /* compressed copy of msg */
    size_t zmsg_cap;
    size_t n_streams;
    uint32_t max_results;
    uint32_t max_bytes;
    uint32_t max_delay_ms;
    uint32_t resend_per_s;

    struct slot *slots;
    uint32_t n_slots;

    struct wr_result *results; /* max_results: what the last peek returned */
    char *msg;                 /* max_bytes + 1 */
    uint64_t seq;

    /* When to send: fresh results wait for a full batch or max_delay; a
     * backlog (after restart, a released message or a size-limited batch)
     * goes at once. */
    uint64_t pending;
    uint64_t pending_since_mono_ms;
    bool catching_up;

    /* Token bucket pacing results per second. */
    double tokens;
    uint64_t refill_mono_ms;

    struct wr_forward_stats stats;
};

void wr_forward_destroy(struct wr_forward *fw)
{
    if (fw == NULL)
        return;
    for (size_t i = 0; fw->stream_names != NULL && i < fw->n_streams; i++)
        plat_free(fw->stream_names[i]);
    plat_free(fw->slots);
    plat_free(fw->stream_names);
    plat_free(fw->stream_aggregates);
    plat_free(fw->enc_streams);
    plat_free(fw->quantiles);
    wr_compressor_destroy(fw->compressor);
    plat_free(fw->zmsg);
    plat_free(fw->results);
    plat_free(fw->msg);
    plat_free(fw->agent_id);
    plat_free(fw->topic);
    plat_free(fw);
}

/* What the encoder writes per stream, with the quantile lists copied into one block. */
static int copy_encode_streams(struct wr_forward *fw, const struct wr_forward_params *p)
{
    size_t total = 0;
    size_t at = 0;

    fw->enc_streams = plat_calloc(p->n_streams, sizeof(*fw->enc_streams));
    if (fw->enc_streams == NULL)
        return WR_E_NOMEM;
    for (size_t i = 0; p->stream_n_quantiles != NULL && i < p->n_streams; i++)
        total += p->stream_n_quantiles[i];
    if (total > 0) {
        fw->quantiles = plat_calloc(total, sizeof(*fw->quantiles));
        if (fw->quantiles == NULL)
            return WR_E_NOMEM;
    }
    for (size_t i = 0; i < p->n_streams; i++) {
        struct wr_encode_stream *st = &fw->enc_streams[i];
        size_t nq = p->stream_n_quantiles != NULL ? p->stream_n_quantiles[i] : 0;

        st->name = fw->stream_names[i];
        st->aggregates = fw->stream_aggregates[i];
        st->sketch = p->stream_sketch != NULL && p->stream_sketch[i];
        if (nq > 0 && p->stream_quantiles != NULL && p->stream_quantiles[i] != NULL) {
            memcpy(fw->quantiles + at, p->stream_quantiles[i], nq * sizeof(double));
            st->quantiles = fw->quantiles + at;
            st->n_quantiles = nq;
            at += nq;
        }
    }
    return WR_OK;
}

static int copy_params(struct wr_forward *fw, const struct wr_forward_params *p)
{
    fw->agent_id = plat_strdup(p->agent_id);
    fw->topic = plat_strdup(p->topic);
    fw->stream_names = plat_calloc(p->n_streams, sizeof(*fw->stream_names));
    fw->stream_aggregates = plat_calloc(p->n_streams, sizeof(*fw->stream_aggregates));
    if (fw->agent_id == NULL || fw->topic == NULL || fw->stream_names == NULL ||
        fw->stream_aggregates == NULL)
        return WR_E_NOMEM;
    fw->n_streams = p->n_streams;
    for (size_t i = 0; i < p->n_streams; i++) {
        fw->stream_names[i] = plat_strdup(p->stream_names[i]);
        if (fw->stream_names[i] == NULL)
            return WR_E_NOMEM;
        fw->stream_aggregates[i] = p->stream_aggregates[i];
    }
    return copy_encode_streams(fw, p);
}

int wr_forward_create(const struct wr_forward_params *p, struct wr_forward **out)
{
    struct wr_forward *fw;
    int rc;

    if (p == NULL || out == NULL || p->agent_id == NULL || p->topic == NULL ||
        p->stream_names == NULL || p->stream_aggregates == NULL || p->n_streams == 0 ||
        p->max_results == 0 || p->max_bytes < 64 || p->max_inflight == 0 ||
        p->max_inflight > SLOT_MASK || p->resend_per_s == 0 ||
        (p->encoding != WR_ENCODING_JSON && p->encoding != WR_ENCODING_CBOR) ||
        (p->compression != WR_COMPRESSION_NONE && p->compression != WR_COMPRESSION_ZSTD))
        return WR_E_INVAL;
    fw = plat_calloc(1, sizeof(*fw));
    if (fw == NULL)
        return WR_E_NOMEM;
    rc = copy_params(fw, p);
    if (rc != WR_OK)
        goto fail;
    rc = WR_E_NOMEM;
    fw->max_results = p->max_results;
    fw->max_bytes = p->max_bytes;
    fw->max_delay_ms = p->max_delay_ms;
    fw->resend_per_s = p->resend_per_s;
    fw->slots = plat_calloc(p->max_inflight, sizeof(*fw->slots));
    fw->results = plat_calloc(p->max_results, sizeof(*fw->results));
    fw->msg = plat_malloc((size_t)p->max_bytes + 1);
    if (fw->slots == NULL || fw->results == NULL || fw->msg == NULL)
        goto fail;
    fw->encoding = p->encoding;
    if (p->compression == WR_COMPRESSION_ZSTD) {
        /* Level 3: most of what zstd gains on these small, repetitive batches, at little CPU. */
        rc = wr_compressor_create(3, &fw->compressor);
        if (rc != WR_OK)
            goto fail;
        rc = WR_E_NOMEM;
        fw->zmsg_cap = wr_compress_bound((size_t)p->max_bytes + 1);
        fw->zmsg = plat_malloc(fw->zmsg_cap);
        if (fw->zmsg == NULL)
            goto fail;
    }
    fw->n_slots = p->max_inflight;
    fw->tokens = (double)fw->max_results;
    *out = fw;
    return WR_OK;
fail:
    wr_forward_destroy(fw);
    return rc;
}

void wr_forward_notify_appended(struct wr_forward *fw, size_t n, uint64_t now_mono_ms)
{
    if (fw == NULL || n == 0)
        return;
    if (fw->pending == 0)
        fw->pending_since_mono_ms = now_mono_ms;
    fw->pending += n;
}

void wr_forward_notify_backlog(struct wr_forward *fw, uint64_t rows)
{
    if (fw != NULL && rows > 0)
        fw->catching_up = true;
}

static void release_slot(struct slot *s)
{
    s->used = false;
    s->batch = NULL;
    s->n = 0;
    s->generation++;
}

/* Hand a message's results back to the outbox: they are due again, oldest first. */
static void give_back(struct wr_forward *fw, const struct wr_forward_io *io, struct slot *s)
{
    io->release(io->outbox, s->batch);
    release_slot(s);
    fw->catching_up = true;
}

static struct slot *free_slot(struct wr_forward *fw, uint32_t *index)
{
    for (uint32_t i = 0; i < fw->n_slots; i++) {
        if (!fw->slots[i].used) {
            *index = i;
            return &fw->slots[i];
        }
    }
    return NULL;
}

static void refill_tokens(struct wr_forward *fw, uint64_t now_mono_ms)
{
    double cap = (double)(fw->resend_per_s > fw->max_results ? fw->resend_per_s : fw->max_results);

    if (fw->refill_mono_ms != 0 && now_mono_ms > fw->refill_mono_ms)
        fw->tokens += (double)(now_mono_ms - fw->refill_mono_ms) * fw->resend_per_s / 1000.0;
    fw->refill_mono_ms = now_mono_ms;
    if (fw->tokens > cap)
        fw->tokens = cap;
}

static bool batch_due(const struct wr_forward *fw, uint64_t now_mono_ms)
{
    if (fw->catching_up)
        return true;
    if (fw->pending >= fw->max_results)
        return true;
    return fw->pending > 0 && now_mono_ms - fw->pending_since_mono_ms >= fw->max_delay_ms;
}

/* The oldest results due, up to want, into fw->results. */
static int fill_results(struct wr_forward *fw, const struct wr_forward_io *io, size_t want,
                        size_t *n_out)
{
    size_t n = 0;
    int rc = io->peek(io->outbox, fw->results, want, &n);

    if (rc != WR_OK)
        return rc;
    if (n < want)
        fw->catching_up = false; /* the outbox has nothing more due */
    *n_out = n > want ? want : n;
    return WR_OK;
}

/* Encode results[0..n) until one does not fit; returns how many went in. */
static size_t encode_batch(struct wr_forward *fw, size_t n, int64_t now_wall_ms, size_t *len)
{
    struct wr_encoder enc;
    size_t used = 0;

    *len = 0;
    if (wr_encoder_begin_as(&enc, fw->encoding, fw->msg, (size_t)fw->max_bytes + 1, fw->agent_id,
                            fw->seq, now_wall_ms) != WR_OK)
        return 0;
    for (; used < n; used++) {
        const struct wr_result *r = &fw->results[used];
        struct wr_encode_stream unknown = {"unknown", 1u, NULL, 0, false};
        const struct wr_encode_stream *st =
            r->stream < fw->n_streams ? &fw->enc_streams[r->stream] : &unknown;

        if (wr_encoder_add_stream(&enc, st, r) == WR_OK)
            continue;
        if (used == 0 && st->sketch) {
            /* A sketch too large for even an empty message: send the result without it. */
            struct wr_encode_stream bare = *st;

            bare.sketch = false;
            if (wr_encoder_add_stream(&enc, &bare, r) == WR_OK) {
                PLAT_WARN(MOD, "a sketch of stream %s does not fit upstream.batch.max_bytes; "
                               "sent without it",
                          st->name);
                continue;
            }
        }
        break;
    }
    if (wr_encoder_finish(&enc, len) != WR_OK)
        return 0;
    return used;
}

static int send_one(struct wr_forward *fw, const struct wr_forward_io *io, uint64_t now_mono_ms,
                    int64_t now_wall_ms)
{
    uint32_t index = 0;
    struct slot *s = free_slot(fw, &index);
    struct wr_outbox_batch *batch = NULL;
    size_t want;
    size_t n = 0;
    size_t used;
    size_t len = 0;
    const char *payload;
    uint32_t tag;
    int rc;

    if (s == NULL || !batch_due(fw, now_mono_ms) || fw->tokens < 1.0)
        return 0;
    want = fw->max_results;
    if ((double)want > fw->tokens)
        want = (size_t)fw->tokens;
    rc = fill_results(fw, io, want, &n);
    if (rc != WR_OK)
        return rc;
    if (n == 0) {
        fw->pending = 0;
        return 0;
    }
    used = encode_batch(fw, n, now_wall_ms, &len);
    if (used == 0) {
        /* Cannot happen with max_bytes >= 1 KiB; guard against a config below that. */
        PLAT_ERROR(MOD, "a result does not fit upstream.batch.max_bytes; dropping it");
        rc = io->mark_sent(io->outbox, 1, &batch);
        if (rc == WR_OK)
            rc = io->acknowledge(io->outbox, batch);
        fw->catching_up = true;
        return rc;
    }
    payload = fw->msg;
    if (fw->compressor != NULL) {
        size_t zlen = 0;

        /* zmsg holds the bound of the largest message, so this cannot run out of room. */
        rc = wr_compress(fw->compressor, fw->msg, len, fw->zmsg, fw->zmsg_cap, &zlen);
        if (rc != WR_OK) {
            PLAT_ERROR(MOD, "compressing a batch failed (%s)", wr_strerror(rc));
            fw->catching_up = true; /* nothing was marked sent: the same results go next time */
            return rc;
        }
        payload = fw->zmsg;
        len = zlen;
    }
    /* Marked before it goes, so the outbox never has a message out it does not know of. */
    rc = io->mark_sent(io->outbox, used, &batch);
    if (rc != WR_OK)
        return rc;
    tag = index | ((s->generation & GENERATION_MASK) << SLOT_BITS);
    rc = io->publish(io->uplink, fw->topic, payload, len, tag);
    if (rc != WR_OK) {
        io->release(io->outbox, batch); /* the same results go next time */
        fw->catching_up = true;
        fw->stats.messages_failed++;
        return rc == WR_E_FULL || rc == WR_E_STATE ? 0 : rc;
    }
    s->used = true;
    s->batch = batch;
    s->n = used;
    s->sent_mono_ms = now_mono_ms;
    /* The tail that did not fit is due at once: it goes first in the next message. */
    if (used < n)
        fw->catching_up = true;
    fw->seq++;
    fw->tokens -= (double)used;
    fw->pending = fw->pending > used ? fw->pending - used : 0;
    fw->stats.messages_sent++;
    fw->stats.results_sent += used;
    return 1;
}

int wr_forward_pump(struct wr_forward *fw, const struct wr_forward_io *io, uint64_t now_mono_ms,
                    int64_t now_wall_ms)
{
    int sent = 0;
    int rc;

    if (fw == NULL || io == NULL)
        return WR_E_INVAL;
    refill_tokens(fw, now_mono_ms);
    while ((rc = send_one(fw, io, now_mono_ms, now_wall_ms)) > 0)
        sent++;
    return rc < 0 ? rc : sent;
}

uint64_t wr_forward_next_due_ms(const struct wr_forward *fw, uint64_t now_mono_ms)
{
    bool slot_free = false;
    double missing;

    if (fw == NULL)
        return UINT64_MAX;
    for (uint32_t i = 0; i < fw->n_slots && !slot_free; i++)
        slot_free = !fw->slots[i].used;
    if (!slot_free)
        return UINT64_MAX; /* an acknowledgement frees a slot; it wakes the caller */
    if (!fw->catching_up && fw->pending == 0)
        return UINT64_MAX;
    if (fw->tokens < 1.0) {
        missing = (1.0 - fw->tokens) * 1000.0 / (double)fw->resend_per_s;
        return now_mono_ms + (uint64_t)missing + 1u;
    }
    if (batch_due(fw, now_mono_ms))
        return now_mono_ms;
    return fw->pending_since_mono_ms + fw->max_delay_ms;
}

int wr_forward_on_ack(struct wr_forward *fw, const struct wr_forward_io *io, uint32_t tag, bool ok,
                      uint64_t now_mono_ms)
{
    struct slot *s;
    int rc = WR_OK;

    if (fw == NULL || io == NULL)
        return WR_E_INVAL;
    if ((tag & SLOT_MASK) >= fw->n_slots)
        return WR_E_INVAL;
    s = &fw->slots[tag & SLOT_MASK];
    if (!s->used || (s->generation & GENERATION_MASK) != tag >> SLOT_BITS)
        return WR_OK; /* an ack for a message already given up on */
    if (ok) {
        rc = io->acknowledge(io->outbox, s->batch);
        fw->stats.results_acked += s->n;
        fw->stats.last_ack_latency_ms = now_mono_ms - s->sent_mono_ms;
        release_slot(s);
    } else {
        fw->stats.messages_failed++;
        give_back(fw, io, s);
    }
    return rc;
}

void wr_forward_on_disconnect(struct wr_forward *fw, const struct wr_forward_io *io)
{
    if (fw == NULL || io == NULL)
        return;
    for (uint32_t i = 0; i < fw->n_slots; i++)
        if (fw->slots[i].used)
            give_back(fw, io, &fw->slots[i]);
    fw->catching_up = true;
}

void wr_forward_get_stats(const struct wr_forward *fw, struct wr_forward_stats *stats)
{
    uint32_t inflight = 0;

    if (fw == NULL || stats == NULL)
        return;
    *stats = fw->stats;
    for (uint32_t i = 0; i < fw->n_slots; i++)
        inflight += fw->slots[i].used ? 1u : 0u;
    stats->inflight_messages = inflight;
}
