#ifndef WR_JOURNAL_H
#define WR_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

/*
 * The crash journal: every event ingest admits is appended here as it is
 * queued for the window engine, into a ring in a memory-mapped file in
 * RAM-backed storage (the runtime dir, /run/windrow). A store into the
 * mapping is in the file as soon as it completes, so the journal outlives a
 * crash of the process (SIGKILL, OOM kill, abort) but not a reboot, costs no
 * system call per event and never touches flash.
 *
 * Records. The ring is made of WR_JOURNAL_SLOT_BYTES slots after a header
 * slot pair; a record takes one slot (keys up to WR_JOURNAL_KEY_IN_ONE_SLOT
 * bytes) or two. Each record carries a sequence number — records are
 * numbered 1, 2, 3, ... in the order they are appended, which is the order
 * they are queued — and a CRC-32 of its bytes, so a record torn by a crash in
 * the middle of its write, or a slot half overwritten, is recognised and
 * skipped. docs/storage.md gives the byte layout.
 *
 * Replay. The pipeline knows how many events it has folded (its consumption
 * position, in sequence numbers) and a window snapshot records the position
 * it covers. After a crash the newest snapshot plus the records after its
 * position give back the state at the moment of the crash. Records at or
 * below the covered position are dead and may be overwritten; overwriting
 * a live record (the ring is too small for the snapshot interval, or the
 * window engine is far behind) is an overrun, counted, and shows up at the
 * next replay as a gap of lost events.
 *
 * Header. Magic, version, geometry, the boot id it was written in, a
 * fingerprint of the config and build it belongs to, and a random journal id
 * that a snapshot names so that it is never combined with another journal.
 * A file whose header does not match this boot, fingerprint and geometry is
 * discarded at open and a new journal begins (the report says why).
 *
 * Threads. wr_journal_append, wr_journal_retract_last: one producer thread
 * (Paho's callback thread). wr_journal_last_seq, wr_journal_set_covered,
 * wr_journal_overruns: any thread (atomics). Everything else before the
 * producer starts or after it stopped.
 */

struct wr_journal;

#define WR_JOURNAL_FILE_NAME "journal"
#define WR_JOURNAL_SLOT_BYTES 64u
#define WR_JOURNAL_HEADER_BYTES 128u
#define WR_JOURNAL_MIN_SLOTS 64u
/* Bytes of a record before its key; a key of up to 30 bytes fits one slot. */
#define WR_JOURNAL_RECORD_FIXED_BYTES 34u
#define WR_JOURNAL_KEY_IN_ONE_SLOT (WR_JOURNAL_SLOT_BYTES - WR_JOURNAL_RECORD_FIXED_BYTES)
#define WR_JOURNAL_BOOT_ID_MAX 40u

struct wr_journal_params {
    const char *path;      /* the ring file; created if missing */
    size_t capacity_bytes; /* ring size; rounded down to whole slots; >= 64 slots */
    const char *boot_id;   /* this boot's id, < WR_JOURNAL_BOOT_ID_MAX bytes */
    uint64_t fingerprint;  /* config and build identity */
    uint64_t new_id;       /* journal id to use if a new journal begins; != 0 */
};

enum wr_journal_found {
    WR_JOURNAL_FRESH = 0, /* no file (or an empty one): a new journal */
    WR_JOURNAL_REOPENED,  /* a journal of this boot, fingerprint and size: kept */
    WR_JOURNAL_DISCARDED, /* a file was there but is not usable: reason says why */
};

struct wr_journal_open_report {
    enum wr_journal_found found;
    const char *reason; /* static text for WR_JOURNAL_DISCARDED, else "" */
    uint64_t id;        /* the journal id now in the header */
    uint64_t last_seq;  /* highest sequence number of an intact record (0 = none) */
    size_t records;     /* intact records in the ring */
};

/**
 * Open (or create) the journal at params->path, size it, and check what is
 * there. A discarded file is reinitialised at once (zeroed, new header).
 * Appending is only possible after wr_journal_start. rep may be NULL.
 * Returns WR_OK, WR_E_INVAL (NULL or empty path, boot id too long, fewer
 * than WR_JOURNAL_MIN_SLOTS slots, new_id 0), WR_E_NOMEM, or the file errors
 * of plat_mmap_open (WR_E_DENIED, WR_E_NOSPC, WR_E_NOTFOUND, WR_E_IO).
 */
int wr_journal_open(const struct wr_journal_params *params, struct wr_journal **out,
                    struct wr_journal_open_report *rep);

/** Unmap; the file stays (it is the crash state). NULL does nothing. */
void wr_journal_close(struct wr_journal *j);

/** The journal id in the header. 0 for NULL. */
uint64_t wr_journal_id(const struct wr_journal *j);

/** Ring size in slots. 0 for NULL. */
size_t wr_journal_slots(const struct wr_journal *j);

/** Called once per replayed event, in sequence order; borrowed for the call. Non-WR_OK stops. */
typedef int (*wr_journal_event_fn)(void *ctx, const struct wr_event *ev, uint64_t seq);

struct wr_journal_replay_report {
    uint64_t replayed; /* events delivered */
    uint64_t lost;     /* sequence numbers after after_seq missing from the ring */
    uint64_t last_seq; /* highest delivered, or after_seq if none */
};

/**
 * Deliver every intact record with a sequence number above after_seq, in
 * order. Missing numbers (overwritten by an overrun, torn, corrupt) are
 * counted in rep->lost; the records around them are still delivered. Events
 * come back with arrival_mono_ms 0 (it is not journaled). rep may be NULL.
 * Returns WR_OK, WR_E_INVAL (NULL j or fn), or what fn returned.
 */
int wr_journal_replay(struct wr_journal *j, uint64_t after_seq, wr_journal_event_fn fn, void *ctx,
                      struct wr_journal_replay_report *rep);

/**
 * Begin appending: the next record gets sequence number last_seq + 1 (pass
 * the highest number already used: the replayed one or a snapshot's covered
 * position, whichever is higher), written after the newest record in the
 * ring. Records at or below covered_seq count as dead. Returns WR_OK or
 * WR_E_INVAL (NULL, or last_seq below a record already in the ring).
 */
int wr_journal_start(struct wr_journal *j, uint64_t last_seq, uint64_t covered_seq);

/**
 * Append n events (sequence numbers last + 1 .. last + n). No system call, no
 * allocation. Returns WR_OK, WR_E_INVAL (NULL, not started, an event whose
 * key is not NUL-terminated within WR_KEY_MAX: nothing is appended) or
 * WR_E_STATE (not started). Borrows evs. Producer thread only.
 */
int wr_journal_append(struct wr_journal *j, const struct wr_event *evs, size_t n);

/**
 * Undo the last wr_journal_append (its events were not queued after all):
 * its records are invalidated and their numbers are given out again.
 * Only one level of undo. Producer thread only.
 */
void wr_journal_retract_last(struct wr_journal *j);

/** Highest sequence number appended so far (0 before any). Any thread. */
uint64_t wr_journal_last_seq(const struct wr_journal *j);

/** Records up to seq are covered by a snapshot: they may be overwritten. Any thread. */
void wr_journal_set_covered(struct wr_journal *j, uint64_t seq);

/** The covered position last set. Any thread. */
uint64_t wr_journal_covered(const struct wr_journal *j);

/** Live (uncovered) records overwritten so far. Any thread. */
uint64_t wr_journal_overruns(const struct wr_journal *j);

#endif /* WR_JOURNAL_H */
