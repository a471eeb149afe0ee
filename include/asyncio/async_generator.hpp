// asyncio::async_generator<T>: Python's async generators (`async def` with `yield`), and the
// async_iterable concept (anything `async for` can walk).
//
// A generator runs inside the consumer's task, as a frame linked into the task's frame chain like
// a coro<T>: `co_await g.next()` links the generator frame under the awaiting frame and the task's
// driver resumes it; `co_yield v` stores v and hands control back to the consumer frame (as a
// finishing coro does, without finishing). A `co_await` inside the generator suspends the whole
// task with the generator frame innermost, so cancellation, timers and debug stacks work unchanged,
// and a generator of a million values (or a chain of generators each consuming the next) costs
// heap frames, never native stack.
#pragma once

#include <concepts>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "coro.hpp"
#include "detail/task_core.hpp"
#include "errors.hpp"
#include "task.hpp"

namespace asyncio {

/// Thrown at the suspended `co_yield` of a generator that aclose() (or the loop, for an abandoned
/// generator) closes. Let it propagate (or return): clean-up runs through catch blocks and RAII,
/// and may `co_await`. Like cancelled_error it does not derive from std::exception, so
/// `catch (const std::exception&)` does not swallow it. Python: GeneratorExit.
class generator_exit {
  public:
    const char* what() const noexcept { return "generator exit"; }
};

template <class T>
class async_generator;

namespace detail {

/// The result type of `co_await a` (for awaiters and for types with a member operator co_await).
template <class A>
decltype(auto) get_awaiter(A&& a) {
    if constexpr (requires { static_cast<A&&>(a).operator co_await(); })
        return static_cast<A&&>(a).operator co_await();
    else
        return static_cast<A&&>(a);
}
template <class A>
using await_result_t = decltype(get_awaiter(std::declval<A>()).await_resume());

template <class T>
inline constexpr bool is_optional_v = false;
template <class T>
inline constexpr bool is_optional_v<std::optional<T>> = true;

template <class G>
concept has_next = requires(G& g) {
    g.next();
};
template <class G>
concept next_gives_optional =
    has_next<G> && is_optional_v<await_result_t<decltype(std::declval<G&>().next())>>;

/// Library use: `co_yield generator_raise{e}` makes the pending next() throw `e` while the generator
/// stays suspended at that point (the next next() resumes it). A Python async generator cannot do
/// this; as_completed needs it to behave like Python's iterator object (a cancelled or timed-out
/// next() leaves the iteration usable).
struct generator_raise {
    std::exception_ptr error;
};

/// Library use: `co_await generator_trivially_closable{}` declares that the generator has no
/// clean-up to run when it is abandoned mid-way: it is then destroyed at once, with no closing
/// task and no debug report (as_completed: dropping it early is normal use).
struct generator_trivially_closable {
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) const noexcept {
        h.promise().trivially_closable = true;
        return false;  // resume at once
    }
    void await_resume() const noexcept {}
};

enum class generator_state : std::uint8_t {
    created,    // never resumed
    suspended,  // at a co_yield
    running,    // inside next() or aclose()
    finished,   // returned, threw, or was closed
};

struct generator_promise_base : promise_base {
    generator_state state = generator_state::created;
    bool closing = false;             // aclose(): the suspended co_yield throws generator_exit
    bool trivially_closable = false;  // see generator_trivially_closable
    std::exception_ptr raised;        // a generator_raise for the pending next()
    // For the report of an abandoned generator: where it was first iterated, where it yielded last.
    const char* first_next_file = nullptr;
    unsigned first_next_line = 0;
    const char* yield_file = nullptr;
    unsigned yield_line = 0;

    void return_void() noexcept {}

    // Hands control back to the consumer frame like final_awaiter, without finishing; the frame
    // is unlinked (the next next() may come from another frame, or another task).
    struct yield_awaiter {
        generator_promise_base* p;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<>) const noexcept {
            task_core* t = p->task;
            t->innermost = p->parent;
            t->next_resume = p->continuation;
            p->parent = nullptr;
            p->continuation = nullptr;
            p->task = nullptr;
        }
        void await_resume() const {
            if (p->closing) throw generator_exit();
        }
    };
    yield_awaiter yield_value(generator_raise r) noexcept {
        raised = std::move(r.error);
        return yield_awaiter{this};
    }

    // Links the generator frame under the awaiting frame; the driver resumes it next.
    template <class P>
    void link_under(std::coroutine_handle<P> parent) noexcept {
        promise_base& pp = parent.promise();
        this->parent = &pp;
        continuation = parent;
        task = pp.task;
        pp.task->innermost = this;
        pp.task->next_resume = self;
        state = generator_state::running;
    }
};

// The aclose() logic, shared by async_generator::aclose() and the loop's closing of an abandoned
// generator.
template <class Promise>
struct generator_close_awaiter {
    std::coroutine_handle<Promise> h;
    bool await_ready() const {
        if (!h) return true;
        Promise& p = h.promise();
        switch (p.state) {
            case generator_state::running:
                throw std::runtime_error("aclose(): asynchronous generator is already running");
            case generator_state::created:  // never started: nothing to clean up (Python: marked closed)
                p.state = generator_state::finished;
                return true;
            case generator_state::finished:
                return true;
            case generator_state::suspended:
                break;
        }
        return false;
    }
    template <class P>
    void await_suspend(std::coroutine_handle<P> parent) noexcept {
        Promise& p = h.promise();
        p.closing = true;
        p.link_under(parent);
    }
    void await_resume() const {
        if (!h) return;
        Promise& p = h.promise();
        if (p.state != generator_state::running) return;  // ready: nothing to do
        p.closing = false;
        if (h.done()) {
            p.state = generator_state::finished;
            std::exception_ptr e = std::exchange(p.exception, nullptr);
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const generator_exit&) {  // the expected way out; anything else propagates
            }
            return;
        }
        // It yielded instead of finishing; it stays suspended there (as in Python).
        p.state = generator_state::suspended;
        p.value.reset();
        p.raised = nullptr;
        throw std::runtime_error("async generator ignored GeneratorExit");
    }
};

// Owns a generator frame handed to the closing task.
struct generator_frame_owner {
    std::coroutine_handle<> h;
    explicit generator_frame_owner(std::coroutine_handle<> f) noexcept : h(f) {}
    generator_frame_owner(generator_frame_owner&& o) noexcept : h(std::exchange(o.h, nullptr)) {}
    generator_frame_owner& operator=(generator_frame_owner&&) = delete;
    ~generator_frame_owner() {
        if (h) h.destroy();
    }
};

inline std::string where(const char* file, unsigned line) {
    return file ? std::string(file) + ":" + std::to_string(line) : std::string("?");
}

// The task the loop runs for an abandoned generator: aclose(), and a report if its clean-up fails
// (Python: the loop's async-generator finalizer, "an error occurred during closing of
// asynchronous generator").
template <class Promise>
coro<void> close_abandoned_generator(generator_frame_owner frame) {
    auto h = std::coroutine_handle<Promise>::from_address(frame.h.address());
    std::exception_ptr error;
    generator_close_awaiter<Promise> closing{h};
    try {
        co_await closing;
    } catch (const cancelled_error&) {
        throw;  // the loop is shutting down: the frame is destroyed with this task
    } catch (...) {
        error = std::current_exception();
    }
    if (error) {
        Promise& p = h.promise();
        std::string msg = "an error occurred during closing of asynchronous generator (first iterated at " +
                          where(p.first_next_file, p.first_next_line) + ")";
        if (loop_core* l = running_loop_core()) l->report_callback_error(msg.c_str(), error);
    }
}

}  // namespace detail

/// A coroutine with `co_yield` and `co_await`: Python's async generator. Lazy: calling it runs
/// nothing. It runs inside the task that awaits `next()`, so a `co_await` in it suspends that
/// task and everything (cancellation, timeouts, stacks) works as in a coro. Move-only.
///
///     asyncio::async_generator<int> ticks(int n) {
///         for (int i = 0; i < n; ++i) {
///             co_await asyncio::sleep(1s);
///             co_yield i;
///         }
///     }
///     auto g = ticks(3);
///     while (auto v = co_await g.next()) use(*v);   // async for v in ticks(3)
///
/// An exception thrown in the generator reaches the consumer at next(); the generator is then
/// finished (next() gives nullopt from then on, like StopAsyncIteration).
///
/// Closing: `co_await g.aclose()` throws generator_exit at the suspended co_yield and runs the
/// clean-up. A generator destroyed while suspended at a co_yield without aclose() is closed like
/// Python does it: when a loop is running, a task (named "async generator aclose") runs aclose()
/// so that the clean-up may co_await; in debug mode the loop's exception handler is told ("async
/// generator ... was abandoned without aclose()", with where it was first iterated). Without a
/// running loop the frame is destroyed at once (RAII only), and so it is when that task is
/// cancelled before it starts (asyncio::run's shutdown cancels it if the main task ends first).
/// A never-started generator is just freed.
/// Destroying a generator while a next() or aclose() of it is in progress in another task is
/// undefined (Python keeps it alive by reference counting; here the owner must).
template <class T>
class [[nodiscard]] async_generator {
    static_assert(!std::is_reference_v<T> && !std::is_void_v<T>,
                  "async_generator<T>: T must be an object type (yield values, not references)");

  public:
    using value_type = T;

    struct promise_type : detail::generator_promise_base {
        async_generator get_return_object() noexcept {
            auto h = std::coroutine_handle<promise_type>::from_promise(*this);
            this->self = h;
            return async_generator(h);
        }
        // The default arguments record the co_yield's source line (for the abandoned report).
        template <class U = T>
        requires std::convertible_to<U&&, T> yield_awaiter yield_value(U&& v,
                                                                       const char* file = __builtin_FILE(),
                                                                       unsigned line = __builtin_LINE()) {
            value.emplace(std::forward<U>(v));
            this->yield_file = file;
            this->yield_line = line;
            return yield_awaiter{this};
        }
        using detail::generator_promise_base::yield_value;
        std::optional<T> value;
    };
    using handle_type = std::coroutine_handle<promise_type>;

    async_generator() noexcept = default;
    async_generator(async_generator&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    async_generator& operator=(async_generator&& o) noexcept {
        if (this != &o) {
            dispose(std::exchange(h_, nullptr));
            h_ = std::exchange(o.h_, nullptr);
        }
        return *this;
    }
    ~async_generator() { dispose(std::exchange(h_, nullptr)); }

    /// False for a moved-from or default-constructed generator.
    explicit operator bool() const noexcept { return h_ != nullptr; }

    struct next_awaiter {
        handle_type h;
        const char* file;
        unsigned line;
        bool await_ready() const {
            if (!h) throw std::runtime_error("next() of an empty async_generator");
            promise_type& p = h.promise();
            if (p.state == detail::generator_state::running)
                throw std::runtime_error("anext(): asynchronous generator is already running");
            return p.state == detail::generator_state::finished;
        }
        template <class P>
        void await_suspend(std::coroutine_handle<P> parent) noexcept {
            promise_type& p = h.promise();
            if (!p.first_next_file) {
                p.first_next_file = file;
                p.first_next_line = line;
            }
            p.link_under(parent);
        }
        std::optional<T> await_resume() {
            promise_type& p = h.promise();
            if (p.state != detail::generator_state::running) return std::nullopt;  // was finished
            if (h.done()) {
                p.state = detail::generator_state::finished;
                if (p.exception) std::rethrow_exception(std::exchange(p.exception, nullptr));
                return std::nullopt;
            }
            p.state = detail::generator_state::suspended;
            if (p.raised) std::rethrow_exception(std::exchange(p.raised, nullptr));
            std::optional<T> v(std::move(p.value));
            p.value.reset();
            return v;
        }
    };

    /// Runs the generator to its next `co_yield` and returns that value; nullopt once it has
    /// finished. Throws what the generator throws (once; it is finished afterwards), and
    /// std::runtime_error when a next() or aclose() of it is already in progress.
    /// Cancellation: the cancelled_error is thrown inside the generator, at the co_await it is
    /// suspended at; unless the generator handles it, it propagates to the caller and the
    /// generator is finished. Python: `await anext(g)` / `async for`.
    [[nodiscard]] next_awaiter next(const char* file = __builtin_FILE(),
                                    unsigned line = __builtin_LINE()) noexcept {
        return next_awaiter{h_, file, line};
    }

    /// Closes the generator: throws generator_exit at the co_yield it is suspended at and runs its
    /// clean-up (which may co_await). Succeeds when the generator finishes or lets generator_exit
    /// out; an ordinary exception from the clean-up propagates; if the generator yields again it
    /// throws std::runtime_error("async generator ignored GeneratorExit") (it stays suspended).
    /// Not started or finished: only marks it finished. Cancellation: the cancelled_error is
    /// thrown inside the clean-up; unless handled there it propagates and the generator is
    /// finished. Python: `await g.aclose()`.
    [[nodiscard]] detail::generator_close_awaiter<promise_type> aclose() noexcept {
        return detail::generator_close_awaiter<promise_type>{h_};
    }

  private:
    explicit async_generator(handle_type h) noexcept : h_(h) {}

    static void dispose(handle_type h) noexcept {
        if (!h) return;
        promise_type& p = h.promise();
        if (p.state != detail::generator_state::suspended || p.trivially_closable) {
            h.destroy();
            return;
        }
        // Abandoned at a co_yield: the loop closes it in a task, so its clean-up may co_await
        // (Python: the loop's asyncgen finalizer schedules aclose()).
        detail::loop_core* l = detail::running_loop_core();
        if (!l || l->is_closed()) {
            h.destroy();
            return;
        }
        try {
            if (l->get_debug()) {
                std::string msg = "async generator first iterated at " +
                                  detail::where(p.first_next_file, p.first_next_line) + " (suspended at " +
                                  detail::where(p.yield_file, p.yield_line) +
                                  ") was abandoned without aclose(); the loop closes it in a task";
                l->report_callback_error(msg.c_str(), nullptr);
            }
            coro<void> closer =
                detail::close_abandoned_generator<promise_type>(detail::generator_frame_owner(h));
            (void)detail::make_task(l, std::move(closer), "async generator aclose");
        } catch (...) {  // out of memory: the frame is destroyed with the closer (RAII only)
        }
    }

    handle_type h_ = nullptr;
};

/// Something `async for` can walk: `co_await x.next()` gives a std::optional (nullopt at the end).
template <class G>
concept async_iterable = detail::next_gives_optional<G>;

}  // namespace asyncio
