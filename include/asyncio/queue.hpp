// asyncio::queue, asyncio::priority_queue, asyncio::lifo_queue: queues for tasks of one loop.
// Python: asyncio.Queue, asyncio.PriorityQueue, asyncio.LifoQueue (3.13, with shutdown()).
//
// How it works (and where it differs from CPython's queues.py, which wakes a waiter and lets it
// retry): what a waiter waits for is handed to it, so nobody can barge past it.
// - A put that finds a getter waiting moves the item straight into that getter's awaiter (no
//   container traffic). Getters wait only while the container is empty, so this keeps FIFO order.
// - A get that frees a slot of a bounded queue grants it to the first waiting putter as a
//   *reservation*; full() counts reservations, so a put arriving later cannot take that slot.
//   The putter adds its item when it resumes: items enter the queue in the order the puts
//   complete (return to their callers).
// - Cancellation never loses or invents an item: a getter granted an item and then cancelled
//   before it ran gives the item back (to the next getter, else where it came from: the front of
//   a FIFO queue, the top of a LIFO queue, into the heap of a priority queue); a putter granted a
//   reservation and then cancelled before it ran releases it (to the next putter) and adds nothing.
// Waiters are the awaiter objects in the waiting coroutines' frames: waiting allocates nothing.
// The uncontended put/get allocates nothing beyond the container's own storage (a ring buffer, a
// vector stack, a vector heap), which grows by doubling and is kept.
#pragma once

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "detail/waiter_queue.hpp"
#include "errors.hpp"

namespace asyncio {

/// What statistics() reports (as Trio's MemoryChannelStatistics).
struct queue_statistics {
    std::size_t current_size = 0;       // qsize(): items in the queue
    std::ptrdiff_t maxsize = 0;         // maxsize(); <= 0: unbounded
    std::size_t tasks_waiting_put = 0;  // tasks blocked in put() (not yet granted a slot)
    std::size_t tasks_waiting_get = 0;  // tasks blocked in get() (not yet handed an item)
    std::size_t unfinished_tasks = 0;   // items put and not yet marked done by task_done()
};

namespace detail {

/// A FIFO ring buffer (power-of-two capacity, grows by doubling, never shrinks) that can also
/// push at the front. Unlike std::deque it allocates nothing once it has grown to its working size.
template <class T>
class ring_buffer {
  public:
    ring_buffer() noexcept = default;
    ring_buffer(const ring_buffer&) = delete;
    ring_buffer& operator=(const ring_buffer&) = delete;
    ~ring_buffer() {
        clear();
        if (buf_) std::allocator<T>().deallocate(buf_, cap_);
    }

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

    void push_back(T&& v) {
        if (size_ == cap_) grow();
        ::new (static_cast<void*>(at(size_))) T(std::move(v));
        ++size_;
    }
    void push_front(T&& v) {
        if (size_ == cap_) grow();
        std::size_t h = (head_ + cap_ - 1) & (cap_ - 1);
        ::new (static_cast<void*>(buf_ + h)) T(std::move(v));
        head_ = h;
        ++size_;
    }
    T pop_front() {
        T* p = buf_ + head_;
        T v(std::move(*p));
        p->~T();
        head_ = (head_ + 1) & (cap_ - 1);
        --size_;
        return v;
    }
    void clear() noexcept {
        for (std::size_t i = 0; i < size_; i++) at(i)->~T();
        head_ = 0;
        size_ = 0;
    }

  private:
    T* at(std::size_t i) noexcept { return buf_ + ((head_ + i) & (cap_ - 1)); }

    void grow() {
        std::size_t new_cap = cap_ ? cap_ * 2 : 8;
        T* nb = std::allocator<T>().allocate(new_cap);
        std::size_t done = 0;
        try {
            // Copies instead of moving when a move could throw (and a copy exists): a throwing
            // move would leave the old buffer half moved-from.
            for (; done < size_; done++)
                ::new (static_cast<void*>(nb + done)) T(std::move_if_noexcept(*at(done)));
        } catch (...) {
            for (std::size_t i = 0; i < done; i++) nb[i].~T();
            std::allocator<T>().deallocate(nb, new_cap);
            throw;
        }
        std::size_t n = size_;
        clear();
        if (buf_) std::allocator<T>().deallocate(buf_, cap_);
        buf_ = nb;
        cap_ = new_cap;
        size_ = n;
    }

    T* buf_ = nullptr;
    std::size_t cap_ = 0;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

// The containers of the three queues. Each has push (a put), pop (a get), give_back (an item
// returned by a getter that was cancelled after it was handed the item: it goes back where the
// next get takes it from first), size, empty, clear, and the name used in error messages.

template <class T>
struct fifo_store {
    static constexpr const char* name = "queue";
    ring_buffer<T> items;
    void push(T&& v) { items.push_back(std::move(v)); }
    T pop() { return items.pop_front(); }
    void give_back(T&& v) { items.push_front(std::move(v)); }
    std::size_t size() const noexcept { return items.size(); }
    bool empty() const noexcept { return items.empty(); }
    void clear() noexcept { items.clear(); }
};

template <class T>
struct lifo_store {
    static constexpr const char* name = "lifo_queue";
    std::vector<T> items;
    void push(T&& v) { items.push_back(std::move(v)); }
    T pop() {
        T v(std::move(items.back()));
        items.pop_back();
        return v;
    }
    void give_back(T&& v) { items.push_back(std::move(v)); }
    std::size_t size() const noexcept { return items.size(); }
    bool empty() const noexcept { return items.empty(); }
    void clear() noexcept { items.clear(); }
};

// A binary min-heap under Compare (Python's heapq: the smallest item first). The std heap
// algorithms keep the largest under their comparator on top, hence the swapped arguments.
template <class T, class Compare>
struct heap_store {
    static constexpr const char* name = "priority_queue";
    std::vector<T> items;
    [[no_unique_address]] Compare comp;

    explicit heap_store(Compare c = Compare()) : comp(std::move(c)) {}
    void push(T&& v) {
        items.push_back(std::move(v));
        std::push_heap(items.begin(), items.end(), greater());
    }
    T pop() {
        std::pop_heap(items.begin(), items.end(), greater());
        T v(std::move(items.back()));
        items.pop_back();
        return v;
    }
    void give_back(T&& v) { push(std::move(v)); }
    std::size_t size() const noexcept { return items.size(); }
    bool empty() const noexcept { return items.empty(); }
    void clear() noexcept { items.clear(); }

  private:
    auto greater() {
        return [this](const T& a, const T& b) { return comp(b, a); };
    }
};

/// The queue machinery shared by the three queues; `Store` decides the order.
template <class T, class Store>
class basic_queue {
  public:
    using value_type = T;

    /// `store_args` construct the container (a priority queue's Compare).
    template <class... StoreArgs>
    explicit basic_queue(std::ptrdiff_t maxsize, StoreArgs&&... store_args)
        : store_(std::forward<StoreArgs>(store_args)...),
          maxsize_(maxsize),
          limit_(maxsize > 0 ? static_cast<std::size_t>(maxsize) : std::numeric_limits<std::size_t>::max()) {}
    basic_queue(const basic_queue&) = delete;
    basic_queue& operator=(const basic_queue&) = delete;

    class get_awaiter;
    class put_awaiter;
    class join_awaiter;

    /// Waits for an item and removes it (an item already there is taken without suspending).
    /// Throws queue_shut_down if the queue is shut down and empty (also to a getter blocked
    /// when shutdown() is called).
    ///
    /// Cancellation: a getter cancelled while it waits takes nothing and throws cancelled_error.
    /// A getter that was handed an item and cancelled before it could run (the same loop
    /// iteration) gives the item back (to the next waiting getter, else into the queue where the
    /// next get finds it first) and throws cancelled_error: a cancelled get loses no item.
    [[nodiscard]] get_awaiter get() noexcept { return get_awaiter(this); }

    /// Puts an item, waiting while the queue is full (an unbounded queue never waits). Throws
    /// queue_shut_down if the queue is shut down (also to a putter blocked when shutdown() is
    /// called, and to one that was granted a slot but had not run yet).
    ///
    /// Cancellation: a putter cancelled while it waits adds nothing and throws cancelled_error.
    /// A putter that was granted a free slot and cancelled before it could run releases the slot
    /// (to the next waiting putter), adds nothing, and throws cancelled_error: a cancelled put
    /// adds no item. A put that returns normally has added its item.
    [[nodiscard]] put_awaiter put(T item) noexcept(std::is_nothrow_move_constructible_v<T>) {
        return put_awaiter(this, std::move(item));
    }

    /// Waits until every item put has been marked done with task_done() (returns at once when
    /// none is unfinished).
    ///
    /// Cancellation: throws cancelled_error (also when the count reached zero in the same
    /// iteration); the queue is not affected.
    [[nodiscard]] join_awaiter join() noexcept { return join_awaiter(this); }

    /// Puts an item without waiting. Throws queue_shut_down after shutdown(), queue_full when
    /// full() (a slot granted to a waiting putter counts as taken).
    void put_nowait(T item) {
        if (shut_down_) throw queue_shut_down();
        if (full()) throw queue_full();
        deliver(std::move(item));
    }

    /// Removes and returns an item without waiting. Throws queue_empty when there is none
    /// (queue_shut_down when there is none and the queue is shut down).
    T get_nowait() {
        if (!store_.empty()) return take();
        if (shut_down_) throw queue_shut_down();
        throw queue_empty();
    }

    /// Marks one item taken with get() as processed (for join()). Throws std::invalid_argument
    /// ("task_done() called too many times") when no item is unfinished.
    void task_done() {
        if (unfinished_ == 0) throw std::invalid_argument("task_done() called too many times");
        if (--unfinished_ == 0) wake_joiners();
    }

    /// Python 3.13's Queue.shutdown. Afterwards put() and put_nowait() throw queue_shut_down,
    /// and get() throws it once the queue is empty; blocked putters and getters are woken with
    /// queue_shut_down. immediate = true also discards the items in the queue (counted as done
    /// for join()), so get() throws at once; an item handed to a getter that has not run yet is
    /// discarded the same way (that getter throws queue_shut_down, as in Python).
    void shutdown(bool immediate = false) {
        shut_down_ = true;
        if (immediate) {
            immediate_ = true;
            std::size_t n = store_.size();
            store_.clear();
            count_dropped(n);
        }
        while (detail::sync_waiter* w = getters_.pop_front()) detail::waiter_queue::grant(w);  // with no item
        while (detail::sync_waiter* w = putters_.pop_front()) {
            static_cast<put_awaiter*>(w)->shut_down_ = true;
            detail::waiter_queue::grant(w);
        }
    }

    /// Number of items in the queue.
    std::size_t qsize() const noexcept { return store_.size(); }
    std::ptrdiff_t maxsize() const noexcept { return maxsize_; }
    bool empty() const noexcept { return store_.empty(); }
    /// True when a put would wait: maxsize() > 0 and the items in the queue plus the slots
    /// granted to putters that have not run yet reach maxsize().
    bool full() const noexcept { return store_.size() + reserved_ >= limit_; }

    queue_statistics statistics() const noexcept {
        return queue_statistics{store_.size(), maxsize_, putters_.size(), getters_.size(), unfinished_};
    }

    class get_awaiter : public detail::sync_waiter {
      public:
        explicit get_awaiter(basic_queue* q) noexcept : q_(q) {}
        // An item there (or a shut-down queue): no suspension, await_resume takes it.
        bool await_ready() const noexcept { return !q_->store_.empty() || q_->shut_down_; }
        template <class P>
        void await_suspend(std::coroutine_handle<P> h) {
            q_->suspend(q_->getters_, h, this);
        }
        T await_resume() {
            if (!task) return q_->take_ready();  // did not suspend
            // Handed an item, not cancelled since, queue not emptied by shutdown(immediate=true).
            if (item_ && !task->must_cancel && !q_->immediate_) [[likely]]
                return std::move(*item_);
            return resume_otherwise();
        }

      private:
        // Cancelled while queued, cancelled after being handed an item, woken by shutdown().
        [[gnu::noinline]] T resume_otherwise() {
            if (cancelled) throw task->take_cancellation();
            if (task->must_cancel) {
                if (item_) q_->give_back(std::move(*item_));
                throw task->take_cancellation();
            }
            // Woken by shutdown(), or handed an item before shutdown(immediate=true): the item is
            // discarded with the rest (Python's woken getter finds the queue shut down too).
            if (item_) {
                item_.reset();
                q_->count_dropped(1);
            }
            throw queue_shut_down();
        }

        friend class basic_queue;
        basic_queue* q_;
        std::optional<T> item_;  // what a put handed over (empty when woken by shutdown())
    };

    class put_awaiter : public detail::sync_waiter {
      public:
        put_awaiter(basic_queue* q, T&& item) noexcept(std::is_nothrow_move_constructible_v<T>)
            : q_(q), item_(std::move(item)) {}
        // The fast path runs here: room (or a waiting getter, which implies room) -> delivered.
        bool await_ready() {
            if (q_->shut_down_) {
                shut_down_ = true;
                return true;
            }
            if (q_->full()) return false;
            q_->deliver(std::move(item_));
            return true;
        }
        template <class P>
        void await_suspend(std::coroutine_handle<P> h) {
            q_->suspend(q_->putters_, h, this);
        }
        void await_resume() {
            if (!task) {  // did not suspend: delivered, or found the queue shut down
                if (shut_down_) [[unlikely]]
                    throw queue_shut_down();
                return;
            }
            resume_after_wait();
        }

      private:
        [[gnu::noinline]] void resume_after_wait() {
            if (cancelled) throw task->take_cancellation();
            if (shut_down_) {  // woken by shutdown(): holds no slot
                if (task->must_cancel) throw task->take_cancellation();
                throw queue_shut_down();
            }
            --q_->reserved_;  // granted a slot: use it or pass it on
            if (task->must_cancel) {
                q_->grant_putters();
                throw task->take_cancellation();
            }
            if (q_->shut_down_) throw queue_shut_down();  // no putter waits after shutdown()
            q_->deliver(std::move(item_));
            q_->grant_putters();  // the item went straight to a getter: the slot is free again
        }

        friend class basic_queue;
        basic_queue* q_;
        T item_;
        bool shut_down_ = false;  // found the queue shut down, or woken by shutdown()
    };

    class join_awaiter : public detail::sync_waiter {
      public:
        explicit join_awaiter(basic_queue* q) noexcept : q_(q) {}
        bool await_ready() const noexcept { return q_->unfinished_ == 0; }
        template <class P>
        void await_suspend(std::coroutine_handle<P> h) {
            q_->suspend(q_->joiners_, h, this);
        }
        void await_resume() {
            if (task && (cancelled || task->must_cancel)) throw task->take_cancellation();
        }

      private:
        basic_queue* q_;
    };

  private:
    // One loop for all three waiter lists (each would otherwise bind on its own).
    template <class P>
    void suspend(detail::waiter_queue& wq, std::coroutine_handle<P> h, detail::sync_waiter* w) {
        getters_.bind(h.promise().task->loop, Store::name);
        wq.suspend(h, w, Store::name);
    }

    // A new item: to the first waiting getter, else into the container. The caller made sure
    // there is room.
    void deliver(T&& item) {
        if (!getters_.empty()) {
            auto* g = static_cast<get_awaiter*>(getters_.front());
            g->item_.emplace(std::move(item));  // before unlinking: a throwing move leaves it waiting
            getters_.pop_front();
            detail::waiter_queue::grant(g);
        } else {
            store_.push(std::move(item));
        }
        ++unfinished_;
    }

    // An item a cancelled getter was handed: to the next getter, else back into the container.
    // Not a new item (unfinished_ counted it already).
    void give_back(T&& item) {
        if (immediate_) {  // the queue was emptied in the meantime: the item goes with the rest
            count_dropped(1);
            return;
        }
        if (!getters_.empty()) {
            auto* g = static_cast<get_awaiter*>(getters_.front());
            g->item_.emplace(std::move(item));
            getters_.pop_front();
            detail::waiter_queue::grant(g);
        } else {
            store_.give_back(std::move(item));
        }
    }

    T take() {
        T item = store_.pop();
        grant_putters();
        return item;
    }
    // get() that did not suspend: an item is there, or the queue is shut down.
    T take_ready() {
        if (!store_.empty()) [[likely]]
            return take();
        throw queue_shut_down();
    }

    // Grants free slots to waiting putters, in order.
    void grant_putters() noexcept {
        while (!putters_.empty() && !full()) {
            ++reserved_;
            detail::waiter_queue::grant(putters_.pop_front());
        }
    }

    void count_dropped(std::size_t n) noexcept {
        unfinished_ -= std::min(n, unfinished_);
        if (unfinished_ == 0) wake_joiners();
    }

    void wake_joiners() noexcept {
        while (joiners_.grant_first()) {
        }
    }

    Store store_;
    std::ptrdiff_t maxsize_;
    std::size_t limit_;           // maxsize_, or SIZE_MAX when unbounded (full() is one comparison)
    std::size_t reserved_ = 0;    // slots granted to putters that have not run yet
    std::size_t unfinished_ = 0;  // for join()
    detail::waiter_queue getters_;
    detail::waiter_queue putters_;
    detail::waiter_queue joiners_;
    bool shut_down_ = false;
    bool immediate_ = false;  // shutdown(immediate=true) was called
};

}  // namespace detail

/// A FIFO queue of items of type T (move-only types work) with an optional bound
/// (maxsize <= 0: unbounded). Python: asyncio.Queue. FIFO-fair on both sides: getters are handed
/// items, and putters granted free slots, in the order they started waiting.
///
/// Constructed before any loop runs, it binds to the loop it is first waited on.
template <class T>
class queue : public detail::basic_queue<T, detail::fifo_store<T>> {
  public:
    explicit queue(std::ptrdiff_t maxsize = 0) : detail::basic_queue<T, detail::fifo_store<T>>(maxsize) {}
};

/// A queue that hands out the most recently added item first. Python: asyncio.LifoQueue.
template <class T>
class lifo_queue : public detail::basic_queue<T, detail::lifo_store<T>> {
  public:
    explicit lifo_queue(std::ptrdiff_t maxsize = 0)
        : detail::basic_queue<T, detail::lifo_store<T>>(maxsize) {}
};

/// A queue that hands out the smallest item under `Compare` first (with std::less, the smallest
/// value: Python's heap order, the opposite of std::priority_queue). Equal items come out in no
/// particular order. Python: asyncio.PriorityQueue.
template <class T, class Compare = std::less<T>>
class priority_queue : public detail::basic_queue<T, detail::heap_store<T, Compare>> {
  public:
    explicit priority_queue(std::ptrdiff_t maxsize = 0, Compare comp = Compare())
        : detail::basic_queue<T, detail::heap_store<T, Compare>>(maxsize, std::move(comp)) {}
};

}  // namespace asyncio
