"""A TCP proxy on 127.0.0.1 that adds a round trip's latency, to put a local S3 server
"tens of milliseconds away" as Spaces is from a droplet.

Each direction's bytes are forwarded half a round trip after they arrived, in order, so
a request and its answer cost one round trip, and a new connection one more (its
handshake). Requests on separate connections overlap as they would on the network.
`tc qdisc ... netem` would be the usual tool; this machine's kernel has no netem.

`python -m bench.delay_proxy UPSTREAM_PORT ROUND_TRIP_S PORT` runs one in a process of its
own (until SIGTERM), so its work never waits for the measured service's interpreter lock,
nor the service's for its: a bucket's latency does not cost the service CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import threading
import time
from types import TracebackType

CHUNK_BYTES = 64 * 1024


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Forward every chunk `delay` seconds after it arrived, keeping their order."""
    pending: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def forward() -> None:
        while True:
            due, chunk = await pending.get()
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if not chunk:
                writer.write_eof()
                return
            writer.write(chunk)
            await writer.drain()

    forwarding = asyncio.ensure_future(forward())
    try:
        while True:
            chunk = await reader.read(CHUNK_BYTES)
            pending.put_nowait((time.monotonic() + delay, chunk))
            if not chunk:
                break
        await forwarding
    except (ConnectionError, OSError):
        forwarding.cancel()


class DelayProxy:
    """`with DelayProxy(upstream_port, round_trip_s) as proxy:` then talk to proxy.port."""

    def __init__(self, upstream_port: int, round_trip_s: float, port: int = 0) -> None:
        """`port` 0: any free port (then read `port` once entered)."""
        self.upstream_port = upstream_port
        self.round_trip_s = round_trip_s
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            await asyncio.sleep(self.round_trip_s)  # the TCP handshake
            up_reader, upstream = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            one_way = self.round_trip_s / 2
            await asyncio.gather(
                _pump(reader, upstream, one_way), _pump(up_reader, writer, one_way)
            )
        except (OSError, asyncio.CancelledError):
            # A refused upstream, a reset, or the proxy's shutdown: this connection ends.
            pass
        finally:
            for stream in (writer, upstream):
                if stream is not None:
                    stream.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        connections = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.delay_proxy", description=__doc__)
    parser.add_argument("upstream_port", type=int)
    parser.add_argument("round_trip_s", type=float)
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with DelayProxy(args.upstream_port, args.round_trip_s, args.port):
        stop.wait()


if __name__ == "__main__":
    main()
