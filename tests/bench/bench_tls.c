/*
 * TLS benchmark: handshake time of plat_tls_connect (mutual TLS, ECDSA P-256,
 * loopback mosquitto) and payload throughput through plat_bridge with Paho.
 *
 * usage: bench_tls GEN_CERTS_SH [MOSQUITTO_BIN] [MiB]
 * Prints one line per measurement; exits non-zero if something did not work.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <MQTTClient.h>

#include "plat_bridge.h"
#include "plat_time.h"
#include "plat_tls.h"
#include "tls_harness.h"
#include "wr_error.h"

#define HANDSHAKES 21
#define PAYLOAD_BYTES 65536

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

static atomic_long received_bytes;

static int on_message(void *ctx, char *topic, int topic_len, MQTTClient_message *msg)
{
    (void)ctx;
    (void)topic_len;
    atomic_fetch_add(&received_bytes, (long)msg->payloadlen);
    MQTTClient_freeMessage(&msg);
    MQTTClient_free(topic);
    return 1;
}

static void on_lost(void *ctx, char *cause)
{
    (void)ctx;
    fprintf(stderr, "connection lost: %s\n", cause != NULL ? cause : "?");
}

static int bench_handshakes(const struct plat_tls_config *tls, uint16_t port)
{
    double ms[HANDSHAKES];
    char err[512];
    int i;

    for (i = 0; i < HANDSHAKES; i++) {
        struct plat_tls *t = NULL;
        double t0 = now_s();
        int rc = plat_tls_connect(tls, "127.0.0.1", port, 5000, &t, err, sizeof(err));

        ms[i] = (now_s() - t0) * 1000.0;
        plat_tls_close(t);
        if (rc != WR_OK) {
            fprintf(stderr, "handshake %d failed: %s\n", i, err);
            return -1;
        }
    }
    qsort(ms, HANDSHAKES, sizeof(ms[0]), cmp_double);
    printf("handshake (TCP connect + TLS 1.2 mutual auth, P-256, incl. loading PEM files): "
           "median %.2f ms, min %.2f ms, max %.2f ms over %d\n",
           ms[HANDSHAKES / 2], ms[0], ms[HANDSHAKES - 1], HANDSHAKES);
    return 0;
}

static int bench_relay(const struct plat_tls_config *tls, uint16_t port, long mib)
{
    struct plat_bridge_config cfg;
    struct plat_bridge *b = NULL;
    MQTTClient client;
    MQTTClient_connectOptions opts = MQTTClient_connectOptions_initializer;
    MQTTClient_deliveryToken token;
    static char payload[PAYLOAD_BYTES];
    long count = mib * 1024L * 1024L / PAYLOAD_BYTES;
    char uri[64];
    double t0;
    double up_s;
    double rt_s;
    uint64_t deadline;
    long i;
    int rc = -1;

    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "127.0.0.1";
    cfg.port = port;
    cfg.tls = *tls;
    cfg.connect_timeout_ms = 5000;
    if (plat_bridge_start(&cfg, &b) != WR_OK)
        return -1;
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u", (unsigned)plat_bridge_port(b));
    memset(payload, 'w', sizeof(payload));
    MQTTClient_create(&client, uri, "windrow-bench", MQTTCLIENT_PERSISTENCE_NONE, NULL);
    MQTTClient_setCallbacks(client, NULL, on_lost, on_message, NULL);
    opts.keepAliveInterval = 60;
    opts.cleansession = 1;
    if (MQTTClient_connect(client, &opts) != MQTTCLIENT_SUCCESS)
        goto out;

    /* One way: QoS 0 into a topic nobody reads, fenced by a QoS 1 publish. */
    t0 = now_s();
    for (i = 0; i < count; i++) {
        if (MQTTClient_publish(client, "bench/sink", PAYLOAD_BYTES, payload, 0, 0, NULL) !=
            MQTTCLIENT_SUCCESS)
            goto out;
    }
    if (MQTTClient_publish(client, "bench/sink", 1, payload, 1, 0, &token) != MQTTCLIENT_SUCCESS ||
        MQTTClient_waitForCompletion(client, token, 60000) != MQTTCLIENT_SUCCESS)
        goto out;
    up_s = now_s() - t0;
    printf("relay Paho -> bridge -> TLS -> mosquitto: %ld MiB in %.3f s = %.1f MB/s payload\n", mib,
           up_s, (double)(count * PAYLOAD_BYTES) / up_s / 1e6);

    /*
     * Both ways: the broker echoes every message back through the bridge.
     * QoS 0, because Paho's synchronous client manages only about 0.7 MB/s
     * of QoS 1 echo even over plain TCP without the bridge.
     */
    if (MQTTClient_subscribe(client, "bench/echo", 0) != MQTTCLIENT_SUCCESS)
        goto out;
    atomic_store(&received_bytes, 0);
    t0 = now_s();
    for (i = 0; i < count; i++) {
        if (MQTTClient_publish(client, "bench/echo", PAYLOAD_BYTES, payload, 0, 0, NULL) !=
            MQTTCLIENT_SUCCESS)
            goto out;
    }
    deadline = plat_time_mono_ms() + 120000u;
    while (atomic_load(&received_bytes) < count * PAYLOAD_BYTES && plat_time_mono_ms() < deadline)
        th_nap_ms(1);
    rt_s = now_s() - t0;
    if (atomic_load(&received_bytes) < count * PAYLOAD_BYTES) {
        fprintf(stderr, "echo: only %ld of %ld bytes came back\n", atomic_load(&received_bytes),
                count * PAYLOAD_BYTES);
        goto out;
    }
    printf("echo QoS 0 through the bridge (each byte crosses it twice): %ld MiB in %.3f s = "
           "%.1f MB/s payload each way\n",
           mib, rt_s, (double)(count * PAYLOAD_BYTES) / rt_s / 1e6);
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "relay benchmark failed\n");
    MQTTClient_disconnect(client, 1000);
    MQTTClient_destroy(&client);
    plat_bridge_stop(b);
    return rc;
}

int main(int argc, char **argv)
{
    struct th_broker broker = {0};
    struct plat_tls_config tls;
    char dir[256];
    char ca[512];
    char crt[512];
    char key[512];
    char scrt[512];
    char skey[512];
    long mib = argc > 3 ? atol(argv[3]) : 64;
    int rc = 1;

    if (argc < 2 || mib <= 0) {
        fprintf(stderr, "usage: %s GEN_CERTS_SH [MOSQUITTO_BIN] [MiB]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (th_make_tempdir(dir, sizeof(dir)) != 0 || th_run_script(argv[1], dir) != 0)
        return 1;
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    snprintf(crt, sizeof(crt), "%s/client.crt", dir);
    snprintf(key, sizeof(key), "%s/client.key", dir);
    snprintf(scrt, sizeof(scrt), "%s/server.crt", dir);
    snprintf(skey, sizeof(skey), "%s/server.key", dir);
    if (th_broker_start(&broker, argc > 2 ? argv[2] : "/usr/sbin/mosquitto", dir, "bench",
                        th_free_port(), ca, scrt, skey) != 0)
        goto out;
    tls = (struct plat_tls_config){ca, crt, key, "localhost"};
    if (bench_handshakes(&tls, broker.port) != 0 || bench_relay(&tls, broker.port, mib) != 0)
        goto out;
    rc = 0;
out:
    th_broker_stop(&broker);
    th_remove_tree(dir);
    return rc;
}
