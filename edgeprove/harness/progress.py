"""What `edgeprove run` reports while it runs: the phase (plan, prove, verify), the prover's layer k of N,
and the process tree's current and peak memory against the cap.

`ProgressTracker` follows the prover's timeline; `ProgressLines` shows it as plain lines when stdout is not
a terminal (a log, a pipe, CI): one per phase, one per layer started, and one every few seconds between.
The command line's live display (a bar filling toward the cap) is another `ProgressTracker`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from edgeprove.harness.monitor import Timeline
from edgeprove.harness.units import format_size


class ProgressTracker:
    """The state a progress display shows, updated from the monitor's timeline; subclasses show it."""

    def __init__(self) -> None:
        self.cap: int | None = None
        self.layers: int | None = None
        self.layer: dict | None = None
        self.memory = 0
        self.peak = 0
        self._events_seen = 0
        self._samples_seen = 0

    def phase(self, name: str, detail: str) -> None:
        """A phase begins (`plan`, `prove`, `verify`) or a phase's outcome is known: `detail` says what."""
        raise NotImplementedError

    def proving(self, timeline: Timeline, elapsed: float) -> None:
        """Called on every poll of the prover with the timeline so far and the seconds since it started."""
        raise NotImplementedError

    def start_proving(self, cap: int | None, layers: int | None) -> None:
        """The prove phase begins under `cap` (None: no cap), for `layers` layers (None: unknown)."""
        self.cap, self.layers, self.layer = cap, layers, None
        self._events_seen = self._samples_seen = self.memory = self.peak = 0
        self.phase(
            "prove", f"proving under cap {format_size(cap)}" if cap is not None else "proving without a cap"
        )

    def track(self, timeline: Timeline) -> list[dict]:
        """Take in what the timeline gained since the last call; returns the layer starts among it."""
        samples = timeline.rss[self._samples_seen :]
        self._samples_seen += len(samples)
        if samples:
            self.memory = samples[-1]
            self.peak = max(self.peak, *samples)
        events = timeline.events[self._events_seen :]
        self._events_seen += len(events)
        starts = [event for event in events if event.get("event") == "start"]
        if starts:
            self.layer = starts[-1]
        return starts

    def layer_text(self, event: dict) -> str:
        """`layer 3 of 7 (conv2)`, with `, build` for a baseline run's first pass."""
        index = event.get("index")
        number = index + 1 if isinstance(index, int) else "?"
        total = f" of {self.layers}" if self.layers else ""
        build = ", build" if event.get("phase") == "build" else ""
        return f"layer {number}{total} ({event.get('layer', '?')}{build})"

    def memory_text(self) -> str:
        """`memory 88.20 MiB, peak 91.60 MiB of cap 1.00 GiB`."""
        cap = f" of cap {format_size(self.cap)}" if self.cap is not None else ", no cap"
        return f"memory {format_size(self.memory)}, peak {format_size(self.peak)}{cap}"


class ProgressLines(ProgressTracker):
    """Writes progress lines to `stream`, flushed as they happen."""

    def __init__(
        self, stream: TextIO, every_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.stream, self.every_s, self.clock = stream, every_s, clock
        self._last_line = clock()

    def write(self, line: str) -> None:
        """One line, flushed at once (a log reader sees it as it happens)."""
        self.stream.write(line + "\n")
        self.stream.flush()
        self._last_line = self.clock()

    def phase(self, name: str, detail: str) -> None:
        """`NAME: detail`, e.g. `plan: checking lenet5 (streaming)`."""
        self.write(f"{name}: {detail}")

    def proving(self, timeline: Timeline, elapsed: float) -> None:
        """A line for each layer the prover started since the last call, or one every `every_s` seconds."""
        starts = self.track(timeline)
        for event in starts:
            self.write(f"prove: {self.layer_text(event)}, {elapsed:.1f} s, {self.memory_text()}")
        if not starts and self.clock() - self._last_line >= self.every_s:
            self.write(f"prove: {elapsed:.1f} s, {self.memory_text()}")
