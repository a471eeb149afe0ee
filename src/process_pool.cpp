// process_pool_executor: forked workers, one socketpair each. The blocking round trip of a job
// runs on a thread of an internal thread pool (one thread per worker), so the loop never blocks.
#include "asyncio/process_pool.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "asyncio/event_loop.hpp"

namespace asyncio {

namespace {
bool write_all(int fd, const void* data, std::size_t n) {
    auto* p = static_cast<const char*>(data);
    while (n > 0) {
        ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}
bool read_all(int fd, void* data, std::size_t n) {
    auto* p = static_cast<char*>(data);
    while (n > 0) {
        ssize_t r = ::recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

enum : std::uint8_t { reply_ok = 0, reply_error = 1 };

// The worker's whole life: read a job, run it, send the reply; end at EOF.
[[noreturn]] void worker_main(int fd) {
    for (;;) {
        std::uint64_t header[2];
        if (!read_all(fd, header, sizeof header)) ::_exit(0);
        std::string arg(header[1], '\0');
        if (!read_all(fd, arg.data(), arg.size())) ::_exit(0);
        auto fn = reinterpret_cast<process_pool_executor::function>(static_cast<std::uintptr_t>(header[0]));
        std::uint8_t status = reply_ok;
        std::string out;
        try {
            out = fn(arg);
        } catch (const std::exception& e) {
            status = reply_error;
            out = e.what();
        } catch (...) {
            status = reply_error;
            out = "unknown exception in process pool worker";
        }
        std::uint64_t len = out.size();
        if (!write_all(fd, &status, 1) || !write_all(fd, &len, sizeof len) ||
            !write_all(fd, out.data(), out.size()))
            ::_exit(0);
    }
}
}  // namespace

struct process_pool_executor::impl {
    struct worker {
        pid_t pid = -1;
        int fd = -1;
        bool busy = false;
    };
    std::mutex mu;
    std::condition_variable cv;
    std::vector<worker> workers;
    bool shut = false;
    std::unique_ptr<thread_pool_executor> threads;

    void spawn(worker& w) {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            throw std::system_error(errno, std::generic_category(), "socketpair");
        pid_t pid = ::fork();
        if (pid < 0) {
            int err = errno;
            ::close(sv[0]);
            ::close(sv[1]);
            throw std::system_error(err, std::generic_category(), "fork");
        }
        if (pid == 0) {
            ::close(sv[0]);
            for (auto& other : workers)  // so each worker sees EOF when the pool closes its end
                if (other.fd >= 0) ::close(other.fd);
            worker_main(sv[1]);
        }
        ::close(sv[1]);
        w.pid = pid;
        w.fd = sv[0];
    }

    static std::string describe_exit(pid_t pid) {
        int status = 0;
        pid_t r;
        do r = ::waitpid(pid, &status, 0);
        while (r < 0 && errno == EINTR);
        if (r == pid && WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
        if (r == pid && WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
        return "status unknown";
    }

    std::string call(function fn, const std::string& arg) {
        std::size_t i;
        {
            std::unique_lock<std::mutex> lk(mu);
            cv.wait(lk, [&] {
                for (auto& w : workers)
                    if (!w.busy) return true;
                return shut;
            });
            if (shut) throw std::runtime_error("process pool is shut down");
            for (i = 0; workers[i].busy; ++i) {
            }
            workers[i].busy = true;
        }
        worker& w = workers[i];
        std::uint64_t header[2] = {static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(fn)),
                                   arg.size()};
        std::uint8_t status = 0;
        std::uint64_t len = 0;
        std::string out;
        bool ok = write_all(w.fd, header, sizeof header) && write_all(w.fd, arg.data(), arg.size()) &&
                  read_all(w.fd, &status, 1) && read_all(w.fd, &len, sizeof len);
        if (ok) {
            out.resize(len);
            ok = read_all(w.fd, out.data(), out.size());
        }
        if (!ok) {
            // The worker died mid-job: report it, and start a fresh one so the pool goes on.
            ::close(w.fd);
            std::string how = describe_exit(w.pid);
            std::lock_guard<std::mutex> g(mu);
            w.fd = -1;
            w.pid = -1;
            if (!shut) {
                try {
                    spawn(w);
                } catch (...) {
                }
            }
            w.busy = w.fd < 0;  // a worker that could not be replaced stays out of use
            cv.notify_one();
            throw std::runtime_error("process pool worker died (" + how + ")");
        }
        {
            std::lock_guard<std::mutex> g(mu);
            w.busy = false;
        }
        cv.notify_one();
        if (status == reply_error) throw std::runtime_error(out);
        return out;
    }
};

process_pool_executor::process_pool_executor(std::size_t n) : impl_(std::make_unique<impl>()) {
    if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
    impl_->workers.resize(n);
    try {
        for (auto& w : impl_->workers) impl_->spawn(w);  // fork before our threads exist
    } catch (...) {
        shutdown();
        throw;
    }
    impl_->threads = std::make_unique<thread_pool_executor>(n);
}

process_pool_executor::~process_pool_executor() { shutdown(); }

std::size_t process_pool_executor::size() const noexcept { return impl_->workers.size(); }

void process_pool_executor::shutdown() {
    if (impl_->threads) impl_->threads->shutdown(true);
    std::lock_guard<std::mutex> g(impl_->mu);
    if (impl_->shut) return;
    impl_->shut = true;
    impl_->cv.notify_all();
    for (auto& w : impl_->workers) {
        if (w.fd >= 0) ::close(w.fd);  // the worker reads EOF and exits
        w.fd = -1;
    }
    for (auto& w : impl_->workers) {
        if (w.pid > 0) {
            int status;
            while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
            }
        }
        w.pid = -1;
    }
}

coro<std::string> process_pool_executor::run(function fn, std::string arg) {
    if (!fn) throw std::invalid_argument("process_pool_executor::run needs a function");
    {
        std::lock_guard<std::mutex> g(impl_->mu);
        if (impl_->shut) throw std::runtime_error("process pool is shut down");
    }
    impl* p = impl_.get();
    // The job and its future are locals: GCC 12 mishandles a capturing lambda temporary in a
    // co_await expression.
    auto job = [p, fn, arg = std::move(arg)]() { return p->call(fn, arg); };
    future<std::string> result = get_running_loop().run_in_executor(impl_->threads.get(), std::move(job));
    std::string out = co_await result;
    co_return out;
}

}  // namespace asyncio
