#include "test_support.h"

#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509.h>

#include "plat_tls.h"
#include "wr_error.h"

static void test_tls_verify_not_trusted(void **state)
{
    char out[256];

    (void)state;
    plat_tls_describe_verify_flags(MBEDTLS_X509_BADCERT_NOT_TRUSTED, "h", out, sizeof(out));
    assert_string_equal(out, "certificate unknown (not signed by the configured CA)");
}

static void test_tls_verify_name_mismatch(void **state)
{
    char out[256];

    (void)state;
    plat_tls_describe_verify_flags(MBEDTLS_X509_BADCERT_CN_MISMATCH, "broker.example", out,
                                   sizeof(out));
    assert_string_equal(out, "server name mismatch: expected broker.example");
    plat_tls_describe_verify_flags(MBEDTLS_X509_BADCERT_CN_MISMATCH, NULL, out, sizeof(out));
    assert_string_equal(out, "server name mismatch: expected ?");
}

static void test_tls_verify_expired_and_future(void **state)
{
    char out[256];

    (void)state;
    plat_tls_describe_verify_flags(MBEDTLS_X509_BADCERT_EXPIRED, "h", out, sizeof(out));
    assert_string_equal(out, "certificate expired");
    plat_tls_describe_verify_flags(MBEDTLS_X509_BADCERT_FUTURE, "h", out, sizeof(out));
    assert_string_equal(out, "certificate not yet valid (check the system clock)");
}

static void test_tls_verify_several_flags_in_priority_order(void **state)
{
    char out[256];

    (void)state;
    plat_tls_describe_verify_flags(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_CN_MISMATCH |
                                       MBEDTLS_X509_BADCERT_NOT_TRUSTED,
                                   "x.example", out, sizeof(out));
    assert_string_equal(out, "certificate unknown (not signed by the configured CA); "
                             "server name mismatch: expected x.example; certificate expired");
}

static void test_tls_verify_unknown_flag_and_zero(void **state)
{
    char out[256];

    (void)state;
    plat_tls_describe_verify_flags(0x80000000u, "h", out, sizeof(out));
    assert_string_equal(out, "certificate verification failed (flags 0x80000000)");
    plat_tls_describe_verify_flags(0x80000000u | MBEDTLS_X509_BADCERT_EXPIRED, "h", out,
                                   sizeof(out));
    assert_string_equal(out,
                        "certificate expired; certificate verification failed (flags 0x80000000)");
    plat_tls_describe_verify_flags(0, "h", out, sizeof(out));
    assert_string_equal(out, "certificate verified");
}

static void test_tls_verify_truncates_safely(void **state)
{
    char out[12];
    char one[1] = {'x'};

    (void)state;
    memset(out, 'Z', sizeof(out));
    plat_tls_describe_verify_flags(MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_EXPIRED,
                                   "h", out, sizeof(out));
    assert_int_equal(strlen(out), sizeof(out) - 1);
    assert_memory_equal(out, "certificate", 11);
    plat_tls_describe_verify_flags(MBEDTLS_X509_BADCERT_EXPIRED, "h", one, sizeof(one));
    assert_int_equal(one[0], '\0');
    plat_tls_describe_verify_flags(MBEDTLS_X509_BADCERT_EXPIRED, "h", NULL, 10); /* no crash */
}

static void test_tls_describe_error_texts(void **state)
{
    char out[256];

    (void)state;
    plat_tls_describe_error(MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE, out, sizeof(out));
    assert_non_null(strstr(out, "fatal alert"));
    assert_non_null(strstr(out, "(-0x7780)"));
    plat_tls_describe_error(MBEDTLS_ERR_NET_CONN_RESET, out, sizeof(out));
    assert_non_null(strstr(out, "reset by peer"));
    assert_non_null(strstr(out, "(-0x0050)"));
    plat_tls_describe_error(MBEDTLS_ERR_X509_CERT_VERIFY_FAILED, out, sizeof(out));
    assert_non_null(strstr(out, "(-0x2700)"));
    plat_tls_describe_error(0, out, sizeof(out));
    assert_non_null(strstr(out, "(-0x0000)"));
    plat_tls_describe_error(MBEDTLS_ERR_NET_CONN_RESET, out, 4);
    assert_int_equal(strlen(out), 3);
}

static void test_tls_describe_alert_texts(void **state)
{
    char out[256];

    (void)state;
    plat_tls_describe_alert(48, out, sizeof(out));
    assert_string_equal(out, "unknown CA: the broker does not trust our client certificate "
                             "(alert 48)");
    plat_tls_describe_alert(42, out, sizeof(out));
    assert_non_null(strstr(out, "rejected our client certificate (alert 42)"));
    plat_tls_describe_alert(116, out, sizeof(out));
    assert_non_null(strstr(out, "needs a client certificate"));
    plat_tls_describe_alert(70, out, sizeof(out));
    assert_non_null(strstr(out, "protocol version"));
    plat_tls_describe_alert(255, out, sizeof(out));
    assert_string_equal(out, "unknown alert (alert 255)");
}

static void test_tls_io_rejects_null(void **state)
{
    char buf[4];
    size_t n = 99;

    (void)state;
    assert_int_equal(plat_tls_read(NULL, buf, sizeof(buf), &n), WR_E_INVAL);
    assert_int_equal(n, 0);
    n = 99;
    assert_int_equal(plat_tls_write(NULL, buf, sizeof(buf), &n), WR_E_INVAL);
    assert_int_equal(n, 0);
    assert_int_equal(plat_tls_fd(NULL), -1);
    assert_int_equal(plat_tls_pending(NULL), 0);
    plat_tls_close(NULL);
}

static void test_tls_connect_validates_before_network(void **state)
{
    struct plat_tls_config cfg = {"/nonexistent/ca.pem", NULL, NULL, NULL};
    struct plat_tls *t = NULL;
    char err[256];

    (void)state;
    /* Port 9 on loopback is never reached: the CA file fails first. */
    assert_int_equal(plat_tls_connect(&cfg, "127.0.0.1", 9, 1000, &t, err, sizeof(err)), WR_E_TLS);
    assert_null(t);
    assert_non_null(strstr(err, "cannot load CA file /nonexistent/ca.pem: "));
    cfg.ca_file = "";
    assert_int_equal(plat_tls_connect(&cfg, "127.0.0.1", 9, 1000, &t, err, sizeof(err)),
                     WR_E_INVAL);
    assert_string_equal(err, "no CA file configured: server verification is mandatory");
    cfg.ca_file = "/nonexistent/ca.pem";
    cfg.cert_file = "/nonexistent/c.pem";
    assert_int_equal(plat_tls_connect(&cfg, "127.0.0.1", 9, 1000, &t, err, sizeof(err)),
                     WR_E_INVAL);
    assert_string_equal(err, "cert_file and key_file must be given together");
}

static void test_tls_connect_allocation_failure(void **state)
{
    struct plat_tls_config cfg = {"/nonexistent/ca.pem", NULL, NULL, NULL};
    struct plat_tls *t = NULL;
    char err[256];
    int rc;

    (void)state;
    /* The only plat allocation is the session; failing it must leave nothing behind. */
    wr_test_alloc_fail_at(1);
    rc = plat_tls_connect(&cfg, "127.0.0.1", 9, 1000, &t, err, sizeof(err));
    assert_int_equal(rc, WR_E_NOMEM);
    assert_null(t);
    assert_string_equal(err, "out of memory");
    wr_test_alloc_fail_at(0);
    rc = plat_tls_connect(&cfg, "127.0.0.1", 9, 1000, &t, err, sizeof(err));
    assert_int_equal(rc, WR_E_TLS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_verify_not_trusted),
        cmocka_unit_test(test_tls_verify_name_mismatch),
        cmocka_unit_test(test_tls_verify_expired_and_future),
        cmocka_unit_test(test_tls_verify_several_flags_in_priority_order),
        cmocka_unit_test(test_tls_verify_unknown_flag_and_zero),
        cmocka_unit_test(test_tls_verify_truncates_safely),
        cmocka_unit_test(test_tls_describe_error_texts),
        cmocka_unit_test(test_tls_describe_alert_texts),
        cmocka_unit_test(test_tls_io_rejects_null),
        cmocka_unit_test(test_tls_connect_validates_before_network),
        cmocka_unit_test_setup_teardown(test_tls_connect_allocation_failure, wr_test_alloc_setup,
                                        wr_test_alloc_teardown),
    };

    return cmocka_run_group_tests_name("plat_tls_errors", tests, NULL, NULL);
}
