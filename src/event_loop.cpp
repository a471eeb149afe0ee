// The event loop: ready queue, timers, poller, thread-safe inbox, signals, exception handler.
#include "asyncio/event_loop.hpp"

#include <cxxabi.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <sstream>
#include <system_error>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include "asyncio/debug.hpp"
#include "asyncio/detail/io_wait.hpp"
#include "poller/poller.hpp"

namespace asyncio {

namespace detail {
namespace {
thread_local loop_core* tl_running = nullptr;

// A call_soon_threadsafe callback: travels through the lock-free inbox, then the ready queue.
struct threadsafe_node final : mpsc_node, ready_node {
    explicit threadsafe_node(unique_function<void()> f, loop_core* l) : fn(std::move(f)), loop(l) {
        run = &run_node;
        discard = [](ready_node* n) noexcept { delete static_cast<threadsafe_node*>(n); };
    }
    static void run_node(ready_node* n) noexcept {
        auto* self = static_cast<threadsafe_node*>(n);
        try {
            self->fn();
        } catch (...) {
            self->loop->report_callback_error("Exception in a call_soon_threadsafe callback",
                                              std::current_exception());
        }
        delete self;
    }
    unique_function<void()> fn;
    loop_core* loop;
};

// Signals: the handler (async-signal-safe) marks the signal and writes the owning loop's eventfd.
constexpr int max_signal = 65;
std::array<std::atomic<int>, max_signal> g_signal_wake_fd{};  // the owning loop's eventfd + 1; 0: none
std::array<std::atomic<bool>, max_signal> g_signal_pending{};

extern "C" void asyncio_signal_handler(int signo) {
    int saved = errno;
    if (signo > 0 && signo < max_signal) {
        g_signal_pending[signo].store(true);
        int fd = g_signal_wake_fd[signo].load() - 1;
        if (fd >= 0) {
            std::uint64_t one = 1;
            ssize_t r = ::write(fd, &one, sizeof one);
            (void)r;
        }
    }
    errno = saved;
}

// Poller tokens. Bit 0 tells the kinds apart: a level interest (add_reader/add_writer, the
// eventfd) carries its fd; an edge interest (an fd_state) carries its fd and generation, so an
// event for a state that is gone (the fd closed and its number reused) is recognised and dropped.
constexpr std::uint64_t level_token(int fd) noexcept { return static_cast<std::uint64_t>(fd) << 1; }
std::uint64_t edge_token(const fd_state* st) noexcept {
    return (static_cast<std::uint64_t>(st->generation) << 32) |
           (static_cast<std::uint64_t>(static_cast<std::uint32_t>(st->fd)) << 1) | 1u;
}

std::string describe_exception(std::exception_ptr e) {
    if (!e) return {};
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        int status = 0;
        char* name = abi::__cxa_demangle(typeid(ex).name(), nullptr, nullptr, &status);
        std::string s = (status == 0 && name ? name : typeid(ex).name());
        std::free(name);
        return s + ": " + ex.what();
    } catch (const cancelled_error& c) {
        return std::string("asyncio::cancelled_error: ") + c.what();
    } catch (const keyboard_interrupt&) {
        return "asyncio::keyboard_interrupt";
    } catch (...) {
        return "unknown exception";
    }
}
}  // namespace

namespace {
// How many results of a completion-based operation an fd holds before the loop stops its request
// (restarted once the reader has caught up): a connection nobody reads must not take all of the
// provided buffers, nor a flood of connections all of the fds.
constexpr std::uint32_t rx_cap_recv = 4;
constexpr std::uint32_t rx_cap_accept = 32;

// Gives back what an item holds: its provided buffer, or its accepted fd.
void drop_rx_item(poller& p, bool accepts, const rx_item& it) noexcept {
    if (accepts)
        ::close(it.value);
    else
        p.recycle(it.buffer);
}

// Drops what `st` holds from completion-based operations (its fd closes, or the loop does).
void clear_rx(poller& p, fd_state* st) noexcept {
    while (!st->rx.empty()) {
        drop_rx_item(p, st->rx_accepts, st->rx.front());
        st->rx.pop();
    }
    st->rx_running = st->rx_stopping = false;
}

// A result of the multishot receive or accept of `st` (null: the state is gone; then what the
// result holds is given back). Queued in order; the end of the request lets the reader read
// directly again (readable), and the reader wakes in every case.
void completed(poller& p, fd_state* st, const poll_event& ev) noexcept {
    bool accept = ev.op == completion::accept;
    rx_item item{ev.result, 0, ev.buffer};
    bool holds = accept ? ev.result >= 0 : ev.result > 0;
    if (!st) {
        if (holds) drop_rx_item(p, accept, item);
        return;
    }
    if (holds) {
        st->rx.push(item);
    } else if (ev.result == 0) {
        st->rx_eof = true;
    } else if (ev.result != -ECANCELED && ev.result != -ENOBUFS && st->rx_error == 0) {
        st->rx_error = -ev.result;  // ENOBUFS: the buffers ran out; the reader reads directly
    }
    if (!ev.more) {
        st->rx_running = st->rx_stopping = false;
        st->readable = true;
    } else if (!st->rx_stopping && st->rx.size() >= (accept ? rx_cap_accept : rx_cap_recv)) {
        st->rx_stopping = true;
        if (accept)
            p.stop_accept(st->fd);
        else
            p.stop_recv(st->fd);
    }
    if (st->reader) st->reader->ready();
}
}  // namespace

loop_core* running_loop_core() noexcept { return tl_running; }
loop_core& require_running_loop() {
    if (!tl_running) throw std::runtime_error("no running event loop");
    return *tl_running;
}

void callback_node::run_callback(ready_node* n) noexcept {
    auto* self = static_cast<callback_node*>(n);
    if (!self->cancelled && self->loop) {
        self->running = true;
        try {
            self->fn();
        } catch (...) {
            self->loop->report_callback_error("Exception in callback", std::current_exception());
        }
        self->running = false;
        if (self->persistent) return;  // a watcher stays until it is removed
    }
    self->timer = {};
    self->release();  // the loop's reference
}

void callback_node::discard_callback(ready_node* n) noexcept {
    auto* self = static_cast<callback_node*>(n);
    self->loop = nullptr;
    self->timer = {};
    if (!self->persistent) self->release();
}

void print_task_stack(const task_core* t, std::ostream& os) {
    os << "Stack for task '" << t->get_name() << "'";
    if (t->done()) {
        os << " (" << (t->cancelled() ? "cancelled" : "done") << "): no frames\n";
        return;
    }
    if (!t->started) {
        os << " (not started)\n";
        return;
    }
    std::vector<const promise_base*> frames;
    for (const promise_base* p = t->innermost; p; p = p->parent) frames.push_back(p);
    os << " (outermost first):\n";
    for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
        const promise_base* p = *it;
        os << "  at " << (p->await_file ? p->await_file : "?") << ":" << p->await_line << "\n";
    }
}

void report_orphan_exception(future_state_base* f, std::exception_ptr e) noexcept {
    try {
        std::string what = f->is_task ? "Task exception was never retrieved (task '" +
                                            static_cast<task_core*>(f)->get_name() + "')" +
                                            static_cast<task_core*>(f)->created_at()
                                      : std::string("Future exception was never retrieved");
        std::cerr << "asyncio: " + what + " (its event loop is gone): " + describe_exception(e) + "\n"
                  << std::flush;
    } catch (...) {
    }
}

}  // namespace detail

struct event_loop::impl {
    std::unique_ptr<detail::poller> poller;
    asyncio::backend backend = backend::epoll;  // the one running: never `automatic`
    int wake_fd = -1;
    detail::mpsc_queue inbox;
    std::atomic<bool> wake_pending{false};
    std::atomic<bool> closed{false};
    // Threads inside call_soon_threadsafe. The node is visible to the loop as soon as it is
    // pushed, before its producer has written the eventfd: close() waits for this to drop to 0
    // so that no producer still touches the loop (or its eventfd) once it is closed or destroyed.
    std::atomic<int> producers{0};
    void wait_for_producers() const noexcept {
        // seq_cst (not just acquire): with close()'s store of `closed` this is Dekker's pattern.
        while (producers.load() != 0) std::this_thread::yield();
    }
    struct fd_watch {
        detail::callback_node* reader = nullptr;
        detail::callback_node* writer = nullptr;
    };
    std::unordered_map<int, fd_watch> fds;
    // The fds tasks wait on (sockets, sock_* on an int fd), indexed by fd number (small, dense).
    std::vector<detail::fd_state*> io_states;
    std::uint32_t io_generation = 0;
    bool completions = false;  // the poller can receive and accept by itself (io_uring)
    struct signal_watch {
        detail::callback_node* node = nullptr;
        struct sigaction previous {};
        bool internal = false;  // asyncio::run's own (SIGINT, SIGUSR1): not a reason to wait
    };
    std::unordered_map<int, signal_watch> signals;
    std::shared_ptr<executor> default_executor;
    std::vector<detail::poll_event> events = std::vector<detail::poll_event>(256);
    unsigned busy_iterations = 0;
    // What run_until_done waits for (deadlock detection fails it), and the report when even that
    // could not wake anything.
    detail::future_state_base* main = nullptr;
    std::string deadlock_report;
};

event_loop::event_loop(loop_options opts) : impl_(std::make_unique<impl>()) {
    if (opts.debug)
        debug_ = *opts.debug;
    else if (const char* d = std::getenv("ASYNCIO_DEBUG"))
        debug_ = d[0] != '\0' && d[0] != '0';
    clock_ = opts.clock;
    // The backend: the option, else ASYNCIO_BACKEND. `automatic` is io_uring when it works, else
    // epoll (one line on stderr); an explicit io_uring request that cannot be met is an error
    // naming the reason rather than a silent substitute.
    asyncio::backend be = opts.backend;
    if (be == backend::automatic) {
        if (const char* env = std::getenv("ASYNCIO_BACKEND"); env && *env) {
            std::string v = env;
            if (v == "epoll")
                be = backend::epoll;
            else if (v == "io_uring")
                be = backend::io_uring;
            else if (v != "automatic")
                throw std::invalid_argument("ASYNCIO_BACKEND must be epoll, io_uring or automatic, not '" +
                                            v + "'");
        }
    }
    impl_->poller = detail::make_poller(be, impl_->backend);
    impl_->completions = impl_->poller->has_completions();
    impl_->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (impl_->wake_fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
    impl_->poller->set_level_interest(impl_->wake_fd, true, false, detail::level_token(impl_->wake_fd));
    if (debug_) detail::debug_loop_count.fetch_add(1);
}

event_loop::~event_loop() {
    if (running_) {
        std::cerr << "asyncio: event loop destroyed while running" << std::endl;
        std::abort();
    }
    close();
    impl_->wait_for_producers();  // one that found the loop closed may still be on its way out
    // Futures that outlive their loop (a handle kept by the user) forget it: their methods then
    // throw instead of touching freed memory.
    while (detail::list_hook* h = futures_.pop_front()) {
        static_cast<detail::future_state_base::registry_hook*>(h)->owner->loop = nullptr;
        --live_futures_;
    }
    set_debug(false);  // last: frames destroyed by close() above may still be reported
}

void event_loop::close() {
    if (running_) throw std::runtime_error("Cannot close a running event loop");
    if (closed_) return;
    closed_ = true;
    impl_->closed.store(true);
    impl_->wait_for_producers();  // from here on every caller sees `closed` and throws
    for (auto& [signo, w] : impl_->signals) {
        ::sigaction(signo, &w.previous, nullptr);
        detail::g_signal_wake_fd[signo].store(0);
        w.node->loop = nullptr;
        if (!w.node->queued)
            w.node->release();
        else
            w.node->persistent = false;
    }
    impl_->signals.clear();
    if (impl_->default_executor) impl_->default_executor->shutdown(false);
    // Callbacks that will never run now.
    while (detail::ready_node* n = ready_.pop()) {
        n->queued = false;
        if (n->discard) n->discard(n);
    }
    timers_.drain([](detail::ready_node* n) {
        if (n->discard) n->discard(n);
    });
    for (auto& [fd, w] : impl_->fds) {
        for (auto* c : {w.reader, w.writer}) {
            if (c) {
                c->loop = nullptr;
                c->release();
            }
        }
    }
    impl_->fds.clear();
    while (detail::mpsc_node* m = impl_->inbox.pop()) delete static_cast<detail::threadsafe_node*>(m);
    // Tasks still pending: their frames are destroyed (Python: "Task was destroyed but it is pending!").
    std::vector<detail::task_core*> pending;
    for (detail::list_hook* h = futures_.begin(); h != futures_.end(); h = h->next) {
        auto* f = static_cast<detail::future_state_base::registry_hook*>(h)->owner;
        if (f->is_task && !f->done() && static_cast<detail::task_core*>(f)->root) {
            f->add_ref();
            pending.push_back(static_cast<detail::task_core*>(f));
        }
    }
    for (auto* t : pending) {
        call_exception_handler(
            {"Task was destroyed but it is pending! (task '" + t->get_name() + "')", nullptr, any_task(t)});
        t->abandon();
    }
    for (auto* t : pending) t->release();
    // The fds still held by sockets (their operations are gone with the tasks above): the sockets
    // outlive the loop and close without it.
    for (detail::fd_state* st : impl_->io_states) {
        if (!st) continue;
        detail::clear_rx(*impl_->poller, st);  // unread data is lost with the loop's buffers
        st->loop = nullptr;
        st->registered = false;
    }
    impl_->io_states.clear();
    if (impl_->wake_fd >= 0) {
        ::close(impl_->wake_fd);
        impl_->wake_fd = -1;
    }
    impl_->poller.reset();
}

asyncio::backend event_loop::backend() const noexcept { return impl_->backend; }

void event_loop::run_forever() {
    check_open();
    if (running_) throw std::runtime_error("This event loop is already running");
    if (detail::tl_running)
        throw std::runtime_error("Cannot run the event loop while another loop is running");
    running_ = true;
    detail::tl_running = this;
    thread_ = std::this_thread::get_id();
    struct reset {
        event_loop* l;
        ~reset() {
            l->running_ = false;
            l->stopping_ = false;
            detail::tl_running = nullptr;
        }
    } r{this};
    for (;;) {
        run_once();
        if (stopping_) break;
    }
}

void event_loop::run_until_done(detail::future_state_base* f) {
    if (f->loop != this)
        throw std::runtime_error("run_until_complete: the future belongs to a different event loop");
    struct stopper final : detail::waiter {
        event_loop* loop = nullptr;
        ~stopper() { detail::future_state_base::remove_waiter(this); }
    } s;
    s.loop = this;
    s.on_done = [](detail::waiter* w) noexcept { static_cast<stopper*>(w)->loop->stop(); };
    f->add_ref();
    struct unref {
        detail::future_state_base* f;
        impl* i;
        detail::future_state_base* previous_main;
        ~unref() {
            i->main = previous_main;
            f->release();
        }
    } u{f, impl_.get(), impl_->main};
    impl_->main = f;
    impl_->deadlock_report.clear();
    if (f->done())
        stop();
    else
        f->add_waiter(&s);
    run_forever();
    if (!f->done()) {
        if (!impl_->deadlock_report.empty()) throw deadlock_error(std::exchange(impl_->deadlock_report, {}));
        throw std::runtime_error("Event loop stopped before the future completed.");
    }
}

bool event_loop::nothing_can_wake() const noexcept {
    // A task waiting on an fd can be woken by a peer: not a deadlock, however long it waits.
    if (keepalive_.load() != 0 || !impl_->fds.empty() || io_waits() != 0) return false;
    if (impl_->wake_pending.load() || impl_->producers.load() != 0) return false;
    for (const auto& [signo, w] : impl_->signals)
        if (!w.internal) return false;
    return true;
}

// Nothing is ready, no timer is set and nothing outside the loop can call in, yet the main task
// waits: it never will be woken. Python hangs here; we fail the main task with deadlock_error.
[[gnu::cold, gnu::noinline]] void event_loop::on_deadlock() {
    detail::future_state_base* main = impl_->main;
    auto* main_task = main->is_task ? static_cast<detail::task_core*>(main) : nullptr;
    std::string report = detail::describe_deadlock(*this, main_task);
    debug_stream() << "asyncio: " << report << std::flush;
    std::exception_ptr e = std::make_exception_ptr(deadlock_error(report));
    if (main_task)
        main_task->fail_with(e);
    else
        main->set_exception_value(e);
    if (ready_.empty() && !stopping_) {
        // The main task's leaf could not take it: stop, and run_until_done throws the report.
        impl_->deadlock_report = std::move(report);
        stop();
    }
}

void event_loop::drain_inbox() noexcept {
    impl_->wake_pending.store(false);
    while (detail::mpsc_node* m = impl_->inbox.pop()) schedule(static_cast<detail::threadsafe_node*>(m));
    for (auto& [signo, w] : impl_->signals) {
        if (detail::g_signal_pending[signo].exchange(false)) schedule(w.node);
    }
}

namespace {
std::int64_t real_now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch()).count();
}
}  // namespace

void event_loop::run_once() {
    if (impl_->wake_pending.load(std::memory_order_relaxed)) drain_inbox();
    std::int64_t timeout = -1;
    if (!ready_.empty() || stopping_) {
        timeout = 0;
    } else {
        std::int64_t next = timers_.next_deadline();
        if (next != detail::timer_queue::never) {
            std::int64_t now = now_ns();
            timeout = next > now ? next - now : 0;
        } else if (impl_->main && !impl_->main->done() && nothing_can_wake()) {
            on_deadlock();
            timeout = 0;
        }
    }
    // Virtual time: when only a timer can happen next, jump to it. When something outside the
    // loop may call in first (an fd, a keep-alive token), wait for real and let virtual time
    // advance by the real time waited, up to the next timer: it never runs slower than real time
    // while the loop waits on the outside world.
    std::int64_t real_wait_start = -1;
    if (clock_ == clock_kind::virtual_time && timeout != 0) {
        if (timeout > 0 && keepalive_.load() == 0 && impl_->fds.empty() && io_waits() == 0) {
            virtual_now_ = timers_.next_deadline();
            timeout = 0;
        } else {
            real_wait_start = real_now_ns();
        }
    }
    // Poll when idle; when work is ready, look at the fds only once 61 callbacks or task steps
    // have run since the last look (a syscall per iteration would dominate a busy loop; I/O
    // still gets its turn). Steps, not iterations, as Tokio's event_interval: one iteration may
    // run hundreds of tasks (an I/O-bound server's), and 61 of those would leave the tasks
    // waiting on fds unheard for milliseconds.
    if (timeout != 0 || impl_->busy_iterations >= 61) {
        impl_->busy_iterations = 0;
        int n = impl_->poller->wait(timeout, impl_->events.data(), static_cast<int>(impl_->events.size()));
        for (int i = 0; i < n; ++i) {
            const auto& ev = impl_->events[i];
            if (ev.token & 1u) {  // an fd tasks wait on
                auto fd = static_cast<std::size_t>((ev.token >> 1) & 0x7fffffffu);
                detail::fd_state* st = fd < impl_->io_states.size() ? impl_->io_states[fd] : nullptr;
                if (st && st->generation != static_cast<std::uint32_t>(ev.token >> 32)) st = nullptr;
                if (ev.op != detail::completion::none) {
                    detail::completed(*impl_->poller, st, ev);
                    continue;
                }
                if (!st) continue;
                if (ev.readable) {
                    st->readable = true;
                    if (st->reader) st->reader->ready();
                }
                if (ev.writable) {
                    st->writable = true;
                    if (st->writer) st->writer->ready();
                }
                continue;
            }
            int fd = static_cast<int>(ev.token >> 1);
            if (fd == impl_->wake_fd) {
                std::uint64_t v;
                ssize_t r = ::read(impl_->wake_fd, &v, sizeof v);
                (void)r;
                drain_inbox();
                continue;
            }
            auto it = impl_->fds.find(fd);
            if (it == impl_->fds.end()) continue;
            if (ev.readable && it->second.reader) schedule(it->second.reader);
            if (ev.writable && it->second.writer) schedule(it->second.writer);
        }
    }
    if (real_wait_start >= 0) {
        std::int64_t advanced = virtual_now_ + (real_now_ns() - real_wait_start);
        std::int64_t next = timers_.next_deadline();
        virtual_now_ = next != detail::timer_queue::never && next < advanced ? next : advanced;
    }
    if (!timers_.empty()) {
        std::int64_t now = now_ns();
        timers_.pop_expired(now, [this](detail::ready_node* n) {
            if (n->fire_inline)
                n->run(n);
            else
                schedule(n);
        });
    }
    // Exactly the callbacks ready now; those they add wait for the next iteration.
    detail::ready_queue batch = ready_.take();
    impl_->busy_iterations += static_cast<unsigned>(batch.size());  // steps since the fds were polled
    if (debug_) [[unlikely]] {  // one branch per batch: the loop below stays as tight as without debug mode
        run_batch_debug(batch);
        return;
    }
    while (detail::ready_node* n = batch.pop()) {
        n->queued = false;
        n->run(n);
    }
}

void event_loop::call_soon_threadsafe(detail::unique_function<void()> fn) {
    impl_->producers.fetch_add(1);  // seq_cst, paired with close(): closed.store, then producers.load
    struct leave {
        std::atomic<int>& p;
        ~leave() { p.fetch_sub(1, std::memory_order_release); }  // our last touch of the loop
    } guard{impl_->producers};
    if (impl_->closed.load()) throw std::runtime_error("Event loop is closed");
    auto* n = new detail::threadsafe_node(std::move(fn), this);
    impl_->inbox.push(n);
    if (!impl_->wake_pending.exchange(true)) {
        std::uint64_t one = 1;
        ssize_t r = ::write(impl_->wake_fd, &one, sizeof one);
        (void)r;
    }
}

void handle::cancel() noexcept {
    if (!n_ || n_->cancelled) return;
    n_->cancelled = true;
    n_->fn.reset();  // free what the callback holds now
    if (n_->timer && n_->loop && n_->loop->cancel_timer(n_->timer)) {
        n_->timer = {};
        n_->release();  // the loop's reference: it will never run
    }
}

// --- executors -------------------------------------------------------------------------------
executor& event_loop::default_executor() {
    check_open();
    if (!impl_->default_executor) impl_->default_executor = std::make_shared<thread_pool_executor>();
    return *impl_->default_executor;
}

void event_loop::set_default_executor(std::shared_ptr<executor> ex) {
    if (!ex) throw std::invalid_argument("set_default_executor needs an executor");
    impl_->default_executor = std::move(ex);
}

coro<void> event_loop::shutdown_default_executor() {
    std::shared_ptr<executor> ex = std::move(impl_->default_executor);
    if (!ex) co_return;
    // Joining threads blocks: do it on a thread of its own so the loop keeps running.
    future<void> done = create_future<void>();
    detail::future_state_base* st = done.state_ptr();
    st->add_ref();
    keepalive_acquire();
    std::thread joiner([this, ex, st]() {
        ex->shutdown(true);
        call_soon_threadsafe([this, st]() {
            if (!st->done()) future<void>(st).set_result();
            st->release();
            keepalive_release();
        });
    });
    joiner.detach();
    co_await done;
}

// --- debug mode ------------------------------------------------------------------------------
namespace detail {
namespace {
// Coroutine frames created while their thread's running loop was in debug mode and not yet
// destroyed. One table for the process (not per thread or per loop): a frame destroyed after its
// loop stopped running, or on another thread, is still found, so no key is ever left behind
// for a later frame at the same address. A loop's entries go when it leaves debug mode or dies.
struct coro_record {
    coro_origin origin;
    event_loop* loop;
};
struct coro_registry {
    std::mutex mutex;
    std::unordered_map<const void*, coro_record> frames;
};
coro_registry& coro_frames() {
    static auto* r = new coro_registry;  // never destroyed: frames may die during static destruction
    return *r;
}
void forget_coro_frames(const event_loop* l) noexcept {
    coro_registry& r = coro_frames();
    std::lock_guard lock(r.mutex);
    std::erase_if(r.frames, [l](const auto& e) { return e.second.loop == l; });
}
std::string format_seconds(clock::duration d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", std::chrono::duration<double>(d).count());
    return buf;
}
std::string source_point(const char* file, unsigned line) {
    return std::string(file ? file : "?") + ":" + std::to_string(line);
}
}  // namespace

void note_coro_created(const void* promise, const coro_origin& origin) noexcept {
    loop_core* l = tl_running;
    if (!l || !l->get_debug()) return;
    coro_registry& r = coro_frames();
    try {
        std::lock_guard lock(r.mutex);
        r.frames.insert_or_assign(promise, coro_record{origin, static_cast<event_loop*>(l)});
    } catch (...) {  // out of memory: this frame goes unchecked
    }
}

void note_coro_destroyed(const void* promise, bool started) noexcept {
    coro_registry& r = coro_frames();
    coro_record rec{coro_origin(nullptr, nullptr, 0), nullptr};
    {
        std::lock_guard lock(r.mutex);
        auto it = r.frames.find(promise);
        if (it == r.frames.end()) return;
        rec = it->second;
        r.frames.erase(it);
    }
    // Destroyed by stack unwinding: the exception in flight is the error worth reporting (a
    // create_task that threw, a body that failed before awaiting it). Python's library closes
    // such coroutines in its error paths so that they do not warn either.
    if (started || std::uncaught_exceptions() > 0) return;
    try {
        rec.loop->call_exception_handler({"coroutine '" + std::string(rec.origin.function) +
                                              "' was never awaited (created at " +
                                              source_point(rec.origin.file, rec.origin.line) + ")",
                                          nullptr,
                                          {}});
    } catch (...) {  // building the message ran out of memory
    }
}
}  // namespace detail

void event_loop::set_debug(bool on) noexcept {
    if (on == debug_) return;
    debug_ = on;
    if (on) {
        detail::debug_loop_count.fetch_add(1);
    } else {
        detail::forget_coro_frames(this);
        detail::debug_loop_count.fetch_sub(1);
    }
}

std::ostream* event_loop::default_debug_stream() noexcept { return &std::cerr; }

std::ostream& event_loop::debug_stream() noexcept {
    if (debug_stream_) return *debug_stream_;
    thread_local std::ostream discard(nullptr);  // no buffer: every write is dropped
    return discard;
}

[[gnu::noinline]] void event_loop::run_batch_debug(detail::ready_queue& batch) noexcept {
    // The real clock even on virtual time (which stands still during a step).
    using steady = std::chrono::steady_clock;
    while (detail::ready_node* n = batch.pop()) {
        n->queued = false;
        if (n->run != &detail::task_core::run_step) {
            steady::time_point t0 = steady::now();
            n->run(n);  // may free n
            steady::duration took = steady::now() - t0;
            if (took > slow_callback_duration) {
                try {
                    debug_stream() << "asyncio: callback took " + detail::format_seconds(took) + " s\n"
                                   << std::flush;
                } catch (...) {
                }
            }
            continue;
        }
        auto* t = static_cast<detail::task_core*>(n);
        t->add_ref();  // the step may finish the task and drop the loop's reference
        // Copied now: the frame that was resumed may be gone after the step.
        const detail::promise_base* from = t->started ? t->innermost : nullptr;
        const char* resumed_file = from ? from->await_file : nullptr;
        unsigned resumed_line = from ? from->await_line : 0;
        steady::time_point t0 = steady::now();
        n->run(n);
        steady::duration took = steady::now() - t0;
        if (took > slow_callback_duration) {
            try {
                std::string line = "asyncio: task '" + t->get_name() + "' step took " +
                                   detail::format_seconds(took) + " s (";
                line += from ? "resumed at " + detail::source_point(resumed_file, resumed_line) : "started";
                line += ", ";
                if (t->done() || !t->innermost)
                    line += "finished";
                else
                    line += "suspended at " +
                            detail::source_point(t->innermost->await_file, t->innermost->await_line);
                line += ")\n";
                debug_stream() << line << std::flush;
            } catch (...) {
            }
        }
        t->release();
    }
}

// --- errors ----------------------------------------------------------------------------------
void event_loop::default_exception_handler(const exception_context& ctx) {
    std::ostringstream os;
    os << (ctx.message.empty() ? "Unhandled exception in event loop" : ctx.message);
    if (ctx.task) os << "\ntask: '" << ctx.task.name() << "'";
    if (ctx.exception) os << "\nexception: " << detail::describe_exception(ctx.exception);
    std::cerr << os.str() << std::endl;
}

void event_loop::call_exception_handler(const exception_context& ctx) noexcept {
    try {
        if (handler_)
            handler_(*this, ctx);
        else
            default_exception_handler(ctx);
    } catch (...) {
        std::cerr << "asyncio: exception in the exception handler: "
                  << detail::describe_exception(std::current_exception()) << std::endl;
    }
}

void event_loop::report_unretrieved(detail::future_state_base* f, std::exception_ptr e) noexcept {
    std::string msg = f->is_task ? "Task exception was never retrieved (task '" +
                                       static_cast<detail::task_core*>(f)->get_name() + "')" +
                                       static_cast<detail::task_core*>(f)->created_at()
                                 : std::string("Future exception was never retrieved");
    call_exception_handler({std::move(msg), std::move(e), {}});
}

void event_loop::report_callback_error(const char* message, std::exception_ptr e) noexcept {
    call_exception_handler({message, std::move(e), current_task_ ? any_task(current_task_) : any_task()});
}

// --- fd readiness ----------------------------------------------------------------------------
namespace {
detail::callback_node* make_watch(event_loop* l, detail::unique_function<void()> fn) {
    auto* n = new detail::callback_node(std::move(fn));
    n->loop = l;
    n->persistent = true;
    return n;
}
}  // namespace

void event_loop::add_reader(int fd, detail::unique_function<void()> fn) {
    check_open();
    if (fd < 0) throw std::invalid_argument("add_reader: invalid file descriptor " + std::to_string(fd));
    check_not_socket(fd, "add_reader");
    auto& w = impl_->fds[fd];
    impl_->poller->set_level_interest(fd, true, w.writer != nullptr, detail::level_token(fd));
    if (w.reader) w.reader->retire();
    w.reader = make_watch(this, std::move(fn));
}

void event_loop::add_writer(int fd, detail::unique_function<void()> fn) {
    check_open();
    if (fd < 0) throw std::invalid_argument("add_writer: invalid file descriptor " + std::to_string(fd));
    check_not_socket(fd, "add_writer");
    auto& w = impl_->fds[fd];
    impl_->poller->set_level_interest(fd, w.reader != nullptr, true, detail::level_token(fd));
    if (w.writer) w.writer->retire();
    w.writer = make_watch(this, std::move(fn));
}

bool event_loop::remove_reader(int fd) {
    if (closed_) return false;
    auto it = impl_->fds.find(fd);
    if (it == impl_->fds.end() || !it->second.reader) return false;
    it->second.reader->retire();
    it->second.reader = nullptr;
    impl_->poller->set_level_interest(fd, false, it->second.writer != nullptr, detail::level_token(fd));
    if (!it->second.writer) impl_->fds.erase(it);
    return true;
}

bool event_loop::remove_writer(int fd) {
    if (closed_) return false;
    auto it = impl_->fds.find(fd);
    if (it == impl_->fds.end() || !it->second.writer) return false;
    it->second.writer->retire();
    it->second.writer = nullptr;
    impl_->poller->set_level_interest(fd, it->second.reader != nullptr, false, detail::level_token(fd));
    if (!it->second.reader) impl_->fds.erase(it);
    return true;
}

void event_loop::check_not_socket(int fd, const char* what) const {
    if (io_find(fd))
        throw std::runtime_error(std::string(what) + ": file descriptor " + std::to_string(fd) +
                                 " is used by the loop's socket operations (a net::socket or a sock_* "
                                 "call); an fd is used through one or the other, never both");
}

// --- fds tasks wait on (detail::fd_state) ----------------------------------------------------
detail::fd_state* event_loop::io_find(int fd) const noexcept {
    auto i = static_cast<std::size_t>(fd);
    return fd >= 0 && i < impl_->io_states.size() ? impl_->io_states[i] : nullptr;
}

detail::fd_state* event_loop::io_acquire(int fd) {
    check_open();
    if (fd < 0) throw std::invalid_argument("invalid file descriptor " + std::to_string(fd));
    if (detail::fd_state* st = io_find(fd)) {
        ++st->refs;
        return st;
    }
    if (impl_->fds.count(fd))
        throw std::runtime_error("file descriptor " + std::to_string(fd) +
                                 " is watched with add_reader/add_writer; an fd is used through those or "
                                 "through the loop's socket operations, never both");
    auto i = static_cast<std::size_t>(fd);
    if (i >= impl_->io_states.size()) impl_->io_states.resize(std::max<std::size_t>(i + 1, 64) * 2, nullptr);
    auto* st = new detail::fd_state;
    st->fd = fd;
    st->generation = ++impl_->io_generation;
    st->loop = this;
    st->refs = 1;
    impl_->io_states[i] = st;
    return st;
}

void event_loop::io_register(detail::fd_state* st) {
    if (st->registered) return;
    impl_->poller->add_edge(st->fd, detail::edge_token(st));
    st->registered = true;
}

// Takes `st` out of the table and the poller (its last reference is gone, or its fd closes).
void event_loop::io_drop(detail::fd_state* st) noexcept {
    detail::clear_rx(*impl_->poller, st);
    if (st->registered) {
        impl_->poller->remove_edge(st->fd);
        st->registered = false;
    }
    auto i = static_cast<std::size_t>(st->fd);
    if (i < impl_->io_states.size() && impl_->io_states[i] == st) impl_->io_states[i] = nullptr;
}

bool event_loop::io_start_recv(detail::fd_state* st) {
    if (!impl_->completions || !st->owned) return false;
    if (st->stream_socket < 0) {
        int type = 0;
        socklen_t len = sizeof type;
        st->stream_socket =
            ::getsockopt(st->fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
    }
    if (!st->stream_socket) return false;
    io_register(st);
    if (!impl_->poller->start_recv(st->fd)) return false;
    st->rx_used = st->rx_running = true;
    return true;
}

bool event_loop::io_start_accept(detail::fd_state* st) {
    if (!impl_->completions || !st->owned) return false;
    io_register(st);
    if (!impl_->poller->start_accept(st->fd)) return false;
    st->rx_used = st->rx_running = st->rx_accepts = true;
    return true;
}

std::size_t event_loop::io_take_received(detail::fd_state* st, char* p, std::size_t n) noexcept {
    std::size_t got = 0;
    while (got < n && !st->rx.empty()) {
        detail::rx_item& it = st->rx.front();
        std::size_t k = std::min(n - got, static_cast<std::size_t>(it.value));
        std::memcpy(p + got, impl_->poller->buffer_data(it.buffer) + it.offset, k);
        got += k;
        it.offset += static_cast<std::uint32_t>(k);
        it.value -= static_cast<std::int32_t>(k);
        if (it.value == 0) {
            impl_->poller->recycle(it.buffer);
            st->rx.pop();
        }
    }
    return got;
}

std::size_t event_loop::io_received_size(const detail::fd_state* st) noexcept {
    std::size_t n = 0;
    for (std::uint32_t i = 0; i < st->rx.size(); ++i) n += static_cast<std::size_t>(st->rx.at(i).value);
    return n;
}

int event_loop::io_take_accepted(detail::fd_state* st) noexcept {
    int fd = st->rx.front().value;
    st->rx.pop();
    return fd;
}

void event_loop::io_forget(detail::fd_state* st) noexcept {
    if (st->loop != this) return;
    io_drop(st);
    st->loop = nullptr;
    // Operations waiting on it wake, see that it is detached, and fail with EBADF.
    if (st->reader) st->reader->ready();
    if (st->writer) st->writer->ready();
}

void event_loop::io_release(detail::fd_state* st) noexcept {
    if (--st->refs != 0) return;
    if (st->loop) static_cast<event_loop*>(st->loop)->io_drop(st);
    delete st;
}

// --- signals ---------------------------------------------------------------------------------
void event_loop::add_signal_handler(int signo, detail::unique_function<void()> fn) {
    check_open();
    if (signo <= 0 || signo >= detail::max_signal)
        throw std::invalid_argument("invalid signal number " + std::to_string(signo));
    if (signo == SIGKILL || signo == SIGSTOP)
        throw std::invalid_argument("signal " + std::to_string(signo) + " cannot be caught");
    auto it = impl_->signals.find(signo);
    if (it != impl_->signals.end()) {
        it->second.node->fn = std::move(fn);
        return;
    }
    if (detail::g_signal_wake_fd[signo].load() != 0)
        throw std::runtime_error("signal " + std::to_string(signo) + " is handled by another event loop");
    impl::signal_watch w;
    w.node = make_watch(this, std::move(fn));
    detail::g_signal_pending[signo].store(false);
    detail::g_signal_wake_fd[signo].store(impl_->wake_fd + 1);
    struct sigaction sa {};
    sa.sa_handler = detail::asyncio_signal_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (::sigaction(signo, &sa, &w.previous) < 0) {
        int err = errno;
        detail::g_signal_wake_fd[signo].store(0);
        w.node->release();
        throw std::system_error(err, std::generic_category(), "sigaction");
    }
    impl_->signals.emplace(signo, w);
}

void event_loop::add_internal_signal_handler(int signo, detail::unique_function<void()> fn) {
    add_signal_handler(signo, std::move(fn));
    impl_->signals[signo].internal = true;
}

keep_alive_token event_loop::keep_alive() {
    check_open();
    keepalive_acquire();
    return keep_alive_token(this);
}

void event_loop::keepalive_release() noexcept {
    if (keepalive_.fetch_sub(1, std::memory_order_acq_rel) == 1 && std::this_thread::get_id() != thread_) {
        // The last token: a loop blocked without timers must look again (deadlock check,
        // virtual time), as after a call_soon_threadsafe.
        impl_->producers.fetch_add(1);
        if (!impl_->closed.load() && !impl_->wake_pending.exchange(true)) {
            std::uint64_t one = 1;
            ssize_t r = ::write(impl_->wake_fd, &one, sizeof one);
            (void)r;
        }
        impl_->producers.fetch_sub(1, std::memory_order_release);
    }
}

bool event_loop::remove_signal_handler(int signo) {
    auto it = impl_->signals.find(signo);
    if (it == impl_->signals.end()) return false;
    ::sigaction(signo, &it->second.previous, nullptr);
    detail::g_signal_wake_fd[signo].store(0);
    it->second.node->retire();
    impl_->signals.erase(it);
    return true;
}

event_loop& get_running_loop() { return static_cast<event_loop&>(detail::require_running_loop()); }

any_task current_task() noexcept {
    auto* l = detail::running_loop_core();
    return l ? any_task(l->current_task()) : any_task();
}

std::vector<any_task> all_tasks() {
    auto& l = detail::require_running_loop();
    std::vector<any_task> out;
    for (detail::list_hook* h = l.futures().begin(); h != l.futures().end(); h = h->next) {
        auto* f = static_cast<detail::future_state_base::registry_hook*>(h)->owner;
        if (f->is_task && !f->done()) out.emplace_back(static_cast<detail::task_core*>(f));
    }
    return out;
}

}  // namespace asyncio
