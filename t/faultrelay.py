#!/usr/bin/env python3
"""faultrelay.py - a TCP relay on loopback that breaks connections, for
the fault suite (t/faults.bats).

    python3 t/faultrelay.py PORTFILE TARGET_PORT up:BYTES
    python3 t/faultrelay.py PORTFILE TARGET_PORT down:BYTES
    python3 t/faultrelay.py PORTFILE 0 mute

Listens on 127.0.0.1 (an ephemeral port, written to PORTFILE when it
listens) and, for up: and down:, forwards every connection to
127.0.0.1:TARGET_PORT until BYTES have passed in that direction (up: from
the client, down: to it); then it closes both sides at once, as a link
that drops does, the bytes past the limit never delivered.  Each
connection counts from 0.  With mute it accepts every connection and
never sends or reads a byte: a host that answers TCP and nothing else.
Each connection cut is logged as a line "cut N" on standard output.
Runs until killed.
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
import relay  # noqa: E402 (t/bench/relay.py: serve, run)


async def pipe(reader, writer, limit, done):
    """Copy reader to writer; with limit, stop after limit bytes."""
    sent = 0
    try:
        while not done.is_set():
            data = await reader.read(1 << 16)
            if not data:
                break
            if limit is not None and sent + len(data) >= limit:
                writer.write(data[: limit - sent])
                await writer.drain()
                sent = limit
                print(f"cut {sent}", flush=True)
                break
            writer.write(data)
            await writer.drain()
            sent += len(data)
    except (ConnectionError, OSError):
        pass
    done.set()


async def main():
    portfile, target, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    held = []
    if mode == "mute":
        limit_up = limit_down = None
    else:
        way, n = mode.split(":")
        limit_up = int(n) if way == "up" else None
        limit_down = int(n) if way == "down" else None

    async def handle(cr, cw):
        if mode == "mute":
            held.append(cw)  # never read, never written, never closed
            return
        try:
            tr, tw = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            cw.close()
            return
        done = asyncio.Event()
        up = asyncio.ensure_future(pipe(cr, tw, limit_up, done))
        down = asyncio.ensure_future(pipe(tr, cw, limit_down, done))
        await done.wait()
        # A drop: both sides closed at once, whatever is in flight.
        for w in (cw, tw):
            try:
                w.transport.abort()
            except (OSError, RuntimeError):
                pass
        for t in (up, down):
            t.cancel()

    await relay.serve(handle, portfile)


if __name__ == "__main__":
    relay.run(main)
