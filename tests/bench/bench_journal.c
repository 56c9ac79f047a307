/*
 * Crash journal micro-benchmark: ns per appended event (one mmap'd record:
 * stores and a CRC-32, no system call) and the replay rate at start. Run by
 * hand on a tmpfs directory (default /dev/shm):
 *
 *   bench_journal [DIR] [EVENTS] [KEY_BYTES]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "wr_error.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count(void *ctx, const struct wr_event *ev, uint64_t seq)
{
    (void)ev;
    (void)seq;
    (*(long *)ctx)++;
    return WR_OK;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/dev/shm";
    long events = argc > 2 ? atol(argv[2]) : 2000000;
    size_t key_len = argc > 3 ? (size_t)atol(argv[3]) : 10;
    char path[512];
    struct wr_journal_params jp;
    struct wr_journal *j = NULL;
    struct wr_event ev;
    long replayed = 0;
    double t0;
    double t1;

    if (key_len >= WR_KEY_MAX)
        key_len = WR_KEY_MAX - 1;
    snprintf(path, sizeof(path), "%s/bench-journal-%ld", dir, (long)getpid());
    jp.path = path;
    jp.capacity_bytes = 1u << 20;
    jp.boot_id = "00000000-0000-0000-0000-000000000000";
    jp.fingerprint = 1;
    jp.new_id = 1;
    if (wr_journal_open(&jp, &j, NULL) != WR_OK || wr_journal_start(j, 0, 0) != WR_OK) {
        fprintf(stderr, "bench_journal: cannot open %s\n", path);
        return 1;
    }
    memset(&ev, 0, sizeof(ev));
    memset(ev.key, 'k', key_len);
    ev.has_time = true;
    t0 = now_s();
    for (long i = 0; i < events; i++) {
        ev.time_ms = 1700000000000 + i;
        ev.value = (double)i;
        wr_journal_append(j, &ev, 1);
        wr_journal_set_covered(j, (uint64_t)i); /* a snapshot keeps up: no overruns */
    }
    t1 = now_s();
    printf("append: %ld events, %zu-byte keys: %.1f ns/event (%llu overruns)\n", events, key_len,
           (t1 - t0) * 1e9 / (double)events, (unsigned long long)wr_journal_overruns(j));
    t0 = now_s();
    wr_journal_replay(j, 0, count, &replayed, NULL);
    t1 = now_s();
    printf("replay: %ld records of a %zu-slot ring in %.2f ms\n", replayed, wr_journal_slots(j),
           (t1 - t0) * 1e3);
    wr_journal_close(j);
    unlink(path);
    return 0;
}
