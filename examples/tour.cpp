// tour: runs every example program, one after the other, and sums up.
//
//   tour [--dir DIR] [NAME...]
//
// DIR is the folder of the example binaries (default: the build's examples folder,
// ASYNCIO_EXAMPLES_DIR). The basics run first, in the order of the README; every other example
// found there follows, alphabetically, so new examples join the tour without a change here.
// NAME... runs only those. Each example's output is streamed as it runs; at the end, one line per
// example (ok / FAILED, seconds). Exits 1 if any example failed or a known one is missing.
//
// Not a coroutine program: it only starts processes (posix_spawn) and waits for them (waitpid).
#include <dirent.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct known_example {
    const char* name;
    const char* title;        // the heading's text after the name
    const char* description;  // one line under the heading
};

// The basics, in the order they build on each other (and in the README's order).
const known_example known_examples[] = {
    {"hello_world", "the smallest program",
     "asyncio::run(main()): print, sleep 1 s without blocking, print."},
    {"coroutine_object", "coroutines are lazy",
     "Calling a coroutine function runs nothing until it is awaited."},
    {"interleaving", "two tasks, one thread", "Two tasks take turns at each co_await: a0 b0 a1 b1 a2 b2."},
    {"gather_fetch", "three fetches at once",
     "gather(fetch(1), fetch(2), fetch(3)) gives 2, 4, 6 in about 1 s, not 3."},
    {"blocking_call", "never block the loop",
     "A blocking call freezes every task; asyncio::sleep and to_thread / run_in_executor do not."},
    {"thousand_requests", "1000 waits at once",
     "1000 requests of 0.5 s each overlap on one thread: about 0.5 s in all."},
};

const known_example* find_known(const std::string& name) {
    for (const auto& k : known_examples)
        if (name == k.name) return &k;
    return nullptr;
}

// An example binary: a regular, executable file whose name has no dot (CMake's own files have one).
bool is_example_binary(const std::string& dir, const std::string& name) {
    if (name.empty() || name[0] == '.' || name.find('.') != std::string::npos || name == "tour") return false;
    std::string path = dir + "/" + name;
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Every example binary in `dir`, sorted by name.
std::vector<std::string> list_examples(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return names;
    while (dirent* e = ::readdir(d))
        if (is_example_binary(dir, e->d_name)) names.emplace_back(e->d_name);
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

// The known examples first (in their order, missing ones too: they are reported), then the others.
std::vector<std::string> tour_order(const std::vector<std::string>& found) {
    std::vector<std::string> order;
    for (const auto& k : known_examples) order.emplace_back(k.name);
    for (const auto& name : found)
        if (!find_known(name)) order.push_back(name);
    return order;
}

struct outcome {
    std::string name;
    bool ok = false;
    std::string status;  // "ok", "FAILED (exit 1)", "FAILED (not found)"...
    double seconds = 0;
};

// Runs `path` with no arguments, its output going straight to ours; returns how it ended.
outcome run_example(const std::string& dir, const std::string& name) {
    outcome r;
    r.name = name;
    std::string path = dir + "/" + name;
    std::fflush(stdout);  // our heading before the child's output
    std::fflush(stderr);

    auto start = std::chrono::steady_clock::now();
    char* argv[] = {path.data(), nullptr};
    pid_t pid = 0;
    int rc = ::posix_spawn(&pid, path.c_str(), nullptr, nullptr, argv, environ);
    if (rc != 0) {
        r.status = std::string("FAILED (cannot start: ") + std::strerror(rc) + ")";
        return r;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            r.status = std::string("FAILED (waitpid: ") + std::strerror(errno) + ")";
            return r;
        }
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        r.ok = true;
        r.status = "ok";
    } else if (WIFEXITED(status)) {
        r.status = "FAILED (exit " + std::to_string(WEXITSTATUS(status)) + ")";
    } else if (WIFSIGNALED(status)) {
        r.status = std::string("FAILED (") + strsignal(WTERMSIG(status)) + ")";
    } else {
        r.status = "FAILED (status " + std::to_string(status) + ")";
    }
    return r;
}

void print_heading(const std::string& name) {
    const known_example* k = find_known(name);
    if (k)
        std::printf("\n== %s: %s ==\n%s\n\n", k->name, k->title, k->description);
    else
        std::printf("\n== %s ==\n\n", name.c_str());
}

int usage(const char* argv0, int code) {
    std::fprintf(code ? stderr : stdout,
                 "usage: %s [--dir DIR] [NAME...]\n"
                 "Runs the example programs in DIR (default: the build's examples folder), or only NAME...\n",
                 argv0);
    return code;
}

}  // namespace

int main(int argc, char** argv) {
#ifdef ASYNCIO_EXAMPLES_DIR
    std::string dir = ASYNCIO_EXAMPLES_DIR;
#else
    std::string dir = ".";
#endif
    std::vector<std::string> only;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--dir" && i + 1 < argc)
            dir = argv[++i];
        else if (a == "-h" || a == "--help")
            return usage(argv[0], 0);
        else if (!a.empty() && a[0] != '-')
            only.push_back(a);
        else
            return usage(argv[0], 2);
    }

    std::vector<std::string> order = tour_order(list_examples(dir));
    if (!only.empty()) order = only;

    std::printf("asyncio-cpp tour: Python's asyncio in C++20, one example at a time (from %s)\n",
                dir.c_str());
    std::vector<outcome> results;
    for (const auto& name : order) {
        print_heading(name);
        if (!is_example_binary(dir, name)) {
            std::printf("(not found in %s)\n", dir.c_str());
            results.push_back({name, false, "FAILED (not found)", 0});
            continue;
        }
        results.push_back(run_example(dir, name));
    }

    int failed = 0;
    std::printf("\n== summary ==\n");
    for (const auto& r : results) {
        std::printf("  %-24s %-28s %6.2f s\n", r.name.c_str(), r.status.c_str(), r.seconds);
        if (!r.ok) ++failed;
    }
    std::printf("%zu example%s, %d failed\n", results.size(), results.size() == 1 ? "" : "s", failed);
    return failed ? 1 : 0;
}
