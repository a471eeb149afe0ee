// asyncio-cpp's program for the workloads of shared/bench/SPEC.md; the same command line as the
// Asio peer (peers/asio/asio_bench.cpp), so run_all.sh measures it in the same pass as the peers.
//
// usage:
//   asyncio_bench spawn N
//   asyncio_bench sleep N [SECONDS=0.5]
//   asyncio_bench pingpong M          (single-slot asyncio::queue hand-offs, as the SPEC says)
//   asyncio_bench pingpong-future M   (the same through futures: the floor of a hand-off)
//   asyncio_bench echo PORT           (server on 127.0.0.1:PORT; prints READY; runs until SIGTERM/SIGINT)
//   (http PORT comes later)
//
// Each workload prints exactly one `RESULT workload=... impl=asyncio-cpp ...` line on stdout and
// exits non-zero (without a RESULT line) when its result is wrong. Timing (SPEC "Timing"): the clock
// starts just before the first task is created and stops right after the awaited result is
// available; the "before" RSS (from /proc/self/statm) is read just before the clock starts.
#include <sys/resource.h>
#include <unistd.h>

#include <asyncio/asyncio.hpp>
#include <asyncio/net/server.hpp>
#include <asyncio/net/streams.hpp>
#include <asyncio/queue.hpp>
#include <asyncio/sync/event.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace {

using clk = std::chrono::steady_clock;
constexpr const char* impl_name = "asyncio-cpp";

long peak_rss_kb() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

// Current resident set (not the peak), from /proc/self/statm.
long rss_kb() {
    long size = 0, res = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%ld %ld", &size, &res) != 2) res = 0;
        std::fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

double secs_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

// ---------------------------------------------------------------- spawn
// Returns at once: the task finishes in its first step, without suspending.
asyncio::coro<long long> spawn_child(long long i) { co_return i * 2; }

asyncio::coro<int> spawn_main(long long n) {
    std::vector<asyncio::task<long long>> tasks;
    tasks.reserve(static_cast<std::size_t>(n));  // untouched pages: their use still counts in rss
    (void)rss_kb();                              // same work as the sleep workload before its clock
    auto t0 = clk::now();
    // The creator does not yield here: all N frames exist before any task runs.
    for (long long i = 0; i < n; i++) tasks.push_back(asyncio::create_task(spawn_child(i)));
    std::vector<long long> results = co_await asyncio::gather(std::move(tasks));
    double s = secs_since(t0);
    long peak = peak_rss_kb();
    long long sum = 0;
    for (long long r : results) sum += r;
    if (static_cast<long long>(results.size()) != n || sum != n * (n - 1)) {
        std::fprintf(stderr, "spawn: bad sum %lld (expected %lld)\n", sum, n * (n - 1));
        co_return 1;
    }
    std::printf("RESULT workload=spawn impl=%s n=%lld seconds=%.4f per_op_ns=%.0f rss_kb=%ld\n", impl_name, n,
                s, s / static_cast<double>(n) * 1e9, peak);
    co_return 0;
}

// ---------------------------------------------------------------- sleep
asyncio::coro<long long> sleep_child(long long i, std::chrono::nanoseconds delay) {
    co_await asyncio::sleep(delay);
    co_return i;
}

asyncio::coro<int> sleep_main(long long n, double delay_s) {
    auto delay = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(delay_s));
    std::vector<asyncio::task<long long>> tasks;
    tasks.reserve(static_cast<std::size_t>(n));  // untouched pages: their use still counts in rss
    long base = rss_kb();
    auto t0 = clk::now();
    for (long long i = 0; i < n; i++) tasks.push_back(asyncio::create_task(sleep_child(i, delay)));
    double created = secs_since(t0);
    std::vector<long long> results = co_await asyncio::gather(std::move(tasks));
    double s = secs_since(t0);
    long peak = peak_rss_kb();
    if (static_cast<long long>(results.size()) != n || results[static_cast<std::size_t>(n - 1)] != n - 1) {
        std::fprintf(stderr, "sleep: bad result\n");
        co_return 1;
    }
    std::printf(
        "RESULT workload=sleep impl=%s n=%lld seconds=%.4f overhead_ms=%.1f create_ms=%.1f rss_kb=%ld "
        "bytes_per_task=%.0f\n",
        impl_name, n, s, (s - delay_s) * 1e3, created * 1e3, peak,
        static_cast<double>(peak - base) * 1024.0 / static_cast<double>(n));
    co_return 0;
}

// ---------------------------------------------------------------- pingpong
// SPEC section 3: two single-slot queues, AB and BA. A puts v+1 into AB and then takes v from
// BA; B takes v from AB and puts v+1 into BA.
asyncio::coro<long long> pingpong_a(asyncio::queue<long long>& ab, asyncio::queue<long long>& ba,
                                    long long rounds) {
    long long v = 0;
    for (long long i = 0; i < rounds; i++) {
        co_await ab.put(v + 1);
        v = co_await ba.get();
    }
    co_return v;  // A receives the last value
}

asyncio::coro<void> pingpong_b(asyncio::queue<long long>& ab, asyncio::queue<long long>& ba,
                               long long rounds) {
    for (long long i = 0; i < rounds; i++) {
        long long v = co_await ab.get();
        co_await ba.put(v + 1);
    }
}

// pingpong-future: the same hand-offs through futures instead of queues (the lower bound of a
// hand-off: one future per value). The sender sets the slot's future; the receiver awaits it
// and then puts a fresh future in the slot for the next hand-off. The protocol (A sends on AB
// only after B has received the previous AB value and replaced the slot) guarantees a sender
// never finds a used future.
struct slot {
    asyncio::future<long long> fut;
};

asyncio::coro<long long> pingpong_future_a(slot& ab, slot& ba, long long rounds, asyncio::event_loop& loop) {
    long long v = 0;
    for (long long i = 0; i < rounds; i++) {
        ab.fut.set_result(v + 1);  // put v+1 into AB
        v = co_await ba.fut;       // take v from BA
        ba.fut = loop.create_future<long long>();
    }
    co_return v;
}

asyncio::coro<void> pingpong_future_b(slot& ab, slot& ba, long long rounds, asyncio::event_loop& loop) {
    for (long long i = 0; i < rounds; i++) {
        long long v = co_await ab.fut;  // take v from AB
        ab.fut = loop.create_future<long long>();
        ba.fut.set_result(v + 1);  // put v+1 into BA
    }
}

asyncio::coro<int> pingpong_main(long long m, bool with_futures) {
    asyncio::event_loop& loop = asyncio::get_running_loop();
    long long rounds = m / 2;
    asyncio::queue<long long> ab(1), ba(1);
    slot fab{loop.create_future<long long>()};
    slot fba{loop.create_future<long long>()};
    (void)rss_kb();
    auto t0 = clk::now();
    asyncio::task<long long> a = with_futures
                                     ? asyncio::create_task(pingpong_future_a(fab, fba, rounds, loop))
                                     : asyncio::create_task(pingpong_a(ab, ba, rounds));
    asyncio::task<void> b = with_futures ? asyncio::create_task(pingpong_future_b(fab, fba, rounds, loop))
                                         : asyncio::create_task(pingpong_b(ab, ba, rounds));
    auto both = co_await asyncio::gather(std::move(a), std::move(b));
    double s = secs_since(t0);
    long peak = peak_rss_kb();
    long long final_v = std::get<0>(both);
    if (final_v != 2 * rounds) {
        std::fprintf(stderr, "pingpong: bad final value %lld (expected %lld)\n", final_v, 2 * rounds);
        co_return 1;
    }
    double ops = static_cast<double>(2 * rounds);
    std::printf("RESULT workload=%s impl=%s m=%lld seconds=%.4f per_op_ns=%.0f rss_kb=%ld\n",
                with_futures ? "pingpong-future" : "pingpong", impl_name, 2 * rounds, s, s / ops * 1e9, peak);
    co_return 0;
}

// ---------------------------------------------------------------- echo
// SPEC §4: one task per connection (the server's handler): read up to 64 KiB (whatever is
// there), write all of it back, until EOF. Streams, as Python's asyncio peer: reader.read,
// writer.write, writer.drain. Listen backlog 1024; TCP_NODELAY is set by the streams.
asyncio::coro<void> echo_connection(asyncio::stream_reader reader, asyncio::stream_writer writer) {
    try {
        for (;;) {
            std::string data = co_await reader.read(64 * 1024);
            if (data.empty()) break;
            writer.write(data);
            co_await writer.drain();
        }
    } catch (const std::system_error&) {  // a client that went away mid-request: just close
    }
    writer.close();
}

asyncio::coro<int> echo_main(int port) {
    asyncio::event_loop& loop = asyncio::get_running_loop();
    asyncio::server_options opts;
    opts.backlog = 1024;
    asyncio::server srv = co_await asyncio::start_server(echo_connection, "127.0.0.1", port, opts);
    asyncio::event stop;
    loop.add_signal_handler(SIGTERM, [&stop]() { stop.set(); });
    loop.add_signal_handler(SIGINT, [&stop]() { stop.set(); });
    std::printf("READY\n");
    std::fflush(stdout);
    co_await stop.wait();
    loop.remove_signal_handler(SIGTERM);
    loop.remove_signal_handler(SIGINT);
    srv.close();
    srv.close_clients();
    co_await srv.wait_closed();
    co_return 0;
}

int usage(const char* argv0) {
    std::fprintf(stderr,
                 "usage: %s spawn N | sleep N [SECONDS=0.5] | pingpong M | pingpong-future M | echo PORT\n"
                 "       (http PORT is not implemented yet)\n",
                 argv0);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) return usage(argv[0]);
    std::string what = argv[1];
    long long arg = std::atoll(argv[2]);
    int rc = 0;
    bool pingpong = what == "pingpong" || what == "pingpong-future";
    if (what == "spawn" || what == "sleep" || pingpong) {
        long long min_size = pingpong ? 2 : 1;  // pingpong: at least one round trip
        if (arg < min_size) {
            std::fprintf(stderr, "%s: %s needs a size of at least %lld (got '%s')\n", argv[0], what.c_str(),
                         min_size, argv[2]);
            return 2;
        }
        if (what == "spawn")
            rc = asyncio::run(spawn_main(arg));
        else if (what == "sleep")
            rc = asyncio::run(sleep_main(arg, argc > 3 ? std::atof(argv[3]) : 0.5));
        else
            rc = asyncio::run(pingpong_main(arg, what == "pingpong-future"));
    } else if (what == "echo") {
        if (arg < 0 || arg > 65535) {
            std::fprintf(stderr, "%s: echo needs a port 0-65535 (got '%s')\n", argv[0], argv[2]);
            return 2;
        }
        rc = asyncio::run(echo_main(static_cast<int>(arg)));
    } else if (what == "http") {
        std::fprintf(stderr, "%s: workload '%s' is not implemented yet\n", argv[0], what.c_str());
        return 2;
    } else {
        std::fprintf(stderr, "%s: unknown workload '%s'\n", argv[0], what.c_str());
        return usage(argv[0]);
    }
    std::fflush(stdout);
    return rc;
}
