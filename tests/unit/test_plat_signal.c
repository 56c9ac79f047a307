#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "plat_signal.h"
#include "plat_thread.h"
#include "wr_error.h"

/* Must run first: the module is process-wide and install cannot be undone. */
static void test_plat_signal_refused_before_install(void **state)
{
    int which = -1;

    (void)state;
    assert_int_equal(plat_signal_wait(0, &which), WR_E_STATE);
    assert_int_equal(which, PLAT_SIGNAL_NONE);
    assert_int_equal(plat_signal_wait_fd(0, -1, &which, NULL), WR_E_STATE);
    /* Raising now would kill the test process with the default action, so it is refused. */
    assert_int_equal(plat_signal_raise_term(), WR_E_STATE);
    assert_int_equal(plat_signal_raise_hup(), WR_E_STATE);
}

static void test_plat_signal_install_blocks_and_ignores(void **state)
{
    struct sigaction sa;
    sigset_t cur;

    (void)state;
    assert_int_equal(plat_signal_install(), WR_OK);
    assert_int_equal(plat_signal_install(), WR_OK);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
    assert_true(sigismember(&cur, SIGTERM));
    assert_true(sigismember(&cur, SIGINT));
    assert_true(sigismember(&cur, SIGHUP));
    assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
    assert_true(sa.sa_handler == SIG_IGN);
}

static void test_plat_signal_broken_pipe_is_an_error(void **state)
{
    int fds[2];

    (void)state;
    assert_int_equal(pipe(fds), 0);
    close(fds[0]);
    /* Without SIGPIPE ignored this write would end the process. */
    assert_int_equal(write(fds[1], "x", 1), -1);
    assert_int_equal(errno, EPIPE);
    close(fds[1]);
}

static void test_plat_signal_wait_times_out(void **state)
{
    int which = -1;

    (void)state;
    assert_int_equal(plat_signal_wait(0, &which), WR_OK);
    assert_int_equal(which, PLAT_SIGNAL_NONE);
    which = -1;
    assert_int_equal(plat_signal_wait(20, &which), WR_OK);
    assert_int_equal(which, PLAT_SIGNAL_NONE);
    assert_int_equal(plat_signal_wait(0, NULL), WR_E_INVAL);
}

static void test_plat_signal_term_hup_int(void **state)
{
    int which = -1;

    (void)state;
    assert_int_equal(plat_signal_raise_term(), WR_OK);
    assert_int_equal(plat_signal_wait(0, &which), WR_OK);
    assert_int_equal(which, PLAT_SIGNAL_TERM);
    assert_int_equal(plat_signal_wait(0, &which), WR_OK);
    assert_int_equal(which, PLAT_SIGNAL_NONE);

    assert_int_equal(plat_signal_raise_hup(), WR_OK);
    assert_int_equal(plat_signal_wait(0, &which), WR_OK);
    assert_int_equal(which, PLAT_SIGNAL_HUP);

    /* Ctrl-C means shut down too. */
    assert_int_equal(kill(getpid(), SIGINT), 0);
    assert_int_equal(plat_signal_wait(0, &which), WR_OK);
    assert_int_equal(which, PLAT_SIGNAL_TERM);
    assert_int_equal(plat_signal_wait(0, &which), WR_OK);
    assert_int_equal(which, PLAT_SIGNAL_NONE);
}

static void test_plat_signal_repeats_merge(void **state)
{
    int which = -1;

    (void)state;
    assert_int_equal(plat_signal_raise_hup(), WR_OK);
    assert_int_equal(plat_signal_raise_hup(), WR_OK);
    assert_int_equal(plat_signal_wait(0, &which), WR_OK);
    assert_int_equal(which, PLAT_SIGNAL_HUP);
    assert_int_equal(plat_signal_wait(0, &which), WR_OK);
    assert_int_equal(which, PLAT_SIGNAL_NONE);
}

/* The wait also ends for a readable descriptor, and says which of the two it was. */
static void test_plat_signal_wait_fd(void **state)
{
    int fds[2];
    int which = -1;
    bool ready = true;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(plat_signal_wait_fd(20, fds[0], &which, &ready), WR_OK);
    assert_int_equal(which, PLAT_SIGNAL_NONE);
    assert_false(ready);
    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_int_equal(plat_signal_wait_fd(60000, fds[0], &which, &ready), WR_OK);
    assert_int_equal(which, PLAT_SIGNAL_NONE);
    assert_true(ready);
    /* A signal and a readable descriptor together: both reported, the descriptor not read. */
    assert_int_equal(plat_signal_raise_hup(), WR_OK);
    assert_int_equal(plat_signal_wait_fd(60000, fds[0], &which, &ready), WR_OK);
    assert_int_equal(which, PLAT_SIGNAL_HUP);
    assert_true(ready);
    /* Without a descriptor (fd < 0, fd_ready NULL): signals only. */
    assert_int_equal(plat_signal_raise_term(), WR_OK);
    assert_int_equal(plat_signal_wait_fd(60000, -1, &which, NULL), WR_OK);
    assert_int_equal(which, PLAT_SIGNAL_TERM);
    assert_int_equal(plat_signal_wait_fd(0, -1, NULL, NULL), WR_E_INVAL);
    close(fds[0]);
    close(fds[1]);
}

struct mask_probe {
    int term_blocked;
    int hup_blocked;
    int raise_rc;
};

static void probe_fn(void *arg)
{
    struct mask_probe *p = arg;
    sigset_t cur;

    if (pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0) {
        p->term_blocked = sigismember(&cur, SIGTERM);
        p->hup_blocked = sigismember(&cur, SIGHUP);
    }
    /* A request from a worker thread must reach the main loop's wait. */
    p->raise_rc = plat_signal_raise_term();
}

static void test_plat_signal_threads_inherit_mask(void **state)
{
    struct mask_probe p = {-1, -1, -1};
    struct plat_thread *t = NULL;
    int which = -1;

    (void)state;
    assert_int_equal(plat_thread_start(&t, probe_fn, &p, "probe"), WR_OK);
    assert_int_equal(plat_signal_wait(60000, &which), WR_OK);
    assert_int_equal(which, PLAT_SIGNAL_TERM);
    assert_int_equal(plat_thread_join(t), WR_OK);
    assert_int_equal(p.term_blocked, 1);
    assert_int_equal(p.hup_blocked, 1);
    assert_int_equal(p.raise_rc, WR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plat_signal_refused_before_install),
        cmocka_unit_test(test_plat_signal_install_blocks_and_ignores),
        cmocka_unit_test(test_plat_signal_broken_pipe_is_an_error),
        cmocka_unit_test(test_plat_signal_wait_times_out),
        cmocka_unit_test(test_plat_signal_term_hup_int),
        cmocka_unit_test(test_plat_signal_repeats_merge),
        cmocka_unit_test(test_plat_signal_wait_fd),
        cmocka_unit_test(test_plat_signal_threads_inherit_mask),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
