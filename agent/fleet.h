#ifndef WR_FLEET_H
#define WR_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plat_sig.h"
#include "wr_config.h"
#include "wr_envelope.h"

/*
 * Fleet pushes: decide whether a signed envelope received on
 * windrow/{agent}/config may be applied, keep the anti-rollback record, and
 * render the outcome report for windrow/{agent}/config/state. docs/fleet.md
 * is the reference for the formats. Applying a config is the reload path's
 * job (pipeline_reload.c); this module only judges.
 *
 * Not thread-safe; runs on the pipeline thread.
 */

enum wr_fleet_result {
    WR_FLEET_APPLIED = 0,  /* applied (reported after the links were confirmed) */
    WR_FLEET_REFUSED,      /* not applied; the running config stays */
    WR_FLEET_ROLLED_BACK,  /* applied, links did not come up, previous config restored */
    WR_FLEET_IGNORED,      /* the version already applied (or last rolled back), delivered
                            * again (retained): no report */
    WR_FLEET_ACCEPTED,     /* wr_fleet_judge only: passed every check, to be applied */
};

/** "applied", "refused", "rolled_back", "ignored", "accepted". */
const char *wr_fleet_result_name(enum wr_fleet_result r);

/** The last applied push, kept in <state_dir>/fleet-version. */
struct wr_fleet_record {
    uint64_t version;                   /* 0: none yet */
    char hash[PLAT_SIG_SHA256_HEX_LEN]; /* SHA-256 of its config bytes; "" if none */
};

#define WR_FLEET_RECORD_FILE "fleet-version"
/* The last push that was applied and rolled back, so that its retained
 * envelope, delivered again at every reconnect, is not tried again. */
#define WR_FLEET_ROLLED_BACK_FILE "fleet-rolled-back"

/**
 * Read the record from dir. A missing file gives a zero record and WR_OK.
 * Returns WR_OK, WR_E_INVAL (NULL argument), WR_E_CORRUPT (unreadable
 * content: treated by the caller as refusing every push until fixed, never
 * as version 0) or a plat_file error.
 */
int wr_fleet_record_load(const char *dir, struct wr_fleet_record *rec);

/** Write the record to dir atomically (fsync of file and directory). Returns plat_file codes. */
int wr_fleet_record_save(const char *dir, const struct wr_fleet_record *rec);

/** As wr_fleet_record_load / _save, for the record in file name (e.g. WR_FLEET_ROLLED_BACK_FILE). */
int wr_fleet_record_load_file(const char *dir, const char *name, struct wr_fleet_record *rec);
int wr_fleet_record_save_file(const char *dir, const char *name, const struct wr_fleet_record *rec);

struct wr_fleet_params {
    const char *agent_id;
    const char *keys_dir;
    size_t max_envelope_bytes;
    struct wr_fleet_record last;        /* the last applied push */
    struct wr_fleet_record rolled_back; /* the last push rolled back (zero: none) */
};

struct wr_fleet_verdict {
    enum wr_fleet_result result;          /* ACCEPTED, REFUSED or IGNORED */
    uint64_t version;                     /* 0 if the envelope did not say */
    char hash[PLAT_SIG_SHA256_HEX_LEN];   /* of the config bytes; "" if none */
    struct wr_config_errors reasons;      /* REFUSED: every reason, by field path */
    struct wr_config *cfg;                /* ACCEPTED: the validated config (caller frees) */
    char *config_text;                    /* ACCEPTED: its exact bytes (plat_free) */
    size_t config_len;
};

/**
 * Judge one pushed payload: size, envelope form, agent, trusted key,
 * signature, version above the last applied one, and a config that
 * validates. The last applied push and the last rolled-back one, delivered
 * again, are IGNORED. Every refusal is a verdict (WR_OK returned), not an
 * error. payload may be NULL for a len above fp->max_envelope_bytes (a
 * receiver that did not keep an oversize message): it is refused by its
 * size. Returns WR_OK, WR_E_INVAL (NULL argument) or WR_E_NOMEM. Release
 * with wr_fleet_verdict_clear.
 */
int wr_fleet_judge(const struct wr_fleet_params *fp, const void *payload, size_t len,
                   struct wr_fleet_verdict *out);

/** Free what a verdict owns and zero it. NULL does nothing. */
void wr_fleet_verdict_clear(struct wr_fleet_verdict *v);

/**
 * Render an outcome report (docs/fleet.md, "Outcome reports") as JSON into
 * out. reasons may be NULL. Returns WR_OK, WR_E_INVAL or WR_E_TOOBIG.
 */
int wr_fleet_render_state(const char *agent_id, enum wr_fleet_result result, uint64_t version,
                          const char *hash, const char *source,
                          const struct wr_config_errors *reasons, int64_t time_ms, char *out,
                          size_t out_len, size_t *written);

#endif /* WR_FLEET_H */
