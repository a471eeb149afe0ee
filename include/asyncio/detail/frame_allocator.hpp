// Per-thread size-class recycling allocator for coroutine frames and task states.
//
// Why: a task costs a frame and a state; malloc/free for each dominates spawn-heavy programs.
// Freed blocks go to the current thread's free list of their size class (16-byte classes up to
// 1 KiB); a block freed on another thread than it was allocated on is fine (it is plain memory).
// Under AddressSanitizer recycling is off, so use-after-free stays visible.
#pragma once

#include <cstddef>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define ASYNCIO_NO_RECYCLING 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASYNCIO_NO_RECYCLING 1
#endif
#endif

namespace asyncio::detail {

class frame_allocator {
  public:
    static constexpr std::size_t granule = 16;
    static constexpr std::size_t max_recycled_size = 1024;
    static constexpr std::size_t classes = max_recycled_size / granule;
    // Bound on what one class keeps, so a burst of a million frames is given back to malloc.
    static constexpr std::size_t max_cached_per_class = 4096;

    static void* allocate(std::size_t size) {
#ifndef ASYNCIO_NO_RECYCLING
        if (size <= max_recycled_size) {
            auto& cls = lists().cls[index(size)];
            if (cls.head) {
                block* b = cls.head;
                cls.head = b->next;
                --cls.count;
                return b;
            }
            return ::operator new(round_up(size));
        }
#endif
        return ::operator new(size);
    }

    static void deallocate(void* p, std::size_t size) noexcept {
#ifndef ASYNCIO_NO_RECYCLING
        if (size <= max_recycled_size) {
            auto& tl = lists();
            if (!tl.destroyed) {
                auto& cls = tl.cls[index(size)];
                if (cls.count < max_cached_per_class) {
                    auto* b = static_cast<block*>(p);
                    b->next = cls.head;
                    cls.head = b;
                    ++cls.count;
                    return;
                }
            }
        }
#endif
        ::operator delete(p);
        (void)size;
    }

  private:
    struct block {
        block* next;
    };
    struct size_class {
        block* head = nullptr;
        std::size_t count = 0;
    };
    struct thread_lists {
        size_class cls[classes];
        bool destroyed = false;
        ~thread_lists() {
            destroyed = true;
            for (auto& c : cls) {
                while (c.head) {
                    block* b = c.head;
                    c.head = b->next;
                    ::operator delete(b);
                }
            }
        }
    };
    static std::size_t round_up(std::size_t size) { return (size + granule - 1) / granule * granule; }
    static std::size_t index(std::size_t size) { return size == 0 ? 0 : (size - 1) / granule; }
    static thread_lists& lists() {
        static thread_local thread_lists tl;
        return tl;
    }
};

}  // namespace asyncio::detail
