# Optimized builds of the agent are built for size (issue 9: a stripped
# binary of at most 160 KiB), without giving up speed on the per-event path.
# docs/decisions.md ("The release binary is built for size") has the figures.
#
#   - Modules are compiled with -Os, except the sources on the per-event
#     path (WR_HOT_SOURCES below), which keep the build type's level (-O2,
#     -O3 for Release). -Os there doubled the decoder's wall time per
#     message at an equal instruction count.
#   - Link-time optimization for the windrow binary (and the benchmarks that
#     stand for it): modules are compiled to fat LTO objects, so tests link
#     them as ordinary code (-fno-lto, wr_size_tests()) and only the binaries
#     named in wr_size_link() are optimized across modules.
#   - -ffunction-sections -fdata-sections with --gc-sections: code that no
#     caller reaches is not linked.
#   - No unwind tables (-fno-asynchronous-unwind-tables): C without
#     exceptions or thread cancellation does not unwind; -g still emits
#     .debug_frame, so the unstripped binary in the build folder unwinds in
#     gdb and reads crash dumps. Cost: an unwinder without debug info
#     (systemd-coredump's journal backtrace of the stripped binary) shows
#     the crashing frame only.
#   - -fno-plt with -z now: imported functions are called through the GOT,
#     bound at start (full RELRO), no PLT stubs.
#   - Packed relative relocations (-z pack-relative-relocs, DT_RELR) where
#     the linker supports them (binutils 2.40: x86-64; ignored on ARM): the
#     binary then needs glibc 2.36 (GLIBC_ABI_DT_RELR), Debian 12's.
#
# Not for Debug, sanitizer, coverage or fuzz builds (they keep their flags
# as they are), nor for compilers other than GCC. WINDROW_SMALL=OFF turns it
# off; the default build is the one measured and shipped.
include_guard(GLOBAL)
include(CheckCSourceCompiles)

option(WINDROW_SMALL "Optimized builds: -Os off the per-event path, LTO, no unwind tables, sections gc" ON)

# The per-event path (ingest callback -> decode -> queue -> filter -> window,
# the crash journal) and what it calls per event: kept at the build type's level.
set(WR_HOT_SOURCES
    agent/decode.c agent/filter.c agent/window.c agent/window_table.c agent/agg.c
    agent/sketch.c agent/journal.c agent/crc32.c agent/backpressure.c
    agent/pipeline_ingest.c config/topic.c config/key_template.c
    platform/plat_queue.c platform/plat_time.c platform/plat_clock.c platform/plat_mem.c)

set(WR_SMALL_ACTIVE FALSE)
if(WINDROW_SMALL AND CMAKE_C_COMPILER_ID STREQUAL "GNU" AND NOT WINDROW_SANITIZE
   AND NOT WINDROW_COVERAGE AND NOT WINDROW_FUZZ
   AND CMAKE_BUILD_TYPE MATCHES "^(Release|RelWithDebInfo|MinSizeRel)$")
    set(WR_SMALL_ACTIVE TRUE)
endif()

set(WR_SMALL_COMPILE -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables
    -fno-unwind-tables -fno-plt)
set(WR_SMALL_LINK -Wl,--gc-sections -Wl,-z,now)
if(WR_SMALL_ACTIVE)
    # A linker without DT_RELR for the target only warns ("ignored").
    set(CMAKE_REQUIRED_LINK_OPTIONS -Wl,-z,pack-relative-relocs)
    check_c_source_compiles("int main(void) { return 0; }" WR_HAVE_PACK_RELATIVE_RELOCS
        FAIL_REGEX "pack-relative-relocs ignored")
    unset(CMAKE_REQUIRED_LINK_OPTIONS)
    if(WR_HAVE_PACK_RELATIVE_RELOCS)
        list(APPEND WR_SMALL_LINK -Wl,-z,pack-relative-relocs)
    endif()
    set(CMAKE_REQUIRED_FLAGS "-flto=auto -ffat-lto-objects")
    check_c_source_compiles("int main(void) { return 0; }" WR_HAVE_LTO)
    unset(CMAKE_REQUIRED_FLAGS)
    if(WR_HAVE_LTO)
        list(APPEND WR_SMALL_COMPILE -flto=auto -ffat-lto-objects)
    endif()
    message(STATUS "Size: -Os off the per-event path, LTO ${WR_HAVE_LTO}, "
        "DT_RELR ${WR_HAVE_PACK_RELATIVE_RELOCS}")
endif()

# Compile every module for size; call once every module exists.
function(wr_size_modules)
    if(NOT WR_SMALL_ACTIVE)
        return()
    endif()
    set(hot "")
    foreach(f ${WR_HOT_SOURCES})
        if(NOT EXISTS ${PROJECT_SOURCE_DIR}/${f})
            message(FATAL_ERROR "cmake/Size.cmake: WR_HOT_SOURCES names ${f}, which does not exist")
        endif()
        list(APPEND hot ${PROJECT_SOURCE_DIR}/${f})
    endforeach()
    get_property(modules GLOBAL PROPERTY WR_MODULES)
    foreach(m ${modules})
        target_compile_options(${m} PRIVATE ${WR_SMALL_COMPILE})
        get_property(srcs TARGET ${m} PROPERTY WR_MODULE_SOURCES)
        foreach(s ${srcs})
            if(NOT s IN_LIST hot)
                # After the build type's -O2 (or -O3) on the command line, so it wins.
                set_property(SOURCE ${s} TARGET_DIRECTORY ${m} APPEND PROPERTY COMPILE_OPTIONS -Os)
            endif()
        endforeach()
    endforeach()
endfunction()

# Link a binary made of the modules the way the shipped windrow is linked
# (whole-program LTO, sections gc). COMPILE: its own sources are compiled
# like the modules' cold ones too (windrow's main.c; not a benchmark's loop).
function(wr_size_link target)
    cmake_parse_arguments(L "COMPILE" "" "" ${ARGN})
    if(NOT WR_SMALL_ACTIVE)
        return()
    endif()
    if(L_COMPILE)
        target_compile_options(${target} PRIVATE -Os ${WR_SMALL_COMPILE})
    endif()
    # At a link-time optimization, code generation options come from the link line.
    target_link_options(${target} PRIVATE -Os ${WR_SMALL_COMPILE} ${WR_SMALL_LINK})
    if(WR_HAVE_LTO)
        # GCC lets a -fno-lto anywhere on the line win: drop wr_size_tests()'s.
        get_target_property(opts ${target} LINK_OPTIONS)
        if(opts)
            list(REMOVE_ITEM opts -fno-lto)
            set_property(TARGET ${target} PROPERTY LINK_OPTIONS ${opts})
        endif()
        target_link_options(${target} PRIVATE -flto=auto)
    endif()
endfunction()

# Tests and tools built after this call (in the calling directory and below)
# link the modules' ordinary code from the fat objects: without -fno-lto the
# linker plugin would redo link-time optimization for every test executable.
# Binaries passed to wr_size_link() afterwards still get LTO (it removes the flag).
function(wr_size_tests)
    if(WR_SMALL_ACTIVE AND WR_HAVE_LTO)
        add_link_options(-fno-lto)
    endif()
endfunction()

