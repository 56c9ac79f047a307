/*
 * The config schema as data: every JSON key, its type, default and range.
 * config/SCHEMA.md documents the same table for people; keep them in step.
 */
#include "config_internal.h"

#include <float.h>
#include <stdio.h>
#include <string.h>

#include "key_template.h"
#include "topic.h"
#include "wr_config.h"

const char *const wr_config__agg_names[] = {"count", "sum",  "min",    "max", "mean",
                                            "first", "last", "stddev", NULL};

static const char *const log_level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const paho_trace_names[] = {"error",  "protocol", "minimum",
                                               "medium", "maximum",  NULL};
/* Index order of these lists is the enum's value order in wr_config.h. */
static const char *const format_names[] = {"auto", "json", "number", "senml", NULL};
static const char *const time_unit_names[] = {"auto", "s", "ms", NULL};
static const char *const late_policy_names[] = {"drop", "revise", NULL};
static const char *const shed_mode_names[] = {"drop", "sample", NULL};
static const char *const on_full_names[] = {"rollup", "drop_oldest", NULL};
static const char *const encoding_names[] = {"json", "cbor", NULL};
static const char *const compression_names[] = {"none", "zstd", NULL};

_Static_assert(sizeof(enum wr_payload_format) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum wr_time_unit) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum wr_late_policy) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum wr_shed_mode) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum wr_on_full) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum wr_upstream_encoding) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum wr_upstream_compression) == sizeof(int), "enums are stored as int");

static bool is_name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

/* Agent ids and stream names end up in topics, keys and metric labels: keep them plain. */
static bool check_name(const char *v, char *why, size_t why_len)
{
    if (v[0] == '\0') {
        snprintf(why, why_len, "must not be empty");
        return false;
    }
    for (const char *p = v; *p != '\0'; p++) {
        if (!is_name_char(*p)) {
            snprintf(why, why_len, "may contain only letters, digits, '_', '.' and '-'");
            return false;
        }
    }
    return true;
}

/* Accepts "<scheme>://host[:port]" with host a name, an IPv4 address or a [bracketed] IPv6. */
static bool check_uri(const char *v, const char *const *schemes, const char *expect, char *why,
                      size_t why_len)
{
    const char *p = NULL;

    for (size_t i = 0; schemes[i] != NULL; i++) {
        size_t n = strlen(schemes[i]);

        if (strncmp(v, schemes[i], n) == 0) {
            p = v + n;
            break;
        }
    }
    if (p == NULL) {
        snprintf(why, why_len, "must start with %s", expect);
        return false;
    }
    if (*p == '[') {
        const char *end = strchr(p, ']');

        if (end == NULL || end == p + 1)
            goto bad_host;
        for (const char *q = p + 1; q < end; q++) {
            if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') ||
                  (*q >= 'A' && *q <= 'F') || *q == ':' || *q == '.'))
                goto bad_host;
        }
        p = end + 1;
    } else {
        const char *start = p;

        while (is_name_char(*p))
            p++;
        if (p == start)
            goto bad_host;
    }
    if (*p == ':') {
        unsigned long port = 0;
        const char *digits = ++p;

        while (*p >= '0' && *p <= '9' && p - digits < 6) {
            port = port * 10u + (unsigned long)(*p - '0');
            p++;
        }
        if (p == digits || port == 0 || port > 65535 || *p != '\0') {
            snprintf(why, why_len, "port must be a number from 1 to 65535");
            return false;
        }
    }
    if (*p != '\0')
        goto bad_host;
    return true;
bad_host:
    snprintf(why, why_len, "expected scheme://host[:port]");
    return false;
}

static bool check_source_uri(const char *v, char *why, size_t why_len)
{
    static const char *const schemes[] = {"tcp://", "mqtt://", NULL};

    return check_uri(v, schemes, "tcp:// or mqtt://", why, why_len);
}

static bool check_upstream_uri(const char *v, char *why, size_t why_len)
{
    static const char *const schemes[] = {"tcp://", "mqtt://", "ssl://", "mqtts://", NULL};

    return check_uri(v, schemes, "tcp://, mqtt://, ssl:// or mqtts://", why, why_len);
}

/* A topic name template: a valid topic name once {agent} is replaced (ids hold no wildcards). */
static bool check_topic_name(const char *v, char *why, size_t why_len)
{
    if (strpbrk(v, "+#") != NULL) {
        snprintf(why, why_len, "must not contain the wildcards '+' or '#'");
        return false;
    }
    return true;
}

static bool check_filter(const char *v, char *why, size_t why_len)
{
    const char *reason = NULL;

    if (wr_topic_filter_valid(v, &reason))
        return true;
    snprintf(why, why_len, "invalid topic filter: %s", reason);
    return false;
}

static bool check_key_template(const char *v, char *why, size_t why_len)
{
    const char *reason = NULL;

    if (wr_key_template_valid(v, &reason))
        return true;
    snprintf(why, why_len, "invalid key template: %s", reason);
    return false;
}

static bool check_memory_budget(double v, char *why, size_t why_len)
{
    if (v == 0.0 || v >= 65536.0)
        return true;
    snprintf(why, why_len, "must be 0 (no budget) or at least 65536");
    return false;
}

#define STR_ROW(T, key, member, dflt, fl, chk)                                                     \
    {                                                                                              \
        .name = (key), .kind = WR_CFG__STR, .flags = (fl), .off = offsetof(T, member),             \
        .size = sizeof(((T *)0)->member), .def_str = (dflt), .check_str = (chk)                    \
    }
#define STR_ENUM_ROW(T, key, member, dflt, list)                                                   \
    {                                                                                              \
        .name = (key), .kind = WR_CFG__STR_ENUM, .off = offsetof(T, member),                       \
        .size = sizeof(((T *)0)->member), .def_str = (dflt), .names = (list)                       \
    }
#define ENUM_ROW(T, key, member, dflt_index, list)                                                 \
    {                                                                                              \
        .name = (key), .kind = WR_CFG__ENUM, .off = offsetof(T, member), .def = (dflt_index),      \
        .names = (list)                                                                            \
    }
#define NUM_ROW(T, k, key, member, lo, hi, dflt)                                                   \
    {                                                                                              \
        .name = (key), .kind = (k), .off = offsetof(T, member), .min = (lo), .max = (hi),          \
        .def = (dflt)                                                                              \
    }
#define OBJ_ROW(key, table)                                                                        \
    {                                                                                              \
        .name = (key), .kind = WR_CFG__OBJECT, .sub = (table)                                      \
    }
#define END_ROW                                                                                    \
    {                                                                                              \
        .name = NULL                                                                               \
    }

#define C struct wr_config
#define S struct wr_stream_config

static const struct wr_cfg__field agent_fields[] = {
    STR_ROW(C, "id", agent.id, NULL, WR_CFG__REQUIRED, check_name),
    STR_ROW(C, "state_dir", agent.state_dir, "/var/lib/windrow", WR_CFG__NONEMPTY, NULL),
    STR_ENUM_ROW(C, "log_level", agent.log_level, "info", log_level_names),
    STR_ENUM_ROW(C, "paho_trace", agent.paho_trace, "error", paho_trace_names),
    NUM_ROW(C, WR_CFG__BOOL, "watch_config", agent.watch_config, 0, 1, 1),
    NUM_ROW(C, WR_CFG__U32, "reload_debounce_ms", agent.reload_debounce_ms, 0, 60000, 300),
    END_ROW,
};

/* client_id defaults depend on agent.id; config.c fills them in when absent. */
static const struct wr_cfg__field source_fields[] = {
    STR_ROW(C, "uri", source.uri, "tcp://127.0.0.1:1883", 0, check_source_uri),
    STR_ROW(C, "client_id", source.client_id, NULL, WR_CFG__NONEMPTY, NULL),
    NUM_ROW(C, WR_CFG__INT, "qos", source.qos, 0, 1, 1),
    STR_ROW(C, "username", source.username, NULL, 0, NULL),
    STR_ROW(C, "password", source.password, NULL, 0, NULL),
    NUM_ROW(C, WR_CFG__U32, "keepalive_s", source.keepalive_s, 5, 3600, 30),
    NUM_ROW(C, WR_CFG__U32, "max_payload_bytes", source.max_payload_bytes, 16, 1048576, 65536),
    END_ROW,
};

static const struct wr_cfg__field reconnect_fields[] = {
    NUM_ROW(C, WR_CFG__U32, "min_ms", upstream.reconnect_min_ms, 100, 600000, 1000),
    NUM_ROW(C, WR_CFG__U32, "max_ms", upstream.reconnect_max_ms, 100, 3600000, 60000),
    END_ROW,
};

static const struct wr_cfg__field tls_fields[] = {
    STR_ROW(C, "ca_file", upstream.tls.ca_file, NULL, 0, NULL),
    STR_ROW(C, "cert_file", upstream.tls.cert_file, NULL, 0, NULL),
    STR_ROW(C, "key_file", upstream.tls.key_file, NULL, 0, NULL),
    STR_ROW(C, "server_name", upstream.tls.server_name, NULL, 0, NULL),
    END_ROW,
};

static const struct wr_cfg__field batch_fields[] = {
    NUM_ROW(C, WR_CFG__U32, "max_results", upstream.batch.max_results, 1, 10000, 100),
    NUM_ROW(C, WR_CFG__U32, "max_bytes", upstream.batch.max_bytes, 1024, 1048576, 16384),
    NUM_ROW(C, WR_CFG__U32, "max_delay_ms", upstream.batch.max_delay_ms, 0, 3600000, 1000),
    END_ROW,
};

static const struct wr_cfg__field upstream_fields[] = {
    STR_ROW(C, "uri", upstream.uri, NULL, WR_CFG__REQUIRED, check_upstream_uri),
    STR_ROW(C, "client_id", upstream.client_id, NULL, WR_CFG__NONEMPTY, NULL),
    STR_ROW(C, "topic", upstream.topic, "windrow/{agent}/results", WR_CFG__NONEMPTY,
            check_topic_name),
    STR_ROW(C, "status_topic", upstream.status_topic, "windrow/{agent}/status", 0,
            check_topic_name),
    NUM_ROW(C, WR_CFG__INT, "qos", upstream.qos, 0, 1, 1),
    STR_ROW(C, "username", upstream.username, NULL, 0, NULL),
    STR_ROW(C, "password", upstream.password, NULL, 0, NULL),
    NUM_ROW(C, WR_CFG__U32, "keepalive_s", upstream.keepalive_s, 5, 3600, 30),
    NUM_ROW(C, WR_CFG__U32, "max_inflight", upstream.max_inflight, 1, 1000, 8),
    NUM_ROW(C, WR_CFG__U32, "resend_per_s", upstream.resend_per_s, 1, 1000000, 2000),
    OBJ_ROW("reconnect", reconnect_fields),
    OBJ_ROW("tls", tls_fields),
    ENUM_ROW(C, "encoding", upstream.encoding, WR_UPSTREAM_JSON, encoding_names),
    ENUM_ROW(C, "compression", upstream.compression, WR_UPSTREAM_COMPRESS_NONE, compression_names),
    OBJ_ROW("batch", batch_fields),
    END_ROW,
};

static const struct wr_cfg__field window_fields[] = {
    NUM_ROW(S, WR_CFG__U32, "size_s", window_size_s, 1, 86400, 60),
    NUM_ROW(S, WR_CFG__U32, "allowed_lateness_s", allowed_lateness_s, 0, 86400, 0),
    ENUM_ROW(S, "late_policy", late_policy, WR_LATE_DROP, late_policy_names),
    NUM_ROW(S, WR_CFG__U32, "revise_horizon_s", revise_horizon_s, 0, 604800, 3600),
    NUM_ROW(S, WR_CFG__U32, "max_future_s", max_future_s, 0, 86400, 300),
    END_ROW,
};

static const struct wr_cfg__field filter_fields[] = {
    {.name = "min",
     .kind = WR_CFG__OPT_DOUBLE,
     .off = offsetof(S, filter.min),
     .has_off = offsetof(S, filter.has_min)},
    {.name = "max",
     .kind = WR_CFG__OPT_DOUBLE,
     .off = offsetof(S, filter.max),
     .has_off = offsetof(S, filter.has_max)},
    NUM_ROW(S, WR_CFG__DOUBLE, "deadband", filter.deadband, 0, DBL_MAX, 0),
    NUM_ROW(S, WR_CFG__U32, "min_interval_ms", filter.min_interval_ms, 0, 86400000, 0),
    NUM_ROW(S, WR_CFG__BOOL, "dedup", filter.dedup, 0, 1, 0),
    NUM_ROW(S, WR_CFG__U32, "max_silence_ms", filter.max_silence_ms, 0, 86400000, 0),
    END_ROW,
};

/* The limits match agent/sketch.h (config cannot include it; the pipeline checks they agree). */
static const struct wr_cfg__field sketch_fields[] = {
    NUM_ROW(S, WR_CFG__DOUBLE, "accuracy", sketch.accuracy, 0.0001, 0.2, 0.01),
    NUM_ROW(S, WR_CFG__U32, "max_buckets", sketch.max_buckets, 16, 8192, 512),
    NUM_ROW(S, WR_CFG__BOOL, "upstream", sketch.upstream, 0, 1, 0),
    END_ROW,
};

const struct wr_cfg__field wr_config__stream_fields[] = {
    STR_ROW(S, "name", name, NULL, WR_CFG__REQUIRED, check_name),
    STR_ROW(S, "match", match, NULL, WR_CFG__REQUIRED, check_filter),
    STR_ROW(S, "key", key, "{topic}", 0, check_key_template),
    ENUM_ROW(S, "format", format, WR_FORMAT_AUTO, format_names),
    STR_ROW(S, "value_field", value_field, "value", WR_CFG__NONEMPTY, NULL),
    STR_ROW(S, "time_field", time_field, "ts", 0, NULL),
    ENUM_ROW(S, "time_unit", time_unit, WR_TIME_AUTO, time_unit_names),
    OBJ_ROW("window", window_fields),
    {.name = "aggregates",
     .kind = WR_CFG__AGGS,
     .off = offsetof(S, aggregates),
     .def = WR_CFG__AGG_ALL,
     .names = wr_config__agg_names},
    OBJ_ROW("filter", filter_fields),
    {.name = "quantiles",
     .kind = WR_CFG__QUANTILES,
     .off = offsetof(S, quantiles),
     .has_off = offsetof(S, n_quantiles)},
    OBJ_ROW("sketch", sketch_fields),
    NUM_ROW(S, WR_CFG__U8, "priority", priority, 0, 9, 5),
    NUM_ROW(S, WR_CFG__U32, "max_keys", max_keys, 1, 1000000, 1000),
    END_ROW,
};

static const struct wr_cfg__field backpressure_fields[] = {
    NUM_ROW(C, WR_CFG__U32, "queue_capacity", backpressure.queue_capacity, 16, 1048576, 8192),
    NUM_ROW(C, WR_CFG__U8, "shed_enter_pct", backpressure.shed_enter_pct, 1, 100, 75),
    NUM_ROW(C, WR_CFG__U8, "shed_leave_pct", backpressure.shed_leave_pct, 1, 100, 50),
    NUM_ROW(C, WR_CFG__U8, "critical_enter_pct", backpressure.critical_enter_pct, 1, 100, 95),
    NUM_ROW(C, WR_CFG__U8, "critical_leave_pct", backpressure.critical_leave_pct, 1, 100, 80),
    ENUM_ROW(C, "shed_mode", backpressure.shed_mode, WR_SHED_DROP, shed_mode_names),
    NUM_ROW(C, WR_CFG__U32, "sample_keep_one_in", backpressure.sample_keep_one_in, 1, 1000000, 10),
    NUM_ROW(C, WR_CFG__U32, "max_keys_total", backpressure.max_keys_total, 0, 10000000, 0),
    {.name = "memory_budget_bytes",
     .kind = WR_CFG__U64,
     .off = offsetof(C, backpressure.memory_budget_bytes),
     .min = 0,
     .max = WR_CFG__U64_LIMIT,
     .def = 0,
     .check_num = check_memory_budget},
    END_ROW,
};

static const struct wr_cfg__field storage_fields[] = {
    /* 30 s: the wear/loss trade-off now that the RAM journal covers process crashes
     * (docs/storage.md, "Choosing checkpoint_interval_ms"). */
    NUM_ROW(C, WR_CFG__U32, "checkpoint_interval_ms", storage.checkpoint_interval_ms, 100, 3600000,
            30000),
    NUM_ROW(C, WR_CFG__U64, "max_bytes", storage.max_bytes, 1048576, WR_CFG__U64_LIMIT, 67108864),
    ENUM_ROW(C, "on_full", storage.on_full, WR_ON_FULL_ROLLUP, on_full_names),
    STR_ROW(C, "runtime_dir", storage.runtime_dir, "/run/windrow", 0, NULL),
    NUM_ROW(C, WR_CFG__U32, "journal_bytes", storage.journal_bytes, 65536, 268435456, 1048576),
    NUM_ROW(C, WR_CFG__U32, "snapshot_interval_ms", storage.snapshot_interval_ms, 100, 60000, 1000),
    END_ROW,
};

static const struct wr_cfg__field metrics_fields[] = {
    STR_ROW(C, "file", metrics.file, NULL, 0, NULL),
    NUM_ROW(C, WR_CFG__U32, "interval_ms", metrics.interval_ms, 100, 3600000, 10000),
    END_ROW,
};

static const struct wr_cfg__field fleet_fields[] = {
    NUM_ROW(C, WR_CFG__BOOL, "enabled", fleet.enabled, 0, 1, 0),
    STR_ROW(C, "keys_dir", fleet.keys_dir, "/etc/windrow/fleet-keys", WR_CFG__NONEMPTY, NULL),
    STR_ROW(C, "config_topic", fleet.config_topic, "windrow/{agent}/config", WR_CFG__NONEMPTY,
            check_topic_name),
    STR_ROW(C, "state_topic", fleet.state_topic, "windrow/{agent}/config/state",
            WR_CFG__NONEMPTY, check_topic_name),
    NUM_ROW(C, WR_CFG__U32, "max_envelope_bytes", fleet.max_envelope_bytes, 1024, 1048576,
            262144),
    NUM_ROW(C, WR_CFG__U32, "confirm_timeout_ms", fleet.confirm_timeout_ms, 1000, 600000, 15000),
    END_ROW,
};

const struct wr_cfg__field wr_config__top_fields[] = {
    OBJ_ROW("agent", agent_fields),
    OBJ_ROW("source", source_fields),
    OBJ_ROW("upstream", upstream_fields),
    {.name = "streams", .kind = WR_CFG__STREAMS, .flags = WR_CFG__REQUIRED},
    OBJ_ROW("backpressure", backpressure_fields),
    OBJ_ROW("storage", storage_fields),
    OBJ_ROW("metrics", metrics_fields),
    OBJ_ROW("fleet", fleet_fields),
    END_ROW,
};
