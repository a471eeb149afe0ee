// The poller interface: the loop asks which fds are ready; backends implement it.
#pragma once

#include <cstdint>
#include <memory>

namespace asyncio::detail {

struct poll_event {
    int fd;
    bool readable;  // also set on hang-up and error, so the reader sees EOF or the error
    bool writable;
};

class poller {
public:
    virtual ~poller() = default;
    /// Sets the interest for `fd`; both false removes it.
    virtual void set_interest(int fd, bool read, bool write) = 0;
    /// Waits up to `timeout_ns` (-1: no limit, 0: just look) and fills `out`; returns the count.
    virtual int wait(std::int64_t timeout_ns, poll_event* out, int max) = 0;
};

std::unique_ptr<poller> make_epoll_poller();

}  // namespace asyncio::detail
