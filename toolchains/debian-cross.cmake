# Shared part of the Debian cross toolchain files. The including file sets
#   WR_CROSS_TRIPLE    GNU triplet, also Debian's multiarch directory name
#   WR_CROSS_DEB_ARCH  Debian architecture name (names the sysroot folder)
#   WR_CROSS_QEMU      qemu-user binary that runs the target's executables
#   CMAKE_SYSTEM_PROCESSOR
#
# The compiler and its C library come from Debian's gcc-<triplet> packages
# (libc in /usr/<triplet>). The third-party libraries (Paho, SQLite, cJSON,
# mbedTLS, cmocka) come from a sysroot that scripts/cross-deps.sh unpacks from
# the target architecture's Debian packages. It is a plain folder rather than
# multiarch-installed packages because a foreign-arch install must have the
# exact version of every Multi-Arch: same package already installed for
# amd64, and a mirror that lags one architecture behind the other makes apt
# want to remove or downgrade the host's own -dev packages.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${WR_CROSS_TRIPLE}-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE ${WR_CROSS_TRIPLE})

# Sysroot location: the cache variable WINDROW_SYSROOT, else
# $WINDROW_SYSROOT_DIR/<arch> from the environment, else the folder
# cross-deps.sh fills by default. It is handed on to try_compile projects.
if(NOT WINDROW_SYSROOT)
    if(DEFINED ENV{WINDROW_SYSROOT_DIR})
        set(WINDROW_SYSROOT "$ENV{WINDROW_SYSROOT_DIR}/${WR_CROSS_DEB_ARCH}")
    else()
        get_filename_component(WINDROW_SYSROOT
            "${CMAKE_CURRENT_LIST_DIR}/../build/sysroots/${WR_CROSS_DEB_ARCH}" ABSOLUTE)
    endif()
endif()
set(WINDROW_SYSROOT "${WINDROW_SYSROOT}" CACHE PATH
    "Folder holding the ${WR_CROSS_DEB_ARCH} Debian packages the build links against")
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES WINDROW_SYSROOT)
if(NOT EXISTS "${WINDROW_SYSROOT}/usr/include/MQTTAsync.h")
    message(FATAL_ERROR "No ${WR_CROSS_DEB_ARCH} sysroot at ${WINDROW_SYSROOT}: "
        "run scripts/cross-deps.sh ${WR_CROSS_DEB_ARCH} (or scripts/build-target.sh)")
endif()

set(_wr_cross_libdir "${WINDROW_SYSROOT}/usr/lib/${WR_CROSS_TRIPLE}")

# Search only the target's files for libraries and headers; programs (tools
# run during the build) are the host's.
set(CMAKE_FIND_ROOT_PATH "${WINDROW_SYSROOT}" "/usr/${WR_CROSS_TRIPLE}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The linker follows the NEEDED entries of the sysroot's libraries
# (libmbedtls.so.14 needs libmbedx509 and libmbedcrypto) inside the sysroot.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_wr_cross_libdir}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_wr_cross_libdir}")

# ctest runs the target's test executables under qemu-user: -L points the
# ELF interpreter and libc at the cross libc, LD_LIBRARY_PATH the loader at
# the sysroot's libraries. Needs no binfmt_misc registration.
find_program(WR_CROSS_QEMU_PATH ${WR_CROSS_QEMU})
if(WR_CROSS_QEMU_PATH)
    set(CMAKE_CROSSCOMPILING_EMULATOR "${WR_CROSS_QEMU_PATH};-L;/usr/${WR_CROSS_TRIPLE};-E;LD_LIBRARY_PATH=${_wr_cross_libdir}")
else()
    message(WARNING "${WR_CROSS_QEMU} not found (Debian package qemu-user): "
        "cross-built tests cannot run")
endif()
