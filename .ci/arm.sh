#!/usr/bin/env bash
# The emulated part of CI, run by .ci/run after the x86-64 suite (needs root and the project's venv active):
#
#  1. the platform-sensitive core tests under aarch64 Debian: the field's uint64 arithmetic, the BLAS
#     self-test (under qemu's default CPU, where a wrong OpenBLAS kernel was seen), NTT, Merkle and sumcheck.
#     The whole core list takes about 23 CPU-minutes under aarch64 emulation, too long for CI; the lenet5
#     proof of step 2, byte-identical to x86-64's, runs every layer of the prover and verifier there, and
#     armhf runs the whole list (step 3);
#  2. portability both ways: lenet5 proven on x86-64 and under aarch64 with the same seed gives byte-identical
#     proof files, and each platform accepts the other's proof;
#  3. the same core tests and lenet5 check under 32-bit ARM (armhf: BabyBear's uint64 products on a 32-bit
#     machine);
#  4. a study with an emulated run (.ci/arm-study.toml): tiny_cnn under aarch64 beside x86-64, whose README
#     gives the prover's peak above python + numpy under qemu and the device budgets it fits;
#  5. the Termux situation under aarch64: an unprivileged user without cgroups runs `edgeprove run --ram 2G`.
#     auto skips every cgroup backend and Docker and would take rlimit, but qemu user-mode emulation accepts
#     setrlimit and ignores it, so the run must refuse (exit 5) rather than give a verdict on an uncapped
#     run; measured without a cap (--backend none) it gives its verdict, FITS at 2 GiB.
#
# Beside the lenet5 portability check it prints the peak RSS of `prove` on both sides and of a trivial
# Python with numpy under the same conditions (qemu's own footprint is in the emulated figures).
#
# The root file systems are cached in /var/cache/edgeprove-arm (scripts/arm64.sh builds one on first use,
# 6 to 21 minutes each on this project's 2-core machine). Each step prints its wall time.
set -euo pipefail
cd "$(dirname "$0")/.."

arm=scripts/arm64.sh
work="$(mktemp -d /tmp/edgeprove-arm-ci.XXXXXX)"
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

step() {
    echo "arm: $*"
}

timed() {
    # timed LABEL COMMAND...: run it, print its wall time
    local label="$1" start=$SECONDS
    shift
    "$@"
    step "$label: $((SECONDS - start)) s"
}

fail() {
    echo "arm: FAILED: $*" >&2
    exit 1
}

core_tests=(
    tests/test_field.py tests/test_poly.py tests/test_transcript.py tests/test_sumcheck.py tests/test_ntt.py
    tests/test_merkle.py tests/test_ligero.py tests/test_lookup.py tests/test_blas.py tests/test_prover.py
    tests/test_verifier.py -k "not every_value"
)

quick_core_tests=(
    tests/test_field.py tests/test_blas.py tests/test_ntt.py tests/test_merkle.py tests/test_sumcheck.py
)

peak_of_trivial_python() {
    # peak_of_trivial_python PYTHON: VmHWM in MiB of an interpreter that imports numpy and exits
    "$@" -c "import numpy; print([int(l.split()[1]) // 1024 for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
}

peak_of_prove() {
    # peak_of_prove JSON: the peak_rss_mb of `edgeprove prove --json`'s output
    python -c 'import json, sys; print(json.loads(sys.argv[1].strip().splitlines()[-1])["peak_rss_mb"])' "$1"
}

portability() {
    # portability ARCH MODEL: the same seed proven here and under ARCH gives the same bytes, and each side
    # accepts the other's proof.
    local arch="$1" model="$2" native emulated
    native="$(edgeprove prove "$model" --seed 7 --out "$work/$model-x86-64.proof" --json)"
    emulated="$("$arm" --arch "$arch" --bind "$work" edgeprove prove "$model" --seed 7 --out "$work/$model-$arch.proof" --json)"
    step "$model peak RSS: x86-64 $(peak_of_prove "$native") MiB (python+numpy alone $(peak_of_trivial_python python) MiB); $arch under qemu $(peak_of_prove "$emulated") MiB (python+numpy alone $("$arm" --arch "$arch" python3 -c "import numpy; print([int(l.split()[1]) // 1024 for l in open('/proc/self/status') if l.startswith('VmHWM')][0])") MiB)"
    cmp "$work/$model-x86-64.proof" "$work/$model-$arch.proof" ||
        fail "$model: the $arch proof differs from the x86-64 one"
    step "$model: the $arch and x86-64 proofs are byte-identical ($(stat -c %s "$work/$model-$arch.proof") bytes)"
    edgeprove verify "$work/$model-$arch.proof" || fail "$model: x86-64 rejects the $arch proof"
    "$arm" --arch "$arch" --bind "$work" edgeprove verify "$work/$model-x86-64.proof" ||
        fail "$model: $arch rejects the x86-64 proof"
}

emulated_study() {
    # The study runs tiny_cnn natively and under aarch64, and its README reports the emulated peak memory.
    local readme="$work/arm-study/README.md" row
    edgeprove study .ci/arm-study.toml --out "$work/arm-study" >/dev/null || fail "the emulated study did not finish"
    row="$(grep '| tiny_cnn | streaming | arm64 under qemu |' "$readme")" ||
        fail "the study's README has no arm64 row"
    echo "$row"
    grep -Eq '\| [0-9]+\.[0-9] \| [0-9]+ of [0-9]+ \|$' <<<"$row" ||
        fail "the arm64 row has no estimated peak or budget count"
}

termux() {
    # No root, no cgroup file system: auto skips the cgroup backends and Docker, and rlimit is refused
    # because qemu ignores setrlimit; measuring without a cap still gives verdicts.
    local out code=0
    chmod 1777 "$work"
    out="$("$arm" --user --bind "$work" sh -c "cd $work && edgeprove run tiny_cnn --ram 2G --out $work/auto" 2>&1)" ||
        code=$?
    echo "$out"
    [ "$code" = 5 ] || fail "auto under qemu as a user gave exit $code, not 5 (no backend can cap here)"
    grep -q "rlimit: setrlimit(RLIMIT_DATA) is accepted but does not take effect" <<<"$out" ||
        fail "the refusal does not say why rlimit cannot cap under qemu"
    "$arm" --user --bind "$work" sh -c "cd $work && edgeprove run tiny_cnn --ram 2G --backend none --out $work/fits" ||
        fail "the measured run at 2 GiB did not fit (exit $?)"
}

total=$SECONDS
timed "aarch64 core tests" "$arm" --arch arm64 python3 -m pytest -q -p no:cacheprovider "${quick_core_tests[@]}"
timed "aarch64 portability (lenet5)" portability arm64 lenet5
timed "aarch64 emulated study" emulated_study
timed "aarch64 Termux simulation" termux
timed "armhf core tests" "$arm" --arch armhf python3 -m pytest -q -p no:cacheprovider "${core_tests[@]}"
timed "armhf portability (lenet5)" portability armhf lenet5
step "emulated part: $((SECONDS - total)) s"
