# Cross build for 64-bit ARM Linux (Debian arm64) with Debian's
# gcc-aarch64-linux-gnu. Libraries: see debian-cross.cmake.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(WR_CROSS_TRIPLE aarch64-linux-gnu)
set(WR_CROSS_DEB_ARCH arm64)
set(WR_CROSS_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
