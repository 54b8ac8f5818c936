"""The monitor: process-tree RSS, the growing events file, and which layer was running when."""

import json
import subprocess
import sys
from pathlib import Path

from edgeprove.harness.monitor import EventTail, Monitor, Timeline, last_open_layer, layer_at
from edgeprove.process.peak import tree_rss_bytes as tree_rss

HOLD_MEMORY = "import numpy, time; block = numpy.ones({mib} << 17); print('ready', flush=True); time.sleep(9)"


def test_tree_rss_counts_children() -> None:
    parent_code = (
        "import subprocess, sys, time; "
        f"child = subprocess.Popen([sys.executable, '-c', {HOLD_MEMORY.format(mib=200)!r}]); "
        "time.sleep(30)"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"
        assert tree_rss([parent.pid]) > 200 << 20
    finally:
        parent.kill()
        parent.wait()
    assert tree_rss([parent.pid]) == 0
    assert tree_rss([]) == 0


def test_event_tail_returns_only_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    tail = EventTail(path)
    assert tail.read_new() == []
    with open(path, "w") as handle:
        handle.write('{"event": "start", "layer": "a", "t": 1}\n{"event": "end", "la')
    assert tail.read_new() == [{"event": "start", "layer": "a", "t": 1}]
    with open(path, "a") as handle:
        handle.write('yer": "a", "t": 2}\nnot json\n[1, 2]\n')
    assert tail.read_new() == [{"event": "end", "layer": "a", "t": 2}]
    assert EventTail(None).read_new() == []


def test_layer_at_and_last_open_layer() -> None:
    events = [
        {"event": "start", "layer": "conv1", "t": 1.0},
        {"event": "end", "layer": "conv1", "t": 2.0},
        {"event": "start", "layer": "conv2", "t": 3.0},
        {"event": "end", "layer": "conv2", "t": 4.0},
        {"event": "start", "layer": "dense", "t": 5.0},
        {"event": "done", "t": 9.0},
        {"event": "start", "layer": "no time"},
    ]
    assert layer_at(events, 0.5) is None
    assert layer_at(events, 1.5) == "conv1"
    assert layer_at(events, 2.5) is None
    assert layer_at(events, 3.0) == "conv2"
    assert layer_at(events, None) is None
    assert last_open_layer(events) == "dense"
    assert last_open_layer(events[:4]) is None


def test_monitor_samples_a_growing_process(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    code = (
        "import json, sys, time, numpy\n"
        "log = open(sys.argv[1], 'a')\n"
        "blocks = []\n"
        "for i in range(3):\n"
        "    log.write(json.dumps({'event': 'start', 'layer': f'l{i}', 't': time.time()}) + '\\n')\n"
        "    log.flush(); blocks.append(numpy.ones(40 << 17)); time.sleep(0.1)\n"
        "    log.write(json.dumps({'event': 'end', 'layer': f'l{i}', 't': time.time()}) + '\\n')\n"
        "    log.flush()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(events)])
    monitor = Monitor(lambda: [child.pid], lambda: 7, events, sample_ms=2)
    monitor.start()
    child.wait()
    timeline = monitor.stop()
    assert len(timeline.rss) == len(timeline.times) == len(timeline.kernel) > 20
    assert set(timeline.kernel) == {7}
    assert timeline.peak_rss() > 120 << 20
    assert [event["layer"] for event in timeline.events if event["event"] == "start"] == ["l0", "l1", "l2"]
    assert json.loads(json.dumps(timeline.events)) == timeline.events
    assert timeline.peak_time() is not None


def test_empty_timeline() -> None:
    timeline = Timeline()
    assert timeline.peak_rss() == 0 and timeline.peak_time() is None
