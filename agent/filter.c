#include "filter.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "plat_mem.h"
#include "wr_error.h"

/*
 * Layout. Key state lives in a pool of max_keys entries. An open-addressing
 * table of cells (linear probing, a power of two of at least twice the pool,
 * so probes stay short) maps (stream, key) to a pool entry; removals use
 * backward-shift deletion, so there are no tombstones and a probe always
 * ends at an empty cell. A doubly linked list orders the entries from the
 * most to the least recently accepted: since every commit stamps the entry
 * it touches with a monotonic time no older than the previous stamps, the
 * list tail is the oldest entry, and if the tail has not expired no entry
 * has. Eviction is therefore exact and O(1).
 *
 * Staging. Checks never touch the pool or the table: an accepted event's
 * new state is written to a staged record (one per distinct key in the
 * batch), which later checks of the same key read instead of the table.
 * Commit copies the staged records into the pool; rollback forgets them.
 * This keeps rollback trivially exact, whatever the table did meanwhile.
 */

#define NONE UINT32_MAX

struct key_state {
    uint32_t hash;
    uint16_t stream;
    uint8_t n_hist; /* accepted pairs held, 0..WR_FILTER_DEDUP_DEPTH */
    uint8_t newest; /* ring index of the most recently accepted pair */
    int64_t time_ms[WR_FILTER_DEDUP_DEPTH];
    double value[WR_FILTER_DEDUP_DEPTH];
    char key[WR_KEY_MAX];
};

struct entry {
    struct key_state st;
    uint64_t accepted_mono_ms;
    uint32_t newer; /* LRU neighbour towards the head (most recent), or NONE */
    uint32_t older; /* LRU neighbour towards the tail (least recent), or NONE */
};

struct cell {
    uint32_t hash;
    uint32_t entry; /* NONE: empty */
};

struct staged {
    struct key_state st;
    uint32_t entry;    /* the key's own pool entry (live or expired), or NONE for a new key */
    uint32_t n_events; /* accepted events staged for this key, for the untracked count */
    uint64_t now_mono_ms;
};

struct wr_filter {
    struct wr_filter_config *cfg;
    bool *stateful;
    size_t n_streams;
    uint64_t horizon_ms; /* 0: never expires */

    struct entry *entries; /* entry_cap entries, grown towards max_keys as keys arrive */
    uint32_t max_keys;
    uint32_t entry_cap;
    uint32_t n_used; /* entries [n_used, max_keys) have never been used */
    uint32_t lru_head;
    uint32_t lru_tail;
    struct cell *cells;
    uint32_t mask;

    struct staged *staged;
    uint32_t max_batch;
    uint32_t n_staged;
    uint64_t staged_untracked;   /* events accepted this batch with no room to stage */
    uint64_t staged_heartbeats;  /* events let through this batch by max_silence_ms */
    uint64_t heartbeats_untaken; /* committed heartbeats not yet returned by take_heartbeats */

    struct wr_filter_stats stats;
};

/* ---- helpers ------------------------------------------------------------------------------- */

static bool is_stateful(const struct wr_filter_config *c)
{
    return c->dedup || c->min_interval_ms > 0 || c->deadband > 0.0;
}

/* FNV-1a over the stream index and the key bytes. */
static uint32_t key_hash(uint16_t stream, const char *key, size_t len)
{
    uint32_t h = 2166136261u;

    h = (h ^ (uint32_t)(stream & 0xffu)) * 16777619u;
    h = (h ^ (uint32_t)(stream >> 8)) * 16777619u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint32_t)(unsigned char)key[i]) * 16777619u;
    return h;
}

static size_t key_len(const char *key)
{
    const char *nul = memchr(key, '\0', WR_KEY_MAX);

    /* The decoder guarantees a NUL; a key without one is cut to fit rather than read past. */
    return nul != NULL ? (size_t)(nul - key) : WR_KEY_MAX - 1;
}

static bool same_key(const struct key_state *st, uint32_t hash, uint16_t stream, const char *key,
                     size_t len)
{
    return st->hash == hash && st->stream == stream && memcmp(st->key, key, len) == 0 &&
           st->key[len] == '\0';
}

static uint64_t value_bits(double v)
{
    uint64_t bits;

    memcpy(&bits, &v, sizeof(bits));
    return bits;
}

static bool expired(const struct wr_filter *f, uint32_t e, uint64_t now_mono_ms)
{
    uint64_t at = f->entries[e].accepted_mono_ms;

    if (f->horizon_ms == 0 || now_mono_ms < at)
        return false;
    return now_mono_ms - at >= f->horizon_ms;
}

/* ---- open-addressing table ----------------------------------------------------------------- */

static uint32_t table_find(const struct wr_filter *f, uint32_t hash, uint16_t stream,
                           const char *key, size_t len)
{
    for (uint32_t pos = hash & f->mask;; pos = (pos + 1) & f->mask) {
        const struct cell *c = &f->cells[pos];

        if (c->entry == NONE)
            return NONE;
        if (c->hash == hash && same_key(&f->entries[c->entry].st, hash, stream, key, len))
            return c->entry;
    }
}

static void table_insert(struct wr_filter *f, uint32_t hash, uint32_t e)
{
    uint32_t pos = hash & f->mask;

    /* The table has at least twice as many cells as the pool has entries: an empty one exists. */
    while (f->cells[pos].entry != NONE)
        pos = (pos + 1) & f->mask;
    f->cells[pos].hash = hash;
    f->cells[pos].entry = e;
}

/* Backward-shift deletion: later cells of the same probe run move up into the hole, so
 * lookups never need tombstones. A cell may fill the hole only if its home position does
 * not lie cyclically after the hole, i.e. the hole is on its probe path. */
static void table_remove(struct wr_filter *f, uint32_t hash, uint32_t e)
{
    uint32_t hole = hash & f->mask;
    uint32_t next;

    while (f->cells[hole].entry != e) {
        assert(f->cells[hole].entry != NONE);
        hole = (hole + 1) & f->mask;
    }
    for (next = (hole + 1) & f->mask; f->cells[next].entry != NONE; next = (next + 1) & f->mask) {
        uint32_t home = f->cells[next].hash & f->mask;

        if (((next - home) & f->mask) >= ((next - hole) & f->mask)) {
            f->cells[hole] = f->cells[next];
            hole = next;
        }
    }
    f->cells[hole].entry = NONE;
    f->cells[hole].hash = 0;
}

/* ---- LRU list ------------------------------------------------------------------------------ */

static void lru_unlink(struct wr_filter *f, uint32_t e)
{
    struct entry *en = &f->entries[e];

    if (en->newer != NONE)
        f->entries[en->newer].older = en->older;
    else
        f->lru_head = en->older;
    if (en->older != NONE)
        f->entries[en->older].newer = en->newer;
    else
        f->lru_tail = en->newer;
    en->newer = NONE;
    en->older = NONE;
}

static void lru_push_head(struct wr_filter *f, uint32_t e)
{
    struct entry *en = &f->entries[e];

    en->newer = NONE;
    en->older = f->lru_head;
    if (f->lru_head != NONE)
        f->entries[f->lru_head].newer = e;
    else
        f->lru_tail = e;
    f->lru_head = e;
}

/*
 * max_keys is a ceiling: the pool and the cell table start small and double
 * (the table rehashed from the hashes its cells keep) when a never-used
 * entry is needed, so memory follows the keys seen. Room for entry n_used,
 * or WR_E_NOMEM with nothing changed.
 */
#define FILTER_GROW_FIRST 64u

/* Cells for n entries: a power of two of at least twice n, so probes stay short. */
static uint32_t cells_for(uint32_t max_keys)
{
    uint32_t n = 8;

    while (n < 2u * max_keys)
        n *= 2u;
    return n;
}

static int make_room(struct wr_filter *f)
{
    uint32_t need_cells = cells_for(f->n_used + 1u);

    if (f->n_used == f->entry_cap) {
        uint32_t want = f->entry_cap == 0 ? FILTER_GROW_FIRST : f->entry_cap * 2u;
        struct entry *bigger;

        if (want > f->max_keys || want < f->entry_cap)
            want = f->max_keys;
        bigger = plat_realloc(f->entries, (size_t)want * sizeof(*bigger));
        if (bigger == NULL)
            return WR_E_NOMEM;
        f->entries = bigger;
        f->entry_cap = want;
    }
    if (need_cells > f->mask + 1u) {
        struct cell *old = f->cells;
        uint32_t old_n = f->mask + 1u;
        struct cell *cells = plat_malloc((size_t)need_cells * sizeof(*cells));

        if (cells == NULL)
            return WR_E_NOMEM;
        for (uint32_t i = 0; i < need_cells; i++) {
            cells[i].hash = 0;
            cells[i].entry = NONE;
        }
        f->cells = cells;
        f->mask = need_cells - 1u;
        for (uint32_t i = 0; i < old_n; i++)
            if (old[i].entry != NONE)
                table_insert(f, old[i].hash, old[i].entry);
        plat_free(old);
    }
    return WR_OK;
}

/* A pool entry for a new key: never used, else the least recently accepted if expired. */
static uint32_t take_entry(struct wr_filter *f, uint64_t now_mono_ms)
{
    uint32_t e;

    if (f->n_used < f->max_keys) {
        /* A failed growth leaves the key untracked (counted), as a full pool does. */
        if (make_room(f) == WR_OK)
            return f->n_used++;
    }
    e = f->lru_tail;
    if (e == NONE || !expired(f, e, now_mono_ms))
        return NONE;
    table_remove(f, f->entries[e].st.hash, e);
    lru_unlink(f, e);
    f->stats.evicted++;
    return e;
}

/* ---- checks -------------------------------------------------------------------------------- */

static struct staged *find_staged(struct wr_filter *f, uint32_t hash, uint16_t stream,
                                  const char *key, size_t len)
{
    for (uint32_t i = 0; i < f->n_staged; i++)
        if (same_key(&f->staged[i].st, hash, stream, key, len))
            return &f->staged[i];
    return NULL;
}

/*
 * The stateful checks against a key's last accepted events. Dedup comes
 * first because a QoS 1 redelivery repeats time and value, so the interval
 * and deadband checks would usually drop it too, under a reason that hides
 * what happened; counting it as a duplicate tells the operator about
 * redeliveries. The interval comes before the deadband because it is a
 * plain rate limit, independent of the value: an event too soon is counted
 * as such even when its value also happens to sit inside the deadband.
 */
/*
 * max_silence_ms overrides only the deadband: a value inside the deadband
 * is a real, new reading of a flat signal, and letting one through now and
 * then shows the key is alive. The interval is a rate limit the operator
 * asked for, and a dedup hit is a redelivery of a reading already counted,
 * so neither is overridden. silent_ms is the monotonic time since the key's
 * last accepted event.
 */
static bool passes_state(const struct wr_filter_config *c, const struct key_state *st,
                         const struct wr_event *ev, uint64_t silent_ms, bool *heartbeat,
                         enum wr_drop_reason *reason)
{
    int64_t last_ms;

    if (st->n_hist == 0)
        return true;
    if (c->dedup) {
        uint64_t bits = value_bits(ev->value);

        for (unsigned i = 0; i < st->n_hist; i++) {
            if (st->time_ms[i] == ev->time_ms && value_bits(st->value[i]) == bits) {
                *reason = WR_DROP_FILTER_DUPLICATE;
                return false;
            }
        }
    }
    last_ms = st->time_ms[st->newest];
    /* ev->time_ms >= last_ms makes the unsigned difference exact, whatever the magnitudes. */
    if (c->min_interval_ms > 0 &&
        (ev->time_ms < last_ms ||
         (uint64_t)ev->time_ms - (uint64_t)last_ms < (uint64_t)c->min_interval_ms)) {
        *reason = WR_DROP_FILTER_INTERVAL;
        return false;
    }
    if (c->deadband > 0.0 && fabs(ev->value - st->value[st->newest]) < c->deadband) {
        if (c->max_silence_ms > 0 && silent_ms >= c->max_silence_ms) {
            *heartbeat = true;
            return true;
        }
        *reason = WR_DROP_FILTER_DEADBAND;
        return false;
    }
    return true;
}

static void push_accepted(struct key_state *st, const struct wr_event *ev)
{
    if (st->n_hist > 0)
        st->newest = (uint8_t)((st->newest + 1u) % WR_FILTER_DEDUP_DEPTH);
    else
        st->newest = 0;
    if (st->n_hist < WR_FILTER_DEDUP_DEPTH)
        st->n_hist++;
    st->time_ms[st->newest] = ev->time_ms;
    st->value[st->newest] = ev->value;
}

bool wr_filter_check(struct wr_filter *f, const struct wr_event *ev, uint64_t now_mono_ms,
                     enum wr_drop_reason *reason)
{
    enum wr_drop_reason ignored;
    const struct wr_filter_config *c;
    const struct key_state *prev = NULL;
    uint64_t prev_mono_ms = 0;
    bool heartbeat = false;
    struct staged *sg;
    uint32_t e = NONE;
    uint32_t hash;
    size_t len;

    if (reason == NULL)
        reason = &ignored;
    if (f == NULL || ev == NULL || ev->stream >= f->n_streams) {
        *reason = WR_DROP_MALFORMED;
        return false;
    }
    c = &f->cfg[ev->stream];
    /* Written as negations so that a NaN, which the decoder should never let through, fails. */
    if ((c->has_min && !(ev->value >= c->min)) || (c->has_max && !(ev->value <= c->max))) {
        *reason = WR_DROP_FILTER_RANGE;
        return false;
    }
    if (!f->stateful[ev->stream])
        return true;

    len = key_len(ev->key);
    hash = key_hash(ev->stream, ev->key, len);
    sg = find_staged(f, hash, ev->stream, ev->key, len);
    if (sg != NULL) {
        prev = &sg->st;
        prev_mono_ms = sg->now_mono_ms;
    } else {
        e = table_find(f, hash, ev->stream, ev->key, len);
        /* An expired entry is this key's own slot; its state is forgotten, the slot reused. */
        if (e != NONE && !expired(f, e, now_mono_ms)) {
            prev = &f->entries[e].st;
            prev_mono_ms = f->entries[e].accepted_mono_ms;
        }
    }
    if (prev != NULL &&
        !passes_state(c, prev, ev, now_mono_ms >= prev_mono_ms ? now_mono_ms - prev_mono_ms : 0,
                      &heartbeat, reason))
        return false;
    if (heartbeat)
        f->staged_heartbeats++;

    if (sg == NULL) {
        if (f->n_staged == f->max_batch) {
            f->staged_untracked++;
            return true;
        }
        sg = &f->staged[f->n_staged++];
        if (prev != NULL) {
            sg->st = *prev;
        } else {
            memset(&sg->st, 0, sizeof(sg->st));
            sg->st.hash = hash;
            sg->st.stream = ev->stream;
            memcpy(sg->st.key, ev->key, len);
            sg->st.key[len] = '\0';
        }
        sg->entry = e;
        sg->n_events = 0;
    }
    push_accepted(&sg->st, ev);
    sg->n_events++;
    sg->now_mono_ms = now_mono_ms;
    return true;
}

static void apply(struct wr_filter *f, uint32_t e, const struct staged *sg)
{
    f->entries[e].st = sg->st;
    f->entries[e].accepted_mono_ms = sg->now_mono_ms;
    lru_push_head(f, e);
}

void wr_filter_commit(struct wr_filter *f)
{
    if (f == NULL)
        return;
    /*
     * Keys that already own an entry first: refreshing them moves them to the
     * LRU head, so the evictions below can never take an entry this very
     * batch is updating.
     */
    for (uint32_t i = 0; i < f->n_staged; i++) {
        const struct staged *sg = &f->staged[i];

        if (sg->entry == NONE)
            continue;
        lru_unlink(f, sg->entry);
        apply(f, sg->entry, sg);
    }
    for (uint32_t i = 0; i < f->n_staged; i++) {
        const struct staged *sg = &f->staged[i];
        uint32_t e;

        if (sg->entry != NONE)
            continue;
        e = take_entry(f, sg->now_mono_ms);
        if (e == NONE) {
            f->stats.untracked += sg->n_events;
            continue;
        }
        apply(f, e, sg);
        table_insert(f, sg->st.hash, e);
    }
    f->stats.untracked += f->staged_untracked;
    f->stats.heartbeats += f->staged_heartbeats;
    f->heartbeats_untaken += f->staged_heartbeats;
    f->n_staged = 0;
    f->staged_untracked = 0;
    f->staged_heartbeats = 0;
}

uint64_t wr_filter_take_heartbeats(struct wr_filter *f)
{
    uint64_t n;

    if (f == NULL)
        return 0;
    n = f->heartbeats_untaken;
    f->heartbeats_untaken = 0;
    return n;
}

void wr_filter_rollback(struct wr_filter *f)
{
    if (f == NULL)
        return;
    f->n_staged = 0;
    f->staged_untracked = 0;
    f->staged_heartbeats = 0;
}

struct wr_filter_stats wr_filter_stats(const struct wr_filter *f)
{
    struct wr_filter_stats s;

    memset(&s, 0, sizeof(s));
    if (f == NULL)
        return s;
    s = f->stats;
    s.keys = f->n_used;
    s.max_keys = f->max_keys;
    return s;
}

/* ---- construction -------------------------------------------------------------------------- */

static bool config_valid(const struct wr_filter_config *c)
{
    if (c->has_min && !isfinite(c->min))
        return false;
    if (c->has_max && !isfinite(c->max))
        return false;
    if (c->has_min && c->has_max && c->min > c->max)
        return false;
    return isfinite(c->deadband) && c->deadband >= 0.0;
}


/* The staged records and the smallest cell table; the pool grows in make_room. */
static int alloc_table(struct wr_filter *f, uint32_t max_keys, uint32_t max_batch)
{
    uint32_t n_cells = cells_for(0);

    f->cells = plat_malloc((size_t)n_cells * sizeof(*f->cells));
    f->staged = plat_calloc(max_batch, sizeof(*f->staged));
    if (f->cells == NULL || f->staged == NULL)
        return WR_E_NOMEM;
    for (uint32_t i = 0; i < n_cells; i++) {
        f->cells[i].hash = 0;
        f->cells[i].entry = NONE;
    }
    f->mask = n_cells - 1u;
    f->max_keys = max_keys;
    f->max_batch = max_batch;
    return WR_OK;
}

int wr_filter_create(const struct wr_filter_params *params, struct wr_filter **out)
{
    struct wr_filter *f = NULL;
    bool any_stateful = false;
    uint64_t horizon_ms;
    int rc;

    if (params == NULL || out == NULL || params->streams == NULL || params->n_streams == 0 ||
        params->n_streams > (size_t)UINT16_MAX + 1u || params->max_batch == 0)
        return WR_E_INVAL;
    horizon_ms = params->horizon_ms;
    for (size_t s = 0; s < params->n_streams; s++) {
        const struct wr_filter_config *c = &params->streams[s];

        if (!config_valid(c))
            return WR_E_INVAL;
        if (is_stateful(c)) {
            any_stateful = true;
            if (horizon_ms != 0 && horizon_ms < c->min_interval_ms)
                horizon_ms = c->min_interval_ms;
            /* One more millisecond, so that an event exactly at the silence is counted as
             * the heartbeat it is rather than as the first event of an expired key. */
            if (horizon_ms != 0 && c->max_silence_ms > 0 && horizon_ms <= c->max_silence_ms)
                horizon_ms = (uint64_t)c->max_silence_ms + 1u;
        }
    }
    if (any_stateful && (params->max_keys == 0 || params->max_keys > WR_FILTER_MAX_KEYS))
        return WR_E_INVAL;

    f = plat_calloc(1, sizeof(*f));
    if (f == NULL)
        return WR_E_NOMEM;
    f->lru_head = NONE;
    f->lru_tail = NONE;
    f->n_streams = params->n_streams;
    f->horizon_ms = horizon_ms;
    f->cfg = plat_calloc(params->n_streams, sizeof(*f->cfg));
    f->stateful = plat_calloc(params->n_streams, sizeof(*f->stateful));
    if (f->cfg == NULL || f->stateful == NULL) {
        rc = WR_E_NOMEM;
        goto fail;
    }
    for (size_t s = 0; s < params->n_streams; s++) {
        f->cfg[s] = params->streams[s];
        f->stateful[s] = is_stateful(&params->streams[s]);
    }
    if (any_stateful) {
        rc = alloc_table(f, params->max_keys, params->max_batch);
        if (rc != WR_OK)
            goto fail;
    }
    *out = f;
    return WR_OK;
fail:
    wr_filter_destroy(f);
    return rc;
}

void wr_filter_destroy(struct wr_filter *f)
{
    if (f == NULL)
        return;
    plat_free(f->staged);
    plat_free(f->cells);
    plat_free(f->entries);
    plat_free(f->stateful);
    plat_free(f->cfg);
    plat_free(f);
}
