"""A TCP proxy on loopback that injects faults in front of a real service (Elasticsearch, SMTP).

Fault-injection tests point newsmon at the proxy instead of the service and switch its mode
while a run is going on:

    pass        forward both ways (the default)
    blackhole   accept connections, read what comes, never answer
    refuse      accept and close at once (the service is down)

and arm one-shot faults keyed on what the client sends (for HTTP: a fragment of the request
line such as b"_bulk"):

    slow_answer(b"_bulk", seconds)   forward the request, hold its answer for `seconds`: the
                                     service did the work, the client timed out
    die_after(b"_bulk")              forward the request and its answer, then drop every
                                     connection and refuse new ones (the service was killed
                                     right after that request); `mode = "pass"` restarts it
    drop_answer(b"\r\n.\r\n")          forward the request, let the service answer, and cut
                                     that connection instead of passing the answer on (the
                                     service did the work, the client never hears it); new
                                     connections still pass

A marker is looked for in the first line of what the client sends, or with ``anywhere=True``
in the whole chunk (SMTP: the end of DATA, ``b"\r\n.\r\n"``, closes the message's last chunk).

Hand-written on asyncio streams: the faults are defined by when bytes move, which no proxy
library exposes as an API.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, TypeVar

__all__ = ["FaultProxy"]

Mode = Literal["pass", "blackhole", "refuse"]
T = TypeVar("T")
_CHUNK = 64 * 1024


@dataclass
class _Trigger:
    marker: bytes
    seconds: float = 0.0
    fired: bool = False
    anywhere: bool = False

    def matches(self, line: bytes, chunk: bytes) -> bool:
        return not self.fired and self.marker in (chunk if self.anywhere else line)


@dataclass
class _State:
    mode: Mode = "pass"
    slow: list[_Trigger] = field(default_factory=list)
    die: list[_Trigger] = field(default_factory=list)
    drop: list[_Trigger] = field(default_factory=list)
    seen: list[bytes] = field(default_factory=list)  # first line of each client chunk


class FaultProxy:
    """A proxy from 127.0.0.1:<port> to `target_host:target_port`, faults switchable at runtime."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._state = _State()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    # -- control (from the test's thread) --

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mode(self) -> Mode:
        with self._lock:
            return self._state.mode

    @mode.setter
    def mode(self, value: Mode) -> None:
        with self._lock:
            self._state.mode = value
        if value != "pass":
            self._call(self._drop_all())

    def slow_answer(self, marker: bytes, seconds: float, *, anywhere: bool = False) -> None:
        with self._lock:
            self._state.slow.append(_Trigger(marker, seconds, anywhere=anywhere))

    def die_after(self, marker: bytes, *, anywhere: bool = False) -> None:
        with self._lock:
            self._state.die.append(_Trigger(marker, anywhere=anywhere))

    def drop_answer(self, marker: bytes, *, anywhere: bool = False) -> None:
        with self._lock:
            self._state.drop.append(_Trigger(marker, anywhere=anywhere))

    def fired(self) -> int:
        """How many armed faults have gone off."""
        with self._lock:
            st = self._state
            return sum(t.fired for t in (*st.slow, *st.die, *st.drop))

    def requests_seen(self) -> list[bytes]:
        with self._lock:
            return list(self._state.seen)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            self._call(self._drop_all())
            self._call(self._finish_handlers())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _call(self, coro: Awaitable[T]) -> T:
        async def run() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    # -- the proxy (on its own loop) --

    async def _drop_all(self) -> None:
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def _finish_handlers(self) -> None:
        # Each open connection's handler task is cancelled and awaited before the loop stops;
        # a loop stopped under them prints "Task was destroyed but it is pending!" per task.
        me = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mode = self.mode
        if mode == "refuse":
            writer.transport.abort()
            return
        self._writers.add(writer)
        if mode == "blackhole":
            with contextlib.suppress(Exception):
                while await reader.read(_CHUNK):
                    pass
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        held = asyncio.Event()  # set while an answer must wait
        hold_for: list[float] = [0.0]
        die_next: list[bool] = [False, False]  # [die after the answer, drop the answer]
        await asyncio.gather(
            self._upstream(reader, up_writer, held, hold_for, die_next),
            self._downstream(up_reader, writer, held, hold_for, die_next),
            return_exceptions=True,
        )
        for w in (writer, up_writer):
            w.transport.abort()
            self._writers.discard(w)

    def _arm(self, chunk: bytes, hold_for: list[float], die_next: list[bool]) -> None:
        line = chunk.split(b"\r\n", 1)[0][:200]
        with self._lock:
            self._state.seen.append(line)
            for t in self._state.slow:
                if t.matches(line, chunk):
                    t.fired = True
                    hold_for[0] = t.seconds
            for t in self._state.die:
                if t.matches(line, chunk):
                    t.fired = True
                    die_next[0] = True
            for t in self._state.drop:
                if t.matches(line, chunk):
                    t.fired = True
                    die_next[1] = True

    async def _upstream(
        self,
        reader: asyncio.StreamReader,
        up: asyncio.StreamWriter,
        held: asyncio.Event,
        hold_for: list[float],
        die_next: list[bool],
    ) -> None:
        while chunk := await reader.read(_CHUNK):
            if self.mode != "pass":
                return
            self._arm(chunk, hold_for, die_next)
            up.write(chunk)
            await up.drain()

    async def _downstream(
        self,
        up: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        held: asyncio.Event,
        hold_for: list[float],
        die_next: list[bool],
    ) -> None:
        while chunk := await up.read(_CHUNK):
            if hold_for[0]:
                seconds, hold_for[0] = hold_for[0], 0.0
                await asyncio.sleep(seconds)
            if self.mode != "pass":
                return
            if die_next[1]:  # the service answered; the client never hears it
                writer.transport.abort()
                return
            writer.write(chunk)
            await writer.drain()
            if die_next[0]:
                # The answer is out; the service dies before anything else gets through.
                with self._lock:
                    self._state.mode = "refuse"
                await self._drop_all()
                return
