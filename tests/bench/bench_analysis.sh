#!/bin/sh
# Benchmark of `strata analyze` (issue 6): N = 20,000, D = 1,024, 9 layers, 2 ranks; TwoNN + GRIDE
# next to dadapy and L x L CKA next to numpy on the same data and cores, equal results; peak RSS
# per rank at N/2 and N. Usage: tests/bench/bench_analysis.sh BUILD_DIR [WORKDIR] [extra args
# of bench_analysis.py, e.g. --repeat 3 --dadapy-layers 3]
set -e
build=${1:?usage: bench_analysis.sh BUILD_DIR [WORKDIR] [args]}
work=${2:-/tmp/strata_bench_analysis}
shift; [ $# -gt 0 ] && shift
here=$(dirname "$0")
# OpenBLAS core-type presets of these machines halve GEMM speed: unset for benchmarks only
# (PLATFORM.md); references and strata run under the same environment.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
exec "${STRATA_PYTHON:-/work/venv-ci/bin/python}" "$here/bench_analysis.py" "$build/strata" "$work" "$@"
