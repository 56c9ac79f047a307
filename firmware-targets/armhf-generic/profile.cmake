# Board profile: generic 32-bit ARM boards on Debian armhf: Cortex-A7
# (Allwinner H3, i.MX6UL/ULL, STM32MP1), Cortex-A9 (i.MX6, AM437x), Cortex-A8
# (AM335x BeagleBone), and 64-bit SoCs running a 32-bit userland.
#
# Used two ways: as CMAKE_TOOLCHAIN_FILE (CMakePresets.json), where it picks
# the cross compiler and the CPU flags, and read by cmake/Packaging.cmake
# with WINDROW_PROFILE_DATA_ONLY set, for the package's data.
set(WINDROW_PROFILE_NAME armhf-generic)
set(WINDROW_PROFILE_DEB_ARCH armhf)
# Exactly Debian's armhf baseline, stated so that a compiler with another
# default cannot change it. No NEON and only 16 double registers: NEON is
# optional on the A9 (Tegra 2 has none) and VFPv3-D16 is the subset every
# armhf core implements, so one package runs on A7, A8, A9 and later cores.
# Thumb-2 stays the compiler's default for armhf.
set(WINDROW_PROFILE_C_FLAGS "-march=armv7-a -mfpu=vfpv3-d16 -mfloat-abi=hard")
# systemd MemoryHigh/MemoryMax: these boards have 256 MB-1 GB shared with
# the broker; windrow.json keeps memory_budget_bytes at 16 MiB.
set(WINDROW_PROFILE_MEMORY_HIGH 64M)
set(WINDROW_PROFILE_MEMORY_MAX 96M)

if(NOT WINDROW_PROFILE_DATA_ONLY)
    include(${CMAKE_CURRENT_LIST_DIR}/../../toolchains/arm-linux-gnueabihf.cmake)
    string(APPEND CMAKE_C_FLAGS_INIT " ${WINDROW_PROFILE_C_FLAGS}")
endif()
