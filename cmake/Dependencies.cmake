# Third-party libraries, found the plain way (header + library) so that the
# same lookups work for native builds and for Debian multiarch cross builds.

function(wr_find_dep target header libname)
    find_path(${target}_INCLUDE_DIR ${header} REQUIRED)
    find_library(${target}_LIBRARY NAMES ${libname} REQUIRED)
    add_library(${target} UNKNOWN IMPORTED)
    set_target_properties(${target} PROPERTIES
        IMPORTED_LOCATION "${${target}_LIBRARY}"
        INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${${target}_INCLUDE_DIR}"
        INTERFACE_INCLUDE_DIRECTORIES "${${target}_INCLUDE_DIR}")
endfunction()

find_package(Threads REQUIRED)
wr_find_dep(dep_paho MQTTAsync.h paho-mqtt3a)
wr_find_dep(dep_sqlite sqlite3.h sqlite3)
wr_find_dep(dep_cjson cjson/cJSON.h cjson)
wr_find_dep(dep_mbedtls mbedtls/ssl.h mbedtls)
wr_find_dep(dep_mbedx509 mbedtls/x509_crt.h mbedx509)
wr_find_dep(dep_mbedcrypto mbedtls/md.h mbedcrypto)
wr_find_dep(dep_zstd zstd.h zstd)
if(WINDROW_TESTS)
    wr_find_dep(dep_cmocka cmocka.h cmocka)
endif()

# Each library's home: the only modules that may include its headers and
# link it (PRIVATE). A new library gets a wr_third_party() line here with its
# home and the header names its users would include (cmake/Modules.cmake).
include(${CMAKE_CURRENT_LIST_DIR}/Modules.cmake)
wr_third_party(dep_paho HOMES wr_ingest wr_uplink
    GUARD_HEADERS MQTTAsync.h MQTTClient.h MQTTProperties.h MQTTExportDeclarations.h)
wr_third_party(dep_sqlite HOMES wr_store GUARD_HEADERS sqlite3.h sqlite3ext.h)
wr_third_party(dep_cjson HOMES wr_config GUARD_HEADERS cjson/cJSON.h cjson/cJSON_Utils.h)
# Every mbedTLS header includes MBEDTLS_CONFIG_FILE first, so pointing it at
# the guard stops them all (one guard for the three libraries).
wr_third_party(dep_mbedtls HOMES wr_plat_tls
    GUARD_DEFINES MBEDTLS_CONFIG_FILE="wr_guard_dep_mbedtls.h")
wr_third_party(dep_mbedx509 HOMES wr_plat_tls)
wr_third_party(dep_mbedcrypto HOMES wr_plat_tls)
wr_third_party(dep_zstd HOMES wr_encode GUARD_HEADERS zstd.h zstd_errors.h zdict.h)
