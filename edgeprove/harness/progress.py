"""Plain progress lines for `edgeprove run` when its output is not a terminal (a log, a pipe, CI).

One line per phase (plan, prove, verify), one per layer as the prover's start events arrive, and one every
few seconds in between: elapsed time and the process tree's current and peak memory against the cap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from edgeprove.harness.monitor import Timeline
from edgeprove.harness.units import format_size


class ProgressLines:
    """Writes progress lines to `stream`; `phase` for each phase, `proving` on every poll of the prover."""

    def __init__(
        self, stream: TextIO, every_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream, self.every_s, self.clock = stream, every_s, clock
        self.cap: int | None = None
        self.layers: int | None = None
        self._events_seen = 0
        self._samples_seen = 0
        self._peak = 0
        self._last_line = clock()

    def write(self, line: str) -> None:
        """One line, flushed at once (a log reader sees it as it happens)."""
        self.stream.write(line + "\n")
        self.stream.flush()
        self._last_line = self.clock()

    def phase(self, name: str, detail: str) -> None:
        """`NAME: detail`, e.g. `plan: checking lenet5 (streaming)`."""
        self.write(f"{name}: {detail}")

    def start_proving(self, cap: int | None, layers: int | None) -> None:
        """The prove phase begins under `cap` (None: no cap), for `layers` layers (None: unknown)."""
        self.cap, self.layers = cap, layers
        self._events_seen = self._samples_seen = self._peak = 0
        self.phase(
            "prove", f"proving under cap {format_size(cap)}" if cap is not None else "proving without a cap"
        )

    def proving(self, timeline: Timeline, elapsed: float) -> None:
        """A line for each layer the prover started since the last call, or one every `every_s` seconds."""
        samples = timeline.rss[self._samples_seen :]
        self._samples_seen += len(samples)
        self._peak = max([self._peak, *samples])
        events = timeline.events[self._events_seen :]
        self._events_seen += len(events)
        starts = [event for event in events if event.get("event") == "start"]
        for event in starts:
            self.write(f"prove: {self.layer_text(event)}, {self.memory_text(timeline, elapsed)}")
        if not starts and self.clock() - self._last_line >= self.every_s:
            self.write(f"prove: {self.memory_text(timeline, elapsed)}")

    def layer_text(self, event: dict) -> str:
        """`layer 3 of 7 (conv2)`, with ` build` for a baseline run's first pass."""
        index = event.get("index")
        number = index + 1 if isinstance(index, int) else "?"
        total = f" of {self.layers}" if self.layers else ""
        build = ", build" if event.get("phase") == "build" else ""
        return f"layer {number}{total} ({event.get('layer', '?')}{build})"

    def memory_text(self, timeline: Timeline, elapsed: float) -> str:
        """`1.4 s, memory 88.20 MiB, peak 91.60 MiB of cap 1.00 GiB`."""
        current = timeline.rss[-1] if timeline.rss else 0
        cap = f" of cap {format_size(self.cap)}" if self.cap is not None else ", no cap"
        return f"{elapsed:.1f} s, memory {format_size(current)}, peak {format_size(self._peak)}{cap}"
