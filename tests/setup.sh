#!/bin/bash
# tests/setup.sh — install what strata needs on Debian 12 and build it.
#   tests/setup.sh [--python] [--sanitize] [BUILD_DIR]
# Installs the Debian packages of tests/apt-packages.txt (when run as root and some are
# missing), with --python a virtualenv .venv (Debian's python3 with its h5py/numpy, plus
# tests/requirements.txt from PyPI), then configures and builds in BUILD_DIR (default build/).
# --sanitize builds with ASan+UBSan and without CUDA (default dir build-asan/); --fuzz builds
# the libFuzzer targets with clang (default dir build-fuzz/).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
python=0; sanitize=0; fuzz=0; build=""
for a in "$@"; do
  case "$a" in
    --python) python=1 ;;
    --sanitize) sanitize=1 ;;
    --fuzz) fuzz=1 ;;
    *) build="$a" ;;
  esac
done
if [ -z "$build" ]; then
  build="$here/build"; [ $sanitize = 1 ] && build="$here/build-asan"; [ $fuzz = 1 ] && build="$here/build-fuzz"
fi

pkgs=$(grep -v '^#' "$here/tests/apt-packages.txt" | tr '\n' ' ')
missing=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' $pkgs 2>&1 | grep -v '^ii ' || true)
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  else
    echo "setup: missing Debian packages (run as root or install them):" >&2
    echo "$missing" >&2
    exit 1
  fi
fi

cmake_args=(-DSTRATA_WERROR=ON)
if [ $python = 1 ]; then
  if [ ! -x "$here/.venv/bin/python" ]; then
    echo "setup: creating .venv (Debian python3 + PyPI references)" >&2
    /usr/bin/python3 -m venv --system-site-packages "$here/.venv"
  fi
  "$here/.venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/tests/requirements.txt"
  cmake_args+=(-DSTRATA_PYTHON="$here/.venv/bin/python")
fi
if [ $sanitize = 1 ]; then
  cmake_args+=(-DSTRATA_SANITIZE=ON -DSTRATA_CUDA=OFF)
fi
if [ $fuzz = 1 ]; then
  cmake_args+=(-DSTRATA_FUZZ=ON -DSTRATA_CUDA=OFF -DCMAKE_C_COMPILER=clang -DSTRATA_WERROR=OFF)
fi
cmake -S "$here" -B "$build" "${cmake_args[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)"
