# Finds liburing (the io_uring backend's library) and defines the imported target asyncio::liburing.
# Used by our CMakeLists.txt and, installed next to it, by asyncioConfig.cmake: a static
# libasyncio needs liburing at the consumer's link too, so the consumer finds it the same way.
# Sets ASYNCIO_LIBURING_FOUND. pkg-config first (liburing.pc), then a plain search.
if(TARGET asyncio::liburing)
    set(ASYNCIO_LIBURING_FOUND TRUE)
    return()
endif()

set(ASYNCIO_LIBURING_FOUND FALSE)
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
    pkg_check_modules(ASYNCIO_PC_LIBURING QUIET liburing)
endif()
find_path(ASYNCIO_LIBURING_INCLUDE_DIR liburing.h HINTS ${ASYNCIO_PC_LIBURING_INCLUDE_DIRS})
find_library(ASYNCIO_LIBURING_LIBRARY NAMES uring HINTS ${ASYNCIO_PC_LIBURING_LIBRARY_DIRS})
mark_as_advanced(ASYNCIO_LIBURING_INCLUDE_DIR ASYNCIO_LIBURING_LIBRARY)

if(ASYNCIO_LIBURING_INCLUDE_DIR AND ASYNCIO_LIBURING_LIBRARY)
    add_library(asyncio::liburing UNKNOWN IMPORTED)
    set_target_properties(asyncio::liburing PROPERTIES
        IMPORTED_LOCATION "${ASYNCIO_LIBURING_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${ASYNCIO_LIBURING_INCLUDE_DIR}")
    set(ASYNCIO_LIBURING_FOUND TRUE)
endif()
