#include "ingest.h"

#include <MQTTAsync.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "plat_log.h"
#include "plat_mem.h"
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
};

static void subscribe_all(struct wr_ingest *ing);

static void on_subscribe_ok(void *context, MQTTAsync_successData *response)
{
    struct wr_ingest *ing = context;

    (void)response;
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

/* Called after the first connect and after every automatic reconnect. */
static void on_connected(void *context, char *cause)
{
    struct wr_ingest *ing = context;

    (void)cause;
    PLAT_INFO(MOD, "connected to the local broker");
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
    plat_free(ing);
}
