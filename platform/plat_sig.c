#include "plat_sig.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "plat_file.h"
#include "plat_log.h"
#include "plat_mem.h"
#include "wr_error.h"

#define MOD "sig"

int plat_sig_sha256(const void *data, size_t len, uint8_t out[PLAT_SIG_SHA256_LEN])
{
    static const unsigned char empty = 0;

    if (out == NULL || (data == NULL && len > 0))
        return WR_E_INVAL;
    if (mbedtls_sha256_ret(data != NULL ? data : &empty, len, out, 0) != 0)
        return WR_E_INVAL;
    return WR_OK;
}

int plat_sig_sha256_hex(const void *data, size_t len, char out[PLAT_SIG_SHA256_HEX_LEN])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t h[PLAT_SIG_SHA256_LEN];
    int rc;

    if (out == NULL)
        return WR_E_INVAL;
    rc = plat_sig_sha256(data, len, h);
    if (rc != WR_OK)
        return rc;
    for (size_t i = 0; i < PLAT_SIG_SHA256_LEN; i++) {
        out[2 * i] = digits[h[i] >> 4];
        out[2 * i + 1] = digits[h[i] & 0x0f];
    }
    out[2 * PLAT_SIG_SHA256_LEN] = '\0';
    return WR_OK;
}

/* Parse the key file into pk; only an EC key on the P-256 curve is accepted. */
static int load_key(const char *key_path, mbedtls_pk_context *pk)
{
    char *text = NULL;
    size_t len = 0;
    int rc;
    int mrc;

    rc = plat_file_read_all(key_path, PLAT_SIG_KEY_FILE_MAX, &text, &len);
    if (rc != WR_OK) {
        if (rc == WR_E_TOOBIG)
            PLAT_ERROR(MOD, "%s: key file larger than %u bytes", key_path,
                       (unsigned)PLAT_SIG_KEY_FILE_MAX);
        return rc;
    }
    /* The PEM parser wants the terminating NUL counted; DER must not have it. */
    mrc = mbedtls_pk_parse_public_key(pk, (const unsigned char *)text,
                                      strstr(text, "-----BEGIN") != NULL ? len + 1 : len);
    plat_free(text);
    if (mrc != 0) {
        PLAT_ERROR(MOD, "%s: not a public key (mbedTLS -0x%04x)", key_path, (unsigned)-mrc);
        return WR_E_PARSE;
    }
    if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY ||
        mbedtls_pk_ec(*pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
        PLAT_ERROR(MOD, "%s: not an EC P-256 (prime256v1) public key", key_path);
        return WR_E_PARSE;
    }
    return WR_OK;
}

int plat_sig_verify_p256(const char *key_path, const void *data, size_t len, const uint8_t *sig,
                         size_t sig_len)
{
    uint8_t hash[PLAT_SIG_SHA256_LEN];
    mbedtls_pk_context pk;
    int rc;

    if (key_path == NULL || (data == NULL && len > 0) || sig == NULL || sig_len == 0)
        return WR_E_INVAL;
    rc = plat_sig_sha256(data, len, hash);
    if (rc != WR_OK)
        return rc;
    mbedtls_pk_init(&pk);
    rc = load_key(key_path, &pk);
    if (rc == WR_OK && mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig,
                                         sig_len) != 0)
        rc = WR_E_SIGNATURE;
    mbedtls_pk_free(&pk);
    return rc;
}
