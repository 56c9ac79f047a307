# TLS handshake time and bridge throughput. Include after
# tests/integration/tls/tls_tests.cmake (it defines wr_tls_harness and finds
# libpaho-mqtt3c and mosquitto). Not a test: run by hand, e.g.
#   bench_tls tests/integration/tls/gen_certs.sh /usr/sbin/mosquitto 64
add_executable(bench_tls ${CMAKE_CURRENT_LIST_DIR}/bench_tls.c)
target_include_directories(bench_tls SYSTEM PRIVATE ${dep_paho_INCLUDE_DIR})
target_link_libraries(bench_tls PRIVATE wr_tls_harness wr_platform ${WR_PAHO_MQTT3C_LIBRARY}
    wr_warnings)
