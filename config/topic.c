#include "topic.h"

#include <string.h>

/* MQTT 3.1.1 section 1.5.3: topic names and filters are at most 65535 bytes of UTF-8. */
#define TOPIC_MAX_BYTES 65535u

bool wr_topic_filter_valid(const char *filter, const char **why)
{
    const char *reason = NULL;
    size_t len;
    size_t i;

    if (filter == NULL || filter[0] == '\0') {
        reason = "empty filter";
        goto out;
    }
    len = strlen(filter);
    if (len > TOPIC_MAX_BYTES) {
        reason = "longer than 65535 bytes";
        goto out;
    }
    for (i = 0; i < len; i++) {
        char c = filter[i];
        bool level_start = (i == 0 || filter[i - 1] == '/');
        bool level_end = (i + 1 == len || filter[i + 1] == '/');

        if (c == '+' && !(level_start && level_end)) {
            reason = "'+' must occupy a whole level";
            goto out;
        }
        if (c == '#') {
            if (!(level_start && level_end)) {
                reason = "'#' must occupy a whole level";
                goto out;
            }
            if (i + 1 != len) {
                reason = "'#' must be the last level";
                goto out;
            }
        }
    }
out:
    if (why != NULL)
        *why = reason;
    return reason == NULL;
}

/*
 * Walks filter and topic one level at a time. The filter is checked as it is
 * walked (a wildcard that is not a whole level makes the match fail), so an
 * invalid filter never matches anything: every path that returns true has
 * consumed the whole filter.
 */
bool wr_topic_match(const char *filter, const char *topic, size_t topic_len)
{
    const char *f = filter;
    const char *t = topic;
    const char *tend;

    if (filter == NULL || topic == NULL || filter[0] == '\0' || topic_len == 0 ||
        topic_len > TOPIC_MAX_BYTES)
        return false;
    /* A topic name never contains wildcards or NUL (section 4.7.1, 1.5.3). */
    for (size_t i = 0; i < topic_len; i++) {
        if (topic[i] == '+' || topic[i] == '#' || topic[i] == '\0')
            return false;
    }
    /* Section 4.7.2: wildcard-leading filters do not match server-internal '$' topics. */
    if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
        return false;

    tend = topic + topic_len;
    for (;;) {
        /* Both f and t are at the start of a level here. */
        const char *fe = f;
        const char *te = t;

        while (*fe != '\0' && *fe != '/')
            fe++;
        while (te < tend && *te != '/')
            te++;

        if (fe - f == 1 && *f == '#')
            return *fe == '\0'; /* '#' matches this level and everything below it */
        if (fe - f == 1 && *f == '+') {
            /* matches any single level, including an empty one */
        } else {
            size_t flen = (size_t)(fe - f);

            if (memchr(f, '+', flen) != NULL || memchr(f, '#', flen) != NULL)
                return false; /* invalid filter */
            if (flen != (size_t)(te - t) || memcmp(f, t, flen) != 0)
                return false;
        }

        if (*fe == '\0')
            return te == tend;
        /* The filter has another level. */
        if (te == tend) {
            /* "a/#" also matches "a": the parent of a multi-level wildcard. */
            return strcmp(fe, "/#") == 0;
        }
        f = fe + 1;
        t = te + 1;
    }
}
