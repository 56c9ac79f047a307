#define _POSIX_C_SOURCE 200809L
#include "plat_log.h"
#include "plat_time.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int current_level = PLAT_LOG_INFO;
static pthread_mutex_t limiter_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void plat_log_set_level(enum plat_log_level level)
{
    atomic_store(&current_level, (int)level);
}

int plat_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name != NULL && strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

static void vlog(enum plat_log_level level, const char *module, const char *fmt, va_list ap)
{
    char line[1024];
    struct tm tm;
    int64_t now_ms = plat_time_wall_ms();
    time_t secs = (time_t)(now_ms / 1000);
    size_t len;
    int n;

    gmtime_r(&secs, &tm);
    len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(line + len, sizeof(line) - len, ".%03dZ %-5s %s: ", (int)(now_ms % 1000),
                 level_names[level], module);
    if (n > 0)
        len += (size_t)n;
    if (len < sizeof(line)) {
        n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
        if (n > 0)
            len += (size_t)n;
    }
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* One write per line keeps lines from different threads whole. */
    if (write(STDERR_FILENO, line, len) < 0)
        return;
}

void plat_log(enum plat_log_level level, const char *module, const char *fmt, ...)
{
    va_list ap;

    if ((int)level > atomic_load(&current_level))
        return;
    va_start(ap, fmt);
    vlog(level, module, fmt, ap);
    va_end(ap);
}

void plat_log_limited(struct plat_log_limiter *lim, uint32_t interval_ms,
                      enum plat_log_level level, const char *module, const char *fmt, ...)
{
    uint64_t now = plat_time_mono_ms();
    uint64_t suppressed;
    va_list ap;

    if ((int)level > atomic_load(&current_level))
        return;
    pthread_mutex_lock(&limiter_lock);
    if (now < lim->next_ms) {
        lim->suppressed++;
        pthread_mutex_unlock(&limiter_lock);
        return;
    }
    suppressed = lim->suppressed;
    lim->suppressed = 0;
    lim->next_ms = now + interval_ms;
    pthread_mutex_unlock(&limiter_lock);
    if (suppressed > 0)
        plat_log(level, module, "(%llu similar lines suppressed)", (unsigned long long)suppressed);
    va_start(ap, fmt);
    vlog(level, module, fmt, ap);
    va_end(ap);
}
