// debugging: what debug mode tells you, scene by scene. Each scene is its own
// asyncio::run(main, {.debug = true}) (ASYNCIO_DEBUG=1 switches it on without a code change):
//   1. a blocking call in a coroutine     -> the slow step, with the task and its co_await lines
//   2. a forgotten coroutine              -> "coroutine '...' was never awaited"
//   3. a lost exception                   -> "Task exception was never retrieved"
//   4. two tasks and two locks, deadlocked -> deadlock_error, every waiting task and the cycle
//   5. what is running right now?         -> dump_tasks: the task tree (SIGUSR1 prints it too)
//
// The library writes its diagnostics to the loop's debug stream (stderr) and reports errors to
// its exception handler (which prints to stderr). Here both go to a string per scene, printed to
// stdout after the scene's heading, so that the output comes in order and the program can check
// it: it exits 0 only if every scene's diagnostic appeared. File paths are printed relative to
// the source tree to keep the lines short.
#include <asyncio/asyncio.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;

// Sends what the running loop reports (debug stream and exception handler) to `said`.
void listen(std::ostringstream& said) {
    asyncio::event_loop& loop = asyncio::get_running_loop();
    loop.set_debug_stream(&said);
    loop.set_exception_handler([&said](asyncio::event_loop&, const asyncio::exception_context& c) {
        said << c.message << "\n";
        if (!c.exception) return;
        try {
            std::rethrow_exception(c.exception);
        } catch (const std::exception& e) {
            said << "exception: " << e.what() << "\n";
        } catch (...) {
            said << "exception: (not a std::exception)\n";
        }
    });
}

// ---------------------------------------------------------------- 1. a blocking call
asyncio::coro<void> load_config() {
    co_await asyncio::sleep(0ms);
    std::this_thread::sleep_for(150ms);  // blocks the loop: no other task runs meanwhile
    co_await asyncio::sleep(0ms);
}

asyncio::coro<void> blocking_scene(std::ostringstream* said) {
    listen(*said);
    // Debug mode times every step of every task; one over slow_callback_duration (100 ms) is logged.
    asyncio::task<void> t = asyncio::create_task(load_config(), "load_config");
    co_await t;
}

// ---------------------------------------------------------------- 2. a forgotten coroutine
asyncio::coro<void> save_settings() { co_return; }

asyncio::coro<void> forgotten_scene(std::ostringstream* said) {
    listen(*said);
    // Meant `co_await save_settings();`. Without the (void), [[nodiscard]] already warns at
    // compile time; with it (or a coro kept in a variable and dropped), debug mode reports it.
    (void)save_settings();
    co_return;
}

// ---------------------------------------------------------------- 3. a lost exception
asyncio::coro<void> send_report() {
    co_await asyncio::sleep(1ms);
    throw std::runtime_error("mail server refused the connection");
}

asyncio::coro<void> lost_exception_scene(std::ostringstream* said) {
    listen(*said);
    asyncio::create_task(send_report(), "send_report");  // fire and forget: nobody awaits it
    co_await asyncio::sleep(10ms);
}

// ---------------------------------------------------------------- 4. a deadlock
// README: begin debugging
// Each task takes one lock, then the other, in opposite orders: a lock-order inversion.
asyncio::coro<void> take_both(asyncio::lock* first, asyncio::lock* second) {
    asyncio::lock_guard held = co_await first->scoped();
    co_await asyncio::sleep(1ms);                          // the other task takes its first lock
    asyncio::lock_guard both = co_await second->scoped();  // ...and now both wait forever
}

asyncio::coro<void> deadlock_scene(std::ostringstream* said, std::string* caught) {
    listen(*said);
    asyncio::lock accounts, audit;
    std::printf("(lock accounts is %p, lock audit is %p)\n", static_cast<void*>(&accounts),
                static_cast<void*>(&audit));
    asyncio::task<void> a = asyncio::create_task(take_both(&accounts, &audit), "transfer");
    asyncio::task<void> b = asyncio::create_task(take_both(&audit, &accounts), "audit");
    try {
        co_await asyncio::gather(a, b);
    } catch (const asyncio::deadlock_error& e) {
        // Python would hang here. The report also went to the debug stream.
        *caught = e.what();
    }
}
// README: end debugging

// ---------------------------------------------------------------- 5. dump_tasks
asyncio::coro<void> fetch(std::chrono::milliseconds how_long) { co_await asyncio::sleep(how_long); }

asyncio::coro<void> fetch_all() {
    asyncio::task<void> users = asyncio::create_task(fetch(20ms), "fetch users");
    asyncio::task<void> orders = asyncio::create_task(fetch(30ms), "fetch orders");
    co_await asyncio::gather(users, orders);
}

// Prints the task tree a little later, while the fetches run.
asyncio::coro<void> watchdog(std::ostringstream* said) {
    co_await asyncio::sleep(5ms);
    asyncio::dump_tasks(*said);  // in debug mode, `kill -USR1 <pid>` prints the same to stderr
}

asyncio::coro<void> dump_scene(std::ostringstream* said) {
    listen(*said);
    asyncio::task<void> dog = asyncio::create_task(watchdog(said), "watchdog");
    asyncio::task<void> all = asyncio::create_task(fetch_all(), "fetch_all");
    co_await all;
    co_await dog;
}

// ---------------------------------------------------------------- the program
std::string source_root() {  // "/path/to/asyncio-cpp/" from this file's path
    std::string file = __FILE__;
    std::string::size_type at = file.rfind("examples/debugging.cpp");
    return at == std::string::npos ? std::string() : file.substr(0, at);
}

std::string without_root(std::string text) {
    const std::string root = source_root();
    if (root.empty()) return text;
    for (auto at = text.find(root); at != std::string::npos; at = text.find(root, at))
        text.erase(at, root.size());
    return text;
}

// Prints what the scene's loop reported; true if it contains `expected`.
bool show(const std::ostringstream& said, const std::string& expected) {
    std::string text = without_root(said.str());
    std::fputs(text.c_str(), stdout);
    if (text.find(expected) != std::string::npos) return true;
    std::printf("MISSING: \"%s\"\n", expected.c_str());
    return false;
}

// As show(), for a second phrase of text already printed.
bool also_said(const std::ostringstream& said, const std::string& expected) {
    if (said.str().find(expected) != std::string::npos) return true;
    std::printf("MISSING: \"%s\"\n", expected.c_str());
    return false;
}

int main() {
    const asyncio::run_options debug{.debug = true};
    bool ok = true;

    std::printf("== 1. A blocking call in a coroutine\n");
    std::ostringstream said1;
    asyncio::run(blocking_scene(&said1), debug);
    ok = show(said1, "asyncio: task 'load_config' step took ") && ok;

    std::printf("\n== 2. A forgotten coroutine\n");
    std::ostringstream said2;
    asyncio::run(forgotten_scene(&said2), debug);
    ok = show(said2, "coroutine 'save_settings' was never awaited (created at ") && ok;

    std::printf("\n== 3. A lost exception\n");
    std::ostringstream said3;
    asyncio::run(lost_exception_scene(&said3), debug);
    ok = show(said3, "Task exception was never retrieved (task 'send_report') (created at ") &&
         also_said(said3, "exception: mail server refused the connection") && ok;

    std::printf("\n== 4. A deadlock: two tasks, two locks\n");
    std::ostringstream said4;
    std::string caught;
    asyncio::run(deadlock_scene(&said4, &caught), debug);
    ok = show(said4, "cycle: task 'transfer' waits for lock") && ok;
    if (caught.empty() || said4.str() != "asyncio: " + caught) {
        std::printf("MISSING: the same report as the deadlock_error main caught\n");
        ok = false;
    } else {
        std::printf("(main caught asyncio::deadlock_error; its what() is the report above)\n");
    }

    std::printf("\n== 5. What is running right now? dump_tasks\n");
    std::ostringstream said5;
    asyncio::run(dump_scene(&said5), debug);
    ok = show(said5, "        * task 'fetch users' waits for sleep") && ok;

    std::printf(ok ? "\nevery diagnostic appeared\n" : "\nUNEXPECTED: a diagnostic is missing (see above)\n");
    return ok ? 0 : 1;
}
