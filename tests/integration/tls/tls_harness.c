#define _GNU_SOURCE
#include "tls_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "plat_time.h"

int th_make_tempdir(char *out, size_t len)
{
    const char *base = getenv("TMPDIR");

    snprintf(out, len, "%s/windrow-tls-XXXXXX", base != NULL && base[0] != '\0' ? base : "/tmp");
    return mkdtemp(out) != NULL ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void th_remove_tree(const char *dir)
{
    if (dir != NULL && dir[0] != '\0')
        nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* fork + exec with stdout/stderr sent to out_fd (-1: inherited). Child side is exec-only. */
static pid_t spawn(const char *path, char *const argv[], int out_fd)
{
    pid_t pid = fork();

    if (pid == 0) {
        if (out_fd >= 0) {
            dup2(out_fd, STDOUT_FILENO);
            dup2(out_fd, STDERR_FILENO);
        }
        execv(path, argv);
        _exit(127);
    }
    return pid;
}

int th_run_script(const char *script, const char *dir)
{
    char *argv[] = {"/bin/sh", (char *)script, (char *)dir, NULL};
    pid_t pid = spawn("/bin/sh", argv, -1);
    int status = 0;

    if (pid < 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

uint16_t th_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    uint16_t port = 0;

    if (fd < 0)
        return 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

bool th_port_open(uint16_t port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    if (fd < 0)
        return false;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

void th_nap_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000u), .tv_nsec = (long)(ms % 1000u) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int th_broker_start(struct th_broker *b, const char *mosquitto_bin, const char *dir,
                    const char *tag, uint16_t port, const char *cafile, const char *certfile,
                    const char *keyfile)
{
    char *argv[] = {(char *)mosquitto_bin, "-c", b->conf, NULL};
    uint64_t deadline;
    FILE *f;
    int log_fd;

    b->pid = 0;
    b->port = port;
    snprintf(b->conf, sizeof(b->conf), "%s/%s.conf", dir, tag);
    snprintf(b->log, sizeof(b->log), "%s/%s.log", dir, tag);
    f = fopen(b->conf, "w");
    if (f == NULL)
        return -1;
    /* "user root" only matters when run as root: the broker then keeps access to dir. */
    fprintf(f,
            "listener %u 127.0.0.1\n"
            "cafile %s\ncertfile %s\nkeyfile %s\n"
            "require_certificate true\nallow_anonymous true\n"
            "persistence false\nlog_dest stderr\nlog_type all\nuser root\n",
            (unsigned)port, cafile, certfile, keyfile);
    fclose(f);
    log_fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0)
        return -1;
    b->pid = spawn(mosquitto_bin, argv, log_fd);
    close(log_fd);
    if (b->pid < 0) {
        b->pid = 0;
        return -1;
    }
    deadline = plat_time_mono_ms() + 10000u;
    while (plat_time_mono_ms() < deadline) {
        int status;

        if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
            b->pid = 0;
            return -1;
        }
        if (th_port_open(port))
            return 0;
        th_nap_ms(10);
    }
    th_broker_stop(b);
    return -1;
}

void th_broker_stop(struct th_broker *b)
{
    uint64_t deadline;

    if (b->pid <= 0)
        return;
    kill(b->pid, SIGTERM);
    deadline = plat_time_mono_ms() + 5000u;
    for (;;) {
        int status;
        pid_t r = waitpid(b->pid, &status, WNOHANG);

        if (r == b->pid || (r < 0 && errno != EINTR))
            break;
        if (plat_time_mono_ms() >= deadline) {
            kill(b->pid, SIGKILL);
            waitpid(b->pid, &status, 0);
            break;
        }
        th_nap_ms(5);
    }
    b->pid = 0;
}
