// Task dumps and deadlock reports: built from what each waiting task's leaf says it waits for
// (wait_ops::describe) and from the frames' recorded co_await sites. Never on a hot path.
#include <algorithm>
#include <asyncio/debug.hpp>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "task_group_registry.hpp"

namespace asyncio {
namespace detail {

namespace {

std::string task_label(const task_core* t) { return "task '" + t->get_name() + "'"; }

struct task_view {
    const task_core* task = nullptr;
    wait_info info;
    std::vector<const task_core*> children;  // awaited tasks, then task-group children
    bool has_parent = false;
};

std::vector<const task_core*> pending_tasks(loop_core& loop) {
    std::vector<const task_core*> out;
    intrusive_list& futures = loop.futures();
    for (list_hook* h = futures.begin(); h != futures.end(); h = h->next) {
        const future_state_base* f = static_cast<future_state_base::registry_hook*>(h)->owner;
        if (f->is_task && !f->done()) out.push_back(static_cast<const task_core*>(f));
    }
    // Creation order: task ids grow.
    std::sort(out.begin(), out.end(), [](const task_core* a, const task_core* b) { return a->id < b->id; });
    return out;
}

wait_info describe_wait(const task_core* t) {
    wait_info info;
    if (t->loop && t->loop->current_task() == t)
        info.what = "";  // running now
    else if (t->waiting && t->waiting->ops && t->waiting->ops->describe)
        t->waiting->ops->describe(t->waiting, info);
    else if (!t->started)
        info.what = "its first step (not started)";
    else if (t->waiting)
        info.what = "something";
    else
        info.what = "its turn (ready to run)";
    return info;
}

std::string wait_text(const wait_info& info) {
    std::string s = info.what;
    if (info.holder) s += " held by " + task_label(info.holder);
    return s;
}

// " waits for X", or " is running" for the task being stepped (the one that asked for the dump).
std::string line_text(const wait_info& info) {
    return info.what.empty() && info.awaits.empty() ? std::string(" is running")
                                                    : " waits for " + wait_text(info);
}

void print_chain(std::ostream& os, const task_core* t, const std::string& indent) {
    if (!t->started) return;  // no frame has run yet
    for (const promise_base* p = t->innermost; p; p = p->parent)
        os << indent << "at " << (p->await_file ? p->await_file : "?") << ":" << p->await_line << "\n";
}

struct graph {
    std::vector<const task_core*> order;
    std::unordered_map<const task_core*, task_view> views;
};

graph build_graph(loop_core& loop) {
    graph g;
    g.order = pending_tasks(loop);
    for (const task_core* t : g.order) {
        task_view& v = g.views[t];
        v.task = t;
        v.info = describe_wait(t);
        v.children = v.info.awaits;
    }
    // A task group's children hang under its parent even while the parent runs its body.
    for (const auto& [parent, kids] : task_group_edges(&loop)) {
        auto it = g.views.find(parent);
        if (it == g.views.end()) continue;
        for (const task_core* k : kids)
            if (std::find(it->second.children.begin(), it->second.children.end(), k) ==
                it->second.children.end())
                it->second.children.push_back(k);
    }
    for (auto& [t, v] : g.views)
        for (const task_core* k : v.children) {
            auto it = g.views.find(k);
            if (it != g.views.end() && it->first != t) it->second.has_parent = true;
        }
    return g;
}

void print_tree(std::ostream& os, const graph& g, const task_core* t, int depth,
                std::unordered_set<const task_core*>& shown) {
    std::string indent(static_cast<std::size_t>(depth) * 4, ' ');
    auto it = g.views.find(t);
    if (it == g.views.end()) return;
    if (!shown.insert(t).second) {
        os << indent << "* " << task_label(t) << " (shown above)\n";
        return;
    }
    const task_view& v = it->second;
    os << indent << "* " << task_label(t) << line_text(v.info) << "\n";
    print_chain(os, t, indent + "    ");
    for (const task_core* k : v.children) print_tree(os, g, k, depth + 1, shown);
}

// The tasks `t` waits on: the holder of what it waits for, else what it awaits.
std::vector<const task_core*> next_of(const graph& g, const task_core* t) {
    auto it = g.views.find(t);
    if (it == g.views.end()) return {};
    const wait_info& info = it->second.info;
    std::vector<const task_core*> out;
    if (info.holder) out.push_back(info.holder);
    for (const task_core* k : info.awaits) out.push_back(k);
    return out;
}

// Depth-first search for a cycle of waits reachable from `from`.
bool find_cycle(const graph& g, const task_core* t, std::vector<const task_core*>& path,
                std::unordered_set<const task_core*>& done, std::vector<const task_core*>& cycle) {
    auto on_path = std::find(path.begin(), path.end(), t);
    if (on_path != path.end()) {
        cycle.assign(on_path, path.end());
        cycle.push_back(t);
        return true;
    }
    if (done.count(t)) return false;
    path.push_back(t);
    for (const task_core* n : next_of(g, t))
        if (find_cycle(g, n, path, done, cycle)) return true;
    path.pop_back();
    done.insert(t);
    return false;
}

// "task 'A' waits for lock L held by task 'B', which waits for ..."
std::string explain(const graph& g, const std::vector<const task_core*>& steps, bool is_cycle) {
    std::string s;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const task_core* t = steps[i];
        if (i > 0) s += ", which ";
        if (is_cycle && i + 1 == steps.size()) {
            s.resize(s.size() - 8);  // drop ", which "
            s += " (a cycle)";
            break;
        }
        if (i == 0) s += task_label(t) + " ";
        auto it = g.views.find(t);
        if (it == g.views.end()) {
            s += "(is gone)";
            break;
        }
        const wait_info& info = it->second.info;
        s += "waits for " + wait_text(info);
        if (!is_cycle && i + 1 == steps.size() && !info.holder && info.awaits.empty())
            s += " that nothing can wake";
        if (i + 1 < steps.size() && info.holder != steps[i + 1] &&
            info.what.find(task_label(steps[i + 1])) == std::string::npos)
            s += " (" + task_label(steps[i + 1]) + ")";
    }
    return s;
}

}  // namespace

std::string describe_deadlock(loop_core& loop, const task_core* main) {
    graph g = build_graph(loop);
    std::ostringstream os;
    os << "deadlock: every task waits and nothing can wake them (no ready callback, timer, I/O watcher, "
          "signal handler, executor job or keep-alive token); "
       << g.order.size() << (g.order.size() == 1 ? " task waits" : " tasks wait") << ":\n";
    for (const task_core* t : g.order) {
        os << "  " << task_label(t) << line_text(g.views[t].info) << "\n";
        print_chain(os, t, "      ");
    }
    // The cycle, if there is one (from the main task first, then from any task).
    std::vector<const task_core*> cycle;
    {
        std::unordered_set<const task_core*> done;
        std::vector<const task_core*> path;
        if (main && g.views.count(main)) find_cycle(g, main, path, done, cycle);
        for (const task_core* t : g.order) {
            if (!cycle.empty()) break;
            path.clear();
            find_cycle(g, t, path, done, cycle);
        }
    }
    if (!cycle.empty()) {
        os << "cycle: " << explain(g, cycle, true) << "\n";
    } else if (main && g.views.count(main)) {
        // The chain of waits from the main task to one that nothing can wake.
        std::vector<const task_core*> chain{main};
        std::unordered_set<const task_core*> seen{main};
        for (;;) {
            std::vector<const task_core*> next = next_of(g, chain.back());
            if (next.empty() || seen.count(next.front())) break;
            seen.insert(next.front());
            chain.push_back(next.front());
        }
        os << "chain: " << explain(g, chain, false) << "\n";
    }
    return os.str();
}

void dump_task_tree(loop_core& loop, std::ostream& os) {
    graph g = build_graph(loop);
    os << "asyncio: " << g.order.size() << (g.order.size() == 1 ? " task" : " tasks") << "\n";
    std::unordered_set<const task_core*> shown;
    for (const task_core* t : g.order)
        if (!g.views[t].has_parent) print_tree(os, g, t, 0, shown);
    for (const task_core* t : g.order)  // tasks only reachable through a cycle
        if (!shown.count(t)) print_tree(os, g, t, 0, shown);
}

}  // namespace detail

void dump_tasks(event_loop& loop, std::ostream& os) { detail::dump_task_tree(loop, os); }

void dump_tasks(std::ostream& os) { dump_tasks(get_running_loop(), os); }

}  // namespace asyncio
