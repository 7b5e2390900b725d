"""A real HTTP feed server on loopback, for integration tests and local demos.

Serves the files of one directory with ETag / Last-Modified validators and answers conditional
requests with 304, like a well-behaved CDN. Extra routes under `/_/` misbehave on purpose:

    /_/status/<code>           empty response with that status (500, 404, 429, ...);
                               ?retry_after=<value> adds a Retry-After header
    /_/reset/<bytes>/<name>    announces the whole file, sends that many bytes, resets the TCP
                               connection (a server that dies mid-body)
    /_/hang/<seconds>          waits before answering at all (at most 30 s)
    /_/trickle/<seconds>       sends headers, then one byte every 0.2 s for that long (at most 30 s)
    /_/redirect?to=<url>&code=<3xx>   redirect to any URL (default 302)
    /_/redirect-loop/<n>       redirects to itself forever
    /_/big/<bytes>             a body of that size, with Content-Length
    /_/big-unsized/<bytes>     a body of that size, without Content-Length
    /_/gzip/<name>             a feed file sent gzip-encoded
    /_/plain/<name>            a feed file with no validators: always 200, never 304
    /_/stale304/<name>         answers 304 to any conditional request, news or not (a broken
                               cache); unconditional requests get the file

`FeedServer.script(name, status, headers)` makes a served file answer with that status (and
headers) instead, until `FeedServer.unscript(name)`: a feed that fails for a while, then recovers.

A file `<name>.cut` beside a served file, holding a byte count, makes the server send only
that many bytes of it under the whole file's ETag and Last-Modified (a cache that stored a
partial object): delete it and the same validators now stand for the whole file.

`latency` (seconds, default 0) delays every response by that much, like a distant server: the
Celery scaling test serves its feeds with 50 ms.

Written on http.server rather than a framework: the point is full control over misbehaviour
(hanging, trickling, lying sizes) with no dependency in tests. Run it for a demo with

    python -m localdev.feedserver --dir tests/fixtures/feeds --port 8081 [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import email.utils
import gzip
import hashlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, quote, urlsplit

_MAX_STALL_SECONDS = 30.0
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered, as tests want to see it."""

    method: str
    path: str
    status: int
    if_none_match: str | None
    if_modified_since: str | None
    user_agent: str | None
    accept_encoding: str | None


def content_type_for(path: Path, head: bytes) -> str:
    """Media type of a feed file, from its root element (extensions say little: all are .xml)."""
    if path.suffix == ".json":
        return "application/feed+json"
    sample = head[:2048].lower()
    if b"<rss" in sample:
        kind = "application/rss+xml"
    elif b"<feed" in sample:
        kind = "application/atom+xml"
    elif b"<rdf:rdf" in sample:
        kind = "application/rdf+xml"
    elif path.suffix in (".xml", ".rss", ".atom"):
        kind = "application/xml"
    else:
        return "application/octet-stream"
    # No charset parameter: an XML media type then defers to the document's own declaration,
    # which is what the non-UTF-8 fixtures rely on.
    return kind


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "newsmon-feedserver/1"

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_HEAD(self) -> None:
        self._dispatch(send_body=False)

    def do_GET(self) -> None:
        self._dispatch(send_body=True)

    # --- plumbing ---------------------------------------------------------------------------

    def _record(self, status: int) -> None:
        self.server.record(
            RequestRecord(
                method=self.command,
                path=self.path,
                status=status,
                if_none_match=self.headers.get("If-None-Match"),
                if_modified_since=self.headers.get("If-Modified-Since"),
                user_agent=self.headers.get("User-Agent"),
                accept_encoding=self.headers.get("Accept-Encoding"),
            )
        )

    def _reply(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        send_body: bool = True,
    ) -> None:
        self._record(status)
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and status != 304 and body:
            self.wfile.write(body)

    def _stall(self, seconds: float) -> bool:
        """Sleep up to `seconds` (capped); False when the server is shutting down."""
        return not self.server.closing.wait(min(max(seconds, 0.0), _MAX_STALL_SECONDS))

    def _dispatch(self, *, send_body: bool) -> None:
        parts = urlsplit(self.path)
        segments = [s for s in parts.path.split("/") if s]
        if self.server.latency > 0 and not self._stall(self.server.latency):
            return  # shutting down
        try:
            if segments[:1] == ["_"] and len(segments) >= 2:
                self._special(segments[1], segments[2:], parse_qs(parts.query), send_body)
            else:
                self._file("/".join(segments), send_body=send_body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (timeout tests do exactly that); nothing left to answer.
            pass

    # --- files ------------------------------------------------------------------------------

    def _file(
        self,
        name: str,
        *,
        send_body: bool,
        gzipped: bool = False,
        validators: bool = True,
        always_304: bool = False,
    ) -> None:
        scripted = self.server.scripted(name)
        if scripted is not None:
            code, extra = scripted
            body = f"{code}\n".encode()
            self._reply(code, body, {"Content-Type": "text/plain", **extra}, send_body=send_body)
            return
        path = self.server.file_path(name)
        if path is None:
            self._reply(404, b"not found\n", {"Content-Type": "text/plain"}, send_body=send_body)
            return
        data = path.read_bytes()
        mtime = datetime.fromtimestamp(int(path.stat().st_mtime), tz=UTC)
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        headers = {
            "Content-Type": content_type_for(path, data),
            "ETag": etag,
            "Last-Modified": email.utils.format_datetime(mtime, usegmt=True),
            "Cache-Control": "max-age=60",
        }
        if not validators:
            del headers["ETag"], headers["Last-Modified"]
        conditional = "If-None-Match" in self.headers or "If-Modified-Since" in self.headers
        if (always_304 and conditional) or (validators and self._not_modified(etag, mtime)):
            self._reply(304, headers=headers, send_body=send_body)
            return
        cut = self.server.file_path(name + ".cut")
        if cut is not None:
            data = data[: int(cut.read_text().strip() or "0")]
        if gzipped:
            data = gzip.compress(data)
            headers["Content-Encoding"] = "gzip"
        self._reply(200, data, headers, send_body=send_body)

    def _not_modified(self, etag: str, mtime: datetime) -> bool:
        # RFC 9110 13.2.2: If-None-Match decides when present; If-Modified-Since only without it.
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
            return "*" in tags or etag in tags
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                since = email.utils.parsedate_to_datetime(ims)
            except (TypeError, ValueError):
                return False
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            return mtime <= since
        return False

    # --- misbehaving routes -----------------------------------------------------------------

    def _special(
        self, route: str, args: list[str], query: dict[str, list[str]], send_body: bool
    ) -> None:
        arg = args[0] if args else ""
        if route == "status" and arg.isdigit():
            code = int(arg)
            try:
                reason = HTTPStatus(code).phrase
            except ValueError:
                reason = ""
            body = f"{code} {reason}\n".encode()
            headers = {"Content-Type": "text/plain"}
            if "retry_after" in query:
                headers["Retry-After"] = query["retry_after"][0]
            self._reply(code, body, headers, send_body=send_body)
        elif route == "reset" and len(args) >= 2 and arg.isdigit():
            self._reset("/".join(args[1:]), int(arg))
        elif route == "hang":
            if self._stall(_seconds(arg)):
                self._reply(200, b"too late\n", {"Content-Type": "text/plain"})
        elif route == "trickle":
            self._trickle(_seconds(arg))
        elif route == "redirect":
            target = query.get("to", [""])[0]
            code = int(query.get("code", ["302"])[0])
            self._reply(code, headers={"Location": target}, send_body=send_body)
        elif route == "redirect-loop":
            self._reply(302, headers={"Location": self.path}, send_body=send_body)
        elif route in ("big", "big-unsized") and arg.isdigit():
            self._big(int(arg), sized=route == "big", send_body=send_body)
        elif route == "gzip" and args:
            self._file("/".join(args), send_body=send_body, gzipped=True)
        elif route == "plain" and args:
            self._file("/".join(args), send_body=send_body, validators=False)
        elif route == "stale304" and args:
            self._file("/".join(args), send_body=send_body, always_304=True)
        else:
            self._reply(404, b"no such route\n", {"Content-Type": "text/plain"})

    def _reset(self, name: str, after: int) -> None:
        """Announce the whole file, send `after` bytes of it, then reset the connection."""
        path = self.server.file_path(name)
        data = path.read_bytes() if path is not None else b""
        self._record(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:after])
        self.wfile.flush()
        # SO_LINGER 0: close() sends a TCP reset instead of a clean end of stream.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _trickle(self, seconds: float) -> None:
        self._record(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.end_headers()
        deadline = time.monotonic() + min(seconds, _MAX_STALL_SECONDS)
        self.wfile.write(b"<?xml version='1.0'?><rss version='2.0'><channel>")
        self.wfile.flush()
        while time.monotonic() < deadline and self._stall(0.2):
            self.wfile.write(b" ")
            self.wfile.flush()

    def _big(self, size: int, *, sized: bool, send_body: bool) -> None:
        self._record(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        if sized:
            self.send_header("Content-Length", str(size))
        self.end_headers()
        if not send_body:
            return
        for chunk in _filler(size):
            self.wfile.write(chunk)


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 5.0


def _filler(size: int) -> Iterator[bytes]:
    block = b"<!-- padding -->\n" * (_CHUNK // 17 + 1)
    left = size
    while left > 0:
        piece = block[: min(left, _CHUNK)]
        left -= len(piece)
        yield piece


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog of 5 drops connections when a poller opens dozens
    # at once, and the client's SYN retry (1 s, then 3 s) would then be measured as the feed's
    # latency; a real CDN accepts them.
    request_queue_size = 256

    def __init__(
        self, address: tuple[str, int], directory: Path, *, verbose: bool, latency: float = 0.0
    ) -> None:
        super().__init__(address, _Handler)
        self.directory = directory.resolve()
        self.verbose = verbose
        self.latency = latency
        self.closing = threading.Event()
        self._log: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._scripts: dict[str, tuple[int, dict[str, str]]] = {}

    def script(self, name: str, status: int, headers: dict[str, str]) -> None:
        with self._lock:
            self._scripts[name.lstrip("/")] = (status, dict(headers))

    def unscript(self, name: str) -> None:
        with self._lock:
            self._scripts.pop(name.lstrip("/"), None)

    def scripted(self, name: str) -> tuple[int, dict[str, str]] | None:
        with self._lock:
            return self._scripts.get(name.lstrip("/"))

    def record(self, entry: RequestRecord) -> None:
        with self._lock:
            self._log.append(entry)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        with self._lock:
            self._log.clear()

    def file_path(self, name: str) -> Path | None:
        candidate = (self.directory / name).resolve()
        # Never serve outside the directory, whatever "../" the path carries.
        if not candidate.is_relative_to(self.directory) or not candidate.is_file():
            return None
        return candidate


class FeedServer:
    """Feed directory served over HTTP on loopback in a background thread; a context manager."""

    def __init__(
        self,
        directory: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
        latency: float = 0.0,
    ) -> None:
        """Serve `directory`; `latency` seconds are waited before every response (default 0)."""
        self._server = _Server((host, port), Path(directory), verbose=verbose, latency=latency)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def directory(self) -> Path:
        return self._server.directory

    def url_for(self, name: str) -> str:
        """URL of a file in the directory, or of a route such as "_/status/500"."""
        return f"{self.base_url}/{quote(name.lstrip('/'), safe='/?=&:%')}"

    def redirect_url(self, target: str, code: int = 302) -> str:
        """URL that answers with a redirect to `target`."""
        return f"{self.base_url}/_/redirect?to={quote(target, safe='')}&code={code}"

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered so far, oldest first."""
        return self._server.records()

    def requests_for(self, name: str) -> list[RequestRecord]:
        """Requests whose path is `name` (query string ignored)."""
        wanted = "/" + name.lstrip("/")
        return [r for r in self._server.records() if urlsplit(r.path).path == wanted]

    def clear_log(self) -> None:
        self._server.clear()

    def script(self, name: str, status: int, headers: dict[str, str] | None = None) -> None:
        """Answer requests for the file `name` with `status` (and `headers`) until `unscript`."""
        self._server.script(name, status, headers or {})

    def unscript(self, name: str) -> None:
        """Serve the file `name` again."""
        self._server.unscript(name)

    def start(self) -> FeedServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="feedserver",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        # Wake stalled handlers first so shutdown does not wait for their sleeps.
        self._server.closing.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the command-line demo)."""
        try:
            self._server.serve_forever(poll_interval=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self._server.closing.set()
            self._server.server_close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve a feed directory until interrupted."""
    parser = argparse.ArgumentParser(description="Serve fixture feeds over HTTP on loopback.")
    parser.add_argument("--dir", default="tests/fixtures/feeds", help="directory of feed files")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay every response by this much"
    )
    args = parser.parse_args(argv)
    server = FeedServer(
        args.dir, host=args.host, port=args.port, verbose=True, latency=args.latency_ms / 1000
    )
    names = sorted(p.name for p in server.directory.iterdir() if p.is_file())
    print(f"serving {server.directory} at {server.base_url}/", flush=True)
    for name in names:
        print(f"  {server.url_for(name)}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
