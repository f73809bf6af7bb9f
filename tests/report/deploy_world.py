"""The shipped matrix's shape, synthetic, for the answer-matrix tests: seven cells, 32 kept artifacts (24
TorchScript files at IR 8; the 8 dynamo files of torch 2.13 and 2.15 at IR 10) and three runtimes, all listed
out of version order in matrix.toml.

ort-1.15.0's Python API takes the TorchScript files and refuses the IR-10 ones; its C engine cannot run there at
all (an accepted outcome, as matrix.toml's [[runtime.expect]] records it). ort-1.21.1 is the deploy runtime and
takes everything. ort-1.32.0 gets one artifact's numbers wrong and its C engine crashes on another.
"""

from __future__ import annotations

from pathlib import Path

from report_factory import ALL_CELLS, EXPECTED_FAILURES, make_cell, matrix_toml

from converter import atomic
from harness.config.models import REFERENCE_MODELS as MODELS
from harness.ground.records import RuntimeOutcome, RuntimeResult

CELL_IDS = ("torch-2.13.0", "torch-1.13.1", "torch-2.4.1", "torch-2.9.1", "torch-2.15.0", "torch-2.1.2", "torch-2.8.0")
RUNTIMES = {"ort-1.32.0": "1.32.0", "ort-1.15.0": "1.15.0", "ort-1.21.1": "1.21.1"}
DEPLOY = ("ort-1.21.1",)
LEVELS = ("disabled", "basic", "extended", "all")
DYNAMO_CELLS = ("torch-2.13.0", "torch-2.15.0")
# Why each other cell's dynamo strategy left no artifact: its dynamo_export check's error, as measured.
NO_DYNAMO = {
    "torch-1.13.1": "torch 1.13.1+cu117 has no dynamo keyword in torch.onnx.export",
    "torch-2.1.2": "torch 2.1.2+cu121 has no dynamo keyword in torch.onnx.export",
    "torch-2.4.1": "exported, but the graph inputs are {'l_sequences_': ['s0', '10']} instead of 'sequences'",
    "torch-2.8.0": "exception during export: ValueError: The model contains functions. The version conversion pass "
                   "does not support functions.",
    "torch-2.9.1": "exception during graph capture (torch.export / dynamo): ConstraintViolationError: Constraints "
                   "violated (batch, sequence)! For more information, run with TORCH_LOGS=\"+dynamic\".",
}
IR10 = ("[ONNXRuntimeError] : 1 : FAIL : Load model from /r/artifacts/{key}.onnx failed:/onnxruntime_src/onnxruntime/"
        "core/graph/model.cc:149 onnxruntime::Model::Model(onnx::ModelProto&&, const PathString&, const "
        "IOnnxRuntimeOpSchemaRegistryList*, const onnxruntime::logging::Logger&, const onnxruntime::ModelOptions&) "
        "Unsupported model IR version: 10, max supported IR version: 9")
NO_ENGINE_REASON = ("the C engine needs ONNX Runtime's shared library with C API 21 (>= 1.21); the 1.15.0 wheel "
                    "links its runtime into the Python module and ships no libonnxruntime.so")
NO_ENGINE_ERROR = "the C engine cannot run on this runtime: no libonnxruntime.so.<version> in site-packages/onnxruntime/capi"
WRONG = ("ort-1.32.0", "torch-2.8.0/legacy/mscred", "python", "all")  # wrong numbers at one level
CRASH = ("ort-1.32.0", "torch-2.9.1/auto/deeplog", "c")  # the C engine crashes at every level


def artifact_keys() -> list[str]:
    keys = []
    for cell in CELL_IDS:
        for strategy in ("legacy", "auto") + (("dynamo",) if cell in DYNAMO_CELLS else ()):
            keys += [f"{cell}/{strategy}/{model}" for model in MODELS]
    return keys


def is_dynamo_file(key: str) -> bool:
    """Whether the file came from the dynamo exporter (IR 10): auto chooses dynamo on torch 2.13 and later."""
    return key.split("/")[0] in DYNAMO_CELLS and key.split("/")[1] != "legacy"


def _outcome(runtime: str, key: str, level: str, engine: str) -> RuntimeOutcome:
    if runtime == "ort-1.15.0" and engine == "c":
        return RuntimeOutcome(key, level, engine, "incompatible", expected="incompatible", reason=NO_ENGINE_REASON,
                              error=NO_ENGINE_ERROR)
    if runtime == "ort-1.15.0" and is_dynamo_file(key):
        return RuntimeOutcome(key, level, engine, "incompatible", error=IR10.format(key=key))
    if (runtime, key, engine, level) == WRONG:
        return RuntimeOutcome(key, level, engine, "fail", error="python at all: 1 of 14 cases differ",
                              figures={"max_abs_error": 3.1e-4, "failed": 1})
    if (runtime, key, engine) == CRASH:
        return RuntimeOutcome(key, level, engine, "crash", error="the runner died (signal 11) on this artifact")
    return RuntimeOutcome(key, level, engine, "pass", figures={"max_abs_error": 9.5e-7, "failed": 0})


def build(root: Path) -> tuple[Path, Path, Path]:
    """Write matrix.toml, reports/cells and reports/runtimes under root: (matrix, cells dir, report dir)."""
    matrix = root / "matrix.toml"
    # The expectations the records were judged with, as matrix.toml says them (the report judges from it).
    expected = [*EXPECTED_FAILURES, *((cell, "*", "dynamo_export", "a known dynamo failure") for cell in NO_DYNAMO)]
    no_engine = [{"outcome": "incompatible", "engine": "c", "reason": NO_ENGINE_REASON}]
    matrix.write_text(matrix_toml(cells={c: ALL_CELLS[c] for c in CELL_IDS}, expected=expected, runtimes=RUNTIMES,
                                  deploy=DEPLOY, runtime_expects={"ort-1.15.0": no_engine}), encoding="utf-8")
    out_dir = root / "reports"
    cells_dir = out_dir / "cells"
    cells_dir.mkdir(parents=True)
    for cell_id in CELL_IDS:
        overrides = {(model, "dynamo_export"): dict(status="xfail", expected="fail", error=NO_DYNAMO[cell_id],
                                                    reason="a known dynamo failure", root_cause=None)
                     for model in MODELS if cell_id in NO_DYNAMO}
        cell = make_cell(cell_id, overrides)
        for check in cell.checks:  # golden_parity names the strategies that left an artifact, as a real cell's does
            if check.check == "golden_parity" and cell_id not in DYNAMO_CELLS:
                check.detail["artifacts"].pop("dynamo", None)
        cell.write(cells_dir / f"{cell_id}.json")
    keys = artifact_keys()
    atomic.write_json(out_dir / "runtimes" / "artifacts.json", [
        {"key": k, "cell": k.split("/")[0], "strategy": k.split("/")[1], "model": k.split("/")[2], "sha256": "0" * 64,
         "ir_version": 10 if is_dynamo_file(k) else 8, "opsets": {"ai.onnx": 20 if is_dynamo_file(k) else 17},
         "onnx_checker": {"status": "pass", "error": None}} for k in keys])
    for runtime, version in RUNTIMES.items():
        outcomes = [_outcome(runtime, k, level, engine) for k in keys for level in LEVELS for engine in ("python", "c")]
        RuntimeResult(runtime, "complete", environment={"onnxruntime": version}, outcomes=outcomes).write(
            out_dir / "runtimes" / f"{runtime}.json")
    return matrix, cells_dir, out_dir
