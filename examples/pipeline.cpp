// pipeline: a producer feeds jobs through a bounded queue to three workers, which send their
// results through a second queue to a collector. A task group runs them all and waits for every
// one of them. Shutting a queue down ends the stage after it: the producer shuts `jobs` down
// after its last put, so the workers take what is still queued and then stop (their get throws
// queue_shut_down); once the last worker has stopped, `results` is shut down the same way and the
// collector stops.
//
// The Python it mirrors (3.13):
//     async with asyncio.TaskGroup() as tg:
//         tg.create_task(producer(jobs))
//         workers = [tg.create_task(worker(i, jobs, results)) for i in (1, 2, 3)]
//         tg.create_task(collector(results))
//         await asyncio.wait(workers)
//         results.shutdown()
//
// Exits 0 if every job's result arrived exactly once.
#include <asyncio/asyncio.hpp>
#include <asyncio/queue.hpp>
#include <asyncio/task_group.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

constexpr int n_jobs = 12;
constexpr int n_workers = 3;

// README: begin pipeline
struct result {
    int job;
    int square;
};

// The next item, or nothing once the queue is shut down and empty.
template <class T>
asyncio::coro<std::optional<T>> next(asyncio::queue<T>& q) {
    try {
        T item = co_await q.get();
        co_return item;
    } catch (const asyncio::queue_shut_down&) {
        co_return std::nullopt;
    }
}

asyncio::coro<void> producer(asyncio::queue<int>& jobs) {
    for (int job = 1; job <= n_jobs; job++) co_await jobs.put(job);  // waits while jobs is full
    std::printf("producer: all %d jobs queued\n", n_jobs);
    jobs.shutdown();  // the workers take what is still queued, then stop
}

asyncio::coro<void> worker(int id, asyncio::queue<int>& jobs, asyncio::queue<result>& results) {
    for (;;) {
        std::optional<int> job = co_await next(jobs);
        if (!job) break;
        co_await asyncio::sleep(std::chrono::milliseconds(10 * (*job % 3 + 1)));  // the work
        std::printf("worker %d: job %d done\n", id, *job);
        result r{*job, *job * *job};
        co_await results.put(r);
    }
}

asyncio::coro<void> collector(asyncio::queue<result>& results, std::vector<int>& arrived) {
    for (;;) {
        std::optional<result> r = co_await next(results);
        if (!r) break;
        if (r->square == r->job * r->job) arrived[static_cast<std::size_t>(r->job)]++;
    }
}

asyncio::coro<void> pipeline(asyncio::task_group& tg, asyncio::queue<int>& jobs,
                             asyncio::queue<result>& results, std::vector<int>& arrived) {
    tg.create_task(producer(jobs), "producer");
    std::vector<asyncio::task<void>> workers;
    for (int i = 1; i <= n_workers; i++)
        workers.push_back(tg.create_task(worker(i, jobs, results), "worker-" + std::to_string(i)));
    tg.create_task(collector(results, arrived), "collector");
    for (asyncio::task<void>& w : workers) co_await w;
    results.shutdown();  // no more results: the collector stops after the last one
}

asyncio::coro<std::vector<int>> main_coro() {
    asyncio::queue<int> jobs(4);  // at most 4 jobs wait: the producer cannot run far ahead
    asyncio::queue<result> results;
    std::vector<int> arrived(n_jobs + 1, 0);  // per job: how many times its result arrived
    auto body = [&](asyncio::task_group& tg) { return pipeline(tg, jobs, results, arrived); };
    co_await asyncio::with_task_group(body);
    co_return arrived;
}
// README: end pipeline

int main() {
    std::vector<int> arrived = asyncio::run(main_coro());
    int exactly_once = 0;
    for (int job = 1; job <= n_jobs; job++)
        exactly_once += arrived[static_cast<std::size_t>(job)] == 1 ? 1 : 0;
    std::printf("%d of %d results arrived exactly once\n", exactly_once, n_jobs);
    return exactly_once == n_jobs ? 0 : 1;
}
