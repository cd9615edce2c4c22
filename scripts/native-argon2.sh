#!/usr/bin/env bash
# Rebuilds argon2-cffi-bindings from source for x86-64-v3 (AVX2) in the project's virtualenv.
# Optional: measured here, an OWASP argon2id verification costs 10-12 ms of CPU with this build against
# 17-22 ms with the PyPI wheels (SSE2 only), which is what takes a login past 40 per core
# (docs/operations.md, "Hot paths"). The password hasher times its verifiers at startup and uses the
# cheaper, so nothing else changes. Needs a C compiler; the result runs only on CPUs with AVX2, so
# build it on (or for) the servers that run it, never into an image that may land on older CPUs.
#
#     bash scripts/native-argon2.sh [path/to/venv]     (default: .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv}"

if ! grep -qw avx2 /proc/cpuinfo; then
  echo "this CPU has no AVX2: keep the PyPI wheel" >&2
  exit 1
fi
command -v cc >/dev/null 2>&1 || { echo "a C compiler (cc) is needed: apt-get install gcc" >&2; exit 1; }

CFLAGS="-O3 -march=x86-64-v3" "$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall \
  --no-deps --no-binary argon2-cffi-bindings argon2-cffi-bindings
"$venv/bin/python" - <<'PY'
import time
from argon2 import low_level

start = time.process_time()
for _ in range(10):
    low_level.hash_secret(b"password", b"saltsaltsaltsalt", time_cost=2, memory_cost=19456, parallelism=1,
                          hash_len=32, type=low_level.Type.ID)
print(f"argon2id (m=19 MiB, t=2, p=1): {(time.process_time() - start) * 100:.1f} ms of CPU per hash")
PY
