#ifndef WR_FLEET_PUSH_H
#define WR_FLEET_PUSH_H

#include <stdbool.h>
#include <stdint.h>

#include "fleet.h"
#include "fleet_inbox.h"
#include "plat_sig.h"
#include "reload.h"
#include "uplink.h"
#include "wr_config.h"
#include "wr_config_diff.h"

/*
 * A fleet push from arrival to outcome, across the reloads it causes
 * (docs/fleet.md). The uplink hands what arrives on windrow/{agent}/config
 * to this module's inbox; main.c's loop polls, and a push that fleet.c
 * accepts is written to the config file (atomically, keeping its
 * permissions) and returned as the next config for the reload path to
 * apply. main.c then says how it ended: applied (links confirmed where they
 * changed; only now is the anti-rollback record saved) or rolled back (the
 * file gets its previous bytes back, and that push is remembered so that
 * its retained envelope is not tried again). Every outcome but a
 * redelivery is reported, retained, on fleet.state_topic through the
 * uplink that runs at the time.
 *
 * Not thread-safe: one thread (the pipeline's, main.c's loop) calls
 * everything but the inbox, which the uplink feeds from Paho's thread.
 */

struct wr_fleet_push;

struct wr_fleet_push_params {
    const char *config_path;          /* where an accepted config is written */
    struct wr_reload *reload;         /* borrowed: told of every file this module writes */
    const struct wr_fleet_wake *wake; /* a push arrived (Paho's thread); may be NULL */
};

/**
 * Create for the running config (borrowed for the call): loads the
 * anti-rollback record and the rolled-back record from agent.state_dir.
 * Returns WR_OK, WR_E_INVAL or WR_E_NOMEM. A record that cannot be read is
 * no error here: every push is then refused, saying why.
 */
int wr_fleet_push_create(const struct wr_fleet_push_params *pp, const struct wr_config *running,
                         struct wr_fleet_push **out);

/** Free; NULL does nothing. No uplink may still feed its inbox. */
void wr_fleet_push_destroy(struct wr_fleet_push *fp);

/** What the uplink hands config-topic messages to (wr_links_open). */
const struct wr_uplink_inbound *wr_fleet_push_inbound(struct wr_fleet_push *fp);

/**
 * The fleet version of a config whose file bytes hash to hash: the last
 * applied push's version if it is that push, else 0 (a local file).
 */
uint64_t wr_fleet_push_version_of(const struct wr_fleet_push *fp, const char *hash);

/**
 * From now on reports go through up (ops borrowed, up until the next attach
 * or destroy; NULL, NULL detaches), for the running config (borrowed
 * likewise: its state topic and size limit). A report the previous uplink
 * still held unacknowledged (ops->report_pending) is published on the new one.
 */
void wr_fleet_push_attach(struct wr_fleet_push *fp, const struct wr_config *running,
                          const struct wr_uplink_ops *ops, struct wr_uplink *up);

/**
 * Judge the push that arrived, if one did, against the running config
 * (file bytes hashing to running_hash). Returns
 *   WR_FLEET_IGNORED   nothing arrived, fleet is disabled, or a redelivery
 *                      of the push applied or rolled back last (no report);
 *   WR_FLEET_REFUSED   refused and reported; nothing changed;
 *   WR_FLEET_APPLIED   a new version of the very bytes that run: recorded
 *                      and reported, nothing to reload;
 *   WR_FLEET_ACCEPTED  written to the config file: apply *next (caller
 *                      frees) with *diff, its hash in next_hash, then call
 *                      wr_fleet_push_finish.
 */
enum wr_fleet_result wr_fleet_push_poll(struct wr_fleet_push *fp, const struct wr_config *running,
                                        const char *running_hash, struct wr_config **next,
                                        struct wr_config_diff *diff,
                                        char next_hash[PLAT_SIG_SHA256_HEX_LEN]);

/** True from an ACCEPTED poll until its finish. */
bool wr_fleet_push_pending(const struct wr_fleet_push *fp);

/**
 * How the accepted push ended: WR_FLEET_APPLIED (it runs and its changed
 * links are up: the anti-rollback record is saved) or WR_FLEET_ROLLED_BACK
 * (the previous config runs again: the file gets its previous bytes back);
 * why (NULL or a reason by field path) goes into the report. Nothing
 * pending: does nothing.
 */
void wr_fleet_push_finish(struct wr_fleet_push *fp, enum wr_fleet_result result, const char *why);

#endif /* WR_FLEET_PUSH_H */
