"""`alog-matrix init`: a commented starter gate.toml in the current folder, and with ``--github`` the
workflow that fans its cells out as CI jobs (cell jobs, then one runtime/report job).

Nothing is overwritten: a file that exists is one line and exit 2. The starter is a valid matrix file
(checked by loading it after writing), so ``alog-matrix run`` works on it as written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from converter import atomic
from converter.errors import AlogError

GATE_FILE = "gate.toml"
WORKFLOW_FILE = Path(".github") / "workflows" / "alog-matrix.yml"

STARTER = """\
# alog-matrix gate: which PyTorch and ONNX Runtime releases your artifacts must work on.
# Run it with `alog-matrix run` in this folder; venvs and scratch go to .alog-matrix/, the report to reports/.
# Every key is documented in alog-detect's docs/matrix.md.

[defaults]
python = "3.11"
models = ["deeplog", "mscred"]
strategies = ["legacy", "dynamo", "auto"]   # torch.onnx's exporters, and the converter's verified choice

# The models every cell exports. Left empty, the run trains one reference DeepLog and one MSCRED on a
# synthetic log. Point it at your own checkpoints (paths relative to this file):
#   deeplog = "models/deeplog.pth"
#   vocab = "models/vocab.json"
#   mscred = "models/mscred.pth"
#   log = "logs/sample.log"
[model]

# Your own architecture, named the torch.hub way (a folder with hubconf.py), and added to models above:
# [model.transformer]
# hub = "models/hub"
# entry = "template_transformer"
# kwargs = { vocab_size = 30, d_model = 32 }
# weights = "models/transformer.pth"   # optional state_dict; left out, one seeded init for every cell
# interface = "next-template"          # or "signature-matrix" with shape = [step, scales, sensors]
# window = 10

[tolerance]
atol = 1e-5
rtol = 1e-4

# Warnings the exporters raise that are known and harmless; any other warning fails the `warnings` check.
[warnings]
# Warnings an export may raise without failing the `warnings` check: regular expressions matched
# against "Category: message". Each entry is a warning measured in some cell and judged harmless;
# anything else fails the check, so a new torch's new warning is seen.
allow = [
    # the TorchScript exporter's deprecation notice (2.8+) and its generic companion line
    "^DeprecationWarning: You are using the legacy TorchScript-based ONNX export",
    "^DeprecationWarning: The feature will be removed\\\\. Please remove usage of this function",
    # LSTM tracing notes of the TorchScript exporter; the dynamic_axes check shows the axes stay dynamic
    "^UserWarning: Exporting a model to ONNX with a batch_size other than 1, with a variable length with LSTM",
    "^TracerWarning: Converting a tensor to a Python boolean might cause the trace to be incorrect",
    # torch 1.13's TorchScript exporter on the LSTM's initial-state constants
    "^UserWarning: The shape inference of prim::Constant type is missing",
    # dynamo exporter, 2.9+: the bare default call converts dynamic_axes to dynamic_shapes
    "^UserWarning: # 'dynamic_axes' is not recommended when dynamo=True",
    "^DeprecationWarning: from_dynamic_axes_to_dynamic_shapes is deprecated",
    # dynamo exporter, 2.13+: torch.export notes the LSTM's flat weight list is assigned in forward
    "^UserWarning: The tensor attributes self\\\\.lstm\\\\._flat_weights",
    # torch-internal deprecations raised inside torch.export (_check_is_size, LeafSpec)
    "^FutureWarning: (_check_is_size will be removed|`isinstance\\\\(treespec, LeafSpec\\\\)` is deprecated)",
    # 2.4.1: dynamo=True routes to torch.onnx.dynamo_export, which ignores dynamic_axes and TorchScript-only
    # arguments (the dynamo_export check records what that does to the axes)
    "^UserWarning: Specified dynamic axes is not supported for dynamo export",
    "^UserWarning: torch\\\\.onnx\\\\.dynamo_export only implements opset version 18",
    "^UserWarning: f, export_params, verbose, training, input_names, output_names",
]

[gate]
fail_on = ["fail", "error", "crash", "timeout"]
deploy = ["ort-1.21.1"]   # the runtimes your release must work on

# One cell per PyTorch release: its own venv with that torch and the companion pins below.
# `find_links = true` takes torch from the folder pip's global.find-links names (e.g. CPU-only wheels).
[[cell]]
id = "torch-2.4.1"
torch = "2.4.1"
pins = { numpy = "1.26.4", onnx = "1.17.0", onnxscript = "0.2.7", onnxruntime = "1.22.1" }

[[cell.expect]]   # a known failure, accepted with its reason (an unexpected pass is reported)
check = "dynamo_export"
reason = "torch 2.4's dynamo=True has no dynamic_shapes: the sequence axis comes out fixed"

[[cell]]
id = "torch-2.15.0"
torch = "2.15.0"
pins = { numpy = "2.4.6", onnx = "1.23.2", onnxscript = "0.7.2", onnxruntime = "1.32.0" }

# Every artifact the cells keep is loaded in each runtime, at every optimization level, in Python and in
# the C engine (which needs ONNX Runtime's C API 21: onnxruntime >= 1.21).
[[runtime]]
id = "ort-1.21.1"
onnxruntime = "1.21.1"
pins = { numpy = "1.26.4" }
"""

WORKFLOW = """\
# alog-matrix on GitHub Actions (written by `alog-matrix init --github`): the golden data once, one job per
# [[cell]] of gate.toml, then one job that runs every kept artifact in every [[runtime]], merges the cell
# results into the report and runs the gate. Adding a [[cell]] adds a job without editing this file.
#
# The jobs that build the C engine run in a Debian trixie container: the engine takes ONNX Runtime's C
# headers from trixie's libonnxruntime-dev through the machine's own apt sources. uv's cache is kept.
name: alog-matrix

on:
  push:
    branches: [main]
  pull_request:
  workflow_dispatch:

permissions:
  contents: read

concurrency:
  group: alog-matrix-${{ github.ref }}
  cancel-in-progress: true

env:
  UV_CACHE_DIR: /github/home/.cache/uv
  ALOG_DETECT: "alog-detect[harness]"

jobs:
  plan:
    name: list the cells
    runs-on: ubuntu-latest
    outputs:
      cells: ${{ steps.cells.outputs.cells }}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: python -m pip install "$ALOG_DETECT"
      - id: cells
        run: echo "cells=$(alog-matrix gha-matrix --matrix gate.toml)" >> "$GITHUB_OUTPUT"

  golden:
    name: golden data
    needs: plan
    runs-on: ubuntu-latest
    container: python:3.11-trixie
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v4
      - uses: actions/cache@v4
        with:
          path: /github/home/.cache/uv
          key: uv-golden-${{ hashFiles('gate.toml') }}
          restore-keys: uv-golden-
      - run: python -m pip install "$ALOG_DETECT"
      - run: alog-matrix run --matrix gate.toml --stage golden
      - uses: actions/upload-artifact@v4
        with:
          name: golden
          path: reports/golden/
          if-no-files-found: error

  cell:
    name: cell ${{ matrix.cell }}
    needs: [plan, golden]
    runs-on: ubuntu-latest
    container: python:3.11-trixie
    timeout-minutes: 60
    strategy:
      fail-fast: false  # every cell is evidence; one broken torch must not cancel the others
      matrix: ${{ fromJSON(needs.plan.outputs.cells) }}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/cache@v4
        with:
          path: /github/home/.cache/uv
          key: uv-${{ matrix.cell }}-${{ hashFiles('gate.toml') }}
          restore-keys: uv-${{ matrix.cell }}-
      - run: python -m pip install "$ALOG_DETECT"
      - run: apt-get update -q && apt-get install -y -q --no-install-recommends gcc make patch
      - uses: actions/download-artifact@v4
        with:
          name: golden
          path: reports/golden
      - run: alog-matrix run --matrix gate.toml --cells "${{ matrix.cell }}" --stage cells --resume --no-report
      - name: upload the cell result
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: cell-${{ matrix.cell }}
          path: |
            reports/cells/*.json
            reports/cells/*.log
          if-no-files-found: warn
      - name: upload the kept artifacts
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: artifacts-${{ matrix.cell }}
          path: reports/artifacts/
          if-no-files-found: ignore

  report:
    name: runtimes, report and gate
    needs: [plan, golden, cell]
    if: always() && needs.plan.result == 'success'
    runs-on: ubuntu-latest
    container: python:3.11-trixie
    timeout-minutes: 60
    steps:
      - uses: actions/checkout@v4
      - uses: actions/cache@v4
        with:
          path: /github/home/.cache/uv
          key: uv-runtimes-${{ hashFiles('gate.toml') }}
          restore-keys: uv-runtimes-
      - run: python -m pip install "$ALOG_DETECT"
      - run: apt-get update -q && apt-get install -y -q --no-install-recommends gcc make patch
      - uses: actions/download-artifact@v4
        with:
          name: golden
          path: reports/golden
      - uses: actions/download-artifact@v4
        with:
          pattern: cell-*
          path: downloads/cells
      - uses: actions/download-artifact@v4
        with:
          pattern: artifacts-*
          path: reports/artifacts
          merge-multiple: true
      - run: alog-matrix report --merge downloads/cells --matrix gate.toml --out reports --cells-dir reports/cells
      - run: alog-matrix run --matrix gate.toml --stage runtimes --no-report
      # The gate's memory between runs: reports/history, one record per run (the last report appends it).
      - uses: actions/cache/restore@v4
        with:
          path: reports/history
          key: alog-history-${{ github.ref_name }}-${{ github.run_id }}
          restore-keys: alog-history-${{ github.ref_name }}-
      - run: alog-matrix report --matrix gate.toml --out reports --cells-dir reports/cells --record-history
      - uses: actions/cache/save@v4
        if: always()
        with:
          path: reports/history
          key: alog-history-${{ github.ref_name }}-${{ github.run_id }}
      - name: gate
        run: alog-matrix gate reports/matrix.json --matrix gate.toml
      - name: step summary
        if: always()
        run: |
          if [ -f reports/summary.md ]; then cat reports/summary.md >> "$GITHUB_STEP_SUMMARY"; fi
      - name: upload the report
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: report
          path: reports/
          if-no-files-found: warn
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--github", action="store_true",
                        help=f"also write {WORKFLOW_FILE}: the cells as CI jobs, then the runtime stage and the gate")
    parser.add_argument("--dir", type=Path, default=Path("."), help="the folder to write into (default: here)")


def run(args: argparse.Namespace) -> int:
    from harness.config.matrix import load_matrix

    folder = args.dir
    if not folder.is_dir():
        raise AlogError(f"--dir {folder}: not a directory")
    targets = [(folder / GATE_FILE, STARTER)] + ([(folder / WORKFLOW_FILE, WORKFLOW)] if args.github else [])
    for path, _ in targets:  # refuse before writing anything
        if path.exists() or path.is_symlink():
            raise AlogError(f"{path} exists; alog-matrix init writes only new files (move it away to start afresh)")
    for path, text in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path, text)
        print(f"alog-matrix init: wrote {path}")
    load_matrix(folder / GATE_FILE)  # the starter is a valid matrix file
    print("next: alog-matrix run   (the whole gate; --cells ID runs one cell)")
    return 0
