#include "snapshot.h"

#include <stdio.h>
#include <string.h>

#include "crc32.h"
#include "plat_file.h"
#include "plat_log.h"
#include "plat_mem.h"
#include "plat_mmap.h"
#include "sketch.h"
#include "wr_error.h"

#define MOD "snapshot"
#define SNAPSHOT_MAGIC "WRSNAP1"
#define SNAPSHOT_VERSION 3u
#define MIN_FILE_BYTES 4096u

enum rec_type { REC_WINDOW = 1, REC_CLOCK = 2, REC_RESULT = 3 };

#define WIN_CLOSED 0x01u
#define WIN_PROCESSING 0x02u

/*
 * Records follow the header back to back, each starting with its type byte:
 *   window: u8 type, u8 flags, u16 stream, u32 revision, i64 start_ms,
 *           struct wr_agg (its sketch pointer zeroed), u8 key_len, key bytes,
 *           u32 sketch_len, the sketch as wr_sketch_serialize writes it
 *   clock:  u8 type, u8 0, u16 stream, i64 max_event_ms
 *   result: u8 type, u8 0, u16 stream, u32 revision, i64 start_ms, u32 size_s,
 *           struct wr_agg (sketch pointer zeroed), u8 key_len, key bytes,
 *           u8 n_quantiles, n_quantiles f64, u32 sketch_len, the result's
 *           sketch bytes (version 3; version 2 had no sketch)
 * Native byte order and struct wr_agg as laid out by this build: the file
 * stays on the machine and boot that wrote it, and the fingerprint names the
 * build.
 */
#define WINDOW_FIXED (1u + 1u + 2u + 4u + 8u + sizeof(struct wr_agg) + 1u)
#define CLOCK_BYTES (1u + 1u + 2u + 8u)
#define RESULT_FIXED (1u + 1u + 2u + 4u + 8u + 4u + sizeof(struct wr_agg) + 1u)

struct header {
    char magic[8];
    uint32_t version;
    uint32_t header_bytes;
    uint64_t seq;
    uint64_t journal_id;
    uint64_t covered_seq;
    uint64_t fingerprint;
    int64_t wall_ms;
    char boot_id[WR_SNAPSHOT_BOOT_ID_MAX];
    uint64_t payload_bytes;
    uint32_t windows;
    uint32_t clocks;
    uint32_t results;
    uint32_t payload_crc;
    uint32_t header_crc; /* of the bytes before it */
};
_Static_assert(sizeof(struct header) <= WR_SNAPSHOT_HEADER_BYTES, "snapshot header too big");

struct wr_snapshot_writer {
    char dir[WR_SNAPSHOT_PATH_MAX];
    char tmp_path[WR_SNAPSHOT_PATH_MAX];
    struct plat_mmap *map;
    size_t used; /* bytes, header included */
    uint32_t windows;
    uint32_t clocks;
    uint32_t results;
};

struct wr_snapshot {
    struct plat_mmap *map;
    struct wr_snapshot_meta meta;
};

static int path_join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, WR_SNAPSHOT_PATH_MAX, "%s/%s", dir, name);

    return n > 0 && (size_t)n < WR_SNAPSHOT_PATH_MAX ? WR_OK : WR_E_INVAL;
}

int wr_snapshot_begin(const char *dir, size_t size_hint_bytes, struct wr_snapshot_writer **out)
{
    struct wr_snapshot_writer *w;
    size_t len = size_hint_bytes < MIN_FILE_BYTES ? MIN_FILE_BYTES : size_hint_bytes;
    int rc;

    if (dir == NULL || out == NULL || strlen(dir) >= WR_SNAPSHOT_PATH_MAX)
        return WR_E_INVAL;
    w = plat_calloc(1, sizeof(*w));
    if (w == NULL)
        return WR_E_NOMEM;
    memcpy(w->dir, dir, strlen(dir) + 1);
    rc = path_join(w->tmp_path, dir, WR_SNAPSHOT_TMP_NAME);
    if (rc == WR_OK)
        rc = plat_mmap_open(w->tmp_path, len, PLAT_MMAP_CREATE | PLAT_MMAP_TRUNCATE, &w->map);
    if (rc != WR_OK) {
        wr_snapshot_abort(w);
        return rc;
    }
    w->used = WR_SNAPSHOT_HEADER_BYTES;
    *out = w;
    return WR_OK;
}

/* Room for n more bytes; the file grows by doubling. */
static unsigned char *reserve(struct wr_snapshot_writer *w, size_t n)
{
    size_t len = plat_mmap_len(w->map);

    if (w->used + n > len) {
        size_t want = len * 2;

        while (want < w->used + n)
            want *= 2;
        if (plat_mmap_resize(w->map, want) != WR_OK)
            return NULL;
    }
    return (unsigned char *)plat_mmap_data(w->map) + w->used;
}

static bool key_len_of(const char *key, size_t *len)
{
    const char *nul = memchr(key, '\0', WR_KEY_MAX);

    if (nul == NULL)
        return false;
    *len = (size_t)(nul - key);
    return true;
}

int wr_snapshot_put_window(void *writer, const struct wr_window_state *st)
{
    struct wr_snapshot_writer *w = writer;
    unsigned char *p;
    size_t key_len;
    uint8_t flags;

    size_t sk_len;
    uint32_t sk_len32;
    struct wr_agg agg;

    if (w == NULL || st == NULL || !key_len_of(st->key, &key_len))
        return WR_E_INVAL;
    sk_len = st->agg.sketch != NULL ? wr_sketch_serialized_size(st->agg.sketch) : 0;
    if (sk_len > UINT32_MAX)
        return WR_E_INVAL;
    p = reserve(w, WINDOW_FIXED + key_len + 4 + sk_len);
    if (p == NULL)
        return WR_E_NOSPC;
    /* The sketch travels serialized after the key: a pointer means nothing to the next process. */
    agg = st->agg;
    agg.sketch = NULL;
    flags = (uint8_t)((st->closed ? WIN_CLOSED : 0) | (st->processing_time ? WIN_PROCESSING : 0));
    p[0] = REC_WINDOW;
    p[1] = flags;
    memcpy(p + 2, &st->stream, 2);
    memcpy(p + 4, &st->revision, 4);
    memcpy(p + 8, &st->start_ms, 8);
    memcpy(p + 16, &agg, sizeof(agg));
    p[16 + sizeof(agg)] = (uint8_t)key_len;
    memcpy(p + WINDOW_FIXED, st->key, key_len);
    if (sk_len > 0) {
        size_t got = 0;

        if (wr_sketch_serialize(st->agg.sketch, p + WINDOW_FIXED + key_len + 4, sk_len, &got) !=
                WR_OK ||
            got != sk_len)
            sk_len = 0; /* restored with an empty sketch, as a checkpoint would */
    }
    sk_len32 = (uint32_t)sk_len;
    memcpy(p + WINDOW_FIXED + key_len, &sk_len32, 4);
    w->used += WINDOW_FIXED + key_len + 4 + sk_len;
    w->windows++;
    return WR_OK;
}

int wr_snapshot_put_clock(struct wr_snapshot_writer *w, uint16_t stream, int64_t max_event_ms)
{
    unsigned char *p;

    if (w == NULL)
        return WR_E_INVAL;
    p = reserve(w, CLOCK_BYTES);
    if (p == NULL)
        return WR_E_NOSPC;
    p[0] = REC_CLOCK;
    p[1] = 0;
    memcpy(p + 2, &stream, 2);
    memcpy(p + 4, &max_event_ms, 8);
    w->used += CLOCK_BYTES;
    w->clocks++;
    return WR_OK;
}

int wr_snapshot_put_result(void *writer, const struct wr_result *r)
{
    struct wr_snapshot_writer *w = writer;
    unsigned char *p;
    size_t key_len;

    struct wr_agg agg;
    size_t nq;
    uint32_t sk_len;
    size_t rec_len;

    if (w == NULL || r == NULL || !key_len_of(r->key, &key_len))
        return WR_E_INVAL;
    nq = r->n_quantiles <= WR_RESULT_MAX_QUANTILES ? r->n_quantiles : WR_RESULT_MAX_QUANTILES;
    sk_len = r->sketch != NULL ? r->sketch_len : 0;
    if (sk_len > wr_result_sketch_max())
        return WR_E_INVAL;
    rec_len = RESULT_FIXED + key_len + 1 + nq * 8 + 4 + sk_len;
    p = reserve(w, rec_len);
    if (p == NULL)
        return WR_E_NOSPC;
    agg = r->agg;
    agg.sketch = NULL;
    p[0] = REC_RESULT;
    p[1] = 0;
    memcpy(p + 2, &r->stream, 2);
    memcpy(p + 4, &r->revision, 4);
    memcpy(p + 8, &r->start_ms, 8);
    memcpy(p + 16, &r->size_s, 4);
    memcpy(p + 20, &agg, sizeof(agg));
    p[20 + sizeof(agg)] = (uint8_t)key_len;
    memcpy(p + RESULT_FIXED, r->key, key_len);
    p[RESULT_FIXED + key_len] = (uint8_t)nq;
    memcpy(p + RESULT_FIXED + key_len + 1, r->quantiles, nq * 8);
    memcpy(p + RESULT_FIXED + key_len + 1 + nq * 8, &sk_len, 4);
    if (sk_len > 0)
        memcpy(p + RESULT_FIXED + key_len + 1 + nq * 8 + 4, r->sketch, sk_len);
    w->used += rec_len;
    w->results++;
    return WR_OK;
}

int wr_snapshot_commit(struct wr_snapshot_writer *w, const struct wr_snapshot_meta *meta)
{
    char path[WR_SNAPSHOT_PATH_MAX];
    unsigned char *base;
    struct header h;
    int rc;

    if (w == NULL)
        return WR_E_INVAL;
    if (meta == NULL || memchr(meta->boot_id, '\0', WR_SNAPSHOT_BOOT_ID_MAX) == NULL) {
        wr_snapshot_abort(w);
        return WR_E_INVAL;
    }
    base = plat_mmap_data(w->map);
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, SNAPSHOT_MAGIC, sizeof(h.magic));
    h.version = SNAPSHOT_VERSION;
    h.header_bytes = WR_SNAPSHOT_HEADER_BYTES;
    h.seq = meta->seq;
    h.journal_id = meta->journal_id;
    h.covered_seq = meta->covered_seq;
    h.fingerprint = meta->fingerprint;
    h.wall_ms = meta->wall_ms;
    memcpy(h.boot_id, meta->boot_id, strlen(meta->boot_id));
    h.payload_bytes = w->used - WR_SNAPSHOT_HEADER_BYTES;
    h.windows = w->windows;
    h.clocks = w->clocks;
    h.results = w->results;
    h.payload_crc = wr_crc32(0, base + WR_SNAPSHOT_HEADER_BYTES, (size_t)h.payload_bytes);
    h.header_crc = wr_crc32(0, &h, offsetof(struct header, header_crc));
    memset(base, 0, WR_SNAPSHOT_HEADER_BYTES);
    memcpy(base, &h, sizeof(h));
    rc = plat_mmap_resize(w->map, w->used);
    if (rc == WR_OK)
        rc = path_join(path, w->dir, WR_SNAPSHOT_FILE_NAME);
    plat_mmap_close(w->map);
    w->map = NULL;
    /* On tmpfs the directory fsync inside plat_file_rename costs a system call, not a write. */
    if (rc == WR_OK)
        rc = plat_file_rename(w->tmp_path, path);
    if (rc != WR_OK)
        plat_mmap_remove(w->tmp_path);
    plat_free(w);
    return rc;
}

void wr_snapshot_abort(struct wr_snapshot_writer *w)
{
    if (w == NULL)
        return;
    plat_mmap_close(w->map);
    if (w->tmp_path[0] != '\0')
        plat_mmap_remove(w->tmp_path);
    plat_free(w);
}

/* ---- reading ------------------------------------------------------------------------------- */

const char *wr_snapshot_verdict_text(enum wr_snapshot_verdict v)
{
    switch (v) {
    case WR_SNAPSHOT_USABLE:
        return "usable";
    case WR_SNAPSHOT_MISSING:
        return "missing";
    case WR_SNAPSHOT_UNREADABLE:
        return "cannot be read";
    case WR_SNAPSHOT_TRUNCATED:
        return "truncated";
    case WR_SNAPSHOT_GARBAGE:
        return "not a windrow snapshot";
    case WR_SNAPSHOT_BAD_CHECKSUM:
        return "checksum mismatch";
    case WR_SNAPSHOT_BAD_RECORD:
        return "a record does not parse";
    case WR_SNAPSHOT_OTHER_BOOT:
        return "written during another boot";
    case WR_SNAPSHOT_OTHER_CONFIG:
        return "written for another config or build";
    }
    return "unknown";
}

/* Walk the records; with v == NULL only check that they parse and match the counts. */
static int walk(const unsigned char *p, size_t len, const struct header *h,
                const struct wr_snapshot_visitor *v)
{
    uint32_t windows = 0;
    uint32_t clocks = 0;
    uint32_t results = 0;
    size_t off = 0;

    while (off < len) {
        size_t left = len - off;
        const unsigned char *r = p + off;
        int rc = WR_OK;

        if (r[0] == REC_CLOCK) {
            uint16_t stream;
            int64_t ms;

            if (left < CLOCK_BYTES)
                return WR_E_CORRUPT;
            memcpy(&stream, r + 2, 2);
            memcpy(&ms, r + 4, 8);
            if (v != NULL && v->clock != NULL)
                rc = v->clock(v->ctx, stream, ms);
            off += CLOCK_BYTES;
            clocks++;
        } else if (r[0] == REC_WINDOW) {
            struct wr_window_state st;
            size_t key_len;

            if (left < WINDOW_FIXED)
                return WR_E_CORRUPT;
            uint32_t sk_len;

            key_len = r[16 + sizeof(st.agg)];
            if (key_len >= WR_KEY_MAX || left < WINDOW_FIXED + key_len + 4)
                return WR_E_CORRUPT;
            memcpy(&sk_len, r + WINDOW_FIXED + key_len, 4);
            if (sk_len > left - (WINDOW_FIXED + key_len + 4))
                return WR_E_CORRUPT;
            if (v != NULL && v->window != NULL) {
                memset(&st, 0, sizeof(st));
                st.closed = (r[1] & WIN_CLOSED) != 0;
                st.processing_time = (r[1] & WIN_PROCESSING) != 0;
                memcpy(&st.stream, r + 2, 2);
                memcpy(&st.revision, r + 4, 4);
                memcpy(&st.start_ms, r + 8, 8);
                memcpy(&st.agg, r + 16, sizeof(st.agg));
                /* The sketch pointer belonged to the process that wrote the snapshot. */
                st.agg.sketch = NULL;
                memcpy(st.key, r + WINDOW_FIXED, key_len);
                st.agg.sketch = NULL;
                /* A sketch that does not decode restores empty, as from a checkpoint. */
                if (sk_len > 0 && wr_sketch_deserialize(r + WINDOW_FIXED + key_len + 4, sk_len,
                                                        &st.agg.sketch) != WR_OK)
                    st.agg.sketch = NULL;
                rc = v->window(v->ctx, &st);
                wr_sketch_destroy(st.agg.sketch);
            }
            off += WINDOW_FIXED + key_len + 4 + sk_len;
            windows++;
        } else if (r[0] == REC_RESULT) {
            struct wr_result res;
            size_t key_len;

            if (left < RESULT_FIXED)
                return WR_E_CORRUPT;
            size_t nq;
            size_t sk_at;
            uint32_t sk_len;

            key_len = r[20 + sizeof(res.agg)];
            if (key_len >= WR_KEY_MAX || left < RESULT_FIXED + key_len + 1)
                return WR_E_CORRUPT;
            nq = r[RESULT_FIXED + key_len];
            sk_at = RESULT_FIXED + key_len + 1 + nq * 8 + 4;
            if (nq > WR_RESULT_MAX_QUANTILES || left < sk_at)
                return WR_E_CORRUPT;
            memcpy(&sk_len, r + sk_at - 4, 4);
            if (sk_len > wr_result_sketch_max() || sk_len > left - sk_at)
                return WR_E_CORRUPT;
            if (v != NULL && v->result != NULL) {
                memset(&res, 0, sizeof(res));
                memcpy(&res.stream, r + 2, 2);
                memcpy(&res.revision, r + 4, 4);
                memcpy(&res.start_ms, r + 8, 8);
                memcpy(&res.size_s, r + 16, 4);
                memcpy(&res.agg, r + 20, sizeof(res.agg));
                res.agg.sketch = NULL;
                memcpy(res.key, r + RESULT_FIXED, key_len);
                res.agg.sketch = NULL;
                res.n_quantiles = (uint8_t)nq;
                memcpy(res.quantiles, r + RESULT_FIXED + key_len + 1, nq * 8);
                /* A view into the mapping, valid for the call (the outbox copies it). */
                res.sketch = sk_len > 0 ? r + sk_at : NULL;
                res.sketch_len = sk_len;
                rc = v->result(v->ctx, &res);
            }
            off += sk_at + sk_len;
            results++;
        } else {
            return WR_E_CORRUPT;
        }
        if (rc != WR_OK)
            return rc;
    }
    if (windows != h->windows || clocks != h->clocks || results != h->results)
        return WR_E_CORRUPT;
    return WR_OK;
}

enum wr_snapshot_verdict wr_snapshot_check(const void *data, size_t len, const char *boot_id,
                                           uint64_t fingerprint, struct wr_snapshot_meta *meta)
{
    const unsigned char *p = data;
    struct header h;

    if (data == NULL || boot_id == NULL)
        return WR_SNAPSHOT_GARBAGE;
    if (len < sizeof(h))
        return len >= sizeof(h.magic) && memcmp(p, SNAPSHOT_MAGIC, sizeof(h.magic)) == 0
                   ? WR_SNAPSHOT_TRUNCATED
                   : WR_SNAPSHOT_GARBAGE;
    memcpy(&h, p, sizeof(h));
    if (memcmp(h.magic, SNAPSHOT_MAGIC, sizeof(h.magic)) != 0 || h.version != SNAPSHOT_VERSION ||
        h.header_bytes != WR_SNAPSHOT_HEADER_BYTES)
        return WR_SNAPSHOT_GARBAGE;
    if (h.header_crc != wr_crc32(0, &h, offsetof(struct header, header_crc)))
        return WR_SNAPSHOT_BAD_CHECKSUM;
    if (len < WR_SNAPSHOT_HEADER_BYTES || h.payload_bytes > len - WR_SNAPSHOT_HEADER_BYTES)
        return WR_SNAPSHOT_TRUNCATED;
    if (h.payload_bytes != len - WR_SNAPSHOT_HEADER_BYTES)
        return WR_SNAPSHOT_GARBAGE;
    if (h.payload_crc != wr_crc32(0, p + WR_SNAPSHOT_HEADER_BYTES, (size_t)h.payload_bytes))
        return WR_SNAPSHOT_BAD_CHECKSUM;
    if (walk(p + WR_SNAPSHOT_HEADER_BYTES, (size_t)h.payload_bytes, &h, NULL) != WR_OK)
        return WR_SNAPSHOT_BAD_RECORD;
    if (strncmp(h.boot_id, boot_id, sizeof(h.boot_id)) != 0)
        return WR_SNAPSHOT_OTHER_BOOT;
    if (h.fingerprint != fingerprint)
        return WR_SNAPSHOT_OTHER_CONFIG;
    if (meta != NULL) {
        memset(meta, 0, sizeof(*meta));
        memcpy(meta->boot_id, h.boot_id, sizeof(meta->boot_id));
        meta->boot_id[WR_SNAPSHOT_BOOT_ID_MAX - 1] = '\0';
        meta->fingerprint = h.fingerprint;
        meta->seq = h.seq;
        meta->journal_id = h.journal_id;
        meta->covered_seq = h.covered_seq;
        meta->wall_ms = h.wall_ms;
        meta->windows = h.windows;
        meta->clocks = h.clocks;
        meta->results = h.results;
    }
    return WR_SNAPSHOT_USABLE;
}

/* Map and check one file; on USABLE *map holds it. */
static enum wr_snapshot_verdict check_file(const char *dir, const char *name, const char *boot_id,
                                           uint64_t fingerprint, struct plat_mmap **map,
                                           struct wr_snapshot_meta *meta, bool *nomem)
{
    char path[WR_SNAPSHOT_PATH_MAX];
    enum wr_snapshot_verdict v;
    int rc;

    *map = NULL;
    if (path_join(path, dir, name) != WR_OK)
        return WR_SNAPSHOT_UNREADABLE;
    if (!plat_file_exists(path))
        return WR_SNAPSHOT_MISSING;
    rc = plat_mmap_open(path, 0, PLAT_MMAP_READONLY, map);
    if (rc == WR_E_INVAL)
        return WR_SNAPSHOT_TRUNCATED; /* an empty file */
    if (rc == WR_E_NOMEM)
        *nomem = true;
    if (rc != WR_OK)
        return rc == WR_E_NOTFOUND ? WR_SNAPSHOT_MISSING : WR_SNAPSHOT_UNREADABLE;
    v = wr_snapshot_check(plat_mmap_data(*map), plat_mmap_len(*map), boot_id, fingerprint, meta);
    if (v != WR_SNAPSHOT_USABLE) {
        plat_mmap_close(*map);
        *map = NULL;
    }
    return v;
}

int wr_snapshot_load(const char *dir, const char *boot_id, uint64_t fingerprint,
                     struct wr_snapshot **out, struct wr_snapshot_load_report *rep)
{
    struct wr_snapshot_load_report r;
    struct wr_snapshot_meta mm;
    struct wr_snapshot_meta tm;
    struct plat_mmap *main_map = NULL;
    struct plat_mmap *tmp_map = NULL;
    struct wr_snapshot *s;
    bool nomem = false;
    bool use_tmp;

    if (dir == NULL || boot_id == NULL || out == NULL || strlen(dir) >= WR_SNAPSHOT_PATH_MAX)
        return WR_E_INVAL;
    *out = NULL;
    memset(&r, 0, sizeof(r));
    r.main_file =
        check_file(dir, WR_SNAPSHOT_FILE_NAME, boot_id, fingerprint, &main_map, &mm, &nomem);
    r.tmp_file = check_file(dir, WR_SNAPSHOT_TMP_NAME, boot_id, fingerprint, &tmp_map, &tm, &nomem);
    if (rep != NULL)
        *rep = r;
    if (nomem) {
        plat_mmap_close(main_map);
        plat_mmap_close(tmp_map);
        return WR_E_NOMEM;
    }
    if (main_map == NULL && tmp_map == NULL)
        return WR_OK;
    /* A complete temporary file is one the crash kept from being renamed: it is newer. */
    use_tmp = tmp_map != NULL && (main_map == NULL || tm.seq > mm.seq);
    s = plat_calloc(1, sizeof(*s));
    if (s == NULL) {
        plat_mmap_close(main_map);
        plat_mmap_close(tmp_map);
        return WR_E_NOMEM;
    }
    s->map = use_tmp ? tmp_map : main_map;
    s->meta = use_tmp ? tm : mm;
    plat_mmap_close(use_tmp ? main_map : tmp_map);
    r.chosen = use_tmp ? WR_SNAPSHOT_TMP_NAME : WR_SNAPSHOT_FILE_NAME;
    if (rep != NULL)
        *rep = r;
    *out = s;
    return WR_OK;
}

const struct wr_snapshot_meta *wr_snapshot_meta_of(const struct wr_snapshot *s)
{
    return s != NULL ? &s->meta : NULL;
}

int wr_snapshot_visit(const struct wr_snapshot *s, const struct wr_snapshot_visitor *v)
{
    const unsigned char *p;
    struct header h;

    if (s == NULL || v == NULL)
        return WR_E_INVAL;
    p = plat_mmap_data(s->map);
    memcpy(&h, p, sizeof(h));
    return walk(p + WR_SNAPSHOT_HEADER_BYTES, (size_t)h.payload_bytes, &h, v);
}

void wr_snapshot_free(struct wr_snapshot *s)
{
    if (s == NULL)
        return;
    plat_mmap_close(s->map);
    plat_free(s);
}

int wr_snapshot_remove(const char *dir)
{
    char path[WR_SNAPSHOT_PATH_MAX];
    int rc;

    if (dir == NULL)
        return WR_E_INVAL;
    rc = path_join(path, dir, WR_SNAPSHOT_FILE_NAME);
    if (rc == WR_OK)
        rc = plat_mmap_remove(path);
    if (rc == WR_OK)
        rc = path_join(path, dir, WR_SNAPSHOT_TMP_NAME);
    if (rc == WR_OK)
        rc = plat_mmap_remove(path);
    return rc;
}
