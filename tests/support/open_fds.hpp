// How many file descriptors this process has open: the I/O tests check that an operation (also a
// cancelled or failed one) leaves none behind.
#pragma once

#include <cstddef>
#include <filesystem>

namespace test_support {

inline std::size_t open_fds() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

}  // namespace test_support
