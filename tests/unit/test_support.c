/* nftw, mkdtemp. */
#define _XOPEN_SOURCE 700
#include "test_support.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <string.h>

#include "plat_mem.h"

static long fail_at;
static long count;

static int should_fail(void)
{
    count++;
    return fail_at > 0 && count == fail_at;
}

static void *checked_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return test_malloc(size);
}

static void *checked_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return test_calloc(n, size);
}

static void *checked_realloc(void *ptr, size_t size)
{
    if (should_fail())
        return NULL;
    return test_realloc(ptr, size);
}

static void checked_free(void *ptr)
{
    test_free(ptr);
}

void wr_test_alloc_install(void)
{
    static const struct plat_mem_hooks hooks = {checked_malloc, checked_calloc, checked_realloc,
                                                 checked_free};

    fail_at = 0;
    count = 0;
    plat_mem_set_hooks(&hooks);
}

void wr_test_alloc_uninstall(void)
{
    plat_mem_set_hooks(NULL);
}

void wr_test_alloc_fail_at(long nth)
{
    fail_at = nth;
    count = 0;
}

long wr_test_alloc_count(void)
{
    return count;
}

int wr_test_alloc_setup(void **state)
{
    (void)state;
    wr_test_alloc_install();
    return 0;
}

int wr_test_alloc_teardown(void **state)
{
    (void)state;
    wr_test_alloc_uninstall();
    return 0;
}

int wr_test_tmpdir(char *dir, size_t len, const char *prefix)
{
    int n = snprintf(dir, len, "/tmp/%s-XXXXXX", prefix);

    if (n < 0 || (size_t)n >= len)
        return -1;
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    chmod(path, 0700);
    return remove(path);
}

void wr_test_rmtree(const char *dir)
{
    /* The top first, so that the walk can enter it; then depth first. */
    chmod(dir, 0700);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
