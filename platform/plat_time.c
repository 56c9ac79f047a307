#define _POSIX_C_SOURCE 200809L
#include "plat_time.h"

#include <errno.h>
#include <time.h>

static uint64_t ts_to_ms(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000u + (uint64_t)ts->tv_nsec / 1000000u;
}

uint64_t plat_time_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts_to_ms(&ts);
}

int64_t plat_time_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + (int64_t)ts.tv_nsec / 1000000;
}

uint64_t plat_time_cpu_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void plat_sleep_us(uint64_t us)
{
    struct timespec req = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
    struct timespec rem;

    while (nanosleep(&req, &rem) != 0 && errno == EINTR)
        req = rem;
}

void plat_sleep_ms(uint32_t ms)
{
    plat_sleep_us((uint64_t)ms * 1000u);
}
