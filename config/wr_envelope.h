#ifndef WR_ENVELOPE_H
#define WR_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "wr_config.h"

/*
 * The signed config envelope a fleet pushes on windrow/{agent}/config
 * (docs/fleet.md is the reference). It is a JSON object:
 *
 *   { "format": "windrow-config-envelope/1",
 *     "agent": "<agent id the config is for>",
 *     "version": <integer 1 .. 2^53, rises with every push>,
 *     "key_id": "<name of a public key file in fleet.keys_dir, without .pem>",
 *     "config": "<base64 of the config file's exact bytes>",
 *     "signature": "<base64 of the DER ECDSA P-256 signature over SHA-256(signed bytes)>" }
 *
 * The signed bytes are the ASCII text
 *   "windrow-config-envelope/1\n" agent "\n" version-in-decimal "\n"
 * followed by the decoded config bytes, so the signature binds the config
 * to one agent and one version: neither can be changed, and a config signed
 * for one gateway cannot be replayed onto another.
 *
 * This module only parses and checks the form; the signature is checked by
 * the caller (platform/plat_sig.h), the version against the last applied
 * one with wr_envelope_version_check.
 */

#define WR_ENVELOPE_FORMAT "windrow-config-envelope/1"
#define WR_ENVELOPE_VERSION_MAX 9007199254740992ull /* 2^53: exact in a JSON number */
#define WR_ENVELOPE_SIG_MAX 80u                     /* a DER P-256 signature is <= 72 bytes */

struct wr_envelope {
    char agent[WR_CFG_NAME_MAX];
    uint64_t version;
    char key_id[WR_CFG_NAME_MAX];
    char *config;          /* decoded config bytes, NUL-terminated; config_len excludes it */
    size_t config_len;
    uint8_t signature[WR_ENVELOPE_SIG_MAX];
    size_t signature_len;
    char *signed_bytes;    /* what the signature covers (see above) */
    size_t signed_len;
};

/**
 * Parse an envelope of len bytes (need not be NUL-terminated). Payloads
 * longer than max_bytes are refused before parsing. On WR_OK *out is a new
 * envelope (free with wr_envelope_free). Otherwise *out is untouched and errs
 * (may be NULL) names every problem by field path ("envelope.version: ..."):
 *   WR_E_TOOBIG  len > max_bytes;
 *   WR_E_PARSE   not a JSON object;
 *   WR_E_INVAL   a missing, unknown or malformed member, a wrong format
 *                string, invalid base64, an oversize signature;
 *   WR_E_NOMEM   allocation failed.
 * Does not check the signature or the embedded config.
 */
int wr_envelope_parse(const char *buf, size_t len, size_t max_bytes, struct wr_envelope **out,
                      struct wr_config_errors *errs);

/** Free an envelope; NULL does nothing. */
void wr_envelope_free(struct wr_envelope *env);

/**
 * Anti-rollback: a pushed version must be strictly above the last applied
 * one. Returns WR_OK or WR_E_RANGE (writes the reason into errs if not NULL).
 */
int wr_envelope_version_check(uint64_t last_applied, uint64_t version,
                              struct wr_config_errors *errs);

/**
 * True if key_id is usable as a file name in the keys directory: 1..63
 * characters from [A-Za-z0-9_.-], not starting with '.' (so no "..", no '/').
 */
bool wr_envelope_key_id_valid(const char *key_id);

/**
 * Standard base64 (RFC 4648, with '=' padding, no whitespace) decode of
 * in_len characters into out (capacity out_cap). Returns WR_OK with *out_len
 * set, WR_E_PARSE (not valid base64) or WR_E_TOOBIG (out_cap too small).
 */
int wr_envelope_base64_decode(const char *in, size_t in_len, uint8_t *out, size_t out_cap,
                              size_t *out_len);

#endif /* WR_ENVELOPE_H */
