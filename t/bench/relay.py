#!/usr/bin/env python3
"""relay.py - a TCP relay on loopback that adds latency, for benchmarks
over a link like the ones users have (this machine's kernel has no netem).

    python3 t/bench/relay.py PORTFILE TARGET_PORT DELAY_MS [MBIT]

Listens on 127.0.0.1 (an ephemeral port, written to PORTFILE), and
forwards every connection to 127.0.0.1:TARGET_PORT.  Each chunk read in
either direction is delivered DELAY_MS later, in order, so a round trip
costs 2 * DELAY_MS; with MBIT, each direction is also held to that rate.
Runs until killed.
"""
import asyncio
import os
import sys
import time


async def pipe(reader, writer, delay, rate):
    """Copy reader to writer, each chunk delivered delay s after it came."""
    queue = asyncio.Queue()
    free_at = 0.0  # when the link is free again (rate cap)

    async def deliver():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass

    task = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            now = time.monotonic()
            if rate:
                free_at = max(free_at, now) + len(data) / rate
                due = free_at + delay
            else:
                due = now + delay
            await queue.put((due, data))
    except (ConnectionError, OSError):
        pass
    await queue.put((0, None))
    try:
        await task
    except (ConnectionError, OSError):
        pass


async def main():
    portfile, target, delay_ms = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    rate = float(sys.argv[4]) * 1e6 / 8 if len(sys.argv) > 4 else 0
    delay = delay_ms / 1000

    async def handle(cr, cw):
        try:
            tr, tw = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            cw.close()
            return
        await asyncio.gather(pipe(cr, tw, delay, rate), pipe(tr, cw, delay, rate))
        for w in (cw, tw):
            w.close()

    await serve(handle, portfile)


async def serve(handle, portfile):
    """Serve handle on an ephemeral port of 127.0.0.1, written to portfile
    (whole, by rename) once it listens; also for t/faultrelay.py."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with open(portfile + ".new", "w") as f:
        f.write(f"{port}\n")
    os.rename(portfile + ".new", portfile)
    async with server:
        await server.serve_forever()


def run(main):
    """Run main until killed."""
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    run(main)
