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
// Backends: epoll (epoll.cpp) and io_uring (io_uring.cpp, readiness through multishot
// IORING_OP_POLL_ADD, one io_uring_enter per loop iteration doing the submit and the wait, plus multishot
// receive and accept where the kernel has them; see the note at the top of that file).
// make_poller picks one (select.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "asyncio/event_loop.hpp"  // asyncio::backend

namespace asyncio::detail {

/// What a poll_event reports: readiness (both backends), or the result of a completion-based
/// operation the backend runs itself (io_uring: start_recv, start_accept).
enum class completion : unsigned char { none, recv, accept };

struct poll_event {
    std::uint64_t token = 0;  // the token the interest was registered with
    bool readable = false;    // also set on hang-up and error, so the reader sees EOF or the error
    bool writable = false;    // also set on hang-up and error, so the writer sees the error
    completion op = completion::none;
    bool more = false;         // op: the multishot request goes on (else this is its last event)
    std::uint16_t buffer = 0;  // recv with result > 0: the provided buffer holding the bytes
    std::int32_t result = 0;   // recv: bytes, 0 at EOF, -errno; accept: the new fd, or -errno
};

class poller {
  public:
    virtual ~poller() = default;
    /// Level-triggered interest in `fd` (reported on every wait while ready); both false
    /// removes it. Changing the interest of a registered fd keeps its token.
    virtual void set_level_interest(int fd, bool read, bool write, std::uint64_t token) = 0;
    /// Edge-triggered interest in both directions, hang-up and error, for the fd's life: reported
    /// when the fd *becomes* readable or writable. epoll throws std::system_error (e.g. EPERM: a
    /// regular file, which epoll cannot watch); io_uring reports such a file ready once (its
    /// syscalls never say EAGAIN), and an fd closed before the poll started as ready (the
    /// operation's syscall then reports EBADF).
    virtual void add_edge(int fd, std::uint64_t token) = 0;
    /// Removes an edge interest. Call it before the fd is closed: an io_uring poll holds a
    /// reference to the file, so the removal takes effect at once (the socket really closes when
    /// close() returns). An fd closed without it: no error.
    virtual void remove_edge(int fd) noexcept = 0;
    /// Waits up to `timeout_ns` (-1: no limit, 0: just look) and fills `out`; returns the count
    /// (0 when a signal interrupted the wait).
    virtual int wait(std::int64_t timeout_ns, poll_event* out, int max) = 0;

    // --- completion-based operations (io_uring with multishot recv and provided buffers) ----
    // On an fd with an edge interest, the backend receives (or accepts) by itself and reports
    // each result as an event with op set and the edge's token. A request goes on until its
    // event with more == false: the kernel ended it (EOF, an error, -ENOBUFS when the buffers
    // ran out, a full completion ring) or stop_* cancelled it (-ECANCELED). Results that come
    // before that last event are real (bytes taken from the socket, connections accepted), also
    // after stop_*; after remove_edge nothing more is reported (the backend gives back the
    // buffers and closes the fds of what still comes).
    // The readiness of the edge interest goes on alongside, without POLLIN while a receive runs
    // (each arrival would be reported twice).
    /// Whether start_recv / start_accept can work at all (probed once).
    virtual bool has_completions() const noexcept { return false; }
    /// Starts a multishot receive into the provided buffers; false when it cannot (no support,
    /// too few free buffers: the caller reads by readiness). The fd has an edge interest.
    virtual bool start_recv(int fd) noexcept {
        (void)fd;
        return false;
    }
    /// Starts a multishot accept (new fds non-blocking and close-on-exec); false when it cannot.
    virtual bool start_accept(int fd) noexcept {
        (void)fd;
        return false;
    }
    /// Cancels the receive / accept of `fd` (its last event comes with a later wait).
    virtual void stop_recv(int fd) noexcept { (void)fd; }
    virtual void stop_accept(int fd) noexcept { (void)fd; }
    /// The bytes of a provided buffer reported by a recv event; valid until recycled.
    virtual const char* buffer_data(std::uint16_t buffer) const noexcept {
        (void)buffer;
        return nullptr;
    }
    /// Gives a provided buffer back to the kernel, once its bytes are consumed.
    virtual void recycle(std::uint16_t buffer) noexcept { (void)buffer; }
};

std::unique_ptr<poller> make_epoll_poller();

/// io_uring cannot be used here; what() says why (ENOSYS: no io_uring in the kernel; EPERM:
/// forbidden, by seccomp in a container or kernel.io_uring_disabled; a kernel too old for
/// multishot poll; ASYNCIO_IO_URING_DISABLE=1; a build without liburing).
struct io_uring_unavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The io_uring backend. Throws io_uring_unavailable (also in a build without
/// ASYNCIO_WITH_IO_URING, and when ASYNCIO_IO_URING_DISABLE=1).
std::unique_ptr<poller> make_io_uring_poller();
/// make_io_uring_poller without those checks (io_uring.cpp, only in builds with io_uring).
std::unique_ptr<poller> open_io_uring_poller();

/// The backend for `requested` (automatic: io_uring when it works, else epoll with one line on
/// stderr per process); `chosen` says which one it is. Throws std::runtime_error naming the
/// reason when io_uring is requested explicitly and unavailable.
std::unique_ptr<poller> make_poller(asyncio::backend requested, asyncio::backend& chosen);

}  // namespace asyncio::detail
