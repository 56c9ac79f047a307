# Debian package of the agent for one board profile (firmware-targets/<profile>/).
#
# Included once from the top-level CMakeLists.txt, after the subdirectories
# (the windrow target must exist). Adds the install rules for the files
# around the binary (systemd unit, default config) and configures CPack's
# DEB generator: `cpack` (or `cpack --preset <profile>`) in the build
# folder writes windrow_<version>-<release>_<arch>.deb there.
#
# The profile: WINDROW_PROFILE (cache). Configuring with a profile's
# profile.cmake as the toolchain file (what CMakePresets.json does) selects
# that profile; a plain configure is the native x86_64-gateway profile.
include_guard(GLOBAL)

# ---- profile ---------------------------------------------------------------

# A profile.cmake used as toolchain file has left WINDROW_PROFILE_NAME set;
# read the profile's data again without its toolchain part.
set(_wr_toolchain_profile "${WINDROW_PROFILE_NAME}")
if(_wr_toolchain_profile)
    set(_wr_default_profile ${_wr_toolchain_profile})
else()
    set(_wr_default_profile x86_64-gateway)
endif()
set(WINDROW_PROFILE ${_wr_default_profile} CACHE STRING
    "Board profile: a folder under firmware-targets/ (rpi-aarch64, armhf-generic, x86_64-gateway)")
set_property(CACHE WINDROW_PROFILE PROPERTY STRINGS rpi-aarch64 armhf-generic x86_64-gateway)

set(WINDROW_PROFILE_DIR ${PROJECT_SOURCE_DIR}/firmware-targets/${WINDROW_PROFILE})
if(NOT EXISTS ${WINDROW_PROFILE_DIR}/profile.cmake)
    message(FATAL_ERROR "WINDROW_PROFILE=${WINDROW_PROFILE}: no ${WINDROW_PROFILE_DIR}/profile.cmake")
endif()
if(_wr_toolchain_profile AND NOT _wr_toolchain_profile STREQUAL WINDROW_PROFILE)
    message(FATAL_ERROR "The toolchain file is profile ${_wr_toolchain_profile}'s but "
        "WINDROW_PROFILE=${WINDROW_PROFILE}: use one build folder per profile "
        "(cmake --preset ${WINDROW_PROFILE})")
endif()
set(WINDROW_PROFILE_DATA_ONLY TRUE)
include(${WINDROW_PROFILE_DIR}/profile.cmake)
unset(WINDROW_PROFILE_DATA_ONLY)

# The package's architecture is the one the compiler really targets; the
# profile states the one it expects, and a mismatch (a cross profile
# configured without its toolchain file) is refused rather than packaged.
if(CMAKE_CROSSCOMPILING)
    if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
        set(_wr_deb_arch arm64)
    elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^arm")
        set(_wr_deb_arch armhf)
    elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|amd64)$")
        set(_wr_deb_arch amd64)
    else()
        message(FATAL_ERROR "No Debian architecture known for CMAKE_SYSTEM_PROCESSOR="
            "${CMAKE_SYSTEM_PROCESSOR}")
    endif()
else()
    find_program(WR_DPKG dpkg)
    if(WR_DPKG)
        execute_process(COMMAND ${WR_DPKG} --print-architecture
            OUTPUT_VARIABLE _wr_deb_arch OUTPUT_STRIP_TRAILING_WHITESPACE)
    else()
        set(_wr_deb_arch ${WINDROW_PROFILE_DEB_ARCH})
    endif()
endif()
if(NOT _wr_deb_arch STREQUAL WINDROW_PROFILE_DEB_ARCH)
    if(WINDROW_PROFILE STREQUAL _wr_default_profile AND NOT _wr_toolchain_profile)
        # A plain native configure on a non-amd64 machine: build as usual,
        # and tell that the package would be for that machine, not a profile.
        message(STATUS "Packaging: ${_wr_deb_arch} host, not a board profile's target; "
            "use cmake --preset <profile> for board packages")
    else()
        message(FATAL_ERROR "Profile ${WINDROW_PROFILE} targets ${WINDROW_PROFILE_DEB_ARCH} but "
            "the compiler targets ${_wr_deb_arch}: configure with cmake --preset "
            "${WINDROW_PROFILE} (or -DCMAKE_TOOLCHAIN_FILE=${WINDROW_PROFILE_DIR}/profile.cmake)")
    endif()
endif()
message(STATUS "Packaging: profile ${WINDROW_PROFILE}, Debian architecture ${_wr_deb_arch}")

# ---- install rules around the binary ----------------------------------------
# The binary itself: install(TARGETS windrow ...) in agent/CMakeLists.txt.
# Absolute destinations: these paths are fixed by systemd and the FHS, not
# by the prefix (CPack's DEB generator stages them under DESTDIR).

set(WINDROW_PROFILE_UNIT ${CMAKE_BINARY_DIR}/windrow.service)
configure_file(${PROJECT_SOURCE_DIR}/firmware-targets/common/windrow.service.in
    ${WINDROW_PROFILE_UNIT} @ONLY)
install(FILES ${WINDROW_PROFILE_UNIT} DESTINATION /lib/systemd/system
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
# 0640: fleet management may put broker credentials in it; postinst gives
# group windrow read access.
install(FILES ${WINDROW_PROFILE_DIR}/windrow.json DESTINATION /etc/windrow
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
# The local broker's drop-in (firmware-targets/common/mosquitto/windrow.conf:
# queue limits and persistent sessions, so the broker queues for Windrow
# instead of dropping). Debian's mosquitto.conf includes conf.d; without
# mosquitto installed the file is inert.
install(FILES ${PROJECT_SOURCE_DIR}/firmware-targets/common/mosquitto/windrow.conf
    DESTINATION /etc/mosquitto/conf.d
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
# /var/lib/windrow is made by postinst (and by systemd's StateDirectory=),
# not shipped: its contents are the agent's, and purge removes them.

# ---- CPack: DEB ---------------------------------------------------------------

set(CPACK_GENERATOR DEB)
set(CPACK_SOURCE_GENERATOR "")
set(CPACK_PACKAGE_NAME windrow)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "Windrow")
set(CPACK_PACKAGE_CONTACT "Windrow maintainers <windrow@example.net>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "edge pre-aggregation agent for MQTT sensor data")
set(CPACK_PACKAGE_DESCRIPTION
    "Windrow subscribes to sensor events on the local MQTT broker, folds them into\n"
    "tumbling windows with SQLite-backed state and forwards compact window results\n"
    "to an upstream MQTT broker over TLS (mbedTLS).\n"
    "Board profile: ${WINDROW_PROFILE}.")
string(REPLACE ";" "" CPACK_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR})
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${_wr_deb_arch})
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
# Runtime dependencies, stated rather than computed: dpkg-shlibdeps (CPack's
# SHLIBDEPS) only works for the host architecture, and one list keeps the
# three profiles' packages alike. The versions are what dpkg-shlibdeps
# derives from Debian 12's symbols files for the amd64 binary (the symbol
# versions are the same on arm64 and armhf), except libc6: the amd64 binary
# uses packed relative relocations (cmake/Size.cmake), which need glibc 2.36
# (GLIBC_ABI_DT_RELR, not in the symbols file), and one list serves the three
# profiles. scripts/build-target.sh checks the binary's NEEDED entries against
# this list on every build, and on the native profile compares it with
# dpkg-shlibdeps' own answer.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.36)"
    "libpaho-mqtt1.3 (>= 1.3.0)"
    "libsqlite3-0 (>= 3.20.0)"
    "libcjson1 (>= 1.7.13)"
    "libmbedtls14 (>= 2.28.0)"
    "libmbedx509-1 (>= 2.28.0)"
    "libmbedcrypto7 (>= 2.28.0)"
    "libzstd1 (>= 1.5.2)"
    "adduser")
string(REPLACE ";" ", " CPACK_DEBIAN_PACKAGE_DEPENDS "${CPACK_DEBIAN_PACKAGE_DEPENDS}")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "mosquitto")

# Maintainer scripts and the conffiles list (CPack marks nothing as a
# conffile by itself; without the entry an upgrade would overwrite the
# fleet-managed config or an administrator's tuning of the broker drop-in).
set(_wr_debian_dir ${PROJECT_SOURCE_DIR}/firmware-targets/common/debian)
file(WRITE ${CMAKE_BINARY_DIR}/debian/conffiles
    "/etc/windrow/windrow.json\n/etc/mosquitto/conf.d/windrow.conf\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/debian/conffiles
    ${_wr_debian_dir}/postinst
    ${_wr_debian_dir}/prerm
    ${_wr_debian_dir}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)

# The package is useless without the binary: say so at the end of the
# configure step (agent/main.c may not exist yet in a half-built tree).
function(_wr_packaging_check_binary)
    if(NOT TARGET windrow)
        message(WARNING "Packaging: no windrow target (agent/main.c missing): "
            "the package would lack /usr/bin/windrow")
    endif()
endfunction()
if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.19)
    cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL _wr_packaging_check_binary)
endif()
