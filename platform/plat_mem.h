#ifndef PLAT_MEM_H
#define PLAT_MEM_H

#include <stddef.h>
#include <stdint.h>

/*
 * Every allocation in Windrow goes through these wrappers so that tests can
 * substitute a counting or failing allocator (see plat_mem_set_hooks).
 */

void *plat_malloc(size_t size);
void *plat_calloc(size_t count, size_t size);
void *plat_realloc(void *ptr, size_t size);
void plat_free(void *ptr);
/** Duplicate a NUL-terminated string through plat_malloc; NULL on failure or NULL input. */
char *plat_strdup(const char *s);

/**
 * Make *buf hold at least need bytes, growing by doubling from min_cap and
 * keeping its contents. Returns 0, or -1 (buffer unchanged) when out of memory.
 */
int plat_mem_reserve(uint8_t **buf, size_t *cap, size_t need, size_t min_cap);

struct plat_mem_hooks {
    void *(*malloc_fn)(size_t size);
    void *(*calloc_fn)(size_t count, size_t size);
    void *(*realloc_fn)(void *ptr, size_t size);
    void (*free_fn)(void *ptr);
};

/** Replace the allocator (tests only); NULL restores the C library's. Not thread-safe. */
void plat_mem_set_hooks(const struct plat_mem_hooks *hooks);

#endif /* PLAT_MEM_H */
