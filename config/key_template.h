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
int wr_key_template_expand(const char *tmpl, const char *topic, size_t topic_len, const char *name,
                           char *out, size_t out_len);

/* Longest output (including the NUL) a prepared template expands to, and most {name}s in one. */
#define WR_KEY_PREPARED_TEXT 64
#define WR_KEY_PREPARED_NAMES 8

/**
 * A template expanded for one topic with its {name} placeholders left open,
 * so that the many records of one message (a SenML pack) pay for parsing the
 * template and finding topic levels once. Caller-owned, no allocation.
 */
struct wr_key_prepared {
    char text[WR_KEY_PREPARED_TEXT];              /* the fixed pieces, concatenated */
    unsigned char name_at[WR_KEY_PREPARED_NAMES]; /* where each {name} goes in text */
    unsigned n_names;
    size_t text_len;
    int rc; /* WR_OK, or the error every expansion for this topic gives */
};

/**
 * Prepare tmpl for topic. Returns WR_OK (then wr_key_prepared_expand gives
 * exactly what wr_key_template_expand would, success or failure, for any
 * out_len <= WR_KEY_PREPARED_TEXT; failures may carry a different WR_E_*
 * code), WR_E_RANGE when tmpl has more than WR_KEY_PREPARED_NAMES {name}s
 * (use wr_key_template_expand), or WR_E_INVAL for a NULL kp. Borrows all.
 */
int wr_key_template_prepare(const char *tmpl, const char *topic, size_t topic_len,
                            struct wr_key_prepared *kp);

/**
 * Expand a prepared template with name[0 .. name_len) into out (always
 * NUL-terminated when out_len > 0). Returns WR_OK, WR_E_INVAL (NULL
 * argument, or out_len > WR_KEY_PREPARED_TEXT), WR_E_NOTFOUND, WR_E_TOOBIG,
 * or the error wr_key_template_prepare recorded in kp->rc.
 */
int wr_key_prepared_expand(const struct wr_key_prepared *kp, const char *name, size_t name_len,
                           char *out, size_t out_len);

#endif /* WR_KEY_TEMPLATE_H */
