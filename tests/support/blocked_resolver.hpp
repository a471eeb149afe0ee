// Holds the running loop's default executor busy, so that a host-name lookup (loop.getaddrinfo
// runs on that executor) stays queued behind it: a test can then cancel an operation that is
// certainly waiting for its lookup ("mid-resolve"), not one that already got past it.
//
//     test_support::blocked_resolver resolver;          // a 1-thread default executor, blocked
//     auto opening = asyncio::create_task(asyncio::open_connection("localhost", port));
//     ... cancel it ...
//     co_await resolver.release();   // the queued lookup runs (its result is dropped); joined
#pragma once

#include <asyncio/event_loop.hpp>
#include <asyncio/executor.hpp>
#include <asyncio/future.hpp>
#include <latch>
#include <memory>

namespace test_support {

class blocked_resolver {
  public:
    blocked_resolver() {
        asyncio::event_loop& loop = asyncio::get_running_loop();
        loop.set_default_executor(std::make_shared<asyncio::thread_pool_executor>(1));
        std::latch* gate = &gate_;
        blocker_ = loop.run_in_executor(nullptr, [gate] { gate->wait(); });
    }
    blocked_resolver(const blocked_resolver&) = delete;
    blocked_resolver& operator=(const blocked_resolver&) = delete;
    ~blocked_resolver() { open_gate(); }  // a test that failed early: never leave the thread blocked

    /// Lets the executor run what was queued behind the blocker, and shuts it down (waiting, off
    /// the loop thread, for the lookups: they hold the resolver's own files while they run).
    asyncio::coro<void> release() {
        open_gate();
        co_await blocker_;
        co_await asyncio::get_running_loop().shutdown_default_executor();
    }

  private:
    void open_gate() {
        if (!opened_) gate_.count_down();
        opened_ = true;
    }
    std::latch gate_{1};
    bool opened_ = false;
    asyncio::future<void> blocker_;
};

}  // namespace test_support
