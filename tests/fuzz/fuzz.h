#ifndef WR_FUZZ_H
#define WR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/*
 * The libFuzzer entry point every harness defines. The same harness links
 * either with libFuzzer (WINDROW_FUZZ=ON) or with replay_main.c, which runs
 * it over a stored corpus in every test run.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* WR_FUZZ_H */
