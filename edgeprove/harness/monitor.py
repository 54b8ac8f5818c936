"""Samples a process tree's RSS every few milliseconds, with the kernel's counter and the prover's events."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgeprove.process.peak import tree_rss_bytes


class EventTail:
    """Reads a JSON-lines file as it grows, returning only complete, well-formed lines."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read_new(self) -> list[dict]:
        """Events appended since the previous call; malformed lines are skipped."""
        if self.path is None:
            return []
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except OSError:
            return []
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        events = []
        for line in lines:
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict):
                    events.append(event)
        return events


@dataclass
class Timeline:
    """What the monitor saw: (time, tree RSS) samples, kernel-counter samples and the prover's events."""

    times: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    kernel: list[int | None] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)

    def peak_rss(self) -> int:
        """Largest sampled tree RSS (0 when nothing was sampled)."""
        return max(self.rss, default=0)

    def peak_time(self) -> float | None:
        """Time of the largest RSS sample."""
        if not self.rss:
            return None
        return self.times[max(range(len(self.rss)), key=self.rss.__getitem__)]


def layer_at(events: list[dict], moment: float | None) -> str | None:
    """The layer running at `moment`: the latest `start` event at or before it (None before the first)."""
    if moment is None:
        return None
    current = None
    for event in sorted((e for e in events if isinstance(e.get("t"), (int, float))), key=lambda e: e["t"]):
        if event["t"] > moment:
            break
        if event.get("event") == "start":
            current = event.get("layer")
        elif event.get("event") == "end" and event.get("layer") == current:
            current = None
    return current


def last_open_layer(events: list[dict]) -> str | None:
    """The layer that started and never ended: where a killed prover died."""
    return layer_at(events, float("inf"))


class Monitor:
    """A background thread sampling `pids()` RSS and `kernel()` every `sample_ms`, tailing the events."""

    def __init__(
        self,
        pids: Callable[[], list[int]],
        kernel: Callable[[], int | None],
        events_path: Path | None,
        sample_ms: float = 5.0,
    ) -> None:
        self.pids, self.kernel = pids, kernel
        self.interval = max(sample_ms, 0.5) / 1000.0
        self.tail = EventTail(events_path)
        self.timeline = Timeline()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edgeprove-monitor", daemon=True)

    def start(self) -> None:
        """Start sampling."""
        self._thread.start()

    def sample(self) -> None:
        """Take one sample now."""
        self.timeline.times.append(time.time())
        self.timeline.rss.append(tree_rss_bytes(self.pids()))
        self.timeline.kernel.append(self.kernel())
        self.timeline.events.extend(self.tail.read_new())

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def stop(self) -> Timeline:
        """Stop sampling, read the last events, and return the timeline."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.timeline.events.extend(self.tail.read_new())
        return self.timeline
