/*
 * Fuzz target for MQTT topic filters and matching. The input is split at its
 * first NUL byte: the part before is the filter (NUL-terminated, as filters
 * come from the config), the part after is the topic (given by length, as
 * topics arrive from the broker). Without a NUL the whole input is used as
 * both, so that a filter matching itself is exercised.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "topic.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

/* End of the level starting at s (the next '/' or the end). */
static size_t level_end(const char *s, size_t pos, size_t len)
{
    while (pos < len && s[pos] != '/')
        pos++;
    return pos;
}

/*
 * A second, deliberately plain matcher for a valid filter, written from the
 * spec rather than from topic.c, to compare against.
 */
static bool reference_match(const char *filter, const char *topic, size_t topic_len)
{
    size_t flen = strlen(filter);
    size_t f = 0;
    size_t t = 0;

    if (topic_len == 0 || memchr(topic, '+', topic_len) != NULL ||
        memchr(topic, '#', topic_len) != NULL || memchr(topic, '\0', topic_len) != NULL)
        return false;
    if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
        return false;
    for (;;) {
        size_t fe = level_end(filter, f, flen);
        size_t te;

        if (fe - f == 1 && filter[f] == '#')
            return true;
        if (t > topic_len)
            return false; /* the topic has fewer levels than the filter */
        te = level_end(topic, t, topic_len);
        if (!(fe - f == 1 && filter[f] == '+') &&
            (fe - f != te - t || memcmp(filter + f, topic + t, fe - f) != 0))
            return false;
        if (fe == flen)
            return te == topic_len;
        f = fe + 1;
        /* Past the end means "no more levels"; only a following "#" can still match. */
        t = te + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t filter_len = nul != NULL ? (size_t)(nul - data) : size;
    size_t topic_off = nul != NULL ? filter_len + 1 : 0;
    size_t topic_len = size - topic_off;
    char *filter = malloc(filter_len + 1);
    char *topic = malloc(topic_len > 0 ? topic_len : 1);
    const char *why = NULL;
    bool valid;
    bool matched;

    if (filter == NULL || topic == NULL)
        goto out;
    memcpy(filter, data, filter_len);
    filter[filter_len] = '\0';
    /* The topic gets a block of exactly its length: no terminator to lean on. */
    memcpy(topic, data + topic_off, topic_len);

    valid = wr_topic_filter_valid(filter, &why);
    check(valid == (why == NULL));
    check(valid == wr_topic_filter_valid(filter, NULL));
    matched = wr_topic_match(filter, topic, topic_len);
    if (valid && strpbrk(filter, "+#") == NULL) {
        /* Without wildcards a filter matches exactly the topic spelled the same. */
        check(matched == (topic_len == filter_len && memcmp(filter, topic, topic_len) == 0));
    }
    if (valid && topic_len > 0 && topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
        check(!matched);
    if (valid)
        check(matched == reference_match(filter, topic, topic_len));
out:
    free(filter);
    free(topic);
    return 0;
}
