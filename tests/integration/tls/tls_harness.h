#ifndef WR_TLS_HARNESS_H
#define WR_TLS_HARNESS_H

/*
 * Helpers shared by the TLS integration test and the TLS benchmark: a
 * throwaway PKI made by gen_certs.sh, real mosquitto brokers on free loopback
 * ports, and waiting on conditions with deadlines. Test code only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct th_broker {
    pid_t pid; /* 0 when not running */
    uint16_t port;
    char conf[512]; /* generated config file */
    char log[512];  /* broker stdout+stderr */
};

/** Create a fresh temporary directory; returns 0 or -1. */
int th_make_tempdir(char *out, size_t len);

/** Remove a directory tree made by th_make_tempdir. */
void th_remove_tree(const char *dir);

/** Run "/bin/sh script dir" and return its exit status (-1 if it did not exit). */
int th_run_script(const char *script, const char *dir);

/** A loopback TCP port that was free a moment ago (0 on failure). */
uint16_t th_free_port(void);

/**
 * Write a TLS broker config into dir (files named after tag) and start
 * mosquitto_bin on 127.0.0.1:port with require_certificate; waits (deadline
 * 10 s) until the port accepts connections. Returns 0 or -1.
 */
int th_broker_start(struct th_broker *b, const char *mosquitto_bin, const char *dir,
                    const char *tag, uint16_t port, const char *cafile, const char *certfile,
                    const char *keyfile);

/** SIGTERM the broker started above (SIGKILL after 5 s) and reap it. Idempotent. */
void th_broker_stop(struct th_broker *b);

/** True when a TCP connect to 127.0.0.1:port succeeds. */
bool th_port_open(uint16_t port);

/** Sleep a few milliseconds between two checks of a condition. */
void th_nap_ms(unsigned ms);

#endif /* WR_TLS_HARNESS_H */
