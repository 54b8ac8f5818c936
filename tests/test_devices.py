"""The device catalog in devices/: complete, consistent, and reachable by name."""

from pathlib import Path

import pytest

from edgeprove.harness.devices import DEFAULT_CATALOG, DeviceError, find_device, load_catalog, load_device


def test_catalog_has_the_required_devices() -> None:
    catalog = load_catalog()
    names = {device.name for device in catalog}
    assert len(catalog) >= 12
    for prefix in (
        "iphone",
        "ipad",
        "pixel",
        "galaxy",
        "android-4gb",
        "android-go",
        "rpi-zero-2w",
        "rpi4-",
        "rpi5-",
        "orangepi5",
    ):
        assert any(name.startswith(prefix) for name in names), prefix
    assert {"rpi4-2g", "rpi4-4g", "rpi4-8g", "rpi5-4g", "rpi5-8g", "rpi5-16g"} <= names


def test_every_device_is_consistent_and_sourced() -> None:
    for device in load_catalog():
        assert 0 < device.budget_bytes <= device.ram_bytes, device.name
        assert device.cores >= 1 and device.arch and device.source and device.display_name
        assert device.backend in ("rlimit", "cgroup2", "cgroup1", "systemd", "docker"), device.name


def test_find_device_by_name() -> None:
    device = find_device("iphone-15-pro")
    assert device.ram_bytes == 8 << 30 and device.budget_bytes == 3 << 30
    assert "mopro" in device.source


def test_unknown_device_lists_known_names() -> None:
    with pytest.raises(DeviceError, match="unknown device 'nokia-3310'.*rpi5-8g"):
        find_device("nokia-3310")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('display_name = "x"\nram = "1G"\n', "missing budget"),
        ('display_name = "x"\nram = "1G"\nbudget = "2G"\ncores = 4\narch = "a"\nsource = "s"\n', "exceeds"),
        ('display_name = "x"\nram = "1Q"\nbudget = "1G"\ncores = 4\narch = "arm64"\nsource = "s"\n', "parse"),
        ('display_name = "x"\nram = "1G"\nbudget = "1G"\ncores = 0\narch = "arm64"\nsource = "s"\n', "cores"),
        ("display_name = \n", "x.toml"),
    ],
)
def test_malformed_device_files_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.toml"
    path.write_text(text)
    with pytest.raises(DeviceError, match=message):
        load_device(path)


def test_missing_catalog_folder(tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match="not found"):
        load_catalog(tmp_path / "nowhere")
    assert DEFAULT_CATALOG.name == "devices"
