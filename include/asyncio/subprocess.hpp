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
#include "net/streams.hpp"

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
/// Each piped end is one stream (stdin a stream_writer's, stdout and stderr a stream_reader's),
/// shared by stdin_writer()/stdout_reader()/stderr_reader() and communicate(). A pipe closes
/// once neither the process nor any handle of its stream is left (stdin after its writer's
/// buffered bytes are sent), or earlier by write_eof()/close() on the writer, or when
/// communicate() reaches the end of stdout/stderr.
///
/// No zombies: a process destroyed while its child still runs hands the exit watch to the loop,
/// which reaps the child when it ends (Python's child watcher does the same).
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

    /// The child's stdin as a stream_writer (Python: Process.stdin), a handle: every call gives
    /// a view of the same stream. write() never raises SIGPIPE (the signal's disposition is left
    /// alone): once the child has closed its stdin (or ended), a write fails with
    /// std::system_error(EPIPE) (Python: BrokenPipeError), thrown once by the next write/drain/
    /// wait_closed; the stream is closed afterwards. write_eof() closes the pipe (the child reads
    /// EOF) once the buffered bytes are written; peername()/sockname() are an empty net::address
    /// (a pipe has none; Python's get_extra_info gives None). Throws std::runtime_error when
    /// stdin is not a pipe (subprocess_options::in is not stdio::pipe; Python's proc.stdin is
    /// None). Does not suspend. Cancellation of the stream's drain()/wait_closed(): nothing is
    /// lost, the buffered bytes are still written (see stream_writer).
    stream_writer stdin_writer();
    /// The child's stdout as a stream_reader (Python: Process.stdout), a handle to the same
    /// stream on every call; its limit (readline's longest line) is 64 KiB, Python's default.
    /// Throws std::runtime_error when stdout is not a pipe (subprocess_options::out is not
    /// stdio::pipe). Does not suspend. Cancellation of a read (readline() while the child says
    /// nothing, say): the read throws cancelled_error and takes nothing; the bytes that came
    /// stay buffered for the next read (or communicate()).
    stream_reader stdout_reader();
    /// The child's stderr, as stdout_reader() (subprocess_options::err must be stdio::pipe).
    stream_reader stderr_reader();

    /// Waits for the child to end and returns its returncode. With pipes the child may block on
    /// a full pipe nobody reads (Python's warning applies): use communicate() then.
    /// Cancellation: throws cancelled_error; the child runs on, and is reaped when it ends (a
    /// later wait() returns its status; no zombie if nobody waits). Python: Process.wait().
    coro<int> wait();

    /// Writes `input` to the child's stdin after what stdin_writer() has buffered, closes stdin,
    /// reads stdout and stderr to their ends at the same time (no deadlock however much the
    /// child writes to both), then waits for the child. The result starts with what the readers
    /// had buffered already. A child that does not read all of its input (it closed stdin or
    /// ended: EPIPE) is no error, as in Python. Throws std::invalid_argument for input when
    /// stdin is not a pipe, and what stdin_writer().write() throws (std::runtime_error after
    /// write_eof() or close() on it). Python: Process.communicate(input).
    /// Cancellation: throws cancelled_error; stdin is closed all the same (the input is still
    /// written in the background), what was read so far stays in the readers' buffers (a later
    /// communicate() or read returns it), and the child runs on (reaped when it ends).
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
