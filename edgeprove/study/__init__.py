"""Studies: a suite TOML (streaming/) lists runs, each is proven under a real cap, results land in profiles/.

A suite names models x schedules x caps (devices or RAM sizes) and the harness backend. Every run is the
equivalent of `edgeprove run` (prove under the cap, verify outside it) or, for `kind = "ezkl"`, the EZKL
pipeline with each step under the same harness. One JSON per run goes to `<out>/runs/<run-id>.json`; a run
whose JSON exists is skipped, so an interrupted study resumes where it stopped. The README and index.html
are rebuilt from the JSONs.

From the bottom up, each module importing only those before it: `suites` (suite files, their validation and
expansion into runs), `results` (one JSON per run), `charts` (matplotlib), `tables` (the README and its
markdown tables), `pages` (index.html), `runner` (running and resuming a suite).
"""
