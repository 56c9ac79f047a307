/*
 * Load generator for the benchmark: publishes JSON events {"value":v,"ts":t}
 * with QoS 1 to bench/<key>/v on a local broker, round-robin over a number
 * of keys, as fast as the broker takes them (or at a given rate), and prints
 * what it sent. Not part of the agent: a test tool.
 *
 *   loadgen PORT EVENTS KEYS [RATE_PER_S]
 */
#define _POSIX_C_SOURCE 200809L
#include <MQTTAsync.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static atomic_int connected;
static atomic_long acked;

static void on_connect(void *ctx, MQTTAsync_successData *r)
{
    (void)ctx;
    (void)r;
    atomic_store(&connected, 1);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *r)
{
    (void)ctx;
    fprintf(stderr, "loadgen: connect failed (%d)\n", r ? r->code : 0);
    exit(1);
}

static void on_delivered(void *ctx, MQTTAsync_token token)
{
    (void)ctx;
    (void)token;
    atomic_fetch_add(&acked, 1);
}

static int on_message(void *ctx, char *topic, int len, MQTTAsync_message *m)
{
    (void)ctx;
    (void)len;
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_us(long us)
{
    struct timespec ts = {0, us * 1000L};

    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    MQTTAsync client;
    MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
    MQTTAsync_createOptions copts = MQTTAsync_createOptions_initializer;
    char uri[64];
    char client_id[64];
    long events;
    long keys;
    double rate;
    double start;
    double elapsed;

    if (argc < 4) {
        fprintf(stderr, "usage: loadgen PORT EVENTS KEYS [RATE_PER_S]\n");
        return 2;
    }
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%s", argv[1]);
    events = atol(argv[2]);
    keys = atol(argv[3]);
    rate = argc > 4 ? atof(argv[4]) : 0.0;
    /* Unique per process: several generators may share one broker. */
    snprintf(client_id, sizeof(client_id), "windrow-loadgen-%ld", (long)getpid());
    if (MQTTAsync_createWithOptions(&client, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                    NULL, &copts) != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "loadgen: cannot create a client for %s\n", uri);
        return 1;
    }
    MQTTAsync_setCallbacks(client, NULL, NULL, on_message, on_delivered);
    opts.cleansession = 1;
    opts.maxInflight = 1000;
    opts.onSuccess = on_connect;
    opts.onFailure = on_connect_fail;
    if (MQTTAsync_connect(client, &opts) != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "loadgen: connect request refused\n");
        return 1;
    }
    for (int i = 0; i < 10000 && !atomic_load(&connected); i++)
        pause_us(1000);
    if (!atomic_load(&connected)) {
        fprintf(stderr, "loadgen: not connected after 10 s\n");
        return 1;
    }

    start = now_s();
    for (long i = 0; i < events; i++) {
        MQTTAsync_message msg = MQTTAsync_message_initializer;
        char topic[64];
        char payload[96];
        struct timespec wall;
        int rc;

        if (rate > 0) {
            while (now_s() - start < (double)i / rate)
                pause_us(50);
        }
        clock_gettime(CLOCK_REALTIME, &wall);
        snprintf(topic, sizeof(topic), "bench/k%ld/v", i % keys);
        msg.payloadlen = snprintf(payload, sizeof(payload), "{\"value\":%ld.5,\"ts\":%lld%03ld}",
                                  i % 1000, (long long)wall.tv_sec, wall.tv_nsec / 1000000L);
        msg.payload = payload;
        msg.qos = 1;
        while ((rc = MQTTAsync_sendMessage(client, topic, &msg, NULL)) ==
               MQTTASYNC_MAX_MESSAGES_INFLIGHT || rc == MQTTASYNC_MAX_BUFFERED_MESSAGES)
            pause_us(100);
        if (rc != MQTTASYNC_SUCCESS) {
            fprintf(stderr, "loadgen: publish failed (%d)\n", rc);
            return 1;
        }
    }
    while (atomic_load(&acked) < events && now_s() - start < 600)
        pause_us(1000);
    elapsed = now_s() - start;
    printf("loadgen: sent %ld events over %ld keys in %.2f s (%.0f events/s), %ld acked\n", events,
           keys, elapsed, (double)events / elapsed, atomic_load(&acked));
    MQTTAsync_disconnect(client, NULL);
    MQTTAsync_destroy(&client);
    return atomic_load(&acked) == events ? 0 : 1;
}
