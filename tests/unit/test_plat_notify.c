#define _GNU_SOURCE
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "plat_notify.h"
#include "wr_error.h"

static void test_watchdog_unset_is_off(void **state)
{
    uint64_t us = 99;

    (void)state;
    assert_int_equal(plat_notify_parse_watchdog(NULL, NULL, 42, &us), WR_OK);
    assert_int_equal(us, 0);
    assert_int_equal(plat_notify_parse_watchdog(NULL, "42", 42, &us), WR_OK);
    assert_int_equal(us, 0);
}

static void test_watchdog_for_this_process(void **state)
{
    uint64_t us = 0;

    (void)state;
    assert_int_equal(plat_notify_parse_watchdog("30000000", NULL, 42, &us), WR_OK);
    assert_int_equal(us, 30000000u);
    assert_int_equal(plat_notify_parse_watchdog("2000000", "42", 42, &us), WR_OK);
    assert_int_equal(us, 2000000u);
}

static void test_watchdog_for_another_process_is_off(void **state)
{
    uint64_t us = 1;

    (void)state;
    assert_int_equal(plat_notify_parse_watchdog("2000000", "43", 42, &us), WR_OK);
    assert_int_equal(us, 0);
}

static void test_watchdog_garbage_is_parse_error(void **state)
{
    const char *bad[] = {"", "0", "-5", "12x", " 5", "5 ", "99999999999999999999999"};
    uint64_t us = 1;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        us = 1;
        if (plat_notify_parse_watchdog(bad[i], NULL, 42, &us) != WR_E_PARSE)
            fail_msg("WATCHDOG_USEC=\"%s\" accepted", bad[i]);
        assert_int_equal(us, 0);
    }
    assert_int_equal(plat_notify_parse_watchdog("1000", "pid", 42, &us), WR_E_PARSE);
    assert_int_equal(plat_notify_parse_watchdog("1000", NULL, 42, NULL), WR_E_INVAL);
}

static void test_format_state_and_status(void **state)
{
    char buf[64];
    size_t len = 0;

    (void)state;
    assert_int_equal(plat_notify_format(buf, sizeof(buf), "READY=1", "running", &len), WR_OK);
    assert_string_equal(buf, "READY=1\nSTATUS=running");
    assert_int_equal(len, strlen(buf));
    assert_int_equal(plat_notify_format(buf, sizeof(buf), "WATCHDOG=1", NULL, &len), WR_OK);
    assert_string_equal(buf, "WATCHDOG=1");
    assert_int_equal(plat_notify_format(buf, sizeof(buf), NULL, "only status", &len), WR_OK);
    assert_string_equal(buf, "STATUS=only status");
}

static void test_format_status_newlines_become_spaces(void **state)
{
    char buf[64];
    size_t len = 0;

    (void)state;
    assert_int_equal(plat_notify_format(buf, sizeof(buf), NULL, "a\nREADY=1\r\nb", &len), WR_OK);
    assert_string_equal(buf, "STATUS=a READY=1  b");
}

static void test_format_cuts_long_status(void **state)
{
    char buf[16];
    size_t len = 0;

    (void)state;
    assert_int_equal(plat_notify_format(buf, sizeof(buf), "X=1", "0123456789", &len), WR_OK);
    assert_string_equal(buf, "X=1\nSTATUS=0123");
    assert_int_equal(len, 15);
    assert_int_equal(plat_notify_format(buf, 4, "READY=1", NULL, &len), WR_E_TOOBIG);
    assert_int_equal(plat_notify_format(buf, sizeof(buf), NULL, NULL, &len), WR_E_INVAL);
    assert_int_equal(plat_notify_format(NULL, sizeof(buf), "X=1", NULL, &len), WR_E_INVAL);
}

static void test_open_without_socket_is_inactive_noop(void **state)
{
    struct plat_notify *n = NULL;

    (void)state;
    unsetenv("NOTIFY_SOCKET");
    setenv("WATCHDOG_USEC", "1000000", 1);
    assert_int_equal(plat_notify_open(&n), WR_OK);
    assert_false(plat_notify_active(n));
    assert_int_equal(plat_notify_watchdog_interval_ms(n), 0);
    assert_int_equal(plat_notify_ready(n, "x"), WR_OK);
    assert_int_equal(plat_notify_watchdog(NULL), WR_OK);
    plat_notify_close(n);
    plat_notify_close(NULL);
    unsetenv("WATCHDOG_USEC");
}

static void test_open_refuses_relative_or_long_names(void **state)
{
    char longname[200];
    struct plat_notify *n = NULL;

    (void)state;
    setenv("NOTIFY_SOCKET", "relative/sock", 1);
    assert_int_equal(plat_notify_open(&n), WR_E_INVAL);
    assert_null(n);
    memset(longname, 'a', sizeof(longname) - 1);
    longname[0] = '/';
    longname[sizeof(longname) - 1] = '\0';
    setenv("NOTIFY_SOCKET", longname, 1);
    assert_int_equal(plat_notify_open(&n), WR_E_INVAL);
    assert_null(n);
    unsetenv("NOTIFY_SOCKET");
}

/* A receiving socket bound to name ("/path" or "@abstract"); returns its fd. */
static int bind_receiver(const char *name)
{
    struct sockaddr_un a;
    socklen_t len;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, name, strlen(name));
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
    if (name[0] == '@')
        a.sun_path[0] = '\0';
    else
        len++;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
    return fd;
}

static void expect_datagram(int fd, const char *want)
{
    char buf[PLAT_NOTIFY_MAX_BYTES + 1];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void send_all_kinds(int fd)
{
    struct plat_notify *n = NULL;

    setenv("WATCHDOG_USEC", "3000000", 1);
    unsetenv("WATCHDOG_PID");
    assert_int_equal(plat_notify_open(&n), WR_OK);
    assert_true(plat_notify_active(n));
    assert_int_equal(plat_notify_watchdog_interval_ms(n), 3000);
    assert_int_equal(plat_notify_ready(n, "running"), WR_OK);
    expect_datagram(fd, "READY=1\nSTATUS=running");
    assert_int_equal(plat_notify_watchdog(n), WR_OK);
    expect_datagram(fd, "WATCHDOG=1");
    assert_int_equal(plat_notify_stopping(n), WR_OK);
    expect_datagram(fd, "STOPPING=1");
    plat_notify_close(n);
    unsetenv("WATCHDOG_USEC");
}

static void test_sends_to_abstract_socket(void **state)
{
    char name[64];
    int fd;

    (void)state;
    snprintf(name, sizeof(name), "@windrow-test-notify-%ld", (long)getpid());
    fd = bind_receiver(name);
    setenv("NOTIFY_SOCKET", name, 1);
    send_all_kinds(fd);
    unsetenv("NOTIFY_SOCKET");
    close(fd);
}

static void test_sends_to_path_socket(void **state)
{
    char dir[128];
    char path[192];
    int fd;

    (void)state;
    assert_int_equal(wr_test_tmpdir(dir, sizeof(dir), "wr-notify"), 0);
    snprintf(path, sizeof(path), "%s/notify.sock", dir);
    fd = bind_receiver(path);
    setenv("NOTIFY_SOCKET", path, 1);
    send_all_kinds(fd);
    unsetenv("NOTIFY_SOCKET");
    close(fd);
    wr_test_rmtree(dir);
}

static void test_send_without_listener_reports_io(void **state)
{
    struct plat_notify *n = NULL;

    (void)state;
    setenv("NOTIFY_SOCKET", "@windrow-test-nobody-listens", 1);
    assert_int_equal(plat_notify_open(&n), WR_OK);
    assert_int_equal(plat_notify_watchdog(n), WR_E_IO);
    plat_notify_close(n);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watchdog_unset_is_off),
        cmocka_unit_test(test_watchdog_for_this_process),
        cmocka_unit_test(test_watchdog_for_another_process_is_off),
        cmocka_unit_test(test_watchdog_garbage_is_parse_error),
        cmocka_unit_test(test_format_state_and_status),
        cmocka_unit_test(test_format_status_newlines_become_spaces),
        cmocka_unit_test(test_format_cuts_long_status),
        cmocka_unit_test(test_open_without_socket_is_inactive_noop),
        cmocka_unit_test(test_open_refuses_relative_or_long_names),
        cmocka_unit_test(test_sends_to_abstract_socket),
        cmocka_unit_test(test_sends_to_path_socket),
        cmocka_unit_test(test_send_without_listener_reports_io),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
