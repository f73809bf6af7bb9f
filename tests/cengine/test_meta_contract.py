"""One meta.json contract: the C engine (cengine/src/meta.c) and the Python reader (converter/metafile.py,
which the reference detector uses) give every file the same verdict: both refuse it, or both accept it
with the same values. Were: duplicate keys read two ways (cJSON the first, Python the last: `"top_g":9,
"top_g":0` gave 1,206 anomalies in the engine and 1,990 in the reference), and the reference took
`"seq_len":"10"`, `10.5`, `"header_fields":true` and `"top_g":1e300`, which the engine refuses.

The engine's verdict comes from `--info` on a real model with the file beside it (exit 3, or the values it
printed); the Python one from ``metafile.parse`` on the same bytes."""

from __future__ import annotations

import shutil

import pytest

from converter import metafile
from converter.detection import load_model_dir
from converter.errors import AlogError

INPUT = 3
BASE = ('"format_version": 1, "model_type": "deeplog", "input_name": "sequences", "output_name": "logits", '
        '"vocab_size": 20, "seq_len": 10, "top_g": 9, "log_format": "hdfs", "header_fields": 5')


def meta(extra: str = "", base: str = BASE) -> bytes:
    return ("{" + base + (", " + extra if extra else "") + "}").encode("utf-8")


def nested(depth: int) -> bytes:
    return meta(f'"export": {"[" * (depth - 1)}1{"]" * (depth - 1)}')


CASES: dict[str, bytes] = {
    "valid": meta(),
    "duplicate top_g": meta('"top_g": 0'),
    "duplicate spelled with an escape": meta('"top\\u005fg": 0'),
    "escaped key alone": meta(base=BASE.replace('"top_g": 9', '"top\\u005fg": 3')),
    "duplicate nested key": meta('"export": {"a": 1, "a": 2}'),
    "duplicate empty keys": meta('"x": {"": 1, "": 2}'),
    "seq_len as text": meta(base=BASE.replace('"seq_len": 10', '"seq_len": "10"')),
    "seq_len fraction": meta(base=BASE.replace('"seq_len": 10', '"seq_len": 10.5')),
    "seq_len 10.0": meta(base=BASE.replace('"seq_len": 10', '"seq_len": 10.0')),
    "seq_len 1e1": meta(base=BASE.replace('"seq_len": 10', '"seq_len": 1e1')),
    "seq_len 010": meta(base=BASE.replace('"seq_len": 10', '"seq_len": 010')),
    "seq_len 10.": meta(base=BASE.replace('"seq_len": 10', '"seq_len": 10.')),
    "seq_len at its bound": meta(base=BASE.replace('"seq_len": 10', '"seq_len": 1000000')),
    "seq_len past its bound": meta(base=BASE.replace('"seq_len": 10', '"seq_len": 1000001')),
    "seq_len of 400 digits": meta(base=BASE.replace('"seq_len": 10', '"seq_len": ' + "9" * 400)),
    "seq_len null": meta(base=BASE.replace('"seq_len": 10', '"seq_len": null')),
    "header_fields true": meta(base=BASE.replace('"header_fields": 5', '"header_fields": true')),
    "top_g 1e300": meta(base=BASE.replace('"top_g": 9', '"top_g": 1e300')),
    "top_g -0": meta(base=BASE.replace('"top_g": 9', '"top_g": -0')),
    "top_g null": meta(base=BASE.replace('"top_g": 9', '"top_g": null')),
    "vocab_size past its bound": meta(base=BASE.replace('"vocab_size": 20', '"vocab_size": 100000001')),
    "format_version 1.0": meta(base=BASE.replace('"format_version": 1', '"format_version": 1.0')),
    "format_version text": meta(base=BASE.replace('"format_version": 1', '"format_version": "1"')),
    "format_version 2": meta(base=BASE.replace('"format_version": 1', '"format_version": 2')),
    "model_type a number": meta(base=BASE.replace('"model_type": "deeplog"', '"model_type": 5')),
    "model_type null": meta(base=BASE.replace('"model_type": "deeplog"', '"model_type": null')),
    "NaN": meta('"export": NaN'),
    "Infinity": meta('"export": -Infinity'),
    "huge numbers where unread": meta('"x": 1e400, "y": ' + "7" * 5000),
    "text after the value": meta() + b" trailing",
    "whitespace after the value": meta() + b"\n\r\t ",
    "byte-order mark": b"\xef\xbb\xbf" + meta(),
    "form feed before the value": b"\x0c" + meta(),
    "control character in a string": meta('"note": "a\x01b"'),
    "NUL in a key": meta('"top_g\\u0000x": 3'),
    "NUL in a value": meta(base=BASE.replace('"hdfs"', '"hd\\u0000fs"')),
    "lone surrogate": meta('"note": "\\ud800"'),
    "surrogate pair": meta('"note": "\\ud83d\\ude00"'),
    "not UTF-8": meta('"note": "\xff"').replace(b"\xc3\xbf", b"\xff"),
    "UTF-8 surrogate bytes": meta('"note": "x"').replace(b'"x"', b'"\xed\xa0\x80"'),
    "64 levels": nested(64),
    "65 levels": nested(65),
    "2000 levels": nested(2000),
    "a list": b"[1]",
    "empty": b"",
}
ACCEPTED = {"valid", "escaped key alone", "seq_len 10.0", "seq_len 1e1", "seq_len at its bound", "seq_len null",
            "top_g -0", "top_g null", "format_version 1.0", "huge numbers where unread", "whitespace after the value",
            "surrogate pair", "64 levels"}
PRINTED = ("format_version", "model_type", "input_name", "output_name", "vocab_size", "seq_len", "top_g",
           "log_format", "header_fields")


def engine_verdict(engine, onnx_source, tmp_path, data: bytes):
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copyfile(onnx_source, folder / "m.onnx")
    (folder / "m.onnx.meta.json").write_bytes(data)
    result = engine.run("--info", folder / "m.onnx")
    if result.code == INPUT:
        return "refused"
    assert result.code == 0, result.stderr
    line = next(line for line in result.lines if line.strip().startswith("meta "))
    values = dict(part.split("=", 1) for part in line.split()[1:])
    return {key: values[key] for key in PRINTED if key in values}


def python_verdict(data: bytes):
    try:
        parsed = metafile.parse(data, "m.onnx.meta.json")
    except AlogError:
        return "refused"
    shown = {key: str(parsed[key]) for key in PRINTED if key in parsed}
    if "seq_len" not in parsed:  # the engine prints top_g beside seq_len only
        shown.pop("top_g", None)
    return shown


@pytest.mark.parametrize("case", sorted(CASES))
def test_engine_and_python_reader_give_the_same_verdict(release_engine, hdfs_dir, tmp_path, case):
    engine = engine_verdict(release_engine, hdfs_dir / "deeplog.onnx", tmp_path, CASES[case])
    python = python_verdict(CASES[case])
    assert engine == python
    assert (engine != "refused") == (case in ACCEPTED), engine


def test_the_headline_cases_under_the_sanitizers(asan_engine, hdfs_dir, tmp_path):
    for number, case in enumerate(("duplicate top_g", "65 levels", "2000 levels", "NUL in a key", "valid")):
        folder = tmp_path / str(number)
        folder.mkdir()
        assert engine_verdict(asan_engine, hdfs_dir / "deeplog.onnx", folder, CASES[case]) == python_verdict(
            CASES[case]), case


def test_reference_detector_refuses_duplicate_keys(hdfs_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(hdfs_dir, folder)
    path = folder / "deeplog.onnx.meta.json"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"top_g": 9', '"top_g": 9, "top_g": 0', 1), encoding="utf-8")
    with pytest.raises(AlogError, match='duplicate key "top_g"'):
        load_model_dir(folder)
