# Cross build for 32-bit ARM hard-float Linux (Debian armhf: ARMv7-A, VFPv3-D16,
# Thumb-2) with Debian's gcc-arm-linux-gnueabihf. Libraries: see debian-cross.cmake.
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(WR_CROSS_TRIPLE arm-linux-gnueabihf)
set(WR_CROSS_DEB_ARCH armhf)
set(WR_CROSS_QEMU qemu-arm)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)

# 64-bit off_t and ino_t and readdir64 behind the plain names. Without it
# readdir() fails with EOVERFLOW on a directory whose entries carry 64-bit
# hash cookies or inode numbers: under qemu-arm on a 64-bit kernel that is
# every ext4 directory, on boards any large or network filesystem. The
# libraries the agent calls take no off_t, so their ABI is untouched.
# (time_t stays 32-bit: Debian 12's armhf libraries are built that way.)
set(CMAKE_C_FLAGS_INIT "-D_FILE_OFFSET_BITS=64")
