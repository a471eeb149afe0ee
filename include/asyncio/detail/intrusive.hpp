// Intrusive building blocks of the loop: the ready-queue node and a doubly linked list.
// No allocation: nodes live inside the objects that are queued (tasks, awaiters, callbacks).
#pragma once

#include <cstddef>

namespace asyncio::detail {

/// Something that can sit in the loop's ready queue. `run` is called once per enqueue.
struct ready_node {
    ready_node* next_ready = nullptr;
    void (*run)(ready_node*) = nullptr;
    // Frees a node the loop owns when the loop closes before it ran; null when someone else
    // owns the node (a task, an awaiter in a coroutine frame).
    void (*discard)(ready_node*) noexcept = nullptr;
    bool queued = false;  // in the ready queue now (so a second schedule is a no-op)
    // As a timer's target: run at once when the timer expires instead of being queued. For
    // nodes inside coroutine frames (a timeout's timer): nothing can then point at them once
    // their owner has cancelled the timer.
    bool fire_inline = false;
};

/// FIFO of ready nodes (singly linked, head/tail).
class ready_queue {
  public:
    bool empty() const noexcept { return head_ == nullptr; }
    void push(ready_node* n) noexcept {
        n->next_ready = nullptr;
        if (tail_)
            tail_->next_ready = n;
        else
            head_ = n;
        tail_ = n;
        ++size_;
    }
    ready_node* pop() noexcept {
        ready_node* n = head_;
        if (n) {
            head_ = n->next_ready;
            if (!head_) tail_ = nullptr;
            n->next_ready = nullptr;
            --size_;
        }
        return n;
    }
    /// Moves every node out (the loop runs exactly the callbacks ready at the start of an iteration).
    ready_queue take() noexcept {
        ready_queue q;
        q.head_ = head_;
        q.tail_ = tail_;
        q.size_ = size_;
        head_ = tail_ = nullptr;
        size_ = 0;
        return q;
    }
    /// Puts `front` before what is queued now (used when an iteration is cut short by an exception).
    void prepend(ready_queue& front) noexcept {
        if (front.empty()) return;
        front.tail_->next_ready = head_;
        if (!head_) tail_ = front.tail_;
        head_ = front.head_;
        size_ += front.size_;
        front.head_ = front.tail_ = nullptr;
        front.size_ = 0;
    }
    std::size_t size() const noexcept { return size_; }

  private:
    ready_node* head_ = nullptr;
    ready_node* tail_ = nullptr;
    std::size_t size_ = 0;
};

/// Hook for an intrusive doubly linked list.
struct list_hook {
    list_hook* prev = nullptr;
    list_hook* next = nullptr;
    bool linked() const noexcept { return prev != nullptr; }
};

/// Circular doubly linked list with a sentinel; O(1) insert and unlink.
class intrusive_list {
  public:
    intrusive_list() noexcept { root_.prev = root_.next = &root_; }
    intrusive_list(const intrusive_list&) = delete;
    intrusive_list& operator=(const intrusive_list&) = delete;

    bool empty() const noexcept { return root_.next == &root_; }
    void push_back(list_hook* h) noexcept {
        h->prev = root_.prev;
        h->next = &root_;
        root_.prev->next = h;
        root_.prev = h;
    }
    static void unlink(list_hook* h) noexcept {
        if (!h->linked()) return;
        h->prev->next = h->next;
        h->next->prev = h->prev;
        h->prev = h->next = nullptr;
    }
    list_hook* front() noexcept { return empty() ? nullptr : root_.next; }
    list_hook* pop_front() noexcept {
        list_hook* h = front();
        if (h) unlink(h);
        return h;
    }
    list_hook* begin() noexcept { return root_.next; }
    list_hook* end() noexcept { return &root_; }
    const list_hook* cbegin() const noexcept { return root_.next; }
    const list_hook* cend() const noexcept { return &root_; }

  private:
    list_hook root_;
};

}  // namespace asyncio::detail
