#ifndef PLAT_SIG_H
#define PLAT_SIG_H

#include <stddef.h>
#include <stdint.h>

/*
 * Hashing and signature verification for signed config envelopes (see
 * docs/fleet.md). mbedTLS lives in platform/; callers see bytes and error
 * codes only. Nothing here signs: signing happens on the fleet side
 * (scripts/windrow-sign-config, openssl).
 *
 * All functions are thread-safe (no shared state).
 */

#define PLAT_SIG_SHA256_LEN 32u
#define PLAT_SIG_SHA256_HEX_LEN 65u /* 64 hex digits and the NUL */
#define PLAT_SIG_KEY_FILE_MAX (16u * 1024u)

/** SHA-256 of len bytes at data (data may be NULL when len is 0). Returns WR_OK or WR_E_INVAL. */
int plat_sig_sha256(const void *data, size_t len, uint8_t out[PLAT_SIG_SHA256_LEN]);

/** As plat_sig_sha256, written as 64 lower-case hex digits and a NUL. */
int plat_sig_sha256_hex(const void *data, size_t len, char out[PLAT_SIG_SHA256_HEX_LEN]);

/**
 * Check that sig (an ASN.1 DER ECDSA signature, as openssl dgst -sign
 * writes it) is a valid ECDSA P-256 signature over SHA-256(data) by the
 * public key in the PEM (or DER) file at key_path.
 * Returns:
 *   WR_OK          the signature verifies;
 *   WR_E_INVAL     NULL argument or empty signature;
 *   WR_E_NOTFOUND  no file at key_path;
 *   WR_E_DENIED    the key file cannot be read;
 *   WR_E_TOOBIG    the key file is longer than PLAT_SIG_KEY_FILE_MAX;
 *   WR_E_PARSE     the file holds no public key, or one that is not EC P-256;
 *   WR_E_SIGNATURE the signature is malformed or does not match.
 * Nothing is logged for WR_E_SIGNATURE (the caller reports it); key
 * problems are logged once with the path.
 */
int plat_sig_verify_p256(const char *key_path, const void *data, size_t len, const uint8_t *sig,
                         size_t sig_len);

#endif /* PLAT_SIG_H */
