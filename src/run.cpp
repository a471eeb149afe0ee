// asyncio::run: loop set-up, Ctrl-C, and the clean-up of leftover tasks (Python: asyncio.runners).
#include "asyncio/run.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>
#include <iostream>

#include "asyncio/debug.hpp"
#include "asyncio/detail/wait_done.hpp"

namespace asyncio::detail {

namespace {
loop_options to_loop_options(const run_options& o) {
    loop_options lo;
    lo.debug = o.debug;
    lo.backend = o.backend;
    lo.clock = o.clock;
    return lo;
}

// Cancels every pending task and waits until they are done (Python: runners._cancel_all_tasks).
// Tasks that failed with something other than cancellation are reported, not rethrown.
coro<void> cancel_all_and_wait(event_loop& loop) {
    any_task self = current_task();
    for (int pass = 0; pass < 100; ++pass) {
        std::vector<any_task> pending = all_tasks();
        std::erase_if(pending, [&](const any_task& t) { return t == self; });
        if (pending.empty()) co_return;
        for (auto& t : pending) t.cancel();
        for (auto& t : pending) {
            co_await done_awaiter(t.core());
            task_core* c = t.core();
            if (!c->cancelled() && c->exception && c->log_exception) {
                c->log_exception = false;
                loop.call_exception_handler(
                    {"unhandled exception during asyncio.run() shutdown", c->exception, t});
            }
        }
    }
}

bool on_main_thread() { return ::getpid() == static_cast<pid_t>(::syscall(SYS_gettid)); }
}  // namespace

void run_main(const run_options& opts, unique_function<any_task(event_loop&)> start) {
    if (running_loop_core())
        throw std::runtime_error("asyncio::run() cannot be called from a running event loop");
    event_loop loop{to_loop_options(opts)};
    any_task main = start(loop);

    // Ctrl-C cancels the main task (once; a second one ends the process the default way),
    // when nobody else handles SIGINT (Python does the same).
    int interrupts = 0;
    bool sigint_installed = false;
    struct sigaction current {};
    if (on_main_thread() && ::sigaction(SIGINT, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
        loop.add_internal_signal_handler(SIGINT, [&interrupts, main]() {
            if (++interrupts == 1 && !main.done()) {
                main.cancel();
                return;
            }
            std::signal(SIGINT, SIG_DFL);
            std::raise(SIGINT);
        });
        sigint_installed = true;
    }
    // Debug mode: SIGUSR1 prints the task tree, to inspect a hung program from outside.
    bool sigusr1_installed = false;
    if (loop.get_debug() && on_main_thread() && ::sigaction(SIGUSR1, nullptr, &current) == 0 &&
        current.sa_handler == SIG_DFL) {
        loop.add_internal_signal_handler(SIGUSR1, [&loop]() { dump_tasks(loop, loop.debug_stream()); });
        sigusr1_installed = true;
    }

    std::exception_ptr loop_error;
    try {
        loop.run_until_done(main.core());
    } catch (...) {
        loop_error = std::current_exception();
    }
    try {
        auto cleanup = loop.create_task(cancel_all_and_wait(loop), "asyncio.run cleanup");
        loop.run_until_done(cleanup.state_ptr());
        auto shutdown = loop.create_task(loop.shutdown_default_executor(), "shutdown_default_executor");
        loop.run_until_done(shutdown.state_ptr());
    } catch (...) {
        if (!loop_error) loop_error = std::current_exception();
    }
    if (sigint_installed) loop.remove_signal_handler(SIGINT);
    if (sigusr1_installed) loop.remove_signal_handler(SIGUSR1);
    loop.close();
    if (loop_error) std::rethrow_exception(loop_error);
    if (interrupts > 0 && main.cancelled() && main.uncancel() == 0) throw keyboard_interrupt();
}

}  // namespace asyncio::detail
