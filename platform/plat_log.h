#ifndef PLAT_LOG_H
#define PLAT_LOG_H

#include <stdint.h>

enum plat_log_level {
    PLAT_LOG_ERROR = 0,
    PLAT_LOG_WARN = 1,
    PLAT_LOG_INFO = 2,
    PLAT_LOG_DEBUG = 3,
};

/** Set the most verbose level that is written (default PLAT_LOG_INFO). Thread-safe. */
void plat_log_set_level(enum plat_log_level level);

/** Parse "error", "warn", "info" or "debug"; returns -1 for anything else. */
int plat_log_level_parse(const char *name);

/**
 * Write one line to stderr: "<time> <level> <module>: <message>". Thread-safe;
 * a line is written with one write(2) so lines from threads never interleave.
 */
void plat_log(enum plat_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * Rate limiter for log lines caused by input (bad payloads, unknown topics):
 * at most one line per interval_ms, reporting how many were suppressed.
 * Zero-initialise; one per call site. Thread-safe.
 */
struct plat_log_limiter {
    uint64_t next_ms;
    uint64_t suppressed;
};

void plat_log_limited(struct plat_log_limiter *lim, uint32_t interval_ms,
                      enum plat_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define PLAT_ERROR(mod, ...) plat_log(PLAT_LOG_ERROR, (mod), __VA_ARGS__)
#define PLAT_WARN(mod, ...) plat_log(PLAT_LOG_WARN, (mod), __VA_ARGS__)
#define PLAT_INFO(mod, ...) plat_log(PLAT_LOG_INFO, (mod), __VA_ARGS__)
#define PLAT_DEBUG(mod, ...) plat_log(PLAT_LOG_DEBUG, (mod), __VA_ARGS__)

#endif /* PLAT_LOG_H */
