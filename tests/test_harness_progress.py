"""Progress lines of `edgeprove run` when stdout is not a terminal: phases, layers, memory vs the cap."""

import io

from edgeprove.harness.monitor import Timeline
from edgeprove.harness.progress import ProgressLines


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_line_per_layer_started_with_memory_against_the_cap() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = ProgressLines(stream, every_s=5.0, clock=clock)
    progress.phase("plan", "checking lenet5 (streaming) with the planner")
    progress.start_proving(1 << 30, 7)
    timeline = Timeline()
    timeline.rss.extend([50 << 20, 80 << 20, 60 << 20])
    timeline.events.extend(
        [
            {"event": "start", "layer": "conv1", "index": 0},
            {"event": "end", "layer": "conv1", "index": 0},
            {"event": "start", "layer": "pool1", "index": 1},
        ]
    )
    progress.proving(timeline, 1.25)
    progress.proving(timeline, 1.5)  # nothing new, too soon: no line
    assert stream.getvalue().splitlines() == [
        "plan: checking lenet5 (streaming) with the planner",
        "prove: proving under cap 1.00 GiB",
        "prove: layer 1 of 7 (conv1), 1.2 s, memory 60.00 MiB, peak 80.00 MiB of cap 1.00 GiB",
        "prove: layer 2 of 7 (pool1), 1.2 s, memory 60.00 MiB, peak 80.00 MiB of cap 1.00 GiB",
    ]


def test_a_line_every_few_seconds_between_layers_and_without_a_cap() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = ProgressLines(stream, every_s=5.0, clock=clock)
    progress.start_proving(None, None)
    timeline = Timeline()
    timeline.rss.append(70 << 20)
    timeline.events.append({"event": "start", "layer": "dense", "index": 2, "phase": "build"})
    progress.proving(timeline, 0.5)
    clock.now = 6.0
    timeline.rss.append(90 << 20)
    progress.proving(timeline, 6.5)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "prove: proving without a cap",
        "prove: layer 3 (dense, build), 0.5 s, memory 70.00 MiB, peak 70.00 MiB, no cap",
        "prove: 6.5 s, memory 90.00 MiB, peak 90.00 MiB, no cap",
    ]
