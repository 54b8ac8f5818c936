"""The device catalog: one TOML per device in devices/, giving the memory budget the OS grants one app."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from edgeprove.harness.units import parse_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

DEFAULT_CATALOG = Path(__file__).resolve().parents[2] / "devices"
REQUIRED_FIELDS = ("display_name", "ram", "budget", "cores", "arch", "source")


class DeviceError(ValueError):
    """A device name that is not in the catalog, or a catalog file that is malformed."""


@dataclass(frozen=True)
class Device:
    """One device: total RAM, the budget one app really gets, cores, and where the budget comes from."""

    name: str
    display_name: str
    kind: str
    ram_bytes: int
    budget_bytes: int
    cores: int
    arch: str
    os: str
    backend: str
    source: str
    notes: str


def load_device(path: Path) -> Device:
    """Read and validate one device TOML; the file stem is the device name."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise DeviceError(f"{path}: {error}") from error
    missing = [field for field in REQUIRED_FIELDS if field not in data]
    if missing:
        raise DeviceError(f"{path}: missing {', '.join(missing)}")
    try:
        ram, budget = parse_size(data["ram"]), parse_size(data["budget"])
    except ValueError as error:
        raise DeviceError(f"{path}: {error}") from error
    cores = data["cores"]
    if not isinstance(cores, int) or cores < 1:
        raise DeviceError(f"{path}: cores must be a positive integer")
    if budget > ram:
        raise DeviceError(f"{path}: budget {data['budget']} exceeds ram {data['ram']}")
    return Device(
        name=path.stem,
        display_name=str(data["display_name"]),
        kind=str(data.get("kind", "")),
        ram_bytes=ram,
        budget_bytes=budget,
        cores=cores,
        arch=str(data["arch"]),
        os=str(data.get("os", "")),
        backend=str(data.get("backend", "")),
        source=str(data["source"]),
        notes=str(data.get("notes", "")),
    )


def load_catalog(directory: Path = DEFAULT_CATALOG) -> list[Device]:
    """Every device in the catalog folder, sorted by name."""
    if not directory.is_dir():
        raise DeviceError(f"device catalog {directory} not found")
    return [load_device(path) for path in sorted(directory.glob("*.toml"))]


def find_device(name: str, directory: Path = DEFAULT_CATALOG) -> Device:
    """The device called `name` (the TOML file stem); a DeviceError lists the known names otherwise."""
    catalog = load_catalog(directory)
    for device in catalog:
        if device.name == name.lower():
            return device
    names = ", ".join(device.name for device in catalog)
    raise DeviceError(f"unknown device {name!r}; known devices: {names}")
