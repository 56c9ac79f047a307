/*
 * Crash safety in RAM-backed storage: the event journal that ingest appends
 * to, the window snapshots the pipeline thread writes, and, at start, the
 * choice between them and the SQLite checkpoint (docs/storage.md, "Crash
 * safety").
 *
 * Invariant. Ingest appends a batch to the journal right after pushing it to
 * the queue, on one thread, so the k-th event the pipeline pops is the
 * journal record with sequence number base + k (its append may lag the fold
 * by a moment; a snapshot then covers a number the journal reaches later). The pipeline counts what
 * it folds (crash.consumed_seq); a snapshot taken between folds covers exactly the records up to
 * that count. After a crash, the snapshot plus the records above its count are the state at the
 * moment of the crash, with nothing folded twice.
 */
#include "pipeline_internal.h"

#include <stdio.h>
#include <string.h>

#include "plat_file.h"
#include "plat_log.h"
#include "plat_mmap.h"
#include "plat_mem.h"
#include "plat_time.h"
#include "snapshot.h"
#include "wr_error.h"

#define MOD "crash"
/* Bytes a snapshot record takes at most, for the first size of the file. */
#define SNAPSHOT_RECORD_BYTES (32u + sizeof(struct wr_agg) + WR_KEY_MAX)

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

/*
 * RAM state is only combined with the config and build that wrote it: the
 * effective config as text (stream order, windows, aggregates, keys) and
 * the build's version and layouts.
 */
static uint64_t fingerprint(const struct wr_config *cfg)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    char *text = wr_config_to_json(cfg);
    size_t sizes[3] = {sizeof(struct wr_event), sizeof(struct wr_agg), sizeof(struct wr_result)};

    h = fnv1a(h, WINDROW_VERSION, sizeof(WINDROW_VERSION));
    h = fnv1a(h, sizes, sizeof(sizes));
    if (text != NULL)
        h = fnv1a(h, text, strlen(text));
    plat_free(text);
    return h;
}

static int journal_path(const struct wr_pipeline *p, char *out, size_t len)
{
    int n = snprintf(out, len, "%s/%s", p->cfg->storage.runtime_dir, WR_JOURNAL_FILE_NAME);

    return n > 0 && (size_t)n < len ? WR_OK : WR_E_INVAL;
}

static int open_journal(struct wr_pipeline *p, struct wr_journal_open_report *rep)
{
    struct wr_journal_params jp;
    char path[WR_SNAPSHOT_PATH_MAX];
    uint64_t id = (uint64_t)plat_time_wall_ms() * UINT64_C(1000003) ^ plat_time_mono_ms() << 20 ^
                  (uint64_t)(uintptr_t)p;
    int rc = journal_path(p, path, sizeof(path));

    if (rc != WR_OK)
        return rc;
    jp.path = path;
    jp.capacity_bytes = p->cfg->storage.journal_bytes;
    jp.boot_id = p->crash.boot_id;
    jp.fingerprint = p->crash.fingerprint;
    jp.new_id = id != 0 ? id : 1;
    return wr_journal_open(&jp, &p->crash.journal, rep);
}

/* Start over: no old record may ever be combined with a later snapshot. */
static int fresh_journal(struct wr_pipeline *p)
{
    char path[WR_SNAPSHOT_PATH_MAX];

    wr_journal_close(p->crash.journal);
    p->crash.journal = NULL;
    if (journal_path(p, path, sizeof(path)) == WR_OK)
        plat_mmap_remove(path);
    wr_snapshot_remove(p->cfg->storage.runtime_dir);
    return open_journal(p, NULL);
}

/* ---- restore ------------------------------------------------------------------------------- */

static int snap_window(void *ctx, const struct wr_window_state *st)
{
    struct wr_pipeline *p = ctx;
    int rc = wr_window_restore(p->window, st);

    if (rc != WR_OK)
        PLAT_WARN(MOD, "cannot restore a window of stream %u from the snapshot: %s", st->stream,
                  wr_strerror(rc));
    return WR_OK;
}

static int snap_clock(void *ctx, uint16_t stream, int64_t max_event_ms)
{
    struct wr_pipeline *p = ctx;
    struct wr_now now = wr_pipeline__now(p);

    if (max_event_ms == INT64_MIN)
        return WR_OK;
    return wr_window_set_stream_clock(p->window, stream, max_event_ms, &now);
}

static int snap_result(void *ctx, const struct wr_result *r)
{
    struct wr_pipeline *p = ctx;

    /* Unacknowledged and not persisted when the snapshot was taken: waiting again. */
    return wr_outbox_append(p->outbox, r, 1);
}

struct replay_ctx {
    struct wr_pipeline *p;
    size_t n;
};

static void replay_flush(struct replay_ctx *rc)
{
    struct wr_now now = wr_pipeline__now(rc->p);

    for (size_t i = 0; i < rc->n; i++)
        rc->p->popped[i].arrival_mono_ms = now.mono_ms;
    wr_pipeline__fold(rc->p, rc->p->popped, rc->n, &now);
    rc->n = 0;
}

static int replay_event(void *ctx, const struct wr_event *ev, uint64_t seq)
{
    struct replay_ctx *rc = ctx;

    (void)seq;
    rc->p->popped[rc->n++] = *ev;
    if (rc->n == EVENTS_PER_POP)
        replay_flush(rc);
    return WR_OK;
}

static int count_event(void *ctx, const struct wr_event *ev, uint64_t seq)
{
    (void)ctx;
    (void)ev;
    (void)seq;
    return WR_OK;
}

static void ignored(struct wr_pipeline *p, const char *what, const char *why)
{
    PLAT_ERROR(MOD, "crash state in %s ignored: %s %s; restoring from the SQLite checkpoint",
               p->cfg->storage.runtime_dir, what, why);
    wr_metrics_add(p->metrics, WR_C_CRASH_STATE_IGNORED, 1);
}

/*
 * Use the snapshot and the journal when both belong to this boot, config
 * and build, name each other, and the journal holds every record after the
 * snapshot. Returns true when the window state came from them.
 */
static bool restore_from_ram(struct wr_pipeline *p, const struct wr_journal_open_report *jrep,
                             uint64_t *base, uint64_t *covered)
{
    struct wr_snapshot_load_report srep;
    struct wr_journal_replay_report rrep;
    struct wr_snapshot *snap = NULL;
    const struct wr_snapshot_meta *m;
    struct wr_snapshot_visitor v = {snap_window, snap_clock, snap_result, p};
    struct replay_ctx rc = {p, 0};
    char why[160];
    int err;

    err = wr_snapshot_load(p->cfg->storage.runtime_dir, p->crash.boot_id, p->crash.fingerprint,
                           &snap, &srep);
    if (err != WR_OK) {
        ignored(p, "snapshot", wr_strerror(err));
        return false;
    }
    if (srep.main_file != WR_SNAPSHOT_USABLE && srep.main_file != WR_SNAPSHOT_MISSING)
        ignored(p, "snapshot", wr_snapshot_verdict_text(srep.main_file));
    if (srep.tmp_file != WR_SNAPSHOT_USABLE && srep.tmp_file != WR_SNAPSHOT_MISSING)
        PLAT_INFO(MOD, "an unfinished snapshot was left by the crash (%s); not used",
                  wr_snapshot_verdict_text(srep.tmp_file));
    if (jrep->found == WR_JOURNAL_DISCARDED)
        ignored(p, "journal", jrep->reason);
    if (snap == NULL) {
        if (jrep->found == WR_JOURNAL_REOPENED && jrep->records > 0)
            ignored(p, "journal", "has no usable snapshot to start from");
        return false;
    }
    m = wr_snapshot_meta_of(snap);
    if (jrep->found != WR_JOURNAL_REOPENED || m->journal_id != wr_journal_id(p->crash.journal)) {
        if (jrep->found == WR_JOURNAL_REOPENED)
            ignored(p, "snapshot", "belongs to another journal");
        else if (jrep->found == WR_JOURNAL_FRESH)
            ignored(p, "snapshot", "has no journal (it is missing)");
        wr_snapshot_free(snap);
        return false;
    }
    /* A dry pass first: a gap means events are missing, and SQLite may still have them. */
    wr_journal_replay(p->crash.journal, m->covered_seq, count_event, NULL, &rrep);
    if (rrep.lost > 0) {
        snprintf(why, sizeof(why), "misses %llu event(s) after the snapshot (overrun or damage)",
                 (unsigned long long)rrep.lost);
        ignored(p, "journal", why);
        wr_snapshot_free(snap);
        return false;
    }
    wr_snapshot_visit(snap, &v);
    wr_journal_replay(p->crash.journal, m->covered_seq, replay_event, &rc, &rrep);
    if (rc.n > 0)
        replay_flush(&rc);
    wr_metrics_add(p->metrics, WR_C_JOURNAL_REPLAYED, rrep.replayed);
    *covered = m->covered_seq;
    *base = rrep.last_seq > m->covered_seq ? rrep.last_seq : m->covered_seq;
    if (jrep->last_seq > *base)
        *base = jrep->last_seq;
    p->crash.snapshot_seq = m->seq;
    PLAT_WARN(MOD,
              "restored after a crash from RAM: snapshot %llu (%u windows, %u results, %lld ms "
              "old) and %llu journaled event(s) replayed",
              (unsigned long long)m->seq, m->windows, m->results,
              (long long)(plat_time_wall_ms() - m->wall_ms), (unsigned long long)rrep.replayed);
    wr_snapshot_free(snap);
    return true;
}

bool wr_pipeline__crash_restore(struct wr_pipeline *p)
{
    const char *dir = p->cfg->storage.runtime_dir;
    struct wr_journal_open_report jrep;
    uint64_t base = 0;
    uint64_t covered = 0;
    bool used = false;
    int rc;

    p->crash.restored_from_ram = false;
    if (dir[0] == '\0') {
        PLAT_WARN(MOD, "storage.runtime_dir is empty: no crash journal; a process crash loses up "
                       "to one checkpoint interval of events");
        return false;
    }
    rc = plat_boot_id(p->crash.boot_id, sizeof(p->crash.boot_id));
    if (rc == WR_OK)
        rc = plat_file_mkdir_p(dir, 0750);
    if (rc == WR_OK) {
        p->crash.fingerprint = fingerprint(p->cfg);
        rc = open_journal(p, &jrep);
    }
    if (rc != WR_OK) {
        PLAT_ERROR(MOD,
                   "crash journal in %s unusable (%s): a process crash loses up to one "
                   "checkpoint interval of events",
                   dir, wr_strerror(rc));
        wr_journal_close(p->crash.journal);
        p->crash.journal = NULL;
        return false;
    }
    used = restore_from_ram(p, &jrep, &base, &covered);
    if (!used) {
        base = 0;
        covered = 0;
        rc = fresh_journal(p);
        if (rc != WR_OK) {
            PLAT_ERROR(MOD, "cannot start a crash journal in %s (%s)", dir, wr_strerror(rc));
            return false;
        }
    }
    /* The replayed records stay live until the first snapshot (taken right after restore). */
    wr_journal_start(p->crash.journal, base, covered);
    p->crash.consumed_seq = base;
    p->crash.restored_from_ram = used;
    wr_metrics_set(p->metrics, WR_G_RESTORE_SOURCE, used ? 1 : 0);
    return used;
}

/* ---- snapshots ----------------------------------------------------------------------------- */

static int put_result(void *ctx, const struct wr_result *r)
{
    return wr_snapshot_put_result(ctx, r);
}

static void write_snapshot(struct wr_pipeline *p, bool emit)
{
    static struct plat_log_limiter lim;
    struct wr_snapshot_writer *w = NULL;
    struct wr_snapshot_meta meta;
    struct wr_window_stats ws;
    uint64_t rows = 0;
    uint64_t bytes = 0;
    struct wr_now now;
    size_t hint;
    int rc;

    if (p->crash.journal == NULL)
        return;
    now = wr_pipeline__now(p);
    p->crash.next_snapshot_mono_ms = now.mono_ms + p->cfg->storage.snapshot_interval_ms;
    /* A pending revision is not part of a window's state: it must reach the outbox first. */
    if (emit)
        wr_pipeline__emit_due(p, &now);
    wr_window_get_stats(p->window, &ws);
    wr_outbox_stats(p->outbox, &rows, &bytes);
    hint = WR_SNAPSHOT_HEADER_BYTES +
           (ws.windows_open + ws.windows_retained) * SNAPSHOT_RECORD_BYTES +
           p->cfg->n_streams * 16u;
    rc = wr_snapshot_begin(p->cfg->storage.runtime_dir, hint, &w);
    if (rc == WR_OK)
        rc = wr_window_visit_all(p->window, wr_snapshot_put_window, w);
    for (uint16_t s = 0; rc == WR_OK && s < p->cfg->n_streams; s++) {
        int64_t clock_ms = INT64_MIN;

        wr_window_stream_clock(p->window, s, &clock_ms);
        rc = wr_snapshot_put_clock(w, s, clock_ms);
    }
    if (rc == WR_OK)
        rc = wr_outbox_visit_memory(p->outbox, put_result, w);
    if (rc != WR_OK) {
        wr_snapshot_abort(w);
        w = NULL;
    }
    if (w != NULL) {
        memset(&meta, 0, sizeof(meta));
        memcpy(meta.boot_id, p->crash.boot_id, sizeof(p->crash.boot_id));
        meta.fingerprint = p->crash.fingerprint;
        meta.seq = p->crash.snapshot_seq + 1;
        meta.journal_id = wr_journal_id(p->crash.journal);
        meta.covered_seq = p->crash.consumed_seq;
        meta.wall_ms = now.wall_ms;
        rc = wr_snapshot_commit(w, &meta);
    }
    if (rc != WR_OK) {
        /* The previous snapshot stays valid and the journal keeps what it does not cover. */
        wr_metrics_add(p->metrics, WR_C_SNAPSHOT_FAILURES, 1);
        plat_log_limited(&lim, 30000, PLAT_LOG_ERROR, MOD,
                         "cannot write a window snapshot in %s: %s (crash protection degrades "
                         "once the journal wraps)",
                         p->cfg->storage.runtime_dir, wr_strerror(rc));
        return;
    }
    p->crash.snapshot_seq = meta.seq;
    wr_journal_set_covered(p->crash.journal, meta.covered_seq);
    wr_metrics_add(p->metrics, WR_C_SNAPSHOTS, 1);
}

void wr_pipeline__crash_snapshot(struct wr_pipeline *p)
{
    write_snapshot(p, true);
}

static int count_result(void *ctx, const struct wr_result *r)
{
    size_t *n = ctx;

    (void)r;
    (*n)++;
    return WR_OK;
}

void wr_pipeline__crash_shutdown(struct wr_pipeline *p, bool checkpointed)
{
    char path[WR_SNAPSHOT_PATH_MAX];
    size_t memory_only = 0;

    if (p->crash.journal == NULL)
        return;
    wr_outbox_visit_memory(p->outbox, count_result, &memory_only);
    if (!checkpointed || memory_only > 0) {
        /* SQLite does not hold everything: the RAM state does, for a restart in this boot.
         * Nothing is emitted here: the flush to upstream is over. */
        write_snapshot(p, false);
        PLAT_WARN(MOD,
                  "stopping with state SQLite does not hold (%s); kept in %s for a restart "
                  "before the next reboot",
                  checkpointed ? "results kept in memory" : "the last checkpoint failed",
                  p->cfg->storage.runtime_dir);
        return;
    }
    /* The final checkpoint holds everything: SQLite is the state to restart from. */
    wr_journal_close(p->crash.journal);
    p->crash.journal = NULL;
    wr_snapshot_remove(p->cfg->storage.runtime_dir);
    if (journal_path(p, path, sizeof(path)) == WR_OK)
        plat_mmap_remove(path);
}

bool wr_pipeline__crash_snapshot_due(struct wr_pipeline *p, uint64_t now_mono_ms)
{
    uint64_t uncovered;
    uint64_t overruns;

    if (p->crash.journal == NULL)
        return false;
    overruns = wr_journal_overruns(p->crash.journal);
    if (overruns != p->crash.overruns_seen) {
        wr_metrics_add(p->metrics, WR_C_JOURNAL_OVERRUNS, overruns - p->crash.overruns_seen);
        p->crash.overruns_seen = overruns;
    }
    if (now_mono_ms >= p->crash.next_snapshot_mono_ms)
        return true;
    /* A quarter of the ring uncovered (half of it for two-slot keys): snapshot early. */
    uncovered = wr_journal_last_seq(p->crash.journal) - wr_journal_covered(p->crash.journal);
    return uncovered >= wr_journal_slots(p->crash.journal) / 4;
}

void wr_pipeline__journal_append(struct wr_pipeline *p, size_t n)
{
    if (p->crash.journal != NULL)
        wr_journal_append(p->crash.journal, p->scratch, n);
}

uint64_t wr_pipeline__crash_next_due(const struct wr_pipeline *p)
{
    return p->crash.journal != NULL ? p->crash.next_snapshot_mono_ms : UINT64_MAX;
}

void wr_pipeline__crash_close(struct wr_pipeline *p)
{
    wr_journal_close(p->crash.journal);
    p->crash.journal = NULL;
}
