# Board profile: x86-64 industrial gateways and edge PCs on Debian amd64
# (Atom/Celeron/Pentium J and N series, Core i3/i5 box PCs). Native build.
#
# Used two ways: as CMAKE_TOOLCHAIN_FILE (CMakePresets.json), where it sets
# the CPU flags, and read by cmake/Packaging.cmake with
# WINDROW_PROFILE_DATA_ONLY set, for the package's data. It is also the
# default profile of a plain configure without a toolchain file.
set(WINDROW_PROFILE_NAME x86_64-gateway)
set(WINDROW_PROFILE_DEB_ARCH amd64)
# The plain x86-64 baseline (Debian's amd64 baseline), not x86-64-v2: older
# Atom gateways (Bonnell/Saltwell, e.g. D2550) lack SSE4.2 and POPCNT and
# would die with SIGILL, while the agent's hot paths (hashing, JSON, SQLite,
# TLS in mbedTLS, which detects AES-NI at run time) gain nothing measurable
# from v2. -mtune=generic is the default; stated so the intent is visible.
set(WINDROW_PROFILE_C_FLAGS "-march=x86-64 -mtune=generic")
# systemd MemoryHigh/MemoryMax: gateways have 2-8 GB; windrow.json sets a
# 128 MiB window-table budget.
set(WINDROW_PROFILE_MEMORY_HIGH 384M)
set(WINDROW_PROFILE_MEMORY_MAX 512M)

if(NOT WINDROW_PROFILE_DATA_ONLY)
    string(APPEND CMAKE_C_FLAGS_INIT " ${WINDROW_PROFILE_C_FLAGS}")
endif()
