"""Suite files: found by name in streaming/ or by path, validated, and expanded into runs."""

from __future__ import annotations

import fnmatch
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprove.harness.devices import DeviceError, find_device, load_catalog
from edgeprove.harness.runner import BACKEND_NAMES
from edgeprove.harness.units import parse_size
from edgeprove.protocol import SCHEDULES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SUITES_DIR = PROJECT_ROOT / "streaming"
RUN_KINDS = ("prove", "ezkl", "emulated")
EMULATED_ARCHES = ("arm64", "armhf")
"""What `kind = "emulated"` runs can emulate (scripts/arm64.sh --arch): 64-bit and 32-bit ARM."""
REPORT_KINDS = ("runs", "paper0", "devices", "peers")
RUN_ID_PATTERN = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_SUITE_BYTES = 1 << 20
"""Largest suite file read (the shipped ones are under 4 KiB)."""
MAX_SUITE_RUNS = 10_000
"""Most runs a suite may expand to, over all its [[runs]] tables (paper0 has 52)."""
MAX_REPEATS = 100
"""Most repeats of one run."""
SUITE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
"""A suite's name, which names its results folder profiles/<name>: no separators, no leading dot."""


class SuiteError(ValueError):
    """A suite name that is not in streaming/, or a suite file that is malformed."""


@dataclass(frozen=True)
class RunSpec:
    """One run of a suite: what to prove (or hand to EZKL), under which cap, how often."""

    run_id: str
    kind: str
    model: str
    schedule: str
    cap_bytes: int
    device: str | None
    cap_label: str
    backend: str
    repeats: int
    time_limit_s: float | None
    arch: str | None = None
    """The emulated architecture of a `kind = "emulated"` run; None for runs on this machine."""
    private_input: bool = False
    """Prove with the input committed (`--private-input`) instead of published."""


@dataclass
class Suite:
    """A parsed suite file: its runs and what its README shows."""

    name: str
    path: Path
    title: str
    description: str
    report: str
    timelines: bool
    runs: list[RunSpec]
    notes: list[str] = field(default_factory=list)
    published: dict[str, Any] = field(default_factory=dict)


def suite_names(directory: Path = SUITES_DIR) -> list[str]:
    """The suites shipped in streaming/ (file stems)."""
    return sorted(path.stem for path in directory.glob("*.toml"))


def find_suite(name_or_path: str, directory: Path = SUITES_DIR) -> Path:
    """streaming/NAME.toml for a bare name, else the TOML file at that path; SuiteError if neither exists."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml":
        if candidate.is_file():
            return candidate
        raise SuiteError(f"no suite file {name_or_path}")
    shipped = directory / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    known = ", ".join(suite_names(directory)) or "none"
    raise SuiteError(f"unknown suite {name_or_path!r}; known suites: {known} (or give a path to a .toml)")


def _string_list(table: dict[str, Any], key: str, where: str) -> list[str]:
    """table[key] as a list of strings (a single string is a list of one); [] when absent."""
    value = table.get(key, [])
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SuiteError(f"{where}: {key} must be a list of strings")
    return value


def _caps(table: dict[str, Any], where: str) -> list[tuple[int, str | None, str]]:
    """A run group's caps: (bytes, device name, label) per device ("*" = the whole catalog) and RAM size."""
    caps: list[tuple[int, str | None, str]] = []
    for name in _string_list(table, "devices", where):
        try:
            devices = load_catalog() if name == "*" else [find_device(name)]
        except DeviceError as error:
            raise SuiteError(f"{where}: {error}") from error
        caps.extend((device.budget_bytes, device.name, device.name) for device in devices)
    for size in _string_list(table, "rams", where):
        try:
            caps.append((parse_size(size), None, size))
        except ValueError as error:
            raise SuiteError(f"{where}: {error}") from error
    if not caps:
        raise SuiteError(f"{where}: give devices = [...] or rams = [...]")
    return caps


def make_run_id(
    kind: str, model: str, schedule: str, cap_label: str, arch: str | None = None, private: bool = False
) -> str:
    """A file-name-safe id: model-schedule-cap for proofs, ezkl-model-cap for EZKL runs and
    arch-model-schedule-cap for emulated proofs; "-private" ends the id of a proof of a private input."""
    if kind == "ezkl":
        parts = [kind, model, cap_label]
    elif kind == "emulated":
        parts = [str(arch), model, schedule, cap_label]
    else:
        parts = [model, schedule, cap_label]
    parts += ["private"] if private else []
    return RUN_ID_PATTERN.sub("_", "-".join(parts).replace(" ", ""))


def _check_models(models: list[str], kind: str, where: str) -> None:
    """Every model must be a zoo name (EZKL runs export zoo models, emulated runs build them inside the
    emulated root) or, for proofs on this machine, an existing model path."""
    from edgeprove.model import zoo

    known = set(zoo.names())
    for model in models:
        if model not in known and (kind != "prove" or not Path(model).exists()):
            raise SuiteError(
                f"{where}: unknown model {model!r} (not in the zoo"
                + (")" if kind != "prove" else " and no such file)")
            )


def _run_group(table: dict[str, Any], defaults: dict[str, Any], where: str) -> list[RunSpec]:
    """Expand one [[runs]] table into its models x schedules x caps (at most MAX_SUITE_RUNS)."""
    if not isinstance(table, dict):
        raise SuiteError(f"{where}: not a table")
    kind = table.get("kind", "prove")
    if kind not in RUN_KINDS:
        raise SuiteError(f"{where}: kind must be one of {', '.join(RUN_KINDS)}, not {kind!r}")
    models = _string_list(table, "models", where)
    if not models:
        raise SuiteError(f"{where}: models = [...] is empty")
    _check_models(models, kind, where)
    schedules = _string_list(table, "schedules", where) or ["streaming"]
    unknown = sorted(set(schedules) - set(SCHEDULES))
    if unknown:
        raise SuiteError(f"{where}: unknown schedule {unknown[0]!r}; choose streaming or baseline")
    backend = table.get("backend", "none" if kind == "emulated" else defaults["backend"])
    if kind == "emulated" and backend != "none":
        raise SuiteError(
            f'{where}: emulated runs are measured without a cap (backend = "none"): qemu user-mode '
            "emulation has no cgroups and ignores setrlimit"
        )
    arches = _string_list(table, "arches", where)
    if kind != "emulated" and "arches" in table:
        raise SuiteError(f'{where}: arches = [...] is for kind = "emulated" only')
    if kind == "emulated":
        if "arches" in table and not arches:
            raise SuiteError(f"{where}: arches = [] is empty; leave it out for arm64")
        if "devices" in table or "time_limit_s" in table:
            raise SuiteError(
                f"{where}: emulated runs are measured once, without a cap: give rams = [...] (the cap the "
                "verdict is taken against), no devices or time_limit_s"
            )
        arches = arches or ["arm64"]
    unknown_arches = sorted(set(arches) - set(EMULATED_ARCHES))
    if unknown_arches:
        raise SuiteError(
            f"{where}: unknown arch {unknown_arches[0]!r}; choose from {', '.join(EMULATED_ARCHES)}"
        )
    if backend not in BACKEND_NAMES:
        raise SuiteError(f"{where}: unknown backend {backend!r}; choose one of {', '.join(BACKEND_NAMES)}")
    repeats = table.get("repeats", defaults["repeats"])
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= MAX_REPEATS:
        raise SuiteError(f"{where}: repeats must be an integer from 1 to {MAX_REPEATS}")
    limit = table.get("time_limit_s")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0 < limit < math.inf
    ):
        raise SuiteError(f"{where}: time_limit_s must be a positive number of seconds")
    private = table.get("private_input", False)
    if not isinstance(private, bool) or (private and kind == "ezkl"):
        raise SuiteError(f"{where}: private_input must be true or false, and is for edgeprove's runs only")
    caps = _caps(table, where)
    if len(models) * len(schedules) * len(caps) * max(1, len(arches)) > MAX_SUITE_RUNS:
        raise SuiteError(f"{where}: expands to more than {MAX_SUITE_RUNS:,} runs")
    return [
        RunSpec(
            make_run_id(kind, model, schedule, label, arch, private),
            kind,
            model,
            schedule,
            cap,
            device,
            label,
            backend,
            repeats,
            float(limit) if limit else None,
            arch,
            private,
        )
        for arch in arches or [None]
        for model in models
        for schedule in (["ezkl"] if kind == "ezkl" else schedules)
        for cap, device, label in caps
    ]


def load_suite(name_or_path: str, directory: Path = SUITES_DIR) -> Suite:
    """Read and validate a suite (name in streaming/ or a path); SuiteError with one line on any problem."""
    path = find_suite(name_or_path, directory)
    try:
        if path.stat().st_size > MAX_SUITE_BYTES:
            raise SuiteError(f"{path}: larger than {MAX_SUITE_BYTES >> 20} MiB, the ceiling for a suite file")
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SuiteError(f"{path}: {error}") from error
    except RecursionError:
        raise SuiteError(f"{path}: nested too deeply") from None
    report = data.get("report", "runs")
    if report not in REPORT_KINDS:
        raise SuiteError(f"{path}: report must be one of {', '.join(REPORT_KINDS)}")
    defaults = {"backend": data.get("backend", "auto"), "repeats": data.get("repeats", 1)}
    groups = data.get("runs")
    if not isinstance(groups, list) or not groups:
        raise SuiteError(f"{path}: no [[runs]] tables")
    runs: list[RunSpec] = []
    for number, group in enumerate(groups, 1):
        runs += _run_group(group, defaults, f"{path} [[runs]] #{number}")
        if len(runs) > MAX_SUITE_RUNS:
            raise SuiteError(f"{path}: expands to more than {MAX_SUITE_RUNS:,} runs")
    duplicates = sorted(
        run_id for run_id, count in Counter(spec.run_id for spec in runs).items() if count > 1
    )
    if duplicates:
        raise SuiteError(f"{path}: run {duplicates[0]} is listed twice")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not SUITE_NAME.fullmatch(name):
        raise SuiteError(
            f"{path}: name {name!r} must be a plain folder name (A-Z a-z 0-9 _ . -, no leading dot)"
        )
    return Suite(
        name=name,
        path=path,
        title=str(data.get("title", path.stem)),
        description=str(data.get("description", "")),
        report=report,
        timelines=bool(data.get("timelines", False)),
        runs=runs,
        notes=_string_list(data, "notes", str(path)),
        published=_published(data, str(path)),
    )


def _published(data: dict[str, Any], where: str) -> dict[str, Any]:
    """The [published] table: source and hardware strings, a list of systems, and per group a table of
    model = [one cell string per system]; {} when absent."""
    published = data.get("published", {})
    if not isinstance(published, dict):
        raise SuiteError(f"{where}: [published] must be a table")
    systems = _string_list(published, "systems", f"{where} [published]")
    for key, value in published.items():
        if key in ("source", "hardware"):
            if not isinstance(value, str):
                raise SuiteError(f"{where}: [published] {key} must be a string")
        elif key != "systems" and (
            not isinstance(value, dict)
            or not all(isinstance(cells, list) and len(cells) == len(systems) for cells in value.values())
            or not all(isinstance(cell, str) for cells in value.values() for cell in cells)
        ):
            raise SuiteError(f"{where}: [published.{key}] must map each model to one cell string per system")
    return published


def select_runs(runs: list[RunSpec], only: str | None) -> list[RunSpec]:
    """The runs whose id matches the glob `only` (a plain word matches as a substring); all when None."""
    if not only:
        return list(runs)
    pattern = only if any(char in only for char in "*?[") else f"*{only}*"
    return [spec for spec in runs if fnmatch.fnmatch(spec.run_id, pattern)]
