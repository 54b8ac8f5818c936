"""The live display of `edgeprove run` in a terminal: phases, the layer of N, the bar toward the cap."""

import io

from rich.console import Console

from edgeprove.cli.live import LiveProgress
from edgeprove.harness.monitor import Timeline


def rendered(live: LiveProgress, width: int = 80) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(live)
    return console.file.getvalue()


def test_the_panel_follows_the_phases_the_layer_and_memory_against_the_cap() -> None:
    live = LiveProgress(Console(file=io.StringIO()))
    live.phase("plan", "checking lenet5 (streaming) with the planner")
    text = rendered(live)
    assert text.startswith("plan › prove › verify") and "checking lenet5 (streaming)" in text
    live.start_proving(1 << 30, 7)
    timeline = Timeline(rss=[50 << 20, 300 << 20, 256 << 20])
    timeline.events.extend([{"event": "start", "layer": "conv1", "index": 0}])
    live.proving(timeline, 1.0)
    lines = rendered(live).splitlines()
    assert lines[1] == "layer 1 of 7 (conv1)"
    assert lines[2].endswith("256.00 MiB of 1.00 GiB (25%), peak 300.00 MiB") and len(lines[2]) <= 80
    live.phase("prove", "OOM-killed by the kernel in layer conv1 after 1.0 s")
    live.phase("verify", "prover done")
    assert rendered(live).splitlines()[1] == "prover done"


def test_without_a_cap_there_is_no_bar() -> None:
    live = LiveProgress(Console(file=io.StringIO()))
    live.start_proving(None, None)
    live.proving(Timeline(rss=[10 << 20]), 0.5)
    assert "memory 10.00 MiB, peak 10.00 MiB, no cap" in rendered(live)
