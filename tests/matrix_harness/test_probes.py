"""Probes of raw torch.onnx.export behaviour, on the torch of this interpreter."""

from __future__ import annotations

import inspect

import torch

from harness.checks import probes


class TinyLog(torch.nn.Module):
    """DeepLog-shaped: Embedding + LSTM + Linear on the last step."""

    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(12, 8)
        self.lstm = torch.nn.LSTM(8, 16, 1, batch_first=True)
        self.head = torch.nn.Linear(16, 12)

    def forward(self, x):
        out, _ = self.lstm(self.embedding(x))
        return self.head(out[:, -1, :])


def test_signature_probe_matches_the_real_signature(tmp_path):
    sig = probes.exporter_signature(tmp_path)
    params = inspect.signature(torch.onnx.export).parameters
    # the same facts, under the same names, as the converter's strategies read (converter.exporting)
    assert sig.facts["dynamo_keyword"] == ("dynamo" in params)
    assert sig.facts["dynamic_shapes_keyword"] == ("dynamic_shapes" in params)
    assert sig.facts["fallback_keyword"] == ("fallback" in params)
    if sig.facts["dynamo_keyword"]:
        assert sig.facts["dynamo_default"] == params["dynamo"].default
    # measured, not assumed: torch 2.6 takes **_ and swallows unknown keywords, 2.13 refuses them
    has_var_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    assert sig.facts["accepts_var_kwargs"] is has_var_keyword
    assert sig.to_detail()["dynamo_keyword"] == sig.facts["dynamo_keyword"]
    if has_var_keyword:
        assert sig.unknown_keyword == "swallowed"
    else:
        assert sig.unknown_keyword == "rejected" and probes.BOGUS_KEYWORD in sig.unknown_keyword_error


def test_default_call_names_the_exporter_that_ran_and_checks_another_shape(tmp_path):
    model = TinyLog().eval()
    example = torch.randint(0, 12, (2, 6))
    other = torch.randint(0, 12, (3, 11))
    probe = probes.default_call(model, example, "sequences", "logits", {0: "batch", 1: "sequence"}, other,
                                tmp_path / "default.onnx")
    expected = probes.exporter_signature(tmp_path).default_exporter
    assert probe.exporter == expected, probe.evidence
    if probe.outcome == "ok":
        assert probe.input_dims[:2] == ["batch", "sequence"] or all(isinstance(d, str) for d in probe.input_dims)
        assert probe.other_shape == [3, 11] and probe.other_shape_result == "ran"
    else:
        assert probe.error and probe.root_cause


def test_root_cause_walks_to_the_innermost_exception():
    """One description of an exception everywhere (converter.errors): first line without colours, innermost cause."""
    from converter.errors import first_line, root_cause

    try:
        try:
            raise IndexError("list index out of range")
        except IndexError as inner:
            raise RuntimeError("\x1b[96mFailed to export\x1b[0m\nmore text") from inner
    except RuntimeError as exc:
        assert first_line(exc) == "Failed to export"
        assert root_cause(exc) == "IndexError: list index out of range"
    try:
        try:
            raise KeyError("hidden")
        except KeyError:
            raise ValueError("bad input") from None  # the context is suppressed: it is not the cause
    except ValueError as exc:
        assert root_cause(exc) == "ValueError: bad input"
    assert first_line(RuntimeError("")) == "RuntimeError" and len(first_line(RuntimeError("x" * 9000))) == 500
