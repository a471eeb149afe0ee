// Tests of queue.hpp: asyncio::queue, asyncio::lifo_queue, asyncio::priority_queue.
//
// Order (FIFO, LIFO, smallest first, a custom Compare); back-pressure (putters block at maxsize
// and resume in order; no barging: a slot granted to a waiting putter is taken, and an item
// handed to a waiting getter is not in the queue); hand-off order of several getters; cancel at
// every await point (a getter queued; a getter handed an item and cancelled in the same
// iteration: the item goes to the next getter or back where the next get finds it first; a putter
// queued; a putter granted a slot and cancelled: nothing added, the slot goes to the next putter;
// join queued and join woken then cancelled); task_done/join; shutdown(false) and shutdown(true)
// with blocked putters, getters, granted waiters and join; the bad-input errors; move-only
// values; binding to one loop; statistics(); the ring buffer against std::deque; and a stress
// run of 1,000 producers and 1,000 consumers with random cancellations. All on virtual time.
#include <gtest/gtest.h>

#include <asyncio/event_loop.hpp>
#include <asyncio/queue.hpp>
#include <asyncio/run.hpp>
#include <asyncio/sleep.hpp>
#include <asyncio/task.hpp>
#include <asyncio/timeout.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/run_harness.hpp"
#include "support/sync_helpers.hpp"

using namespace std::chrono_literals;

namespace {

using asyncio::coro;
using asyncio::task;
using ms = std::chrono::milliseconds;

using namespace test_support;

// Runs a test body with a deadline: a task left waiting forever (a lost item, a lost slot) fails
// the test on virtual time instead of hanging it.
coro<void> with_deadline(coro<void> body) {
    bool timed_out = false;
    try {
        co_await asyncio::wait_for(std::move(body), std::chrono::hours(1));
    } catch (const asyncio::timeout_error&) {
        timed_out = true;
    }
    EXPECT_FALSE(timed_out) << "the test body was still waiting after an hour (virtual time)";
}
void run_test(coro<void> body) { run_clean(with_deadline(std::move(body))); }

// One loop iteration: the tasks already ready run first.
coro<void> yield_once() { co_await asyncio::sleep(0ms); }

std::string show(int v) { return std::to_string(v); }
std::string show(const std::unique_ptr<int>& p) { return p ? "*" + std::to_string(*p) : "null"; }

// Gets one item and logs how that ended: "<name> got X", "<name> cancelled", "<name> shut down".
// Swallows the error, so awaiting the task never throws.
template <class Q>
coro<void> getter(Q* q, log_t* log, std::string name) {
    try {
        auto v = co_await q->get();
        log->push_back(name + " got " + show(v));
    } catch (const asyncio::cancelled_error&) {
        log->push_back(name + " cancelled");
    } catch (const asyncio::queue_shut_down&) {
        log->push_back(name + " shut down");
    }
}

// Puts one item and logs how that ended: "<name> put", "<name> cancelled", "<name> shut down".
template <class Q, class T>
coro<void> putter(Q* q, T v, log_t* log, std::string name) {
    try {
        co_await q->put(std::move(v));
        log->push_back(name + " put");
    } catch (const asyncio::cancelled_error&) {
        log->push_back(name + " cancelled");
    } catch (const asyncio::queue_shut_down&) {
        log->push_back(name + " shut down");
    }
}

template <class Q>
coro<void> joiner(Q* q, log_t* log, std::string name) {
    try {
        co_await q->join();
        log->push_back(name + " joined");
    } catch (const asyncio::cancelled_error&) {
        log->push_back(name + " cancelled");
    }
}

template <class Q>
std::vector<int> drain(Q& q) {
    std::vector<int> out;
    while (!q.empty()) out.push_back(q.get_nowait());
    return out;
}

// Starts getters "g1" and "g2" on the empty `q` and lets them queue up, g1 first.
template <class Q>
coro<void> queue_two_getters(Q* q, log_t* log, task<void>* g1, task<void>* g2) {
    *g1 = asyncio::create_task(getter(q, log, "g1"));
    *g2 = asyncio::create_task(getter(q, log, "g2"));
    co_await yield_once();
}

// Fills `q` (maxsize 1) with 0, then starts putters "p1" (of 1) and "p2" (of 2) and lets them
// queue up for the slot, p1 first.
coro<void> queue_two_putters(asyncio::queue<int>* q, log_t* log, task<void>* p1, task<void>* p2) {
    q->put_nowait(0);
    *p1 = asyncio::create_task(putter(q, 1, log, "p1"));
    *p2 = asyncio::create_task(putter(q, 2, log, "p2"));
    co_await yield_once();
}

// --- order -----------------------------------------------------------------------------------------

coro<void> fifo_order_main() {
    asyncio::queue<int> q;
    for (int i = 1; i <= 3; i++) q.put_nowait(i);
    for (int i = 4; i <= 5; i++) co_await q.put(i);
    std::vector<int> got;
    for (int i = 0; i < 5; i++) {
        int v = co_await q.get();
        got.push_back(v);
    }
    EXPECT_EQ(got, (std::vector<int>{1, 2, 3, 4, 5}));
    EXPECT_TRUE(q.empty());
}
TEST(Queue, FifoOrder) { run_test(fifo_order_main()); }

coro<void> lifo_order_main() {
    asyncio::lifo_queue<int> q;
    for (int i = 1; i <= 3; i++) q.put_nowait(i);
    co_await q.put(4);
    int first = co_await q.get();
    EXPECT_EQ(first, 4);
    EXPECT_EQ(drain(q), (std::vector<int>{3, 2, 1}));
}
TEST(Queue, LifoOrder) { run_test(lifo_order_main()); }

coro<void> priority_order_main() {
    asyncio::priority_queue<int> q;
    for (int v : {5, 1, 4, 2, 3, 1}) q.put_nowait(v);
    co_await q.put(0);
    int first = co_await q.get();
    EXPECT_EQ(first, 0);  // the smallest first (Python's heapq), not std::priority_queue's largest
    EXPECT_EQ(drain(q), (std::vector<int>{1, 1, 2, 3, 4, 5}));

    asyncio::priority_queue<int, std::greater<int>> largest_first;
    for (int v : {2, 9, 4}) largest_first.put_nowait(v);
    EXPECT_EQ(drain(largest_first), (std::vector<int>{9, 4, 2}));

    // (priority, data) pairs, as Python programs use them.
    asyncio::priority_queue<std::pair<int, std::string>> jobs;
    jobs.put_nowait({3, "low"});
    jobs.put_nowait({1, "high"});
    jobs.put_nowait({2, "mid"});
    std::vector<std::string> names;
    while (!jobs.empty()) names.push_back(jobs.get_nowait().second);
    EXPECT_EQ(names, (std::vector<std::string>{"high", "mid", "low"}));
}
TEST(Queue, PriorityOrderIsSmallestFirst) { run_test(priority_order_main()); }

// Random put/get against a model, across ring-buffer wrap-around and growth.
TEST(Queue, FifoMatchesADequeModel) {
    asyncio::queue<int> q;
    std::deque<int> model;
    std::mt19937 rng(7);
    int next = 0;
    for (int step = 0; step < 20000; step++) {
        if (rng() % 5 < 3) {
            q.put_nowait(next);
            model.push_back(next++);
        } else if (!model.empty()) {
            ASSERT_EQ(q.get_nowait(), model.front());
            model.pop_front();
        }
        ASSERT_EQ(q.qsize(), model.size());
    }
    EXPECT_EQ(drain(q), std::vector<int>(model.begin(), model.end()));
}

TEST(Queue, RingBufferPushFrontAndBackMatchADeque) {
    asyncio::detail::ring_buffer<std::string> rb;
    std::deque<std::string> model;
    std::mt19937 rng(11);
    for (int step = 0; step < 5000; step++) {
        unsigned op = rng() % 4;
        std::string s = "item " + std::to_string(step);
        if (op == 0) {
            rb.push_front(std::string(s));
            model.push_front(s);
        } else if (op == 1) {
            rb.push_back(std::string(s));
            model.push_back(s);
        } else if (!model.empty()) {
            ASSERT_EQ(rb.pop_front(), model.front());
            model.pop_front();
        }
        ASSERT_EQ(rb.size(), model.size());
    }
    while (!model.empty()) {
        ASSERT_EQ(rb.pop_front(), model.front());
        model.pop_front();
    }
    EXPECT_TRUE(rb.empty());
}

// --- sizes and statistics -------------------------------------------------------------------------

coro<void> sizes_main() {
    asyncio::queue<int> unbounded;
    EXPECT_EQ(unbounded.maxsize(), 0);
    for (int i = 0; i < 1000; i++) co_await unbounded.put(i);  // never waits
    EXPECT_FALSE(unbounded.full());
    EXPECT_EQ(unbounded.qsize(), 1000u);

    asyncio::queue<int> negative(-3);  // <= 0: unbounded, as in Python
    for (int i = 0; i < 10; i++) negative.put_nowait(i);
    EXPECT_FALSE(negative.full());

    asyncio::queue<int> q(2);
    EXPECT_TRUE(q.empty());
    EXPECT_FALSE(q.full());
    q.put_nowait(1);
    EXPECT_FALSE(q.empty());
    EXPECT_FALSE(q.full());
    q.put_nowait(2);
    EXPECT_TRUE(q.full());
    EXPECT_EQ(q.qsize(), 2u);
    EXPECT_EQ(q.maxsize(), 2);
    asyncio::queue_statistics s = q.statistics();
    EXPECT_EQ(s.current_size, 2u);
    EXPECT_EQ(s.maxsize, 2);
    EXPECT_EQ(s.tasks_waiting_put, 0u);
    EXPECT_EQ(s.tasks_waiting_get, 0u);
    EXPECT_EQ(s.unfinished_tasks, 2u);
}
TEST(Queue, SizesFullEmptyAndStatistics) { run_test(sizes_main()); }

coro<void> statistics_counts_waiters_main() {
    log_t log;
    asyncio::queue<int> q(1);
    task<void> g1, g2;
    co_await queue_two_getters(&q, &log, &g1, &g2);
    EXPECT_EQ(q.statistics().tasks_waiting_get, 2u);
    q.put_nowait(1);
    q.put_nowait(2);  // g1 and g2 were each handed one: the queue stays empty
    EXPECT_EQ(q.statistics().tasks_waiting_get, 0u);
    EXPECT_EQ(q.qsize(), 0u);
    co_await g1;
    co_await g2;
    q.put_nowait(3);
    task<void> p1 = asyncio::create_task(putter(&q, 4, &log, "p1"));
    task<void> p2 = asyncio::create_task(putter(&q, 5, &log, "p2"));
    co_await yield_once();
    asyncio::queue_statistics s = q.statistics();
    EXPECT_EQ(s.tasks_waiting_put, 2u);
    EXPECT_EQ(s.current_size, 1u);
    EXPECT_EQ(s.unfinished_tasks, 3u);
    EXPECT_EQ(drain(q), (std::vector<int>{3}));
    co_await p1;
    EXPECT_EQ(drain(q), (std::vector<int>{4}));
    co_await p2;
    EXPECT_EQ(drain(q), (std::vector<int>{5}));
    EXPECT_EQ(log, (log_t{"g1 got 1", "g2 got 2", "p1 put", "p2 put"}));
}
TEST(Queue, StatisticsCountWaitingTasks) { run_test(statistics_counts_waiters_main()); }

// --- back-pressure and hand-off order ---------------------------------------------------------------

coro<void> back_pressure_main() {
    log_t log;
    asyncio::queue<int> q(2);
    std::vector<task<void>> putters;
    for (int i = 0; i < 5; i++) putters.push_back(asyncio::create_task(putter(&q, i, &log, "p" + show(i))));
    co_await yield_once();
    EXPECT_EQ(log, (log_t{"p0 put", "p1 put"}));  // the others wait at maxsize
    EXPECT_TRUE(q.full());
    EXPECT_EQ(q.statistics().tasks_waiting_put, 3u);
    std::vector<int> got;
    for (int i = 0; i < 5; i++) {
        int v = co_await q.get();
        got.push_back(v);
        co_await yield_once();  // the putter granted the slot runs
    }
    for (auto& t : putters) co_await t;
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_EQ(log, (log_t{"p0 put", "p1 put", "p2 put", "p3 put", "p4 put"}));
}
TEST(Queue, PuttersBlockAtMaxsizeAndResumeInOrder) { run_test(back_pressure_main()); }

coro<void> no_barging_putter_main() {
    log_t log;
    asyncio::queue<int> q(1);
    q.put_nowait(0);
    task<void> p1 = asyncio::create_task(putter(&q, 1, &log, "p1"));
    co_await yield_once();
    EXPECT_EQ(q.get_nowait(), 0);  // frees the slot: granted to p1, which has not run yet
    EXPECT_TRUE(q.full());         // the reservation counts
    EXPECT_THROW(q.put_nowait(99), asyncio::queue_full);
    co_await p1;
    EXPECT_EQ(log, (log_t{"p1 put"}));
    EXPECT_EQ(drain(q), (std::vector<int>{1}));
}
TEST(Queue, ASlotGrantedToAWaitingPutterCannotBeTakenByALaterPut) { run_test(no_barging_putter_main()); }

// A putter granted a slot finds a getter waiting by the time it runs: the item goes straight to
// the getter, and the slot, unused, passes to the next putter.
coro<void> granted_putter_hands_to_getter_main() {
    log_t log;
    asyncio::queue<int> q(1);
    task<void> p1, p2;
    co_await queue_two_putters(&q, &log, &p1, &p2);
    EXPECT_EQ(q.get_nowait(), 0);  // the slot is granted to p1
    int v = co_await q.get();      // waits (p1 has not run): p1 hands its item over
    EXPECT_EQ(v, 1);
    co_await p2;  // granted the slot p1 did not need
    EXPECT_EQ(log, (log_t{"p1 put", "p2 put"}));
    EXPECT_EQ(drain(q), (std::vector<int>{2}));
    co_await p1;
}
TEST(Queue, GrantedPutterHandsItsItemToAWaitingGetterAndPassesTheSlotOn) {
    run_test(granted_putter_hands_to_getter_main());
}

coro<void> getters_handoff_order_main() {
    log_t log;
    asyncio::queue<int> q;
    std::vector<task<void>> getters;
    for (int i = 1; i <= 3; i++) getters.push_back(asyncio::create_task(getter(&q, &log, "g" + show(i))));
    co_await yield_once();
    q.put_nowait(10);
    q.put_nowait(20);
    EXPECT_THROW(q.get_nowait(), asyncio::queue_empty);  // 10 and 20 belong to g1 and g2 already
    q.put_nowait(30);
    q.put_nowait(40);  // no getter left waiting: into the queue
    for (auto& t : getters) co_await t;
    EXPECT_EQ(log, (log_t{"g1 got 10", "g2 got 20", "g3 got 30"}));
    EXPECT_EQ(drain(q), (std::vector<int>{40}));
}
TEST(Queue, WaitingGettersAreHandedItemsInOrder) { run_test(getters_handoff_order_main()); }

// A getter that arrives while the queue holds items takes one without suspending: it does not
// let tasks that were ready before it run first.
coro<void> get_without_suspending_main() {
    log_t log;
    asyncio::queue<int> q;
    q.put_nowait(5);
    task<void> other = asyncio::create_task(getter(&q, &log, "other"));
    int v = co_await q.get();
    log.push_back("main got " + show(v));
    q.put_nowait(6);
    co_await other;
    EXPECT_EQ(log, (log_t{"main got 5", "other got 6"}));
}
TEST(Queue, GetWithAnItemThereDoesNotSuspend) { run_test(get_without_suspending_main()); }

// --- cancellation ------------------------------------------------------------------------------------

coro<void> cancel_queued_getter_main() {
    log_t log;
    asyncio::queue<int> q;
    task<void> g1, g2;
    co_await queue_two_getters(&q, &log, &g1, &g2);
    g1.cancel();
    co_await g1;
    EXPECT_EQ(q.statistics().tasks_waiting_get, 1u);
    q.put_nowait(7);
    co_await g2;
    EXPECT_EQ(log, (log_t{"g1 cancelled", "g2 got 7"}));
    EXPECT_TRUE(q.empty());
}
TEST(Queue, CancelledWaitingGetterTakesNothing) { run_test(cancel_queued_getter_main()); }

coro<void> granted_getter_cancelled_next_getter_main() {
    log_t log;
    asyncio::queue<int> q;
    task<void> g1, g2;
    co_await queue_two_getters(&q, &log, &g1, &g2);
    q.put_nowait(7);  // handed to g1
    g1.cancel();      // before g1 ran
    co_await g1;
    co_await g2;
    EXPECT_EQ(log, (log_t{"g1 cancelled", "g2 got 7"}));
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.statistics().unfinished_tasks, 1u);
}
TEST(Queue, GetterHandedAnItemThenCancelledPassesItToTheNextGetter) {
    run_test(granted_getter_cancelled_next_getter_main());
}

// With no other getter the item goes back where the next get finds it first: the front of a
// FIFO queue, the top of a LIFO queue, into the heap of a priority queue.
template <class Q>
coro<void> granted_getter_cancelled_gives_back(Q* q, int handed, const std::vector<int>* later, log_t* log) {
    task<void> g1 = asyncio::create_task(getter(q, log, "g1"));
    co_await yield_once();
    q->put_nowait(handed);  // handed to g1
    for (int v : *later) q->put_nowait(v);
    g1.cancel();
    co_await g1;
}

coro<void> granted_getter_cancelled_back_into_queue_main() {
    log_t log;
    const std::vector<int> two_three = {2, 3}, nine_one = {9, 1};
    asyncio::queue<int> fifo;
    co_await granted_getter_cancelled_gives_back(&fifo, 1, &two_three, &log);
    EXPECT_EQ(drain(fifo), (std::vector<int>{1, 2, 3}));
    asyncio::lifo_queue<int> lifo;
    co_await granted_getter_cancelled_gives_back(&lifo, 1, &two_three, &log);
    EXPECT_EQ(drain(lifo), (std::vector<int>{1, 3, 2}));
    asyncio::priority_queue<int> prio;
    co_await granted_getter_cancelled_gives_back(&prio, 5, &nine_one, &log);
    EXPECT_EQ(drain(prio), (std::vector<int>{1, 5, 9}));
    EXPECT_EQ(log, (log_t{"g1 cancelled", "g1 cancelled", "g1 cancelled"}));
}
TEST(Queue, GetterHandedAnItemThenCancelledPutsItBack) {
    run_test(granted_getter_cancelled_back_into_queue_main());
}

coro<void> cancel_queued_putter_main() {
    log_t log;
    asyncio::queue<int> q(1);
    task<void> p1, p2;
    co_await queue_two_putters(&q, &log, &p1, &p2);
    p1.cancel();
    co_await p1;
    EXPECT_EQ(q.statistics().tasks_waiting_put, 1u);
    EXPECT_EQ(q.get_nowait(), 0);  // the slot goes to p2
    co_await p2;
    EXPECT_EQ(log, (log_t{"p1 cancelled", "p2 put"}));
    EXPECT_EQ(drain(q), (std::vector<int>{2}));
    EXPECT_EQ(q.statistics().unfinished_tasks, 2u);  // 0 and 2: p1 added nothing
}
TEST(Queue, CancelledWaitingPutterAddsNothing) { run_test(cancel_queued_putter_main()); }

coro<void> granted_putter_cancelled_main() {
    log_t log;
    asyncio::queue<int> q(1);
    task<void> p1, p2;
    co_await queue_two_putters(&q, &log, &p1, &p2);
    EXPECT_EQ(q.get_nowait(), 0);  // the slot is granted to p1
    p1.cancel();                   // before p1 ran
    co_await p1;                   // p1 releases the slot to p2
    co_await p2;
    EXPECT_EQ(log, (log_t{"p1 cancelled", "p2 put"}));
    EXPECT_EQ(drain(q), (std::vector<int>{2}));
    EXPECT_EQ(q.statistics().unfinished_tasks, 2u);
    EXPECT_FALSE(q.full());
}
TEST(Queue, PutterGrantedASlotThenCancelledAddsNothingAndPassesTheSlotOn) {
    run_test(granted_putter_cancelled_main());
}

coro<void> granted_putter_cancelled_alone_main() {
    log_t log;
    asyncio::queue<int> q(1);
    q.put_nowait(0);
    task<void> p1 = asyncio::create_task(putter(&q, 1, &log, "p1"));
    co_await yield_once();
    EXPECT_EQ(q.get_nowait(), 0);
    EXPECT_TRUE(q.full());  // reserved for p1
    p1.cancel();
    co_await p1;
    EXPECT_FALSE(q.full());  // released
    EXPECT_TRUE(q.empty());
    q.put_nowait(3);
    EXPECT_EQ(drain(q), (std::vector<int>{3}));
    EXPECT_EQ(log, (log_t{"p1 cancelled"}));
}
TEST(Queue, PutterGrantedASlotThenCancelledReleasesIt) { run_test(granted_putter_cancelled_alone_main()); }

coro<void> join_cancelled_main() {
    log_t log;
    asyncio::queue<int> q;
    q.put_nowait(1);
    task<void> j1 = asyncio::create_task(joiner(&q, &log, "j1"));
    task<void> j2 = asyncio::create_task(joiner(&q, &log, "j2"));
    co_await yield_once();
    j1.cancel();  // waiting
    co_await j1;
    EXPECT_EQ(q.get_nowait(), 1);
    q.task_done();  // wakes j2 ...
    j2.cancel();    // ... which is cancelled before it ran
    co_await j2;
    EXPECT_EQ(log, (log_t{"j1 cancelled", "j2 cancelled"}));
    co_await q.join();  // nothing unfinished: returns at once
}
TEST(Queue, JoinCancelledWhileWaitingAndAfterBeingWoken) { run_test(join_cancelled_main()); }

// A cancellation already pending when the task reaches a blocking get()/put()/join() is taken
// there at once (Python: the task cancels what it awaits); the queue is unchanged.
coro<void> cancel_self_then_wait(asyncio::queue<int>* empty, asyncio::queue<int>* full, log_t* log) {
    asyncio::current_task().cancel("early");
    try {
        int v = co_await empty->get();
        log->push_back("got " + show(v));
    } catch (const asyncio::cancelled_error& e) {
        log->push_back("get cancelled: " + e.message());
    }
    asyncio::current_task().cancel();
    try {
        co_await full->put(9);
        log->push_back("put");
    } catch (const asyncio::cancelled_error&) {
        log->push_back("put cancelled");
    }
    asyncio::current_task().cancel();
    try {
        co_await full->join();
        log->push_back("joined");
    } catch (const asyncio::cancelled_error&) {
        log->push_back("join cancelled");
    }
}

coro<void> cancel_pending_at_await_main() {
    log_t log;
    asyncio::queue<int> empty;
    asyncio::queue<int> full(1);
    full.put_nowait(0);
    co_await cancel_self_then_wait(&empty, &full, &log);
    EXPECT_EQ(log, (log_t{"get cancelled: early", "put cancelled", "join cancelled"}));
    EXPECT_EQ(drain(full), (std::vector<int>{0}));
    EXPECT_EQ(empty.statistics().tasks_waiting_get, 0u);
    EXPECT_EQ(full.statistics().tasks_waiting_put, 0u);
    EXPECT_EQ(full.statistics().unfinished_tasks, 1u);
}
TEST(Queue, CancellationPendingAtTheAwaitIsTaken) { run_test(cancel_pending_at_await_main()); }

// --- task_done / join ---------------------------------------------------------------------------------

coro<void> worker(asyncio::queue<int>* q, log_t* log) {
    for (int i = 0; i < 3; i++) {
        int v = co_await q->get();
        co_await asyncio::sleep(10ms);
        log->push_back("done " + show(v));
        q->task_done();
    }
}

coro<void> join_main() {
    log_t log;
    asyncio::queue<int> q;
    co_await q.join();  // nothing put: returns at once
    for (int i = 1; i <= 3; i++) q.put_nowait(i);
    EXPECT_EQ(q.statistics().unfinished_tasks, 3u);
    task<void> w = asyncio::create_task(worker(&q, &log));
    task<void> j = asyncio::create_task(joiner(&q, &log, "j"));
    auto t0 = now();
    co_await q.join();
    log.push_back("main joined");
    EXPECT_EQ(since(t0), 30ms);
    co_await j;
    co_await w;
    // main started waiting first (j had not run yet), so it is woken first.
    EXPECT_EQ(log, (log_t{"done 1", "done 2", "done 3", "main joined", "j joined"}));
    EXPECT_THROW(q.task_done(), std::invalid_argument);
}
TEST(Queue, JoinWaitsForEveryTaskDone) { run_test(join_main()); }

// --- shutdown ------------------------------------------------------------------------------------------

coro<void> shutdown_wakes_putters_main() {
    log_t log;
    asyncio::queue<int> q(1);
    q.put_nowait(1);
    task<void> p1 = asyncio::create_task(putter(&q, 2, &log, "p1"));
    task<void> p2 = asyncio::create_task(putter(&q, 3, &log, "p2"));
    task<void> j = asyncio::create_task(joiner(&q, &log, "j"));
    co_await yield_once();
    q.shutdown();
    co_await p1;
    co_await p2;
    EXPECT_EQ(log, (log_t{"p1 shut down", "p2 shut down"}));
    EXPECT_THROW(q.put_nowait(4), asyncio::queue_shut_down);
    bool put_threw = false;
    try {
        co_await q.put(4);
    } catch (const asyncio::queue_shut_down&) {
        put_threw = true;
    }
    EXPECT_TRUE(put_threw);
    // The item already in the queue is still handed out; then get throws.
    int v = co_await q.get();
    EXPECT_EQ(v, 1);
    EXPECT_THROW(q.get_nowait(), asyncio::queue_shut_down);
    task<void> g = asyncio::create_task(getter(&q, &log, "g"));
    co_await g;
    EXPECT_FALSE(j.done());  // join still waits for task_done
    q.task_done();
    co_await j;
    EXPECT_EQ(log, (log_t{"p1 shut down", "p2 shut down", "g shut down", "j joined"}));
}
TEST(Queue, ShutdownWakesBlockedPuttersAndKeepsItems) { run_test(shutdown_wakes_putters_main()); }

coro<void> shutdown_wakes_getters_main() {
    log_t log;
    asyncio::lifo_queue<int> q;
    task<void> g1, g2;
    co_await queue_two_getters(&q, &log, &g1, &g2);
    q.shutdown();
    q.shutdown();  // twice is fine
    co_await g1;
    co_await g2;
    EXPECT_EQ(log, (log_t{"g1 shut down", "g2 shut down"}));
}
TEST(Queue, ShutdownWakesBlockedGetters) { run_test(shutdown_wakes_getters_main()); }

coro<void> shutdown_immediate_main() {
    log_t log;
    asyncio::queue<int> q(2);
    q.put_nowait(1);
    q.put_nowait(2);
    EXPECT_EQ(q.get_nowait(), 1);  // taken, not yet done
    q.put_nowait(3);
    task<void> p = asyncio::create_task(putter(&q, 4, &log, "p"));
    task<void> j = asyncio::create_task(joiner(&q, &log, "j"));
    co_await yield_once();
    EXPECT_EQ(q.statistics().unfinished_tasks, 3u);
    q.shutdown(true);  // drops 2 and 3 (counted done); 1 is still unfinished
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.statistics().unfinished_tasks, 1u);
    co_await p;
    EXPECT_THROW(q.get_nowait(), asyncio::queue_shut_down);
    EXPECT_FALSE(j.done());
    q.task_done();
    co_await j;
    EXPECT_EQ(log, (log_t{"p shut down", "j joined"}));
}
TEST(Queue, ShutdownImmediateDrainsCountsDoneAndWakesPutters) { run_test(shutdown_immediate_main()); }

coro<void> shutdown_immediate_wakes_getters_and_join_main() {
    log_t log;
    asyncio::queue<int> q;
    q.put_nowait(0);
    task<void> j = asyncio::create_task(joiner(&q, &log, "j"));
    co_await yield_once();         // j waits
    EXPECT_EQ(q.get_nowait(), 0);  // taken, not yet done
    task<void> g1, g2;
    co_await queue_two_getters(&q, &log, &g1, &g2);
    q.put_nowait(1);  // handed to g1, which has not run yet
    q.put_nowait(2);  // handed to g2
    q.put_nowait(3);  // in the queue
    EXPECT_EQ(q.statistics().unfinished_tasks, 4u);
    q.shutdown(true);
    EXPECT_EQ(q.statistics().unfinished_tasks, 3u);
    co_await g1;
    co_await g2;
    // As in Python: the woken getters find the queue shut down; their items are discarded and
    // counted done with the rest.
    EXPECT_EQ(log, (log_t{"g1 shut down", "g2 shut down"}));
    EXPECT_EQ(q.statistics().unfinished_tasks, 1u);
    EXPECT_FALSE(j.done());
    q.task_done();  // item 0
    co_await j;
    EXPECT_EQ(log, (log_t{"g1 shut down", "g2 shut down", "j joined"}));
}
TEST(Queue, ShutdownImmediateDiscardsItemsHandedToGettersThatHaveNotRun) {
    run_test(shutdown_immediate_wakes_getters_and_join_main());
}

coro<void> shutdown_granted_waiters_main() {
    log_t log;
    asyncio::queue<int> q(1);
    task<void> g = asyncio::create_task(getter(&q, &log, "g"));
    co_await yield_once();
    q.put_nowait(1);  // handed to g
    q.put_nowait(2);
    task<void> p = asyncio::create_task(putter(&q, 3, &log, "p"));
    co_await yield_once();         // g got 1; p waits
    EXPECT_EQ(q.get_nowait(), 2);  // the slot is granted to p, which has not run yet
    q.shutdown();
    co_await g;
    co_await p;
    // p finds the queue shut down (Python: its put_nowait raises); nothing was added.
    EXPECT_EQ(log, (log_t{"g got 1", "p shut down"}));
    EXPECT_TRUE(q.empty());
    EXPECT_FALSE(q.full());
}
TEST(Queue, PutterGrantedASlotBeforeShutdownThrowsQueueShutDown) {
    run_test(shutdown_granted_waiters_main());
}

// A getter "g" is handed item 1; in the same iteration `q` is shut down (immediately or not)
// and g is cancelled.
coro<void> hand_then_shut_down_and_cancel_getter(asyncio::queue<int>* q, log_t* log, bool immediate) {
    task<void> g = asyncio::create_task(getter(q, log, "g"));
    co_await yield_once();
    q->put_nowait(1);
    q->shutdown(immediate);
    g.cancel();
    co_await g;
}

// A getter handed an item, cancelled and shut down (not immediately) in the same iteration:
// the item goes back into the queue, where a later get finds it.
coro<void> shutdown_then_granted_getter_cancelled_main() {
    log_t log;
    asyncio::queue<int> q;
    co_await hand_then_shut_down_and_cancel_getter(&q, &log, false);
    EXPECT_EQ(log, (log_t{"g cancelled"}));
    EXPECT_EQ(q.get_nowait(), 1);
    EXPECT_THROW(q.get_nowait(), asyncio::queue_shut_down);
}
TEST(Queue, GetterCancelledAfterShutdownGivesItsItemBack) {
    run_test(shutdown_then_granted_getter_cancelled_main());
}

// The same with shutdown(immediate=true): the item is discarded with the rest (counted done).
coro<void> shutdown_immediate_then_granted_getter_cancelled_main() {
    log_t log;
    asyncio::queue<int> q;
    co_await hand_then_shut_down_and_cancel_getter(&q, &log, true);
    EXPECT_EQ(log, (log_t{"g cancelled"}));
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.statistics().unfinished_tasks, 0u);
    co_await q.join();
}
TEST(Queue, GetterCancelledAfterShutdownImmediateDiscardsItsItem) {
    run_test(shutdown_immediate_then_granted_getter_cancelled_main());
}

// --- bad input -----------------------------------------------------------------------------------------

TEST(Queue, BadInputErrors) {
    asyncio::queue<int> q(1);
    try {
        q.task_done();
        ADD_FAILURE() << "task_done did not throw";
    } catch (const std::invalid_argument& e) {
        EXPECT_STREQ(e.what(), "task_done() called too many times");
    }
    EXPECT_THROW(q.get_nowait(), asyncio::queue_empty);
    q.put_nowait(1);
    EXPECT_THROW(q.put_nowait(2), asyncio::queue_full);
    EXPECT_EQ(q.get_nowait(), 1);
    q.task_done();
    EXPECT_THROW(q.task_done(), std::invalid_argument);
    q.shutdown();
    EXPECT_THROW(q.put_nowait(3), asyncio::queue_shut_down);
    EXPECT_THROW(q.get_nowait(), asyncio::queue_shut_down);
    // All derive from std::exception (Python: Exception), unlike cancelled_error.
    EXPECT_STREQ(asyncio::queue_full().what(), "queue is full");
    EXPECT_STREQ(asyncio::queue_empty().what(), "queue is empty");
    EXPECT_STREQ(asyncio::queue_shut_down().what(), "queue is shut down");
}

// --- move-only values --------------------------------------------------------------------------------

struct by_pointee {
    bool operator()(const std::unique_ptr<int>& a, const std::unique_ptr<int>& b) const { return *a < *b; }
};

coro<void> move_only_main() {
    log_t log;
    asyncio::queue<std::unique_ptr<int>> q(1);
    task<void> g = asyncio::create_task(getter(&q, &log, "g"));
    co_await yield_once();
    co_await q.put(std::make_unique<int>(1));  // handed over
    co_await g;
    q.put_nowait(std::make_unique<int>(2));
    task<void> p = asyncio::create_task(putter(&q, std::make_unique<int>(3), &log, "p"));
    co_await yield_once();
    std::unique_ptr<int> a = co_await q.get();
    co_await p;
    std::unique_ptr<int> b = q.get_nowait();
    EXPECT_EQ(*a, 2);
    EXPECT_EQ(*b, 3);

    // A cancelled getter gives a move-only item back intact.
    task<void> g2 = asyncio::create_task(getter(&q, &log, "g2"));
    co_await yield_once();
    q.put_nowait(std::make_unique<int>(4));
    g2.cancel();
    co_await g2;
    std::unique_ptr<int> c = q.get_nowait();
    EXPECT_EQ(*c, 4);

    asyncio::priority_queue<std::unique_ptr<int>, by_pointee> pq;
    for (int v : {3, 1, 2}) pq.put_nowait(std::make_unique<int>(v));
    asyncio::lifo_queue<std::unique_ptr<int>> lq;
    for (int v : {3, 1, 2}) lq.put_nowait(std::make_unique<int>(v));
    std::vector<int> order;
    while (!pq.empty()) order.push_back(*pq.get_nowait());
    while (!lq.empty()) order.push_back(*lq.get_nowait());
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 2, 1, 3}));
    EXPECT_EQ(log, (log_t{"g got *1", "p put", "g2 cancelled"}));
}
TEST(Queue, MoveOnlyValues) { run_test(move_only_main()); }

// --- binding to a loop -------------------------------------------------------------------------------

coro<std::string> wait_and_report(asyncio::queue<int>* q) {
    try {
        int v = co_await q->get();
        co_return "got " + show(v);
    } catch (const std::runtime_error& e) {
        co_return e.what();
    }
}

coro<void> put_soon(asyncio::queue<int>* q) {
    task<std::string> t = asyncio::create_task(wait_and_report(q));
    co_await yield_once();
    q->put_nowait(1);
    std::string r = co_await t;
    EXPECT_EQ(r, "got 1");
}

TEST(Queue, BindsToTheFirstLoopItWaitsOn) {
    asyncio::queue<int> q;  // constructed before any loop
    asyncio::loop_options opts;
    opts.clock = asyncio::clock_kind::virtual_time;
    asyncio::event_loop first(opts);
    asyncio::event_loop second(opts);
    first.run_until_complete(put_soon(&q));
    q.put_nowait(2);
    // Taking an item that is there does not wait, so it works from any loop (as in Python).
    EXPECT_EQ(second.run_until_complete(wait_and_report(&q)), "got 2");
    EXPECT_EQ(second.run_until_complete(wait_and_report(&q)), "queue is bound to a different event loop");
    first.close();
    second.close();
}

// --- stress ------------------------------------------------------------------------------------------

struct stress_state {
    std::vector<int> received;  // per item: how many times a consumer got it
    std::vector<char> sent;     // per item: its put completed
    // When each task entered the put/get it is blocked in (0: it is not in one), where the
    // canceller aims: the oldest is the first in line, or was just handed an item or a slot.
    std::vector<long> producer_in_put, consumer_in_get;
    long clock = 0;
    int producers_cancelled = 0;
    int consumers_cancelled = 0;
};

// Alternates every 20 ms between slow consumers (the queue fills, producers block in put) and
// fast ones (it drains, consumers block in get).
bool consumers_slow() {
    auto t = std::chrono::duration_cast<ms>(asyncio::get_running_loop().time().time_since_epoch()).count();
    return (t / 20) % 2 == 0;
}

coro<void> stress_producer(asyncio::queue<int>* q, stress_state* st, int id, int per_producer,
                           unsigned seed) {
    std::mt19937 rng(seed);
    for (int k = 0; k < per_producer; k++) {
        int item = id * per_producer + k;
        co_await asyncio::sleep(ms(rng() % 20));
        st->producer_in_put[static_cast<std::size_t>(id)] = ++st->clock;
        co_await q->put(item);
        st->producer_in_put[static_cast<std::size_t>(id)] = 0;
        st->sent[static_cast<std::size_t>(item)] = 1;
    }
}

coro<void> stress_consumer(asyncio::queue<int>* q, stress_state* st, int id, unsigned seed) {
    std::mt19937 rng(seed);
    for (;;) {
        std::optional<int> item;
        st->consumer_in_get[static_cast<std::size_t>(id)] = ++st->clock;
        try {
            item = co_await q->get();
        } catch (const asyncio::queue_shut_down&) {
        }
        st->consumer_in_get[static_cast<std::size_t>(id)] = 0;
        if (!item) break;
        st->received[static_cast<std::size_t>(*item)]++;
        q->task_done();
        co_await asyncio::sleep(ms(consumers_slow() ? rng() % 200 : 0));
    }
}

// A task that is in put/get now and not done: the one that entered it first, or a random one;
// any task if none is.
std::size_t pick(const std::vector<long>& in_op, const std::vector<task<void>>& tasks, bool oldest,
                 std::mt19937& rng) {
    std::size_t n = in_op.size(), start = rng() % n, best = start;
    for (std::size_t i = 0; i < n; i++) {
        std::size_t k = (start + i) % n;
        if (!in_op[k] || tasks[k].done()) continue;
        if (!oldest) return k;
        if (!in_op[best] || tasks[best].done() || in_op[k] < in_op[best]) best = k;
    }
    return best;
}

coro<void> stress_main() {
    constexpr int producers = 1000, consumers = 1000, per_producer = 5;
    constexpr std::size_t items = static_cast<std::size_t>(producers) * per_producer;
    asyncio::queue<int> q(10);
    stress_state st;
    st.received.assign(items, 0);
    st.sent.assign(items, 0);
    st.producer_in_put.assign(producers, 0);
    st.consumer_in_get.assign(consumers, 0);
    std::vector<task<void>> prod, cons;
    for (int i = 0; i < producers; i++)
        prod.push_back(asyncio::create_task(
            stress_producer(&q, &st, i, per_producer, 1000u + static_cast<unsigned>(i))));
    for (int i = 0; i < consumers; i++)
        cons.push_back(asyncio::create_task(stress_consumer(&q, &st, i, 5000u + static_cast<unsigned>(i))));
    // Cancel producers and consumers at random points, mostly ones blocked in put/get: some
    // while queued, some in the iteration they were handed an item or granted a slot.
    std::mt19937 rng(42);
    for (int step = 0; step < 300; step++) {
        co_await asyncio::sleep(ms(rng() % 4 == 0 ? 1 : 0));
        bool oldest = step % 2 == 0;
        prod[pick(st.producer_in_put, prod, oldest, rng)].cancel();
        cons[pick(st.consumer_in_get, cons, oldest, rng)].cancel();
    }
    for (auto& t : prod) {
        try {
            co_await t;
        } catch (const asyncio::cancelled_error&) {
            st.producers_cancelled++;
        }
    }
    co_await q.join();  // every item put was taken and marked done
    q.shutdown();
    for (auto& t : cons) {
        try {
            co_await t;
        } catch (const asyncio::cancelled_error&) {
            st.consumers_cancelled++;
        }
    }
    std::size_t sent = 0, bad = 0;
    for (std::size_t i = 0; i < items; i++) {
        sent += st.sent[i] ? 1 : 0;
        if (st.received[i] != (st.sent[i] ? 1 : 0)) bad++;
    }
    EXPECT_EQ(bad, 0u) << "items delivered other than exactly once per completed put";
    EXPECT_GT(st.producers_cancelled, 100);  // the cancellations hit tasks mid-way
    EXPECT_GT(st.consumers_cancelled, 100);
    EXPECT_LT(sent, items);
    EXPECT_GT(sent, items / 2);
    asyncio::queue_statistics s = q.statistics();
    EXPECT_EQ(s.current_size, 0u);
    EXPECT_EQ(s.unfinished_tasks, 0u);
    EXPECT_EQ(s.tasks_waiting_get, 0u);
    EXPECT_EQ(s.tasks_waiting_put, 0u);
    EXPECT_FALSE(q.full());
}
TEST(Queue, StressThousandProducersAndConsumersWithRandomCancellations) { run_test(stress_main()); }

}  // namespace
