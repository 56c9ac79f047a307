/* utimensat. */
#define _XOPEN_SOURCE 700
#include "test_support.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plat_file.h"
#include "plat_mem.h"
#include "wr_error.h"

struct fixture {
    char dir[64];
};

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    if (wr_test_tmpdir(f->dir, sizeof(f->dir), "wr-test-file") != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;

    wr_test_rmtree(f->dir);
    free(f);
    return 0;
}

static void path_in(const struct fixture *f, const char *name, char *out, size_t len)
{
    int n = snprintf(out, len, "%s/%s", f->dir, name);

    assert_true(n > 0 && (size_t)n < len);
}

static void assert_file_is(const char *path, const void *data, size_t len)
{
    char *got = NULL;
    size_t got_len = 0;

    assert_int_equal(plat_file_read_all(path, 1u << 20, &got, &got_len), WR_OK);
    assert_int_equal(got_len, len);
    if (len > 0)
        assert_memory_equal(got, data, len);
    assert_int_equal(got[got_len], '\0');
    plat_free(got);
}

/* Counts directory entries whose name contains ".tmp.". */
static int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp.") != NULL)
            n++;
    closedir(d);
    return n;
}

static void test_plat_file_write_atomic_round_trip(void **state)
{
    struct fixture *f = *state;
    static const char first[] = "hello\0world"; /* an embedded NUL must survive */
    char path[128];

    path_in(f, "state.bin", path, sizeof(path));
    assert_false(plat_file_exists(path));
    assert_int_equal(plat_file_write_atomic(path, first, sizeof(first)), WR_OK);
    assert_true(plat_file_exists(path));
    assert_file_is(path, first, sizeof(first));
    /* Replacing with shorter contents leaves nothing of the old file. */
    assert_int_equal(plat_file_write_atomic(path, "ab", 2), WR_OK);
    assert_file_is(path, "ab", 2);
    assert_int_equal(plat_file_write_atomic(path, NULL, 0), WR_OK);
    assert_file_is(path, "", 0);
    assert_int_equal(count_temp_files(f->dir), 0);
}

static void test_plat_file_write_atomic_large(void **state)
{
    struct fixture *f = *state;
    size_t len = 300000; /* several read chunks */
    char *data = malloc(len);
    char path[128];

    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (char)(i * 7u + (i >> 9));
    path_in(f, "big", path, sizeof(path));
    assert_int_equal(plat_file_write_atomic(path, data, len), WR_OK);
    assert_file_is(path, data, len);
    free(data);
}

static void test_plat_file_write_atomic_errors(void **state)
{
    struct fixture *f = *state;
    char path[128];
    char *long_path;

    path_in(f, "missing-dir/file", path, sizeof(path));
    assert_int_equal(plat_file_write_atomic(path, "x", 1), WR_E_NOTFOUND);
    assert_int_equal(plat_file_write_atomic(NULL, "x", 1), WR_E_INVAL);
    assert_int_equal(plat_file_write_atomic("", "x", 1), WR_E_INVAL);
    path_in(f, "f", path, sizeof(path));
    assert_int_equal(plat_file_write_atomic(path, NULL, 1), WR_E_INVAL);
    long_path = malloc(8192);
    assert_non_null(long_path);
    memset(long_path, 'a', 8191);
    long_path[8191] = '\0';
    assert_int_equal(plat_file_write_atomic(long_path, "x", 1), WR_E_INVAL);
    free(long_path);
    /* The destination is a directory: rename fails and the temporary file is removed. */
    path_in(f, "adir", path, sizeof(path));
    assert_int_equal(plat_file_mkdir_p(path, 0755), WR_OK);
    assert_int_equal(plat_file_write_atomic(path, "x", 1), WR_E_IO);
    assert_int_equal(count_temp_files(f->dir), 0);
}

/* Attempts a write in dir and returns the result code. */
static int write_in(const char *dir)
{
    char path[160];

    snprintf(path, sizeof(path), "%s/denied", dir);
    return plat_file_write_atomic(path, "x", 1);
}

static void test_plat_file_write_read_only_dir_denied(void **state)
{
    struct fixture *f = *state;
    char ro[128];
    pid_t pid;
    int status = 0;

    path_in(f, "ro", ro, sizeof(ro));
    assert_int_equal(plat_file_mkdir_p(ro, 0755), WR_OK);
    assert_int_equal(chmod(ro, 0555), 0);
    if (geteuid() != 0) {
        char denied[160];

        assert_int_equal(write_in(ro), WR_E_DENIED);
        snprintf(denied, sizeof(denied), "%s/denied", ro);
        assert_false(plat_file_exists(denied));
        return;
    }
    /*
     * Root ignores permissions, so the check runs in a child that gives root
     * up (user and group nobody). Where that is impossible the assertion is
     * skipped rather than faked.
     */
    assert_int_equal(chmod(f->dir, 0755), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(100);
        _exit(-write_in(ro));
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 100)
        skip();
    assert_int_equal(-WEXITSTATUS(status), WR_E_DENIED);
}

static void test_plat_file_read_missing_not_found(void **state)
{
    struct fixture *f = *state;
    char path[128];
    char *data = (char *)"untouched";
    size_t len = 42;

    path_in(f, "nope", path, sizeof(path));
    assert_int_equal(plat_file_read_all(path, 100, &data, &len), WR_E_NOTFOUND);
    assert_string_equal(data, "untouched");
    assert_int_equal(len, 42);
    assert_int_equal(plat_file_read_all(NULL, 100, &data, &len), WR_E_INVAL);
    assert_int_equal(plat_file_read_all(path, 100, NULL, &len), WR_E_INVAL);
    assert_int_equal(plat_file_read_all(path, 100, &data, NULL), WR_E_INVAL);
}

static void test_plat_file_read_limit(void **state)
{
    struct fixture *f = *state;
    char path[128];
    char buf[100];
    char *data = NULL;
    size_t len = 0;

    memset(buf, 'z', sizeof(buf));
    path_in(f, "hundred", path, sizeof(path));
    assert_int_equal(plat_file_write_atomic(path, buf, sizeof(buf)), WR_OK);
    assert_int_equal(plat_file_read_all(path, 99, &data, &len), WR_E_TOOBIG);
    assert_null(data);
    assert_int_equal(plat_file_read_all(path, 100, &data, &len), WR_OK);
    assert_int_equal(len, 100);
    plat_free(data);
    data = NULL;
    assert_int_equal(plat_file_read_all(path, SIZE_MAX, &data, &len), WR_OK);
    assert_int_equal(len, 100);
    plat_free(data);
}

static void test_plat_file_read_unknown_size(void **state)
{
    char *data = NULL;
    size_t len = 0;

    (void)state;
    /* /proc files report size 0; the reader must not trust it either way. */
    assert_int_equal(plat_file_read_all("/proc/self/maps", 1u << 24, &data, &len), WR_OK);
    assert_true(len > 0);
    assert_int_equal(strlen(data), len);
    plat_free(data);
    data = NULL;
    assert_int_equal(plat_file_read_all("/proc/self/maps", 10, &data, &len), WR_E_TOOBIG);
    assert_null(data);
}

static void test_plat_file_read_directory_fails(void **state)
{
    struct fixture *f = *state;
    char *data = NULL;
    size_t len = 0;

    assert_int_equal(plat_file_read_all(f->dir, 100, &data, &len), WR_E_IO);
    assert_null(data);
}

static void test_plat_file_read_alloc_failure(void **state)
{
    struct fixture *f = *state;
    char path[128];
    char *data = NULL;
    size_t len = 0;
    long n;
    int rc;

    path_in(f, "small", path, sizeof(path));
    assert_int_equal(plat_file_write_atomic(path, "abc", 3), WR_OK);
    wr_test_alloc_install();
    for (n = 1;; n++) {
        wr_test_alloc_fail_at(n);
        rc = plat_file_read_all(path, 100, &data, &len);
        if (rc == WR_OK)
            break;
        assert_int_equal(rc, WR_E_NOMEM);
        assert_null(data);
    }
    assert_int_equal(len, 3);
    assert_string_equal(data, "abc");
    plat_free(data);
    /* The growth path (size unknown up front) reallocates; every step may fail too. */
    for (n = 1;; n++) {
        data = NULL;
        wr_test_alloc_fail_at(n);
        rc = plat_file_read_all("/proc/self/maps", 1u << 24, &data, &len);
        if (rc == WR_OK)
            break;
        assert_int_equal(rc, WR_E_NOMEM);
        assert_null(data);
    }
    plat_free(data);
    wr_test_alloc_uninstall();
}

static void test_plat_file_mkdir_p_creates_parents(void **state)
{
    struct fixture *f = *state;
    char path[128];
    char file[128];
    struct stat st;

    path_in(f, "a/b/c", path, sizeof(path));
    assert_int_equal(plat_file_mkdir_p(path, 0750), WR_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    /* Existing directories are fine, so is sloppy spelling. */
    assert_int_equal(plat_file_mkdir_p(path, 0750), WR_OK);
    path_in(f, "x//y/", path, sizeof(path));
    assert_int_equal(plat_file_mkdir_p(path, 0750), WR_OK);
    path_in(f, "x/y", path, sizeof(path));
    assert_true(plat_file_exists(path));

    /* A file in the way is an error, whether last or in the middle. */
    path_in(f, "a/file", file, sizeof(file));
    assert_int_equal(plat_file_write_atomic(file, "x", 1), WR_OK);
    assert_int_equal(plat_file_mkdir_p(file, 0750), WR_E_IO);
    path_in(f, "a/file/sub", path, sizeof(path));
    assert_int_equal(plat_file_mkdir_p(path, 0750), WR_E_IO);

    assert_int_equal(plat_file_mkdir_p(NULL, 0750), WR_E_INVAL);
    assert_int_equal(plat_file_mkdir_p("", 0750), WR_E_INVAL);
}

static void test_plat_file_rename_moves(void **state)
{
    struct fixture *f = *state;
    char from[128];
    char to[128];

    path_in(f, "from", from, sizeof(from));
    path_in(f, "to", to, sizeof(to));
    assert_int_equal(plat_file_write_atomic(from, "new", 3), WR_OK);
    assert_int_equal(plat_file_write_atomic(to, "old contents", 12), WR_OK);
    assert_int_equal(plat_file_rename(from, to), WR_OK);
    assert_false(plat_file_exists(from));
    assert_file_is(to, "new", 3);
    assert_int_equal(plat_file_rename(from, to), WR_E_NOTFOUND);
    assert_int_equal(plat_file_rename(NULL, to), WR_E_INVAL);
    assert_int_equal(plat_file_rename(from, NULL), WR_E_INVAL);
}

static void test_plat_file_mtime_ms_exact(void **state)
{
    struct fixture *f = *state;
    struct timespec times[2] = {{1700000000, 123456789}, {1700000000, 123456789}};
    char path[128];
    int64_t ms = 0;

    path_in(f, "stamped", path, sizeof(path));
    assert_int_equal(plat_file_write_atomic(path, "x", 1), WR_OK);
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    assert_int_equal(plat_file_mtime_ms(path, &ms), WR_OK);
    assert_int_equal(ms, 1700000000123);
    path_in(f, "nope", path, sizeof(path));
    assert_int_equal(plat_file_mtime_ms(path, &ms), WR_E_NOTFOUND);
    assert_int_equal(plat_file_mtime_ms(NULL, &ms), WR_E_INVAL);
    assert_int_equal(plat_file_mtime_ms(path, NULL), WR_E_INVAL);
}

static void test_plat_file_exists(void **state)
{
    struct fixture *f = *state;
    char path[128];

    assert_true(plat_file_exists(f->dir));
    path_in(f, "nope", path, sizeof(path));
    assert_false(plat_file_exists(path));
    assert_false(plat_file_exists(NULL));
}

/* A replaced config keeps the operator's permissions; a new one is private. */
static void test_plat_file_replace_keeps_mode(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    char path[128];
    mode_t old_umask;

    path_in(f, "cfg.json", path, sizeof(path));
    assert_int_equal(plat_file_replace(path, "new", 3), WR_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(chmod(path, 0640), 0);
    /* The umask does not widen or narrow what the old file had. */
    old_umask = umask(0077);
    assert_int_equal(plat_file_replace(path, "newer", 5), WR_OK);
    umask(old_umask);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_file_is(path, "newer", 5);
    assert_int_equal(count_temp_files(f->dir), 0);
    assert_int_equal(plat_file_replace(NULL, "x", 1), WR_E_INVAL);
    assert_int_equal(plat_file_replace(path, NULL, 1), WR_E_INVAL);
    path_in(f, "missing-dir/cfg.json", path, sizeof(path));
    assert_int_equal(plat_file_replace(path, "x", 1), WR_E_NOTFOUND);
}

#define FILE_TEST(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FILE_TEST(test_plat_file_write_atomic_round_trip),
        FILE_TEST(test_plat_file_write_atomic_large),
        FILE_TEST(test_plat_file_write_atomic_errors),
        FILE_TEST(test_plat_file_replace_keeps_mode),
        FILE_TEST(test_plat_file_write_read_only_dir_denied),
        FILE_TEST(test_plat_file_read_missing_not_found),
        FILE_TEST(test_plat_file_read_limit),
        FILE_TEST(test_plat_file_read_unknown_size),
        FILE_TEST(test_plat_file_read_directory_fails),
        FILE_TEST(test_plat_file_read_alloc_failure),
        FILE_TEST(test_plat_file_mkdir_p_creates_parents),
        FILE_TEST(test_plat_file_rename_moves),
        FILE_TEST(test_plat_file_mtime_ms_exact),
        FILE_TEST(test_plat_file_exists),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
