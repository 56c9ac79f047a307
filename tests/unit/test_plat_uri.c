#include "test_support.h"

#include <stdio.h>
#include <string.h>

#include "plat_uri.h"
#include "wr_error.h"

static void expect_ok(const char *uri, const char *scheme, const char *host, uint16_t port,
                      bool tls)
{
    struct plat_uri u;

    assert_int_equal(plat_uri_parse(uri, &u), WR_OK);
    assert_string_equal(u.scheme, scheme);
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    assert_int_equal(u.tls, tls);
}

static void expect_inval(const char *uri)
{
    struct plat_uri u;

    memset(&u, 0x5a, sizeof(u));
    if (plat_uri_parse(uri, &u) != WR_E_INVAL)
        fail_msg("accepted \"%s\"", uri);
    /* A failed parse leaves nothing half-filled behind. */
    assert_int_equal(u.port, 0);
    assert_string_equal(u.host, "");
    assert_string_equal(u.scheme, "");
}

static void test_uri_schemes_and_default_ports(void **state)
{
    (void)state;
    expect_ok("tcp://localhost", "tcp", "localhost", 1883, false);
    expect_ok("mqtt://broker.example.com", "mqtt", "broker.example.com", 1883, false);
    expect_ok("ssl://broker.example.com", "ssl", "broker.example.com", 8883, true);
    expect_ok("mqtts://10.0.0.1", "mqtts", "10.0.0.1", 8883, true);
}

static void test_uri_explicit_ports(void **state)
{
    (void)state;
    expect_ok("tcp://127.0.0.1:1884", "tcp", "127.0.0.1", 1884, false);
    expect_ok("ssl://h:1", "ssl", "h", 1, true);
    expect_ok("mqtts://h:65535", "mqtts", "h", 65535, true);
    expect_ok("mqtt://h:08883", "mqtt", "h", 8883, false); /* five digits, leading zero */
}

static void test_uri_scheme_case_insensitive(void **state)
{
    (void)state;
    expect_ok("SSL://Broker.Example:8884", "ssl", "Broker.Example", 8884, true);
    expect_ok("MqTt://h", "mqtt", "h", 1883, false);
}

static void test_uri_ipv6_literals(void **state)
{
    (void)state;
    expect_ok("ssl://[::1]:8883", "ssl", "::1", 8883, true);
    expect_ok("mqtts://[::1]", "mqtts", "::1", 8883, true);
    expect_ok("tcp://[fe80::1:2:3:4]:1", "tcp", "fe80::1:2:3:4", 1, false);
    expect_ok("tcp://[::ffff:192.0.2.1]:1883", "tcp", "::ffff:192.0.2.1", 1883, false);
}

static void test_uri_host_at_length_limit(void **state)
{
    char uri[400];
    char host[PLAT_URI_HOST_MAX + 1];

    (void)state;
    memset(host, 'a', PLAT_URI_HOST_MAX - 1);
    host[PLAT_URI_HOST_MAX - 1] = '\0';
    snprintf(uri, sizeof(uri), "tcp://%s:1", host);
    expect_ok(uri, "tcp", host, 1, false);
    memset(host, 'a', PLAT_URI_HOST_MAX);
    host[PLAT_URI_HOST_MAX] = '\0';
    snprintf(uri, sizeof(uri), "tcp://%s:1", host);
    expect_inval(uri);
}

static void test_uri_rejects_bad_schemes(void **state)
{
    (void)state;
    expect_inval("http://h:80");
    expect_inval("ws://h");
    expect_inval("tcps://h");
    expect_inval("tc://h");
    expect_inval("h:1883");
    expect_inval("tcp:/h");
    expect_inval("tcp:h");
    expect_inval("://h");
    expect_inval("");
}

static void test_uri_rejects_bad_ports(void **state)
{
    (void)state;
    expect_inval("tcp://h:");
    expect_inval("tcp://h:0");
    expect_inval("tcp://h:00000");
    expect_inval("tcp://h:65536");
    expect_inval("tcp://h:99999");
    expect_inval("tcp://h:100000");
    expect_inval("tcp://h:4294967297"); /* would wrap to 1 in 32 bits */
    expect_inval("tcp://h:-1");
    expect_inval("tcp://h:+1");
    expect_inval("tcp://h: 1");
    expect_inval("tcp://h:1 ");
    expect_inval("tcp://h:1x");
    expect_inval("tcp://h:0x10");
    expect_inval("tcp://h:1:2");
}

static void test_uri_rejects_bad_hosts(void **state)
{
    (void)state;
    expect_inval("tcp://");
    expect_inval("tcp://:1883");
    expect_inval("tcp://user@h");
    expect_inval("tcp://user:pw@h:1");
    expect_inval("tcp://h/");
    expect_inval("tcp://h:1/path");
    expect_inval("tcp://h?x=1");
    expect_inval("tcp://h h");
    expect_inval("tcp://::1");
    expect_inval("tcp://::1:8883");
    expect_inval("tcp://[]:1");
    expect_inval("tcp://[::1");
    expect_inval("tcp://[::1]x");
    expect_inval("tcp://[::1]:");
    expect_inval("tcp://[127.0.0.1]");    /* brackets are for IPv6 only */
    expect_inval("tcp://[fe80::1%eth0]"); /* no zones */
    expect_inval("tcp://[::g]");
}

static void test_uri_null_arguments(void **state)
{
    struct plat_uri u;

    (void)state;
    assert_int_equal(plat_uri_parse(NULL, &u), WR_E_INVAL);
    assert_int_equal(u.port, 0);
    assert_int_equal(plat_uri_parse("tcp://h", NULL), WR_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_schemes_and_default_ports),
        cmocka_unit_test(test_uri_explicit_ports),
        cmocka_unit_test(test_uri_scheme_case_insensitive),
        cmocka_unit_test(test_uri_ipv6_literals),
        cmocka_unit_test(test_uri_host_at_length_limit),
        cmocka_unit_test(test_uri_rejects_bad_schemes),
        cmocka_unit_test(test_uri_rejects_bad_ports),
        cmocka_unit_test(test_uri_rejects_bad_hosts),
        cmocka_unit_test(test_uri_null_arguments),
    };

    return cmocka_run_group_tests_name("plat_uri", tests, NULL, NULL);
}
