#include "plat_uri.h"

#include <string.h>

#include "wr_error.h"

struct scheme_info {
    const char *name;
    uint16_t default_port;
    bool tls;
};

static const struct scheme_info schemes[] = {
    {"tcp", 1883, false},
    {"mqtt", 1883, false},
    {"ssl", 8883, true},
    {"mqtts", 8883, true},
};

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_host_char(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '-' || c == '_';
}

/* Returns the matching scheme, or NULL; *rest points after "://". */
static const struct scheme_info *match_scheme(const char *uri, const char **rest)
{
    const char *sep = strstr(uri, "://");
    size_t len;
    size_t i;

    if (sep == NULL)
        return NULL;
    len = (size_t)(sep - uri);
    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        const char *name = schemes[i].name;
        size_t j;

        if (strlen(name) != len)
            continue;
        for (j = 0; j < len; j++) {
            if (ascii_lower(uri[j]) != name[j])
                break;
        }
        if (j == len) {
            *rest = sep + 3;
            return &schemes[i];
        }
    }
    return NULL;
}

/*
 * Parse a decimal port of 1..65535 that runs to the end of the string. Five
 * digits at most keeps the arithmetic far from overflow.
 */
static int parse_port(const char *s, uint16_t *port)
{
    uint32_t v = 0;
    size_t n = 0;

    while (s[n] != '\0') {
        if (!is_digit(s[n]) || n >= 5)
            return WR_E_INVAL;
        v = v * 10u + (uint32_t)(s[n] - '0');
        n++;
    }
    if (n == 0 || v == 0 || v > 65535u)
        return WR_E_INVAL;
    *port = (uint16_t)v;
    return WR_OK;
}

static int parse_authority(const char *s, struct plat_uri *out)
{
    const char *host = s;
    const char *end;
    size_t host_len;
    size_t i;

    if (*s == '[') {
        /* IPv6 literal: hex digits, ':' and '.' (for an embedded IPv4 tail). */
        bool colon = false;

        host = s + 1;
        end = strchr(host, ']');
        if (end == NULL)
            return WR_E_INVAL;
        host_len = (size_t)(end - host);
        for (i = 0; i < host_len; i++) {
            if (host[i] == ':')
                colon = true;
            else if (!is_hex(host[i]) && host[i] != '.')
                return WR_E_INVAL;
        }
        if (!colon)
            return WR_E_INVAL;
        end++;
    } else {
        end = host;
        while (is_host_char(*end))
            end++;
        host_len = (size_t)(end - host);
    }
    if (host_len == 0 || host_len >= sizeof(out->host))
        return WR_E_INVAL;
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';

    if (*end == '\0')
        return WR_OK;
    if (*end != ':')
        return WR_E_INVAL;
    return parse_port(end + 1, &out->port);
}

int plat_uri_parse(const char *uri, struct plat_uri *out)
{
    const struct scheme_info *sch;
    const char *rest = NULL;
    int rc;

    if (out == NULL)
        return WR_E_INVAL;
    memset(out, 0, sizeof(*out));
    if (uri == NULL)
        return WR_E_INVAL;
    sch = match_scheme(uri, &rest);
    if (sch == NULL)
        return WR_E_INVAL;
    memcpy(out->scheme, sch->name, strlen(sch->name) + 1);
    out->port = sch->default_port;
    out->tls = sch->tls;
    rc = parse_authority(rest, out);
    if (rc != WR_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}
