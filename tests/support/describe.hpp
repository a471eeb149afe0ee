// Test helper: a short, comparable text for an exception_ptr.
#pragma once

#include <asyncio/errors.hpp>
#include <exception>
#include <string>

namespace test_support {

// "null", "cancelled_error: <message>", "std::exception: <what>" or "other".
inline std::string describe(const std::exception_ptr& e) {
    if (!e) return "null";
    try {
        std::rethrow_exception(e);
    } catch (const asyncio::cancelled_error& c) {
        return "cancelled_error: " + c.message();
    } catch (const std::exception& x) {
        return std::string("std::exception: ") + x.what();
    } catch (...) {
        return "other";
    }
}

}  // namespace test_support
