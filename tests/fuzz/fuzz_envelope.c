/*
 * Fuzz target for the signed config envelope parser: any input is either
 * refused with at least one reason, or parsed into an envelope whose parts
 * keep their promises (decoded config NUL-terminated and non-empty, signed
 * bytes = header lines + config, signature within bounds).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "wr_envelope.h"
#include "wr_error.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wr_config_errors errs;
    struct wr_envelope *env = NULL;
    char head[160];
    int n;
    int rc;

    rc = wr_envelope_parse((const char *)data, size, 65536, &env, &errs);
    check(rc == WR_OK || rc == WR_E_PARSE || rc == WR_E_INVAL || rc == WR_E_TOOBIG ||
          rc == WR_E_NOMEM);
    check(errs.count <= WR_CFG_MAX_ERRORS);
    for (size_t i = 0; i < errs.count; i++)
        check(memchr(errs.msg[i], '\0', sizeof(errs.msg[i])) != NULL);
    if (rc != WR_OK) {
        check(env == NULL);
        check(rc == WR_E_NOMEM || errs.count > 0);
        return 0;
    }
    check(env != NULL && errs.count == 0);
    check(env->config_len > 0 && env->config[env->config_len] == '\0');
    check(env->signature_len > 0 && env->signature_len <= WR_ENVELOPE_SIG_MAX);
    check(env->version >= 1 && env->version <= WR_ENVELOPE_VERSION_MAX);
    check(wr_envelope_key_id_valid(env->key_id));
    n = snprintf(head, sizeof(head), "%s\n%s\n%llu\n", WR_ENVELOPE_FORMAT, env->agent,
                 (unsigned long long)env->version);
    check(n > 0 && (size_t)n + env->config_len == env->signed_len);
    check(memcmp(env->signed_bytes, head, (size_t)n) == 0);
    check(memcmp(env->signed_bytes + n, env->config, env->config_len) == 0);
    wr_envelope_free(env);
    return 0;
}
