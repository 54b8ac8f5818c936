"""`edgeprove prove / verify / plan` from the command line: outputs, exit codes, clean errors."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys

import modelfiles
import numpy as np
import pytest
from conftest import edgeprove_process, fill, small_tmpfs, wait_for
from typer.testing import CliRunner

from edgeprove.cli import full_app
from edgeprove.model import compiled, zoo

app = full_app()

runner = CliRunner()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _cache_env(monkeypatch, cache):
    monkeypatch.setenv("EDGEPROVE_CACHE", str(cache))


@pytest.fixture(scope="module")
def proven(tmp_path_factory, cache):
    import os

    os.environ["EDGEPROVE_CACHE"] = str(cache)
    path = tmp_path_factory.mktemp("proof") / "tiny.proof"
    result = runner.invoke(app, ["prove", "tiny_cnn", "--out", str(path), "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    return path, json.loads(result.stdout)


def test_prove_json_has_the_contract_fields(proven):
    path, record = proven
    for key in (
        "model",
        "digest",
        "schedule",
        "output",
        "output_int",
        "prove_s",
        "proof_bytes",
        "peak_rss_mb",
    ):
        assert key in record
    assert record["proof_bytes"] == path.stat().st_size
    assert len(record["output"]) == len(record["output_int"])


def test_verify_accepts_and_names_the_model_from_the_header(proven):
    path, record = proven
    result = runner.invoke(app, ["verify", str(path), "--json"])
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout)
    assert verdict["accepted"] and verdict["output_int"] == record["output_int"]


def test_verify_rejects_garbage_with_exit_1(tmp_path):
    bad = tmp_path / "bad.proof"
    bad.write_bytes(b"not a proof at all")
    result = runner.invoke(app, ["verify", str(bad)])
    assert result.exit_code == 1
    assert "rejected" in result.output and "Traceback" not in result.output


def test_verify_against_another_model_is_a_mismatch(proven):
    path, _ = proven
    result = runner.invoke(app, ["verify", str(path), "--model", "tiny_mlp", "--json"])
    assert result.exit_code == 2
    assert "not tiny_mlp" in result.output and "Traceback" not in result.output


def test_unknown_model_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["prove", "no_such_model", "--out", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["verify", str(tmp_path / "missing.proof")])
    assert result.exit_code == 2


def test_bad_input_file_is_a_usage_error(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 2)))
    result = runner.invoke(
        app, ["prove", "tiny_cnn", "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "p")]
    )
    assert result.exit_code == 2
    assert not (tmp_path / "p").exists()


def test_input_file_round_trip(tmp_path):
    from edgeprove.model import zoo

    model = zoo.get("tiny_mlp")
    x = np.random.default_rng(1).integers(-128, 128, model.input_shape).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    result = runner.invoke(
        app, ["prove", "tiny_mlp", "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "p"), "--json"]
    )
    assert result.exit_code == 0, result.output
    from edgeprove.model import ops

    assert json.loads(result.stdout)["output_int"] == [int(v) for v in ops.run(model, x).ravel()]


def test_float_input_is_quantized_with_the_model_scale(tmp_path):
    from edgeprove.model import ops, zoo

    model = zoo.get("tiny_cnn")
    values = np.random.default_rng(2).uniform(-1.0, 1.0, (1, *model.input_shape)).astype(np.float32)
    values[0, 0, 0, 0] = 50.0
    np.save(tmp_path / "x.npy", values)
    result = runner.invoke(
        app, ["prove", "tiny_cnn", "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "p")]
    )
    assert result.exit_code == 0, result.output
    assert "float32 input quantized with the model's input scale" in result.stderr
    assert "1 of 189 values clamped" in result.stderr
    result = runner.invoke(
        app, ["prove", "tiny_cnn", "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "p"), "--json"]
    )
    record = json.loads(result.stdout)
    x = np.clip(np.rint(values[0].astype(np.float64) * 2.0**model.input_frac), -128, 127).astype(np.int64)
    out = ops.run(model, x)
    assert record["output_int"] == [int(v) for v in out.ravel()]
    assert record["output"] == [float(v) for v in ops.dequantize(model, out).ravel()]
    assert record["input_quantization"] == {
        "dtype": "float32",
        "scale": 2.0**-model.input_frac,
        "clamped": 1,
        "values": 189,
    }


def test_plan_json(tmp_path):
    result = runner.invoke(app, ["plan", "tiny_cnn", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["peak_bytes"] > 0 and len(plan["layers"]) > 0
    baseline = json.loads(runner.invoke(app, ["plan", "tiny_cnn", "--json", "--schedule", "baseline"]).stdout)
    assert baseline["peak_bytes"] >= plan["peak_bytes"]


def test_plan_of_a_private_input_counts_its_commitment():
    public = json.loads(runner.invoke(app, ["plan", "iriscode", "--json", "--threads", "1"]).stdout)
    private = json.loads(
        runner.invoke(app, ["plan", "iriscode", "--json", "--private-input", "--threads", "1"]).stdout
    )
    assert len(private["layers"]) == len(public["layers"])
    assert private["layers"][0]["alive_bytes"] > public["layers"][0]["alive_bytes"]
    assert private["peak_bytes"] > public["peak_bytes"]


def test_spill_gives_the_same_proof_and_plans_no_more_memory(tmp_path):
    """`prove --spill` (waiting commitments on disk, here too small to go) and `plan --spill`."""
    argv = ["prove", "tiny_cnn", "--seed", "2", "--json"]
    kept = runner.invoke(app, [*argv, "--out", str(tmp_path / "k.proof")])
    spilled = runner.invoke(app, [*argv, "--out", str(tmp_path / "s.proof"), "--spill"])
    assert kept.exit_code == spilled.exit_code == 0, spilled.output
    assert json.loads(spilled.stdout)["spill"] and not json.loads(kept.stdout)["spill"]
    assert (tmp_path / "k.proof").read_bytes() == (tmp_path / "s.proof").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.proof", "s.proof"]
    plans = [
        json.loads(runner.invoke(app, ["plan", "iris-seg-small", "--json", *extra]).stdout)
        for extra in ([], ["--spill"])
    ]
    assert plans[1]["peak_bytes"] < plans[0]["peak_bytes"]


def test_prove_tile_is_named_by_layer_or_index_and_verifies(tmp_path):
    by_name = runner.invoke(
        app,
        ["prove", "tiny_cnn", "--out", str(tmp_path / "n"), "--tile", "conv3:3", "--tile", "0:2", "--json"],
    )
    assert by_name.exit_code == 0, by_name.output
    assert json.loads(by_name.stdout)["tiles"] == [[0, 2], [2, 3]]
    by_index = runner.invoke(
        app, ["prove", "tiny_cnn", "--out", str(tmp_path / "i"), "--tile", "2:3", "--tile", "conv1:2"]
    )
    assert by_index.exit_code == 0, by_index.output
    assert (tmp_path / "n").read_bytes() == (tmp_path / "i").read_bytes()
    verified = runner.invoke(app, ["verify", str(tmp_path / "n"), "--model", "tiny_cnn"])
    assert verified.exit_code == 0, verified.output


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("conv3", "expected LAYER:BLOCKS"),
        ("conv3:two", "expected LAYER:BLOCKS"),
        ("nowhere:2", "expected LAYER:BLOCKS"),
        ("99:2", "no layer"),
        ("conv3:1", "outside [2, 64]"),
        ("conv3:7", "7 blocks of its 6 channels"),
        ("fc2:2", "output layer"),
    ],
)
@pytest.mark.parametrize("command", ["prove", "plan"])
def test_bad_tiles_are_one_line_and_exit_2(tmp_path, command, spec, message):
    extra = ["--out", str(tmp_path / "p")] if command == "prove" else []
    result = runner.invoke(app, [command, "tiny_cnn", *extra, "--tile", spec], terminal_width=300)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()


def test_plan_fit_chooses_a_tiling_that_prove_takes(tmp_path):
    from test_plan import wide

    folder = str(compiled.save(wide(128), tmp_path / "wide"))
    settings = ["--json", "--threads", "1", "--spill"]
    whole = json.loads(runner.invoke(app, ["plan", folder, *settings]).stdout)
    budget = str(whole["peak_bytes"] - (16 << 20))
    result = runner.invoke(app, ["plan", folder, *settings, "--fit", budget])
    assert result.exit_code == 0, result.output
    fitted = json.loads(result.stdout)
    assert fitted["tiles"] and fitted["peak_bytes"] <= int(budget)
    listed = runner.invoke(
        app, ["plan", folder, "--threads", "1", "--spill", "--fit", budget], terminal_width=300
    )
    assert "tiling: --tile wide:" in listed.output
    tiles = [f"{index}:{blocks}" for index, blocks in fitted["tiles"]]
    argv = ["prove", folder, "--out", str(tmp_path / "p"), "--threads", "1", "--spill"]
    proven = runner.invoke(app, [*argv, *[a for t in tiles for a in ("--tile", t)]])
    assert proven.exit_code == 0, proven.output
    assert runner.invoke(app, ["verify", str(tmp_path / "p"), "--model", folder]).exit_code == 0
    both = runner.invoke(app, ["plan", folder, "--fit", budget, "--tile", "wide:2"])
    assert both.exit_code == 2 and "not both" in both.output
    bad = runner.invoke(app, ["plan", folder, "--fit", "lots"])
    assert bad.exit_code == 2 and "--fit" in bad.output


def test_prove_on_threads_gives_the_same_proof_and_says_how_many(tmp_path):
    records = []
    for threads in ("1", "2"):
        path = tmp_path / f"{threads}.proof"
        result = runner.invoke(app, ["prove", "tiny_cnn", "--out", str(path), "--threads", threads, "--json"])
        assert result.exit_code == 0, result.output
        records.append(json.loads(result.stdout))
    assert [r["threads"] for r in records] == [1, 2]
    assert (tmp_path / "1.proof").read_bytes() == (tmp_path / "2.proof").read_bytes()
    default = runner.invoke(app, ["prove", "tiny_cnn", "--out", str(tmp_path / "d.proof"), "--json"])
    assert json.loads(default.stdout)["threads"] == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("command", ["prove", "plan"])
@pytest.mark.parametrize("threads", ["0", "257"])
def test_bad_thread_counts_are_one_line_and_exit_2(tmp_path, command, threads):
    extra = ["--out", str(tmp_path / "p")] if command == "prove" else []
    result = runner.invoke(app, [command, "tiny_cnn", *extra, "--threads", threads])
    assert result.exit_code == 2, result.output
    assert "--threads" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()


def test_plan_predicts_what_more_threads_hold():
    """Streaming on two threads holds the next layer's build beside each proof; baseline does not."""

    def plan(*arguments):
        result = runner.invoke(app, ["plan", "tiny_cnn", "--json", *arguments])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    one, two = plan("--threads", "1"), plan("--threads", "2")
    assert one["threads"] == 1 and two["threads"] == 2
    assert two["peak_bytes"] > one["peak_bytes"]
    rows = zip(one["layers"][:-1], two["layers"][:-1])
    assert all(b["process_bytes"] > a["process_bytes"] for a, b in rows)
    assert one["layers"][-1]["process_bytes"] == two["layers"][-1]["process_bytes"]  # nothing after the last
    base_one, base_two = (
        plan("--threads", "1", "--schedule", "baseline"),
        plan("--threads", "2", "--schedule", "baseline"),
    )
    assert base_one["peak_bytes"] == base_two["peak_bytes"]


def test_plan_and_prove_print_sizes_in_mib(tmp_path):
    """The values are 2^20-byte units, so the text says MiB, never MB."""
    result = runner.invoke(app, ["plan", "tiny_cnn"], terminal_width=200)
    assert result.exit_code == 0, result.output
    plan = json.loads(runner.invoke(app, ["plan", "tiny_cnn", "--json"]).stdout)
    assert f"predicted peak: {plan['peak_bytes'] / 2**20:.1f} MiB" in result.output
    assert "working set MiB" in result.output and " MB" not in result.output
    proved = runner.invoke(app, ["prove", "tiny_cnn", "--out", str(tmp_path / "p.bin"), "--seed", "1"])
    assert proved.exit_code == 0, proved.output
    assert "MiB" in proved.output and " MB" not in proved.output


def prove_process(model: str, out, cache, *extra: str):
    """`edgeprove prove MODEL --out OUT` as a real process with this module's model cache."""
    return edgeprove_process(
        "prove", model, "--out", str(out), *extra, env={**os.environ, "EDGEPROVE_CACHE": str(cache)}
    )


def temporaries(folder):
    return [path.name for path in folder.iterdir() if ".tmp-" in path.name]


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_mid_proof_keeps_the_old_file(tmp_path, cache, signum):
    target = tmp_path / "p.proof"
    target.write_bytes(b"old proof")
    process = prove_process("wc50", target, cache)
    try:
        wait_for(lambda: temporaries(tmp_path), 120, "the prover's temporary file")
        process.send_signal(signal.Signals[signum])
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == 128 + signal.Signals[signum]
    assert stderr.strip().splitlines() == [f"interrupted ({signum}): no proof written; {target} is as it was"]
    assert target.read_bytes() == b"old proof" and temporaries(tmp_path) == []


def test_sigkill_mid_proof_keeps_the_old_file_and_the_next_prove_removes_the_temporary(tmp_path, cache):
    target = tmp_path / "p.proof"
    target.write_bytes(b"old proof")
    process = prove_process("wc50", target, cache)
    (left,) = wait_for(lambda: temporaries(tmp_path), 120, "the prover's temporary file")
    process.kill()
    process.communicate(timeout=10)
    assert target.read_bytes() == b"old proof" and temporaries(tmp_path) == [left]
    result = runner.invoke(app, ["prove", "tiny_cnn", "--out", str(tmp_path / "other.proof")])
    assert result.exit_code == 0, result.output
    assert temporaries(tmp_path) == [] and target.read_bytes() == b"old proof"


def test_prove_onto_a_full_disk_keeps_the_old_file_in_one_line(cache):
    with small_tmpfs("512k") as disk:
        target = disk / "p.proof"
        target.write_bytes(b"old proof")
        fill(disk)
        process = prove_process("tiny_cnn", target, cache)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 2
        assert stderr.strip().splitlines() == [
            f"error: cannot write the proof file {target}: No space left on device; no proof written, "
            f"{target} is as it was"
        ]
        assert target.read_bytes() == b"old proof"
        assert sorted(path.name for path in disk.iterdir()) == ["filler", "filler.tail", "p.proof"]


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("", "--out is empty"),
        (".", "is a folder"),
        ("no/such/folder/p.proof", "does not exist"),
        ("same.jsonl", "--events and --out both name same.jsonl"),
    ],
)
def test_bad_out_is_refused_before_proving(tmp_path, monkeypatch, out, message):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["prove", "tiny_cnn", "--out", out, "--events", "same.jsonl"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def unchanged_files(folder) -> dict:
    """Every path under ``folder`` with what writing it would change (its inode, type, size, contents' and
    metadata's times); not its access time, which reading a folder may move."""
    fields = ("st_ino", "st_mode", "st_size", "st_mtime_ns", "st_ctime_ns")
    return {path: tuple(getattr(path.stat(), f) for f in fields) for path in folder.rglob("*")}


@pytest.mark.parametrize("made", ["fifo", "device", "input", "model-folder", "long-name"])
def test_out_never_replaces_a_device_a_fifo_or_what_prove_reads(tmp_path, monkeypatch, made):
    """As root, `--out /dev/null` would have replaced the system's /dev/null with a regular file; the
    input and the model's own files are not replaced either, by the proof or by the events."""
    monkeypatch.chdir(tmp_path)
    np.save("x.npy", np.zeros(zoo.get("tiny_cnn").input_shape, dtype=np.int8))
    compiled.save(zoo.get("tiny_cnn"), tmp_path / "model")
    arguments, message = {
        "fifo": (["--out", "f"], "--out f is not a regular file"),
        "device": (["--out", "null"], "--out null is not a regular file"),
        "input": (["--out", "p", "--events", "x.npy"], "--events x.npy would overwrite x.npy"),
        "model-folder": (
            ["--out", "model/manifest.json"],
            "would overwrite ./model, which this command reads",
        ),
        "long-name": (["--out", "a" * 300], "File name too long"),
    }[made]
    os.mkfifo("f")
    os.mknod("null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    before = unchanged_files(tmp_path)
    result = runner.invoke(app, ["prove", "./model", "--input", "x.npy", *arguments])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output, result.output
    assert unchanged_files(tmp_path) == before
    if made == "input":
        result = runner.invoke(app, ["prove", "./model", "--input", "x.npy", "--out", "x.npy"])
        assert (
            result.exit_code == 2 and "--out " in result.output and "would overwrite x.npy" in result.output
        )


def test_prove_into_a_read_only_folder_is_refused_before_proving():
    with small_tmpfs("1M", read_only=True) as disk:
        result = runner.invoke(app, ["prove", "tiny_cnn", "--out", str(disk / "p.proof")])
        assert result.exit_code == 2
        assert f"cannot write in {disk}" in result.output and "Traceback" not in result.output


# ----- hostile model folders, inputs and arguments: one line on stderr, exit 2, never a traceback


def refused(result, message: str) -> None:
    """Exit 2 with one line containing ``message`` and no traceback or numpy hint."""
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output and "allow_pickle" not in result.output


def huge_folder(tmp_path):
    shape = (64, 8192, 8192)
    layer = modelfiles.layer("gap", "global_avgpool", -1, shape, (64, 1, 1))
    return modelfiles.write_folder(tmp_path / "huge", shape, [layer])


def tiny_folder(tmp_path, name: str = "tiny"):
    from edgeprove.model import compiled, zoo

    return compiled.save(zoo.get("tiny_mlp"), tmp_path / name)


@pytest.mark.parametrize("command", ["prove", "plan"])
def test_a_folder_with_huge_shapes_is_refused_before_allocating(tmp_path, command):
    extra = ["--out", str(tmp_path / "p")] if command == "prove" else []
    result = runner.invoke(app, [command, str(huge_folder(tmp_path)), *extra])
    refused(result, "has 4,294,967,296 values on its padded grid, above the ceiling of 67,108,864")
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (
            lambda w: w.write_bytes(bytes(range(256))),
            "not a valid .npy file (no .npy signature); expected int8[8, 10]",
        ),
        (lambda w: w.write_bytes(b""), "not a valid .npy file (the file is empty)"),
        (lambda w: np.save(w, np.zeros(0, np.int8)), "holds int8[0], the manifest says int8[8, 10]"),
    ],
)
@pytest.mark.parametrize("command", ["prove", "plan"])
def test_broken_weight_files_are_one_line_errors(tmp_path, command, corrupt, message):
    folder = tiny_folder(tmp_path)
    corrupt(next(folder.glob("w0000_*.npy")))
    extra = ["--out", str(tmp_path / "p")] if command == "prove" else []
    refused(runner.invoke(app, [command, str(folder), *extra]), message)


def test_markup_in_a_manifest_or_argument_is_printed_as_text(tmp_path):
    folder = tiny_folder(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["layers"][0]["kind"] = "[/bold]"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    refused(runner.invoke(app, ["plan", str(folder)]), "unknown kind '[/bold]'")
    refused(runner.invoke(app, ["plan", "no[/x]such[red]"]), "no[/x]such[red]: no such file or folder")
    refused(runner.invoke(app, ["plan", "no[bold]such"]), "unknown model 'no[bold]such'")


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda p: p.write_bytes(bytes(range(200))),
            "not a valid .npy file (no .npy signature); expected 10 values of shape (10, 1, 1)",
        ),
        (lambda p: p.write_bytes(b""), "not a valid .npy file (the file is empty)"),
        (lambda p: np.save(p, np.zeros(0, np.int8)), "holds int8[0], 0 values; the model takes (10, 1, 1)"),
        (lambda p: np.save(p, np.full(10, np.nan)), "holds NaN or infinite values"),
        (lambda p: np.save(p, np.ones(10, complex)), "holds complex128 values; expected integers"),
        (lambda p: np.save(p, np.array([1] * 10, dtype=object), allow_pickle=True), "pickled Python objects"),
        (lambda p: np.save(p, np.full(10, 2**64 - 1, np.uint64)), "values outside int8 [-128, 127]"),
        (lambda p: p.mkdir(), "is a directory, not a .npy file"),
        (lambda p: None, "x.npy: no such file"),
    ],
)
def test_bad_input_files_are_one_line_errors(tmp_path, make, message):
    make(tmp_path / "x.npy")
    result = runner.invoke(
        app, ["prove", "tiny_mlp", "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "p")]
    )
    refused(result, message)
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("seed", ["-1", str(2**63), "99999999999999999999999"])
def test_seeds_outside_int64_are_refused(tmp_path, seed):
    result = runner.invoke(app, ["prove", "tiny_mlp", "--seed", seed, "--out", str(tmp_path / "p")])
    refused(result, f"--seed: seed {seed} is outside 0 .. 2^63 - 1")


def test_the_largest_seed_proves(tmp_path):
    result = runner.invoke(app, ["prove", "tiny_mlp", "--seed", str(2**63 - 1), "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "events, message",
    [
        ("{tmp}", "cannot write the events file {tmp}: Is a directory"),
        ("{tmp}/missing/ev.jsonl", "--events {tmp}/missing/ev.jsonl: folder {tmp}/missing does not exist"),
        ("{tmp}/p", "--events and --out both name {tmp}/p"),
    ],
)
def test_events_file_errors_name_the_events_file(tmp_path, events, message):
    events, message = events.format(tmp=tmp_path), message.format(tmp=tmp_path)
    result = runner.invoke(app, ["prove", "tiny_mlp", "--out", str(tmp_path / "p"), "--events", events])
    refused(result, message)
    assert "proof file" not in result.output


def test_proof_file_errors_name_the_proof_file(tmp_path):
    result = runner.invoke(app, ["prove", "tiny_mlp", "--out", str(tmp_path)])
    refused(result, f"--out {tmp_path} is a folder; give the proof file's path")
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    result = runner.invoke(
        app, ["prove", "tiny_mlp", "--out", str(tmp_path / "a"), "--events", str(tmp_path / "b")]
    )
    refused(result, "Too many levels of symbolic links")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "empty model name; MODEL is a zoo name"),
        ("{tmp}/missing", "missing: no such file or folder"),
        ("{tmp}/x.npy", "x.npy: not a compiled model folder or an .onnx file"),
        ("{tmp}", "not a compiled model folder (no manifest.json)"),
        ("{tmp}/m.onnx", "m.onnx: no such ONNX file"),
    ],
)
def test_model_arguments_that_name_nothing(tmp_path, spec, message):
    np.save(tmp_path / "x.npy", np.zeros(3))
    result = runner.invoke(app, ["prove", spec.format(tmp=tmp_path), "--out", str(tmp_path / "p")])
    refused(result, message)


def test_plan_refuses_a_model_whose_bias_could_wrap(tmp_path):
    first = modelfiles.layer("a", "dense", -1, (4, 1, 1), (4, 1, 1), shift=3, activation="clamp")
    second = modelfiles.layer("b", "dense", 0, (4, 1, 1), (2, 1, 1))
    arrays = {
        0: (np.full((4, 4), 127, np.int8), np.full(4, 2**63 - 1, np.int64)),
        1: (np.ones((2, 4), np.int8), np.zeros(2, np.int64)),
    }
    folder = modelfiles.write_folder(tmp_path / "wrap", (4, 1, 1), [first, second], arrays)
    refused(
        runner.invoke(app, ["plan", str(folder)]),
        "layer a: a bias beyond 2^62 exceeds the field's signed range",
    )


def entry_point(*args: str, cache) -> subprocess.CompletedProcess:
    """The installed command line in a fresh interpreter, as a user runs it."""
    code = "import sys; from edgeprove.cli import main; sys.argv = ['edgeprove', *sys.argv[1:]]; main()"
    env = dict(os.environ, EDGEPROVE_CACHE=str(cache))
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False
    )


def test_the_real_command_line_prints_one_line_and_no_traceback(tmp_path, cache):
    (tmp_path / "empty.npy").write_bytes(b"")
    cases = [
        (
            ["prove", str(huge_folder(tmp_path)), "--out", str(tmp_path / "p")],
            "above the ceiling of 67,108,864",
        ),
        (["plan", str(huge_folder(tmp_path))], "above the ceiling of 67,108,864"),
        (["prove", "tiny_mlp", "--seed", "-1", "--out", str(tmp_path / "p")], "seed -1 is outside"),
        (
            ["prove", "tiny_mlp", "--input", str(tmp_path / "empty.npy"), "--out", str(tmp_path / "p")],
            "is empty",
        ),
    ]
    for args, message in cases:
        done = entry_point(*args, cache=cache)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and "Aborted" not in done.stderr
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_iriscode_proves_a_private_image_from_the_command_line(tmp_path):
    """The README's iris-code commands: an image as `pixel - 128` and its mask, proven privately, verified
    by zoo name; the proof holds the input's commitment, not the image."""
    from edgeprove.model import iris

    image, mask = iris.textures(1, 0)[0], iris.occlusion_masks(1, 0)[0]
    np.save(tmp_path / "iris.npy", iris.model_input(image, mask))
    proof = tmp_path / "iris.proof"
    argv = [
        "prove",
        "iriscode",
        "--input",
        str(tmp_path / "iris.npy"),
        "--private-input",
        "--out",
        str(proof),
    ]
    result = runner.invoke(app, [*argv, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["input_mode"] == "committed" and len(report["output_int"]) == 2 * 16_384
    bits = np.array(report["output_int"], dtype=bool).reshape(8, 16, 256)
    assert np.mean(bits[:4] != iris.float_code(image[None])[0]) < 0.005
    assert np.mean(bits[4:] != iris.float_mask(image[None], mask[None])[0]) < 0.01
    from proofedit import read_sections

    from edgeprove.proof import SECTION_INPUT

    assert SECTION_INPUT not in [kind for kind, _ in read_sections(proof)[1]]
    verdict = runner.invoke(app, ["verify", str(proof), "--json"])
    assert verdict.exit_code == 0 and json.loads(verdict.stdout)["accepted"], verdict.output


@pytest.mark.parametrize("command", ["prove", "plan"])
def test_no_zero_knowledge_needs_a_private_input(tmp_path, command):
    extra = ["--out", str(tmp_path / "p")] if command == "prove" else []
    result = runner.invoke(app, [command, "tiny_mlp", "--no-zero-knowledge", *extra])
    assert result.exit_code == 2 and "needs --private-input" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "p").exists()


@pytest.mark.parametrize("command", ["prove", "plan"])
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--zk-group-bits", "4"], "needs --private-input"),
        (["--private-input", "--no-zero-knowledge", "--zk-group-bits", "4"], "needs --private-input"),
        (["--private-input", "--zk-group-bits", "33"], "must be in [0, 32], got 33"),
        (["--private-input", "--zk-group-bits", "-1"], "must be in [0, 32], got -1"),
        (["--private-input", "--zk-group-bits", "eighteen"], "valid integer"),
    ],
    ids=["public", "not-hidden", "too-large", "negative", "not-a-number"],
)
def test_a_group_size_applies_to_a_zero_knowledge_proof_in_range(tmp_path, command, arguments, message):
    extra = ["--out", str(tmp_path / "p")] if command == "prove" else []
    result = runner.invoke(app, [command, "tiny_mlp", *arguments, *extra])
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "p").exists()


def test_the_group_size_reaches_the_proof_and_the_plan(tmp_path):
    """`prove --zk-group-bits` writes a proof whose header names that size and which verifies; `plan` with the
    same option predicts what the library predicts for those parameters."""
    from edgeprove import plan as planner
    from edgeprove import verifier
    from edgeprove.commit.zk_ligero import ZkLigeroParams

    proof = tmp_path / "p"
    made = runner.invoke(
        app, ["prove", "tiny_cnn", "--private-input", "--zk-group-bits", "0", "--out", str(proof)]
    )
    assert made.exit_code == 0, made.output
    assert verifier.read_header(proof)["ligero_zk"]["group_vars"] == 0
    assert runner.invoke(app, ["verify", str(proof), "--model", "tiny_cnn"]).exit_code == 0
    model = zoo.get("tiny_cnn")
    for bits in (0, 20):
        planned = runner.invoke(
            app,
            ["plan", "tiny_cnn", "--private-input", "--zk-group-bits", str(bits), "--threads", "1", "--json"],
        )
        expected = planner.predict(model, private_input=True, params=ZkLigeroParams(group_vars=bits))
        assert json.loads(planned.stdout)["peak_bytes"] == expected.peak_bytes


def test_a_model_a_private_proof_cannot_hide_is_one_line_naming_the_way_out(tmp_path):
    """A layer reading a single value: prove --private-input refuses with exit 2 and one line, and
    --no-zero-knowledge proves it (its input committed but not private)."""
    from edgeprove.model import compiled
    from edgeprove.model.ir import Layer, Model

    rng = np.random.default_rng(3)
    layers = [
        Layer("one", "dense", -1, (4, 1, 1), (1, 1, 1), 8, "relu"),
        Layer("out", "dense", 0, (1, 1, 1), (2, 1, 1), 0, "none"),
    ]
    weights = [rng.integers(-60, 60, (1, 4)).astype(np.int8), rng.integers(-60, 60, (2, 1)).astype(np.int8)]
    biases = [rng.integers(-9, 9, 1), rng.integers(-9, 9, 2)]
    compiled.save(Model("single", (4, 1, 1), 0, layers, weights, biases), tmp_path / "single")
    model = str(tmp_path / "single")
    refused = runner.invoke(app, ["prove", model, "--private-input", "--out", str(tmp_path / "p")])
    assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1, refused.output
    assert "single value" in refused.output and "--no-zero-knowledge" in refused.output
    assert not (tmp_path / "p").exists()
    made = runner.invoke(
        app,
        ["prove", model, "--private-input", "--no-zero-knowledge", "--out", str(tmp_path / "p"), "--json"],
    )
    assert made.exit_code == 0 and json.loads(made.stdout)["zero_knowledge"] is False
