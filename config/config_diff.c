#include "wr_config_diff.h"

#include <stdio.h>
#include <string.h>

#include "config_internal.h"
#include "wr_error.h"

static const void *member(const void *base, size_t off)
{
    return (const char *)base + off;
}

static void add_path(struct wr_config_diff *d, const char *prefix, const char *name)
{
    if (d->n_paths == WR_CONFIG_DIFF_MAX_PATHS) {
        d->paths_dropped++;
        return;
    }
    snprintf(d->paths[d->n_paths++], WR_CFG_ERROR_LEN, "%s%s%s", prefix,
             prefix[0] != '\0' ? "." : "", name);
}

static bool field_equal(const struct wr_cfg__field *f, const void *a, const void *b)
{
    const void *pa = member(a, f->off);
    const void *pb = member(b, f->off);

    switch ((enum wr_cfg__kind)f->kind) {
    case WR_CFG__STR:
    case WR_CFG__STR_ENUM:
        return strncmp(pa, pb, f->size) == 0;
    case WR_CFG__ENUM:
    case WR_CFG__INT:
        return *(const int *)pa == *(const int *)pb;
    case WR_CFG__U8:
        return *(const uint8_t *)pa == *(const uint8_t *)pb;
    case WR_CFG__U32:
        return *(const uint32_t *)pa == *(const uint32_t *)pb;
    case WR_CFG__U64:
        return *(const uint64_t *)pa == *(const uint64_t *)pb;
    case WR_CFG__BOOL:
        return *(const bool *)pa == *(const bool *)pb;
    case WR_CFG__DOUBLE:
        return *(const double *)pa == *(const double *)pb;
    case WR_CFG__OPT_DOUBLE: {
        bool ha = *(const bool *)member(a, f->has_off);
        bool hb = *(const bool *)member(b, f->has_off);

        return ha == hb && (!ha || *(const double *)pa == *(const double *)pb);
    }
    case WR_CFG__AGGS:
        return *(const unsigned *)pa == *(const unsigned *)pb;
    case WR_CFG__QUANTILES: {
        size_t na = *(const size_t *)member(a, f->has_off);
        size_t nb = *(const size_t *)member(b, f->has_off);

        return na == nb && memcmp(pa, pb, na * sizeof(double)) == 0;
    }
    case WR_CFG__OBJECT:
    case WR_CFG__STREAMS:
        break;
    }
    return true;
}

/* Walk one table; every differing leaf is recorded under prefix. Returns the number found. */
static size_t diff_table(const struct wr_cfg__field *table, const void *a, const void *b,
                         const char *prefix, struct wr_config_diff *d)
{
    char path[WR_CFG_ERROR_LEN];
    size_t n = 0;

    for (const struct wr_cfg__field *f = table; f->name != NULL; f++) {
        if (f->kind == WR_CFG__STREAMS)
            continue;
        if (f->kind == WR_CFG__OBJECT) {
            snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] != '\0' ? "." : "", f->name);
            n += diff_table(f->sub, a, b, path, d);
            continue;
        }
        if (!field_equal(f, a, b)) {
            add_path(d, prefix, f->name);
            n++;
        }
    }
    return n;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Classify a stream present in both configs from the paths its comparison added. */
static enum wr_stream_change classify(const struct wr_config_diff *d, size_t first, const char *pfx)
{
    enum wr_stream_change ch = WR_STREAM_SAME;
    size_t plen = strlen(pfx);

    for (size_t i = first; i < d->n_paths; i++) {
        const char *leaf = d->paths[i] + plen + 1; /* past "<prefix>." */

        if (has_prefix(leaf, "filter.") || strcmp(leaf, "priority") == 0)
            ch = ch == WR_STREAM_SAME ? WR_STREAM_TUNED : ch;
        else
            ch = WR_STREAM_REDEFINED;
    }
    /* Paths beyond the list limit were not seen: assume the worst. */
    if (d->paths_dropped > 0 && ch != WR_STREAM_SAME)
        ch = WR_STREAM_REDEFINED;
    return ch;
}

static int find_stream(const struct wr_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_streams; i++)
        if (strcmp(cfg->streams[i].name, name) == 0)
            return (int)i;
    return -1;
}

static bool same_filter_set(const struct wr_config *a, const struct wr_config *b)
{
    for (size_t i = 0; i < a->n_streams; i++) {
        bool found = false;

        for (size_t j = 0; j < b->n_streams && !found; j++)
            found = strcmp(a->streams[i].match, b->streams[j].match) == 0;
        if (!found)
            return false;
    }
    return true;
}

static void diff_streams(const struct wr_config *o, const struct wr_config *n,
                         struct wr_config_diff *d)
{
    char pfx[WR_CFG_ERROR_LEN];

    for (size_t i = 0; i < n->n_streams; i++) {
        int oi = find_stream(o, n->streams[i].name);
        size_t first = d->n_paths;
        size_t dropped_before = d->paths_dropped;

        snprintf(pfx, sizeof(pfx), "streams[%s]", n->streams[i].name);
        d->old_index[i] = oi;
        if (oi < 0) {
            d->stream[i] = WR_STREAM_ADDED;
            add_path(d, pfx, "(added)");
            continue;
        }
        if ((size_t)oi != i)
            d->streams_reordered = true;
        diff_table(wr_config__stream_fields, &o->streams[oi], &n->streams[i], pfx, d);
        d->stream[i] = classify(d, first, pfx);
        if (d->paths_dropped > dropped_before && d->stream[i] == WR_STREAM_SAME)
            d->stream[i] = WR_STREAM_REDEFINED;
    }
    for (size_t i = 0; i < o->n_streams; i++) {
        if (find_stream(n, o->streams[i].name) >= 0)
            continue;
        d->removed[i] = true;
        d->n_removed++;
        snprintf(pfx, sizeof(pfx), "streams[%s]", o->streams[i].name);
        add_path(d, pfx, "(removed)");
    }
    d->subscriptions_changed = !same_filter_set(o, n) || !same_filter_set(n, o);
    d->streams_changed = d->n_removed > 0 || d->streams_reordered || o->n_streams != n->n_streams;
    for (size_t i = 0; i < n->n_streams; i++)
        d->streams_changed = d->streams_changed || d->stream[i] != WR_STREAM_SAME;
}

static bool any_path_with(const struct wr_config_diff *d, size_t from, size_t to,
                          const char *prefix)
{
    for (size_t i = from; i < to; i++)
        if (has_prefix(d->paths[i], prefix))
            return true;
    return false;
}

int wr_config_diff(const struct wr_config *old_cfg, const struct wr_config *new_cfg,
                   struct wr_config_diff *out)
{
    static const char *const link_fields[] = {"upstream.uri",      "upstream.client_id",
                                              "upstream.username", "upstream.password",
                                              "upstream.tls.",     NULL};
    size_t top_paths;

    if (old_cfg == NULL || new_cfg == NULL || out == NULL)
        return WR_E_INVAL;
    memset(out, 0, sizeof(*out));
    diff_table(wr_config__top_fields, old_cfg, new_cfg, "", out);
    top_paths = out->n_paths;
    out->restart_required = any_path_with(out, 0, top_paths, "agent.id") ||
                            any_path_with(out, 0, top_paths, "agent.state_dir");
    out->source_changed = any_path_with(out, 0, top_paths, "source.");
    out->upstream_changed = any_path_with(out, 0, top_paths, "upstream.");
    out->fleet_changed = any_path_with(out, 0, top_paths, "fleet.");
    for (size_t i = 0; link_fields[i] != NULL; i++)
        out->upstream_link_changed =
            out->upstream_link_changed || any_path_with(out, 0, top_paths, link_fields[i]);
    diff_streams(old_cfg, new_cfg, out);
    out->any = out->n_paths > 0 || out->paths_dropped > 0 || out->streams_reordered;
    return WR_OK;
}

const char *wr_stream_change_name(enum wr_stream_change change)
{
    switch (change) {
    case WR_STREAM_SAME:
        return "same";
    case WR_STREAM_TUNED:
        return "tuned";
    case WR_STREAM_REDEFINED:
        return "redefined";
    case WR_STREAM_ADDED:
        return "added";
    }
    return "?";
}
