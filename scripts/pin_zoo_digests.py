"""Rebuild every zoo model from its seeds and write the digests the package pins
(edgeprove/data/zoo_digests.json).  Run after a deliberate change to an architecture, a seed rule or the
quantizer, together with a bump of ``zoo.ZOO_VERSION``; tests/test_model_zoo.py checks the pins."""

from __future__ import annotations

import json
from pathlib import Path

from edgeprove.model import zoo

TARGET = Path(__file__).resolve().parents[1] / "edgeprove" / "data" / zoo.DIGESTS_FILE


def main() -> None:
    """Build each model (no cache involved) and write {name: digest} with the zoo version."""
    digests = {}
    for name in zoo.names():
        digests[name] = zoo.build(name).model.digest
        print(f"{name}: {digests[name]}", flush=True)
    payload = {"zoo_version": zoo.ZOO_VERSION, "digests": digests}
    staging = TARGET.with_suffix(".tmp")
    staging.write_text(json.dumps(payload, indent=1) + "\n")
    staging.replace(TARGET)


if __name__ == "__main__":
    main()
