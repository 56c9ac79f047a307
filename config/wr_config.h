#ifndef WR_CONFIG_H
#define WR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The config model: one JSON file, fully validated at load. Every field has
 * a documented default (config/SCHEMA.md) except the required ones. Strings
 * are stored in fixed buffers: the model is built once at start (or reload)
 * and never on the event path.
 */

#define WR_CFG_NAME_MAX 64    /* ids, stream names, field names, client ids */
#define WR_CFG_STR_MAX 256    /* URIs, paths, topics, templates */
#define WR_CFG_MAX_STREAMS 64
#define WR_CFG_MAX_ERRORS 32
#define WR_CFG_ERROR_LEN 256
#define WR_CFG_MAX_QUANTILES 8

enum wr_payload_format {
    WR_FORMAT_AUTO = 0, /* JSON object, bare number or SenML array, detected per message */
    WR_FORMAT_JSON,
    WR_FORMAT_NUMBER,
    WR_FORMAT_SENML,
};

enum wr_time_unit {
    WR_TIME_AUTO = 0, /* numbers below 1e11 are seconds, larger ones milliseconds */
    WR_TIME_S,
    WR_TIME_MS,
};

enum wr_late_policy {
    WR_LATE_DROP = 0,   /* count and drop events for windows already emitted */
    WR_LATE_REVISE,     /* emit a new revision of the already-sent window */
};

enum wr_shed_mode {
    WR_SHED_DROP = 0,
    WR_SHED_SAMPLE,
};

enum wr_upstream_encoding {
    WR_UPSTREAM_JSON = 0,
    WR_UPSTREAM_CBOR,
};

enum wr_upstream_compression {
    WR_UPSTREAM_COMPRESS_NONE = 0,
    WR_UPSTREAM_COMPRESS_ZSTD,
};

enum wr_on_full {
    WR_ON_FULL_ROLLUP = 0, /* roll old outbox results into coarser windows, then drop oldest */
    WR_ON_FULL_DROP_OLDEST,
};

struct wr_tls_config {
    char ca_file[WR_CFG_STR_MAX];
    char cert_file[WR_CFG_STR_MAX];
    char key_file[WR_CFG_STR_MAX];
    char server_name[WR_CFG_STR_MAX];
};

struct wr_filter_config {
    bool has_min;
    bool has_max;
    double min;
    double max;
    double deadband;          /* 0 disables */
    uint32_t min_interval_ms; /* 0 disables */
    bool dedup;               /* drop exact repeats of (key, time, value) */
    uint32_t max_silence_ms;  /* deadband: let one through after this much suppression; 0 off */
};

struct wr_stream_config {
    char name[WR_CFG_NAME_MAX];
    char match[WR_CFG_STR_MAX];        /* MQTT topic filter, may use + and # */
    char key[WR_CFG_STR_MAX];          /* key template, see SCHEMA.md */
    enum wr_payload_format format;
    char value_field[WR_CFG_NAME_MAX]; /* JSON object: member holding the value */
    char time_field[WR_CFG_NAME_MAX];  /* JSON object: member holding the time; "" = none */
    enum wr_time_unit time_unit;
    uint32_t window_size_s;
    uint32_t allowed_lateness_s;
    enum wr_late_policy late_policy;
    uint32_t revise_horizon_s;         /* how long after closing a window stays revisable */
    uint32_t max_future_s;             /* event times further ahead of the clock are dropped */
    unsigned aggregates;               /* WR_AGG_* bits */
    struct wr_filter_config filter;
    double quantiles[WR_CFG_MAX_QUANTILES]; /* increasing, in [0, 1] */
    size_t n_quantiles;                     /* 0: no quantiles */
    struct {
        double accuracy;      /* relative error bound of the quantiles */
        uint32_t max_buckets; /* per sign, per window */
        bool upstream;        /* send the sketch itself with each result */
    } sketch;                 /* windows carry a sketch when n_quantiles > 0 or upstream */
    uint8_t priority;                  /* 0 (lowest) .. 9 (highest) */
    uint32_t max_keys;                 /* distinct keys with open windows */
};

struct wr_config {
    struct {
        char id[WR_CFG_NAME_MAX];
        char state_dir[WR_CFG_STR_MAX];
        char log_level[16];
        char paho_trace[16];         /* Paho's trace level, process-wide */
        bool watch_config;           /* reload when the config file changes */
        uint32_t reload_debounce_ms; /* quiet time after the last change before reloading */
    } agent;
    struct {
        char uri[WR_CFG_STR_MAX];
        char client_id[WR_CFG_NAME_MAX];
        int qos;
        char username[WR_CFG_NAME_MAX];
        char password[WR_CFG_STR_MAX];
        uint32_t keepalive_s;
        uint32_t max_payload_bytes;
    } source;
    struct {
        char uri[WR_CFG_STR_MAX];
        char client_id[WR_CFG_NAME_MAX];
        char topic[WR_CFG_STR_MAX];        /* template; {agent} is replaced by agent.id */
        char status_topic[WR_CFG_STR_MAX]; /* template; "" disables status publishing */
        int qos;
        char username[WR_CFG_NAME_MAX];
        char password[WR_CFG_STR_MAX];
        uint32_t keepalive_s;
        uint32_t max_inflight;             /* upstream messages awaiting PUBACK */
        uint32_t resend_per_s;             /* backlog pace, results per second */
        uint32_t reconnect_min_ms;
        uint32_t reconnect_max_ms;
        struct wr_tls_config tls;
        enum wr_upstream_encoding encoding;
        enum wr_upstream_compression compression;
        struct {
            uint32_t max_results;
            uint32_t max_bytes;
            uint32_t max_delay_ms;
        } batch;
    } upstream;
    struct wr_stream_config streams[WR_CFG_MAX_STREAMS];
    size_t n_streams;
    struct {
        uint32_t queue_capacity;     /* events between ingest and the window engine */
        uint8_t shed_enter_pct;
        uint8_t shed_leave_pct;
        uint8_t critical_enter_pct;
        uint8_t critical_leave_pct;
        enum wr_shed_mode shed_mode;
        uint32_t sample_keep_one_in; /* WR_SHED_SAMPLE: keep one event in N */
        uint32_t max_keys_total;
        uint64_t memory_budget_bytes; /* window engine tables */
    } backpressure;
    struct {
        uint32_t checkpoint_interval_ms;
        uint64_t max_bytes;
        enum wr_on_full on_full;
        char runtime_dir[WR_CFG_STR_MAX]; /* RAM-backed crash journal + snapshots; "" = off */
        uint32_t journal_bytes;           /* crash journal ring size */
        uint32_t snapshot_interval_ms;    /* window snapshots into runtime_dir */
    } storage;
    struct {
        char file[WR_CFG_STR_MAX]; /* Prometheus textfile; "" disables */
        uint32_t interval_ms;
    } metrics;
    struct {
        bool enabled;                     /* take signed configs pushed over upstream */
        char keys_dir[WR_CFG_STR_MAX];    /* trusted public keys: <key_id>.pem */
        char config_topic[WR_CFG_STR_MAX]; /* template; {agent} is replaced by agent.id */
        char state_topic[WR_CFG_STR_MAX];  /* template; outcome reports */
        uint32_t max_envelope_bytes;
        uint32_t confirm_timeout_ms;      /* changed links must come up within this */
    } fleet;
};

/** Validation messages, each naming the field path, e.g. "streams[1].window.size_s: ...". */
struct wr_config_errors {
    size_t count;
    char msg[WR_CFG_MAX_ERRORS][WR_CFG_ERROR_LEN];
};

/** Fill cfg with every default; required fields stay empty. */
void wr_config_defaults(struct wr_config *cfg);

/**
 * Parse and validate a JSON config text. On WR_OK *out is a new config
 * (free with wr_config_free). On WR_E_PARSE (not JSON) or WR_E_INVAL
 * (validation failed) errs lists every problem found and *out is untouched.
 * WR_E_NOMEM on allocation failure. errs may be NULL.
 */
int wr_config_parse(const char *json, size_t len, struct wr_config **out,
                    struct wr_config_errors *errs);

/** As wr_config_parse, reading the file at path; WR_E_IO names the file in errs. */
int wr_config_load_file(const char *path, struct wr_config **out, struct wr_config_errors *errs);

/** Free a config from wr_config_parse/load_file; NULL does nothing. */
void wr_config_free(struct wr_config *cfg);

/**
 * The effective config (defaults included) as indented JSON that
 * wr_config_parse accepts again. Caller frees with plat_free. NULL on NOMEM.
 */
char *wr_config_to_json(const struct wr_config *cfg);

/**
 * Expand a topic template: "{agent}" becomes agent_id. Returns WR_OK or
 * WR_E_TOOBIG when the result does not fit out_len.
 */
int wr_config_expand_topic(const char *tmpl, const char *agent_id, char *out, size_t out_len);

#endif /* WR_CONFIG_H */
