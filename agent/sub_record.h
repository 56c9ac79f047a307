#ifndef WR_SUB_RECORD_H
#define WR_SUB_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "wr_config.h"

/*
 * The record of the topic filters Windrow has subscribed in its persistent
 * session on a local broker, kept in the state directory so that a filter
 * removed from the config can be unsubscribed even when the change happened
 * while the agent was stopped (a persistent session keeps every
 * subscription, and the broker keeps queueing for it, until it is
 * unsubscribed by name). One file per session identity: broker URI and
 * client id, the two things that name a session.
 *
 * The record is kept a superset of what the session may hold: filters are
 * added to it before they are subscribed and leave it only after the broker
 * confirmed their unsubscription (agent/ingest.c does both).
 *
 * The text format (docs/decisions.md says why a text file):
 *
 *     windrow-subscriptions 1
 *     uri tcp://127.0.0.1:1883
 *     client_id windrow-gw-0001
 *     filter sensors/+/temperature
 *     filter plant%20hall/#
 *     end 2 <SHA-256 hex of every byte before this line>
 *
 * Values are escaped: bytes up to 0x20, 0x7f and '%' are written as %XX, so
 * every value is one word on its line.
 *
 * Pure functions except _load and _save; nothing here is thread-safe for a
 * shared record, distinct records may be used from distinct threads.
 */

#define WR_SUB_RECORD_FORMAT "windrow-subscriptions 1"
#define WR_SUB_RECORD_MAX_FILTERS 1024u
#define WR_SUB_RECORD_MAX_BYTES (1024u * 1024u)
#define WR_SUB_RECORD_PATH_MAX (WR_CFG_STR_MAX + 64u)

struct wr_sub_record {
    char uri[WR_CFG_STR_MAX];
    char client_id[WR_CFG_STR_MAX];
    char **filters; /* n_filters distinct filters, plat_malloc'd, in the order added */
    size_t n_filters;
    size_t cap;
};

/**
 * Start an empty record for the session uri + client_id (copied; each
 * shorter than WR_CFG_STR_MAX). Returns WR_OK or WR_E_INVAL.
 */
int wr_sub_record_init(struct wr_sub_record *rec, const char *uri, const char *client_id);

/**
 * Add filter (copied) unless the record has it already. Returns WR_OK,
 * WR_E_INVAL (NULL, not a valid MQTT topic filter, or WR_CFG_STR_MAX bytes
 * or longer), WR_E_FULL (WR_SUB_RECORD_MAX_FILTERS reached) or WR_E_NOMEM.
 */
int wr_sub_record_add(struct wr_sub_record *rec, const char *filter);

/** True if the record holds filter (byte for byte: MQTT names subscriptions exactly). */
bool wr_sub_record_has(const struct wr_sub_record *rec, const char *filter);

/** True if both hold the same filters, in any order. */
bool wr_sub_record_same_filters(const struct wr_sub_record *a, const struct wr_sub_record *b);

/** Free the filters and empty the record (identity kept). NULL does nothing. */
void wr_sub_record_clear(struct wr_sub_record *rec);

/**
 * Write rec in the format above into a plat_malloc'd, NUL-terminated buffer
 * (*text, *len without the NUL; the caller frees with plat_free). Returns
 * WR_OK, WR_E_INVAL or WR_E_NOMEM.
 */
int wr_sub_record_format(const struct wr_sub_record *rec, char **text, size_t *len);

/**
 * Parse len bytes of text (need not be NUL-terminated) into out, which is
 * initialised here (clear it after WR_OK). Returns WR_OK, WR_E_INVAL (NULL
 * argument), WR_E_NOMEM, or WR_E_CORRUPT with why naming the line and the
 * problem (out is then empty). Duplicate filter lines are taken once.
 */
int wr_sub_record_parse(const char *text, size_t len, struct wr_sub_record *out, char *why,
                        size_t why_len);

/**
 * The record's path for a session: <state_dir>/source-subscriptions-<16 hex>,
 * the hex being the start of SHA-256(uri NUL client_id). Returns WR_OK or
 * WR_E_INVAL (NULL argument, or the path does not fit in n bytes).
 */
int wr_sub_record_path(const char *state_dir, const char *uri, const char *client_id, char *out,
                       size_t n);

/**
 * Read the record at path for the session uri + client_id into out (which
 * is initialised here; clear it in every case). Each outcome is logged once,
 * saying what it means:
 *   WR_OK           the record, whose identity is the session's;
 *   WR_E_NOTFOUND   no record: nothing to unsubscribe (first start with this
 *                   broker and client id);
 *   WR_E_CORRUPT    unreadable content, or another session's identity: logged
 *                   as an error with the reason, the file moved aside to
 *                   <path>.corrupt; out is empty and the caller goes on;
 *   WR_E_INVAL, WR_E_NOMEM or a plat_file error (the file could not be read).
 */
int wr_sub_record_load(const char *path, const char *uri, const char *client_id,
                       struct wr_sub_record *out);

/**
 * Replace the file at path with rec, atomically (temporary file, fsync,
 * rename, fsync of the directory), creating state_dir first if missing.
 * Returns WR_OK, WR_E_INVAL, WR_E_NOMEM or a plat_file error.
 */
int wr_sub_record_save(const char *state_dir, const char *path, const struct wr_sub_record *rec);

#endif /* WR_SUB_RECORD_H */
