#!/usr/bin/env python3
"""Python's own asyncio on the other end of asyncio-cpp's streams (tests/test_server.cpp).

    echo_peer.py server          an asyncio echo server on 127.0.0.1, port 0: prints the port on
                                 stdout, echoes every connection until its EOF, and exits when
                                 stdin reaches EOF (the test closes it) or after 60 s.
    echo_peer.py client PORT     an asyncio client of an echo server on 127.0.0.1:PORT: sends
                                 lines, a 1 MiB message and a few chunks, checks that the same
                                 bytes come back, prints "ok" and exits 0 (else says what differed
                                 on stderr and exits 1).

Standard library only. The 1 MiB message is the same pattern as the C++ side's pattern(n).
"""
import asyncio
import struct
import sys


def pattern(n):
    """Bytes that show where they were in the stream (test_server.cpp's pattern())."""
    words = ((i + 1) * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF for i in range((n + 7) // 8))
    return b"".join(struct.pack("<Q", w) for w in words)[:n]


async def echo(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def serve():
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.buffer.read)
    try:
        await asyncio.wait_for(stdin_closed, 60)
    except TimeoutError:
        pass
    server.close()


async def client(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    messages = [b"hello\n", pattern(1 << 20), b"x" * 100000, b"last line\n"]
    for m in messages:
        writer.write(m)
        await writer.drain()
        back = await reader.readexactly(len(m))
        if back != m:
            print(f"echo of a {len(m)}-byte message differs", file=sys.stderr)
            return 1
    # Several writes before reading: the echo comes back in one stream.
    chunks = [pattern(1000 * (i + 1)) for i in range(20)]
    writer.writelines(chunks)
    await writer.drain()
    total = b"".join(chunks)
    back = await reader.readexactly(len(total))
    if back != total:
        print("echo of the chunks differs", file=sys.stderr)
        return 1
    writer.write_eof()
    rest = await reader.read()
    if rest != b"":
        print(f"unexpected bytes before EOF: {rest[:40]!r}", file=sys.stderr)
        return 1
    writer.close()
    await writer.wait_closed()
    print("ok", flush=True)
    return 0


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "server":
        asyncio.run(serve())
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "client":
        return asyncio.run(asyncio.wait_for(client(int(sys.argv[2])), 60))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
