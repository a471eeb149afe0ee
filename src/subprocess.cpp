// Child processes: posix_spawnp with pipes; the child's end is watched through a pidfd (Linux
// 5.3+) that the loop's poller reports readable when the child exits, else (older kernels, or
// ASYNCIO_NO_PIDFD=1 for tests) by polling waitpid on a short timer. Each pipe is a stream
// (src/net/stream_transport.hpp in pipe mode): the handles stdin_writer()/stdout_reader()/
// stderr_reader() give and communicate() share it.
#include "asyncio/subprocess.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>

#include "asyncio/detail/io_wait.hpp"
#include "asyncio/event_loop.hpp"
#include "asyncio/gather.hpp"
#include "asyncio/sleep.hpp"
#include "net/stream_transport.hpp"

extern char** environ;

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace asyncio {

namespace {

[[noreturn]] void throw_errno(int err, const std::string& what) {
    throw std::system_error(err, std::generic_category(), what);
}

int open_pidfd(pid_t pid) noexcept {
#ifdef SYS_pidfd_open
    if (const char* off = std::getenv("ASYNCIO_NO_PIDFD"); off && off[0] == '1') return -1;
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
    (void)pid;
    return -1;
#endif
}

int status_to_returncode(int status) noexcept {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    return status;
}

}  // namespace

namespace detail {

// One parent-side fd the loop waits on (a pipe end, or the pidfd). Non-blocking; registered with
// the poller (edge-triggered) for its life.
class watched_fd {
  public:
    watched_fd() noexcept = default;
    watched_fd(const watched_fd&) = delete;
    watched_fd& operator=(const watched_fd&) = delete;
    ~watched_fd() { close(); }

    void open(event_loop& loop, int fd) {
        fd_ = fd;
        st_ = loop.io_acquire(fd);
        loop.io_register(st_);
    }
    bool is_open() const noexcept { return fd_ >= 0; }
    int fd() const noexcept { return fd_; }
    void close() noexcept {
        if (fd_ < 0) return;
        if (st_) {
            if (st_->loop) static_cast<event_loop*>(st_->loop)->io_forget(st_);
            event_loop::io_release(st_);
            st_ = nullptr;
        }
        ::close(fd_);
        fd_ = -1;
    }

    bool may_be_ready(io_direction d) const noexcept {
        return d == io_direction::read ? st_->readable : st_->writable;
    }
    void not_ready(io_direction d) noexcept {
        (d == io_direction::read ? st_->readable : st_->writable) = false;
    }
    io_wait wait(io_direction d) noexcept { return io_wait(st_, d); }

  private:
    int fd_ = -1;
    fd_state* st_ = nullptr;
};

struct process_state {
    event_loop* loop = nullptr;
    pid_t pid = -1;
    watched_fd pidfd;  // readable when the child has exited
    // The pipes (engaged for stdio::pipe): this process's handles of the streams.
    std::optional<stream_writer> in;
    std::optional<stream_reader> out, err;
    std::optional<int> returncode;

    ~process_state() {
        // Each stream closes once its last handle is gone (stdin after its buffered bytes).
        in.reset();
        out.reset();
        err.reset();
        if (!returncode && pid > 0) {
            // The child still runs (or has not been reaped): reap it when it ends, so that no
            // zombie is left, whatever happens to the loop meanwhile.
            // (The pid stays the child's until it is reaped: waiting by pid is safe.)
            pidfd.close();
            pid_t p = pid;
            try {
                std::thread([p] {
                    int status = 0;
                    while (::waitpid(p, &status, 0) < 0 && errno == EINTR) {
                    }
                }).detach();
            } catch (...) {  // no thread: the child stays a zombie until this process ends
            }
        }
    }

    /// Reaps the child if it has ended (never blocks). True once the returncode is known.
    bool try_reap() {
        if (returncode) return true;
        int status = 0;
        pid_t r;
        do {
            r = ::waitpid(pid, &status, WNOHANG);
        } while (r < 0 && errno == EINTR);
        if (r == pid) {
            returncode = status_to_returncode(status);
            pidfd.close();
            return true;
        }
        if (r < 0 && errno == ECHILD) {  // reaped by someone else (a SIGCHLD handler set to ignore)
            returncode = 255;
            pidfd.close();
            return true;
        }
        return false;
    }
};

namespace {

bool is_broken_pipe(const std::system_error& e) noexcept {
    return e.code() == std::errc::broken_pipe || e.code() == std::errc::connection_reset;
}

// Reads `r` to its end, then closes the pipe (Python's communicate closes it too); what the
// reader had buffered comes first. Cancelled: the bytes read stay in the reader's buffer.
coro<std::string> read_to_end(std::optional<stream_reader> r) {
    if (!r) co_return std::string();
    std::string data = co_await r->read(-1);
    stream_access::transport_of(*r)->start_close();  // at EOF with nothing buffered: only frees the fd
    co_return data;
}

// Waits until stdin is closed (its buffered bytes written); a child that closed its end (EPIPE)
// is no error, as in Python's communicate(). Cancelled: the bytes are still written.
coro<void> wait_stdin_closed(std::optional<stream_writer> w) {
    if (!w) co_return;
    std::exception_ptr failure;
    try {
        co_await w->wait_closed();
    } catch (const std::system_error& e) {
        if (!is_broken_pipe(e)) failure = std::current_exception();
    }
    if (failure) std::rethrow_exception(failure);
}

// posix_spawn's file actions and attributes, destroyed on every path.
struct spawn_setup {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    spawn_setup() {
        posix_spawn_file_actions_init(&actions);
        posix_spawnattr_init(&attr);
    }
    ~spawn_setup() {
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
    }
};

struct pipe_pair {
    int fd[2] = {-1, -1};
    ~pipe_pair() {
        for (int f : fd)
            if (f >= 0) ::close(f);
    }
    void make() {
        if (::pipe2(fd, O_CLOEXEC) < 0) throw_errno(errno, "pipe2");
    }
    int take(int i) noexcept { return std::exchange(fd[i], -1); }
};

// Python's create_subprocess_* default limit (streams._DEFAULT_LIMIT).
constexpr std::size_t subprocess_stream_limit = default_stream_limit;

process spawn(const std::string& what, const std::string& program,
              const std::vector<std::string>& argv_strings, const subprocess_options& opts) {
    event_loop& loop = get_running_loop();
    if (opts.in == stdio::to_stdout || opts.out == stdio::to_stdout)
        throw std::invalid_argument(what + ": stdio::to_stdout is only for stderr");
    if (program.empty()) throw std::invalid_argument(what + ": empty program");

    spawn_setup s;
    pipe_pair in, out, err;
    auto check = [&](int rc, const char* call) {
        if (rc != 0) throw_errno(rc, what + ": " + call);
    };
    if (opts.in == stdio::pipe) {
        in.make();
        check(posix_spawn_file_actions_adddup2(&s.actions, in.fd[0], 0), "posix_spawn_file_actions_adddup2");
    } else if (opts.in == stdio::devnull) {
        check(posix_spawn_file_actions_addopen(&s.actions, 0, "/dev/null", O_RDONLY, 0), "addopen");
    }
    if (opts.out == stdio::pipe) {
        out.make();
        check(posix_spawn_file_actions_adddup2(&s.actions, out.fd[1], 1), "posix_spawn_file_actions_adddup2");
    } else if (opts.out == stdio::devnull) {
        check(posix_spawn_file_actions_addopen(&s.actions, 1, "/dev/null", O_WRONLY, 0), "addopen");
    }
    if (opts.err == stdio::pipe) {
        err.make();
        check(posix_spawn_file_actions_adddup2(&s.actions, err.fd[1], 2), "posix_spawn_file_actions_adddup2");
    } else if (opts.err == stdio::devnull) {
        check(posix_spawn_file_actions_addopen(&s.actions, 2, "/dev/null", O_WRONLY, 0), "addopen");
    } else if (opts.err == stdio::to_stdout) {
        check(posix_spawn_file_actions_adddup2(&s.actions, 1, 2), "posix_spawn_file_actions_adddup2");
    }
    if (opts.cwd) check(posix_spawn_file_actions_addchdir_np(&s.actions, opts.cwd->c_str()), "addchdir");

    // The child starts with no blocked signal and every signal at its default (the loop's
    // handlers, SIGPIPE ignored or not, are this process's business).
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    check(posix_spawnattr_setsigmask(&s.attr, &none), "posix_spawnattr_setsigmask");
    check(posix_spawnattr_setsigdefault(&s.attr, &all), "posix_spawnattr_setsigdefault");
    check(posix_spawnattr_setflags(&s.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF), "setflags");

    std::vector<char*> argv;
    argv.reserve(argv_strings.size() + 1);
    for (const std::string& a : argv_strings) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    if (opts.env) {
        envp.reserve(opts.env->size() + 1);
        for (const std::string& e : *opts.env) {
            if (e.find('=') == std::string::npos)
                throw std::invalid_argument(what + ": environment entry '" + e + "' is not NAME=value");
            envp.push_back(const_cast<char*>(e.c_str()));
        }
        envp.push_back(nullptr);
    }

    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, program.c_str(), &s.actions, &s.attr, argv.data(),
                            opts.env ? envp.data() : environ);
    if (rc != 0) throw_errno(rc, what + ": cannot start '" + program + "'");

    auto st = std::make_unique<process_state>();
    st->loop = &loop;
    st->pid = pid;
    // The child's ends close here; ours become non-blocking and watched.
    ::close(in.take(0));
    ::close(out.take(1));
    ::close(err.take(1));
    // (make_pipe_* make them non-blocking; they own the fd even when they throw.)
    if (opts.in == stdio::pipe) st->in.emplace(stream_access::make_pipe_writer(in.take(1), loop));
    if (opts.out == stdio::pipe)
        st->out.emplace(stream_access::make_pipe_reader(out.take(0), loop, subprocess_stream_limit));
    if (opts.err == stdio::pipe)
        st->err.emplace(stream_access::make_pipe_reader(err.take(0), loop, subprocess_stream_limit));
    if (int pfd = open_pidfd(pid); pfd >= 0) st->pidfd.open(loop, pfd);
    return process(std::move(st));
}

}  // namespace
}  // namespace detail

process::process() noexcept = default;
process::process(std::unique_ptr<detail::process_state> s) noexcept : s_(std::move(s)) {}
process::process(process&&) noexcept = default;
process& process::operator=(process&&) noexcept = default;
process::~process() = default;

pid_t process::pid() const noexcept { return s_ ? s_->pid : -1; }
std::optional<int> process::returncode() const noexcept { return s_ ? s_->returncode : std::nullopt; }

coro<int> process::wait() {
    if (!s_) throw std::runtime_error("wait() on an empty process");
    detail::process_state* st = s_.get();
    for (;;) {
        bool ended = st->try_reap();
        if (ended) co_return *st->returncode;
        if (st->pidfd.is_open()) {
            if (!st->pidfd.may_be_ready(detail::io_direction::read)) {
                co_await st->pidfd.wait(detail::io_direction::read);
            } else {
                st->pidfd.not_ready(detail::io_direction::read);
            }
        } else {
            co_await asyncio::sleep(std::chrono::milliseconds(5));  // no pidfd: poll waitpid
        }
    }
}

namespace {
[[noreturn]] void not_a_pipe(const char* fn, const char* end, const char* option) {
    throw std::runtime_error(std::string(fn) + "(): the child's " + end +
                             " is not a pipe (subprocess_options::" + option + " is not stdio::pipe)");
}
}  // namespace

stream_writer process::stdin_writer() {
    if (!s_) throw std::runtime_error("stdin_writer() on an empty process");
    if (!s_->in) not_a_pipe("stdin_writer", "stdin", "in");
    return *s_->in;
}
stream_reader process::stdout_reader() {
    if (!s_) throw std::runtime_error("stdout_reader() on an empty process");
    if (!s_->out) not_a_pipe("stdout_reader", "stdout", "out");
    return *s_->out;
}
stream_reader process::stderr_reader() {
    if (!s_) throw std::runtime_error("stderr_reader() on an empty process");
    if (!s_->err) not_a_pipe("stderr_reader", "stderr", "err");
    return *s_->err;
}

coro<communicate_result> process::communicate(std::string input) {
    if (!s_) throw std::runtime_error("communicate() on an empty process");
    detail::process_state* st = s_.get();
    if (!input.empty() && !st->in)
        throw std::invalid_argument("communicate: input given, but the child's stdin is not a pipe");
    // The input goes after what the writer has buffered, and stdin is closed, before the first
    // suspension: a cancelled communicate() has closed stdin too.
    if (st->in) {
        // A pipe an earlier write found broken (error set) takes no more input, silently as in
        // Python. After the caller's own write_eof()/close(), write() throws std::runtime_error.
        if (!input.empty() && !detail::stream_access::transport_of(*st->in)->error) st->in->write(input);
        st->in->close();
    }
    std::tuple<std::monostate, std::string, std::string> r = co_await gather(
        detail::wait_stdin_closed(st->in), detail::read_to_end(st->out), detail::read_to_end(st->err));
    co_await wait();
    communicate_result out;
    out.out = std::move(std::get<1>(r));
    out.err = std::move(std::get<2>(r));
    co_return out;
}

void process::send_signal(int signo) {
    if (!s_ || s_->returncode) return;  // reaped: the pid may belong to someone else now
    if (s_->pidfd.is_open()) {
#ifdef SYS_pidfd_send_signal
        if (::syscall(SYS_pidfd_send_signal, s_->pidfd.fd(), signo, nullptr, 0) == 0) return;
        if (errno != ENOSYS) throw_errno(errno, "send_signal");
#endif
    }
    if (::kill(s_->pid, signo) < 0 && errno != ESRCH) throw_errno(errno, "send_signal");
}
void process::terminate() { send_signal(SIGTERM); }
void process::kill() { send_signal(SIGKILL); }

coro<process> create_subprocess_exec(std::string program, std::vector<std::string> args,
                                     subprocess_options opts) {
    std::vector<std::string> argv;
    argv.reserve(args.size() + 1);
    argv.push_back(program);
    for (std::string& a : args) argv.push_back(std::move(a));
    co_return detail::spawn("create_subprocess_exec", program, argv, opts);
}

coro<process> create_subprocess_shell(std::string cmd, subprocess_options opts) {
    std::vector<std::string> argv;
    argv.push_back("/bin/sh");
    argv.push_back("-c");
    argv.push_back(std::move(cmd));
    co_return detail::spawn("create_subprocess_shell", "/bin/sh", argv, opts);
}

}  // namespace asyncio
