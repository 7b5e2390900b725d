"""`localdev.airflow_api.AirflowApi.call` against a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from localdev.airflow_api import DB_RETRIES, AirflowApi, AirflowApiError

DB_ERROR = {"detail": {"reason": "Database error", "statement": "hidden", "orig_error": "hidden"}}


class _Airflow(BaseHTTPRequestHandler):
    """Answers /auth/token, then the next queued answer for every other call."""

    answers: ClassVar[list[tuple[int, object]]] = []
    calls: ClassVar[list[str]] = []

    def _reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/auth/token":
            self._reply(201, {"access_token": "t"})
            return
        self.calls.append(self.path)
        self._reply(*self.answers.pop(0))

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api(tmp_path: Path) -> Iterator[AirflowApi]:
    _Airflow.answers, _Airflow.calls = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Airflow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield AirflowApi(f"http://127.0.0.1:{server.server_address[1]}", tmp_path, retry_pause=0.01)
    finally:
        server.shutdown()
        server.server_close()


def test_a_database_error_is_tried_again_and_the_call_then_answers(api: AirflowApi) -> None:
    _Airflow.answers = [(500, DB_ERROR), (500, DB_ERROR), (200, {"dag_run_id": "manual__1"})]
    assert api.trigger("newsmon_poll") == "manual__1"
    assert _Airflow.calls == ["/api/v2/dags/newsmon_poll/dagRuns"] * 3


def test_a_database_error_that_lasts_is_reported(api: AirflowApi) -> None:
    _Airflow.answers = [(500, DB_ERROR)] * (DB_RETRIES + 1)
    with pytest.raises(AirflowApiError, match="HTTP 500"):
        api.trigger("newsmon_poll")
    assert len(_Airflow.calls) == DB_RETRIES + 1


def test_any_other_server_error_is_reported_at_once(api: AirflowApi) -> None:
    _Airflow.answers = [(500, {"detail": "boom"})]
    with pytest.raises(AirflowApiError, match="boom"):
        api.trigger("newsmon_poll")
    assert len(_Airflow.calls) == 1
