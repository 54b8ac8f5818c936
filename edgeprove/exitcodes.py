"""Every exit code of the `edgeprove` commands, defined once.

| code | name | `prove` | `verify` | `run` | `study` |
|---|---|---|---|---|---|
| 0 | `EXIT_OK` | proved | accepted | fits | the suite completed |
| 1 | `EXIT_REJECTED`, `EXIT_ERROR` | – | rejected | error | some runs could not be done |
| 2 | `EXIT_USAGE` | bad input | bad input, model mismatch | bad input | bad suite |
| 3 | `EXIT_DOES_NOT_FIT` | – | – | does not fit | – |
| 4 | `EXIT_PROOF_REJECTED` | – | – | proof rejected | – |
| 5 | `EXIT_BACKEND_UNAVAILABLE` | – | – | backend unusable | – |
| 6 | `EXIT_INEXACT_BLAS` | this machine's BLAS is inexact | the same: no verdict | the same | – |
| 128+N | `EXIT_SIGNAL_BASE` + N | signal N | – | signal N | 130 (Ctrl-C) |

`plan`, `models`, `devices`, `import` and `bench` exit 0 or 2. The signals are SIGINT (130), SIGTERM (143)
and SIGHUP (129). Code 1 is each command's own failure: `verify`'s rejection, `run`'s error, `study`'s runs
that could not be done; `run` reports a rejected proof as 4, so that a caller (the study) tells it from an
error. Code 6 means the start-up self-test (`edgeprove.blas`) found float64 matrix products of integers
wrong here: nothing was proven or judged.
"""

from __future__ import annotations

import signal

EXIT_OK = 0
EXIT_REJECTED = 1
"""`verify`: the proof was rejected."""
EXIT_ERROR = 1
"""`run`: the prover failed or the run folder cannot be written; `study`: some runs could not be done."""
EXIT_USAGE = 2
EXIT_DOES_NOT_FIT = 3
EXIT_PROOF_REJECTED = 4
"""`run`: the proof made under the cap was rejected by `verify`."""
EXIT_BACKEND_UNAVAILABLE = 5
EXIT_INEXACT_BLAS = 6
"""`prove`, `verify`, `run`: numpy's float64 products of integers are wrong on this machine (its BLAS)."""
EXIT_SIGNAL_BASE = 128
"""A command stopped by signal N exits 128 + N, as a shell reports a death by that signal."""
EXIT_INTERRUPTED = EXIT_SIGNAL_BASE + signal.SIGINT
RUN_VERDICT_EXIT = {
    "fits": EXIT_OK,
    "oom": EXIT_DOES_NOT_FIT,
    "rejected": EXIT_PROOF_REJECTED,
    "error": EXIT_ERROR,
}
"""`edgeprove run`'s exit code for each verdict; any other code means the run itself could not be done."""
