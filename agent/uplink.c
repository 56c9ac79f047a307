#include "uplink.h"

#include <MQTTAsync.h>
#include <stdatomic.h>
#include <string.h>

#include "plat_backoff.h"
#include "plat_log.h"
#include "plat_mem.h"
#include "plat_thread.h"
#include "plat_time.h"
#include "wr_error.h"

#define MOD "uplink"

/*
 * A publish awaiting its PUBACK. Paho calls back with the slot as context.
 * The uplink's lock is never held while calling into Paho: Paho holds its own
 * process-wide mutex while it runs our callbacks, so holding ours across a
 * Paho call would deadlock. A PUBACK can therefore arrive while the publish
 * call has not yet returned the token; the slot parks it until it does.
 */
struct pending {
    struct wr_uplink *up;
    MQTTAsync_token token;
    MQTTAsync_token early_token;
    uint32_t tag;
    bool used;
    bool sending;   /* sendMessage has not returned yet */
    bool early;     /* an ack arrived while sending */
    bool early_ok;
};

struct wr_uplink {
    MQTTAsync client;
    char *username;
    char *password;
    uint32_t keepalive_s;
    int qos;
    wr_uplink_ack_fn on_ack;
    wr_uplink_connection_fn on_connection;
    void *ctx;

    /* Guards pending[]; never held across a call into Paho (see struct pending). */
    struct plat_mutex *lock;
    struct pending *pending;
    uint32_t max_inflight;

    struct plat_backoff backoff;
    atomic_bool connected;
    atomic_bool connecting;
    atomic_bool attempt_failed; /* set on Paho's thread, consumed by poll */
    uint64_t next_attempt_mono_ms;
    uint32_t failures;
};

static void clear_pending(struct wr_uplink *up)
{
    plat_mutex_lock(up->lock);
    for (uint32_t i = 0; i < up->max_inflight; i++)
        up->pending[i].used = false;
    plat_mutex_unlock(up->lock);
}

static void on_connect_ok(void *context, MQTTAsync_successData *response)
{
    struct wr_uplink *up = context;

    (void)response;
    atomic_store(&up->connected, true);
    atomic_store(&up->connecting, false);
    PLAT_INFO(MOD, "connected upstream");
    if (up->on_connection != NULL)
        up->on_connection(up->ctx, true);
}

static void on_connect_failed(void *context, MQTTAsync_failureData *response)
{
    struct wr_uplink *up = context;
    static struct plat_log_limiter lim;

    plat_log_limited(&lim, 10000, PLAT_LOG_WARN, MOD, "upstream connect failed (code %d): %s",
                     response ? response->code : 0,
                     response && response->message ? response->message : "no reason given");
    atomic_store(&up->attempt_failed, true);
    atomic_store(&up->connecting, false);
}

static void on_connection_lost(void *context, char *cause)
{
    struct wr_uplink *up = context;

    PLAT_WARN(MOD, "lost the upstream connection%s%s", cause ? ": " : "", cause ? cause : "");
    clear_pending(up);
    atomic_store(&up->connected, false);
    atomic_store(&up->attempt_failed, true);
    if (up->on_connection != NULL)
        up->on_connection(up->ctx, false);
}

static int on_message_arrived(void *context, char *topic, int topic_len, MQTTAsync_message *msg)
{
    /* Windrow subscribes to nothing upstream; drop anything a broker pushes. */
    (void)context;
    (void)topic_len;
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

static void finish_publish(struct pending *slot, MQTTAsync_token token, bool ok)
{
    struct wr_uplink *up = slot->up;
    uint32_t tag = 0;
    bool deliver = false;

    plat_mutex_lock(up->lock);
    if (slot->used && slot->sending) {
        slot->early = true;
        slot->early_token = token;
        slot->early_ok = ok;
    } else if (slot->used && slot->token == token) {
        slot->used = false;
        tag = slot->tag;
        deliver = true;
    }
    /* Otherwise the ack is for a connection already given up on. */
    plat_mutex_unlock(up->lock);
    if (deliver)
        up->on_ack(up->ctx, tag, ok);
}

static void on_publish_ok(void *context, MQTTAsync_successData *response)
{
    finish_publish(context, response->token, true);
}

static void on_publish_failed(void *context, MQTTAsync_failureData *response)
{
    finish_publish(context, response->token, false);
}

int wr_uplink_create(const struct wr_uplink_params *p, struct wr_uplink **out)
{
    MQTTAsync_createOptions copts = MQTTAsync_createOptions_initializer;
    struct wr_uplink *up;
    int rc = WR_E_NOMEM;

    if (p == NULL || out == NULL || p->uri == NULL || p->client_id == NULL || p->on_ack == NULL ||
        p->max_inflight == 0)
        return WR_E_INVAL;
    up = plat_calloc(1, sizeof(*up));
    if (up == NULL)
        return WR_E_NOMEM;
    if (plat_mutex_create(&up->lock) != WR_OK)
        goto fail;
    up->pending = plat_calloc(p->max_inflight, sizeof(*up->pending));
    if (up->pending == NULL)
        goto fail;
    up->max_inflight = p->max_inflight;
    for (uint32_t i = 0; i < p->max_inflight; i++)
        up->pending[i].up = up;
    up->keepalive_s = p->keepalive_s;
    up->qos = p->qos;
    up->on_ack = p->on_ack;
    up->on_connection = p->on_connection;
    up->ctx = p->ctx;
    if (plat_backoff_init(&up->backoff, p->reconnect_min_ms, p->reconnect_max_ms,
                          p->jitter_seed) != WR_OK) {
        rc = WR_E_INVAL;
        goto fail;
    }
    if (p->username != NULL && p->username[0] != '\0') {
        up->username = plat_strdup(p->username);
        up->password = plat_strdup(p->password != NULL ? p->password : "");
        if (up->username == NULL || up->password == NULL)
            goto fail;
    }
    copts.MQTTVersion = MQTTVERSION_3_1_1;
    if (MQTTAsync_createWithOptions(&up->client, p->uri, p->client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                    NULL, &copts) != MQTTASYNC_SUCCESS) {
        PLAT_ERROR(MOD, "cannot create MQTT client for %s", p->uri);
        rc = WR_E_INVAL;
        goto fail;
    }
    MQTTAsync_setCallbacks(up->client, up, on_connection_lost, on_message_arrived, NULL);
    *out = up;
    return WR_OK;
fail:
    wr_uplink_destroy(up, 0);
    return rc;
}

static void start_connect(struct wr_uplink *up)
{
    MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
    int rc;

    opts.keepAliveInterval = (int)up->keepalive_s;
    opts.cleansession = 1;
    opts.automaticReconnect = 0; /* reconnects are ours: backoff with jitter */
    opts.connectTimeout = 10;
    opts.maxInflight = (int)up->max_inflight;
    opts.MQTTVersion = MQTTVERSION_3_1_1;
    opts.username = up->username;
    opts.password = up->password;
    opts.onSuccess = on_connect_ok;
    opts.onFailure = on_connect_failed;
    opts.context = up;
    atomic_store(&up->connecting, true);
    rc = MQTTAsync_connect(up->client, &opts);
    if (rc != MQTTASYNC_SUCCESS) {
        PLAT_WARN(MOD, "upstream connect request refused: Paho code %d", rc);
        atomic_store(&up->connecting, false);
        atomic_store(&up->attempt_failed, true);
    }
}

void wr_uplink_poll(struct wr_uplink *up, uint64_t now_mono_ms)
{
    if (up == NULL)
        return;
    if (atomic_load(&up->connected)) {
        up->failures = 0;
        plat_backoff_reset(&up->backoff);
        return;
    }
    if (atomic_exchange(&up->attempt_failed, false)) {
        uint32_t delay_ms = plat_backoff_next_ms(&up->backoff);

        up->failures++;
        up->next_attempt_mono_ms = now_mono_ms + delay_ms;
        PLAT_DEBUG(MOD, "next upstream connect attempt in %u ms", delay_ms);
    }
    if (atomic_load(&up->connecting) || now_mono_ms < up->next_attempt_mono_ms)
        return;
    start_connect(up);
}

bool wr_uplink_connected(const struct wr_uplink *up)
{
    return up != NULL && atomic_load(&up->connected);
}

static struct pending *reserve_slot(struct wr_uplink *up, uint32_t tag)
{
    struct pending *slot = NULL;

    plat_mutex_lock(up->lock);
    for (uint32_t i = 0; i < up->max_inflight && slot == NULL; i++) {
        if (!up->pending[i].used) {
            slot = &up->pending[i];
            slot->used = true;
            slot->sending = true;
            slot->early = false;
            slot->tag = tag;
        }
    }
    plat_mutex_unlock(up->lock);
    return slot;
}

/* After sendMessage returned: record the token, or release the slot on failure. */
static void settle_slot(struct wr_uplink *up, struct pending *slot, bool sent,
                        MQTTAsync_token token)
{
    uint32_t tag = slot->tag;
    bool deliver = false;
    bool ok = false;

    plat_mutex_lock(up->lock);
    slot->sending = false;
    if (!sent) {
        slot->used = false;
    } else {
        slot->token = token;
        if (slot->early && slot->early_token == token) {
            slot->used = false;
            deliver = true;
            ok = slot->early_ok;
        }
    }
    plat_mutex_unlock(up->lock);
    if (deliver)
        up->on_ack(up->ctx, tag, ok);
}

static int send(struct wr_uplink *up, const char *topic, const void *payload, size_t len, int qos,
                bool track, uint32_t tag)
{
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    struct pending *slot = NULL;
    int rc;

    if (up == NULL || topic == NULL || (payload == NULL && len > 0) || len > INT32_MAX)
        return WR_E_INVAL;
    if (!atomic_load(&up->connected))
        return WR_E_STATE;
    msg.payload = (void *)(uintptr_t)payload;
    msg.payloadlen = (int)len;
    msg.qos = qos;
    if (track) {
        slot = reserve_slot(up, tag);
        if (slot == NULL)
            return WR_E_FULL;
        opts.onSuccess = on_publish_ok;
        opts.onFailure = on_publish_failed;
        opts.context = slot;
    }
    rc = MQTTAsync_sendMessage(up->client, topic, &msg, &opts);
    if (slot != NULL)
        settle_slot(up, slot, rc == MQTTASYNC_SUCCESS, opts.token);
    if (rc != MQTTASYNC_SUCCESS) {
        PLAT_WARN(MOD, "publish refused by Paho (code %d)", rc);
        return WR_E_CONN;
    }
    return WR_OK;
}

int wr_uplink_publish(struct wr_uplink *up, const char *topic, const void *payload, size_t len,
                      uint32_t tag)
{
    return send(up, topic, payload, len, up != NULL ? up->qos : 0, true, tag);
}

int wr_uplink_publish_untracked(struct wr_uplink *up, const char *topic, const void *payload,
                                size_t len)
{
    return send(up, topic, payload, len, 0, false, 0);
}

void wr_uplink_destroy(struct wr_uplink *up, uint32_t timeout_ms)
{
    if (up == NULL)
        return;
    if (up->client != NULL) {
        if (MQTTAsync_isConnected(up->client)) {
            MQTTAsync_disconnectOptions dopts = MQTTAsync_disconnectOptions_initializer;

            dopts.timeout = (int)timeout_ms;
            MQTTAsync_disconnect(up->client, &dopts);
        }
        MQTTAsync_destroy(&up->client);
    }
    plat_mutex_destroy(up->lock);
    plat_free(up->pending);
    plat_free(up->username);
    plat_free(up->password);
    plat_free(up);
}
