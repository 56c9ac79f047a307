#include "key_template.h"

#include <string.h>

#include "wr_error.h"

/* Highest topic level a {topic[N]} placeholder may name, plus one. */
#define KEY_TEMPLATE_MAX_LEVEL 32

enum piece_kind {
    PIECE_LITERAL, /* text[0 .. len) verbatim */
    PIECE_TOPIC,
    PIECE_LEVEL,
    PIECE_NAME,
};

struct piece {
    enum piece_kind kind;
    const char *text;
    size_t len;
    unsigned level;
};

/*
 * Read the piece starting at *pos. Returns the static reason when the
 * template is invalid at that point, NULL otherwise. Both the validator and
 * the expander go through here, so they cannot disagree about the syntax.
 */
static const char *next_piece(const char *tmpl, size_t *pos, struct piece *p)
{
    const char *s = tmpl + *pos;
    const char *close;
    size_t inner;

    if (s[0] == '{' && s[1] == '{') {
        p->kind = PIECE_LITERAL;
        p->text = s;
        p->len = 1;
        *pos += 2;
        return NULL;
    }
    if (s[0] == '}') {
        if (s[1] != '}')
            return "'}' outside a placeholder must be written '}}'";
        p->kind = PIECE_LITERAL;
        p->text = s;
        p->len = 1;
        *pos += 2;
        return NULL;
    }
    if (s[0] != '{') {
        size_t n = strcspn(s, "{}");

        p->kind = PIECE_LITERAL;
        p->text = s;
        p->len = n;
        *pos += n;
        return NULL;
    }

    close = strchr(s, '}');
    if (close == NULL)
        return "unterminated '{' (write '{{' for a literal brace)";
    inner = (size_t)(close - s - 1);
    *pos += inner + 2;
    if (inner == 5 && memcmp(s + 1, "topic", 5) == 0) {
        p->kind = PIECE_TOPIC;
        return NULL;
    }
    if (inner == 4 && memcmp(s + 1, "name", 4) == 0) {
        p->kind = PIECE_NAME;
        return NULL;
    }
    if (inner > 7 && memcmp(s + 1, "topic[", 6) == 0 && s[inner] == ']') {
        const char *d = s + 7;
        size_t ndigits = inner - 7;
        unsigned level = 0;

        if (ndigits == 0 || ndigits > 2)
            return "topic level must be a number from 0 to 31";
        for (size_t i = 0; i < ndigits; i++) {
            if (d[i] < '0' || d[i] > '9')
                return "topic level must be a number from 0 to 31";
            level = level * 10u + (unsigned)(d[i] - '0');
        }
        if (level >= KEY_TEMPLATE_MAX_LEVEL)
            return "topic level must be a number from 0 to 31";
        p->kind = PIECE_LEVEL;
        p->level = level;
        return NULL;
    }
    return "unknown placeholder (expected {topic}, {topic[N]} or {name})";
}

bool wr_key_template_valid(const char *tmpl, const char **why)
{
    const char *reason = NULL;
    size_t pos = 0;

    if (tmpl == NULL || tmpl[0] == '\0') {
        reason = "empty template";
        goto out;
    }
    while (tmpl[pos] != '\0') {
        struct piece p;

        reason = next_piece(tmpl, &pos, &p);
        if (reason != NULL)
            break;
    }
out:
    if (why != NULL)
        *why = reason;
    return reason == NULL;
}

/* Find level n of the topic; false if the topic has fewer levels. */
static bool topic_level(const char *topic, size_t topic_len, unsigned n, const char **start,
                        size_t *len)
{
    size_t i = 0;
    unsigned level = 0;

    while (level < n) {
        const char *slash = memchr(topic + i, '/', topic_len - i);

        if (slash == NULL)
            return false;
        i = (size_t)(slash - topic) + 1;
        level++;
    }
    {
        const char *slash = memchr(topic + i, '/', topic_len - i);
        size_t end = slash == NULL ? topic_len : (size_t)(slash - topic);

        *start = topic + i;
        *len = end - i;
    }
    return true;
}

int wr_key_template_expand(const char *tmpl, const char *topic, size_t topic_len, const char *name,
                           char *out, size_t out_len)
{
    size_t pos = 0;
    size_t used = 0;
    int rc = WR_OK;

    if (tmpl == NULL || topic == NULL || out == NULL)
        return WR_E_INVAL;
    if (out_len == 0)
        return WR_E_TOOBIG;
    if (name == NULL)
        name = "";
    if (tmpl[0] == '\0') {
        rc = WR_E_INVAL;
        goto out;
    }

    while (tmpl[pos] != '\0') {
        struct piece p;
        const char *src = NULL;
        size_t n = 0;

        if (next_piece(tmpl, &pos, &p) != NULL) {
            rc = WR_E_INVAL;
            goto out;
        }
        switch (p.kind) {
        case PIECE_LITERAL:
            src = p.text;
            n = p.len;
            break;
        case PIECE_TOPIC:
            src = topic;
            n = topic_len;
            break;
        case PIECE_LEVEL:
            if (!topic_level(topic, topic_len, p.level, &src, &n)) {
                rc = WR_E_NOTFOUND;
                goto out;
            }
            break;
        case PIECE_NAME:
            src = name;
            n = strlen(name);
            break;
        }
        /* Keep one byte for the NUL. */
        if (n >= out_len - used) {
            rc = WR_E_TOOBIG;
            goto out;
        }
        memcpy(out + used, src, n);
        used += n;
    }
    if (used == 0)
        rc = WR_E_NOTFOUND;
out:
    out[rc == WR_OK ? used : 0] = '\0';
    return rc;
}

int wr_key_template_prepare(const char *tmpl, const char *topic, size_t topic_len,
                            struct wr_key_prepared *kp)
{
    size_t pos = 0;

    if (kp == NULL)
        return WR_E_INVAL;
    kp->text_len = 0;
    kp->n_names = 0;
    kp->rc = WR_OK;
    if (tmpl == NULL || topic == NULL || tmpl[0] == '\0') {
        kp->rc = WR_E_INVAL; /* as every expansion would be */
        return WR_OK;
    }
    while (tmpl[pos] != '\0') {
        struct piece p;
        const char *src = NULL;
        size_t n = 0;

        if (next_piece(tmpl, &pos, &p) != NULL) {
            kp->rc = WR_E_INVAL;
            break;
        }
        switch (p.kind) {
        case PIECE_LITERAL:
            src = p.text;
            n = p.len;
            break;
        case PIECE_TOPIC:
            src = topic;
            n = topic_len;
            break;
        case PIECE_LEVEL:
            if (!topic_level(topic, topic_len, p.level, &src, &n))
                kp->rc = WR_E_NOTFOUND;
            break;
        case PIECE_NAME:
            if (kp->n_names == WR_KEY_PREPARED_NAMES) {
                kp->rc = WR_E_RANGE;
                return kp->rc;
            }
            kp->name_at[kp->n_names++] = (unsigned char)kp->text_len;
            break;
        }
        if (kp->rc != WR_OK)
            break;
        /* Fixed text that does not fit fails every expansion the same way. */
        if (n >= sizeof(kp->text) - kp->text_len) {
            kp->rc = WR_E_TOOBIG;
            break;
        }
        if (n > 0)
            memcpy(kp->text + kp->text_len, src, n);
        kp->text_len += n;
    }
    return kp->rc == WR_E_RANGE ? WR_E_RANGE : WR_OK;
}

int wr_key_prepared_expand(const struct wr_key_prepared *kp, const char *name, size_t name_len,
                           char *out, size_t out_len)
{
    size_t from = 0;
    size_t used = 0;

    if (out != NULL && out_len > 0)
        out[0] = '\0';
    if (kp == NULL || out == NULL || (name == NULL && name_len > 0) ||
        out_len > WR_KEY_PREPARED_TEXT)
        return WR_E_INVAL;
    if (out_len == 0)
        return WR_E_TOOBIG;
    if (kp->rc != WR_OK)
        return kp->rc;
    if (kp->text_len + (size_t)kp->n_names * name_len >= out_len)
        return WR_E_TOOBIG;
    if (kp->text_len + (size_t)kp->n_names * name_len == 0)
        return WR_E_NOTFOUND;
    for (unsigned i = 0; i < kp->n_names; i++) {
        size_t at = kp->name_at[i];

        memcpy(out + used, kp->text + from, at - from);
        used += at - from;
        from = at;
        if (name_len > 0)
            memcpy(out + used, name, name_len);
        used += name_len;
    }
    memcpy(out + used, kp->text + from, kp->text_len - from);
    used += kp->text_len - from;
    out[used] = '\0';
    return WR_OK;
}
