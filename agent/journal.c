#include "journal.h"

#include <stdatomic.h>
#include <string.h>

#include "crc32.h"
#include "plat_mem.h"
#include "plat_mmap.h"
#include "wr_error.h"

#define JOURNAL_MAGIC "WRJRNL1"
#define JOURNAL_VERSION 1u
#define RECORD_MAGIC 0xa5u
#define FLAG_HAS_TIME 0x01u

/*
 * Header, in the first WR_JOURNAL_HEADER_BYTES of the file. Native byte
 * order and layout: the file never leaves the machine and the boot that
 * wrote it, and the fingerprint covers the build.
 */
struct header {
    char magic[8];
    uint32_t version;
    uint32_t slot_bytes;
    uint32_t n_slots;
    uint32_t reserved;
    uint64_t journal_id;
    uint64_t fingerprint;
    char boot_id[WR_JOURNAL_BOOT_ID_MAX];
    uint32_t crc; /* of the bytes before it */
};
_Static_assert(sizeof(struct header) <= WR_JOURNAL_HEADER_BYTES, "journal header too big");

/*
 * Record layout, from the start of its first slot:
 *   0  u32 crc of bytes 4 .. 34 + key_len
 *   4  u8  RECORD_MAGIC
 *   5  u8  slots taken (1 or 2)
 *   6  u16 stream
 *   8  u64 sequence number
 *  16  i64 event time, ms
 *  24  f64 value
 *  32  u8  flags (FLAG_HAS_TIME)
 *  33  u8  key length (no NUL)
 *  34  key bytes
 */
#define OFF_MAGIC 4u
#define OFF_SLOTS 5u
#define OFF_STREAM 6u
#define OFF_SEQ 8u
#define OFF_TIME 16u
#define OFF_VALUE 24u
#define OFF_FLAGS 32u
#define OFF_KEYLEN 33u
#define OFF_KEY 34u
_Static_assert(OFF_KEY == WR_JOURNAL_RECORD_FIXED_BYTES, "record layout");
_Static_assert(OFF_KEY + WR_KEY_MAX - 1 <= 2 * WR_JOURNAL_SLOT_BYTES, "a key fits two slots");

struct wr_journal {
    struct plat_mmap *map;
    unsigned char *ring; /* first slot */
    size_t n_slots;
    uint64_t id;
    bool started;
    size_t head; /* slot the next record starts at */
    _Atomic uint64_t last_seq;
    _Atomic uint64_t covered;
    _Atomic uint64_t overruns;
    /* Undo of the last append. */
    size_t undo_head;
    uint64_t undo_seq;
    size_t undo_slots;
};

struct record {
    uint64_t seq;
    size_t slots;
    struct wr_event ev;
};

static unsigned char *slot_at(const struct wr_journal *j, size_t i)
{
    return j->ring + i * WR_JOURNAL_SLOT_BYTES;
}

static size_t slots_for_key(size_t key_len)
{
    return OFF_KEY + key_len <= WR_JOURNAL_SLOT_BYTES ? 1u : 2u;
}

/* An intact record starts at slot i: magic, geometry and CRC agree. */
static bool parse_at(const struct wr_journal *j, size_t i, struct record *out)
{
    const unsigned char *s = slot_at(j, i);
    uint32_t crc;
    uint8_t flags;
    size_t key_len;
    size_t slots;

    if (s[OFF_MAGIC] != RECORD_MAGIC)
        return false;
    slots = s[OFF_SLOTS];
    key_len = s[OFF_KEYLEN];
    if (key_len >= WR_KEY_MAX || slots != slots_for_key(key_len) || i + slots > j->n_slots)
        return false;
    memcpy(&crc, s, sizeof(crc));
    if (wr_crc32(0, s + OFF_MAGIC, OFF_KEY + key_len - OFF_MAGIC) != crc)
        return false;
    if (out == NULL)
        return true;
    memset(&out->ev, 0, sizeof(out->ev));
    out->slots = slots;
    memcpy(&out->seq, s + OFF_SEQ, sizeof(out->seq));
    memcpy(&out->ev.stream, s + OFF_STREAM, sizeof(out->ev.stream));
    memcpy(&out->ev.time_ms, s + OFF_TIME, sizeof(out->ev.time_ms));
    memcpy(&out->ev.value, s + OFF_VALUE, sizeof(out->ev.value));
    flags = s[OFF_FLAGS];
    out->ev.has_time = (flags & FLAG_HAS_TIME) != 0;
    memcpy(out->ev.key, s + OFF_KEY, key_len);
    out->ev.key[key_len] = '\0';
    return true;
}

static uint32_t header_crc(const struct header *h)
{
    return wr_crc32(0, h, offsetof(struct header, crc));
}

static void write_header(struct wr_journal *j, const struct wr_journal_params *p)
{
    struct header h;

    memset(&h, 0, sizeof(h));
    memcpy(h.magic, JOURNAL_MAGIC, sizeof(h.magic));
    h.version = JOURNAL_VERSION;
    h.slot_bytes = WR_JOURNAL_SLOT_BYTES;
    h.n_slots = (uint32_t)j->n_slots;
    h.journal_id = p->new_id;
    h.fingerprint = p->fingerprint;
    memcpy(h.boot_id, p->boot_id, strlen(p->boot_id));
    h.crc = header_crc(&h);
    memcpy(plat_mmap_data(j->map), &h, sizeof(h));
    j->id = p->new_id;
}

/* NULL when the header fits this boot, fingerprint and geometry; else why not. */
static const char *check_header(const struct header *h, const struct wr_journal_params *p,
                                size_t n_slots)
{
    static const char zero[sizeof(struct header)];

    if (memcmp(h, zero, sizeof(*h)) == 0)
        return "";
    if (memcmp(h->magic, JOURNAL_MAGIC, sizeof(h->magic)) != 0)
        return "not a windrow journal";
    if (h->crc != header_crc(h))
        return "header checksum mismatch";
    if (h->version != JOURNAL_VERSION || h->slot_bytes != WR_JOURNAL_SLOT_BYTES)
        return "written by another journal version";
    if (strncmp(h->boot_id, p->boot_id, sizeof(h->boot_id)) != 0)
        return "written during another boot";
    if (h->fingerprint != p->fingerprint)
        return "written for another config or build";
    if (h->n_slots != n_slots)
        return "journal size changed";
    if (h->journal_id == 0)
        return "header has no journal id";
    return NULL;
}

/* Find the newest intact record; the ring continues after it. */
static void scan(struct wr_journal *j, struct wr_journal_open_report *rep)
{
    struct record r;
    uint64_t best = 0;
    size_t head = 0;

    for (size_t i = 0; i < j->n_slots;) {
        if (!parse_at(j, i, &r)) {
            i++;
            continue;
        }
        rep->records++;
        if (r.seq > best) {
            best = r.seq;
            head = (i + r.slots) % j->n_slots;
        }
        i += r.slots;
    }
    rep->last_seq = best;
    j->head = head;
    atomic_store(&j->last_seq, best);
}

int wr_journal_open(const struct wr_journal_params *params, struct wr_journal **out,
                    struct wr_journal_open_report *rep_out)
{
    struct wr_journal_open_report rep;
    struct wr_journal *j;
    struct header h;
    const char *why;
    size_t n_slots;
    size_t total;
    bool resized = false;
    int rc;

    if (params == NULL || out == NULL || params->path == NULL || params->path[0] == '\0' ||
        params->boot_id == NULL || strlen(params->boot_id) >= WR_JOURNAL_BOOT_ID_MAX ||
        params->new_id == 0)
        return WR_E_INVAL;
    n_slots = params->capacity_bytes / WR_JOURNAL_SLOT_BYTES;
    if (n_slots < WR_JOURNAL_MIN_SLOTS || n_slots > UINT32_MAX)
        return WR_E_INVAL;
    memset(&rep, 0, sizeof(rep));
    rep.reason = "";
    total = WR_JOURNAL_HEADER_BYTES + n_slots * WR_JOURNAL_SLOT_BYTES;
    j = plat_calloc(1, sizeof(*j));
    if (j == NULL)
        return WR_E_NOMEM;
    j->n_slots = n_slots;
    /* A file of another length was cut short (or is not ours): resizing it would hide that. */
    rc = plat_mmap_open(params->path, 0, PLAT_MMAP_READONLY, &j->map);
    if (rc == WR_OK && plat_mmap_len(j->map) != total)
        resized = true;
    plat_mmap_close(j->map);
    j->map = NULL;
    rc = plat_mmap_open(params->path, total, PLAT_MMAP_CREATE, &j->map);
    if (rc != WR_OK)
        goto fail;
    j->ring = (unsigned char *)plat_mmap_data(j->map) + WR_JOURNAL_HEADER_BYTES;
    memcpy(&h, plat_mmap_data(j->map), sizeof(h));
    why = check_header(&h, params, n_slots);
    if (resized && (why == NULL || why[0] != '\0'))
        why = "truncated or resized";
    if (why == NULL) {
        rep.found = WR_JOURNAL_REOPENED;
        j->id = h.journal_id;
        scan(j, &rep);
    } else {
        if (why[0] != '\0') {
            rep.found = WR_JOURNAL_DISCARDED;
            rep.reason = why;
        }
        memset(plat_mmap_data(j->map), 0, plat_mmap_len(j->map));
        write_header(j, params);
    }
    rep.id = j->id;
    if (rep_out != NULL)
        *rep_out = rep;
    *out = j;
    return WR_OK;
fail:
    wr_journal_close(j);
    return rc;
}

void wr_journal_close(struct wr_journal *j)
{
    if (j == NULL)
        return;
    plat_mmap_close(j->map);
    plat_free(j);
}

uint64_t wr_journal_id(const struct wr_journal *j)
{
    return j != NULL ? j->id : 0;
}

size_t wr_journal_slots(const struct wr_journal *j)
{
    return j != NULL ? j->n_slots : 0;
}

int wr_journal_replay(struct wr_journal *j, uint64_t after_seq, wr_journal_event_fn fn, void *ctx,
                      struct wr_journal_replay_report *rep_out)
{
    struct wr_journal_replay_report rep = {0, 0, after_seq};
    uint64_t expect = after_seq + 1;
    struct record r;
    int rc = WR_OK;

    if (j == NULL || fn == NULL)
        return WR_E_INVAL;
    /* Oldest first: the ring is written in order, so it starts right after the newest record. */
    for (size_t k = 0; k < j->n_slots;) {
        size_t i = (j->head + k) % j->n_slots;

        if (!parse_at(j, i, &r)) {
            k++;
            continue;
        }
        k += r.slots;
        if (r.seq < expect)
            continue;
        rep.lost += r.seq - expect;
        rc = fn(ctx, &r.ev, r.seq);
        if (rc != WR_OK)
            break;
        rep.replayed++;
        rep.last_seq = r.seq;
        expect = r.seq + 1;
    }
    if (rep_out != NULL)
        *rep_out = rep;
    return rc;
}

int wr_journal_start(struct wr_journal *j, uint64_t last_seq, uint64_t covered_seq)
{
    if (j == NULL || last_seq < atomic_load(&j->last_seq))
        return WR_E_INVAL;
    atomic_store(&j->last_seq, last_seq);
    atomic_store(&j->covered, covered_seq);
    j->undo_slots = 0;
    j->started = true;
    return WR_OK;
}

/* A live record is about to be overwritten at slot i: count it. */
static void check_overrun(struct wr_journal *j, size_t i, uint64_t covered)
{
    const unsigned char *s = slot_at(j, i);
    uint64_t seq;

    if (s[OFF_MAGIC] != RECORD_MAGIC)
        return;
    memcpy(&seq, s + OFF_SEQ, sizeof(seq));
    if (seq > covered && seq <= atomic_load_explicit(&j->last_seq, memory_order_relaxed))
        atomic_fetch_add_explicit(&j->overruns, 1, memory_order_relaxed);
}

static void put_record(struct wr_journal *j, const struct wr_event *ev, size_t key_len,
                       uint64_t seq, uint64_t covered)
{
    size_t slots = slots_for_key(key_len);
    unsigned char *s;
    uint8_t flags = ev->has_time ? FLAG_HAS_TIME : 0;
    uint32_t crc;

    if (j->head + slots > j->n_slots) {
        /* A two-slot record never straddles the end: the last slot stays empty this lap. */
        check_overrun(j, j->head, covered);
        slot_at(j, j->head)[OFF_MAGIC] = 0;
        j->undo_slots++;
        j->head = 0;
    }
    for (size_t k = 0; k < slots; k++)
        check_overrun(j, j->head + k, covered);
    s = slot_at(j, j->head);
    /* The CRC is stored last: a crash in the middle leaves a record that does not check. */
    s[OFF_MAGIC] = RECORD_MAGIC;
    s[OFF_SLOTS] = (uint8_t)slots;
    memcpy(s + OFF_STREAM, &ev->stream, sizeof(ev->stream));
    memcpy(s + OFF_SEQ, &seq, sizeof(seq));
    memcpy(s + OFF_TIME, &ev->time_ms, sizeof(ev->time_ms));
    memcpy(s + OFF_VALUE, &ev->value, sizeof(ev->value));
    s[OFF_FLAGS] = flags;
    s[OFF_KEYLEN] = (uint8_t)key_len;
    memcpy(s + OFF_KEY, ev->key, key_len);
    crc = wr_crc32(0, s + OFF_MAGIC, OFF_KEY + key_len - OFF_MAGIC);
    memcpy(s, &crc, sizeof(crc));
    j->head = (j->head + slots) % j->n_slots;
    j->undo_slots += slots;
}

int wr_journal_append(struct wr_journal *j, const struct wr_event *evs, size_t n)
{
    uint64_t seq;
    uint64_t covered;

    if (j == NULL || (evs == NULL && n > 0))
        return WR_E_INVAL;
    if (!j->started)
        return WR_E_STATE;
    for (size_t i = 0; i < n; i++)
        if (memchr(evs[i].key, '\0', WR_KEY_MAX) == NULL)
            return WR_E_INVAL;
    seq = atomic_load_explicit(&j->last_seq, memory_order_relaxed);
    covered = atomic_load_explicit(&j->covered, memory_order_acquire);
    j->undo_head = j->head;
    j->undo_seq = seq;
    j->undo_slots = 0;
    for (size_t i = 0; i < n; i++)
        put_record(j, &evs[i], strlen(evs[i].key), ++seq, covered);
    atomic_store_explicit(&j->last_seq, seq, memory_order_release);
    return WR_OK;
}

void wr_journal_retract_last(struct wr_journal *j)
{
    if (j == NULL || !j->started)
        return;
    for (size_t k = 0; k < j->undo_slots; k++)
        slot_at(j, (j->undo_head + k) % j->n_slots)[OFF_MAGIC] = 0;
    j->head = j->undo_head;
    j->undo_slots = 0;
    atomic_store_explicit(&j->last_seq, j->undo_seq, memory_order_release);
}

uint64_t wr_journal_last_seq(const struct wr_journal *j)
{
    return j != NULL ? atomic_load_explicit(&j->last_seq, memory_order_acquire) : 0;
}

void wr_journal_set_covered(struct wr_journal *j, uint64_t seq)
{
    if (j != NULL)
        atomic_store_explicit(&j->covered, seq, memory_order_release);
}

uint64_t wr_journal_covered(const struct wr_journal *j)
{
    return j != NULL ? atomic_load_explicit(&j->covered, memory_order_acquire) : 0;
}

uint64_t wr_journal_overruns(const struct wr_journal *j)
{
    return j != NULL ? atomic_load_explicit(&j->overruns, memory_order_relaxed) : 0;
}
