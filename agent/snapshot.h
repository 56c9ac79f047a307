#ifndef WR_SNAPSHOT_H
#define WR_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"
#include "window.h"

/*
 * Window snapshots for crash recovery: the whole window engine state (every
 * open and revisable window, every stream clock) plus the results that wait
 * only in memory for upstream, written often (every second by default) into
 * RAM-backed storage (the runtime dir, /run/windrow). A snapshot is written
 * as "snapshot.tmp" and renamed over "snapshot", so a crash in the middle
 * leaves the previous one; no fsync: on tmpfs there is nothing to sync, and
 * the protection must not cost flash writes.
 *
 * Each snapshot says which boot wrote it, the fingerprint of the config and
 * build, its own rising number, and the crash journal (id and sequence
 * number) it covers; a CRC-32 guards the header and one the records. At
 * start wr_snapshot_load takes the newest snapshot that is intact and
 * belongs to this boot and fingerprint, and reports why any other file was
 * not usable. docs/storage.md gives the byte layout.
 *
 * Not thread-safe: the pipeline thread writes and loads.
 */

#define WR_SNAPSHOT_FILE_NAME "snapshot"
#define WR_SNAPSHOT_TMP_NAME "snapshot.tmp"
#define WR_SNAPSHOT_BOOT_ID_MAX 40u
#define WR_SNAPSHOT_HEADER_BYTES 128u
#define WR_SNAPSHOT_PATH_MAX 512u

struct wr_snapshot_meta {
    char boot_id[WR_SNAPSHOT_BOOT_ID_MAX];
    uint64_t fingerprint; /* config and build identity */
    uint64_t seq;         /* rises with every snapshot */
    uint64_t journal_id;  /* the journal whose records it covers */
    uint64_t covered_seq; /* journal records up to here are folded in */
    int64_t wall_ms;      /* when it was written (for the log) */
    uint32_t windows;     /* counts, filled in by the writer and the loader */
    uint32_t clocks;
    uint32_t results;
};

/* ---- writing ------------------------------------------------------------------------------- */

struct wr_snapshot_writer;

/**
 * Start a snapshot in dir (WR_SNAPSHOT_TMP_NAME). size_hint_bytes is a first
 * size for the file (it grows as needed and is cut to size at commit).
 * Returns WR_OK, WR_E_INVAL (NULL, path too long), WR_E_NOMEM, or a file
 * error (WR_E_NOTFOUND, WR_E_DENIED, WR_E_NOSPC, WR_E_IO).
 */
int wr_snapshot_begin(const char *dir, size_t size_hint_bytes, struct wr_snapshot_writer **out);

/**
 * Add one window; the signature is wr_window_visit_fn's (ctx = the writer).
 * Returns WR_OK, WR_E_INVAL (NULL, key without NUL) or WR_E_NOSPC/WR_E_IO
 * (the file could not grow; abort the snapshot).
 */
int wr_snapshot_put_window(void *writer, const struct wr_window_state *state);

/** Add a stream clock (highest event time; INT64_MIN = none). Errors as put_window. */
int wr_snapshot_put_clock(struct wr_snapshot_writer *w, uint16_t stream, int64_t max_event_ms);

/** Add one result that waits only in memory (ctx = the writer). Errors as put_window. */
int wr_snapshot_put_result(void *writer, const struct wr_result *result);

/**
 * Seal the snapshot with meta (its counts are filled in by the writer),
 * cut the file to size and rename it over WR_SNAPSHOT_FILE_NAME. Frees w
 * whatever the outcome. Returns WR_OK, WR_E_INVAL (NULL, boot id too long)
 * or a file error (the temporary file is removed; the previous snapshot
 * stays).
 */
int wr_snapshot_commit(struct wr_snapshot_writer *w, const struct wr_snapshot_meta *meta);

/** Drop an unfinished snapshot and its temporary file. NULL does nothing. */
void wr_snapshot_abort(struct wr_snapshot_writer *w);

/* ---- reading ------------------------------------------------------------------------------- */

enum wr_snapshot_verdict {
    WR_SNAPSHOT_USABLE = 0,
    WR_SNAPSHOT_MISSING,      /* no such file */
    WR_SNAPSHOT_UNREADABLE,   /* it exists but cannot be opened or mapped */
    WR_SNAPSHOT_TRUNCATED,    /* shorter than its header says */
    WR_SNAPSHOT_GARBAGE,      /* not a snapshot (magic, version, sizes) */
    WR_SNAPSHOT_BAD_CHECKSUM, /* header or records do not match their CRC */
    WR_SNAPSHOT_BAD_RECORD,   /* checksums match but a record does not parse */
    WR_SNAPSHOT_OTHER_BOOT,   /* written during another boot */
    WR_SNAPSHOT_OTHER_CONFIG, /* written for another config or build */
};

/** Text for the log ("written during another boot", ...). Never NULL. */
const char *wr_snapshot_verdict_text(enum wr_snapshot_verdict v);

/**
 * Check an encoded snapshot (len bytes at data) against this boot and
 * fingerprint. On WR_SNAPSHOT_USABLE, meta (may be NULL) holds its header
 * and counts. Pure.
 */
enum wr_snapshot_verdict wr_snapshot_check(const void *data, size_t len, const char *boot_id,
                                           uint64_t fingerprint, struct wr_snapshot_meta *meta);

struct wr_snapshot;

struct wr_snapshot_load_report {
    enum wr_snapshot_verdict main_file; /* WR_SNAPSHOT_FILE_NAME */
    enum wr_snapshot_verdict tmp_file;  /* WR_SNAPSHOT_TMP_NAME (complete but not yet renamed) */
    const char *chosen;                 /* file name used, or NULL */
};

/**
 * Load the newest usable snapshot in dir (of the main and the temporary
 * file, the usable one with the higher seq). *out is NULL when neither is
 * usable; rep (may be NULL) says why for each. Returns WR_OK, WR_E_INVAL
 * (NULL dir or out, path too long) or WR_E_NOMEM.
 */
int wr_snapshot_load(const char *dir, const char *boot_id, uint64_t fingerprint,
                     struct wr_snapshot **out, struct wr_snapshot_load_report *rep);

/** The loaded snapshot's header and counts. */
const struct wr_snapshot_meta *wr_snapshot_meta_of(const struct wr_snapshot *s);

typedef int (*wr_snapshot_clock_fn)(void *ctx, uint16_t stream, int64_t max_event_ms);
typedef int (*wr_snapshot_result_fn)(void *ctx, const struct wr_result *result);

struct wr_snapshot_visitor {
    wr_window_visit_fn window; /* each may be NULL: skipped */
    wr_snapshot_clock_fn clock;
    wr_snapshot_result_fn result;
    void *ctx;
};

/**
 * Visit every record in the order written; what a callback gets (a result's
 * sketch bytes included) is borrowed for the call. A callback returning non-WR_OK
 * stops the walk and its code is returned. Returns WR_OK or WR_E_INVAL.
 */
int wr_snapshot_visit(const struct wr_snapshot *s, const struct wr_snapshot_visitor *v);

/** Free a loaded snapshot; NULL does nothing. */
void wr_snapshot_free(struct wr_snapshot *s);

/** Remove both snapshot files from dir (missing ones are fine). Returns WR_OK or a file error. */
int wr_snapshot_remove(const char *dir);

#endif /* WR_SNAPSHOT_H */
