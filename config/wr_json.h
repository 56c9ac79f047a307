#ifndef WR_JSON_H
#define WR_JSON_H

#include <stdbool.h>

/*
 * cJSON's allocator hooks are process-wide. Windrow routes them, once, to
 * plat_malloc/plat_free so that allocation-failure tests reach inside cJSON,
 * and keeps a per-thread flag so that a parse that failed for want of memory
 * is not mistaken for malformed text (cJSON returns NULL for both). Config
 * and decode share this one installation.
 */

/** Install the hooks (first call only; thread-safe) and clear this thread's flag. */
void wr_json_begin(void);

/** True if an allocation failed on this thread since wr_json_begin. */
bool wr_json_out_of_memory(void);

#endif /* WR_JSON_H */
