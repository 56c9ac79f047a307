/* Signature verification against keys made by openssl at test time. */
#define _XOPEN_SOURCE 700
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plat_file.h"
#include "plat_mem.h"
#include "plat_sig.h"
#include "wr_error.h"

struct fixture {
    char dir[64];
    char pub[128];
    char other_pub[128];
    char p384_pub[128];
    char rsa_pub[128];
    char garbage[128];
    char msg[128];
    uint8_t sig[128];
    size_t sig_len;
    char *data;
    size_t data_len;
};

/* Run a shell command in dir. */
static int sh(const char *cmd, const char *dir)
{
    char line[1400];

    snprintf(line, sizeof(line), "cd %s && %s", dir, cmd);
    return system(line);
}

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char path[160];
    char *sig = NULL;

    if (f == NULL || wr_test_tmpdir(f->dir, sizeof(f->dir), "wr-test-sig") != 0)
        return -1;
    if (sh("openssl ecparam -name prime256v1 -genkey -noout -out k.pem 2>/dev/null && "
           "openssl ec -in k.pem -pubout -out pub.pem 2>/dev/null && "
           "openssl ecparam -name prime256v1 -genkey -noout -out k2.pem 2>/dev/null && "
           "openssl ec -in k2.pem -pubout -out other.pem 2>/dev/null && "
           "openssl ecparam -name secp384r1 -genkey -noout -out k3.pem 2>/dev/null && "
           "openssl ec -in k3.pem -pubout -out p384.pem 2>/dev/null && "
           "openssl genrsa -out r.pem 2048 2>/dev/null && "
           "openssl rsa -in r.pem -pubout -out rsa.pem 2>/dev/null && "
           "echo 'not a key' > garbage.pem && "
           "printf 'windrow-config-envelope/1\\ngw-1\\n3\\n{\"x\":1}' > msg && "
           "openssl dgst -sha256 -sign k.pem -out msg.sig msg",
           f->dir) != 0)
        return -1;
    snprintf(f->pub, sizeof(f->pub), "%s/pub.pem", f->dir);
    snprintf(f->other_pub, sizeof(f->other_pub), "%s/other.pem", f->dir);
    snprintf(f->p384_pub, sizeof(f->p384_pub), "%s/p384.pem", f->dir);
    snprintf(f->rsa_pub, sizeof(f->rsa_pub), "%s/rsa.pem", f->dir);
    snprintf(f->garbage, sizeof(f->garbage), "%s/garbage.pem", f->dir);
    snprintf(f->msg, sizeof(f->msg), "%s/msg", f->dir);
    if (plat_file_read_all(f->msg, 4096, &f->data, &f->data_len) != WR_OK)
        return -1;
    snprintf(path, sizeof(path), "%s/msg.sig", f->dir);
    if (plat_file_read_all(path, sizeof(f->sig), &sig, &f->sig_len) != WR_OK)
        return -1;
    memcpy(f->sig, sig, f->sig_len);
    plat_free(sig);
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;

    plat_free(f->data);
    wr_test_rmtree(f->dir);
    free(f);
    return 0;
}

static void test_sig_sha256_known_vectors(void **state)
{
    char hex[PLAT_SIG_SHA256_HEX_LEN];

    (void)state;
    assert_int_equal(plat_sig_sha256_hex("abc", 3, hex), WR_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(plat_sig_sha256_hex(NULL, 0, hex), WR_OK);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(plat_sig_sha256_hex(NULL, 1, hex), WR_E_INVAL);
}

static void test_sig_valid_signature_verifies(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(plat_sig_verify_p256(f->pub, f->data, f->data_len, f->sig, f->sig_len), WR_OK);
}

static void test_sig_tampered_data_refused(void **state)
{
    struct fixture *f = *state;
    char *copy = malloc(f->data_len);

    assert_non_null(copy);
    memcpy(copy, f->data, f->data_len);
    copy[f->data_len - 2] ^= 1;
    assert_int_equal(plat_sig_verify_p256(f->pub, copy, f->data_len, f->sig, f->sig_len),
                     WR_E_SIGNATURE);
    /* One byte fewer (a truncated config) must not verify either. */
    assert_int_equal(plat_sig_verify_p256(f->pub, f->data, f->data_len - 1, f->sig, f->sig_len),
                     WR_E_SIGNATURE);
    free(copy);
}

static void test_sig_tampered_signature_refused(void **state)
{
    struct fixture *f = *state;
    uint8_t sig[128];

    memcpy(sig, f->sig, f->sig_len);
    sig[f->sig_len - 1] ^= 0x01;
    assert_int_equal(plat_sig_verify_p256(f->pub, f->data, f->data_len, sig, f->sig_len),
                     WR_E_SIGNATURE);
    memset(sig, 0x30, sizeof(sig));
    assert_int_equal(plat_sig_verify_p256(f->pub, f->data, f->data_len, sig, 8), WR_E_SIGNATURE);
    assert_int_equal(plat_sig_verify_p256(f->pub, f->data, f->data_len, f->sig, f->sig_len - 1),
                     WR_E_SIGNATURE);
}

static void test_sig_other_key_refused(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(plat_sig_verify_p256(f->other_pub, f->data, f->data_len, f->sig, f->sig_len),
                     WR_E_SIGNATURE);
}

static void test_sig_wrong_key_types_refused(void **state)
{
    struct fixture *f = *state;
    char missing[160];

    assert_int_equal(plat_sig_verify_p256(f->p384_pub, f->data, f->data_len, f->sig, f->sig_len),
                     WR_E_PARSE);
    assert_int_equal(plat_sig_verify_p256(f->rsa_pub, f->data, f->data_len, f->sig, f->sig_len),
                     WR_E_PARSE);
    assert_int_equal(plat_sig_verify_p256(f->garbage, f->data, f->data_len, f->sig, f->sig_len),
                     WR_E_PARSE);
    snprintf(missing, sizeof(missing), "%s/nope.pem", f->dir);
    assert_int_equal(plat_sig_verify_p256(missing, f->data, f->data_len, f->sig, f->sig_len),
                     WR_E_NOTFOUND);
}

static void test_sig_arguments_checked(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(plat_sig_verify_p256(NULL, f->data, f->data_len, f->sig, f->sig_len),
                     WR_E_INVAL);
    assert_int_equal(plat_sig_verify_p256(f->pub, NULL, 3, f->sig, f->sig_len), WR_E_INVAL);
    assert_int_equal(plat_sig_verify_p256(f->pub, f->data, f->data_len, NULL, 3), WR_E_INVAL);
    assert_int_equal(plat_sig_verify_p256(f->pub, f->data, f->data_len, f->sig, 0), WR_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sig_sha256_known_vectors),
        cmocka_unit_test(test_sig_valid_signature_verifies),
        cmocka_unit_test(test_sig_tampered_data_refused),
        cmocka_unit_test(test_sig_tampered_signature_refused),
        cmocka_unit_test(test_sig_other_key_refused),
        cmocka_unit_test(test_sig_wrong_key_types_refused),
        cmocka_unit_test(test_sig_arguments_checked),
    };

    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
