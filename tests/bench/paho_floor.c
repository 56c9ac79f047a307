/*
 * The benchmark's floor: a bare Paho MQTTAsync subscriber that only counts
 * and frees each message. Not part of the agent: a test tool.
 *
 * It connects the way Windrow's ingest does (MQTT 3.1.1, no Paho
 * persistence, a persistent session, automatic reconnect, the same
 * keep-alive) and subscribes with the given QoS, so the CPU it uses per
 * message is what Debian's libpaho-mqtt3a costs before Windrow does anything.
 *
 *   paho_floor -p PORT [-t FILTER] [-q 0|1] [-T default|error|...] [-i CLIENT_ID]
 *              [-o COUNT_FILE]
 *
 * -T default  leaves Paho's trace level as the library sets it (what an
 *             application that never calls MQTTAsync_setTraceLevel gets);
 *             error, severe, fatal, protocol, minimum, medium, maximum call
 *             MQTTAsync_setTraceLevel with that level.
 * -o FILE     every 100 ms, "<messages> <bytes> <subscribed>" is written to
 *             FILE (via a temporary file and rename, so readers never see a
 *             partial line). Ends on SIGTERM or SIGINT.
 */
#define _POSIX_C_SOURCE 200809L
#include <MQTTAsync.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_long messages;
static atomic_long payload_bytes;
static atomic_int subscribed;
static volatile sig_atomic_t stop_requested;
static MQTTAsync client;
static const char *filter = "bench/#";
static int qos = 1;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    (void)ctx;
    (void)topic_len;
    atomic_fetch_add_explicit(&messages, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&payload_bytes, m->payloadlen, memory_order_relaxed);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_subscribed(void *ctx, MQTTAsync_successData *r)
{
    (void)ctx;
    (void)r;
    atomic_store(&subscribed, 1);
}

static void on_subscribe_failed(void *ctx, MQTTAsync_failureData *r)
{
    (void)ctx;
    fprintf(stderr, "paho_floor: subscribe failed (%d)\n", r != NULL ? r->code : 0);
}

/* Subscribes on every (re)connection, as Windrow's ingest does. */
static void on_connected(void *ctx, char *cause)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;

    (void)ctx;
    (void)cause;
    ro.onSuccess = on_subscribed;
    ro.onFailure = on_subscribe_failed;
    if (MQTTAsync_subscribe(client, filter, qos, &ro) != MQTTASYNC_SUCCESS)
        fprintf(stderr, "paho_floor: subscribe request refused\n");
}

static void on_connect_failed(void *ctx, MQTTAsync_failureData *r)
{
    (void)ctx;
    fprintf(stderr, "paho_floor: connect failed (%d)\n", r != NULL ? r->code : 0);
}

static int trace_level(const char *name, enum MQTTASYNC_TRACE_LEVELS *out)
{
    static const struct {
        const char *name;
        enum MQTTASYNC_TRACE_LEVELS level;
    } levels[] = {
        {"maximum", MQTTASYNC_TRACE_MAXIMUM}, {"medium", MQTTASYNC_TRACE_MEDIUM},
        {"minimum", MQTTASYNC_TRACE_MINIMUM}, {"protocol", MQTTASYNC_TRACE_PROTOCOL},
        {"error", MQTTASYNC_TRACE_ERROR},     {"severe", MQTTASYNC_TRACE_SEVERE},
        {"fatal", MQTTASYNC_TRACE_FATAL},
    };

    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcmp(name, levels[i].name) == 0) {
            *out = levels[i].level;
            return 0;
        }
    }
    return -1;
}

static void write_count(const char *path)
{
    char tmp[4096];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL)
        return;
    fprintf(f, "%ld %ld %d\n", atomic_load(&messages), atomic_load(&payload_bytes),
            atomic_load(&subscribed));
    if (fclose(f) == 0)
        rename(tmp, path);
}

int main(int argc, char **argv)
{
    MQTTAsync_createOptions copts = MQTTAsync_createOptions_initializer;
    MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
    struct sigaction sa;
    const char *trace = "default";
    const char *client_id = "windrow-paho-floor";
    const char *count_file = NULL;
    char uri[64];
    int port = 0;
    int c;

    while ((c = getopt(argc, argv, "p:t:q:T:i:o:")) != -1) {
        switch (c) {
        case 'p': port = atoi(optarg); break;
        case 't': filter = optarg; break;
        case 'q': qos = atoi(optarg); break;
        case 'T': trace = optarg; break;
        case 'i': client_id = optarg; break;
        case 'o': count_file = optarg; break;
        default: port = 0; optind = argc; break;
        }
    }
    if (port <= 0 || (qos != 0 && qos != 1)) {
        fprintf(stderr, "usage: paho_floor -p PORT [-t FILTER] [-q 0|1] "
                        "[-T default|error|...] [-i CLIENT_ID] [-o COUNT_FILE]\n");
        return 2;
    }
    if (strcmp(trace, "default") != 0) {
        enum MQTTASYNC_TRACE_LEVELS level;

        if (trace_level(trace, &level) != 0) {
            fprintf(stderr, "paho_floor: unknown trace level %s\n", trace);
            return 2;
        }
        MQTTAsync_setTraceLevel(level);
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
    copts.MQTTVersion = MQTTVERSION_3_1_1;
    if (MQTTAsync_createWithOptions(&client, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                    &copts) != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "paho_floor: cannot create a client for %s\n", uri);
        return 1;
    }
    MQTTAsync_setCallbacks(client, NULL, NULL, on_message, NULL);
    MQTTAsync_setConnected(client, NULL, on_connected);
    /* The same connect options as agent/ingest.c. */
    opts.keepAliveInterval = 30;
    opts.cleansession = 0;
    opts.automaticReconnect = 1;
    opts.minRetryInterval = 1;
    opts.maxRetryInterval = 30;
    opts.connectTimeout = 10;
    opts.MQTTVersion = MQTTVERSION_3_1_1;
    opts.onFailure = on_connect_failed;
    if (MQTTAsync_connect(client, &opts) != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "paho_floor: connect request refused\n");
        return 1;
    }
    while (!stop_requested) {
        struct timespec ts = {0, 100 * 1000000L};

        if (count_file != NULL)
            write_count(count_file);
        nanosleep(&ts, NULL);
    }
    if (count_file != NULL)
        write_count(count_file);
    printf("paho_floor: %ld messages, %ld payload bytes\n", atomic_load(&messages),
           atomic_load(&payload_bytes));
    MQTTAsync_disconnect(client, NULL);
    MQTTAsync_destroy(&client);
    return 0;
}
