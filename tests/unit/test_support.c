#include "test_support.h"

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
