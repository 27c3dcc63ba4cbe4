#!/usr/bin/env bash
# The wheels benchmarks/gpu_check.py needs on a GPU machine whose image has torch, lightning,
# torchmetrics, timm, scipy and OpenCV but not the rest (CPython 3.12, x86-64), into .whl/
# (git-ignored; about 30 MB). Versions: those the tests pass with (pip list in .venv).
#   benchmarks/gpu_wheels.sh [PYTHON_VERSION]     e.g. 3.12 (default)
set -euo pipefail
cd "$(dirname "$0")/.."
py="${1:-3.12}"
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
for pkg in jsonargparse==4.53.0 docstring-parser==0.18.0 typeshed-client==2.15.0 \
           albumentations==2.0.8 albucore==0.0.24 pydantic==2.14.4 pydantic-core==2.50.5 \
           annotated-types==0.8.0 typing-inspection==0.4.5 stringzilla==5.3.2 simsimd==6.5.16 \
           kornia==0.9.2 kornia-rs==0.2.0 torch-fidelity==0.4.0; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$py" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
        -d .whl "$pkg"
done
du -sh .whl
