# Build checks for cmake/Modules.cmake, included from tests/CMakeLists.txt.
#
# build.module_boundaries: every module's #include "x.h" names its own
#   header or one of a module it links (directly or through LINKS), a
#   third-party header only appears in that library's homes, every .c file
#   belongs to one module, and no module links a library outside its homes.
# build.guard_<dep>: a probe that includes the library's header, compiled
#   with the include path of a module that is not its home, must fail with
#   the guard's message (the build refuses a second home); the same probe
#   compiled as in a home must succeed (the guard is what stopped it).
find_package(Python3 REQUIRED COMPONENTS Interpreter)

add_test(NAME build.module_boundaries
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/cmake/check_modules.py
            ${CMAKE_BINARY_DIR}/wr_modules.json)
set_tests_properties(build.module_boundaries PROPERTIES LABELS unit TIMEOUT 60)

# One probe per library that has guard headers: include the first one.
get_property(_wr_deps GLOBAL PROPERTY WR_THIRD_PARTY)
foreach(dep ${_wr_deps})
    get_property(headers GLOBAL PROPERTY WR_GUARD_HEADERS_${dep})
    get_property(defs GLOBAL PROPERTY WR_GUARD_DEFINES_${dep})
    if(NOT headers AND NOT defs)
        continue()
    endif()
    get_property(homes GLOBAL PROPERTY WR_HOMES_${dep})
    list(GET homes 0 home)
    if(headers)
        list(GET headers 0 header)
    else()
        set(header mbedtls/ssl.h)
    endif()
    set(probe ${CMAKE_CURRENT_BINARY_DIR}/wr_probe_${dep}.c)
    file(WRITE ${probe} "#include <${header}>\nint wr_probe_${dep}(void);\n"
        "int wr_probe_${dep}(void) { return 0; }\n")
    # Outside the home: the guards of a module that links nothing.
    add_library(wr_probe_outside_${dep} OBJECT EXCLUDE_FROM_ALL ${probe})
    wr__apply_guards(wr_probe_outside_${dep})
    # As in the home: the same guards the home gets (none for this library).
    add_library(wr_probe_home_${dep} OBJECT EXCLUDE_FROM_ALL ${probe})
    target_link_libraries(wr_probe_home_${dep} PRIVATE ${dep})
    get_property(deps_all GLOBAL PROPERTY WR_THIRD_PARTY)
    foreach(other ${deps_all})
        get_property(ohomes GLOBAL PROPERTY WR_HOMES_${other})
        if(NOT home IN_LIST ohomes)
            target_include_directories(wr_probe_home_${dep} BEFORE PRIVATE ${WR_GUARD_ROOT}/${other})
        endif()
    endforeach()
    add_test(NAME build.guard_${dep}
        COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target wr_probe_outside_${dep})
    # One build of the tree at a time: the two probes of a library and any
    # other probe share the build system.
    set_tests_properties(build.guard_${dep} PROPERTIES LABELS unit TIMEOUT 120
        RESOURCE_LOCK wr_build_probe
        PASS_REGULAR_EXPRESSION "belongs to ${dep}, whose home is")
    add_test(NAME build.guard_${dep}_home_compiles
        COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target wr_probe_home_${dep})
    set_tests_properties(build.guard_${dep}_home_compiles PROPERTIES LABELS unit TIMEOUT 120
        RESOURCE_LOCK wr_build_probe)
endforeach()
