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
if(WINDROW_TESTS)
    wr_find_dep(dep_cmocka cmocka.h cmocka)
endif()
