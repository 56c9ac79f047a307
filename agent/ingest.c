#include "ingest.h"

#include <MQTTAsync.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plat_log.h"
#include "plat_mem.h"
#include "sub_record.h"
#include "wr_error.h"

#define MOD "ingest"

struct wr_ingest {
    MQTTAsync client;
    char **filters;
    int *qos;
    size_t n_filters;
    char *username;
    char *password;
    uint32_t keepalive_s;
    const struct wr_ingest_handlers *handlers;
    bool started;
    atomic_bool subscribed;
    atomic_bool stopping;
    /*
     * The session's subscription record (sub_record.h); remember is false
     * without a usable state dir. recorded is what the file holds, a
     * superset of the session's filters; stale is the part of it the config
     * no longer has, unsubscribed at connect. After create these change only
     * in Paho's callbacks, which Paho runs one at a time.
     */
    bool remember;
    char *state_dir;
    char record_path[WR_SUB_RECORD_PATH_MAX];
    struct wr_sub_record configured;
    struct wr_sub_record recorded;
    struct wr_sub_record stale;
    bool stale_unsubscribed; /* the broker confirmed; the record may shrink to configured */
};

static void subscribe_all(struct wr_ingest *ing);

/* "a, b, c" into out, cut short with "..." where it does not fit. */
static const char *list_filters(const struct wr_sub_record *rec, char *out, size_t n)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < rec->n_filters && used < n; i++) {
        int w = snprintf(out + used, n - used, "%s%s", i > 0 ? ", " : "", rec->filters[i]);

        if (w < 0 || (size_t)w >= n - used) {
            if (n > 4)
                memcpy(out + n - 4, "...", 4);
            break;
        }
        used += (size_t)w;
    }
    return out;
}

/*
 * The stale filters are gone from the session: the record shrinks to the
 * configured ones. This runs in Paho's callback and writes a small file
 * with two fsyncs, once after a change of the filters; not worth a thread.
 * If the write fails the record keeps them, and they are unsubscribed
 * again (a no-op for the broker) at the next start.
 */
static void shrink_record(struct wr_ingest *ing)
{
    struct wr_sub_record now;
    int rc;

    if (!ing->remember || !ing->stale_unsubscribed || ing->stale.n_filters == 0)
        return;
    rc = wr_sub_record_init(&now, ing->configured.uri, ing->configured.client_id);
    for (size_t i = 0; rc == WR_OK && i < ing->configured.n_filters; i++)
        rc = wr_sub_record_add(&now, ing->configured.filters[i]);
    if (rc == WR_OK)
        rc = wr_sub_record_save(ing->state_dir, ing->record_path, &now);
    if (rc != WR_OK) {
        PLAT_ERROR(MOD,
                   "cannot update the subscription record %s (%s); it keeps the "
                   "unsubscribed filters until the next start",
                   ing->record_path, wr_strerror(rc));
        wr_sub_record_clear(&now);
        return;
    }
    wr_sub_record_clear(&ing->recorded);
    ing->recorded = now;
    wr_sub_record_clear(&ing->stale);
    ing->stale_unsubscribed = false;
    PLAT_INFO(MOD, "subscription record %s now holds the %zu configured filter(s)",
              ing->record_path, now.n_filters);
}

/* Name each filter the broker refused (granted QoS 0x80); they are not subscribed. */
static void log_refused(const struct wr_ingest *ing, const MQTTAsync_successData *response)
{
    for (size_t i = 0; response != NULL && i < ing->n_filters; i++) {
        int granted = ing->n_filters == 1     ? response->alt.qos
                      : response->alt.qosList ? response->alt.qosList[i]
                                              : 0;

        if (granted == 0x80)
            PLAT_ERROR(MOD, "the local broker refused the subscription to %s (not authorised?)",
                       ing->filters[i]);
    }
}

static void on_subscribe_ok(void *context, MQTTAsync_successData *response)
{
    struct wr_ingest *ing = context;

    log_refused(ing, response);
    shrink_record(ing);
    atomic_store(&ing->subscribed, true);
    PLAT_INFO(MOD, "subscribed to %zu topic filter(s)", ing->n_filters);
    if (ing->handlers->connection != NULL)
        ing->handlers->connection(ing->handlers->sink, true);
}

static void on_subscribe_failed(void *context, MQTTAsync_failureData *response)
{
    struct wr_ingest *ing = context;

    PLAT_ERROR(MOD, "subscribe failed (code %d): %s", response ? response->code : 0,
               response && response->message ? response->message : "no reason given");
    (void)ing;
}

static void subscribe_all(struct wr_ingest *ing)
{
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    int rc;

    opts.onSuccess = on_subscribe_ok;
    opts.onFailure = on_subscribe_failed;
    opts.context = ing;
    rc = MQTTAsync_subscribeMany(ing->client, (int)ing->n_filters, ing->filters, ing->qos, &opts);
    if (rc != MQTTASYNC_SUCCESS)
        PLAT_ERROR(MOD, "subscribe request failed: Paho code %d", rc);
}

static void on_unsubscribe_ok(void *context, MQTTAsync_successData *response)
{
    struct wr_ingest *ing = context;
    char list[512];

    (void)response;
    ing->stale_unsubscribed = true;
    PLAT_INFO(MOD, "unsubscribed %zu topic filter(s) no longer in the config: %s",
              ing->stale.n_filters, list_filters(&ing->stale, list, sizeof(list)));
    subscribe_all(ing);
}

static void on_unsubscribe_failed(void *context, MQTTAsync_failureData *response)
{
    struct wr_ingest *ing = context;

    /* Paho fails a request when the connection drops; the next connect tries again. */
    PLAT_WARN(MOD,
              "unsubscribing the removed topic filters failed (code %d): %s; tried again at "
              "the next connect",
              response ? response->code : 0,
              response && response->message ? response->message : "no reason given");
    subscribe_all(ing);
}

/* Take the stale filters out of the session; subscribe_all follows when the broker answers. */
static void unsubscribe_stale(struct wr_ingest *ing)
{
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    int rc;

    opts.onSuccess = on_unsubscribe_ok;
    opts.onFailure = on_unsubscribe_failed;
    opts.context = ing;
    rc = MQTTAsync_unsubscribeMany(ing->client, (int)ing->stale.n_filters, ing->stale.filters,
                                   &opts);
    if (rc != MQTTASYNC_SUCCESS) {
        PLAT_ERROR(MOD, "unsubscribe request failed: Paho code %d", rc);
        subscribe_all(ing);
    }
}

/* Called after the first connect and after every automatic reconnect. */
static void on_connected(void *context, char *cause)
{
    struct wr_ingest *ing = context;

    (void)cause;
    PLAT_INFO(MOD, "connected to the local broker");
    /*
     * Removed filters go first, so that when the subscription is confirmed
     * (and the source reported up) the session holds the configured filters
     * and no others. Messages the broker queued for the removed ones while
     * Windrow was away still arrive (the broker sends its queue at connect,
     * before any request of ours): no stream matches them and they are
     * counted as unknown_topic.
     */
    if (ing->stale.n_filters > 0 && !ing->stale_unsubscribed) {
        unsubscribe_stale(ing);
        return;
    }
    /* The persistent session keeps subscriptions, but renewing them is cheap
     * and covers a broker that lost its session store. */
    subscribe_all(ing);
}

static void on_connect_failed(void *context, MQTTAsync_failureData *response)
{
    static struct plat_log_limiter lim;

    (void)context;
    plat_log_limited(&lim, 10000, PLAT_LOG_WARN, MOD,
                     "cannot connect to the local broker (code %d): %s; retrying",
                     response ? response->code : 0,
                     response && response->message ? response->message : "no reason given");
}

static void on_connection_lost(void *context, char *cause)
{
    struct wr_ingest *ing = context;

    atomic_store(&ing->subscribed, false);
    if (atomic_load(&ing->stopping))
        return;
    PLAT_WARN(MOD, "lost the local broker%s%s; reconnecting", cause ? ": " : "",
              cause ? cause : "");
    if (ing->handlers->connection != NULL)
        ing->handlers->connection(ing->handlers->sink, false);
}

static int on_message_arrived(void *context, char *topic, int topic_len, MQTTAsync_message *msg)
{
    struct wr_ingest *ing = context;
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    bool taken;

    taken = ing->handlers->message(ing->handlers->sink, topic, tlen, msg->payload,
                                   msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0);
    if (!taken)
        return 0; /* Paho keeps the message and offers it again. */
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

static int copy_filters(struct wr_ingest *ing, const struct wr_ingest_params *p)
{
    ing->filters = plat_calloc(p->n_filters, sizeof(*ing->filters));
    ing->qos = plat_calloc(p->n_filters, sizeof(*ing->qos));
    if (ing->filters == NULL || ing->qos == NULL)
        return WR_E_NOMEM;
    ing->n_filters = p->n_filters;
    for (size_t i = 0; i < p->n_filters; i++) {
        ing->filters[i] = plat_strdup(p->filters[i]);
        if (ing->filters[i] == NULL)
            return WR_E_NOMEM;
        ing->qos[i] = p->qos;
    }
    return WR_OK;
}

/*
 * Debian builds Paho with its tracing compiled in: at Paho's default level
 * every Paho function records its entry and exit under a mutex
 * (docs/decisions.md has the measurement). ERROR is the lowest level Paho
 * accepts and still keeps errors. The level is process-wide, so this one
 * call covers the uplink's client too. Someone debugging Paho with
 * MQTT_C_CLIENT_TRACE gets the level Paho's environment variables ask for.
 */
static void set_paho_trace(const char *name)
{
    static const struct {
        const char *name;
        enum MQTTASYNC_TRACE_LEVELS level;
    } levels[] = {
        {"error", MQTTASYNC_TRACE_ERROR},     {"protocol", MQTTASYNC_TRACE_PROTOCOL},
        {"minimum", MQTTASYNC_TRACE_MINIMUM}, {"medium", MQTTASYNC_TRACE_MEDIUM},
        {"maximum", MQTTASYNC_TRACE_MAXIMUM},
    };
    enum MQTTASYNC_TRACE_LEVELS level = MQTTASYNC_TRACE_ERROR;

    if (getenv("MQTT_C_CLIENT_TRACE") != NULL)
        return;
    for (size_t i = 0; name != NULL && i < sizeof(levels) / sizeof(levels[0]); i++)
        if (strcmp(name, levels[i].name) == 0)
            level = levels[i].level;
    MQTTAsync_setTraceLevel(level);
}

/*
 * Read what the session was last known to hold, note what the config no
 * longer has (stale), and record the configured filters before they are
 * subscribed: a crash between SUBSCRIBE and the record must not leave a
 * filter in the session that no record names. Only allocation failures
 * fail; without a usable record the client runs as before, said in the log.
 */
static int prepare_record(struct wr_ingest *ing, const struct wr_ingest_params *p)
{
    char list[512];
    bool grows = false;
    int rc;

    if (p->state_dir == NULL || p->state_dir[0] == '\0')
        return WR_OK;
    if (wr_sub_record_path(p->state_dir, p->uri, p->client_id, ing->record_path,
                           sizeof(ing->record_path)) != WR_OK ||
        wr_sub_record_init(&ing->configured, p->uri, p->client_id) != WR_OK ||
        wr_sub_record_init(&ing->stale, p->uri, p->client_id) != WR_OK) {
        PLAT_ERROR(MOD, "state dir, URI or client id too long for a subscription record: topic "
                        "filters removed from the config will stay subscribed");
        return WR_OK;
    }
    ing->state_dir = plat_strdup(p->state_dir);
    if (ing->state_dir == NULL)
        return WR_E_NOMEM;
    for (size_t i = 0; i < p->n_filters; i++) {
        rc = wr_sub_record_add(&ing->configured, p->filters[i]);
        if (rc != WR_OK)
            return rc == WR_E_NOMEM ? rc : WR_E_INVAL;
    }
    /* Load logs every outcome. Missing and corrupt records leave recorded empty. */
    rc = wr_sub_record_load(ing->record_path, p->uri, p->client_id, &ing->recorded);
    if (rc == WR_E_NOMEM || rc == WR_E_INVAL)
        return rc;
    /* A record that exists but cannot be read now is not overwritten: it may
     * still be read at the next start. */
    if (rc != WR_OK && rc != WR_E_NOTFOUND && rc != WR_E_CORRUPT)
        return WR_OK;
    ing->remember = true;
    for (size_t i = 0; i < ing->recorded.n_filters; i++)
        if (!wr_sub_record_has(&ing->configured, ing->recorded.filters[i])) {
            rc = wr_sub_record_add(&ing->stale, ing->recorded.filters[i]);
            if (rc != WR_OK)
                return rc;
        }
    for (size_t i = 0; i < ing->configured.n_filters; i++) {
        if (wr_sub_record_has(&ing->recorded, ing->configured.filters[i]))
            continue;
        grows = true;
        rc = wr_sub_record_add(&ing->recorded, ing->configured.filters[i]);
        if (rc == WR_E_NOMEM)
            return rc;
        if (rc != WR_OK)
            PLAT_ERROR(MOD,
                       "subscription record %s is full (%u filters): %s is subscribed "
                       "without being recorded",
                       ing->record_path, WR_SUB_RECORD_MAX_FILTERS, ing->configured.filters[i]);
    }
    if (grows) {
        rc = wr_sub_record_save(ing->state_dir, ing->record_path, &ing->recorded);
        if (rc != WR_OK)
            PLAT_ERROR(MOD,
                       "cannot write the subscription record %s (%s): a topic filter "
                       "removed from the config later may stay subscribed on %s",
                       ing->record_path, wr_strerror(rc), p->uri);
    }
    if (ing->stale.n_filters > 0)
        PLAT_INFO(MOD,
                  "%zu topic filter(s) subscribed by an earlier config are no longer "
                  "configured; unsubscribing them at connect: %s",
                  ing->stale.n_filters, list_filters(&ing->stale, list, sizeof(list)));
    return WR_OK;
}

int wr_ingest_create(const struct wr_ingest_params *p, struct wr_ingest **out)
{
    MQTTAsync_createOptions copts = MQTTAsync_createOptions_initializer;
    struct wr_ingest *ing;
    int rc;

    if (p == NULL || out == NULL || p->uri == NULL || p->client_id == NULL || p->n_filters == 0 ||
        p->n_filters > 1000)
        return WR_E_INVAL;
    ing = plat_calloc(1, sizeof(*ing));
    if (ing == NULL)
        return WR_E_NOMEM;
    ing->keepalive_s = p->keepalive_s;
    rc = copy_filters(ing, p);
    if (rc != WR_OK)
        goto fail;
    rc = prepare_record(ing, p);
    if (rc != WR_OK)
        goto fail;
    if (p->username != NULL && p->username[0] != '\0') {
        ing->username = plat_strdup(p->username);
        ing->password = plat_strdup(p->password != NULL ? p->password : "");
        if (ing->username == NULL || ing->password == NULL) {
            rc = WR_E_NOMEM;
            goto fail;
        }
    }
    copts.MQTTVersion = MQTTVERSION_3_1_1;
    /* Our durability is the broker's persistent session plus SQLite, not Paho's files. */
    if (MQTTAsync_createWithOptions(&ing->client, p->uri, p->client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                    NULL, &copts) != MQTTASYNC_SUCCESS) {
        PLAT_ERROR(MOD, "cannot create MQTT client for %s", p->uri);
        rc = WR_E_INVAL;
        goto fail;
    }
    set_paho_trace(p->paho_trace);
    MQTTAsync_setCallbacks(ing->client, ing, on_connection_lost, on_message_arrived, NULL);
    MQTTAsync_setConnected(ing->client, ing, on_connected);
    *out = ing;
    return WR_OK;
fail:
    wr_ingest_destroy(ing, 0);
    return rc;
}

static int paho_start(struct wr_ingest *ing, const struct wr_ingest_handlers *handlers)
{
    MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
    int rc;

    if (ing == NULL || handlers == NULL || handlers->message == NULL)
        return WR_E_INVAL;
    if (ing->started)
        return WR_E_STATE;
    ing->handlers = handlers;
    opts.keepAliveInterval = (int)ing->keepalive_s;
    opts.cleansession = 0;
    opts.automaticReconnect = 1;
    opts.minRetryInterval = 1;
    opts.maxRetryInterval = 30;
    opts.connectTimeout = 10;
    opts.MQTTVersion = MQTTVERSION_3_1_1;
    opts.username = ing->username;
    opts.password = ing->password;
    opts.onFailure = on_connect_failed;
    opts.context = ing;
    rc = MQTTAsync_connect(ing->client, &opts);
    if (rc != MQTTASYNC_SUCCESS) {
        PLAT_ERROR(MOD, "connect request failed: Paho code %d", rc);
        return WR_E_CONN;
    }
    ing->started = true;
    return WR_OK;
}

bool wr_ingest_connected(const struct wr_ingest *ing)
{
    return ing != NULL && atomic_load(&ing->subscribed);
}

static void paho_stop(struct wr_ingest *ing, uint32_t timeout_ms)
{
    if (ing == NULL)
        return;
    atomic_store(&ing->stopping, true);
    if (ing->client != NULL) {
        if (MQTTAsync_isConnected(ing->client)) {
            MQTTAsync_disconnectOptions dopts = MQTTAsync_disconnectOptions_initializer;

            dopts.timeout = (int)timeout_ms;
            MQTTAsync_disconnect(ing->client, &dopts);
        }
        MQTTAsync_destroy(&ing->client);
    }
}

const struct wr_ingest_ops wr_ingest_paho_ops = {
    .start = paho_start,
    .stop = paho_stop,
};

void wr_ingest_destroy(struct wr_ingest *ing, uint32_t timeout_ms)
{
    if (ing == NULL)
        return;
    paho_stop(ing, timeout_ms);
    for (size_t i = 0; ing->filters != NULL && i < ing->n_filters; i++)
        plat_free(ing->filters[i]);
    plat_free(ing->filters);
    plat_free(ing->qos);
    plat_free(ing->username);
    plat_free(ing->password);
    plat_free(ing->state_dir);
    wr_sub_record_clear(&ing->configured);
    wr_sub_record_clear(&ing->recorded);
    wr_sub_record_clear(&ing->stale);
    plat_free(ing);
}
