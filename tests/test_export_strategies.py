"""The export strategies on the installed torch: fallback on exceptions, verification that catches
frozen axes and wrong numbers, and records that keep what the exporter said."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from converter import exporting
from converter.exporting import Attempt, ExportFailed, export_model, exporter_signature
from converter.models import DeepLog, DeepLogConfig
from converter.specs import ExportSpec, deeplog_spec


class DataDependentBranch(torch.nn.Module):
    """torch.export cannot capture a branch on tensor values; TorchScript tracing records one branch."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)

    def forward(self, x):
        if x.sum() > 0:
            return self.lin(x).sum(dim=1)
        return -self.lin(x).sum(dim=1)


def branch_spec() -> ExportSpec:
    def make(batch, length, seed=0):
        return torch.rand((batch, length or 5, 4), generator=torch.Generator().manual_seed(seed)) + 0.1

    return ExportSpec("branch", "x", "y", {0: "batch", 1: "sequence"}, {0: "batch"}, make, (2, 5), [(3, 8), (1, 2)])


def small_deeplog() -> DeepLog:
    torch.manual_seed(3)
    return DeepLog(DeepLogConfig(vocab_size=12, seq_len=6, hidden=8, layers=1, embed_dim=4))


needs_dynamo = pytest.mark.skipif(not exporter_signature()["dynamo_keyword"], reason="torch without the dynamo keyword")


@needs_dynamo
def test_auto_falls_back_to_torchscript_when_dynamo_raises(tmp_path, capfd):
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        record = export_model(DataDependentBranch(), branch_spec(), tmp_path / "m.onnx", "auto")
    console = capfd.readouterr()
    assert console.out == "" and console.err == ""  # nothing sprayed ...
    assert leaked == []  # ... and no warning escaped: it is in the record
    first, final = record.attempts
    assert (first.exporter, first.outcome) == ("dynamo", "exception")
    assert first.stage and first.exception_type and first.root_cause
    assert "\x1b[" not in first.error  # colour codes stripped
    assert (final.exporter, final.outcome, final.call) == ("torchscript", "ok", "dynamo=False")
    assert record.exporter == "torchscript" and "fell back" in record.reason
    assert any(w["category"] == "TracerWarning" for w in final.warnings)
    assert (tmp_path / "m.onnx").is_file() and record.inputs["x"] == ["batch", "sequence", 4]


@needs_dynamo
def test_dynamo_strategy_failure_raises_with_the_record_and_writes_nothing(tmp_path):
    with pytest.raises(ExportFailed) as failed:
        export_model(DataDependentBranch(), branch_spec(), tmp_path / "m.onnx", "dynamo")
    assert failed.value.record.attempts[0].outcome == "exception"
    assert "dynamo" in str(failed.value)
    assert list(tmp_path.iterdir()) == []  # no artifact, no temporary left


def test_legacy_passes_dynamo_false_explicitly_where_it_exists(tmp_path):
    record = export_model(small_deeplog(), deeplog_spec(small_deeplog()), tmp_path / "d.onnx", "legacy")
    (attempt,) = record.attempts
    if exporter_signature()["dynamo_keyword"]:
        assert attempt.call == "dynamo=False" and not attempt.typeerror_retry
    else:
        assert attempt.typeerror_retry
    assert record.inputs["sequences"] == ["batch", "sequence"]
    assert record.opset == exporting.LEGACY_DEFAULT_OPSET
    assert record.versions["torch"] == torch.__version__.split("+")[0] or record.versions["torch"] == torch.__version__


def test_verification_catches_frozen_axes(tmp_path):
    """An artifact exported without dynamic axes must not pass as dynamic."""
    model = small_deeplog().eval()
    spec = deeplog_spec(model)
    path = tmp_path / "frozen.onnx"
    torch.onnx.export(model, (spec.make_input(2, 6, 0),), str(path), input_names=["sequences"],
                      output_names=["logits"], opset_version=17, **_legacy_keyword())
    attempt = Attempt(exporter="torchscript", call="test")
    exporting._verify(model, spec, path, attempt, exporting.DEFAULT_TOLERANCE)
    assert attempt.outcome == "frozen_axes"
    assert attempt.frozen_axes == {"batch": 2, "sequence": 6}


def test_verification_catches_wrong_numbers(tmp_path):
    """Weights perturbed after export: parity at other shapes fails and says where."""
    model = small_deeplog().eval()
    spec = deeplog_spec(model)
    export_model(model, spec, tmp_path / "d.onnx", "legacy")
    proto = onnx.load(str(tmp_path / "d.onnx"))
    init = max(proto.graph.initializer, key=lambda t: np.prod(t.dims))
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 0.05, init.name))
    onnx.save(proto, str(tmp_path / "bad.onnx"))
    attempt = Attempt(exporter="torchscript", call="test")
    exporting._verify(model, spec, tmp_path / "bad.onnx", attempt, exporting.DEFAULT_TOLERANCE)
    assert attempt.outcome == "parity_failed"
    assert "logits at sequences[" in attempt.error and "max abs error" in attempt.error
    assert attempt.parity["failed"] >= 1


def test_opset_below_what_onnxruntime_accepts_is_refused(tmp_path):
    with pytest.raises(exporting.AlogError, match="opset"):
        export_model(small_deeplog(), deeplog_spec(small_deeplog()), tmp_path / "d.onnx", "legacy", opset=7)


def _legacy_keyword() -> dict:
    return {"dynamo": False} if exporter_signature()["dynamo_keyword"] else {}


@needs_dynamo
def test_consecutive_dynamo_exports_keep_the_sequence_axis(tmp_path):
    """torch >= 2.10 caches an unrolled LSTM kernel after one export; without clearing it the next
    export in the process freezes the sequence axis silently. Three in a row must all stay dynamic."""
    if not exporter_signature()["dynamic_shapes_keyword"]:
        pytest.skip("this torch's dynamo path has no dynamic_shapes")
    first = export_model(small_deeplog(), deeplog_spec(small_deeplog()), tmp_path / "0.onnx", "dynamo")
    for index in (1, 2):
        record = export_model(small_deeplog(), deeplog_spec(small_deeplog()), tmp_path / f"{index}.onnx", "dynamo")
        assert record.inputs == first.inputs == {"sequences": ["batch", "sequence"]}
