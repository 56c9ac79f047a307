#ifndef WR_CONFIG_DIFF_H
#define WR_CONFIG_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "wr_config.h"

/*
 * What a reload changes: the pure decision of what survives, made by
 * comparing two validated configs field by field (the same schema table the
 * loader uses, so a new field is compared without code here). The pipeline
 * applies it (agent/pipeline_reload.c); docs/fleet.md and config/SCHEMA.md
 * ("Reload") document the outcomes.
 *
 * Streams are matched by name, not position.
 */

enum wr_stream_change {
    WR_STREAM_SAME = 0,  /* identical: open windows and filter state are kept */
    WR_STREAM_TUNED,     /* only filter.* or priority changed: open windows are kept, the
                          * stream's filter starts afresh with the new settings */
    WR_STREAM_REDEFINED, /* anything else changed (match, key, format, window, ...): the
                          * open windows are emitted at once, cut short, and the stream
                          * starts again under its new definition */
    WR_STREAM_ADDED,     /* not in the old config */
};

#define WR_CONFIG_DIFF_MAX_PATHS 48

struct wr_config_diff {
    /* By index in the NEW config. */
    enum wr_stream_change stream[WR_CFG_MAX_STREAMS];
    int old_index[WR_CFG_MAX_STREAMS]; /* -1 for WR_STREAM_ADDED */
    /* By index in the OLD config: true if the stream is gone. */
    bool removed[WR_CFG_MAX_STREAMS];
    size_t n_removed;

    bool any;                   /* something differs at all */
    bool streams_changed;       /* a stream was added, removed, reordered, tuned or redefined */
    bool streams_reordered;     /* same names, different positions */
    bool subscriptions_changed; /* the set of topic filters (stream matches) differs */
    bool source_changed;        /* source.*: the local broker session is made again */
    bool upstream_changed;      /* upstream.*: the upstream connection is made again */
    bool upstream_link_changed; /* uri, client_id, credentials or tls: a new link to confirm */
    bool fleet_changed;         /* fleet.* */
    bool restart_required;      /* agent.id or agent.state_dir: refused by a reload */

    /* Every changed field path ("upstream.uri", "streams[cpu].window.size_s"). */
    size_t n_paths;
    size_t paths_dropped; /* beyond WR_CONFIG_DIFF_MAX_PATHS */
    char paths[WR_CONFIG_DIFF_MAX_PATHS][WR_CFG_ERROR_LEN];
};

/**
 * Compare old_cfg with new_cfg (both validated) into *out.
 * Returns WR_OK or WR_E_INVAL (NULL argument). Pure: no I/O, no allocation.
 */
int wr_config_diff(const struct wr_config *old_cfg, const struct wr_config *new_cfg,
                   struct wr_config_diff *out);

/** Short name of a stream change ("same", "tuned", "redefined", "added"). */
const char *wr_stream_change_name(enum wr_stream_change change);

#endif /* WR_CONFIG_DIFF_H */
