/*
 * Integration test of platform/plat_tls and platform/plat_bridge against real
 * mosquitto brokers with TLS and client certificates, using a PKI generated at
 * test time by gen_certs.sh.
 *
 * usage: test_tls_bridge GEN_CERTS_SH [MOSQUITTO_BIN]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <MQTTClient.h>

#include "plat_bridge.h"
#include "plat_time.h"
#include "plat_tls.h"
#include "tls_harness.h"
#include "wr_error.h"

#define EVENT_WAIT_MS 15000u
#define MAX_EVENTS 64

static const char *gen_certs_script;
static const char *mosquitto_bin = "/usr/sbin/mosquitto";

/* Shared fixture: the PKI and two brokers, made once for the group. */
static char dir[256];
static char path_buf[16][512];
static struct th_broker broker_ok;      /* good server certificate, requires client certs */
static struct th_broker broker_expired; /* expired server certificate */
static uint16_t closed_port;            /* nothing listens here */

enum {
    CA,
    SERVER_CRT,
    SERVER_KEY,
    EXPIRED_CRT,
    EXPIRED_KEY,
    CLIENT_CRT,
    CLIENT_KEY,
    OTHER_CA,
    OTHER_CLIENT_CRT,
    OTHER_CLIENT_KEY,
    MISMATCH_KEY
};

static const char *pki(int which)
{
    return path_buf[which];
}

static void set_path(int which, const char *name)
{
    snprintf(path_buf[which], sizeof(path_buf[which]), "%s/%s", dir, name);
}

/* ---- event recorder --------------------------------------------------------------------- */

struct recorder {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int count;
    enum plat_bridge_event ev[MAX_EVENTS];
    char detail[MAX_EVENTS][512];
};

static struct recorder rec = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {0}, {{0}}};

static void on_event(void *ctx, enum plat_bridge_event ev, const char *detail)
{
    struct recorder *r = ctx;

    pthread_mutex_lock(&r->lock);
    if (r->count < MAX_EVENTS) {
        r->ev[r->count] = ev;
        snprintf(r->detail[r->count], sizeof(r->detail[0]), "%s", detail);
        r->count++;
    }
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static void rec_reset(void)
{
    pthread_mutex_lock(&rec.lock);
    rec.count = 0;
    pthread_mutex_unlock(&rec.lock);
}

/* Wait (with a deadline) for an event of this type; copies its detail. Returns 0 or -1. */
static int rec_wait(enum plat_bridge_event ev, char *detail, size_t len)
{
    struct timespec ts;
    int rc = -1;
    int i;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(EVENT_WAIT_MS / 1000u);
    pthread_mutex_lock(&rec.lock);
    for (;;) {
        for (i = 0; i < rec.count; i++) {
            if (rec.ev[i] == ev) {
                if (detail != NULL)
                    snprintf(detail, len, "%s", rec.detail[i]);
                rc = 0;
                break;
            }
        }
        if (rc == 0 || pthread_cond_timedwait(&rec.cond, &rec.lock, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&rec.lock);
    return rc;
}

static int rec_count(enum plat_bridge_event ev)
{
    int n = 0;
    int i;

    pthread_mutex_lock(&rec.lock);
    for (i = 0; i < rec.count; i++)
        n += rec.ev[i] == ev;
    pthread_mutex_unlock(&rec.lock);
    return n;
}

/* ---- fixture ---------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (th_make_tempdir(dir, sizeof(dir)) != 0)
        return -1;
    if (th_run_script(gen_certs_script, dir) != 0) {
        fprintf(stderr, "gen_certs.sh failed\n");
        return -1;
    }
    set_path(CA, "ca.crt");
    set_path(SERVER_CRT, "server.crt");
    set_path(SERVER_KEY, "server.key");
    set_path(EXPIRED_CRT, "expired.crt");
    set_path(EXPIRED_KEY, "expired.key");
    set_path(CLIENT_CRT, "client.crt");
    set_path(CLIENT_KEY, "client.key");
    set_path(OTHER_CA, "other-ca.crt");
    set_path(OTHER_CLIENT_CRT, "other-client.crt");
    set_path(OTHER_CLIENT_KEY, "other-client.key");
    set_path(MISMATCH_KEY, "mismatch.key");
    if (th_broker_start(&broker_ok, mosquitto_bin, dir, "ok", th_free_port(), pki(CA),
                        pki(SERVER_CRT), pki(SERVER_KEY)) != 0 ||
        th_broker_start(&broker_expired, mosquitto_bin, dir, "expired", th_free_port(), pki(CA),
                        pki(EXPIRED_CRT), pki(EXPIRED_KEY)) != 0) {
        fprintf(stderr, "cannot start mosquitto (%s)\n", mosquitto_bin);
        return -1;
    }
    closed_port = th_free_port();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_broker_stop(&broker_ok);
    th_broker_stop(&broker_expired);
    if (getenv("WR_KEEP_TLS_DIR") == NULL)
        th_remove_tree(dir);
    return 0;
}

static struct plat_tls_config good_tls(void)
{
    struct plat_tls_config c = {pki(CA), pki(CLIENT_CRT), pki(CLIENT_KEY), "localhost"};

    return c;
}

/* ---- plat_tls directly ------------------------------------------------------------------ */

static int connect_tls(const struct plat_tls_config *c, uint16_t port, char *err, size_t len)
{
    struct plat_tls *t = NULL;
    int rc = plat_tls_connect(c, "127.0.0.1", port, 5000, &t, err, len);

    if (rc == WR_OK) {
        assert_non_null(t);
        assert_true(plat_tls_fd(t) >= 0);
    } else {
        assert_null(t);
    }
    plat_tls_close(t);
    return rc;
}

static void test_tls_connect_mutual_ok(void **state)
{
    struct plat_tls_config c = good_tls();
    char err[512] = "x";

    (void)state;
    assert_int_equal(connect_tls(&c, broker_ok.port, err, sizeof(err)), WR_OK);
    assert_string_equal(err, "");
}

static void test_tls_connect_ip_literal_matches_ip_san(void **state)
{
    struct plat_tls_config c = good_tls();
    char err[512];

    (void)state;
    c.server_name = NULL; /* expected name is the host, 127.0.0.1, an IP SAN of the cert */
    assert_int_equal(connect_tls(&c, broker_ok.port, err, sizeof(err)), WR_OK);
    c.server_name = "127.0.0.2";
    assert_int_equal(connect_tls(&c, broker_ok.port, err, sizeof(err)), WR_E_TLS);
    assert_string_equal(err, "server name mismatch: expected 127.0.0.2");
}

static void test_tls_connect_unknown_ca(void **state)
{
    struct plat_tls_config c = good_tls();
    char err[512];

    (void)state;
    c.ca_file = pki(OTHER_CA);
    assert_int_equal(connect_tls(&c, broker_ok.port, err, sizeof(err)), WR_E_TLS);
    assert_string_equal(err, "certificate unknown (not signed by the configured CA)");
}

static void test_tls_connect_wrong_server_name(void **state)
{
    struct plat_tls_config c = good_tls();
    char err[512];

    (void)state;
    c.server_name = "broker.wrong.example";
    assert_int_equal(connect_tls(&c, broker_ok.port, err, sizeof(err)), WR_E_TLS);
    assert_string_equal(err, "server name mismatch: expected broker.wrong.example");
}

static void test_tls_connect_expired_server_cert(void **state)
{
    struct plat_tls_config c = good_tls();
    char err[512];

    (void)state;
    assert_int_equal(connect_tls(&c, broker_expired.port, err, sizeof(err)), WR_E_TLS);
    assert_string_equal(err, "certificate expired");
}

static void test_tls_connect_client_cert_rejected(void **state)
{
    struct plat_tls_config c = good_tls();
    char err[512];

    (void)state;
    c.cert_file = pki(OTHER_CLIENT_CRT);
    c.key_file = pki(OTHER_CLIENT_KEY);
    assert_int_equal(connect_tls(&c, broker_ok.port, err, sizeof(err)), WR_E_TLS);
    /*
     * Usually the broker's reset overtakes its alert ("... does not accept
     * it"); if the alert arrives first it is decoded instead ("... sent
     * unknown CA: ..."). Both name the client certificate.
     */
    assert_non_null(strstr(err, "handshake failed: "));
    assert_non_null(strstr(err, "client certificate"));
}

static void test_tls_connect_no_client_cert(void **state)
{
    struct plat_tls_config c = good_tls();
    char err[512];

    (void)state;
    c.cert_file = NULL;
    c.key_file = NULL;
    assert_int_equal(connect_tls(&c, broker_ok.port, err, sizeof(err)), WR_E_TLS);
    assert_non_null(strstr(err, "requires a client certificate and none is configured"));
}

static void test_tls_connect_refused(void **state)
{
    struct plat_tls_config c = good_tls();
    char err[512];
    char want[64];

    (void)state;
    snprintf(want, sizeof(want), "connection refused to 127.0.0.1:%u", (unsigned)closed_port);
    assert_int_equal(connect_tls(&c, closed_port, err, sizeof(err)), WR_E_CONN);
    assert_string_equal(err, want);
}

static void test_tls_connect_handshake_timeout(void **state)
{
    struct plat_tls_config c = good_tls();
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    struct plat_tls *t = NULL;
    uint64_t start;
    uint64_t took;
    char err[512];
    int lfd;

    (void)state;
    /* A listener that never accepts: the kernel completes TCP, nobody speaks TLS. */
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    start = plat_time_mono_ms();
    assert_int_equal(
        plat_tls_connect(&c, "127.0.0.1", ntohs(a.sin_port), 300, &t, err, sizeof(err)),
        WR_E_TIMEOUT);
    took = plat_time_mono_ms() - start;
    assert_null(t);
    assert_true(took >= 290 && took < 3000);
    assert_non_null(strstr(err, "timed out after 300 ms"));
    close(lfd);
}

static void test_tls_connect_bad_files(void **state)
{
    struct plat_tls_config c = good_tls();
    char err[512];

    (void)state;
    c.ca_file = "/nonexistent/ca.pem";
    assert_int_equal(connect_tls(&c, broker_ok.port, err, sizeof(err)), WR_E_TLS);
    assert_non_null(strstr(err, "cannot load CA file /nonexistent/ca.pem: "));

    c = good_tls();
    c.key_file = pki(MISMATCH_KEY);
    assert_int_equal(connect_tls(&c, broker_ok.port, err, sizeof(err)), WR_E_TLS);
    assert_non_null(strstr(err, "does not match certificate"));

    c = good_tls();
    c.cert_file = pki(CLIENT_KEY); /* a key is not a certificate */
    assert_int_equal(connect_tls(&c, broker_ok.port, err, sizeof(err)), WR_E_TLS);
    assert_non_null(strstr(err, "cannot load client certificate"));
}

static void test_tls_connect_invalid_args(void **state)
{
    struct plat_tls_config c = good_tls();
    struct plat_tls *t = (struct plat_tls *)&c;
    char err[128];

    (void)state;
    assert_int_equal(plat_tls_connect(NULL, "127.0.0.1", 1, 100, &t, err, sizeof(err)), WR_E_INVAL);
    assert_null(t);
    assert_int_equal(plat_tls_connect(&c, "", 1, 100, &t, err, sizeof(err)), WR_E_INVAL);
    assert_int_equal(plat_tls_connect(&c, "127.0.0.1", 0, 100, &t, err, sizeof(err)), WR_E_INVAL);
    assert_int_equal(plat_tls_connect(&c, "127.0.0.1", 1, 0, &t, err, sizeof(err)), WR_E_INVAL);
    c.ca_file = NULL;
    assert_int_equal(plat_tls_connect(&c, "127.0.0.1", 1, 100, &t, err, sizeof(err)), WR_E_INVAL);
    assert_non_null(strstr(err, "verification is mandatory"));
    c = good_tls();
    c.key_file = NULL;
    assert_int_equal(plat_tls_connect(&c, "127.0.0.1", 1, 100, &t, NULL, 0), WR_E_INVAL);
    plat_tls_close(NULL);
    assert_int_equal(plat_tls_fd(NULL), -1);
    assert_int_equal(plat_tls_pending(NULL), 0);
}

/* ---- through the bridge ----------------------------------------------------------------- */

static struct plat_bridge *start_bridge(const struct plat_tls_config *tls, uint16_t port)
{
    struct plat_bridge_config cfg;
    struct plat_bridge *b = NULL;

    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "127.0.0.1";
    cfg.port = port;
    cfg.tls = *tls;
    cfg.connect_timeout_ms = 5000;
    cfg.on_event = on_event;
    cfg.event_ctx = &rec;
    rec_reset();
    assert_int_equal(plat_bridge_start(&cfg, &b), WR_OK);
    assert_non_null(b);
    assert_true(plat_bridge_port(b) != 0);
    return b;
}

static int paho_connect(MQTTClient *client, uint16_t bridge_port, const char *client_id)
{
    MQTTClient_connectOptions opts = MQTTClient_connectOptions_initializer;
    char uri[64];
    int rc;

    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u", (unsigned)bridge_port);
    rc = MQTTClient_create(client, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    assert_int_equal(rc, MQTTCLIENT_SUCCESS);
    opts.keepAliveInterval = 20;
    opts.cleansession = 1;
    opts.connectTimeout = 10;
    rc = MQTTClient_connect(*client, &opts);
    if (rc != MQTTCLIENT_SUCCESS)
        MQTTClient_destroy(client);
    return rc;
}

/* Subscribe, publish QoS 1 and receive the message back through the broker. */
static void paho_roundtrip(MQTTClient client, const char *payload)
{
    char topic[64];
    MQTTClient_deliveryToken token = 0;
    MQTTClient_message *msg = NULL;
    char *got_topic = NULL;
    int got_topic_len = 0;
    int rc;

    snprintf(topic, sizeof(topic), "windrow/tls-test/%ld", (long)getpid());
    assert_int_equal(MQTTClient_subscribe(client, topic, 1), MQTTCLIENT_SUCCESS);
    assert_int_equal(MQTTClient_publish(client, topic, (int)strlen(payload), payload, 1, 0, &token),
                     MQTTCLIENT_SUCCESS);
    assert_int_equal(MQTTClient_waitForCompletion(client, token, 10000), MQTTCLIENT_SUCCESS);
    rc = MQTTClient_receive(client, &got_topic, &got_topic_len, &msg, 10000);
    assert_int_equal(rc, MQTTCLIENT_SUCCESS);
    assert_non_null(msg);
    assert_int_equal(msg->payloadlen, (int)strlen(payload));
    assert_memory_equal(msg->payload, payload, strlen(payload));
    assert_int_equal(msg->qos, 1);
    assert_string_equal(got_topic, topic);
    MQTTClient_freeMessage(&msg);
    MQTTClient_free(got_topic);
}

static void paho_close(MQTTClient *client)
{
    MQTTClient_disconnect(*client, 1000);
    MQTTClient_destroy(client);
}

static void test_bridge_paho_qos1_roundtrip(void **state)
{
    struct plat_tls_config c = good_tls();
    struct plat_bridge *b;
    MQTTClient client;
    char detail[512];
    char want[64];

    (void)state;
    b = start_bridge(&c, broker_ok.port);
    assert_int_equal(plat_bridge_last_error(b, detail, sizeof(detail)), WR_E_EMPTY);
    assert_int_equal(paho_connect(&client, plat_bridge_port(b), "windrow-tls-roundtrip"),
                     MQTTCLIENT_SUCCESS);
    assert_int_equal(rec_wait(PLAT_BRIDGE_TLS_UP, detail, sizeof(detail)), 0);
    snprintf(want, sizeof(want), "127.0.0.1:%u", (unsigned)broker_ok.port);
    assert_string_equal(detail, want);
    paho_roundtrip(client, "{\"window\":42,\"mean\":21.5}");
    paho_close(&client);
    assert_int_equal(rec_wait(PLAT_BRIDGE_CLOSED, detail, sizeof(detail)), 0);
    assert_int_equal(rec_count(PLAT_BRIDGE_FOREIGN_REFUSED), 0);
    plat_bridge_stop(b);
}

static void test_bridge_large_payload_intact(void **state)
{
    struct plat_tls_config c = good_tls();
    struct plat_bridge *b;
    MQTTClient client;
    MQTTClient_deliveryToken token = 0;
    MQTTClient_message *msg = NULL;
    char *topic = NULL;
    int topic_len = 0;
    const int len = 3 * 1024 * 1024 + 17; /* many full TLS records plus a ragged end */
    unsigned char *payload = malloc((size_t)len);
    int i;

    (void)state;
    assert_non_null(payload);
    for (i = 0; i < len; i++)
        payload[i] = (unsigned char)(((unsigned)i * 131u + ((unsigned)i >> 13)) & 0xffu);
    b = start_bridge(&c, broker_ok.port);
    assert_int_equal(paho_connect(&client, plat_bridge_port(b), "windrow-tls-large"),
                     MQTTCLIENT_SUCCESS);
    assert_int_equal(MQTTClient_subscribe(client, "windrow/tls-test/large", 1), MQTTCLIENT_SUCCESS);
    /* Two in a row so the relay carries both directions at once under backpressure. */
    assert_int_equal(
        MQTTClient_publish(client, "windrow/tls-test/large", len, payload, 1, 0, &token),
        MQTTCLIENT_SUCCESS);
    assert_int_equal(
        MQTTClient_publish(client, "windrow/tls-test/large", len, payload, 1, 0, &token),
        MQTTCLIENT_SUCCESS);
    assert_int_equal(MQTTClient_waitForCompletion(client, token, 20000), MQTTCLIENT_SUCCESS);
    for (i = 0; i < 2; i++) {
        assert_int_equal(MQTTClient_receive(client, &topic, &topic_len, &msg, 20000),
                         MQTTCLIENT_SUCCESS);
        assert_non_null(msg);
        assert_int_equal(msg->payloadlen, len);
        assert_memory_equal(msg->payload, payload, (size_t)len);
        MQTTClient_freeMessage(&msg);
        MQTTClient_free(topic);
    }
    paho_close(&client);
    plat_bridge_stop(b);
    free(payload);
}

/* Connect a raw own-process socket to the bridge and wait (deadline) until the bridge closes it. */
static void own_connect_expect_close(uint16_t bridge_port)
{
    struct sockaddr_in a;
    struct pollfd pfd;
    char buf[16];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(bridge_port);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    pfd.fd = fd;
    pfd.events = POLLIN;
    assert_int_equal(poll(&pfd, 1, (int)EVENT_WAIT_MS), 1);
    assert_true(recv(fd, buf, sizeof(buf), 0) <= 0);
    close(fd);
}

struct failure_case {
    const char *name;
    struct plat_tls_config tls;
    uint16_t port;
    char expect[128]; /* substring of the reported reason */
};

static void test_bridge_failures_reported(void **state)
{
    struct failure_case cases[5];
    size_t i;

    (void)state;
    memset(cases, 0, sizeof(cases));
    cases[0] = (struct failure_case){"unknown CA", good_tls(), broker_ok.port,
                                     "certificate unknown (not signed by the configured CA)"};
    cases[0].tls.ca_file = pki(OTHER_CA);
    cases[1] = (struct failure_case){"wrong server name", good_tls(), broker_ok.port,
                                     "server name mismatch: expected nope.example"};
    cases[1].tls.server_name = "nope.example";
    cases[2] =
        (struct failure_case){"expired", good_tls(), broker_expired.port, "certificate expired"};
    cases[3] = (struct failure_case){"client cert rejected", good_tls(), broker_ok.port,
                                     "client certificate"};
    cases[3].tls.cert_file = pki(OTHER_CLIENT_CRT);
    cases[3].tls.key_file = pki(OTHER_CLIENT_KEY);
    cases[4] = (struct failure_case){"unreachable", good_tls(), closed_port, ""};
    snprintf(cases[4].expect, sizeof(cases[4].expect), "connection refused to 127.0.0.1:%u",
             (unsigned)closed_port);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct plat_bridge *b = start_bridge(&cases[i].tls, cases[i].port);
        char detail[512];
        char last[512];
        MQTTClient client;

        print_message("bridge failure case: %s\n", cases[i].name);
        own_connect_expect_close(plat_bridge_port(b));
        assert_int_equal(rec_wait(PLAT_BRIDGE_TLS_FAILED, detail, sizeof(detail)), 0);
        assert_non_null(strstr(detail, cases[i].expect));
        assert_int_equal(plat_bridge_last_error(b, last, sizeof(last)), WR_OK);
        assert_string_equal(last, detail);
        /* Paho sees a failed connect, not a hang and not a crash. */
        assert_int_not_equal(paho_connect(&client, plat_bridge_port(b), "windrow-tls-fail"),
                             MQTTCLIENT_SUCCESS);
        assert_int_equal(rec_count(PLAT_BRIDGE_TLS_UP), 0);
        plat_bridge_stop(b);
    }
}

static void test_bridge_foreign_connection_refused(void **state)
{
    struct plat_tls_config c = good_tls();
    struct plat_bridge *b;
    MQTTClient client;
    char script[256];
    char detail[512];
    pid_t pid;
    int status = -1;
    uint64_t deadline;

    (void)state;
    b = start_bridge(&c, broker_ok.port);
    /*
     * Another process connects and waits for data; exit 0 means the bridge
     * closed its connection (EOF), 4 means it was left hanging, 2 no connect.
     */
    snprintf(script, sizeof(script),
             "exec 3<>/dev/tcp/127.0.0.1/%u || exit 2; "
             "if read -r -t 10 -u 3 line; then exit 3; fi; [ $? -gt 128 ] && exit 4; exit 0",
             (unsigned)plat_bridge_port(b));
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/bin/bash", "bash", "-c", script, (char *)NULL);
        _exit(127);
    }
    deadline = plat_time_mono_ms() + EVENT_WAIT_MS;
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (plat_time_mono_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("foreign connector did not finish");
        }
        th_nap_ms(10);
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(rec_wait(PLAT_BRIDGE_FOREIGN_REFUSED, detail, sizeof(detail)), 0);
    assert_non_null(strstr(detail, "another process"));
    assert_int_equal(rec_count(PLAT_BRIDGE_TLS_UP), 0);
    assert_int_equal(rec_count(PLAT_BRIDGE_TLS_FAILED), 0);

    /* The bridge is still serving its own process. */
    assert_int_equal(paho_connect(&client, plat_bridge_port(b), "windrow-tls-own"),
                     MQTTCLIENT_SUCCESS);
    paho_roundtrip(client, "own process");
    paho_close(&client);
    assert_int_equal(rec_count(PLAT_BRIDGE_FOREIGN_REFUSED), 1);
    plat_bridge_stop(b);
}

static void test_bridge_survives_broker_restart(void **state)
{
    struct plat_tls_config c = good_tls();
    struct plat_bridge *b;
    MQTTClient client;
    char detail[512];
    char want[80];
    uint16_t port = broker_ok.port;

    (void)state;
    b = start_bridge(&c, port);
    assert_int_equal(paho_connect(&client, plat_bridge_port(b), "windrow-tls-restart"),
                     MQTTCLIENT_SUCCESS);
    paho_roundtrip(client, "before restart");

    th_broker_stop(&broker_ok);
    /* The relayed session ends when the broker goes away. */
    assert_int_equal(rec_wait(PLAT_BRIDGE_CLOSED, detail, sizeof(detail)), 0);
    paho_close(&client);
    assert_int_not_equal(paho_connect(&client, plat_bridge_port(b), "windrow-tls-restart"),
                         MQTTCLIENT_SUCCESS);
    assert_int_equal(rec_wait(PLAT_BRIDGE_TLS_FAILED, detail, sizeof(detail)), 0);
    snprintf(want, sizeof(want), "connection refused to 127.0.0.1:%u", (unsigned)port);
    assert_string_equal(detail, want);

    assert_int_equal(th_broker_start(&broker_ok, mosquitto_bin, dir, "ok", port, pki(CA),
                                     pki(SERVER_CRT), pki(SERVER_KEY)),
                     0);
    rec_reset();
    assert_int_equal(paho_connect(&client, plat_bridge_port(b), "windrow-tls-restart"),
                     MQTTCLIENT_SUCCESS);
    assert_int_equal(rec_wait(PLAT_BRIDGE_TLS_UP, NULL, 0), 0);
    paho_roundtrip(client, "after restart");
    paho_close(&client);
    plat_bridge_stop(b);
}

static void test_bridge_start_invalid(void **state)
{
    struct plat_bridge_config cfg;
    struct plat_bridge *b = (struct plat_bridge *)&cfg;
    char buf[8];

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(plat_bridge_start(NULL, &b), WR_E_INVAL);
    assert_null(b);
    assert_int_equal(plat_bridge_start(&cfg, &b), WR_E_INVAL);
    cfg.host = "127.0.0.1";
    cfg.port = 8883;
    assert_int_equal(plat_bridge_start(&cfg, &b), WR_E_INVAL); /* no CA */
    cfg.tls.ca_file = "ca.pem";
    cfg.tls.cert_file = "c.pem";
    assert_int_equal(plat_bridge_start(&cfg, &b), WR_E_INVAL); /* cert without key */
    assert_int_equal(plat_bridge_last_error(NULL, buf, sizeof(buf)), WR_E_INVAL);
    assert_int_equal(plat_bridge_port(NULL), 0);
    plat_bridge_stop(NULL);
    assert_string_equal(plat_bridge_event_name(PLAT_BRIDGE_FOREIGN_REFUSED), "foreign_refused");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_connect_mutual_ok),
        cmocka_unit_test(test_tls_connect_ip_literal_matches_ip_san),
        cmocka_unit_test(test_tls_connect_unknown_ca),
        cmocka_unit_test(test_tls_connect_wrong_server_name),
        cmocka_unit_test(test_tls_connect_expired_server_cert),
        cmocka_unit_test(test_tls_connect_client_cert_rejected),
        cmocka_unit_test(test_tls_connect_no_client_cert),
        cmocka_unit_test(test_tls_connect_refused),
        cmocka_unit_test(test_tls_connect_handshake_timeout),
        cmocka_unit_test(test_tls_connect_bad_files),
        cmocka_unit_test(test_tls_connect_invalid_args),
        cmocka_unit_test(test_bridge_start_invalid),
        cmocka_unit_test(test_bridge_paho_qos1_roundtrip),
        cmocka_unit_test(test_bridge_large_payload_intact),
        cmocka_unit_test(test_bridge_failures_reported),
        cmocka_unit_test(test_bridge_foreign_connection_refused),
        cmocka_unit_test(test_bridge_survives_broker_restart),
    };

    if (argc < 2) {
        fprintf(stderr, "usage: %s GEN_CERTS_SH [MOSQUITTO_BIN]\n", argv[0]);
        return 2;
    }
    gen_certs_script = argv[1];
    if (argc > 2)
        mosquitto_bin = argv[2];
    return cmocka_run_group_tests_name("tls_bridge", tests, group_setup, group_teardown);
}
