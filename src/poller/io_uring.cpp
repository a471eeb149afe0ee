// io_uring backend, readiness-based: the poller interface of poller.hpp on IORING_OP_POLL_ADD.
//
// - Edge interests (what tasks wait on): one multishot poll (IORING_POLL_ADD_MULTI, Linux 5.13)
//   for the fd's life, for POLLIN|POLLOUT|POLLRDHUP. A multishot poll posts a completion for each
//   wake-up of the file's wait queue (data arrived, buffer space freed, hang-up), carrying the
//   readiness at that moment, and wake-ups that come before the completion is posted merge into
//   one: epoll's EPOLLET semantics, which is what the loop expects (poller.hpp). A consumer that
//   drained the socket hears nothing more until new data comes; one that did not drain is still
//   woken by the next arrival, and its fd_state remembers that it has not seen EAGAIN yet. (The
//   level-triggered flavour, IORING_POLL_ADD_LEVEL, would post a completion on every look while
//   the socket stays readable: the storm we do not want.)
// - Level interests (add_reader/add_writer, the loop's eventfd): a one-shot poll, re-armed as
//   soon as its completion is seen. The re-arm goes out with the next wait, where it completes at
//   once if the fd is still ready: reported on every wait while ready, as with epoll's default.
// - One io_uring_enter per loop iteration: the polls queued during the iteration (new sockets,
//   re-arms) are submitted by the wait itself (io_uring_submit_and_wait_timeout, the timeout
//   passed with IORING_ENTER_EXT_ARG). The busy loop's look every 61 iterations (timeout 0) reads
//   the completion ring in memory and makes no syscall at all when nothing is queued (with
//   IORING_SETUP_COOP_TASKRUN the kernel asks for an enter, IORING_SQ_TASKRUN, when completions
//   wait to be run; only then is there one).
// - A poll holds a reference to its file, so removals are submitted at once: a socket closed
//   after remove_edge really closes (FIN sent, port free) before close() returns, as with epoll.
//   That is one syscall per socket's life, like epoll's EPOLL_CTL_DEL.
// - Kernels without multishot poll (before 5.13) count as "too old": `automatic` uses epoll there.
//   One-shot polls cannot stand in for an edge interest: re-armed after each completion they
//   report the current level, and a socket is nearly always writable, so the POLLOUT half would
//   complete on every wait (a busy loop); re-arming only when the consumer saw EAGAIN would need
//   the loop to tell the backend about every EAGAIN, which epoll does not need.
// - Requests are told apart by user_data = (sequence << 32) | fd: each arm of an interest gets a
//   new sequence, so completions of a removed or replaced poll (the fd closed and its number
//   reused, an interest changed) are recognised and dropped. The loop's own tokens (with their
//   generations) travel in the per-fd record, not in the ring.
//
// Completion-based operations (DESIGN.md "Keeping it fast"): the kernel does the recv/accept
// itself, beside the readiness path (poller.hpp, "completion-based operations"):
// - start_recv(fd): IORING_OP_RECV with IORING_RECV_MULTISHOT into a ring of provided buffers
//   (one per loop, 128 x 16 KiB, registered on first use); start_accept(fd): multishot accept.
//   Each result is a poll_event with op set (bytes and buffer id, or the new fd); user_data
//   carries the kind of request (bits 30-31 of the low word) with the fd and a sequence, so
//   results of a removed fd are recognised, their buffers given back and their fds closed.
// - While one runs, the fd's edge poll drops POLLIN (each arrival would be reported twice); it
//   gets it back when the request ends.
// - The loop queues the results on the fd's state (detail::fd_state::rx) and stops the request
//   (ASYNC_CANCEL) when an fd holds more than a few: a connection nobody reads does not take all
//   the buffers. When the buffers run out (-ENOBUFS), or the request was stopped, the reader
//   uses recv()/accept4() by readiness until its next EAGAIN, which starts the request again;
//   start_recv refuses while fewer than recv_reserve buffers are free.
// - remove_edge cancels them with the poll (ASYNC_CANCEL: a multishot request holds its file).
// - Sends stay "try the syscall first" (they rarely block).
// - The kernel must have buffer rings and multishot receive (Linux 6.0): probed once
//   (probe_completions), else only the readiness path is used.
#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include "poller.hpp"

namespace asyncio::detail {
namespace {

constexpr unsigned sq_entries = 256;
// Multishot polls may post several completions each between two waits (one per wake-up that
// came after the previous completion was posted), so the completion ring is larger.
constexpr unsigned cq_entries = 4096;
// The user_data of requests whose completions mean nothing to us (poll removals).
constexpr std::uint64_t ignored = ~std::uint64_t{0};
constexpr unsigned edge_events = POLLIN | POLLOUT | POLLRDHUP;
// The edge poll while a multishot receive or accept runs on the fd: arrivals are reported by it,
// and a POLLIN poll would report each one a second time. Hang-up and errors still come (poll
// always reports them).
constexpr unsigned edge_events_completing = POLLOUT;

// Provided buffers for the multishot receives: one ring per loop, made on the first start_recv.
// 128 x 16 KiB = 2 MiB. A connection holds at most a few of them at a time (the loop stops its
// receive above a cap, detail::fd_state::rx_cap), and start_recv refuses (the connection reads by
// readiness meanwhile) while fewer than recv_reserve are free, so that idle readers cannot take
// them all.
constexpr unsigned recv_buffers = 128;  // a power of two (the ring's size)
constexpr unsigned recv_buffer_size = 16 * 1024;
constexpr unsigned recv_reserve = recv_buffers / 8;
constexpr int buffer_group = 0;

// What a request is, in its user_data's low word (with the fd: fds are below 2^30).
enum : std::uint32_t { op_poll = 0, op_recv = 1, op_accept = 2 };

std::string errno_text(const char* call, int err) {
    std::string s = std::string(call) + ": " + std::strerror(err);
    if (err == ENOSYS) s += "; the kernel has no io_uring";
    if (err == EPERM) s += "; a seccomp filter (as in containers) or kernel.io_uring_disabled forbids it";
    return s;
}

struct ring_guard {
    io_uring* ring;
    ~ring_guard() {
        if (ring) io_uring_queue_exit(ring);
    }
};

// Whether this kernel gives us what the backend needs; empty when it does, else why not. Asked
// once per process (the answer does not change); each loop still makes its own ring.
std::string probe_kernel() {
    io_uring ring;
    io_uring_params params{};
    int r = io_uring_queue_init_params(4, &ring, &params);
    if (r < 0) return errno_text("io_uring_setup", -r);
    ring_guard guard{&ring};
    if (!(params.features & IORING_FEAT_EXT_ARG))
        return "the kernel is too old: no IORING_FEAT_EXT_ARG (Linux 5.11)";
    // A NOP round trip: setup may be allowed while io_uring_enter is not.
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, 1);
    r = io_uring_submit_and_wait(&ring, 1);
    if (r < 0) return errno_text("io_uring_enter", -r);
    io_uring_cqe* cqe = nullptr;
    r = io_uring_peek_cqe(&ring, &cqe);
    if (r < 0 || !cqe || cqe->user_data != 1 || cqe->res != 0)
        return "io_uring_enter: a NOP did not complete";
    io_uring_cqe_seen(&ring, cqe);
    // Multishot poll: on a readable eventfd it completes at once, with IORING_CQE_F_MORE; a kernel
    // without it rejects the flag (EINVAL).
    int efd = ::eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) return errno_text("eventfd", errno);
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_poll_multishot(sqe, efd, POLLIN);
    io_uring_sqe_set_data64(sqe, 2);
    r = io_uring_submit_and_wait(&ring, 1);
    std::string why;
    if (r < 0) {
        why = errno_text("io_uring_enter", -r);
    } else if (io_uring_peek_cqe(&ring, &cqe) < 0 || !cqe || cqe->user_data != 2) {
        why = "io_uring: a poll did not complete";
    } else if (cqe->res < 0 || !(cqe->flags & IORING_CQE_F_MORE)) {
        why = cqe->res == -EINVAL
                  ? "the kernel is too old: no multishot poll (Linux 5.13)"
                  : "io_uring: multishot poll failed: " + std::string(std::strerror(-cqe->res));
    }
    ::close(efd);  // the ring's exit (guard) cancels the poll and drops the file
    return why;
}

// Whether this kernel has what the completion-based operations need: provided-buffer rings
// (Linux 5.19) and multishot receive (6.0; multishot accept, 5.19, comes with it). Tried for real
// on a socket pair with one byte waiting. ASYNCIO_IO_URING_READINESS_ONLY=1 says no (tests, and
// comparing the two paths on one build).
bool probe_completions() {
    if (const char* v = std::getenv("ASYNCIO_IO_URING_READINESS_ONLY"); v && std::strcmp(v, "1") == 0)
        return false;
    io_uring ring;
    if (io_uring_queue_init(4, &ring, 0) < 0) return false;
    ring_guard guard{&ring};
    long page = ::sysconf(_SC_PAGESIZE);
    void* mem = ::mmap(nullptr, static_cast<std::size_t>(page), PROT_READ | PROT_WRITE,
                       MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) return false;
    int sv[2] = {-1, -1};
    bool ok = false;
    char byte = 'x', store[16];
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(mem);
    reg.ring_entries = 1;
    reg.bgid = 0;
    if (io_uring_register_buf_ring(&ring, &reg, 0) == 0 &&
        ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0 &&
        ::write(sv[1], &byte, 1) == 1) {
        auto* br = static_cast<io_uring_buf_ring*>(mem);
        io_uring_buf_ring_init(br);
        io_uring_buf_ring_add(br, store, sizeof store, 0, io_uring_buf_ring_mask(1), 0);
        io_uring_buf_ring_advance(br, 1);
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_recv_multishot(sqe, sv[0], nullptr, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = 0;
        io_uring_cqe* cqe = nullptr;
        if (io_uring_submit_and_wait(&ring, 1) >= 0 && io_uring_peek_cqe(&ring, &cqe) == 0 && cqe)
            ok = cqe->res == 1 && (cqe->flags & IORING_CQE_F_BUFFER) && (cqe->flags & IORING_CQE_F_MORE) &&
                 store[0] == 'x';
    }
    if (sv[0] >= 0) {
        ::close(sv[0]);
        ::close(sv[1]);
    }
    io_uring_queue_exit(&ring);  // before the ring's memory goes
    guard.ring = nullptr;
    ::munmap(mem, static_cast<std::size_t>(page));
    return ok;
}

class io_uring_poller final : public poller {
  public:
    io_uring_poller() {
        static const std::string unusable = probe_kernel();  // thread-safe, once per process
        if (!unusable.empty()) throw io_uring_unavailable(unusable);
        io_uring_params params{};
        // COOP_TASKRUN: completions are run when we enter the kernel anyway, not by interrupting
        // the thread; TASKRUN_FLAG tells us (IORING_SQ_TASKRUN) when an enter is needed for them.
        // SUBMIT_ALL: one bad request (say a poll on a closed fd) does not hold back the others.
        params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                       IORING_SETUP_TASKRUN_FLAG;
        params.cq_entries = cq_entries;
        int r = io_uring_queue_init_params(sq_entries, &ring_, &params);
        if (r == -EINVAL) {  // before Linux 5.19: without the newer flags
            params = {};
            params.flags = IORING_SETUP_CQSIZE;
            params.cq_entries = cq_entries;
            r = io_uring_queue_init_params(sq_entries, &ring_, &params);
        }
        if (r < 0) throw io_uring_unavailable(errno_text("io_uring_setup", -r));
        skip_success_ = (params.features & IORING_FEAT_CQE_SKIP) != 0;
        static const bool completions = probe_completions();
        completions_ = completions;
    }
    ~io_uring_poller() override {
        // The ring's own teardown cancels its polls later, on a kernel worker, and their files
        // (sockets that outlive the loop) would stay open until then: cancel them now.
        for (std::size_t fd = 0; fd < interests_.size(); ++fd)
            disarm_all(static_cast<int>(fd), interests_[fd]);
        io_uring_submit(&ring_);
        io_uring_queue_exit(&ring_);
        if (buffer_ring_) ::munmap(buffer_ring_, buffer_ring_bytes());
        if (buffer_mem_) ::munmap(buffer_mem_, std::size_t{recv_buffers} * recv_buffer_size);
    }

    void set_level_interest(int fd, bool read, bool write, std::uint64_t token) override {
        unsigned events = (read ? POLLIN : 0u) | (write ? POLLOUT : 0u);
        interest* cur = find(fd);
        if (events == 0) {
            if (cur && cur->events) {
                disarm(fd, *cur);
                *cur = {};
                submit_removal();
            }
            return;
        }
        if (!cur || cur->events == 0) check_pollable(fd);
        interest& rec = slot(fd);
        rec.token = token;
        if (rec.events == events && !rec.edge && rec.armed) return;
        disarm(fd, rec);
        rec.events = events;
        rec.edge = false;
        arm(fd, rec);
    }

    void add_edge(int fd, std::uint64_t token) override {
        interest& rec = slot(fd);
        disarm_all(fd, rec);  // one left by an earlier file with this number (closed without removal)
        rec = {};
        rec.token = token;
        rec.events = edge_events;
        rec.edge = true;
        arm(fd, rec);
    }

    void remove_edge(int fd) noexcept override {
        interest* rec = find(fd);
        if (!rec || !rec->events) return;
        disarm_all(fd, *rec);
        *rec = {};
        submit_removal();
    }

    bool has_completions() const noexcept override { return completions_; }

    bool start_recv(int fd) noexcept override {
        interest* rec = find(fd);
        if (!completions_ || !rec || !rec->edge) return false;
        if (rec->recv_seq) return true;
        if (!buffer_ring_ && !setup_buffers()) return false;
        if (recv_buffers - buffers_out_ < recv_reserve) return false;
        io_uring_sqe* sqe = get_sqe();
        if (!sqe) return false;
        rec->recv_seq = new_seq();
        io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = buffer_group;
        io_uring_sqe_set_data64(sqe, user_data(fd, rec->recv_seq, op_recv));
        set_edge_events(fd, *rec);
        return true;
    }

    bool start_accept(int fd) noexcept override {
        interest* rec = find(fd);
        if (!completions_ || !rec || !rec->edge) return false;
        if (rec->accept_seq) return true;
        io_uring_sqe* sqe = get_sqe();
        if (!sqe) return false;
        rec->accept_seq = new_seq();
        io_uring_prep_multishot_accept(sqe, fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        io_uring_sqe_set_data64(sqe, user_data(fd, rec->accept_seq, op_accept));
        set_edge_events(fd, *rec);
        return true;
    }

    void stop_recv(int fd) noexcept override {
        if (interest* rec = find(fd); rec && rec->recv_seq) cancel(user_data(fd, rec->recv_seq, op_recv));
    }
    void stop_accept(int fd) noexcept override {
        if (interest* rec = find(fd); rec && rec->accept_seq)
            cancel(user_data(fd, rec->accept_seq, op_accept));
    }

    const char* buffer_data(std::uint16_t buffer) const noexcept override {
        return buffer_mem_ + std::size_t{buffer} * recv_buffer_size;
    }
    void recycle(std::uint16_t buffer) noexcept override {
        --buffers_out_;
        give_back(buffer);
    }

    int wait(std::int64_t timeout_ns, poll_event* out, int max) override {
        retry_arms();
        if (timeout_ns == 0 || io_uring_cq_ready(&ring_) != 0) {
            // Just look (or completions are there already): submit what is queued, without
            // waiting; enter for nothing else unless the kernel has completions to run.
            if (io_uring_sq_ready(&ring_) != 0)
                submit(io_uring_submit(&ring_));
            else if (IO_URING_READ_ONCE(*ring_.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW))
                submit(io_uring_get_events(&ring_));
        } else {
            // "No limit" is an hour: with a timeout, liburing makes exactly one io_uring_enter and
            // returns when a signal interrupts it, as the loop expects (without one, it enters
            // again if the interrupted enter had submitted something; under ThreadSanitizer,
            // which runs handlers late, the handler's eventfd write then never came).
            if (timeout_ns < 0) timeout_ns = std::int64_t{3600} * 1000000000;
            __kernel_timespec ts{};
            ts.tv_sec = timeout_ns / 1000000000;
            ts.tv_nsec = timeout_ns % 1000000000;
            io_uring_cqe* cqe = nullptr;
            // One io_uring_enter: submits the iteration's requests and waits for a completion.
            int r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
            if (r < 0 && r != -ETIME) submit(r);
        }
        return harvest(out, max);
    }

  private:
    struct interest {
        std::uint64_t token = 0;       // the loop's
        std::uint32_t seq = 0;         // of the poll armed for it (user_data's high half); 0: none
        unsigned events = 0;           // POLL* wanted; 0: no interest
        bool edge = false;             // multishot, for the fd's life; else one-shot, re-armed
        bool armed = false;            // a poll request is queued or in the kernel
        bool saw_more = false;         // edge: the current poll has posted a completion and goes on
        unsigned char short_ends = 0;  // edge: polls in a row that ended at their first completion
        std::uint32_t recv_seq = 0;    // of the multishot receive, until its last completion; 0: none
        std::uint32_t accept_seq = 0;  // of the multishot accept, the same
    };

    static std::uint64_t user_data(int fd, std::uint32_t seq, std::uint32_t op = op_poll) noexcept {
        return (std::uint64_t{seq} << 32) | static_cast<std::uint32_t>(fd) | (op << 30);
    }

    std::uint32_t new_seq() noexcept {
        if (++next_seq_ == 0 || next_seq_ == ~std::uint32_t{0}) next_seq_ = 1;  // 0: none; ~0: `ignored`
        return next_seq_;
    }

    // An ASYNC_CANCEL of the request `ud` (queued; its own completion is dropped).
    void cancel(std::uint64_t ud) noexcept {
        if (io_uring_sqe* sqe = get_sqe()) {
            io_uring_prep_cancel64(sqe, ud, 0);
            io_uring_sqe_set_data64(sqe, ignored);
            if (skip_success_) sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        }  // else: the request stays until the ring closes; its completions are dropped as stale
    }

    // Cancels everything armed for `fd`: its poll and its receive and accept, if any.
    void disarm_all(int fd, interest& rec) noexcept {
        disarm(fd, rec);
        if (rec.recv_seq) cancel(user_data(fd, rec.recv_seq, op_recv));
        if (rec.accept_seq) cancel(user_data(fd, rec.accept_seq, op_accept));
        rec.recv_seq = rec.accept_seq = 0;
    }

    // The edge poll watches POLLIN only while no receive or accept runs on the fd (re-armed when
    // that changes: a cancel and a poll, in the next submission).
    void set_edge_events(int fd, interest& rec) noexcept {
        unsigned want = rec.recv_seq || rec.accept_seq ? edge_events_completing : edge_events;
        if (!rec.edge || rec.events == want) return;
        bool was_armed = rec.armed;
        disarm(fd, rec);
        rec.events = want;
        if (was_armed) arm(fd, rec);
    }

    std::size_t buffer_ring_bytes() const noexcept {
        std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        std::size_t n = std::size_t{recv_buffers} * sizeof(io_uring_buf);
        return (n + page - 1) / page * page;
    }

    // Maps the buffers and registers their ring (group buffer_group). False if that fails: the
    // receives then go by readiness.
    bool setup_buffers() noexcept {
        if (buffers_failed_) return false;
        void* ringmem =
            ::mmap(nullptr, buffer_ring_bytes(), PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        void* mem = ::mmap(nullptr, std::size_t{recv_buffers} * recv_buffer_size, PROT_READ | PROT_WRITE,
                           MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        io_uring_buf_reg reg{};
        reg.ring_addr = reinterpret_cast<std::uint64_t>(ringmem);
        reg.ring_entries = recv_buffers;
        reg.bgid = buffer_group;
        if (ringmem == MAP_FAILED || mem == MAP_FAILED || io_uring_register_buf_ring(&ring_, &reg, 0) != 0) {
            if (ringmem != MAP_FAILED) ::munmap(ringmem, buffer_ring_bytes());
            if (mem != MAP_FAILED) ::munmap(mem, std::size_t{recv_buffers} * recv_buffer_size);
            buffers_failed_ = true;
            return false;
        }
        buffer_ring_ = static_cast<io_uring_buf_ring*>(ringmem);
        buffer_mem_ = static_cast<char*>(mem);
        io_uring_buf_ring_init(buffer_ring_);
        for (unsigned i = 0; i < recv_buffers; ++i)
            io_uring_buf_ring_add(buffer_ring_, buffer_mem_ + std::size_t{i} * recv_buffer_size,
                                  recv_buffer_size, static_cast<unsigned short>(i),
                                  io_uring_buf_ring_mask(recv_buffers), static_cast<int>(i));
        io_uring_buf_ring_advance(buffer_ring_, static_cast<int>(recv_buffers));
        return true;
    }

    void give_back(std::uint16_t buffer) noexcept {
        io_uring_buf_ring_add(buffer_ring_, buffer_mem_ + std::size_t{buffer} * recv_buffer_size,
                              recv_buffer_size, buffer, io_uring_buf_ring_mask(recv_buffers), 0);
        io_uring_buf_ring_advance(buffer_ring_, 1);
    }

    interest* find(int fd) noexcept {
        auto i = static_cast<std::size_t>(fd);
        return fd >= 0 && i < interests_.size() ? &interests_[i] : nullptr;
    }
    interest& slot(int fd) {
        auto i = static_cast<std::size_t>(fd);
        if (i >= interests_.size()) interests_.resize(std::max<std::size_t>(i + 1, 64) * 2);
        return interests_[i];
    }

    // A free submission entry: when all are queued (a burst of new interests in one iteration),
    // they go out now. Null only if even that fails.
    io_uring_sqe* get_sqe() noexcept {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (sqe) return sqe;
        io_uring_submit(&ring_);
        return io_uring_get_sqe(&ring_);
    }

    // Queues a poll for `rec` (submitted with the next wait).
    void arm(int fd, interest& rec) noexcept {
        io_uring_sqe* sqe = get_sqe();
        if (!sqe) {
            retry_.push_back(fd);  // the next wait tries again
            return;
        }
        rec.seq = new_seq();
        if (rec.edge)
            io_uring_prep_poll_multishot(sqe, fd, rec.events);
        else
            io_uring_prep_poll_add(sqe, fd, rec.events);
        io_uring_sqe_set_data64(sqe, user_data(fd, rec.seq));
        rec.armed = true;
        rec.saw_more = false;
    }

    // Cancels the poll of `rec` (queued: submitted with the next batch). Its completions, if any
    // come, no longer match the record's sequence and are dropped.
    // ASYNC_CANCEL, not POLL_REMOVE: POLL_REMOVE fails (-EALREADY) while a wake-up of the poll
    // is pending, and the poll then lives on, holding its file open (a pipe closed after writing
    // never reached EOF at the reader); ASYNC_CANCEL marks the poll cancelled in every state.
    void disarm(int fd, interest& rec) noexcept {
        if (rec.armed) cancel(user_data(fd, rec.seq));
        rec.armed = false;
        rec.seq = 0;
    }

    void submit_removal() noexcept { io_uring_submit(&ring_); }

    void retry_arms() noexcept {
        if (retry_.empty()) return;
        std::vector<int> fds;
        fds.swap(retry_);
        for (int fd : fds) {
            interest* rec = find(fd);
            if (rec && rec->events && !rec->armed) arm(fd, *rec);
        }
    }

    // Errors of io_uring_enter worth throwing; the rest say "try again on the next wait".
    static void submit(int r) {
        if (r >= 0 || r == -EINTR || r == -EAGAIN || r == -EBUSY || r == -ETIME) return;
        throw std::system_error(-r, std::generic_category(), "io_uring_enter");
    }

    // A level interest must be something poll can watch: as epoll, refuse a closed fd (EBADF)
    // and a regular file or directory (EPERM), which would be "ready" forever.
    static void check_pollable(int fd) {
        struct stat st {};
        if (::fstat(fd, &st) < 0) throw std::system_error(errno, std::generic_category(), "io_uring poll");
        if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
            throw std::system_error(EPERM, std::generic_category(), "io_uring poll");
    }

    // An edge poll ended at its first completion: the file cannot be polled (a regular file: it
    // is always ready, so it is reported once and never re-armed), or the completion ring was
    // full (the kernel ends a multishot request then: re-arm it).
    bool cannot_poll(int fd, interest& rec) noexcept {
        struct stat st {};
        if (::fstat(fd, &st) < 0) return true;
        if (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode)) return false;
        if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode)) return true;
        return ++rec.short_ends >= 3;  // a device: give up after three in a row
    }

    int harvest(poll_event* out, int max) {
        int n = 0;
        unsigned seen = 0;
        unsigned head;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            if (n == max) break;
            ++seen;
            std::uint64_t ud = cqe->user_data;
            if (ud == ignored) continue;
            auto low = static_cast<std::uint32_t>(ud);
            int fd = static_cast<int>(low & 0x3fffffffu);
            std::uint32_t op = low >> 30;
            auto seq = static_cast<std::uint32_t>(ud >> 32);
            interest* rec = find(fd);
            if (op != op_poll) {
                if (completed(fd, rec, op, seq, cqe, out[n])) ++n;
                continue;
            }
            if (!rec || !rec->events || rec->seq != seq) continue;  // stale
            bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
            int res = cqe->res;
            if (!more) rec->armed = false;
            unsigned mask = 0;
            bool rearm = !more;
            if (res > 0) {
                mask = static_cast<unsigned>(res);
            } else if (res < 0 && res != -ECANCELED) {
                // EBADF and the like (the fd was closed before its poll started): wake both sides
                // so that their syscalls report it; nothing to re-arm on. -ECANCELED without our
                // removal (the sequence matched): the kernel dropped the poll; re-arm it.
                mask = POLLERR;
                rearm = false;
            }
            if (rec->edge) {
                if (more) {
                    rec->saw_more = true;
                    rec->short_ends = 0;
                } else if (res > 0 && !rec->saw_more && cannot_poll(fd, *rec)) {
                    rearm = false;
                }
            }
            if (rearm) arm(fd, *rec);
            if (mask) {
                out[n] = poll_event{};
                out[n].token = rec->token;
                out[n].readable = (mask & (POLLIN | POLLHUP | POLLERR | POLLRDHUP)) != 0;
                out[n].writable = (mask & (POLLOUT | POLLHUP | POLLERR)) != 0;
                ++n;
            }
        }
        io_uring_cq_advance(&ring_, seen);
        return n;
    }

    // A completion of a receive or accept: filled into `ev` (true) when it is the fd's current
    // request; a stale one (the fd was removed) gives its buffer back or closes its fd.
    bool completed(int fd, interest* rec, std::uint32_t op, std::uint32_t seq, const io_uring_cqe* cqe,
                   poll_event& ev) noexcept {
        int res = cqe->res;
        bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
        bool has_buffer = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
        auto buffer = static_cast<std::uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        std::uint32_t* cur = !rec || !rec->events ? nullptr
                             : op == op_recv      ? &rec->recv_seq
                                                  : &rec->accept_seq;
        if (!cur || *cur != seq) {
            if (has_buffer) give_back(buffer);
            if (op == op_accept && res >= 0) ::close(res);
            return false;
        }
        if (!more) {
            *cur = 0;
            set_edge_events(fd, *rec);  // POLLIN again, until a receive or accept starts again
        }
        ev = poll_event{};
        ev.token = rec->token;
        ev.op = op == op_recv ? completion::recv : completion::accept;
        ev.more = more;
        ev.result = res;
        if (has_buffer) {
            if (res > 0) {
                ev.buffer = buffer;
                ++buffers_out_;
            } else {
                give_back(buffer);
            }
        }
        return true;
    }

    io_uring ring_{};
    bool skip_success_ = false;
    bool completions_ = false;     // multishot receive and accept work here (probe_completions)
    bool buffers_failed_ = false;  // setup_buffers failed: not tried again
    io_uring_buf_ring* buffer_ring_ = nullptr;
    char* buffer_mem_ = nullptr;
    unsigned buffers_out_ = 0;  // provided buffers reported to the loop and not recycled yet
    std::uint32_t next_seq_ = 0;
    std::vector<interest> interests_;  // by fd number
    std::vector<int> retry_;           // fds whose arm found no submission entry
};

}  // namespace

std::unique_ptr<poller> open_io_uring_poller() { return std::make_unique<io_uring_poller>(); }

}  // namespace asyncio::detail
