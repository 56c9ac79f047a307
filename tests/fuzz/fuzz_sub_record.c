/*
 * Fuzz target for the subscription record parser (agent/sub_record.c): any
 * input is either refused as corrupt with a reason naming a line, or parsed
 * into distinct valid filters that format back into a record which parses
 * to the same identity and filters.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "plat_mem.h"
#include "sub_record.h"
#include "topic.h"
#include "wr_error.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wr_sub_record rec;
    struct wr_sub_record back;
    char why[160];
    char *text = NULL;
    size_t len = 0;
    int rc;

    rc = wr_sub_record_parse((const char *)data, size, &rec, why, sizeof(why));
    check(rc == WR_OK || rc == WR_E_CORRUPT || rc == WR_E_NOMEM);
    if (rc != WR_OK) {
        check(rec.n_filters == 0 && rec.filters == NULL);
        check(rc == WR_E_NOMEM || strncmp(why, "line ", 5) == 0);
        return 0;
    }
    check(rec.n_filters <= WR_SUB_RECORD_MAX_FILTERS);
    for (size_t i = 0; i < rec.n_filters; i++) {
        check(wr_topic_filter_valid(rec.filters[i], NULL));
        for (size_t j = 0; j < i; j++)
            check(strcmp(rec.filters[i], rec.filters[j]) != 0);
    }
    check(wr_sub_record_format(&rec, &text, &len) == WR_OK);
    check(wr_sub_record_parse(text, len, &back, why, sizeof(why)) == WR_OK);
    check(strcmp(back.uri, rec.uri) == 0 && strcmp(back.client_id, rec.client_id) == 0);
    check(back.n_filters == rec.n_filters);
    for (size_t i = 0; i < rec.n_filters; i++)
        check(strcmp(back.filters[i], rec.filters[i]) == 0);
    plat_free(text);
    wr_sub_record_clear(&rec);
    wr_sub_record_clear(&back);
    return 0;
}
