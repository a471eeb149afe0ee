// epoll backend: level-triggered interest for add_reader/add_writer and the loop's eventfd,
// edge-triggered interest (one registration for the fd's life) for what tasks wait on.
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <system_error>
#include <unordered_map>

#include "poller.hpp"

namespace asyncio::detail {
namespace {

class epoll_poller final : public poller {
  public:
    epoll_poller() : fd_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    }
    ~epoll_poller() override { ::close(fd_); }

    void set_level_interest(int fd, bool read, bool write, std::uint64_t token) override {
        std::uint32_t ev = (read ? EPOLLIN : 0u) | (write ? EPOLLOUT : 0u);
        auto it = level_.find(fd);
        if (ev == 0) {
            if (it != level_.end()) {
                ::epoll_ctl(fd_, EPOLL_CTL_DEL, fd, nullptr);  // may fail if fd was closed: fine
                level_.erase(it);
            }
            return;
        }
        epoll_event e{};
        e.events = ev;
        e.data.u64 = token;
        int op = it == level_.end() ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        if (::epoll_ctl(fd_, op, fd, &e) < 0) {
            if (op == EPOLL_CTL_MOD && errno == ENOENT)
                op = EPOLL_CTL_ADD;  // fd closed and reused
            else if (op == EPOLL_CTL_ADD && errno == EEXIST)
                op = EPOLL_CTL_MOD;
            else
                throw std::system_error(errno, std::generic_category(), "epoll_ctl");
            if (::epoll_ctl(fd_, op, fd, &e) < 0)
                throw std::system_error(errno, std::generic_category(), "epoll_ctl");
        }
        level_[fd] = ev;
    }

    void add_edge(int fd, std::uint64_t token) override {
        epoll_event e{};
        e.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        e.data.u64 = token;
        if (::epoll_ctl(fd_, EPOLL_CTL_ADD, fd, &e) == 0) return;
        // EEXIST: an epoll item left by an earlier file with this fd number that was dup'ed
        // before being closed without removing it: take the item over.
        if (errno == EEXIST && ::epoll_ctl(fd_, EPOLL_CTL_MOD, fd, &e) == 0) return;
        throw std::system_error(errno, std::generic_category(), "epoll_ctl(EPOLL_CTL_ADD)");
    }

    void remove_edge(int fd) noexcept override { ::epoll_ctl(fd_, EPOLL_CTL_DEL, fd, nullptr); }

    int wait(std::int64_t timeout_ns, poll_event* out, int max) override {
        epoll_event evs[256];
        if (max > 256) max = 256;
        int n;
        for (;;) {
            n = wait_raw(timeout_ns, evs, max);
            if (n >= 0) break;
            if (errno == EINTR) return 0;  // a signal: the loop looks at its inbox and signals
            throw std::system_error(errno, std::generic_category(), "epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            std::uint32_t e = evs[i].events;
            out[i] = poll_event{};
            out[i].token = evs[i].data.u64;
            out[i].readable = (e & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) != 0;
            out[i].writable = (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;
        }
        return n;
    }

  private:
    int wait_raw(std::int64_t timeout_ns, epoll_event* evs, int max) {
#ifdef SYS_epoll_pwait2
        if (have_pwait2_) {
            timespec ts{};
            timespec* tp = nullptr;
            if (timeout_ns >= 0) {
                ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000);
                ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000);
                tp = &ts;
            }
            long r = ::syscall(SYS_epoll_pwait2, fd_, evs, max, tp, nullptr, 0);
            if (r >= 0 || errno != ENOSYS) return static_cast<int>(r);
            have_pwait2_ = false;
        }
#endif
        int ms =
            timeout_ns < 0 ? -1 : static_cast<int>((timeout_ns + 999999) / 1000000);  // round up: never early
        return ::epoll_wait(fd_, evs, max, ms);
    }

    int fd_;
    bool have_pwait2_ = true;
    std::unordered_map<int, std::uint32_t> level_;  // level interests (add_reader/add_writer)
};

}  // namespace

std::unique_ptr<poller> make_epoll_poller() { return std::make_unique<epoll_poller>(); }

}  // namespace asyncio::detail
