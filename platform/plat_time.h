#ifndef PLAT_TIME_H
#define PLAT_TIME_H

#include <stdint.h>

/** Milliseconds from an arbitrary origin; never jumps. Use for timers, retries, deadlines. */
uint64_t plat_time_mono_ms(void);

/** Milliseconds since the Unix epoch from the wall clock; may jump (NTP, RTC-less boot). */
int64_t plat_time_wall_ms(void);

/** Process CPU time (user + system) in microseconds. */
uint64_t plat_time_cpu_us(void);

/** Sleep for at least ms milliseconds (restarted on EINTR). */
void plat_sleep_ms(uint32_t ms);

/** Sleep for at least us microseconds (restarted on EINTR). */
void plat_sleep_us(uint64_t us);

#endif /* PLAT_TIME_H */
