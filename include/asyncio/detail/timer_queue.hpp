// The loop's timers: deadline order, equal deadlines in scheduling order, O(1) cancel.
//
// Entries are plain values in loop-owned arrays; an entry names a slot (index + generation), and
// a slot points at the ready node to enqueue when it fires. Cancelling bumps the slot's
// generation: the entry goes stale and is skipped when it reaches the front (lazy deletion), so
// cancel never touches the heap and a timer's owner (a coroutine frame) may die right after.
// Deadlines that arrive in non-decreasing order (the common case: many sleeps of one length) go
// to a FIFO, O(1) in and out; others go to a binary heap. Stale entries are compacted away when
// they outnumber the live ones.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <limits>
#include <vector>

#include "intrusive.hpp"

namespace asyncio::detail {

struct timer_id {
    std::uint32_t slot = 0;
    std::uint32_t gen = 0;  // 0 = no timer
    explicit operator bool() const noexcept { return gen != 0; }
};

class timer_queue {
  public:
    static constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();

    timer_id schedule(std::int64_t when, ready_node* target) {
        std::uint32_t s;
        if (free_head_ != none) {
            s = free_head_;
            free_head_ = slots_[s].next_free;
        } else {
            s = static_cast<std::uint32_t>(slots_.size());
            slots_.push_back({});
        }
        slot& sl = slots_[s];
        sl.target = target;
        sl.live = true;
        entry e{when, seq_++, s, sl.gen};
        if (fifo_.empty() || fifo_.back().when <= when)
            fifo_.push_back(e);
        else {
            heap_.push_back(e);
            std::push_heap(heap_.begin(), heap_.end(), later);
        }
        ++live_;
        return {s, sl.gen};
    }

    /// True when the timer was pending (it will not fire now).
    bool cancel(timer_id id) noexcept {
        if (!id || id.slot >= slots_.size()) return false;
        slot& sl = slots_[id.slot];
        if (!sl.live || sl.gen != id.gen) return false;
        release(id.slot);
        ++stale_;
        return true;
    }

    bool empty() const noexcept { return live_ == 0; }
    std::size_t size() const noexcept { return live_; }

    /// Deadline of the earliest live timer, or `never`.
    std::int64_t next_deadline() noexcept {
        drop_stale_fronts();
        const entry* e = front();
        return e ? e->when : never;
    }

    /// Pops every live timer due at `now` (in deadline, then scheduling, order) into `fire`.
    template <class Fire>
    void pop_expired(std::int64_t now, Fire&& fire) {
        for (;;) {
            drop_stale_fronts();
            const entry* e = front();
            if (!e || e->when > now) break;
            entry x = *e;
            pop_front_entry();
            ready_node* target = slots_[x.slot].target;
            release(x.slot);
            fire(target);
        }
        maybe_compact();
    }

  private:
    static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
    struct entry {
        std::int64_t when;
        std::uint64_t seq;
        std::uint32_t slot;
        std::uint32_t gen;
    };
    struct slot {
        ready_node* target = nullptr;
        std::uint32_t gen = 1;
        std::uint32_t next_free = none;
        bool live = false;
    };
    static bool later(const entry& a, const entry& b) noexcept {
        return a.when != b.when ? a.when > b.when : a.seq > b.seq;
    }
    bool valid(const entry& e) const noexcept {
        const slot& sl = slots_[e.slot];
        return sl.live && sl.gen == e.gen;
    }
    void release(std::uint32_t s) noexcept {
        slot& sl = slots_[s];
        sl.live = false;
        sl.target = nullptr;
        if (++sl.gen == 0) sl.gen = 1;
        sl.next_free = free_head_;
        free_head_ = s;
        --live_;
    }
    const entry* front() const noexcept {
        const entry* f = fifo_.empty() ? nullptr : &fifo_.front();
        const entry* h = heap_.empty() ? nullptr : &heap_.front();
        if (!f) return h;
        if (!h) return f;
        return later(*f, *h) ? h : f;
    }
    void pop_front_entry() noexcept {
        const entry* f = fifo_.empty() ? nullptr : &fifo_.front();
        const entry* h = heap_.empty() ? nullptr : &heap_.front();
        if (f && (!h || !later(*f, *h))) {
            fifo_.pop_front();
        } else {
            std::pop_heap(heap_.begin(), heap_.end(), later);
            heap_.pop_back();
        }
    }
    void drop_stale_fronts() noexcept {
        for (;;) {
            const entry* e = front();
            if (!e || valid(*e)) return;
            pop_front_entry();
            --stale_;
        }
    }
    void maybe_compact() {
        if (stale_ <= 1024 || stale_ <= live_) return;
        auto stale = [this](const entry& e) { return !valid(e); };
        fifo_.erase(std::remove_if(fifo_.begin(), fifo_.end(), stale), fifo_.end());
        heap_.erase(std::remove_if(heap_.begin(), heap_.end(), stale), heap_.end());
        std::make_heap(heap_.begin(), heap_.end(), later);
        stale_ = 0;
    }

  public:
    /// Hands every live timer's target to `fn` and empties the queue (loop shutdown).
    template <class Fn>
    void drain(Fn&& fn) {
        for (std::uint32_t s = 0; s < slots_.size(); ++s) {
            if (slots_[s].live) {
                ready_node* t = slots_[s].target;
                release(s);
                fn(t);
            }
        }
        fifo_.clear();
        heap_.clear();
        stale_ = 0;
    }
    /// Called by cancel paths that do not pop: keeps memory bounded when many timers are cancelled.
    void compact_if_needed() { maybe_compact(); }

  private:
    // Deques: no reallocation (a million timers are not copied while they grow) and the FIFO
    // gives its blocks back as it drains.
    std::deque<entry> fifo_;
    std::vector<entry> heap_;
    std::deque<slot> slots_;
    std::uint32_t free_head_ = none;
    std::uint64_t seq_ = 0;
    std::size_t live_ = 0;
    std::size_t stale_ = 0;
};

}  // namespace asyncio::detail
