#ifndef WR_TOPIC_H
#define WR_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

/*
 * MQTT topic names and filters (MQTT 3.1.1 section 4.7). Pure functions,
 * no allocation, safe from any thread.
 */

/**
 * True if filter is a valid subscription filter: non-empty, at most 65535
 * bytes, '+' only as a whole level, '#' only as the whole last level, no NUL.
 * On false, *why (if not NULL) points to a static reason text.
 */
bool wr_topic_filter_valid(const char *filter, const char **why);

/**
 * True if the topic name matches filter. Per the spec, a filter starting
 * with a wildcard does not match topics starting with '$'. The topic is
 * given with its length because MQTT topics arrive unterminated.
 */
bool wr_topic_match(const char *filter, const char *topic, size_t topic_len);

#endif /* WR_TOPIC_H */
