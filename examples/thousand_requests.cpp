// thousand_requests: 1000 simulated requests of 0.5 s each, all waiting at the same time on one
// thread, finish in about 0.5 s (one after the other they would take 500 s).
//
// Exits 0 if every request answered, all on one thread, in well under the sequential time.
#include <asyncio/asyncio.hpp>
#include <chrono>
#include <cstdio>
#include <set>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

// README: begin thousand_requests
std::set<std::thread::id> threads_used;  // every thread a request ran on

asyncio::coro<int> request(int id) {
    co_await asyncio::sleep(500ms);  // waiting for the server's answer
    threads_used.insert(std::this_thread::get_id());
    co_return id;
}

asyncio::coro<std::vector<int>> main_coro() {
    std::vector<asyncio::coro<int>> requests;
    for (int i = 0; i < 1000; ++i) requests.push_back(request(i));
    std::vector<int> answers = co_await asyncio::gather(std::move(requests));
    co_return answers;
}
// README: end thousand_requests

int main() {
    auto start = std::chrono::steady_clock::now();
    std::vector<int> answers = asyncio::run(main_coro());
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;

    bool all_answered = answers.size() == 1000;
    for (std::size_t i = 0; all_answered && i < answers.size(); ++i) all_answered = answers[i] == int(i);
    std::printf("%zu requests overlapped on %zu thread%s in %.2f s (one after the other: 500 s)\n",
                answers.size(), threads_used.size(), threads_used.size() == 1 ? "" : "s", took.count());
    bool ok = all_answered && threads_used.size() == 1 && took >= 0.45s && took < 5s;
    if (!ok) std::printf("UNEXPECTED: every answer in order: %s\n", all_answered ? "yes" : "no");
    return ok ? 0 : 1;
}
