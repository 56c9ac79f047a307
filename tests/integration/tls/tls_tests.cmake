# TLS transport and loopback bridge against real mosquitto brokers.
# Included by tests/integration/CMakeLists.txt; paths are relative to this file.
find_library(WR_PAHO_MQTT3C_LIBRARY NAMES paho-mqtt3c REQUIRED)
find_program(WR_MOSQUITTO_BIN mosquitto PATHS /usr/sbin /usr/local/sbin REQUIRED)

add_library(wr_tls_harness STATIC ${CMAKE_CURRENT_LIST_DIR}/tls_harness.c)
target_include_directories(wr_tls_harness PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(wr_tls_harness PUBLIC wr_platform PRIVATE wr_warnings)

add_executable(test_tls_bridge ${CMAKE_CURRENT_LIST_DIR}/test_tls_bridge.c)
target_include_directories(test_tls_bridge SYSTEM PRIVATE ${dep_paho_INCLUDE_DIR})
target_link_libraries(test_tls_bridge PRIVATE wr_tls_harness wr_platform dep_cmocka
    ${WR_PAHO_MQTT3C_LIBRARY} wr_warnings)
add_test(NAME integration.tls_bridge
    COMMAND test_tls_bridge ${CMAKE_CURRENT_LIST_DIR}/gen_certs.sh ${WR_MOSQUITTO_BIN})
set_tests_properties(integration.tls_bridge PROPERTIES LABELS "integration;tls" TIMEOUT 120)
