#define _POSIX_C_SOURCE 200809L
#include "plat_signal.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plat_log.h"
#include "wr_error.h"

static atomic_bool installed;

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
    atomic_store(&installed, true);
    return WR_OK;
}

int plat_signal_wait(uint32_t timeout_ms, int *which)
{
    struct timespec ts;
    sigset_t set;
    int sig;

    if (which == NULL)
        return WR_E_INVAL;
    *which = PLAT_SIGNAL_NONE;
    if (!atomic_load(&installed))
        return WR_E_STATE;
    watched_set(&set);
    ts.tv_sec = (time_t)(timeout_ms / 1000u);
    ts.tv_nsec = (long)(timeout_ms % 1000u) * 1000000L;
    /* EAGAIN (timeout) and EINTR (another signal's handler ran) both mean "nothing yet". */
    sig = sigtimedwait(&set, NULL, &ts);
    if (sig == SIGTERM || sig == SIGINT)
        *which = PLAT_SIGNAL_TERM;
    else if (sig == SIGHUP)
        *which = PLAT_SIGNAL_HUP;
    return WR_OK;
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
