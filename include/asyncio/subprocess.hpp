// asyncio::create_subprocess_exec / create_subprocess_shell and asyncio::process: child processes
// with pipes, watched by the loop. Python: asyncio.create_subprocess_exec / _shell and
// asyncio.subprocess.Process.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coro.hpp"

namespace asyncio {

/// What a child's stdin, stdout or stderr is connected to. Python: subprocess.PIPE, DEVNULL,
/// None (inherit) and STDOUT (only for stderr). (`stdin`/`stdout` are macros in some C
/// libraries, hence the short names.)
enum class stdio { inherit, pipe, devnull, to_stdout };

struct subprocess_options {
    stdio in = stdio::inherit;
    stdio out = stdio::inherit;
    stdio err = stdio::inherit;  // to_stdout: into whatever stdout is
    std::optional<std::string> cwd;
    std::optional<std::vector<std::string>> env;  // "NAME=value" entries; unset: this process's
};

/// What communicate() collected (empty for a stream that is not a pipe).
struct communicate_result {
    std::string out;
    std::string err;
};

namespace detail {
struct process_state;
}

/// A running (or finished) child process. Move-only. Loop thread only.
///
/// No zombies: a process destroyed while its child still runs hands the exit watch to the loop,
/// which reaps the child when it ends (Python's child watcher does the same). Its pipes are
/// closed at once.
class process {
  public:
    process() noexcept;
    process(process&&) noexcept;
    process& operator=(process&&) noexcept;
    ~process();

    pid_t pid() const noexcept;
    /// The exit status once the loop has seen the child end, else nullopt; `-signo` when a signal
    /// killed it. Python: Process.returncode.
    std::optional<int> returncode() const noexcept;

    /// Waits for the child to end and returns its returncode. With pipes the child may block on
    /// a full pipe nobody reads (Python's warning applies): use communicate() then.
    /// Cancellation: throws cancelled_error; the child runs on, and is reaped when it ends (a
    /// later wait() returns its status; no zombie if nobody waits). Python: Process.wait().
    coro<int> wait();

    /// Writes `input` to the child's stdin (then closes it), reads stdout and stderr to their
    /// ends at the same time (no deadlock however much the child writes to both), then waits for
    /// the child. Python: Process.communicate(input).
    /// Cancellation: throws cancelled_error; what was read so far is lost, stdin is closed, the
    /// child runs on (reaped when it ends).
    coro<communicate_result> communicate(std::string input = {});

    /// Sends `signo` to the child (nothing once it has been reaped). Python: Process.send_signal.
    void send_signal(int signo);
    void terminate();  // SIGTERM
    void kill();       // SIGKILL

    /// Library use.
    explicit process(std::unique_ptr<detail::process_state> s) noexcept;

  private:
    std::unique_ptr<detail::process_state> s_;
};

/// Starts `program` (looked up in PATH, as execvp does) with `args` (argv[1..]). Throws
/// std::system_error when it cannot be started (ENOENT for an unknown program, EACCES...).
/// Python: asyncio.create_subprocess_exec(program, *args, stdin=, stdout=, stderr=, cwd=, env=).
coro<process> create_subprocess_exec(std::string program, std::vector<std::string> args = {},
                                     subprocess_options opts = {});
/// Runs `cmd` with /bin/sh -c. Python: asyncio.create_subprocess_shell(cmd, ...).
coro<process> create_subprocess_shell(std::string cmd, subprocess_options opts = {});

}  // namespace asyncio
