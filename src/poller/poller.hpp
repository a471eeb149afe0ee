// The poller interface: how the loop learns that fds are ready. Backends implement it.
//
// Two kinds of interest, because the library has two users of fds:
// - level-triggered, for add_reader/add_writer (Python's semantics: the callback runs on every
//   iteration while the fd stays readable) and the loop's own eventfd;
// - edge-triggered, once for an fd's life, for what tasks wait on (sockets): the operation tries
//   its syscall first and waits only on EAGAIN, so it only needs to hear about *changes*, and no
//   epoll_ctl is made per wait.
// An fd has one kind of interest or the other, never both (the loop enforces it).
//
// Every interest carries a 64-bit token chosen by the loop; events give it back. The loop puts a
// generation in the tokens of edge interests, so an event for an fd number that was closed and
// reused since (an epoll item can outlive its fd when the file was dup'ed) is recognised and
// dropped instead of touching freed state.
//
// The io_uring seam. io_uring is completion-based: it performs the recv/send/accept/connect
// itself and reports results. It fits this interface first as a readiness source (multishot
// IORING_OP_POLL_ADD per interest, completions turned into poll_events; one io_uring_enter per
// loop iteration doing the submit and the wait), so add_reader and the sock_* operations run on
// it unchanged. The completion path then comes as an extension: a backend that `completes` an
// operation (recv into provided buffers, multishot accept) gets the operation instead of the
// readiness wait, and its completion wakes the task waiting at an io_wait-like leaf whose token
// carries the result. The sock_* operations (src/net/socket.cpp) are the only places that make
// socket syscalls, so that is where they will ask the backend first. Tokens with generations work
// unchanged as io_uring user_data.
#pragma once

#include <cstdint>
#include <memory>

namespace asyncio::detail {

struct poll_event {
    std::uint64_t token;  // the token the interest was registered with
    bool readable;        // also set on hang-up and error, so the reader sees EOF or the error
    bool writable;        // also set on hang-up and error, so the writer sees the error
};

class poller {
  public:
    virtual ~poller() = default;
    /// Level-triggered interest in `fd` (reported on every wait while ready); both false
    /// removes it. Changing the interest of a registered fd keeps its token.
    virtual void set_level_interest(int fd, bool read, bool write, std::uint64_t token) = 0;
    /// Edge-triggered interest in both directions, hang-up and error, for the fd's life: reported
    /// when the fd *becomes* readable or writable. Throws std::system_error (e.g. EPERM: a
    /// regular file, which epoll cannot watch).
    virtual void add_edge(int fd, std::uint64_t token) = 0;
    /// Removes an edge interest (before the fd is closed; a closed fd is already gone: no error).
    virtual void remove_edge(int fd) noexcept = 0;
    /// Waits up to `timeout_ns` (-1: no limit, 0: just look) and fills `out`; returns the count
    /// (0 when a signal interrupted the wait).
    virtual int wait(std::int64_t timeout_ns, poll_event* out, int max) = 0;
};

std::unique_ptr<poller> make_epoll_poller();

}  // namespace asyncio::detail
