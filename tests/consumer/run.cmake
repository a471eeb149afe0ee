# cmake -P script behind the ctest `consumer_find_package`:
#   1. install the current build into <build>/consumer-prefix,
#   2. configure tests/consumer against it (find_package(asyncio)) with the same compiler and flags,
#   3. build it, 4. run it. Any failing step fails the test.
#
# Inputs (-D): ASYNCIO_BUILD_DIR CONSUMER_SOURCE_DIR CONFIG GENERATOR MAKE_PROGRAM CXX_COMPILER
#              CXX_FLAGS CXX_FLAGS_CONFIG (the build type's flags, e.g. the presets' "-O1 -g")
#              EXE_LINKER_FLAGS
foreach(var ASYNCIO_BUILD_DIR CONSUMER_SOURCE_DIR CXX_COMPILER GENERATOR)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "run.cmake: -D${var}=... is required")
    endif()
endforeach()
if(NOT CONFIG)
    set(CONFIG Release)
endif()

set(prefix "${ASYNCIO_BUILD_DIR}/consumer-prefix")
set(build "${ASYNCIO_BUILD_DIR}/consumer-build")
# Start clean: a stale prefix could hide a missing install rule, a stale cache a changed compiler.
file(REMOVE_RECURSE "${prefix}" "${build}")

function(step what)
    message(STATUS "consumer: ${what}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "consumer: ${what} failed (${rc})")
    endif()
endfunction()

step("install into ${prefix}"
    "${CMAKE_COMMAND}" --install "${ASYNCIO_BUILD_DIR}" --prefix "${prefix}" --config "${CONFIG}")

string(TOUPPER "${CONFIG}" config_upper)
set(extra_args "")
if(DEFINED CXX_FLAGS_CONFIG AND NOT CXX_FLAGS_CONFIG STREQUAL "")
    list(APPEND extra_args "-DCMAKE_CXX_FLAGS_${config_upper}=${CXX_FLAGS_CONFIG}")
endif()
set(make_program_arg "")
if(MAKE_PROGRAM)
    set(make_program_arg "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
step("configure"
    "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${build}" -G "${GENERATOR}" ${make_program_arg}
        "-DCMAKE_PREFIX_PATH=${prefix}"
        "-DCMAKE_BUILD_TYPE=${CONFIG}"
        "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
        "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
        "-DCMAKE_EXE_LINKER_FLAGS=${EXE_LINKER_FLAGS}"
        ${extra_args}
        # Only the prefix above may provide asyncio: not the user package registry.
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)

step("build" "${CMAKE_COMMAND}" --build "${build}" --config "${CONFIG}")

# Single-config generators put the binary at the top, multi-config ones in a per-config folder.
set(exe "${build}/consumer")
if(NOT EXISTS "${exe}")
    set(exe "${build}/${CONFIG}/consumer")
endif()
step("run ${exe}" "${exe}")
message(STATUS "consumer: OK")
