// detail::fd_user: one socket operation's hold on the loop's state of its fd, and the helpers
// of "try the syscall first, wait at a detail::io_wait only after EAGAIN". Private to src/net
// (socket.cpp: the loop's sock_* operations; datagram.cpp: datagram_socket).
#pragma once

#include <fcntl.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

#include "asyncio/detail/io_wait.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/net/socket.hpp"

namespace asyncio::detail {

[[noreturn]] inline void throw_errno(int err, const std::string& what) {
    throw std::system_error(err, std::generic_category(), what);
}

inline bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK; }

// One operation's hold on the loop's state for the fd it works on. For a net::socket the state
// exists for the socket's life; for an int fd it is made on the first EAGAIN (and registered with
// the poller for as long as this operation, or another one on the fd, runs).
class fd_user {
  public:
    fd_user(event_loop& loop, net::socket* sock, int fd, const char* what) : loop_(&loop), what_(what) {
        if (running_loop_core() != &loop)
            throw std::runtime_error(std::string(what) + ": awaited outside a task of this event loop");
        if (sock) {
            st_ = loop.io_attach(*sock);
            fd_ = sock->fd();
        } else {
            if (fd < 0)
                throw std::invalid_argument(std::string(what) + ": invalid file descriptor " +
                                            std::to_string(fd));
            fd_ = fd;
            st_ = loop.io_find(fd);
            if (loop.get_debug()) [[unlikely]]
                check_non_blocking();
        }
        if (st_) ++st_->refs;
    }
    fd_user(const fd_user&) = delete;
    fd_user& operator=(const fd_user&) = delete;
    ~fd_user() {
        if (st_) event_loop::io_release(st_);
    }

    int fd() const noexcept { return fd_; }
    /// False when an EAGAIN was seen in direction `d` and no edge since: the syscall would fail.
    bool may_be_ready(io_direction d) const noexcept {
        return !st_ || (d == io_direction::read ? st_->readable : st_->writable);
    }
    /// The syscall said EAGAIN: not ready in direction `d` until the poller reports an edge.
    void not_ready(io_direction d) {
        if (!st_) st_ = loop_->io_acquire(fd_);
        (d == io_direction::read ? st_->readable : st_->writable) = false;
    }
    /// The leaf to park at (after not_ready). Registers the fd with the poller on its first wait.
    io_wait wait(io_direction d) {
        if (!st_) st_ = loop_->io_acquire(fd_);
        loop_->io_register(st_);
        return io_wait(st_, d);
    }
    /// After a wait: the socket was closed meanwhile (by another task): fail, never retry the
    /// syscall on an fd number that may already belong to something else.
    void check_attached() const {
        if (!st_->loop)
            throw std::system_error(EBADF, std::generic_category(),
                                    std::string(what_) + ": the socket was closed while waiting");
    }

  private:
    void check_non_blocking() const {
        int flags = ::fcntl(fd_, F_GETFL);
        if (flags >= 0 && !(flags & O_NONBLOCK))
            throw std::invalid_argument(std::string(what_) + ": file descriptor " + std::to_string(fd_) +
                                        " is blocking; the loop's socket operations need a non-blocking fd "
                                        "(Python: \"the socket must be non-blocking\")");
    }

    event_loop* loop_;
    const char* what_;
    int fd_ = -1;
    fd_state* st_ = nullptr;
};

}  // namespace asyncio::detail
