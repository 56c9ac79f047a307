/*
 * Load generator for the benchmark. Not part of the agent: a test tool.
 *
 * Publishes events to PREFIX/k<N>/SUFFIX on a local broker, round-robin over a
 * number of keys, at a given rate (or as fast as the socket takes them),
 * with QoS 0 or 1, as JSON objects {"ts":<ms>,"v":<x>} or as SenML packs of
 * several records. It speaks MQTT 3.1.1 over a plain socket and writes many
 * packets per system call, so that on a small machine the generator costs
 * far less CPU than the subject it loads (a Paho publisher would cost about
 * as much as the subscriber being measured).
 *
 * Values are deterministic (quarters, so every sum is exact in a double) and
 * the event time is the wall clock when the message is built. With -s the
 * generator writes what it sent per (key, second): the benchmark rolls that
 * up into any window size and compares each window's count and sum with the
 * results that arrived upstream.
 *
 *   loadgen -p PORT -n EVENTS [-k KEYS] [-r EVENTS_PER_S] [-q 0|1] [-b RECORDS]
 *           [-t PREFIX] [-x SUFFIX] [-f FIELD] [-s SUMMARY] [-c CLOSE_MS] [-i CLIENT_ID]
 *           [-g TICK_US]
 *   loadgen PORT EVENTS KEYS [RATE]      (older form: QoS 1, JSON, "value" field)
 *
 * -b N  SenML packs of N records per message (N = 1: a JSON object). EVENTS
 *       and the rate count records, not messages.
 * -t, -x topic PREFIX/k<N>/SUFFIX (default bench/k<N>/v); -f the JSON value
 *       field (default "v").
 * -c MS after everything was sent, one more event on key "closer", stamped
 *       MS after the last event, so that the last windows close; it is not in
 *       the summary.
 * -g US when ahead of the schedule, sleep at least this long (default 1000):
 *       at 10,000 events/s about ten messages leave per write, not one.
 * Exit status 0 when every message was written (QoS 0) or acknowledged
 * (QoS 1) and the broker answered a final PINGREQ; 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define OUT_CAP (64 * 1024)
#define MAX_INFLIGHT 10000L
#define MAX_RECORDS 256

struct opts {
    int port;
    long events;
    long keys;
    double rate;
    int qos;
    int records;
    const char *prefix;
    const char *summary;
    long close_ms;
    const char *client_id;
    const char *value_field;
    const char *suffix;
    long tick_us;
};

/* Per key: the second being counted and its count and sum (in quarters). */
struct key_acc {
    long long sec;
    long count;
    long long sum_q;
};

static int sock_fd = -1;
static unsigned char out_buf[OUT_CAP];
static size_t out_len;
static atomic_long pubacks;
static atomic_long pingresps;
static atomic_int reader_failed;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000L;
}

static void pause_us(long us)
{
    struct timespec ts = {us / 1000000L, (us % 1000000L) * 1000L};

    nanosleep(&ts, NULL);
}

static int write_all(const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(sock_fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            perror("loadgen: write");
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int flush_out(void)
{
    int rc = write_all(out_buf, out_len);

    out_len = 0;
    return rc;
}

static size_t put_len(unsigned char *p, size_t n)
{
    size_t i = 0;

    do {
        unsigned char b = (unsigned char)(n % 128);

        n /= 128;
        p[i++] = (unsigned char)(b | (n ? 0x80 : 0));
    } while (n);
    return i;
}

/* Appends one MQTT packet: header byte, remaining length, then the parts. */
static int put_packet(unsigned char header, const unsigned char *var, size_t var_len,
                      const char *payload, size_t payload_len)
{
    unsigned char fixed[5];
    size_t fixed_len;
    size_t total;

    fixed[0] = header;
    fixed_len = 1 + put_len(fixed + 1, var_len + payload_len);
    total = fixed_len + var_len + payload_len;
    if (total > OUT_CAP)
        return -1;
    if (out_len + total > OUT_CAP && flush_out() != 0)
        return -1;
    memcpy(out_buf + out_len, fixed, fixed_len);
    /* PINGREQ and DISCONNECT have no parts: memcpy must not see their NULLs. */
    if (var_len > 0)
        memcpy(out_buf + out_len + fixed_len, var, var_len);
    if (payload_len > 0)
        memcpy(out_buf + out_len + fixed_len + var_len, payload, payload_len);
    out_len += total;
    return 0;
}

static int publish(const char *topic, const char *payload, size_t payload_len, int qos,
                   unsigned packet_id)
{
    unsigned char var[300];
    size_t tlen = strlen(topic);
    size_t n = 0;

    if (tlen > 255)
        return -1;
    var[n++] = (unsigned char)(tlen >> 8);
    var[n++] = (unsigned char)(tlen & 0xff);
    memcpy(var + n, topic, tlen);
    n += tlen;
    if (qos == 1) {
        var[n++] = (unsigned char)(packet_id >> 8);
        var[n++] = (unsigned char)(packet_id & 0xff);
    }
    return put_packet((unsigned char)(qos == 1 ? 0x32 : 0x30), var, n, payload, payload_len);
}

static int read_exact(unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = read(sock_fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads packets from the broker: counts PUBACKs and PINGRESPs until the socket closes. */
static void *reader_main(void *arg)
{
    static unsigned char in[256 * 1024];
    size_t have = 0;

    (void)arg;
    for (;;) {
        size_t pos = 0;
        ssize_t n = read(sock_fd, in + have, sizeof(in) - have);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        for (;;) {
            size_t len = 0;
            size_t mult = 1;
            size_t i = pos + 1;
            int complete = 0;

            while (i < have && i < pos + 5) {
                len += (size_t)(in[i] & 0x7f) * mult;
                mult *= 128;
                if (!(in[i++] & 0x80)) {
                    complete = 1;
                    break;
                }
            }
            if (!complete || have - i < len)
                break;
            if ((in[pos] & 0xf0) == 0x40)
                atomic_fetch_add(&pubacks, 1);
            else if ((in[pos] & 0xf0) == 0xd0)
                atomic_fetch_add(&pingresps, 1);
            pos = i + len;
        }
        memmove(in, in + pos, have - pos);
        have -= pos;
    }
    atomic_store(&reader_failed, 1);
    return NULL;
}

static int mqtt_connect(const struct opts *o)
{
    struct sockaddr_in addr;
    unsigned char var[10] = {0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60};
    char payload[128];
    unsigned char connack[4];
    size_t id_len = strlen(o->client_id);
    int one = 1;

    sock_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (sock_fd < 0)
        return -1;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)o->port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(sock_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        perror("loadgen: connect");
        return -1;
    }
    setsockopt(sock_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (id_len > sizeof(payload) - 2)
        return -1;
    payload[0] = (char)(id_len >> 8);
    payload[1] = (char)(id_len & 0xff);
    memcpy(payload + 2, o->client_id, id_len);
    if (put_packet(0x10, var, sizeof(var), payload, id_len + 2) != 0 || flush_out() != 0)
        return -1;
    if (read_exact(connack, sizeof(connack)) != 0 || connack[0] != 0x20 || connack[3] != 0) {
        fprintf(stderr, "loadgen: CONNACK missing or refused\n");
        return -1;
    }
    return 0;
}

/* Value of event i, in quarters: -50.00 .. 149.75 (inside the board profiles'
 * range filters), so that every sum is exact in a double. */
static long long value_q(long i)
{
    return (long long)((i * 7919L) % 800L) - 200;
}

static int fmt_value(char *p, size_t cap, long long q)
{
    return snprintf(p, cap, "%.2f", (double)q / 4.0);
}

/* Builds message m's payload for key k, records first..first+n-1, at time t_ms. */
static size_t build_payload(const struct opts *o, char *p, size_t cap, long first, int n,
                            long long t_ms)
{
    size_t len = 0;
    char v[32];

    if (o->records <= 1) {
        fmt_value(v, sizeof(v), value_q(first));
        return (size_t)snprintf(p, cap, "{\"ts\":%lld,\"%s\":%s}", t_ms, o->value_field, v);
    }
    p[len++] = '[';
    for (int r = 0; r < n && len < cap; r++) {
        fmt_value(v, sizeof(v), value_q(first + r));
        if (r == 0)
            len += (size_t)snprintf(p + len, cap - len, "{\"bt\":%lld.%03lld,\"n\":\"m%d\",\"v\":%s}",
                                    t_ms / 1000, t_ms % 1000, r, v);
        else
            len += (size_t)snprintf(p + len, cap - len, ",{\"n\":\"m%d\",\"v\":%s}", r, v);
    }
    if (len + 2 > cap)
        return cap;
    p[len++] = ']';
    p[len] = '\0';
    return len;
}

static void summary_emit(FILE *f, long key, const struct key_acc *a)
{
    if (f != NULL && a->count > 0)
        fprintf(f, "w k%ld %lld %ld %lld\n", key, a->sec, a->count, a->sum_q);
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen -p PORT -n EVENTS [-k KEYS] [-r EVENTS_PER_S] [-q 0|1] "
                    "[-b RECORDS] [-t PREFIX] [-x SUFFIX] [-f FIELD] [-s SUMMARY] [-c CLOSE_MS]\n"
                    "               [-i CLIENT_ID] [-g TICK_US]\n"
                    "       loadgen PORT EVENTS KEYS [RATE]\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    int c;

    o->keys = 1000;
    o->qos = 1;
    o->records = 1;
    o->prefix = "bench";
    o->close_ms = -1;
    o->client_id = NULL;
    o->value_field = "v";
    o->tick_us = 1000;
    o->suffix = "v";
    if (argc >= 4 && argv[1][0] != '-') {
        o->port = atoi(argv[1]);
        o->events = atol(argv[2]);
        o->keys = atol(argv[3]);
        o->rate = argc > 4 ? atof(argv[4]) : 0.0;
        o->value_field = "value";
        return 0;
    }
    while ((c = getopt(argc, argv, "p:n:k:r:q:b:t:s:c:i:g:x:f:")) != -1) {
        switch (c) {
        case 'p': o->port = atoi(optarg); break;
        case 'n': o->events = atol(optarg); break;
        case 'k': o->keys = atol(optarg); break;
        case 'r': o->rate = atof(optarg); break;
        case 'q': o->qos = atoi(optarg); break;
        case 'b': o->records = atoi(optarg); break;
        case 't': o->prefix = optarg; break;
        case 's': o->summary = optarg; break;
        case 'c': o->close_ms = atol(optarg); break;
        case 'i': o->client_id = optarg; break;
        case 'g': o->tick_us = atol(optarg); break;
        case 'x': o->suffix = optarg; break;
        case 'f': o->value_field = optarg; break;
        default: return -1;
        }
    }
    if (o->port <= 0 || o->events <= 0 || o->keys <= 0 || (o->qos != 0 && o->qos != 1) ||
        o->records < 1 || o->records > MAX_RECORDS || o->rate < 0)
        return -1;
    return 0;
}

/* Waits until cond() or the deadline; returns cond(). */
static int wait_until(long (*count)(void), long target, double timeout_s)
{
    double end = now_s() + timeout_s;

    while (count() < target && now_s() < end && !atomic_load(&reader_failed))
        pause_us(500);
    return count() >= target;
}

static long count_pubacks(void)
{
    return atomic_load(&pubacks);
}

static long count_pingresps(void)
{
    return atomic_load(&pingresps);
}

int main(int argc, char **argv)
{
    static char payload[MAX_RECORDS * 48 + 64];
    struct opts o;
    struct key_acc *acc = NULL;
    char client_id[64];
    char topic[300];
    FILE *sum = NULL;
    pthread_t reader;
    long messages;
    long sent_msgs = 0;
    long sent_events = 0;
    long long last_t = 0;
    double start;
    double elapsed;
    double msg_rate;
    int ok = 1;

    memset(&o, 0, sizeof(o));
    if (parse_args(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    if (o.client_id == NULL) {
        /* Unique per process: several generators may share one broker. */
        snprintf(client_id, sizeof(client_id), "windrow-loadgen-%ld", (long)getpid());
        o.client_id = client_id;
    }
    messages = (o.events + o.records - 1) / o.records;
    msg_rate = o.rate / o.records;
    if (o.summary != NULL) {
        sum = fopen(o.summary, "w");
        acc = calloc((size_t)o.keys, sizeof(*acc));
        if (sum == NULL || acc == NULL) {
            perror("loadgen: summary");
            return 1;
        }
        fprintf(sum, "# loadgen summary v1: w KEY SECOND COUNT SUM_IN_QUARTERS\n");
    }
    if (mqtt_connect(&o) != 0)
        return 1;
    if (pthread_create(&reader, NULL, reader_main, NULL) != 0)
        return 1;

    start = now_s();
    for (long m = 0; m < messages && ok; m++) {
        long key = m % o.keys;
        long first = m * o.records;
        int n = (int)(o.events - first < o.records ? o.events - first : o.records);
        size_t len;

        if (msg_rate > 0) {
            /* Absolute schedule: message m is due at start + m / rate. Once ahead,
             * flush and sleep at least one tick, so that packets never wait in
             * our buffer but the generator does not wake once per message. */
            double due = start + (double)m / msg_rate;
            double now = now_s();

            if (now < due) {
                if (out_len > 0 && flush_out() != 0)
                    break;
                now = now_s();
                if (now < due)
                    pause_us((long)((due - now) * 1e6) > o.tick_us ? (long)((due - now) * 1e6)
                                                                    : o.tick_us);
            }
        }
        if (o.qos == 1) {
            while (ok && sent_msgs - atomic_load(&pubacks) >= MAX_INFLIGHT &&
                   !atomic_load(&reader_failed)) {
                if (out_len > 0 && flush_out() != 0)
                    ok = 0;
                pause_us(200);
            }
            if (!ok)
                break;
        }
        last_t = wall_ms();
        len = build_payload(&o, payload, sizeof(payload), first, n, last_t);
        snprintf(topic, sizeof(topic), "%s/k%ld/%s", o.prefix, key, o.suffix);
        if (publish(topic, payload, len, o.qos, (unsigned)(m % 65535) + 1) != 0) {
            ok = 0;
            break;
        }
        sent_msgs++;
        sent_events += n;
        if (acc != NULL) {
            struct key_acc *a = &acc[key];
            long long sec = last_t / 1000;

            if (a->sec != sec) {
                summary_emit(sum, key, a);
                a->sec = sec;
                a->count = 0;
                a->sum_q = 0;
            }
            for (int r = 0; r < n; r++)
                a->sum_q += value_q(first + r);
            a->count += n;
        }
    }
    if (ok && flush_out() != 0)
        ok = 0;
    if (ok && o.qos == 1 && !wait_until(count_pubacks, sent_msgs, 120)) {
        fprintf(stderr, "loadgen: %ld of %ld PUBACKs\n", atomic_load(&pubacks), sent_msgs);
        ok = 0;
    }
    elapsed = now_s() - start;
    if (ok && o.close_ms >= 0) {
        size_t len = build_payload(&o, payload, sizeof(payload), 0, 1, last_t + o.close_ms);

        snprintf(topic, sizeof(topic), "%s/closer/%s", o.prefix, o.suffix);
        if (publish(topic, payload, len, 1, 65535) != 0 || flush_out() != 0)
            ok = 0;
    }
    /* The broker handles a connection's packets in order: its PINGRESP means it
     * has taken every PUBLISH before it. */
    if (ok && (put_packet(0xc0, NULL, 0, NULL, 0) != 0 || flush_out() != 0 ||
               !wait_until(count_pingresps, 1, 60))) {
        fprintf(stderr, "loadgen: no PINGRESP from the broker\n");
        ok = 0;
    }
    if (ok) {
        put_packet(0xe0, NULL, 0, NULL, 0);
        flush_out();
    }
    shutdown(sock_fd, SHUT_RDWR);
    pthread_join(reader, NULL);
    close(sock_fd);
    if (sum != NULL) {
        for (long k = 0; k < o.keys; k++)
            summary_emit(sum, k, &acc[k]);
        fprintf(sum, "sent_messages %ld\nsent_events %ld\nseconds %.3f\nqos %d\nrecords %d\n"
                     "keys %ld\nok %d\n",
                sent_msgs, sent_events, elapsed, o.qos, o.records, o.keys, ok);
        if (fclose(sum) != 0)
            ok = 0;
    }
    free(acc);
    printf("loadgen: sent %ld messages, %ld events over %ld keys, QoS %d, in %.2f s "
           "(%.0f events/s), %ld acked\n",
           sent_msgs, sent_events, o.keys, o.qos, elapsed, (double)sent_events / elapsed,
           atomic_load(&pubacks));
    return ok ? 0 : 1;
}
