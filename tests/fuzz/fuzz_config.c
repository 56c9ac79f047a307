/*
 * Fuzz target for the config loader: parse the input as a config file; on
 * success print the effective config and check that the printed form parses
 * again to the same config (printing is a fixed point). On failure, check
 * that the errors explain it.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "plat_mem.h"
#include "wr_config.h"
#include "wr_error.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wr_config_errors errs;
    struct wr_config *cfg = NULL;
    struct wr_config *again = NULL;
    char *json = NULL;
    char *json_again = NULL;
    int rc;

    memset(&errs, 0, sizeof(errs));
    rc = wr_config_parse((const char *)data, size, &cfg, &errs);
    check(rc == WR_OK || rc == WR_E_PARSE || rc == WR_E_INVAL || rc == WR_E_NOMEM);
    check(errs.count <= WR_CFG_MAX_ERRORS);
    for (size_t i = 0; i < errs.count; i++)
        check(memchr(errs.msg[i], '\0', sizeof(errs.msg[i])) != NULL);
    if (rc != WR_OK) {
        check(cfg == NULL);
        if (rc == WR_E_PARSE || rc == WR_E_INVAL)
            check(errs.count > 0);
        return 0;
    }
    check(cfg != NULL);

    json = wr_config_to_json(cfg);
    if (json == NULL)
        goto out;
    rc = wr_config_parse(json, strlen(json), &again, NULL);
    check(rc == WR_OK || rc == WR_E_NOMEM);
    if (rc != WR_OK)
        goto out;
    json_again = wr_config_to_json(again);
    if (json_again != NULL)
        check(strcmp(json, json_again) == 0);
out:
    plat_free(json_again);
    plat_free(json);
    wr_config_free(again);
    wr_config_free(cfg);
    return 0;
}
