# Board profile: Raspberry Pi 4 / 400 / CM4 (Cortex-A72) and Pi 5 (Cortex-A76)
# on 64-bit Raspberry Pi OS or Debian arm64.
#
# Used two ways: as CMAKE_TOOLCHAIN_FILE (CMakePresets.json), where it picks
# the cross compiler and the CPU flags, and read by cmake/Packaging.cmake
# with WINDROW_PROFILE_DATA_ONLY set, for the package's data.
set(WINDROW_PROFILE_NAME rpi-aarch64)
set(WINDROW_PROFILE_DEB_ARCH arm64)
# Debian's arm64 baseline is plain ARMv8-A; the A72 tuning and scheduling
# model suits the A72 and the A76 (which runs all A72 code) alike.
set(WINDROW_PROFILE_C_FLAGS "-mcpu=cortex-a72")
# systemd MemoryHigh/MemoryMax: Pi boards have 1-8 GB; the agent's tables
# are bounded by backpressure.memory_budget_bytes (64 MiB in windrow.json),
# the rest is SQLite's page cache, Paho's buffers and the outbox batches.
set(WINDROW_PROFILE_MEMORY_HIGH 192M)
set(WINDROW_PROFILE_MEMORY_MAX 256M)
# Segments aligned for pages of up to 16 KiB instead of ld's arm64 default of
# 64 KiB, whose padding was a fifth of the binary (49 KB of zeros). Debian's
# arm64 kernels and the Pi 4's use 4 KiB pages, the Pi 5's default kernel
# (kernel_2712) 16 KiB; a kernel with 64 KiB pages would refuse to run it.
set(WINDROW_PROFILE_LINK_FLAGS "-Wl,-z,max-page-size=16384")

if(NOT WINDROW_PROFILE_DATA_ONLY)
    include(${CMAKE_CURRENT_LIST_DIR}/../../toolchains/aarch64-linux-gnu.cmake)
    string(APPEND CMAKE_C_FLAGS_INIT " ${WINDROW_PROFILE_C_FLAGS}")
    string(APPEND CMAKE_EXE_LINKER_FLAGS_INIT " ${WINDROW_PROFILE_LINK_FLAGS}")
endif()
