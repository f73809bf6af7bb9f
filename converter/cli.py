"""`alog-detect`: parse logs, build inputs, train DeepLog/MSCRED, convert to ONNX.

Every failure a user can cause ends as one line on stderr and a non-zero exit (1); a bug of ours
ends as one line too (exit 3), with the traceback only when ALOG_DEBUG=1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from converter.errors import AlogError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _integer(text: str) -> int:
    """A whole number; its range is checked by ``_bounded`` (out of range is bad input, exit 1)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _bounded(option: str, name: str, value: int | None) -> None:
    """Refuse a size option outside the bounds the converter and the engine share (converter.artifacts)."""
    from converter import artifacts

    if value is not None and not artifacts.in_bounds(name, value):
        shown = str(value) if len(str(value)) <= 30 else str(value)[:27] + "..."
        raise AlogError(f"{option} {shown} is out of range: expected {artifacts.bounds_text(name)}")


def _scales(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"scales must be positive integers, got {text!r}")
    return values


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def cmd_parse(args) -> int:
    from converter import parsing

    summary = parsing.parse_log(args.log, args.out, config_path=args.config, fmt=args.format)
    _say(f"parsed {summary['lines']} lines ({summary['format']}) into {summary['templates']} templates -> {args.out}")
    return 0


def cmd_build_deeplog(args) -> int:
    from converter import sequences

    _bounded("--window", "seq_len", args.window)
    summary = sequences.build_deeplog_inputs(args.parsed, args.out_dir, window=args.window,
                                             template_col=args.template_col, session_col=args.session_col)
    _say(f"vocab of {summary['vocab_size']} templates, {summary['windows']} windows of {args.window} -> {args.out_dir}")
    return 0


def cmd_deeplog_train(args) -> int:
    from converter import training

    for option, name, value in (("--hidden", "hidden", args.hidden), ("--layers", "layers", args.layers),
                                ("--embed-dim", "embed_dim", args.embed_dim)):
        _bounded(option, name, value)
    summary = training.deeplog_checkpoint(args.seq, args.vocab, args.out, epochs=args.epochs, seed=args.seed,
                                          hidden=args.hidden, layers=args.layers, embed_dim=args.embed_dim)
    _say(f"trained DeepLog on {summary['windows']} windows, final loss {summary['loss'][-1]:.4f} -> {args.out}")
    return 0


def cmd_build_mscred(args) -> int:
    from converter import signatures

    summary = signatures.build_signatures(args.parsed, args.out_dir, scales=args.scales, step=args.step,
                                          bucket=args.bucket)
    _say(f"signature matrices {summary.get('shape')} -> {Path(args.out_dir) / 'signatures.npz'}")
    return 0


def cmd_mscred_train(args) -> int:
    from converter import training

    summary = training.mscred_checkpoint(args.signatures, args.out, epochs=args.epochs, seed=args.seed)
    _say(f"trained MSCRED on {summary['windows']} windows, final loss {summary['loss'][-1]:.6f} -> {args.out}")
    return 0


def cmd_convert_onnx(args) -> int:
    from converter import convert

    _bounded("--seq-len", "seq_len", args.seq_len)
    _bounded("--opset", "opset", args.opset)
    if args.hub or args.entry:
        return _convert_hub(args)
    if not args.deeplog_model and not args.mscred_model:
        raise AlogError("nothing to convert: give --deeplog-model (with --vocab) and/or --mscred-model, or a team's "
                        "model with --hub DIR --entry NAME --interface ...")
    if args.deeplog_model and not args.vocab:
        raise AlogError("--deeplog-model needs --vocab (the training vocab.json written by build-deeplog)")
    results = []
    if args.deeplog_model:
        results.append(convert.convert_deeplog(args.deeplog_model, args.vocab, args.output_dir, args.seq_len,
                                               args.exporter, args.opset, args.validate, args.portable))
    if args.mscred_model:
        results.append(convert.convert_mscred(args.mscred_model, args.output_dir, args.exporter, args.opset,
                                              args.validate, args.portable))
    for r in results:
        checked = f", validated at {len(r.validation)} shapes" if r.validation else ""
        _say(f"{r.model_type}: {r.record.exporter} exporter, opset {r.record.opset}, inputs {r.record.inputs}"
             f"{checked} -> {r.onnx_path}  ({r.record.reason})")
    return 0


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object of keyword arguments")
    return value


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected STEP,SCALES,SENSORS, got {text!r}") from None
    if len(shape) != 3:
        raise argparse.ArgumentTypeError(f"expected three numbers STEP,SCALES,SENSORS, got {text!r}")
    return shape


def _convert_hub(args) -> int:
    from converter import convert
    from converter.hub import HubEntry

    if args.deeplog_model or args.mscred_model:
        raise AlogError("--hub converts a team's model on its own: leave out --deeplog-model and --mscred-model")
    missing = [o for o, v in (("--hub", args.hub), ("--entry", args.entry), ("--interface", args.interface)) if not v]
    if missing:
        raise AlogError(f"a hub model needs {', '.join(missing)} (and --window N for next-template, --shape "
                        "STEP,SCALES,SENSORS for signature-matrix)")
    hub = Path(args.hub)
    if not hub.is_dir():
        raise AlogError(f"--hub {hub}: " + ("not a directory" if hub.exists() else "no such directory"))
    entry = HubEntry(hub.resolve(), args.entry, args.interface, args.kwargs or {},
                     Path(args.weights) if args.weights else None, args.window or args.seq_len, args.shape)
    r = convert.convert_hub(entry, args.output_dir, args.exporter, args.opset, args.validate, args.portable,
                            vocab_path=args.vocab, log_format=args.log_format)
    checked = f", validated at {len(r.validation)} shapes" if r.validation else ""
    _say(f"{entry.entry} ({entry.interface}): {r.record.exporter} exporter, opset {r.record.opset}, inputs "
         f"{r.record.inputs}{checked} -> {r.onnx_path}  ({r.record.reason})")
    return 0


def cmd_fix_vocab(args) -> int:
    from converter import vocab

    summary = vocab.fix_vocab(args.parsed, args.old_vocab, args.output)
    _say(f"rewrote {summary.get('entries')} entries keyed by template string -> {args.output}")
    if summary.get("warning"):
        _say(f"note: {summary['warning']}")
    return 0


class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes end as one line too (argparse prints the usage block first by default)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="alog-detect",
                            description="Raw logs to verified ONNX artifacts for DeepLog and MSCRED.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_OneLineParser)

    p = sub.add_parser("parse", help="mine templates with Drain3 into a parquet table")
    p.add_argument("--log", required=True, help="raw log file")
    p.add_argument("--out", required=True, help="output parquet file")
    p.add_argument("--config", help="Drain3 ini replacing the shipped default")
    p.add_argument("--format", default="auto", choices=["auto", "hdfs", "bgl", "openssh", "raw"])
    p.set_defaults(func=cmd_parse)

    p = sub.add_parser("build-deeplog", help="vocab.json (template -> index) and windows for DeepLog")
    p.add_argument("--parsed", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--window", type=_integer, default=10)
    p.add_argument("--template-col", default="template")
    p.add_argument("--session-col", default=None)
    p.set_defaults(func=cmd_build_deeplog)

    p = sub.add_parser("deeplog-train", help="train DeepLog (deterministic for a seed)")
    p.add_argument("--seq", required=True, help="sequences.parquet from build-deeplog")
    p.add_argument("--vocab", required=True, help="training vocab.json from build-deeplog")
    p.add_argument("--out", required=True, help="checkpoint to write (.pth)")
    p.add_argument("--epochs", type=_positive_int, default=10)
    p.add_argument("--hidden", type=_integer, default=64)
    p.add_argument("--layers", type=_integer, default=2)
    p.add_argument("--embed-dim", type=_integer, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_deeplog_train)

    p = sub.add_parser("build-mscred", help="signature matrices for MSCRED")
    p.add_argument("--parsed", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--scales", type=_scales, default=(10, 30, 60))
    p.add_argument("--step", type=_positive_int, default=5)
    p.add_argument("--bucket", type=_positive_float, default=None, help="seconds per time bucket")
    p.set_defaults(func=cmd_build_mscred)

    p = sub.add_parser("mscred-train", help="train MSCRED")
    p.add_argument("--signatures", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=_positive_int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_mscred_train)

    p = sub.add_parser("convert-onnx", help="export checkpoints to a model directory for the C engine")
    p.add_argument("--deeplog-model")
    p.add_argument("--vocab", help="training vocab.json the DeepLog model was trained on")
    p.add_argument("--mscred-model")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--seq-len", type=_integer, default=None, help="default: the checkpoint's window")
    p.add_argument("--exporter", default="auto", choices=["auto", "legacy", "dynamo"])
    p.add_argument("--opset", type=_integer, default=None)
    p.add_argument("--validate", action="store_true", help="compare with PyTorch at several batch sizes and lengths")
    p.add_argument("--portable", action="store_true",
                   help="self-contained directory: one file per model, relative paths")
    team = p.add_argument_group("a team's own model, named the torch.hub way")
    team.add_argument("--hub", metavar="DIR", help="folder with hubconf.py")
    team.add_argument("--entry", metavar="NAME", help="the hubconf.py function that returns the model")
    team.add_argument("--kwargs", type=_json_object, metavar="JSON", help="keyword arguments of the entry")
    team.add_argument("--weights", metavar="PTH", help="a state_dict (read weights-only); default: the entry's own")
    team.add_argument("--interface", choices=["next-template", "signature-matrix"],
                      help="next-template: int64 ids [batch, sequence] -> scores [batch, vocab]; signature-matrix: "
                      "float32 [batch, step, scales, sensors, sensors] -> reconstruction")
    team.add_argument("--window", type=_integer, help="next-template: the sequence length of the export example")
    team.add_argument("--shape", type=_shape, metavar="STEP,SCALES,SENSORS", help="signature-matrix: input shape")
    team.add_argument("--log-format", default="raw", choices=["hdfs", "bgl", "openssh", "raw"],
                      help="with --vocab: the log format the engine parses (default raw)")
    p.set_defaults(func=cmd_convert_onnx)

    p = sub.add_parser("fix-vocab", help="rewrite a vocab keyed by Drain3 ids into one keyed by template strings")
    p.add_argument("--parsed", required=True)
    p.add_argument("--old-vocab", required=True)
    p.add_argument("--output", required=True)
    p.set_defaults(func=cmd_fix_vocab)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AlogError as exc:
        print(f"alog-detect {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"alog-detect {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for users; ALOG_DEBUG=1 for the traceback
        if os.environ.get("ALOG_DEBUG"):
            traceback.print_exc()
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        print(f"alog-detect {args.command}: internal error: {type(exc).__name__}: {first} "
              f"(set ALOG_DEBUG=1 for the traceback)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
