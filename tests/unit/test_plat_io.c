#include "test_support.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "plat_io.h"
#include "wr_error.h"

#define TMPFS_MAGIC_NUMBER 0x01021994

/* A fixture under tests/data/proc_io, found from this file's path. */
static void fixture(char *out, size_t n, const char *name)
{
    const char *marker = strstr(__FILE__, "tests/unit/test_plat_io.c");

    assert_non_null(marker);
    snprintf(out, n, "%.*stests/data/proc_io/%s", (int)(marker - __FILE__), __FILE__, name);
}

static int read_fixture(const char *name, struct plat_io_counters *c)
{
    char path[1024];

    fixture(path, sizeof(path), name);
    return plat_io_read_file(path, c);
}

static void test_io_parse_linux_fixture(void **state)
{
    struct plat_io_counters c;

    (void)state;
    assert_int_equal(read_fixture("linux.txt", &c), WR_OK);
    assert_true(c.write_bytes == 123456789012ull);
    assert_true(c.read_bytes == 4096);
    assert_true(c.cancelled_write_bytes == 8192);
}

static void test_io_parse_largest_value_and_unknown_lines(void **state)
{
    struct plat_io_counters c;

    (void)state;
    assert_int_equal(read_fixture("max_and_unknown.txt", &c), WR_OK);
    assert_true(c.write_bytes == UINT64_MAX);
    assert_true(c.read_bytes == 0);
    assert_true(c.cancelled_write_bytes == 0);
}

static void test_io_parse_refuses_bad_text(void **state)
{
    struct plat_io_counters c = {1, 2, 3};

    (void)state;
    assert_int_equal(read_fixture("no_write_bytes.txt", &c), WR_E_PARSE);
    assert_int_equal(read_fixture("overflow.txt", &c), WR_E_PARSE);
    assert_int_equal(read_fixture("not_a_number.txt", &c), WR_E_PARSE);
    assert_int_equal(read_fixture("garbage.txt", &c), WR_E_PARSE);
    /* Output untouched on error. */
    assert_true(c.read_bytes == 1 && c.write_bytes == 2 && c.cancelled_write_bytes == 3);
    assert_int_equal(plat_io_parse("", 0, &c), WR_E_PARSE);
    assert_int_equal(plat_io_parse("write_bytes:", 12, &c), WR_E_PARSE);
    assert_int_equal(plat_io_parse("write_bytes: -1\n", 16, &c), WR_E_PARSE);
}

static void test_io_parse_takes_len_not_nul(void **state)
{
    const char text[] = "write_bytes: 42\nread_bytes: 7";
    struct plat_io_counters c;

    (void)state;
    /* Only "write_bytes: 42" is in the given length. */
    assert_int_equal(plat_io_parse(text, 15, &c), WR_OK);
    assert_true(c.write_bytes == 42 && c.read_bytes == 0);
    assert_int_equal(plat_io_parse(text, strlen(text), &c), WR_OK);
    assert_true(c.read_bytes == 7);
    assert_int_equal(plat_io_parse("write_bytes: 5\r\n", 16, &c), WR_OK);
    assert_true(c.write_bytes == 5);
}

static void test_io_bad_arguments_and_missing_file(void **state)
{
    struct plat_io_counters c;
    char path[1024];

    (void)state;
    assert_int_equal(plat_io_parse(NULL, 0, &c), WR_E_INVAL);
    assert_int_equal(plat_io_parse("write_bytes: 1", 14, NULL), WR_E_INVAL);
    assert_int_equal(plat_io_read_file(NULL, &c), WR_E_INVAL);
    assert_int_equal(plat_io_self(NULL), WR_E_INVAL);
    fixture(path, sizeof(path), "no-such-file.txt");
    assert_int_equal(plat_io_read_file(path, &c), WR_E_NOTFOUND);
}

static void test_io_refuses_a_long_file(void **state)
{
    char dir[256];
    char path[300];
    char line[64];
    FILE *f;

    (void)state;
    assert_int_equal(wr_test_tmpdir(dir, sizeof(dir), "plat-io"), 0);
    snprintf(path, sizeof(path), "%s/long", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 100; i++) {
        snprintf(line, sizeof(line), "counter_%03d: %d\n", i, i);
        fputs(line, f);
    }
    fputs("write_bytes: 1\n", f);
    fclose(f);
    {
        struct plat_io_counters c;

        assert_int_equal(plat_io_read_file(path, &c), WR_E_TOOBIG);
    }
    wr_test_rmtree(dir);
}

/* The real counter grows when this process dirties pages of a file on a disk file system. */
static void test_io_self_counts_file_writes(void **state)
{
    static char block[64 * 1024];
    struct plat_io_counters before;
    struct plat_io_counters after;
    struct statfs fs;
    char dir[256];
    char path[300];
    int fd;
    int rc;

    (void)state;
    rc = plat_io_self(&before);
    if (rc == WR_E_NOTFOUND)
        skip(); /* a kernel without task I/O accounting */
    assert_int_equal(rc, WR_OK);
    assert_int_equal(wr_test_tmpdir(dir, sizeof(dir), "plat-io"), 0);
    snprintf(path, sizeof(path), "%s/data", dir);
    memset(block, 'x', sizeof(block));
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
    assert_int_equal(fsync(fd), 0);
    assert_int_equal(fstatfs(fd, &fs), 0);
    close(fd);
    assert_int_equal(plat_io_self(&after), WR_OK);
    assert_true(after.write_bytes >= before.write_bytes);
    if ((unsigned long)fs.f_type != TMPFS_MAGIC_NUMBER)
        assert_true(after.write_bytes - before.write_bytes >= sizeof(block));
    wr_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_io_parse_linux_fixture),
        cmocka_unit_test(test_io_parse_largest_value_and_unknown_lines),
        cmocka_unit_test(test_io_parse_refuses_bad_text),
        cmocka_unit_test(test_io_parse_takes_len_not_nul),
        cmocka_unit_test(test_io_bad_arguments_and_missing_file),
        cmocka_unit_test(test_io_refuses_a_long_file),
        cmocka_unit_test(test_io_self_counts_file_writes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
