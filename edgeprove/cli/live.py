"""The live display of `edgeprove run` in a terminal: the phases, the prover's layer k of N, elapsed time, and
a bar that fills toward the cap with the current and peak memory; gone once the summary prints."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from edgeprove.harness.monitor import Timeline
from edgeprove.harness.progress import ProgressTracker
from edgeprove.harness.units import format_size

PHASES = ("plan", "prove", "verify")
BAR_WIDTH = 24


class LiveProgress(ProgressTracker):
    """A rich Live panel over the run; use as a context manager around the run."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self.current_phase: str | None = None
        self.detail = ""
        self.started = time.monotonic()
        self.live = Live(self, console=console, refresh_per_second=8, transient=True)

    def __enter__(self) -> LiveProgress:
        self.live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.live.stop()

    def phase(self, name: str, detail: str) -> None:
        """Show the phase `name` as current, with `detail` beside it."""
        self.current_phase, self.detail = name, detail

    def proving(self, timeline: Timeline, elapsed: float) -> None:
        """Take in the prover's progress; the panel redraws itself."""
        self.track(timeline)

    def __rich__(self) -> RenderableType:
        """The panel: phases and elapsed time, then the layer, then memory against the cap."""
        steps = Text()
        for position, name in enumerate(PHASES):
            if position:
                steps.append(" › ", style="dim")
            reached = self.current_phase is not None and PHASES.index(self.current_phase) >= position
            current = name == self.current_phase
            steps.append(name, style="bold cyan" if current else ("green" if reached else "dim"))
        steps.append(f"   {time.monotonic() - self.started:.1f} s", style="dim")
        lines: list[RenderableType] = [steps]
        if self.current_phase == "prove" and self.layer is not None:
            lines.append(Text(self.layer_text(self.layer)))
        else:
            lines.append(Text(self.detail, style="dim"))
        if self.current_phase == "prove" and self.memory:
            lines.append(self.memory_row())
        return Group(*lines)

    def memory_row(self) -> Table:
        """The bar toward the cap (none without a cap) and the figures beside it."""
        row = Table.grid(padding=(0, 1))
        if self.cap:
            row.add_column(width=BAR_WIDTH)
            row.add_column()
            share = min(self.memory / self.cap, 1.0)
            bar = ProgressBar(total=self.cap, completed=min(self.memory, self.cap), width=BAR_WIDTH)
            bar.complete_style = "red" if share > 0.9 else ("yellow" if share > 0.7 else "green")
            row.add_row(
                bar,
                f"{format_size(self.memory)} of {format_size(self.cap)} ({share:.0%}), "
                f"peak {format_size(self.peak)}",
            )
        else:
            row.add_column()
            row.add_row(f"memory {format_size(self.memory)}, peak {format_size(self.peak)}, no cap")
        return row
