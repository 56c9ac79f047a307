#ifndef WR_KEY_TEMPLATE_H
#define WR_KEY_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Key templates turn a message into the key its events are grouped by.
 * Placeholders:
 *   {topic}      the whole topic
 *   {topic[N]}   topic level N, counting from 0 (N < 32)
 *   {name}       the SenML record's resolved name (bn + n); "" for other forms
 * Everything else is literal text; "{{" and "}}" stand for literal braces.
 * Pure functions, no allocation, thread-safe.
 */

/** True if tmpl is a valid template; otherwise *why (if not NULL) is a static reason. */
bool wr_key_template_valid(const char *tmpl, const char **why);

/**
 * Expand tmpl into out (always NUL-terminated when out_len > 0).
 * name may be NULL (treated as ""). Returns WR_OK, WR_E_INVAL (bad template
 * or NULL argument), WR_E_NOTFOUND ({topic[N]} beyond the topic's levels,
 * or the expansion is empty) or WR_E_TOOBIG (does not fit out_len).
 */
int wr_key_template_expand(const char *tmpl, const char *topic, size_t topic_len,
                           const char *name, char *out, size_t out_len);

#endif /* WR_KEY_TEMPLATE_H */
