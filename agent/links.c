#include "links.h"

#include <stdio.h>
#include <string.h>

#include "plat_log.h"
#include "plat_time.h"
#include "plat_uri.h"
#include "wr_error.h"

#define MOD "links"

static void on_bridge_event(void *ctx, enum plat_bridge_event ev, const char *detail)
{
    static struct plat_log_limiter lim;

    (void)ctx;
    switch (ev) {
    case PLAT_BRIDGE_TLS_UP:
        PLAT_INFO(MOD, "TLS session up: %s", detail != NULL ? detail : "");
        break;
    case PLAT_BRIDGE_TLS_FAILED:
        plat_log_limited(&lim, 10000, PLAT_LOG_ERROR, MOD, "upstream TLS failed: %s",
                         detail != NULL ? detail : "no reason");
        break;
    case PLAT_BRIDGE_FOREIGN_REFUSED:
        PLAT_WARN(MOD, "refused a connection to the TLS bridge from another process: %s",
                  detail != NULL ? detail : "");
        break;
    default:
        break;
    }
}

static int open_uplink(const struct wr_config *cfg, const struct wr_uplink_inbound *inbound,
                       struct wr_links *l)
{
    struct wr_uplink_params up;
    struct plat_uri uri;
    char bridge_uri[64];
    char will_topic[WR_CFG_STR_MAX];
    char config_topic[WR_CFG_STR_MAX];
    int rc;

    rc = plat_uri_parse(cfg->upstream.uri, &uri);
    if (rc != WR_OK) {
        PLAT_ERROR(MOD, "upstream.uri: cannot parse %s", cfg->upstream.uri);
        return rc;
    }
    memset(&up, 0, sizeof(up));
    up.uri = cfg->upstream.uri;
    if (uri.tls) {
        struct plat_bridge_config bc;
        struct plat_tls_config tc;

        memset(&bc, 0, sizeof(bc));
        memset(&tc, 0, sizeof(tc));
        tc.ca_file = cfg->upstream.tls.ca_file;
        tc.cert_file = cfg->upstream.tls.cert_file[0] ? cfg->upstream.tls.cert_file : NULL;
        tc.key_file = cfg->upstream.tls.key_file[0] ? cfg->upstream.tls.key_file : NULL;
        tc.server_name = cfg->upstream.tls.server_name[0] ? cfg->upstream.tls.server_name : NULL;
        bc.host = uri.host;
        bc.port = uri.port;
        bc.tls = tc;
        bc.connect_timeout_ms = 10000;
        bc.on_event = on_bridge_event;
        rc = plat_bridge_start(&bc, &l->bridge);
        if (rc != WR_OK) {
            PLAT_ERROR(MOD, "cannot start the TLS bridge: %s", wr_strerror(rc));
            return rc;
        }
        snprintf(bridge_uri, sizeof(bridge_uri), "tcp://127.0.0.1:%u",
                 (unsigned)plat_bridge_port(l->bridge));
        up.uri = bridge_uri;
        PLAT_INFO(MOD, "upstream %s over TLS (mbedTLS) via in-process bridge", cfg->upstream.uri);
    } else {
        PLAT_WARN(MOD, "upstream %s is plain TCP: results travel unencrypted", cfg->upstream.uri);
    }
    up.client_id = cfg->upstream.client_id;
    if (wr_config_expand_topic(cfg->upstream.status_topic, cfg->agent.id, will_topic,
                               sizeof(will_topic)) == WR_OK)
        up.will_topic = will_topic;
    if (cfg->fleet.enabled && inbound != NULL &&
        wr_config_expand_topic(cfg->fleet.config_topic, cfg->agent.id, config_topic,
                               sizeof(config_topic)) == WR_OK) {
        up.subscribe_topic = config_topic;
        up.inbound = inbound;
    }
    up.username = cfg->upstream.username;
    up.password = cfg->upstream.password;
    up.keepalive_s = cfg->upstream.keepalive_s;
    up.qos = cfg->upstream.qos;
    up.max_inflight = cfg->upstream.max_inflight;
    up.reconnect_min_ms = cfg->upstream.reconnect_min_ms;
    up.reconnect_max_ms = cfg->upstream.reconnect_max_ms;
    up.jitter_seed = (uint64_t)plat_time_wall_ms() ^ (uint64_t)plat_time_mono_ms() << 17;
    return wr_uplink_create(&up, &l->uplink);
}

static int open_source(const struct wr_config *cfg, struct wr_links *l)
{
    const char *filters[WR_CFG_MAX_STREAMS];
    struct wr_ingest_params ip;

    for (size_t s = 0; s < cfg->n_streams; s++)
        filters[s] = cfg->streams[s].match;
    memset(&ip, 0, sizeof(ip));
    ip.uri = cfg->source.uri;
    ip.client_id = cfg->source.client_id;
    ip.username = cfg->source.username;
    ip.password = cfg->source.password;
    ip.keepalive_s = cfg->source.keepalive_s;
    ip.qos = cfg->source.qos;
    ip.filters = filters;
    ip.n_filters = cfg->n_streams;
    ip.paho_trace = cfg->agent.paho_trace;
    ip.state_dir = cfg->agent.state_dir;
    return wr_ingest_create(&ip, &l->source);
}

int wr_links_open(const struct wr_config *cfg, const struct wr_uplink_inbound *inbound,
                  struct wr_links *out)
{
    int rc;

    if (cfg == NULL || out == NULL)
        return WR_E_INVAL;
    memset(out, 0, sizeof(*out));
    rc = open_uplink(cfg, inbound, out);
    if (rc == WR_OK)
        rc = open_source(cfg, out);
    if (rc != WR_OK)
        wr_links_close(out);
    return rc;
}

void wr_links_close(struct wr_links *l)
{
    if (l == NULL)
        return;
    /* The source first: it is the one whose callbacks reach into the pipeline. */
    wr_ingest_destroy(l->source, 0);
    wr_uplink_destroy(l->uplink, 1000);
    plat_bridge_stop(l->bridge);
    memset(l, 0, sizeof(*l));
}
