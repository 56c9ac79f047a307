#include "window.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "plat_log.h"
#include "plat_mem.h"
#include "sketch.h"
#include "window_table.h"
#include "wr_error.h"

#define MOD "window"

/*
 * Layout. Keys live in an array of records found through an index table
 * hashed on (stream, key bytes); windows live in a pool of slots found
 * through a second index table hashed on (key record, start). Each
 * stream threads its slots on two lists: open (not yet closed) and retained
 * (closed, kept for revisions). A key record lives exactly as long as it
 * owns at least one slot, which is what "the key is tracked" means for the
 * key limits.
 */

#define NIL UINT32_MAX

/*
 * Event times are limited to +-2^62 ms (about 146 million years either side
 * of 1970) so that start + size, end + horizon and clock shifts can never
 * overflow; anything beyond is treated as FUTURE or LATE.
 */
#define TIME_LIMIT_MS ((int64_t)1 << 62)
#define JUMP_LIMIT_MS ((int64_t)1 << 60)

/*
 * Window slots budgeted per key: the open window, the next one (events for
 * it arrive before the previous closes), one per lateness span and one per
 * revise-horizon span. Capped so that a tiny window with a huge horizon does
 * not size the pool absurdly; past the cap the shared pool still serves keys
 * that need more, and adds report NO_MEMORY only once it is exhausted.
 */
#define SLOTS_PER_KEY_MAX 64u
#define POOL_MAX ((uint64_t)1 << 30)

enum {
    SLOT_USED = 1u << 0,
    SLOT_CLOSED = 1u << 1,     /* on the retained list */
    SLOT_EMITTED = 1u << 2,    /* revision holds the last emitted revision */
    SLOT_PENDING = 1u << 3,    /* an emission is due at the next advance */
    SLOT_DIRTY = 1u << 4,      /* changed since the last complete checkpoint */
    SLOT_PROCESSING = 1u << 5, /* holds only processing-time events */
};

struct slot {
    struct wr_agg agg;
    int64_t start_ms;
    uint32_t key_id;
    uint32_t prev; /* stream list links; next also chains the free list */
    uint32_t next;
    uint32_t revision;
    uint32_t hash;
    uint16_t stream;
    uint8_t flags;
};

struct key_rec {
    char key[WR_KEY_MAX];
    uint32_t hash;
    uint32_t n_windows; /* 0: the record is on the free list */
    uint32_t next_free;
    uint16_t stream;
};

struct slot_list {
    uint32_t head;
    size_t len;
};

struct stream {
    int64_t size_ms;
    int64_t lateness_ms;
    int64_t future_ms;
    int64_t horizon_ms; /* 0 unless revise */
    uint32_t size_s;
    uint32_t max_keys;
    uint32_t n_keys;
    uint32_t n_pending;
    uint32_t n_unemitted_closed; /* late windows created closed, not yet emitted */
    bool revise;
    bool sketch; /* windows carry a quantile sketch */
    double sketch_accuracy;
    uint32_t sketch_max_buckets;
    uint8_t n_quantiles;
    double quantiles[WR_RESULT_MAX_QUANTILES];
    /* The last update of the clock came from a processing-time event. */
    bool clock_processing;
    /* Highest accepted event time (the M of the header), INT64_MIN if none. */
    int64_t max_event_ms;
    /*
     * The event clock is anchor_ms + (mono - anchor_mono_ms): the accepted
     * event that puts the clock furthest ahead, which is the highest event
     * time except when events arrive with times lagging real time. Anchoring
     * on the furthest-ahead event keeps the watermark from ever moving back,
     * so a window that was closed can never be opened again.
     */
    int64_t anchor_ms; /* INT64_MIN: no clock yet, nothing closes */
    uint64_t anchor_mono_ms;
    /* Lower bound of the next watermark at which advance has work (INT64_MAX: none). */
    int64_t next_due_ms;
    struct slot_list open;
    struct slot_list retained;
};

/*
 * Memory follows use. n_key_recs and n_slots are ceilings chosen at create
 * from the key limits and the memory budget; the arrays hold key_cap and
 * slot_cap entries and grow (doubling, from GROW_FIRST) up to the ceilings
 * when a new key or window finds no free one, and the index tables grow with
 * them. Entries below the high-water marks key_hw and slot_hw have been
 * used; a released one goes on its free list and is taken again before the
 * high-water mark moves. Entry numbers are stable, since every reference is
 * an index, never a pointer kept across a call that may grow. Nothing is
 * handed back while running: what a burst of keys took stays for the next.
 */
#define GROW_FIRST 64u

struct wr_window {
    struct stream *streams;
    size_t n_streams;
    uint64_t max_keys_total;
    struct key_rec *keys;
    uint32_t n_key_recs; /* ceiling */
    uint32_t key_cap;
    uint32_t key_hw;
    uint32_t keys_used;
    uint32_t key_free;
    struct wr_window__tab key_tab;
    struct slot *slots;
    uint32_t n_slots; /* ceiling */
    uint32_t slot_cap;
    uint32_t slot_hw;
    uint32_t slots_used;
    uint32_t slot_free;
    struct wr_window__tab win_tab;
    uint32_t *scratch; /* slot_cap entries: emission order, clock-jump moves */
    /*
     * The sketch of the result being emitted, in its binary form: results
     * carry sketches as bytes (result.h), valid for the emit call. Grown to
     * the largest sketch emitted so far, at most the stream's serialized bound.
     */
    uint8_t *emit_buf;
    size_t emit_cap;
    struct plat_log_limiter emit_limiter;
};

/* ---- arithmetic ---------------------------------------------------------------------------- */

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Start of the window holding t: floor, not truncation, so negative times work. */
static int64_t align_down(int64_t t, int64_t size)
{
    int64_t r = t % size;

    if (r < 0)
        r += size;
    return t - r;
}

/* delta rounded to the nearest multiple of size, halves away from zero. */
static int64_t round_to_multiple(int64_t delta, int64_t size)
{
    int64_t q = delta / size;
    int64_t r = delta % size;

    if (r > 0 && r >= size - r)
        q++;
    else if (r < 0 && -r >= size + r)
        q--;
    return q * size;
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

/* ---- clocks -------------------------------------------------------------------------------- */

static int64_t stream_clock_at(const struct stream *s, uint64_t mono_ms)
{
    uint64_t elapsed;

    if (s->anchor_ms == INT64_MIN)
        return INT64_MIN;
    elapsed = mono_ms > s->anchor_mono_ms ? mono_ms - s->anchor_mono_ms : 0;
    if (elapsed > (uint64_t)TIME_LIMIT_MS)
        elapsed = (uint64_t)TIME_LIMIT_MS;
    return sat_add(s->anchor_ms, (int64_t)elapsed);
}

/* INT64_MIN while the stream has no clock: then no window counts as closed. */
static int64_t stream_watermark(const struct stream *s, uint64_t mono_ms)
{
    int64_t c = stream_clock_at(s, mono_ms);

    if (c == INT64_MIN)
        return INT64_MIN;
    return sat_add(c, -s->lateness_ms);
}

static void stream_note_event(struct stream *s, const struct wr_event *ev, uint64_t mono_ms)
{
    if (ev->time_ms > stream_clock_at(s, mono_ms)) {
        s->anchor_ms = ev->time_ms;
        s->anchor_mono_ms = mono_ms;
        s->clock_processing = !ev->has_time;
    }
    if (ev->time_ms > s->max_event_ms) {
        s->max_event_ms = ev->time_ms;
        s->clock_processing = !ev->has_time;
    }
}

/* ---- keys ---------------------------------------------------------------------------------- */

static uint32_t key_hash(uint16_t stream, const char *key, size_t len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    /* FNV-1a over the bytes, then the stream, then a full-avalanche finaliser. */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= UINT64_C(0x100000001b3);
    }
    h ^= (uint64_t)stream * UINT64_C(0x9e3779b97f4a7c15);
    return wr_window__mix(h);
}

static uint32_t key_find(const struct wr_window *w, uint16_t stream, const char *key, uint32_t hash)
{
    struct wr_window__probe p;
    uint32_t id;
    uint32_t pos;

    wr_window__tab_probe_start(&w->key_tab, hash, &p);
    while (wr_window__tab_probe_next(&w->key_tab, &p, &id, &pos)) {
        const struct key_rec *k = &w->keys[id];

        if (k->stream == stream && strcmp(k->key, key) == 0)
            return id;
    }
    return NIL;
}

static uint32_t key_acquire(struct wr_window *w, uint16_t stream, const char *key, size_t len,
                            uint32_t hash)
{
    uint32_t id = w->key_free;
    struct key_rec *k;

    if (id != NIL) {
        w->key_free = w->keys[id].next_free;
    } else {
        assert(w->key_hw < w->key_cap);
        id = w->key_hw++;
    }
    k = &w->keys[id];
    memcpy(k->key, key, len);
    k->key[len] = '\0';
    k->hash = hash;
    k->n_windows = 0;
    k->next_free = NIL;
    k->stream = stream;
    wr_window__tab_insert(&w->key_tab, hash, id);
    w->keys_used++;
    w->streams[stream].n_keys++;
    return id;
}

static void key_release_window(struct wr_window *w, uint32_t id)
{
    struct key_rec *k = &w->keys[id];
    struct wr_window__probe p;
    uint32_t found;
    uint32_t pos;

    assert(k->n_windows > 0);
    if (--k->n_windows > 0)
        return;
    wr_window__tab_probe_start(&w->key_tab, k->hash, &p);
    while (wr_window__tab_probe_next(&w->key_tab, &p, &found, &pos)) {
        if (found == id) {
            wr_window__tab_remove_at(&w->key_tab, pos);
            break;
        }
    }
    w->streams[k->stream].n_keys--;
    w->keys_used--;
    k->next_free = w->key_free;
    w->key_free = id;
}

/* ---- window slots -------------------------------------------------------------------------- */

static uint32_t window_hash(uint32_t key_id, int64_t start_ms)
{
    return wr_window__mix((uint64_t)start_ms * UINT64_C(0x9e3779b97f4a7c15) + key_id);
}

static uint32_t slot_find(const struct wr_window *w, uint32_t key_id, int64_t start_ms,
                          uint32_t *pos_out)
{
    struct wr_window__probe p;
    uint32_t id;
    uint32_t pos;

    wr_window__tab_probe_start(&w->win_tab, window_hash(key_id, start_ms), &p);
    while (wr_window__tab_probe_next(&w->win_tab, &p, &id, &pos)) {
        const struct slot *sl = &w->slots[id];

        if (sl->key_id == key_id && sl->start_ms == start_ms) {
            if (pos_out != NULL)
                *pos_out = pos;
            return id;
        }
    }
    return NIL;
}

static struct slot_list *slot_list_of(struct wr_window *w, const struct slot *sl)
{
    struct stream *s = &w->streams[sl->stream];

    return (sl->flags & SLOT_CLOSED) ? &s->retained : &s->open;
}

static void list_push(struct wr_window *w, struct slot_list *l, uint32_t id)
{
    struct slot *sl = &w->slots[id];

    sl->prev = NIL;
    sl->next = l->head;
    if (l->head != NIL)
        w->slots[l->head].prev = id;
    l->head = id;
    l->len++;
}

static void list_remove(struct wr_window *w, struct slot_list *l, uint32_t id)
{
    struct slot *sl = &w->slots[id];

    if (sl->prev != NIL)
        w->slots[sl->prev].next = sl->next;
    else
        l->head = sl->next;
    if (sl->next != NIL)
        w->slots[sl->next].prev = sl->prev;
    sl->prev = NIL;
    sl->next = NIL;
    l->len--;
}

/* Take a free slot for (key, start) and index it; the caller fills the aggregate. */
static uint32_t slot_take(struct wr_window *w, uint16_t stream, uint32_t key_id, int64_t start_ms,
                          uint8_t flags)
{
    uint32_t id = w->slot_free;
    struct wr_sketch *sk;
    struct slot *sl;

    if (id != NIL) {
        w->slot_free = w->slots[id].next;
        sk = w->slots[id].agg.sketch;
    } else {
        /* A slot past the high-water mark is fresh (realloc'd) memory: no sketch yet. */
        assert(w->slot_hw < w->slot_cap);
        id = w->slot_hw++;
        sk = NULL;
    }
    sl = &w->slots[id];
    w->slots_used++;
    wr_agg_init(&sl->agg);
    /* A sketch left by the slot's previous window is reused if it has this stream's parameters. */
    if (sk != NULL && (!w->streams[stream].sketch ||
                       wr_sketch_accuracy(sk) != w->streams[stream].sketch_accuracy ||
                       wr_sketch_max_buckets(sk) != w->streams[stream].sketch_max_buckets)) {
        wr_sketch_destroy(sk);
        sk = NULL;
    }
    wr_sketch_clear(sk);
    sl->agg.sketch = sk;
    sl->start_ms = start_ms;
    sl->key_id = key_id;
    sl->revision = 0;
    sl->hash = window_hash(key_id, start_ms);
    sl->stream = stream;
    sl->flags = (uint8_t)(flags | SLOT_USED);
    wr_window__tab_insert(&w->win_tab, sl->hash, id);
    list_push(w, slot_list_of(w, sl), id);
    w->keys[key_id].n_windows++;
    return id;
}

static void slot_set_pending(struct wr_window *w, struct slot *sl)
{
    if (!(sl->flags & SLOT_PENDING)) {
        sl->flags |= SLOT_PENDING;
        w->streams[sl->stream].n_pending++;
    }
}

static void slot_clear_pending(struct wr_window *w, struct slot *sl)
{
    struct stream *s = &w->streams[sl->stream];

    if (sl->flags & SLOT_PENDING) {
        sl->flags &= (uint8_t)~SLOT_PENDING;
        s->n_pending--;
        if (!(sl->flags & SLOT_EMITTED))
            s->n_unemitted_closed--;
    }
}

/* Free a slot already removed from the window index. */
static void slot_release_unindexed(struct wr_window *w, uint32_t id)
{
    struct slot *sl = &w->slots[id];

    slot_clear_pending(w, sl);
    list_remove(w, slot_list_of(w, sl), id);
    key_release_window(w, sl->key_id);
    sl->flags = 0;
    sl->next = w->slot_free;
    w->slot_free = id;
    w->slots_used--;
}

static void slot_unindex(struct wr_window *w, uint32_t id)
{
    const struct slot *sl = &w->slots[id];
    struct wr_window__probe p;
    uint32_t found;
    uint32_t pos;

    wr_window__tab_probe_start(&w->win_tab, sl->hash, &p);
    while (wr_window__tab_probe_next(&w->win_tab, &p, &found, &pos)) {
        if (found == id) {
            wr_window__tab_remove_at(&w->win_tab, pos);
            return;
        }
    }
    assert(0 && "slot missing from the window index");
}

static void slot_release(struct wr_window *w, uint32_t id)
{
    slot_unindex(w, id);
    slot_release_unindexed(w, id);
}

/* Grow an array of *cap entries of size bytes towards ceiling. WR_OK or WR_E_NOMEM. */
static int grow_array(void **array, uint32_t *cap, uint32_t ceiling, size_t size)
{
    uint32_t want = *cap == 0 ? GROW_FIRST : (*cap > ceiling / 2 ? ceiling : *cap * 2);
    void *p;

    if (want > ceiling)
        want = ceiling;
    if (want <= *cap || (size_t)want > SIZE_MAX / size)
        return WR_E_NOMEM;
    p = plat_realloc(*array, (size_t)want * size);
    if (p == NULL)
        return WR_E_NOMEM;
    *array = p;
    *cap = want;
    return WR_OK;
}

/*
 * Room for one more slot, and one more key record when new_key: grow the
 * arrays and index tables if the free lists are empty. Changes nothing that
 * is in use, so a failure leaves the engine as it was (only perhaps with
 * more room). ADDED or NO_MEMORY (ceiling reached or an allocation failed).
 */
static enum wr_window_outcome make_room(struct wr_window *w, bool new_key)
{
    if (new_key) {
        if (w->key_free == NIL && w->key_hw == w->key_cap) {
            void *keys = w->keys;

            if (grow_array(&keys, &w->key_cap, w->n_key_recs, sizeof(*w->keys)) != WR_OK)
                return WR_WINDOW_NO_MEMORY;
            w->keys = keys;
        }
        if (wr_window__tab_reserve(&w->key_tab, (size_t)w->keys_used + 1) != WR_OK)
            return WR_WINDOW_NO_MEMORY;
    }
    if (w->slot_free == NIL && w->slot_hw == w->slot_cap) {
        void *scratch = w->scratch;
        void *slots = w->slots;
        uint32_t scratch_cap = w->slot_cap;

        /* The scratch array first: it must always hold slot_cap entries. */
        if (grow_array(&scratch, &scratch_cap, w->n_slots, sizeof(*w->scratch)) != WR_OK)
            return WR_WINDOW_NO_MEMORY;
        w->scratch = scratch;
        if (grow_array(&slots, &w->slot_cap, scratch_cap, sizeof(*w->slots)) != WR_OK)
            return WR_WINDOW_NO_MEMORY;
        w->slots = slots;
    }
    if (wr_window__tab_reserve(&w->win_tab, (size_t)w->slots_used + 1) != WR_OK)
        return WR_WINDOW_NO_MEMORY;
    return WR_WINDOW_ADDED;
}

/*
 * Find or make room for a new window of (stream, key): the key limits apply
 * only to keys the engine does not track yet. On success *key_id is valid
 * and a slot can be taken.
 */
static enum wr_window_outcome reserve_window(struct wr_window *w, uint16_t stream, const char *key,
                                             size_t len, uint32_t hash, uint32_t *key_id)
{
    struct stream *s = &w->streams[stream];
    enum wr_window_outcome res;

    if (*key_id == NIL) {
        if (s->n_keys >= s->max_keys || (uint64_t)w->keys_used >= w->max_keys_total)
            return WR_WINDOW_KEY_LIMIT;
        /*
         * Fewer key records than max_keys_total only when the memory budget
         * cut them; no room also when an allocation to grow failed.
         */
        res = make_room(w, true);
        if (res != WR_WINDOW_ADDED)
            return res;
        *key_id = key_acquire(w, stream, key, len, hash);
        return WR_WINDOW_ADDED;
    }
    return make_room(w, false);
}

/*
 * Fold one event; the sketch goes first because it is the only part that
 * can fail (WR_E_NOMEM), and a failed sketch add leaves the window as it
 * was, so the event can be dropped whole.
 */
static int fold_event(const struct wr_window *w, struct slot *sl, const struct wr_event *ev)
{
    const struct stream *s = &w->streams[sl->stream];
    int rc;

    if (s->sketch) {
        if (sl->agg.sketch == NULL) {
            rc = wr_sketch_create(s->sketch_accuracy, s->sketch_max_buckets, &sl->agg.sketch);
            if (rc != WR_OK)
                return rc;
        }
        rc = wr_sketch_add(sl->agg.sketch, ev->value);
        if (rc != WR_OK)
            return rc;
    }
    wr_agg_add(&sl->agg, ev->value, ev->time_ms);
    if (ev->has_time)
        sl->flags &= (uint8_t)~SLOT_PROCESSING;
    sl->flags |= SLOT_DIRTY;
    return WR_OK;
}

/* ---- create / destroy ---------------------------------------------------------------------- */

static uint64_t slots_per_key(const struct wr_window_stream_params *sp)
{
    uint64_t n = 2 + ceil_div(sp->allowed_lateness_s, sp->size_s);

    if (sp->revise_late)
        n += ceil_div(sp->revise_horizon_s, sp->size_s);
    return n < SLOTS_PER_KEY_MAX ? n : SLOTS_PER_KEY_MAX;
}

static uint64_t key_records_for(uint64_t n_slots, uint64_t max_keys_total)
{
    /* A key record is useless without a slot, so never keep more records than slots. */
    return n_slots < max_keys_total ? n_slots : max_keys_total;
}

static uint64_t bytes_for(size_t n_streams, uint64_t n_slots, uint64_t max_keys_total)
{
    uint64_t n_keys = key_records_for(n_slots, max_keys_total);

    return sizeof(struct wr_window) + (uint64_t)n_streams * sizeof(struct stream) +
           n_keys * sizeof(struct key_rec) + wr_window__tab_bytes((size_t)n_keys) +
           n_slots * (sizeof(struct slot) + sizeof(uint32_t)) +
           wr_window__tab_bytes((size_t)n_slots);
}


/* Number of window slots: what the limits call for, cut to the memory budget. */
static int choose_pool(const struct wr_window_params *params, uint64_t max_keys_total,
                       uint64_t *n_slots)
{
    uint64_t want = 0;
    uint64_t max_spk = 0;
    uint64_t sum_keys = 0;
    uint64_t lo;
    uint64_t hi;

    for (size_t i = 0; i < params->n_streams; i++) {
        uint64_t spk = slots_per_key(&params->streams[i]);

        want += (uint64_t)params->streams[i].max_keys * spk;
        sum_keys += params->streams[i].max_keys;
        if (spk > max_spk)
            max_spk = spk;
    }
    if (max_keys_total < sum_keys && max_keys_total * max_spk < want)
        want = max_keys_total * max_spk;
    if (want > POOL_MAX)
        want = POOL_MAX;
    if (params->memory_budget_bytes == 0) {
        *n_slots = want;
        return WR_OK;
    }
    lo = params->n_streams;
    if (want < lo || bytes_for(params->n_streams, lo, max_keys_total) > params->memory_budget_bytes)
        return WR_E_NOMEM;
    /* Largest pool that fits: bytes_for is monotonic in the slot count. */
    hi = want;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;

        if (bytes_for(params->n_streams, mid, max_keys_total) <= params->memory_budget_bytes)
            lo = mid;
        else
            hi = mid - 1;
    }
    *n_slots = lo;
    return WR_OK;
}

static void init_stream(struct stream *s, const struct wr_window_stream_params *sp)
{
    s->size_s = sp->size_s;
    s->size_ms = (int64_t)sp->size_s * 1000;
    s->lateness_ms = (int64_t)sp->allowed_lateness_s * 1000;
    s->future_ms = (int64_t)sp->max_future_s * 1000;
    s->revise = sp->revise_late;
    s->horizon_ms = sp->revise_late ? (int64_t)sp->revise_horizon_s * 1000 : 0;
    s->max_keys = sp->max_keys;
    s->sketch = sp->sketch;
    s->sketch_accuracy = sp->sketch_accuracy;
    s->sketch_max_buckets = sp->sketch_max_buckets;
    for (size_t i = 0;
         sp->sketch && sp->quantiles != NULL && i < sp->n_quantiles && i < WR_RESULT_MAX_QUANTILES;
         i++) {
        s->quantiles[i] = sp->quantiles[i];
        s->n_quantiles = (uint8_t)(i + 1);
    }
    s->max_event_ms = INT64_MIN;
    s->anchor_ms = INT64_MIN;
    s->next_due_ms = INT64_MAX;
    s->open.head = NIL;
    s->retained.head = NIL;
}

int wr_window_create(const struct wr_window_params *params, struct wr_window **out)
{
    struct wr_window *w = NULL;
    uint64_t sum_keys = 0;
    uint64_t max_keys_total;
    uint64_t n_slots = 0;
    uint64_t n_keys;
    int rc;

    if (params == NULL || out == NULL || params->streams == NULL || params->n_streams == 0 ||
        params->n_streams > (size_t)UINT16_MAX + 1)
        return WR_E_INVAL;
    for (size_t i = 0; i < params->n_streams; i++) {
        if (params->streams[i].size_s == 0 || params->streams[i].max_keys == 0)
            return WR_E_INVAL;
        sum_keys += params->streams[i].max_keys;
    }
    max_keys_total = sum_keys;
    if (params->max_keys_total != 0 && params->max_keys_total < sum_keys)
        max_keys_total = params->max_keys_total;
    rc = choose_pool(params, max_keys_total, &n_slots);
    if (rc != WR_OK)
        return rc;
    n_keys = key_records_for(n_slots, max_keys_total);

    if (n_keys > UINT32_MAX - 1 || n_slots > UINT32_MAX - 1)
        return WR_E_NOMEM;
    w = plat_calloc(1, sizeof(*w));
    if (w == NULL)
        return WR_E_NOMEM;
    rc = WR_E_NOMEM;
    w->n_streams = params->n_streams;
    w->max_keys_total = max_keys_total;
    w->streams = plat_calloc(params->n_streams, sizeof(*w->streams));
    if (w->streams == NULL)
        goto fail;
    for (size_t i = 0; i < params->n_streams; i++)
        init_stream(&w->streams[i], &params->streams[i]);
    /* Ceilings only: the arrays and tables grow as keys and windows arrive. */
    w->n_key_recs = (uint32_t)n_keys;
    w->key_free = NIL;
    w->n_slots = (uint32_t)n_slots;
    w->slot_free = NIL;
    if (wr_window__tab_init(&w->key_tab, 0) != WR_OK)
        goto fail;
    if (wr_window__tab_init(&w->win_tab, 0) != WR_OK)
        goto fail;

    *out = w;
    return WR_OK;
fail:
    wr_window_destroy(w);
    return rc;
}

void wr_window_destroy(struct wr_window *w)
{
    if (w == NULL)
        return;
    plat_free(w->scratch);
    plat_free(w->emit_buf);
    /* Sketches stay with their slots, used or free. */
    for (uint32_t i = 0; w->slots != NULL && i < w->slot_hw; i++)
        wr_sketch_destroy(w->slots[i].agg.sketch);
    wr_window__tab_free(&w->win_tab);
    plat_free(w->slots);
    wr_window__tab_free(&w->key_tab);
    plat_free(w->keys);
    plat_free(w->streams);
    plat_free(w);
}

/* ---- add ----------------------------------------------------------------------------------- */

static bool key_length(const char *key, size_t *len)
{
    const char *nul = memchr(key, '\0', WR_KEY_MAX);

    if (nul == NULL)
        return false;
    *len = (size_t)(nul - key);
    return true;
}

int wr_window_add(struct wr_window *w, const struct wr_event *ev, const struct wr_now *now,
                  enum wr_window_outcome *outcome)
{
    struct stream *s;
    struct slot *sl;
    enum wr_window_outcome res;
    int64_t start;
    int64_t end;
    int64_t wm;
    size_t len;
    uint32_t hash;
    uint32_t key_id;
    uint32_t id = NIL;
    bool late;

    if (w == NULL || ev == NULL || now == NULL || outcome == NULL || ev->stream >= w->n_streams ||
        !isfinite(ev->value) || !key_length(ev->key, &len))
        return WR_E_INVAL;
    s = &w->streams[ev->stream];
    if (ev->time_ms > TIME_LIMIT_MS ||
        (now->wall_plausible && ev->time_ms > sat_add(now->wall_ms, s->future_ms))) {
        *outcome = WR_WINDOW_FUTURE;
        return WR_OK;
    }
    if (ev->time_ms < -TIME_LIMIT_MS) {
        *outcome = WR_WINDOW_LATE;
        return WR_OK;
    }
    start = align_down(ev->time_ms, s->size_ms);
    end = start + s->size_ms;
    wm = stream_watermark(s, now->mono_ms);
    hash = key_hash(ev->stream, ev->key, len);
    key_id = key_find(w, ev->stream, ev->key, hash);
    if (key_id != NIL)
        id = slot_find(w, key_id, start, NULL);

    if (id != NIL) {
        sl = &w->slots[id];
        if (!(sl->flags & SLOT_CLOSED)) {
            /* Still open, even if the watermark has passed it: advance has not run yet. */
            if (fold_event(w, sl, ev) != WR_OK) {
                *outcome = WR_WINDOW_NO_MEMORY;
                return WR_OK;
            }
            stream_note_event(s, ev, now->mono_ms);
            *outcome = WR_WINDOW_ADDED;
            return WR_OK;
        }
        if (end + s->horizon_ms <= wm) {
            /* Past its horizon, only waiting for advance to forget it. */
            *outcome = WR_WINDOW_LATE;
            return WR_OK;
        }
        if (fold_event(w, sl, ev) != WR_OK) {
            *outcome = WR_WINDOW_NO_MEMORY;
            return WR_OK;
        }
        slot_set_pending(w, sl);
        *outcome = WR_WINDOW_REVISED;
        return WR_OK;
    }

    late = end <= wm;
    if (late && (!s->revise || end + s->horizon_ms <= wm)) {
        *outcome = WR_WINDOW_LATE;
        return WR_OK;
    }
    res = reserve_window(w, ev->stream, ev->key, len, hash, &key_id);
    if (res != WR_WINDOW_ADDED) {
        *outcome = res;
        return WR_OK;
    }
    if (late) {
        /*
         * Under revise_late, an event for a window that closed without ever
         * existing (no event reached it in time) creates it closed, with its
         * first emission (revision 0) due at the next advance.
         */
        id = slot_take(w, ev->stream, key_id, start,
                       (uint8_t)(SLOT_CLOSED | (ev->has_time ? 0 : SLOT_PROCESSING)));
        sl = &w->slots[id];
        if (fold_event(w, sl, ev) != WR_OK) {
            slot_release(w, id);
            *outcome = WR_WINDOW_NO_MEMORY;
            return WR_OK;
        }
        slot_set_pending(w, sl);
        s->n_unemitted_closed++;
        s->next_due_ms = min64(s->next_due_ms, end + s->horizon_ms);
        *outcome = WR_WINDOW_REVISED;
        return WR_OK;
    }
    id = slot_take(w, ev->stream, key_id, start, (uint8_t)(ev->has_time ? 0 : SLOT_PROCESSING));
    if (fold_event(w, &w->slots[id], ev) != WR_OK) {
        slot_release(w, id);
        *outcome = WR_WINDOW_NO_MEMORY;
        return WR_OK;
    }
    stream_note_event(s, ev, now->mono_ms);
    s->next_due_ms = min64(s->next_due_ms, end);
    *outcome = WR_WINDOW_ADDED;
    return WR_OK;
}

/* ---- advance ------------------------------------------------------------------------------- */

/* Emission order: window start, then key, so output is deterministic. */
static bool slot_before(const struct wr_window *w, uint32_t a, uint32_t b)
{
    const struct slot *x = &w->slots[a];
    const struct slot *y = &w->slots[b];

    if (x->start_ms != y->start_ms)
        return x->start_ms < y->start_ms;
    return strcmp(w->keys[x->key_id].key, w->keys[y->key_id].key) < 0;
}

static void sift_down(const struct wr_window *w, uint32_t *a, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        uint32_t tmp;

        if (child >= n)
            return;
        if (child + 1 < n && slot_before(w, a[child], a[child + 1]))
            child++;
        if (!slot_before(w, a[root], a[child]))
            return;
        tmp = a[root];
        a[root] = a[child];
        a[child] = tmp;
        root = child;
    }
}

/* Heapsort: in place and allocation-free, unlike qsort, which may call malloc. */
static void sort_slots(const struct wr_window *w, uint32_t *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(w, a, i, n);
    for (size_t end = n; end-- > 1;) {
        uint32_t tmp = a[0];

        a[0] = a[end];
        a[end] = tmp;
        sift_down(w, a, 0, end);
    }
}

/* The slot's sketch in the emit buffer; false (result without a sketch) without memory. */
static bool serialize_sketch(struct wr_window *w, const struct wr_sketch *sk, size_t *len)
{
    size_t n = wr_sketch_serialized_size(sk);

    if (n > w->emit_cap) {
        uint8_t *grown = plat_realloc(w->emit_buf, n);

        if (grown == NULL)
            return false;
        w->emit_buf = grown;
        w->emit_cap = n;
    }
    return wr_sketch_serialize(sk, w->emit_buf, w->emit_cap, len) == WR_OK;
}

/*
 * The result of a slot as it stands: aggregate, quantiles from its sketch,
 * and the sketch itself, serialized into the emit buffer (valid until the
 * next result is built).
 */
static void build_result(struct wr_window *w, const struct slot *sl, struct wr_result *r)
{
    const struct stream *s = &w->streams[sl->stream];
    size_t len = 0;

    memset(r, 0, sizeof(*r));
    r->start_ms = sl->start_ms;
    r->size_s = s->size_s;
    r->revision = sl->revision;
    r->stream = sl->stream;
    memcpy(r->key, w->keys[sl->key_id].key, sizeof(r->key));
    r->agg = sl->agg;
    r->agg.sketch = NULL;
    if (sl->agg.sketch == NULL)
        return;
    for (uint8_t i = 0; i < s->n_quantiles; i++) {
        if (wr_agg_quantile(&sl->agg, s->quantiles[i], &r->quantiles[i]) != WR_OK)
            break;
        r->n_quantiles = (uint8_t)(i + 1);
    }
    if (wr_sketch_count(sl->agg.sketch) == 0)
        return;
    if (serialize_sketch(w, sl->agg.sketch, &len)) {
        r->sketch = w->emit_buf;
        r->sketch_len = (uint32_t)len;
    } else {
        /* The values still travel; only a rollup of this result loses its quantiles. */
        plat_log_limited(&w->emit_limiter, 10000, PLAT_LOG_WARN, MOD,
                         "no memory to serialize a window's sketch: its result goes without it");
    }
}

static void emit_slot(struct wr_window *w, uint32_t id, wr_window_emit_fn emit, void *ctx)
{
    struct slot *sl = &w->slots[id];
    struct stream *s = &w->streams[sl->stream];
    struct wr_result r;

    if (!(sl->flags & SLOT_CLOSED)) {
        sl->revision = 0;
    } else {
        sl->revision = (sl->flags & SLOT_EMITTED) ? sl->revision + 1 : 0;
        slot_clear_pending(w, sl);
    }
    build_result(w, sl, &r);
    emit(ctx, &r);

    sl->flags |= SLOT_EMITTED | SLOT_DIRTY;
    if (sl->flags & SLOT_CLOSED)
        return;
    if (!s->revise) {
        slot_release(w, id);
        return;
    }
    list_remove(w, &s->open, id);
    sl->flags |= SLOT_CLOSED;
    list_push(w, &s->retained, id);
}

static int advance_stream(struct wr_window *w, struct stream *s, int64_t wm, wr_window_emit_fn emit,
                          void *ctx)
{
    int64_t next_due = INT64_MAX;
    size_t n = 0;
    uint32_t id;

    if (s->n_pending == 0 && wm < s->next_due_ms)
        return 0;
    for (id = s->open.head; id != NIL; id = w->slots[id].next) {
        int64_t end = w->slots[id].start_ms + s->size_ms;

        if (end <= wm)
            w->scratch[n++] = id;
        else
            next_due = min64(next_due, end);
    }
    for (id = s->retained.head; id != NIL; id = w->slots[id].next) {
        if (w->slots[id].flags & SLOT_PENDING)
            w->scratch[n++] = id;
    }
    sort_slots(w, w->scratch, n);
    for (size_t i = 0; i < n; i++)
        emit_slot(w, w->scratch[i], emit, ctx);

    /* Forget closed windows past their horizon; nothing on this list is pending now. */
    id = s->retained.head;
    while (id != NIL) {
        uint32_t next = w->slots[id].next;
        int64_t expiry = w->slots[id].start_ms + s->size_ms + s->horizon_ms;

        if (expiry <= wm)
            slot_release(w, id);
        else
            next_due = min64(next_due, expiry);
        id = next;
    }
    s->next_due_ms = next_due;
    return (int)n;
}

int wr_window_advance(struct wr_window *w, const struct wr_now *now, wr_window_emit_fn emit,
                      void *ctx)
{
    int total = 0;

    if (w == NULL || now == NULL || emit == NULL)
        return WR_E_INVAL;
    for (size_t i = 0; i < w->n_streams; i++) {
        struct stream *s = &w->streams[i];

        total += advance_stream(w, s, stream_watermark(s, now->mono_ms), emit, ctx);
    }
    return total;
}

uint64_t wr_window_next_due_mono_ms(const struct wr_window *w, uint64_t now_mono_ms)
{
    uint64_t due = UINT64_MAX;

    if (w == NULL)
        return UINT64_MAX;
    for (size_t i = 0; i < w->n_streams; i++) {
        const struct stream *s = &w->streams[i];
        int64_t need;
        int64_t ahead;

        if (s->n_pending > 0)
            return now_mono_ms;
        if (s->anchor_ms == INT64_MIN || s->next_due_ms == INT64_MAX)
            continue;
        /* The watermark reaches next_due_ms when the clock, anchor_ms +
         * (mono - anchor_mono_ms), is lateness past it. */
        need = sat_add(s->next_due_ms, s->lateness_ms);
        ahead = need > s->anchor_ms ? need - s->anchor_ms : 0;
        if (ahead < 0 || ahead >= TIME_LIMIT_MS)
            continue;
        if (s->anchor_mono_ms + (uint64_t)ahead < due)
            due = s->anchor_mono_ms + (uint64_t)ahead;
    }
    return due < now_mono_ms ? now_mono_ms : due;
}

/*
 * A reload removed or redefined the stream: emit every open window now, as
 * it stands. Each is then kept as closed (not released) so that the next
 * checkpoint records it closed: a store row left "open" would be restored,
 * and emitted a second time, if the old config came back.
 */
int wr_window_cut_stream(struct wr_window *w, uint16_t stream, wr_window_emit_fn emit, void *ctx)
{
    struct stream *s;
    size_t n = 0;

    if (w == NULL || emit == NULL || stream >= w->n_streams)
        return WR_E_INVAL;
    s = &w->streams[stream];
    for (uint32_t id = s->open.head; id != NIL; id = w->slots[id].next)
        w->scratch[n++] = id;
    sort_slots(w, w->scratch, n);
    for (size_t i = 0; i < n; i++) {
        uint32_t id = w->scratch[i];
        struct slot *sl = &w->slots[id];
        struct wr_result r;

        sl->revision = 0;
        build_result(w, sl, &r);
        emit(ctx, &r);
        list_remove(w, &s->open, id);
        sl->flags |= SLOT_EMITTED | SLOT_DIRTY | SLOT_CLOSED;
        list_push(w, &s->retained, id);
    }
    /* Let the next advance recompute when this stream has work (expiry of the retained). */
    s->next_due_ms = INT64_MIN;
    return (int)n;
}

/* ---- clock jumps --------------------------------------------------------------------------- */

static void recompute_due(struct wr_window *w, struct stream *s)
{
    int64_t due = INT64_MAX;

    for (uint32_t id = s->open.head; id != NIL; id = w->slots[id].next)
        due = min64(due, w->slots[id].start_ms + s->size_ms);
    for (uint32_t id = s->retained.head; id != NIL; id = w->slots[id].next)
        due = min64(due, w->slots[id].start_ms + s->size_ms + s->horizon_ms);
    s->next_due_ms = due;
}

static void jump_stream(struct wr_window *w, struct stream *s, int64_t shift)
{
    size_t n = 0;

    if (s->clock_processing) {
        if (s->anchor_ms != INT64_MIN)
            s->anchor_ms = sat_add(s->anchor_ms, shift);
        if (s->max_event_ms != INT64_MIN)
            s->max_event_ms = sat_add(s->max_event_ms, shift);
    }
    /*
     * Two phases: take every moving window out of the index first, so that a
     * window moving onto the old place of another moving window is not
     * merged into it. Moving windows of one key all shift alike, so they
     * can only meet windows that stay.
     */
    for (uint32_t id = s->open.head; id != NIL; id = w->slots[id].next) {
        int64_t start = w->slots[id].start_ms;
        int64_t target = start + shift;

        if (!(w->slots[id].flags & SLOT_PROCESSING) || target > TIME_LIMIT_MS ||
            target < -TIME_LIMIT_MS)
            continue;
        slot_unindex(w, id);
        w->slots[id].start_ms = target;
        w->slots[id].hash = window_hash(w->slots[id].key_id, target);
        w->scratch[n++] = id;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t id = w->scratch[i];
        struct slot *sl = &w->slots[id];
        uint32_t other = slot_find(w, sl->key_id, sl->start_ms, NULL);

        if (other == NIL) {
            wr_window__tab_insert(&w->win_tab, sl->hash, id);
            sl->flags |= SLOT_DIRTY;
            continue;
        }
        /*
         * Both belong to one stream, so their sketches have the same parameters and
         * merge exactly; the merge fails only on memory, and then the moved window's
         * values are missing from the quantiles of the merged one (logged).
         */
        if (sl->agg.sketch != NULL && w->slots[other].agg.sketch == NULL) {
            w->slots[other].agg.sketch = sl->agg.sketch;
            sl->agg.sketch = NULL;
        } else if (sl->agg.sketch != NULL &&
                   wr_sketch_merge(w->slots[other].agg.sketch, sl->agg.sketch) != WR_OK) {
            PLAT_WARN(MOD, "clock jump: no memory to merge a window's quantile sketch");
        }
        wr_agg_merge(&w->slots[other].agg, &sl->agg);
        w->slots[other].flags |= SLOT_DIRTY;
        if (w->slots[other].flags & SLOT_CLOSED)
            slot_set_pending(w, &w->slots[other]);
        slot_release_unindexed(w, id);
    }
    recompute_due(w, s);
}

void wr_window_clock_jump(struct wr_window *w, int64_t delta_ms)
{
    if (w == NULL)
        return;
    if (delta_ms > JUMP_LIMIT_MS)
        delta_ms = JUMP_LIMIT_MS;
    if (delta_ms < -JUMP_LIMIT_MS)
        delta_ms = -JUMP_LIMIT_MS;
    for (size_t i = 0; i < w->n_streams; i++) {
        struct stream *s = &w->streams[i];
        int64_t shift = round_to_multiple(delta_ms, s->size_ms);

        if (shift != 0)
            jump_stream(w, s, shift);
    }
}

/* ---- checkpoint and restore ---------------------------------------------------------------- */

static void fill_state(const struct wr_window *w, const struct slot *sl, struct wr_window_state *st)
{
    /*
     * A late window created closed but not yet emitted is reported as open:
     * restored as open it closes at the next advance and emits revision 0,
     * exactly what would have happened without the restart.
     */
    bool emitted = (sl->flags & SLOT_EMITTED) != 0;

    memset(st, 0, sizeof(*st));
    st->stream = sl->stream;
    memcpy(st->key, w->keys[sl->key_id].key, sizeof(st->key));
    st->start_ms = sl->start_ms;
    st->revision = emitted ? sl->revision : 0;
    st->closed = emitted && (sl->flags & SLOT_CLOSED) != 0;
    st->processing_time = (sl->flags & SLOT_PROCESSING) != 0;
    st->changed = (sl->flags & SLOT_DIRTY) != 0;
    st->agg = sl->agg;
}

static int visit_list(const struct wr_window *w, uint32_t head, bool dirty_only,
                      wr_window_visit_fn visit, void *ctx)
{
    struct wr_window_state st;

    for (uint32_t id = head; id != NIL; id = w->slots[id].next) {
        int rc;

        if (dirty_only && !(w->slots[id].flags & SLOT_DIRTY))
            continue;
        fill_state(w, &w->slots[id], &st);
        rc = visit(ctx, &st);
        if (rc != WR_OK)
            return rc;
    }
    return WR_OK;
}

int wr_window_checkpoint(struct wr_window *w, wr_window_visit_fn visit, void *ctx)
{
    if (w == NULL || visit == NULL)
        return WR_E_INVAL;
    for (size_t i = 0; i < w->n_streams; i++) {
        int rc = visit_list(w, w->streams[i].open.head, true, visit, ctx);

        if (rc == WR_OK)
            rc = visit_list(w, w->streams[i].retained.head, true, visit, ctx);
        if (rc != WR_OK)
            return rc;
    }
    /* Only a complete walk makes the changes clean: the store saw all of them. */
    for (uint32_t id = 0; id < w->slot_hw; id++)
        w->slots[id].flags &= (uint8_t)~SLOT_DIRTY;
    return WR_OK;
}

int wr_window_visit_all(const struct wr_window *w, wr_window_visit_fn visit, void *ctx)
{
    if (w == NULL || visit == NULL)
        return WR_E_INVAL;
    for (size_t i = 0; i < w->n_streams; i++) {
        int rc = visit_list(w, w->streams[i].open.head, false, visit, ctx);

        if (rc == WR_OK)
            rc = visit_list(w, w->streams[i].retained.head, false, visit, ctx);
        if (rc != WR_OK)
            return rc;
    }
    return WR_OK;
}

void wr_window_mark_clean(struct wr_window *w)
{
    if (w == NULL)
        return;
    for (uint32_t id = 0; id < w->slot_hw; id++)
        w->slots[id].flags &= (uint8_t)~SLOT_DIRTY;
}

void wr_window_mark_all_dirty(struct wr_window *w)
{
    if (w == NULL)
        return;
    for (uint32_t id = 0; id < w->slot_hw; id++)
        if (w->slots[id].flags & SLOT_USED)
            w->slots[id].flags |= SLOT_DIRTY;
}

int wr_window_retention_floor(const struct wr_window *w, uint16_t stream, const struct wr_now *now,
                              int64_t *floor_ms)
{
    const struct stream *s;
    int64_t floor;
    int64_t wm;

    if (w == NULL || now == NULL || floor_ms == NULL || stream >= w->n_streams)
        return WR_E_INVAL;
    s = &w->streams[stream];
    if (s->anchor_ms == INT64_MIN) {
        /* No clock: any window could still be created. */
        *floor_ms = INT64_MIN;
        return WR_OK;
    }
    /*
     * The watermark never goes back, and no window with end + horizon <=
     * watermark is ever created again. It is taken now, not at the anchor:
     * while a stream's events trail its idle-advanced clock the anchor stays
     * put, and a floor from it would keep every closed window's checkpoint.
     * Windows still held (possibly past their end, waiting for advance)
     * count too.
     */
    wm = stream_watermark(s, now->mono_ms);
    floor = sat_add(wm, -(s->horizon_ms + s->size_ms));
    floor = floor < -TIME_LIMIT_MS ? INT64_MIN : align_down(floor, s->size_ms);
    for (uint32_t id = s->open.head; id != NIL; id = w->slots[id].next)
        floor = min64(floor, w->slots[id].start_ms);
    for (uint32_t id = s->retained.head; id != NIL; id = w->slots[id].next)
        floor = min64(floor, w->slots[id].start_ms);
    *floor_ms = floor;
    return WR_OK;
}

int wr_window_restore(struct wr_window *w, const struct wr_window_state *state)
{
    struct stream *s;
    struct slot *sl;
    enum wr_window_outcome res;
    size_t len;
    uint32_t hash;
    uint32_t key_id;
    uint32_t id;
    int64_t end;
    struct wr_sketch *sk;
    int rc;

    if (w == NULL || state == NULL || state->stream >= w->n_streams ||
        !key_length(state->key, &len) || state->agg.count == 0)
        return WR_E_INVAL;
    s = &w->streams[state->stream];
    if (state->start_ms > TIME_LIMIT_MS || state->start_ms < -TIME_LIMIT_MS ||
        align_down(state->start_ms, s->size_ms) != state->start_ms)
        return WR_E_INVAL;
    hash = key_hash(state->stream, state->key, len);
    key_id = key_find(w, state->stream, state->key, hash);
    if (key_id != NIL) {
        /* Restoring the same window twice keeps the later state. */
        id = slot_find(w, key_id, state->start_ms, NULL);
        if (id != NIL) {
            slot_release(w, id);
            key_id = key_find(w, state->stream, state->key, hash);
        }
    }
    /* A closed window is only worth keeping for revisions (revise_late may have been turned off);
     * an earlier open state of it is gone with the release above. */
    if (state->closed && !s->revise)
        return WR_OK;
    res = reserve_window(w, state->stream, state->key, len, hash, &key_id);
    if (res != WR_WINDOW_ADDED)
        return WR_E_FULL;
    id = slot_take(w, state->stream, key_id, state->start_ms,
                   (uint8_t)((state->closed ? SLOT_CLOSED | SLOT_EMITTED : 0) |
                             (state->processing_time ? SLOT_PROCESSING : 0)));
    sl = &w->slots[id];
    sk = sl->agg.sketch;
    if (s->sketch) {
        if (sk == NULL) {
            rc = wr_sketch_create(s->sketch_accuracy, s->sketch_max_buckets, &sk);
            if (rc != WR_OK) {
                slot_release(w, id);
                return rc;
            }
        }
        /* A sketch of other parameters (the config changed) cannot merge: start empty. */
        if (state->agg.sketch != NULL &&
            wr_sketch_accuracy(state->agg.sketch) == s->sketch_accuracy &&
            wr_sketch_max_buckets(state->agg.sketch) == s->sketch_max_buckets) {
            rc = wr_sketch_merge(sk, state->agg.sketch);
            if (rc != WR_OK) {
                sl->agg.sketch = sk;
                slot_release(w, id);
                return rc;
            }
        }
    }
    sl->agg = state->agg;
    sl->agg.sketch = sk;
    sl->revision = state->closed ? state->revision : 0;
    end = state->start_ms + s->size_ms;
    s->next_due_ms = min64(s->next_due_ms, state->closed ? end + s->horizon_ms : end);
    return WR_OK;
}

int wr_window_stream_clock(const struct wr_window *w, uint16_t stream, int64_t *max_event_ms)
{
    if (w == NULL || max_event_ms == NULL || stream >= w->n_streams)
        return WR_E_INVAL;
    *max_event_ms = w->streams[stream].max_event_ms;
    return WR_OK;
}

int wr_window_set_stream_clock(struct wr_window *w, uint16_t stream, int64_t max_event_ms,
                               const struct wr_now *now)
{
    struct stream *s;

    if (w == NULL || now == NULL || stream >= w->n_streams)
        return WR_E_INVAL;
    s = &w->streams[stream];
    if (max_event_ms != INT64_MIN &&
        (max_event_ms > TIME_LIMIT_MS || max_event_ms < -TIME_LIMIT_MS))
        return WR_E_INVAL;
    s->max_event_ms = max_event_ms;
    s->anchor_ms = max_event_ms;
    s->anchor_mono_ms = now->mono_ms;
    s->clock_processing = false;
    return WR_OK;
}

/* ---- stats --------------------------------------------------------------------------------- */

void wr_window_get_stats(const struct wr_window *w, struct wr_window_stats *stats)
{
    if (stats == NULL)
        return;
    memset(stats, 0, sizeof(*stats));
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n_streams; i++) {
        const struct stream *s = &w->streams[i];

        /* Late windows created closed count as open until their first emission. */
        stats->windows_open += s->open.len + s->n_unemitted_closed;
        stats->windows_retained += s->retained.len - s->n_unemitted_closed;
    }
    stats->keys = w->keys_used;
    stats->memory_bytes = sizeof(*w) + w->n_streams * sizeof(*w->streams) +
                          (size_t)w->key_cap * sizeof(*w->keys) +
                          (size_t)w->slot_cap * (sizeof(*w->slots) + sizeof(*w->scratch)) +
                          (size_t)wr_window__tab_bytes_now(&w->key_tab) +
                          (size_t)wr_window__tab_bytes_now(&w->win_tab);
}
