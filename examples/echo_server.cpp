// echo_server: a TCP echo server on asyncio::start_server, one event loop per thread.
//
//   echo_server [--host H] [--port P] [--threads N] [--serve-seconds S]
//
// Each connection gets a task that reads whatever arrives (up to 64 KiB) and writes it back,
// until the client closes. With --threads N, N threads each run their own loop and their own
// server on the same port (SO_REUSEPORT: the kernel spreads the connections over them): the
// asyncio way to use several cores. --port 0 (the default) takes a free port and prints it.
// --serve-seconds S stops after S seconds (0: until Ctrl-C or SIGTERM, the default when any
// option is given).
//
// Without arguments (ctest and the tour run it so) it checks itself: 2 threads, port 0, eight
// clients of its own that each send a line and 64 KiB and check the echo; then it stops.
//
// The Python it mirrors (per thread):
//     async def handle(reader, writer):
//         try:
//             while data := await reader.read(65536):
//                 writer.write(data)
//                 await writer.drain()
//         except ConnectionResetError:
//             pass
//         writer.close()
//     server = await asyncio.start_server(handle, host, port, reuse_port=True)
//     async with server:
//         await server.serve_forever()
#include <pthread.h>

#include <asyncio/asyncio.hpp>
#include <asyncio/net/server.hpp>
#include <asyncio/net/streams.hpp>
#include <asyncio/sync/event.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace {

struct options {
    std::string host = "127.0.0.1";
    int port = 0;
    int threads = 1;
    double serve_seconds = 0;  // 0: until a signal
    bool self_check = false;
};

// README: begin echo_server
asyncio::coro<void> handle(asyncio::stream_reader reader, asyncio::stream_writer writer) {
    try {
        for (;;) {
            std::string data = co_await reader.read(64 * 1024);  // what arrived; "" at EOF
            if (data.empty()) break;
            writer.write(data);
            co_await writer.drain();  // waits only while the client is slow to read
        }
    } catch (const std::system_error&) {  // the client reset the connection: nobody to answer
    }
    writer.close();
}

// One thread's server: serves until `stop` is set, then closes every connection.
asyncio::coro<void> serve(const options& opt, int port, asyncio::event& stop, std::atomic<int>& bound,
                          std::atomic<long>& connections) {
    auto counted = [&connections](asyncio::stream_reader r, asyncio::stream_writer w) {
        connections.fetch_add(1, std::memory_order_relaxed);
        return handle(std::move(r), std::move(w));
    };
    asyncio::server_options so;
    so.reuse_port = opt.threads > 1;  // every thread's socket listens on the same port
    so.backlog = 1024;
    asyncio::server server = co_await asyncio::start_server(counted, opt.host, port, so);
    bound.store(server.port());
    co_await stop.wait();
    server.close();          // stop listening
    server.close_clients();  // and end the connections: their reads see EOF
    co_await server.wait_closed();
}
// README: end echo_server

// A worker thread: its loop, and how the main thread stops it.
struct worker {
    std::thread thread;
    std::atomic<asyncio::event_loop*> loop{nullptr};
    asyncio::event stop;
    std::atomic<int> bound{0};
    std::atomic<long> connections{0};
    std::atomic<bool> failed{false};
    std::atomic<bool> gone{false};  // its loop could not even start
};

// The loop stays until the main thread stops it, also after a failure (so that the main thread
// never calls into a loop that is gone).
asyncio::coro<void> run_worker(const options& opt, int port, worker& w) {
    w.loop.store(&asyncio::get_running_loop());
    try {
        co_await serve(opt, port, w.stop, w.bound, w.connections);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo_server: %s\n", e.what());
        w.failed.store(true);
        w.bound.store(-1);
    }
    if (w.failed.load()) co_await w.stop.wait();
}

void worker_main(const options& opt, int port, worker& w) {
    try {
        asyncio::run(run_worker(opt, port, w));
    } catch (const std::exception& e) {  // no loop at all
        std::fprintf(stderr, "echo_server: %s\n", e.what());
        w.failed.store(true);
        w.bound.store(-1);
        w.gone.store(true);
    }
}

// Waits until the worker has bound its socket (or failed); its port, or -1.
int wait_bound(worker& w) {
    for (int i = 0; i < 10000 && w.bound.load() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return w.bound.load() > 0 ? w.bound.load() : -1;
}

// --- the self-check's clients ------------------------------------------------------------------

asyncio::coro<bool> check_client(std::string host, int port, int id) {
    auto [reader, writer] = co_await asyncio::open_connection(host, port);
    std::string line = "hello from client " + std::to_string(id) + "\n";
    std::string block(64 * 1024, static_cast<char>('a' + id));
    writer.write(line);
    writer.write(block);
    co_await writer.drain();
    std::string echoed_line = co_await reader.readline();
    std::string echoed_block = co_await reader.readexactly(static_cast<std::ptrdiff_t>(block.size()));
    writer.close();
    co_await writer.wait_closed();
    co_return echoed_line == line&& echoed_block == block;
}

asyncio::coro<int> check_all(std::string host, int port, int clients) {
    std::vector<asyncio::task<bool>> tasks;
    for (int id = 0; id < clients; ++id) tasks.push_back(asyncio::create_task(check_client(host, port, id)));
    std::vector<bool> ok = co_await asyncio::gather(std::move(tasks));
    int good = 0;
    for (bool b : ok) good += b ? 1 : 0;
    co_return good;
}

bool parse(int argc, char** argv, options& opt) {
    if (argc == 1) {
        opt.self_check = true;
        opt.threads = 2;
        return true;
    }
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        bool has_value = i + 1 < argc;
        if (a == "--host" && has_value) {
            opt.host = argv[++i];
        } else if (a == "--port" && has_value) {
            opt.port = std::atoi(argv[++i]);
        } else if (a == "--threads" && has_value) {
            opt.threads = std::atoi(argv[++i]);
        } else if (a == "--serve-seconds" && has_value) {
            opt.serve_seconds = std::atof(argv[++i]);
        } else {
            return false;
        }
    }
    return opt.threads >= 1 && opt.threads <= 256 && opt.port >= 0 && opt.port <= 65535 &&
           opt.serve_seconds >= 0;
}

}  // namespace

int main(int argc, char** argv) {
    options opt;
    if (!parse(argc, argv, opt)) {
        std::fprintf(stderr, "usage: %s [--host H] [--port P] [--threads N] [--serve-seconds S]\n", argv[0]);
        return 2;
    }
    // Signals go to the main thread only (it waits for them below); the workers inherit the mask.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    std::vector<std::unique_ptr<worker>> workers;
    for (int i = 0; i < opt.threads; ++i) workers.push_back(std::make_unique<worker>());
    // The first worker binds (port 0: the kernel picks); the others join its port.
    workers[0]->thread = std::thread(worker_main, std::cref(opt), opt.port, std::ref(*workers[0]));
    int port = wait_bound(*workers[0]);
    bool ok = port > 0;
    for (int i = 1; ok && i < opt.threads; ++i) {
        workers[static_cast<std::size_t>(i)]->thread =
            std::thread(worker_main, std::cref(opt), port, std::ref(*workers[static_cast<std::size_t>(i)]));
        ok = wait_bound(*workers[static_cast<std::size_t>(i)]) == port;
    }
    int good = 0, clients = 8;
    if (ok) {
        std::printf("echo_server: listening on %s port %d with %d thread%s\n", opt.host.c_str(), port,
                    opt.threads, opt.threads == 1 ? "" : "s");
        std::fflush(stdout);
        if (opt.self_check) {
            good = asyncio::run(check_all(opt.host, port, clients));
            std::printf("self-check: %d of %d clients got their bytes back\n", good, clients);
        } else if (opt.serve_seconds > 0) {
            timespec ts{};
            ts.tv_sec = static_cast<time_t>(opt.serve_seconds);
            ts.tv_nsec = static_cast<long>((opt.serve_seconds - static_cast<double>(ts.tv_sec)) * 1e9);
            while (sigtimedwait(&stop_signals, nullptr, &ts) < 0 && errno == EINTR) {
            }
        } else {
            int sig = 0;
            sigwait(&stop_signals, &sig);
        }
    }
    // Stop every loop from this thread: call_soon_threadsafe is the one thread-safe entry.
    for (auto& w : workers) {
        if (!w->thread.joinable()) continue;
        while (!w->loop.load() && !w->gone.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        worker* target = w.get();
        if (!w->gone.load()) w->loop.load()->call_soon_threadsafe([target]() { target->stop.set(); });
        w->thread.join();
    }
    long total = 0;
    for (std::size_t i = 0; i < workers.size(); ++i) {
        total += workers[i]->connections.load();
        ok = ok && !workers[i]->failed.load();
        std::printf("thread %zu served %ld connection%s\n", i, workers[i]->connections.load(),
                    workers[i]->connections.load() == 1 ? "" : "s");
    }
    std::printf("echo_server: stopped after %ld connection%s\n", total, total == 1 ? "" : "s");
    if (!ok) return 1;
    return opt.self_check && good != clients ? 1 : 0;
}
