// Lock-free multi-producer single-consumer queue (Vyukov's intrusive design): the loop's
// thread-safe inbox. Producers (any thread) never block; the consumer (the loop) pops.
#pragma once

#include <atomic>

namespace asyncio::detail {

struct mpsc_node {
    std::atomic<mpsc_node*> next{nullptr};
};

class mpsc_queue {
  public:
    mpsc_queue() noexcept : head_(&stub_), tail_(&stub_) {}
    mpsc_queue(const mpsc_queue&) = delete;
    mpsc_queue& operator=(const mpsc_queue&) = delete;

    void push(mpsc_node* n) noexcept {
        n->next.store(nullptr, std::memory_order_relaxed);
        mpsc_node* prev = head_.exchange(n, std::memory_order_acq_rel);
        prev->next.store(n, std::memory_order_release);
    }

    /// Next node, or nullptr when empty or when a producer is between its two steps (it will
    /// wake the consumer again after linking).
    mpsc_node* pop() noexcept {
        mpsc_node* tail = tail_;
        mpsc_node* next = tail->next.load(std::memory_order_acquire);
        if (tail == &stub_) {
            if (!next) return nullptr;
            tail_ = next;
            tail = next;
            next = next->next.load(std::memory_order_acquire);
        }
        if (next) {
            tail_ = next;
            return tail;
        }
        if (tail != head_.load(std::memory_order_acquire)) return nullptr;
        push(&stub_);
        next = tail->next.load(std::memory_order_acquire);
        if (next) {
            tail_ = next;
            return tail;
        }
        return nullptr;
    }

  private:
    std::atomic<mpsc_node*> head_;
    mpsc_node* tail_;
    mpsc_node stub_;
};

}  // namespace asyncio::detail
