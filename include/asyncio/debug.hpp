// Looking inside a running program: the tree of tasks and what each waits for, with file:line.
// Python 3.14: `python -m asyncio pstree PID` / asyncio.print_call_graph().
#pragma once

#include <ostream>
#include <string>

#include "event_loop.hpp"

namespace asyncio {

/// Prints every pending task of `loop` as a tree of who awaits whom: a task awaiting another task,
/// gather/wait/as_completed over their children, a task group's parent over its children. Each
/// task's line says what it waits for (a timer, a lock and the task holding it, a future, ...),
/// followed by its await chain: the `co_await` sites of its suspended frames, innermost first.
/// Loop thread only. In debug mode, sending the process SIGUSR1 prints the same tree to the
/// loop's debug stream (stderr), so a hung program can be inspected from outside.
void dump_tasks(event_loop& loop, std::ostream& os);
/// As above, for the running loop (std::runtime_error when none runs).
void dump_tasks(std::ostream& os);

namespace detail {
/// The deadlock report: every waiting task with its await chain, then the cycle (or the chain of
/// waits from `main`) that explains it.
std::string describe_deadlock(loop_core& loop, const task_core* main);
}  // namespace detail

}  // namespace asyncio
