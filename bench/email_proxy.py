"""A loopback TCP proxy that delays every chunk, each way, by a fixed time: a slow link.

    python -m bench.email_proxy --port 0 --target 127.0.0.1:143 --delay-ms 10

With 10 ms each way a round trip costs 20 ms more, as to an IMAP server a
country away; bandwidth is not limited, so only the round trips a protocol
needs show. Each chunk read is stamped on arrival and written out `delay`
later, in order: a later chunk never overtakes an earlier one, and a stream of
chunks keeps flowing (it is delayed, not serialised behind one sleep per
chunk). It runs as its own process so its CPU is not the measured client's.
On start it prints `listening on PORT` to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_CHUNK = 256 * 1024
# The reader stops reading when this much is waiting to be written, so a fast
# sender can't fill the proxy's memory (TCP's own back-pressure then applies).
_MAX_QUEUED = 64


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_MAX_QUEUED)

    async def read() -> None:
        try:
            while chunk := await reader.read(_CHUNK):
                await queue.put((loop.time() + delay, chunk))
        finally:
            await queue.put((loop.time() + delay, b""))  # end of stream, delayed too

    async def write() -> None:
        while True:
            due, chunk = await queue.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if not chunk:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            writer.write(chunk)
            await writer.drain()

    reading = asyncio.create_task(read())
    try:
        await write()
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await reading


async def _serve_one(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    target: tuple[str, int],
    delay: float,
) -> None:
    try:
        server_reader, server_writer = await asyncio.open_connection(*target)
    except OSError:
        client_writer.close()
        return
    try:
        await asyncio.gather(
            _pipe(client_reader, server_writer, delay),
            _pipe(server_reader, client_writer, delay),
        )
    except (OSError, asyncio.IncompleteReadError):
        pass
    except asyncio.CancelledError:
        return  # the proxy is shutting down: nothing more to relay
    finally:
        for w in (client_writer, server_writer):
            w.close()
            with contextlib.suppress(OSError):
                await w.wait_closed()


async def serve(port: int, target: tuple[str, int], delay: float) -> None:
    server = await asyncio.start_server(
        lambda r, w: _serve_one(r, w, target, delay), "127.0.0.1", port
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"listening on {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    delay_ms: float
    pid: int


@contextmanager
def delay_proxy(target_host: str, target_port: int, delay_ms: float) -> Iterator[Proxy]:
    """A proxy process in front of `target`, stopped (by its own id) on exit."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.email_proxy",
            "--port",
            "0",
            "--target",
            f"{target_host}:{target_port}",
            "--delay-ms",
            str(delay_ms),
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(__file__))},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the delay proxy did not start: {line!r}")
        # Printed once the socket is bound and listening: connections queue from here.
        port = int(line.rsplit(" ", 1)[1])
        yield Proxy("127.0.0.1", port, delay_ms, proc.pid)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    p.add_argument("--target", required=True, help="HOST:PORT to forward to")
    p.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay per chunk")
    a = p.parse_args(argv)
    host, _, port = a.target.rpartition(":")
    asyncio.run(serve(a.port, (host, int(port)), a.delay_ms / 1000))


if __name__ == "__main__":
    main()
