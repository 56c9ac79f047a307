#include "uplink.h"

#include <MQTTAsync.h>
#include <stdatomic.h>
#include <string.h>

#include "plat_backoff.h"
#include "plat_log.h"
#include "plat_mem.h"
#include "plat_queue.h"
#include "plat_thread.h"
#include "plat_time.h"
#include "wr_error.h"

#define MOD "uplink"
/* With nothing to do the thread still looks at its state this often. */
#define IDLE_WAIT_MS 60000u

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
    bool sending; /* sendMessage has not returned yet */
    bool lost;    /* the connection went while sending */
    bool early;   /* an ack arrived while sending */
    bool early_ok;
};

/* A message in the mailbox: topic and payload copied into one block. */
struct outgoing {
    char *topic;
    void *payload;
    size_t len;
    uint32_t tag;
};

struct wr_uplink {
    MQTTAsync client;
    char *username;
    char *password;
    char *will_topic; /* retained "offline" on it when the connection dies; NULL: none */
    uint32_t keepalive_s;
    int qos;
    const struct wr_uplink_reports *reports;

    /* Guards pending[] and the status buffers; never held across a call into Paho. */
    struct plat_mutex *lock;
    struct pending *pending;
    uint32_t max_inflight;

    /* Pipeline -> uplink thread. Popping it is also how the thread sleeps. */
    struct plat_queue *mailbox;
    atomic_uint queued; /* in the mailbox or being sent: bounds publish at max_inflight */

    /* Latest-wins status message: the pipeline writes next_*, the thread swaps it out. */
    char *status_next;
    size_t status_next_len;
    size_t status_next_cap;
    char status_topic[256];
    bool status_pending;
    char *status_send;
    size_t status_send_cap;

    /* Fleet pushes: the topic subscribed on every connection, and where its messages go. */
    char *subscribe_topic; /* NULL: none */
    const struct wr_uplink_inbound *inbound;
    atomic_bool subscribe_due; /* connected, not yet subscribed on this connection */

    /*
     * The report (publish_report): kept until a PUBACK for its latest text
     * arrives. Under lock. gen counts texts; sent_gen is the one in flight
     * (at most one report is in flight); held stops retries on this
     * connection after Paho refused one.
     */
    char *report_next;
    size_t report_next_len;
    size_t report_next_cap;
    char report_topic[256];
    uint64_t report_gen;
    uint64_t report_sent_gen;
    bool report_pending;
    bool report_sending;
    bool report_held;
    MQTTAsync_token report_token;
    char *report_send;
    size_t report_send_cap;

    struct plat_thread *thread;
    atomic_bool stopping;
    struct plat_backoff backoff;
    atomic_bool connected;
    atomic_bool connecting;
    atomic_bool attempt_failed; /* set on Paho's thread, consumed by the uplink thread */
    uint64_t next_attempt_mono_ms;
};

static void report_ack(struct wr_uplink *up, uint32_t tag, bool ok)
{
    if (up->reports != NULL)
        up->reports->acked(up->reports->sink, tag, ok);
}

static void report_connection(struct wr_uplink *up, bool is_up)
{
    if (up->reports != NULL && up->reports->connection != NULL)
        up->reports->connection(up->reports->sink, is_up);
}

/* Paho's threads changed something the uplink thread must act on. */
static void wake_thread(struct wr_uplink *up)
{
    plat_queue_wake(up->mailbox);
}

/*
 * The connection is gone: every publish awaiting its PUBACK is reported
 * failed, once. A slot whose sendMessage has not returned yet is marked lost
 * and reported by settle_slot.
 */
static void clear_pending(struct wr_uplink *up)
{
    for (;;) {
        uint32_t tag = 0;
        bool found = false;

        plat_mutex_lock(up->lock);
        for (uint32_t i = 0; i < up->max_inflight && !found; i++) {
            struct pending *slot = &up->pending[i];

            if (!slot->used)
                continue;
            if (slot->sending) {
                slot->lost = true;
                continue;
            }
            slot->used = false;
            tag = slot->tag;
            found = true;
        }
        plat_mutex_unlock(up->lock);
        if (!found)
            return;
        atomic_fetch_sub(&up->queued, 1);
        report_ack(up, tag, false);
    }
}

static void on_connect_ok(void *context, MQTTAsync_successData *response)
{
    struct wr_uplink *up = context;

    (void)response;
    plat_mutex_lock(up->lock);
    up->report_held = false;
    plat_mutex_unlock(up->lock);
    atomic_store(&up->subscribe_due, up->subscribe_topic != NULL);
    atomic_store(&up->connected, true);
    atomic_store(&up->connecting, false);
    PLAT_INFO(MOD, "connected upstream");
    report_connection(up, true);
    wake_thread(up);
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
    wake_thread(up);
}

static void on_connection_lost(void *context, char *cause)
{
    struct wr_uplink *up = context;

    PLAT_WARN(MOD, "lost the upstream connection%s%s", cause ? ": " : "", cause ? cause : "");
    clear_pending(up);
    /* A report in flight may never be acknowledged now: send it again after reconnecting. */
    plat_mutex_lock(up->lock);
    up->report_sending = false;
    plat_mutex_unlock(up->lock);
    atomic_store(&up->connected, false);
    atomic_store(&up->attempt_failed, true);
    report_connection(up, false);
    wake_thread(up);
}

/* Only the subscribed topic is taken; anything else a broker sends is dropped. */
static bool is_subscribed_topic(const struct wr_uplink *up, const char *topic, int topic_len)
{
    size_t n = topic_len > 0 ? (size_t)topic_len : strlen(topic);

    return up->subscribe_topic != NULL && strlen(up->subscribe_topic) == n &&
           memcmp(up->subscribe_topic, topic, n) == 0;
}

static int on_message_arrived(void *context, char *topic, int topic_len, MQTTAsync_message *msg)
{
    struct wr_uplink *up = context;

    /* Paho's thread, under Paho's mutex: the inbox copies and returns at once. */
    if (up->inbound != NULL && is_subscribed_topic(up, topic, topic_len))
        up->inbound->message(up->inbound->inbox, msg->payload,
                             msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0);
    else
        PLAT_DEBUG(MOD, "dropped a message on a topic not subscribed to");
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

static void on_subscribe_ok(void *context, MQTTAsync_successData *response)
{
    struct wr_uplink *up = context;

    /* An MQTT 3.1.1 broker refuses a subscription in the SUBACK (0x80). */
    if (response != NULL && response->alt.qos == 0x80)
        PLAT_ERROR(MOD, "the upstream broker refused the subscription to %s: fleet pushes are "
                        "not received (check its ACL)",
                   up->subscribe_topic);
    else
        PLAT_INFO(MOD, "listening for fleet configs on %s", up->subscribe_topic);
}

static void on_subscribe_failed(void *context, MQTTAsync_failureData *response)
{
    struct wr_uplink *up = context;

    PLAT_ERROR(MOD, "cannot subscribe to %s (code %d): fleet pushes are not received until the "
                    "next connection",
               up->subscribe_topic, response ? response->code : 0);
}

static void on_report_done(struct wr_uplink *up, bool ok)
{
    plat_mutex_lock(up->lock);
    if (up->report_sending) {
        up->report_sending = false;
        if (ok && up->report_sent_gen == up->report_gen)
            up->report_pending = false;
        if (!ok)
            up->report_held = true; /* again after the next connect, not in a loop */
    }
    plat_mutex_unlock(up->lock);
    wake_thread(up);
}

static void on_report_ok(void *context, MQTTAsync_successData *response)
{
    (void)response;
    on_report_done(context, true);
}

static void on_report_failed(void *context, MQTTAsync_failureData *response)
{
    (void)response;
    on_report_done(context, false);
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
    if (deliver) {
        atomic_fetch_sub(&up->queued, 1);
        report_ack(up, tag, ok);
    }
}

static void on_publish_ok(void *context, MQTTAsync_successData *response)
{
    finish_publish(context, response->token, true);
}

static void on_publish_failed(void *context, MQTTAsync_failureData *response)
{
    finish_publish(context, response->token, false);
}

/* ---- the uplink thread: every Paho call for this client is made here ------------------------ */

static void start_connect(struct wr_uplink *up)
{
    MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
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
    if (up->will_topic != NULL) {
        /* Paho copies the will at connect; the broker publishes it if we vanish. */
        will.topicName = up->will_topic;
        will.message = WR_UPLINK_OFFLINE;
        will.retained = 1;
        will.qos = 1;
        opts.will = &will;
    }
    atomic_store(&up->connecting, true);
    rc = MQTTAsync_connect(up->client, &opts);
    if (rc != MQTTASYNC_SUCCESS) {
        PLAT_WARN(MOD, "upstream connect request refused: Paho code %d", rc);
        atomic_store(&up->connecting, false);
        atomic_store(&up->attempt_failed, true);
    }
}

/* Connect when due; returns how long the thread may sleep before the next attempt. */
static uint32_t schedule_connect(struct wr_uplink *up)
{
    uint64_t now = plat_time_mono_ms();

    if (atomic_load(&up->connected)) {
        plat_backoff_reset(&up->backoff);
        return IDLE_WAIT_MS;
    }
    if (atomic_exchange(&up->attempt_failed, false)) {
        uint32_t delay_ms = plat_backoff_next_ms(&up->backoff);

        up->next_attempt_mono_ms = now + delay_ms;
        PLAT_DEBUG(MOD, "next upstream connect attempt in %u ms", delay_ms);
    }
    if (atomic_load(&up->connecting))
        return IDLE_WAIT_MS; /* a callback wakes us */
    if (now < up->next_attempt_mono_ms) {
        uint64_t wait = up->next_attempt_mono_ms - now;

        return wait < IDLE_WAIT_MS ? (uint32_t)wait : IDLE_WAIT_MS;
    }
    start_connect(up);
    /* A refusal sets attempt_failed; go round at once to schedule the retry. */
    return atomic_load(&up->attempt_failed) ? 0 : IDLE_WAIT_MS;
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
            slot->lost = false;
            slot->early = false;
            slot->tag = tag;
        }
    }
    plat_mutex_unlock(up->lock);
    return slot;
}

/*
 * After sendMessage returned: record the token, or release the slot on
 * failure (the caller reports that). An ack that arrived early, or a
 * connection lost meanwhile, is reported here.
 */
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
    } else if (slot->lost) {
        slot->used = false;
        deliver = true;
    } else {
        slot->token = token;
        if (slot->early && slot->early_token == token) {
            slot->used = false;
            deliver = true;
            ok = slot->early_ok;
        }
    }
    plat_mutex_unlock(up->lock);
    if (deliver) {
        atomic_fetch_sub(&up->queued, 1);
        report_ack(up, tag, ok);
    }
}

static int paho_send(struct wr_uplink *up, const char *topic, const void *payload, size_t len,
                     int qos, bool retained, struct pending *slot)
{
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    MQTTAsync_message msg = MQTTAsync_message_initializer;

    msg.payload = (void *)(uintptr_t)payload;
    msg.payloadlen = (int)len;
    msg.qos = qos;
    msg.retained = retained ? 1 : 0;
    if (slot != NULL) {
        opts.onSuccess = on_publish_ok;
        opts.onFailure = on_publish_failed;
        opts.context = slot;
    }
    if (MQTTAsync_sendMessage(up->client, topic, &msg, &opts) != MQTTASYNC_SUCCESS)
        return WR_E_CONN;
    if (slot != NULL)
        settle_slot(up, slot, true, opts.token);
    return WR_OK;
}

static void start_subscribe(struct wr_uplink *up)
{
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    int rc;

    opts.onSuccess = on_subscribe_ok;
    opts.onFailure = on_subscribe_failed;
    opts.context = up;
    rc = MQTTAsync_subscribe(up->client, up->subscribe_topic, 1, &opts);
    if (rc != MQTTASYNC_SUCCESS)
        PLAT_ERROR(MOD, "subscribe to %s refused by Paho (code %d): fleet pushes are not "
                        "received until the next connection",
                   up->subscribe_topic, rc);
}

/*
 * Send the report if one waits and none is in flight. The text is copied
 * under the lock (publish_report may replace it meanwhile) and handed to
 * Paho without it. Returns the token, or 0 if nothing was sent.
 */
static MQTTAsync_token send_report(struct wr_uplink *up)
{
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    char topic[sizeof(up->report_topic)];
    size_t len;
    int rc;

    plat_mutex_lock(up->lock);
    if (!up->report_pending || up->report_sending || up->report_held) {
        plat_mutex_unlock(up->lock);
        return 0;
    }
    if (up->report_send_cap < up->report_next_len + 1) {
        char *bigger = plat_malloc(up->report_next_len + 1);

        if (bigger == NULL) {
            plat_mutex_unlock(up->lock);
            return 0;
        }
        plat_free(up->report_send);
        up->report_send = bigger;
        up->report_send_cap = up->report_next_len + 1;
    }
    len = up->report_next_len;
    if (len > 0)
        memcpy(up->report_send, up->report_next, len);
    memcpy(topic, up->report_topic, sizeof(topic));
    up->report_sending = true;
    up->report_sent_gen = up->report_gen;
    plat_mutex_unlock(up->lock);
    msg.payload = up->report_send;
    msg.payloadlen = (int)len;
    msg.qos = 1;
    msg.retained = 1;
    opts.onSuccess = on_report_ok;
    opts.onFailure = on_report_failed;
    opts.context = up;
    rc = MQTTAsync_sendMessage(up->client, topic, &msg, &opts);
    if (rc != MQTTASYNC_SUCCESS) {
        PLAT_WARN(MOD, "report to %s refused by Paho (code %d); sent again after reconnecting",
                  topic, rc);
        on_report_done(up, false);
        return 0;
    }
    plat_mutex_lock(up->lock);
    up->report_token = opts.token;
    plat_mutex_unlock(up->lock);
    return opts.token;
}

/* At stop: a report not yet acknowledged gets one bounded chance. */
static void flush_report(struct wr_uplink *up, uint32_t timeout_ms)
{
    MQTTAsync_token token = send_report(up);
    bool waiting;

    plat_mutex_lock(up->lock);
    waiting = up->report_sending;
    if (token == 0)
        token = up->report_token;
    plat_mutex_unlock(up->lock);
    if (waiting)
        MQTTAsync_waitForCompletion(up->client, token, timeout_ms);
}

/* Publish the retained "offline" and wait (bounded) until the broker has it. */
static void send_offline(struct wr_uplink *up, uint32_t timeout_ms)
{
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    MQTTAsync_message msg = MQTTAsync_message_initializer;

    msg.payload = (void *)(uintptr_t)WR_UPLINK_OFFLINE;
    msg.payloadlen = (int)strlen(WR_UPLINK_OFFLINE);
    msg.qos = 1;
    msg.retained = 1;
    if (MQTTAsync_sendMessage(up->client, up->will_topic, &msg, &opts) == MQTTASYNC_SUCCESS)
        MQTTAsync_waitForCompletion(up->client, opts.token, timeout_ms);
}

/* Hand one mailbox message to Paho; every path ends in exactly one report for its tag. */
static void send_outgoing(struct wr_uplink *up, struct outgoing *o)
{
    struct pending *slot = NULL;
    int rc = WR_E_STATE;

    if (atomic_load(&up->connected) && !atomic_load(&up->stopping)) {
        slot = reserve_slot(up, o->tag);
        rc = slot != NULL ? paho_send(up, o->topic, o->payload, o->len, up->qos, false, slot) : WR_E_FULL;
    }
    plat_free(o->topic);
    if (rc == WR_OK)
        return;
    if (slot != NULL)
        settle_slot(up, slot, false, 0);
    if (rc == WR_E_CONN)
        PLAT_WARN(MOD, "publish refused by Paho; the forwarder resends from the outbox");
    atomic_fetch_sub(&up->queued, 1);
    report_ack(up, o->tag, false);
}

static void send_status(struct wr_uplink *up)
{
    char topic[sizeof(up->status_topic)];
    size_t len;
    char *swap;

    plat_mutex_lock(up->lock);
    if (!up->status_pending) {
        plat_mutex_unlock(up->lock);
        return;
    }
    /* Swap buffers so that Paho is called without our lock held. */
    swap = up->status_send;
    up->status_send = up->status_next;
    up->status_next = swap;
    swap = NULL;
    {
        size_t cap = up->status_send_cap;

        up->status_send_cap = up->status_next_cap;
        up->status_next_cap = cap;
    }
    len = up->status_next_len;
    memcpy(topic, up->status_topic, sizeof(topic));
    up->status_pending = false;
    plat_mutex_unlock(up->lock);
    if (atomic_load(&up->connected) &&
        paho_send(up, topic, up->status_send, len, 0, true, NULL) != WR_OK)
        PLAT_DEBUG(MOD, "status message not sent");
}

static void uplink_thread(void *arg)
{
    struct wr_uplink *up = arg;

    while (!atomic_load(&up->stopping)) {
        uint32_t wait_ms = schedule_connect(up);
        struct outgoing o;
        size_t n = 0;

        if (atomic_load(&up->connected) && atomic_exchange(&up->subscribe_due, false))
            start_subscribe(up);
        if (atomic_load(&up->connected))
            send_report(up);
        send_status(up);
        if (plat_queue_pop(up->mailbox, &o, 1, &n, wait_ms) == WR_OK && n == 1)
            send_outgoing(up, &o);
    }
}

/* ---- operations (pipeline thread) ------------------------------------------------------------ */

static int paho_start(struct wr_uplink *up, const struct wr_uplink_reports *reports)
{
    if (up == NULL || reports == NULL || reports->acked == NULL)
        return WR_E_INVAL;
    if (up->thread != NULL)
        return WR_E_STATE;
    up->reports = reports;
    return plat_thread_start(&up->thread, uplink_thread, up, "wr-uplink");
}

static int paho_publish(struct wr_uplink *up, const char *topic, const void *payload, size_t len,
                        uint32_t tag)
{
    struct outgoing o;
    size_t topic_len;
    int rc;

    if (up == NULL || topic == NULL || (payload == NULL && len > 0) || len > INT32_MAX)
        return WR_E_INVAL;
    if (!atomic_load(&up->connected))
        return WR_E_STATE;
    if (atomic_load(&up->queued) >= up->max_inflight)
        return WR_E_FULL;
    topic_len = strlen(topic);
    o.topic = plat_malloc(topic_len + 1 + len);
    if (o.topic == NULL)
        return WR_E_NOMEM;
    memcpy(o.topic, topic, topic_len + 1);
    o.payload = o.topic + topic_len + 1;
    if (len > 0)
        memcpy(o.payload, payload, len);
    o.len = len;
    o.tag = tag;
    atomic_fetch_add(&up->queued, 1);
    rc = plat_queue_push_all(up->mailbox, &o, 1);
    if (rc != WR_OK) {
        atomic_fetch_sub(&up->queued, 1);
        plat_free(o.topic);
        return WR_E_FULL;
    }
    return WR_OK;
}

static int paho_publish_status(struct wr_uplink *up, const char *topic, const void *payload,
                               size_t len)
{
    if (up == NULL || topic == NULL || (payload == NULL && len > 0) || len > INT32_MAX ||
        strlen(topic) >= sizeof(up->status_topic))
        return WR_E_INVAL;
    if (!atomic_load(&up->connected))
        return WR_E_STATE;
    plat_mutex_lock(up->lock);
    if (up->status_next_cap < len + 1) {
        char *bigger = plat_malloc(len + 1);

        if (bigger == NULL) {
            plat_mutex_unlock(up->lock);
            return WR_E_NOMEM;
        }
        plat_free(up->status_next);
        up->status_next = bigger;
        up->status_next_cap = len + 1;
    }
    if (len > 0)
        memcpy(up->status_next, payload, len);
    up->status_next_len = len;
    strcpy(up->status_topic, topic);
    up->status_pending = true;
    plat_mutex_unlock(up->lock);
    wake_thread(up);
    return WR_OK;
}

static int paho_publish_report(struct wr_uplink *up, const char *topic, const void *payload,
                               size_t len)
{
    if (up == NULL || topic == NULL || (payload == NULL && len > 0) || len > INT32_MAX ||
        strlen(topic) >= sizeof(up->report_topic))
        return WR_E_INVAL;
    plat_mutex_lock(up->lock);
    if (up->report_next_cap < len + 1) {
        char *bigger = plat_malloc(len + 1);

        if (bigger == NULL) {
            plat_mutex_unlock(up->lock);
            return WR_E_NOMEM;
        }
        plat_free(up->report_next);
        up->report_next = bigger;
        up->report_next_cap = len + 1;
    }
    if (len > 0)
        memcpy(up->report_next, payload, len);
    up->report_next_len = len;
    strcpy(up->report_topic, topic);
    up->report_gen++;
    up->report_pending = true;
    plat_mutex_unlock(up->lock);
    wake_thread(up);
    return WR_OK;
}

static bool paho_report_pending(const struct wr_uplink *up)
{
    bool pending;

    if (up == NULL)
        return false;
    plat_mutex_lock(up->lock);
    pending = up->report_pending;
    plat_mutex_unlock(up->lock);
    return pending;
}

static bool paho_connected(const struct wr_uplink *up)
{
    return up != NULL && atomic_load(&up->connected);
}

static void paho_stop(struct wr_uplink *up, uint32_t timeout_ms)
{
    struct outgoing o;
    size_t n = 0;

    if (up == NULL)
        return;
    if (up->thread != NULL) {
        atomic_store(&up->stopping, true);
        wake_thread(up);
        plat_thread_join(up->thread);
        up->thread = NULL;
    }
    while (plat_queue_pop(up->mailbox, &o, 1, &n, 0) == WR_OK && n == 1) {
        plat_free(o.topic);
        atomic_fetch_sub(&up->queued, 1);
        report_ack(up, o.tag, false);
    }
    /*
     * The uplink thread is gone and the ingest client is stopped before the
     * uplink (pipeline shutdown order), so no callback can be waiting on the
     * caller here: these Paho calls cannot close a cycle.
     */
    if (up->client != NULL) {
        if (MQTTAsync_isConnected(up->client)) {
            MQTTAsync_disconnectOptions dopts = MQTTAsync_disconnectOptions_initializer;

            flush_report(up, timeout_ms);
            /* A clean stop sends no will: say "offline" ourselves, after any last status. */
            if (up->will_topic != NULL)
                send_offline(up, timeout_ms);
            dopts.timeout = (int)timeout_ms;
            MQTTAsync_disconnect(up->client, &dopts);
        }
        MQTTAsync_destroy(&up->client);
    }
    up->reports = NULL;
}

const struct wr_uplink_ops wr_uplink_paho_ops = {
    .start = paho_start,
    .publish = paho_publish,
    .publish_status = paho_publish_status,
    .publish_report = paho_publish_report,
    .report_pending = paho_report_pending,
    .connected = paho_connected,
    .stop = paho_stop,
};

/* ---- construction ---------------------------------------------------------------------------- */

int wr_uplink_create(const struct wr_uplink_params *p, struct wr_uplink **out)
{
    MQTTAsync_createOptions copts = MQTTAsync_createOptions_initializer;
    struct wr_uplink *up;
    int rc = WR_E_NOMEM;

    if (p == NULL || out == NULL || p->uri == NULL || p->client_id == NULL || p->max_inflight == 0)
        return WR_E_INVAL;
    up = plat_calloc(1, sizeof(*up));
    if (up == NULL)
        return WR_E_NOMEM;
    if (plat_mutex_create(&up->lock) != WR_OK)
        goto fail;
    up->pending = plat_calloc(p->max_inflight, sizeof(*up->pending));
    if (up->pending == NULL)
        goto fail;
    rc = plat_queue_create(sizeof(struct outgoing), p->max_inflight, &up->mailbox);
    if (rc != WR_OK)
        goto fail;
    rc = WR_E_NOMEM;
    up->max_inflight = p->max_inflight;
    for (uint32_t i = 0; i < p->max_inflight; i++)
        up->pending[i].up = up;
    up->keepalive_s = p->keepalive_s;
    up->qos = p->qos;
    if (plat_backoff_init(&up->backoff, p->reconnect_min_ms, p->reconnect_max_ms, p->jitter_seed) !=
        WR_OK) {
        rc = WR_E_INVAL;
        goto fail;
    }
    if (p->username != NULL && p->username[0] != '\0') {
        up->username = plat_strdup(p->username);
        up->password = plat_strdup(p->password != NULL ? p->password : "");
        if (up->username == NULL || up->password == NULL)
            goto fail;
    }
    if (p->will_topic != NULL && p->will_topic[0] != '\0') {
        up->will_topic = plat_strdup(p->will_topic);
        if (up->will_topic == NULL)
            goto fail;
    }
    if (p->subscribe_topic != NULL && p->subscribe_topic[0] != '\0' && p->inbound != NULL) {
        up->subscribe_topic = plat_strdup(p->subscribe_topic);
        if (up->subscribe_topic == NULL)
            goto fail;
        up->inbound = p->inbound;
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

void wr_uplink_destroy(struct wr_uplink *up, uint32_t timeout_ms)
{
    if (up == NULL)
        return;
    paho_stop(up, timeout_ms);
    plat_queue_destroy(up->mailbox);
    plat_mutex_destroy(up->lock);
    plat_free(up->pending);
    plat_free(up->status_next);
    plat_free(up->status_send);
    plat_free(up->report_next);
    plat_free(up->report_send);
    plat_free(up->subscribe_topic);
    plat_free(up->username);
    plat_free(up->password);
    plat_free(up->will_topic);
    plat_free(up);
}
