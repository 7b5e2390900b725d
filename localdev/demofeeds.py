"""The offline demo's feed server: invented outlets whose feeds grow over time.

``config/demo/stories.yaml`` lists outlets and items; each item has a ``step``. This module
writes one RSS 2.0 file per outlet into a directory, holding the items whose step has come
(step x ``reveal_every`` seconds after start), rewrites the files as later steps come, and
serves the directory with :class:`localdev.feedserver.FeedServer` (ETag, Last-Modified and 304
answers included). So the scheduled polls of a running demo keep finding new stories, and a
feed that did not change is answered 304. SIGUSR1 brings the next step forward at once.

CLI (``make up`` starts it in the background)::

    python -m localdev.demofeeds --stories config/demo/stories.yaml --dir var/demo/feeds \
        --port 8765 --reveal-every 90
"""

from __future__ import annotations

import argparse
import email.utils
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from xml.sax.saxutils import escape

import yaml

from localdev.feedserver import FeedServer

__all__ = ["DemoItem", "DemoOutlet", "DemoStories", "load_stories", "main", "render_feed"]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STORIES = REPO_ROOT / "config" / "demo" / "stories.yaml"
# Item links point at a domain reserved for documentation (RFC 2606): never fetched by newsmon,
# only used as story ids and shown in the e-mails.
LINK_BASE = "https://news.example.org"


@dataclass(frozen=True)
class DemoOutlet:
    """One invented outlet: one feed file ``<id>.xml``."""

    id: str
    name: str
    language: str


@dataclass(frozen=True)
class DemoItem:
    """One story of the demo, revealed at ``step`` x the reveal interval."""

    id: str
    outlet: str
    step: int
    title: str
    summary: str
    expect: tuple[str, ...]


@dataclass(frozen=True)
class DemoStories:
    """The whole demo: outlets and items."""

    outlets: tuple[DemoOutlet, ...]
    items: tuple[DemoItem, ...]

    @property
    def last_step(self) -> int:
        return max((i.step for i in self.items), default=0)


def load_stories(path: Path = DEFAULT_STORIES) -> DemoStories:
    """Read the demo stories file; a malformed one raises ValueError naming the file and item."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    try:
        outlets = tuple(
            DemoOutlet(str(o["id"]), str(o["name"]), str(o["language"])) for o in data["outlets"]
        )
        known = {o.id for o in outlets}
        items = []
        for raw in data["items"]:
            item = DemoItem(
                id=str(raw["id"]),
                outlet=str(raw["outlet"]),
                step=int(raw.get("step", 0)),
                title=str(raw["title"]).strip(),
                summary=" ".join(str(raw["summary"]).split()),
                expect=tuple(raw.get("expect") or ()),
            )
            if item.outlet not in known:
                raise ValueError(f"{path}: item {item.id}: unknown outlet {item.outlet!r}")
            items.append(item)
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path}: missing or malformed field {err}") from None
    return DemoStories(outlets, tuple(items))


def render_feed(
    outlet: DemoOutlet, items: list[DemoItem], started: datetime, reveal_every: float
) -> bytes:
    """RSS 2.0 for one outlet: the given items, newest first, each dated when it was revealed."""

    def when(item: DemoItem) -> datetime:
        return started + timedelta(seconds=item.step * reveal_every)

    entries = []
    for item in sorted(items, key=lambda i: (when(i), i.id), reverse=True):
        entries.append(
            "    <item>\n"
            f"      <title>{escape(item.title)}</title>\n"
            f"      <link>{LINK_BASE}/{outlet.id}/{item.id}</link>\n"
            f'      <guid isPermaLink="false">newsmon-demo:{item.id}</guid>\n'
            f"      <pubDate>{email.utils.format_datetime(when(item), usegmt=True)}</pubDate>\n"
            f"      <description>{escape(item.summary)}</description>\n"
            "    </item>\n"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0">\n  <channel>\n'
        f"    <title>{escape(outlet.name)}</title>\n"
        f"    <link>{LINK_BASE}/{outlet.id}/</link>\n"
        f"    <description>{escape(outlet.name)}: invented stories for the newsmon demo"
        "</description>\n"
        f"    <language>{outlet.language}</language>\n"
        + "".join(entries)
        + "  </channel>\n</rss>\n"
    ).encode("utf-8")


class DemoFeeds:
    """Writes the outlet feeds for the current step; :meth:`tick` advances when it is time."""

    def __init__(self, stories: DemoStories, directory: Path, reveal_every: float) -> None:
        self.stories = stories
        self.directory = directory
        self.reveal_every = reveal_every
        self.started = datetime.now(UTC).replace(microsecond=0)
        self._t0 = time.monotonic()
        self.step = -1
        # Steps brought forward on request (SIGUSR1): the end-to-end test reveals a story when
        # it wants one rather than waiting for the clock.
        self.skipped = 0

    def current_step(self) -> int:
        if self.reveal_every <= 0:
            return self.stories.last_step
        return int((time.monotonic() - self._t0) // self.reveal_every) + self.skipped

    def tick(self, step: int | None = None) -> list[str]:
        """Rewrite the feeds if a new step came (or `step` is given and newer); returns the ids
        of the items revealed now."""
        step = min(self.current_step() if step is None else step, self.stories.last_step)
        if step <= self.step:
            return []
        revealed = [i.id for i in self.stories.items if self.step < i.step <= step]
        self.directory.mkdir(parents=True, exist_ok=True)
        for outlet in self.stories.outlets:
            shown = [i for i in self.stories.items if i.outlet == outlet.id and i.step <= step]
            body = render_feed(outlet, shown, self.started, self.reveal_every)
            target = self.directory / f"{outlet.id}.xml"
            if target.exists() and target.read_bytes() == body:
                continue  # unchanged: keep its Last-Modified, so pollers get 304
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(body)
            tmp.replace(target)
        self.step = step
        return revealed


def main(argv: list[str] | None = None) -> int:
    """Serve the demo feeds until SIGTERM or Ctrl-C; one JSON line per revealed step."""
    parser = argparse.ArgumentParser(
        prog="python -m localdev.demofeeds", description="Serve the offline demo's feeds."
    )
    parser.add_argument("--stories", type=Path, default=DEFAULT_STORIES)
    parser.add_argument("--dir", type=Path, default=Path("var/demo/feeds"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--reveal-every",
        type=float,
        default=90.0,
        help="seconds between steps (0: everything at once)",
    )
    args = parser.parse_args(argv)
    try:
        stories = load_stories(args.stories)
    except (OSError, ValueError) as err:
        print(f"demofeeds: {err}", file=sys.stderr)
        return 2
    feeds = DemoFeeds(stories, args.dir, args.reveal_every)
    feeds.tick()
    try:
        server = FeedServer(args.dir, host=args.host, port=args.port).start()
    except OSError as err:
        print(f"demofeeds: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1
    stopping, wake = threading.Event(), threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        wake.set()

    def _next_step(signum: int, frame: FrameType | None) -> None:
        feeds.skipped += 1
        wake.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGUSR1, _next_step)
    print(json.dumps({"serving": server.base_url, "dir": str(args.dir), "step": 0}), flush=True)
    try:
        while not stopping.is_set():
            wake.wait(1.0)
            wake.clear()
            revealed = feeds.tick()
            if revealed:
                stamp = datetime.now(UTC).isoformat(timespec="seconds")
                line = {"at": stamp, "step": feeds.step, "revealed": revealed}
                print(json.dumps(line), flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
