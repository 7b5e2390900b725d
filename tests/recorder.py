"""A real HTTP server on loopback that records every request and answers with a fixed reply.

Stands in for Kibana (which cannot run here) and for "some other web server" at a wrong
Elasticsearch URL: the code under test makes real HTTP requests, and the test reads what
arrived.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def form_parts(self) -> dict[str, Message]:
        """The parts of a multipart/form-data body, by form field name."""
        head = f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode()
        msg = BytesParser(policy=HTTP).parsebytes(head + self.body)
        assert msg.is_multipart(), self.headers.get("content-type")
        parts: dict[str, Message] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            assert isinstance(name, str), part
            parts[name] = part
        return parts


@dataclass
class RecordingServer:
    status: int = 200
    body: bytes = b'{"success": true, "successCount": 0}'
    content_type: str = "application/json"
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                server.requests.append(
                    Recorded(
                        method=self.command,
                        path=split.path,
                        query=parse_qs(split.query),
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=data,
                    )
                )
                self.send_response(server.status)
                self.send_header("Content-Type", server.content_type)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(server.body)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _any

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
