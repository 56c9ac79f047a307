#define _POSIX_C_SOURCE 200809L
#include "plat_signal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "plat_log.h"
#include "wr_error.h"

static atomic_bool installed;
/* Written once by plat_signal_install (before any thread exists), then only read. */
static int signal_fd = -1;

static void watched_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

int plat_signal_install(void)
{
    struct sigaction ign;
    sigset_t set;
    int err;

    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    if (sigaction(SIGPIPE, &ign, NULL) != 0) {
        PLAT_ERROR("signal", "cannot ignore SIGPIPE: %s", strerror(errno));
        return WR_E_IO;
    }
    watched_set(&set);
    err = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (err != 0) {
        PLAT_ERROR("signal", "cannot block shutdown signals: %s", strerror(err));
        return WR_E_IO;
    }
    if (signal_fd < 0) {
        /* Reads the blocked signals pending for the process, whichever thread they target. */
        signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (signal_fd < 0) {
            PLAT_ERROR("signal", "signalfd: %s", strerror(errno));
            return WR_E_IO;
        }
    }
    atomic_store(&installed, true);
    return WR_OK;
}

/* Take one pending signal, if any; the kernel merges repeats of a kind while pending. */
static int take_signal(void)
{
    struct signalfd_siginfo si;
    ssize_t n;

    do {
        n = read(signal_fd, &si, sizeof(si));
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(si))
        return PLAT_SIGNAL_NONE;
    if (si.ssi_signo == (uint32_t)SIGTERM || si.ssi_signo == (uint32_t)SIGINT)
        return PLAT_SIGNAL_TERM;
    if (si.ssi_signo == (uint32_t)SIGHUP)
        return PLAT_SIGNAL_HUP;
    return PLAT_SIGNAL_NONE;
}

int plat_signal_wait_fd(uint32_t timeout_ms, int fd, int *which, bool *fd_ready)
{
    struct pollfd pfd[2];
    int n;

    if (which == NULL)
        return WR_E_INVAL;
    *which = PLAT_SIGNAL_NONE;
    if (fd_ready != NULL)
        *fd_ready = false;
    if (!atomic_load(&installed))
        return WR_E_STATE;
    pfd[0].fd = signal_fd;
    pfd[0].events = POLLIN;
    pfd[0].revents = 0;
    pfd[1].fd = fd; /* poll skips a negative descriptor */
    pfd[1].events = POLLIN;
    pfd[1].revents = 0;
    /* poll takes an int: a longer wait is cut short, which callers treat as a timeout. */
    n = poll(pfd, 2, timeout_ms > (uint32_t)INT32_MAX ? INT32_MAX : (int)timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            return WR_OK; /* another signal's handler ran: nothing yet */
        PLAT_ERROR("signal", "poll: %s", strerror(errno));
        return WR_E_IO;
    }
    if (pfd[0].revents != 0)
        *which = take_signal();
    if (fd_ready != NULL)
        *fd_ready = fd >= 0 && pfd[1].revents != 0;
    return WR_OK;
}

int plat_signal_wait(uint32_t timeout_ms, int *which)
{
    return plat_signal_wait_fd(timeout_ms, -1, which, NULL);
}

static int raise_process(int sig)
{
    if (!atomic_load(&installed))
        return WR_E_STATE;
    /* Process-directed, so it stays pending for whichever thread waits, not just the caller. */
    if (kill(getpid(), sig) != 0) {
        PLAT_ERROR("signal", "cannot signal own process: %s", strerror(errno));
        return WR_E_IO;
    }
    return WR_OK;
}

int plat_signal_raise_term(void)
{
    return raise_process(SIGTERM);
}

int plat_signal_raise_hup(void)
{
    return raise_process(SIGHUP);
}
