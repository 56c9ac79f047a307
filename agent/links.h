#ifndef WR_LINKS_H
#define WR_LINKS_H

#include "ingest.h"
#include "plat_bridge.h"
#include "uplink.h"
#include "wr_config.h"

/*
 * The real source and uplink, built from the config: the Paho client on the
 * local broker, the Paho client upstream and, for an mqtts:// upstream, the
 * in-process TLS bridge it talks through. main.c hands them to the pipeline
 * (struct wr_pipeline_deps); the pipeline's unit test uses fakes instead.
 */

struct wr_links {
    struct wr_ingest *source;
    struct wr_uplink *uplink;
    struct plat_bridge *bridge; /* NULL for a plain-TCP upstream */
};

/**
 * Create both clients (not connected) and start the TLS bridge if the
 * upstream URI asks for TLS. cfg is borrowed for the call. With
 * fleet.enabled and inbound not NULL, the uplink subscribes to
 * fleet.config_topic and hands what arrives to inbound (borrowed; must
 * outlive the links). Returns WR_OK,
 * WR_E_INVAL (a URI or setting Paho refuses), WR_E_NOMEM or the bridge's
 * error (TLS files unreadable, ...); on error nothing is left open.
 */
int wr_links_open(const struct wr_config *cfg, const struct wr_uplink_inbound *inbound,
                  struct wr_links *out);

/**
 * Stop and free what wr_links_open made (the pipeline has stopped the
 * clients already when it ran); a zeroed struct is fine.
 */
void wr_links_close(struct wr_links *links);

#endif /* WR_LINKS_H */
