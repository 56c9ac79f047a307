#include "plat_mem.h"

#include <stdlib.h>
#include <string.h>

static struct plat_mem_hooks hooks = {malloc, calloc, realloc, free};

void plat_mem_set_hooks(const struct plat_mem_hooks *h)
{
    if (h == NULL) {
        hooks.malloc_fn = malloc;
        hooks.calloc_fn = calloc;
        hooks.realloc_fn = realloc;
        hooks.free_fn = free;
        return;
    }
    hooks = *h;
}

void *plat_malloc(size_t size)
{
    return hooks.malloc_fn(size);
}

void *plat_calloc(size_t count, size_t size)
{
    return hooks.calloc_fn(count, size);
}

void *plat_realloc(void *ptr, size_t size)
{
    return hooks.realloc_fn(ptr, size);
}

void plat_free(void *ptr)
{
    if (ptr != NULL)
        hooks.free_fn(ptr);
}

char *plat_strdup(const char *s)
{
    size_t len;
    char *copy;

    if (s == NULL)
        return NULL;
    len = strlen(s) + 1;
    copy = plat_malloc(len);
    if (copy != NULL)
        memcpy(copy, s, len);
    return copy;
}

int plat_mem_reserve(uint8_t **buf, size_t *cap, size_t need, size_t min_cap)
{
    size_t grown_cap;
    uint8_t *grown;

    if (need <= *cap)
        return 0;
    grown_cap = *cap < min_cap ? min_cap : *cap;
    while (grown_cap < need)
        grown_cap *= 2;
    grown = plat_realloc(*buf, grown_cap);
    if (grown == NULL)
        return -1;
    *buf = grown;
    *cap = grown_cap;
    return 0;
}
