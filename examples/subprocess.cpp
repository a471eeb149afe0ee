// subprocess: runs child processes and talks to them through pipes, as streams.
//
// First `ls -l /`: its stdout is a stream_reader; each line is printed with a counter as
// readline() gets it (a long listing would stream the same way, while the child still writes),
// then the exit code. Then text goes through `sort`: the words are written to its stdin (a
// stream_writer), write_eof() closes the pipe so that sort sees the end of its input, and the
// sorted lines are read back from its stdout.
//
// The Python it mirrors (3.13):
//     proc = await asyncio.create_subprocess_exec("ls", "-l", "/", stdout=asyncio.subprocess.PIPE)
//     n = 0
//     while line := await proc.stdout.readline():
//         n += 1
//         print(f"{n:3}  {line.decode().rstrip()}")
//     code = await proc.wait()
//
//     sort = await asyncio.create_subprocess_exec("sort", stdin=PIPE, stdout=PIPE)
//     sort.stdin.write("\n".join(words).encode() + b"\n")
//     await sort.stdin.drain()
//     sort.stdin.write_eof()
//     sorted_words = (await sort.stdout.read()).decode().split()
//     await sort.wait()
//
// Exits 0 when ls listed every entry of / (one line each, after its "total" line) and exited
// with 0, and sort gave the words back in order.
#include <algorithm>
#include <asyncio/asyncio.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

// README: begin subprocess
asyncio::coro<int> list_directory(std::string dir) {
    asyncio::subprocess_options opts;
    opts.out = asyncio::stdio::pipe;
    std::vector<std::string> args{"-l", dir};
    asyncio::process ls = co_await asyncio::create_subprocess_exec("ls", args, opts);
    asyncio::stream_reader out = ls.stdout_reader();
    int n = 0;
    for (;;) {
        std::string line = co_await out.readline();  // as soon as a whole line has come; "" at EOF
        if (line.empty()) break;
        std::printf("%3d  %s", ++n, line.c_str());
    }
    int code = co_await ls.wait();
    std::printf("ls exited with %d after %d lines\n", code, n);
    co_return code == 0 ? n : -1;
}

asyncio::coro<std::vector<std::string>> sort_words(std::vector<std::string> words) {
    asyncio::subprocess_options opts;
    opts.in = asyncio::stdio::pipe;
    opts.out = asyncio::stdio::pipe;
    std::vector<std::string> no_args;
    asyncio::process sort = co_await asyncio::create_subprocess_exec("sort", no_args, opts);
    asyncio::stream_writer in = sort.stdin_writer();
    for (const std::string& w : words) in.write(w + "\n");
    co_await in.drain();  // waits only while the pipe and the writer's buffer are full
    in.write_eof();       // closes the pipe: sort reads EOF and starts writing
    asyncio::stream_reader out = sort.stdout_reader();
    std::vector<std::string> sorted;
    for (;;) {
        std::string line = co_await out.readline();
        if (line.empty()) break;
        sorted.push_back(line.substr(0, line.size() - 1));
    }
    co_await sort.wait();
    co_return sorted;
}
// README: end subprocess

asyncio::coro<bool> main_coro() {
    int lines = co_await list_directory("/");
    int entries = 0;  // what ls -l lists: the entries whose names do not start with a dot
    for (const auto& e : std::filesystem::directory_iterator("/"))
        if (e.path().filename().string()[0] != '.') ++entries;
    bool listed = lines == entries + 1;  // + the "total" line
    if (!listed) std::printf("expected %d lines (%d entries + total), got %d\n", entries + 1, entries, lines);

    std::vector<std::string> words{"pear", "apple", "fig", "cherry", "banana"};
    std::vector<std::string> sorted = co_await sort_words(words);
    std::string shown;
    for (const std::string& w : sorted) shown += w + " ";
    std::printf("sort: %s\n", shown.c_str());
    std::sort(words.begin(), words.end());
    co_return listed&& sorted == words;
}

int main() { return asyncio::run(main_coro()) ? 0 : 1; }
