// Which backend a loop gets: loop_options::backend (or ASYNCIO_BACKEND, read by the loop).
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "poller.hpp"

namespace asyncio::detail {

std::unique_ptr<poller> make_io_uring_poller() {
    // For tests of the fallback (documented with asyncio::backend): any value but "" and "0".
    if (const char* d = std::getenv("ASYNCIO_IO_URING_DISABLE"); d && *d && std::string_view(d) != "0")
        throw io_uring_unavailable("disabled by ASYNCIO_IO_URING_DISABLE");
#ifdef ASYNCIO_HAVE_IO_URING
    return open_io_uring_poller();
#else
    throw io_uring_unavailable("this build has no io_uring backend (ASYNCIO_WITH_IO_URING=OFF)");
#endif
}

std::unique_ptr<poller> make_poller(asyncio::backend requested, asyncio::backend& chosen) {
    if (requested != backend::epoll) {
        try {
            std::unique_ptr<poller> p = make_io_uring_poller();
            chosen = backend::io_uring;
            return p;
        } catch (const io_uring_unavailable& e) {
            if (requested == backend::io_uring)
                throw std::runtime_error(std::string("the io_uring backend is unavailable: ") + e.what());
            // automatic: say it once per process, not once per loop.
            static std::atomic<bool> said{false};
            if (!said.exchange(true))
                std::cerr << std::string("asyncio: io_uring unavailable (") + e.what() + "), using epoll\n"
                          << std::flush;
        }
    }
    chosen = backend::epoll;
    return make_epoll_poller();
}

}  // namespace asyncio::detail
