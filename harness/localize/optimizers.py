"""Which ONNX Runtime graph transformer changed the numbers.

When a level (basic, extended, layout, all) disagrees with ``disabled``, the level is rerun with ONNX Runtime's
``disabled_optimizers`` session option until the smallest set of transformers whose removal makes the numbers
agree is found: all candidates at once (else it is not a divergence that option can explain), then one at a
time, then halves of the list (ddmin). Self-contained: numpy, onnxruntime and the standard library only.

Where the transformer names come from. ONNX Runtime has no API that lists them. A name is the string passed
to a GraphTransformer's (or RewriteRule's) constructor in onnxruntime/core/optimizer/*.h|*.cc, registered
per level in onnxruntime/core/optimizer/graph_transformer_utils.cc (GenerateTransformers for transformers,
GenerateRewriteRules for the rules that run inside ``LevelN_RuleBasedTransformer``). Two sources, in order:

1. The run itself: a session with ``log_severity_level=0`` logs ``GraphTransformer <name> modified: 0|1`` for
   every transformer it applies in 1.21.1, 1.22.1, 1.23.2, 1.24.4 and 1.32.0 (1.15.0 logs no names), so the
   candidates are the ones that modified the graph at the level and not at ``disabled``. Rewrite rules are
   not logged one by one, only their ``LevelN_RuleBasedTransformer``; when that modified the graph its rules
   come from the table below.
2. The table below (``_RULES``, ``_TRANSFORMERS``), used when the log names nothing or its names do not
   explain the divergence. Transformer names are those the verbose log of 1.21.1, 1.22.1, 1.23.2, 1.24.4 and
   1.32.0 prints at ORT_ENABLE_ALL; for 1.15 those registered by a 1.15-era graph_transformer_utils.cc
   (GatherToSplitFusion, GeluFusion and LayerNormFusion without the later L1/L2 suffix). Rule names are read
   from each rule's header, and are not always the class name: MatmulBNFusion is
   "MatMul_BatchNormalization_Fusion", PadFusion "Pad_Fusion", UnsqueezeElimination "EliminateUnsqueeze",
   ClipQuantFusion "ClipQuantRewrite". A name is listed from the release after the last checked one that
   lacked it, so a release between two checked ones may get a name it lacks: harmless, since every release
   checked ignores an unknown name in ``disabled_optimizers`` (it costs one session).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

# Level names as the project spells them and as ONNX Runtime does; ordinals say which transformers a level runs.
_LEVELS = {"basic": ("ORT_ENABLE_BASIC", 1), "extended": ("ORT_ENABLE_EXTENDED", 2),
           "layout": ("ORT_ENABLE_LAYOUT", 3), "all": ("ORT_ENABLE_ALL", 4)}
_DISABLED = "ORT_DISABLE_ALL"
_OLDEST, _NEWEST = (0, 0), (99, 99)

# (name, lowest level that runs it, first release, last release). Levels: 1 basic, 2 extended, 3 layout (NCHWc
# and NHWC), 4 the rest of ORT_ENABLE_ALL. Rules first: named one by one they say more than their wrapper.
_RULES: tuple[tuple[str, int, tuple[int, int], tuple[int, int]], ...] = (
    ("EliminateIdentity", 1, _OLDEST, _NEWEST),
    ("EliminateSlice", 1, _OLDEST, _NEWEST),
    ("EliminateUnsqueeze", 1, _OLDEST, _NEWEST),
    ("EliminateDropout", 1, _OLDEST, _NEWEST),
    ("ExpandElimination", 1, _OLDEST, _NEWEST),
    ("CastElimination", 1, _OLDEST, _NEWEST),
    ("PreShapeNodeElimination", 1, _OLDEST, _NEWEST),
    ("NoopElimination", 1, _OLDEST, _NEWEST),
    ("DivMulFusion", 1, _OLDEST, _NEWEST),
    ("FuseReluClip", 1, _OLDEST, _NEWEST),
    ("GemmSumFusion", 1, _OLDEST, _NEWEST),
    ("GemmTransposeFusion", 1, _OLDEST, _NEWEST),
    ("NotWhereFusion", 1, _OLDEST, _NEWEST),
    ("ConvAddFusion", 1, _OLDEST, _NEWEST),
    ("ConvMulFusion", 1, _OLDEST, _NEWEST),
    ("ConvBNFusion", 1, _OLDEST, _NEWEST),
    # Level 1 rules in the 1.15-era registry, level 2 in the current one: listed at 1 so both find them.
    ("ClipQuantRewrite", 1, _OLDEST, _NEWEST),
    ("ReluQuantRewrite", 1, _OLDEST, _NEWEST),
    # Not in the 1.15-era registry; in the current one (CastChainElimination only with its session config entry).
    ("Pad_Fusion", 1, (1, 16), _NEWEST),
    ("MatMul_BatchNormalization_Fusion", 1, (1, 16), _NEWEST),
    ("LabelEncoderFusion", 1, (1, 16), _NEWEST),
    ("CastChainElimination", 1, (1, 16), _NEWEST),
)
_TRANSFORMERS: tuple[tuple[str, int, tuple[int, int], tuple[int, int]], ...] = (
    ("DoubleQDQPairsRemover", 1, _OLDEST, _NEWEST),
    ("ConstantSharing", 1, _OLDEST, _NEWEST),
    ("CommonSubexpressionElimination", 1, _OLDEST, _NEWEST),
    ("ConstantFolding", 1, _OLDEST, _NEWEST),
    ("MatMulAddFusion", 1, _OLDEST, _NEWEST),
    ("ReshapeFusion", 1, _OLDEST, _NEWEST),
    ("FreeDimensionOverrideTransformer", 1, _OLDEST, _NEWEST),
    ("SliceConcatToSpaceToDepthFusion", 1, (1, 25), _NEWEST),
    ("GeluFusionL1", 1, (1, 16), _NEWEST),
    ("LayerNormFusionL1", 1, (1, 16), _NEWEST),
    ("QDQPropagationTransformer", 1, _OLDEST, _NEWEST),
    ("WeightBiasQuantization", 1, (1, 16), _NEWEST),
    ("EnsureUniqueDQForNodeUnit", 1, _OLDEST, _NEWEST),
    ("WhereDummyDq", 1, (1, 24), _NEWEST),
    ("RocmBlasAltImpl", 1, _OLDEST, (1, 23)),
    ("TransposeOptimizer", 1, _OLDEST, _NEWEST),
    ("TransposeOptimizer_CPUExecutionProvider", 2, (1, 16), _NEWEST),
    ("QDQS8ToU8Transformer", 2, _OLDEST, _NEWEST),
    ("QDQSelectorActionTransformer", 2, _OLDEST, _NEWEST),
    ("GemmActivationFusion", 2, _OLDEST, _NEWEST),
    ("MatMulIntegerToFloatFusion", 2, _OLDEST, _NEWEST),
    ("DynamicQuantizeMatMulFusion", 2, _OLDEST, _NEWEST),
    ("ConvActivationFusion", 2, _OLDEST, _NEWEST),
    ("GeluFusion", 2, _OLDEST, (1, 20)),
    ("LayerNormFusion", 2, _OLDEST, (1, 20)),
    ("GeluFusionL2", 2, (1, 16), _NEWEST),
    ("LayerNormFusionL2", 2, (1, 16), _NEWEST),
    ("SimplifiedLayerNormFusion", 2, _OLDEST, _NEWEST),
    ("AttentionFusion", 2, _OLDEST, _NEWEST),
    ("EmbedLayerNormFusion", 2, _OLDEST, _NEWEST),
    ("GatherToSplitFusion", 2, _OLDEST, (1, 20)),
    ("GatherSliceToSplitFusion", 2, (1, 16), _NEWEST),
    ("GatherToSliceFusion", 2, _OLDEST, _NEWEST),
    ("MatmulTransposeFusion", 2, _OLDEST, _NEWEST),
    ("BiasGeluFusion", 2, _OLDEST, _NEWEST),
    ("GroupQueryAttentionFusion", 2, (1, 22), _NEWEST),
    ("SkipLayerNormFusion", 2, _OLDEST, _NEWEST),
    ("BiasSkipLayerNormFusion", 2, (1, 25), _NEWEST),
    ("FastGeluFusion", 2, _OLDEST, _NEWEST),
    ("QuickGeluFusion", 2, _OLDEST, _NEWEST),
    ("SwiGluFusion", 2, (1, 25), _NEWEST),
    ("BiasSoftmaxFusion", 2, _OLDEST, _NEWEST),
    ("BiasDropoutFusion", 2, _OLDEST, _NEWEST),
    ("MatMulScaleFusion", 2, _OLDEST, _NEWEST),
    ("MatMulActivationFusion", 2, _OLDEST, _NEWEST),
    ("MatMulNBitsFusion", 2, (1, 16), _NEWEST),
    ("GroupQueryAttentionPreNormFusion", 2, (1, 25), _NEWEST),
    ("QDQFinalCleanupTransformer", 2, _OLDEST, _NEWEST),
    ("NchwcTransformer", 3, _OLDEST, _NEWEST),
    ("NhwcTransformer", 3, _OLDEST, _NEWEST),
    ("ConvAddActivationFusion", 3, _OLDEST, _NEWEST),
    ("FuseFp16InitializerToFp32NodeTransformer", 4, (1, 23), _NEWEST),
)
# Disabling a wrapper disables all of its level's rules: the last resort when a rule's name is not in _RULES.
_RULE_WRAPPERS = (("Level1_RuleBasedTransformer", 1), ("Level2_RuleBasedTransformer", 2))

_MODIFIED = re.compile(r"GraphTransformer (\S+) modified: ([01])")
# Logs the transformers one session applies; run in a child so ONNX Runtime's native stderr can be read.
_LOG_CHILD = """
import sys
import onnxruntime as ort
options = ort.SessionOptions()
options.log_severity_level = 0
options.intra_op_num_threads = 1
options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, sys.argv[2])
ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
"""


@dataclass(frozen=True)
class OptimizerBisection:
    """What the search found. ``culprits`` is empty when the level agrees with ``disabled`` or when disabling
    every candidate does not make it agree (``explained`` False); ``error_disabled`` is then the error with
    every candidate disabled."""

    level: str
    culprits: tuple[str, ...]
    explained: bool
    error_as_is: float
    error_disabled: float
    sessions: int
    candidates: tuple[str, ...]
    candidates_source: str
    onnxruntime_version: str

    @property
    def diverges(self) -> bool:
        return not self.explained or bool(self.culprits)

    def summary(self) -> str:
        """One line for a report or an issue text."""
        runtime = f"onnxruntime {self.onnxruntime_version}"
        if not self.diverges:
            return f"{self.level} agrees with disabled ({runtime}): no optimizer to name"
        if not self.explained:
            return (f"{self.level} differs from disabled by {self.error_as_is:.3g} ({runtime}); disabling all "
                    f"{len(self.candidates)} candidates ({self.candidates_source}) leaves {self.error_disabled:.3g}: "
                    "not an optimizer divergence that disabled_optimizers can explain")
        return (f"{self.level} differs from disabled by {self.error_as_is:.3g} ({runtime}); with "
                f"{', '.join(self.culprits)} disabled the error is {self.error_disabled:.3g} "
                f"({self.sessions} sessions, candidates: {self.candidates_source})")


def level_name(level: object) -> str:
    """``basic``/``extended``/``layout``/``all`` from either spelling or a GraphOptimizationLevel member."""
    text = str(getattr(level, "name", level)).strip()
    for name, (ort_name, _) in _LEVELS.items():
        if text.lower() == name or text.upper() == ort_name:
            return name
    raise ValueError(f"not an optimization level to bisect: {level!r} (one of {', '.join(_LEVELS)})")


def _release(version: str) -> tuple[int, int]:
    """(major, minor) of a version string such as 1.24.4 or 1.25.0.dev20250101."""
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else _NEWEST


def transformer_names(level: object, version: str | None = None) -> tuple[str, ...]:
    """The static table's names for ``level`` in ONNX Runtime ``version`` (the installed one by default):
    rules first, then transformers, then the rule wrappers."""
    ordinal = _LEVELS[level_name(level)][1]
    release = _release(version or ort.__version__)
    listed = [name for name, lowest, first, last in (*_RULES, *_TRANSFORMERS)
              if lowest <= ordinal and first <= release <= last]
    return tuple(listed + [name for name, lowest in _RULE_WRAPPERS if lowest <= ordinal])


def _modified_by(model: str, ort_level: str) -> set[str] | None:
    """Transformers the verbose log says modified the graph, or None when this ONNX Runtime logs no names."""
    result = subprocess.run([sys.executable, "-c", _LOG_CHILD, model, ort_level], capture_output=True,
                            text=True, check=True)
    lines = _MODIFIED.findall(result.stderr)
    return {name for name, modified in lines if modified == "1"} if lines else None


def applied_transformers(model: str | os.PathLike[str] | bytes, level: object) -> tuple[str, ...] | None:
    """Candidates from the run itself: what modified the graph at ``level`` and not at ``disabled``, rule
    wrappers expanded into their rules (wrapper kept last). None when the log names no transformer."""
    ordinal = _LEVELS[level_name(level)][1]
    with _model_file(model) as path:
        at_level = _modified_by(path, _LEVELS[level_name(level)][0])
        at_disabled = _modified_by(path, _DISABLED)
    if at_level is None:
        return None
    changed = at_level - (at_disabled or set())
    wrappers = [name for name, _ in _RULE_WRAPPERS if name in changed]
    release = _release(ort.__version__)
    rules = [name for name, lowest, first, last in _RULES
             if wrappers and lowest <= ordinal and first <= release <= last]
    others = sorted(changed - set(wrappers))
    return tuple(rules + others + wrappers)


@contextmanager
def _model_file(model: str | os.PathLike[str] | bytes) -> Iterator[str]:
    """A path for the logging child: the model's own, or a temporary file holding its bytes."""
    if not isinstance(model, bytes):
        yield os.fspath(model)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        path.write_bytes(model)
        yield str(path)


def _run(model: str | bytes, feeds: Mapping[str, np.ndarray], ort_level: str,
         disabled: Iterable[str] = ()) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, ort_level)
    options.intra_op_num_threads = 1  # one thread: the same reduction order on every run
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # enable_fallback=0: a failing session must raise, not silently retry without disabled_optimizers
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"],
                                   disabled_optimizers=sorted(disabled), enable_fallback=0)
    return [np.asarray(out) for out in session.run(None, dict(feeds))]


def _error(outputs: Sequence[np.ndarray], reference: Sequence[np.ndarray], atol: float,
           rtol: float) -> tuple[float, bool]:
    """Max abs error over every output, and whether all are within atol + rtol * |reference| (NaN = NaN)."""
    worst, agree = 0.0, len(outputs) == len(reference)
    for got, want in zip(outputs, reference, strict=False):
        if got.shape != want.shape:
            return float("inf"), False
        if got.dtype.kind not in "biuf" or want.dtype.kind not in "biuf":  # strings, bools: equal or not
            same = bool(np.array_equal(got, want))
            worst, agree = (worst, agree) if same else (float("inf"), False)
            continue
        got64, want64 = got.astype(np.float64), want.astype(np.float64)
        both_nan = np.isnan(got64) & np.isnan(want64)
        diff = np.where(both_nan, 0.0, np.abs(got64 - want64))
        if diff.size:
            worst = max(worst, float(np.nan_to_num(diff, nan=np.inf).max()))
        agree = agree and bool(np.allclose(got64, want64, rtol=rtol, atol=atol, equal_nan=True))
    return worst, agree


def _ddmin(candidates: list[str], agrees: Callable[[frozenset[str]], bool]) -> list[str]:
    """A 1-minimal subset of ``candidates`` whose removal still makes the numbers agree (Zeller's ddmin)."""
    current, parts = candidates, 2
    while len(current) >= 2:
        size = -(-len(current) // parts)
        chunks = [current[i:i + size] for i in range(0, len(current), size)]
        for chunk in chunks:
            if agrees(frozenset(chunk)):
                current, parts = chunk, 2
                break
        else:
            for chunk in chunks:
                rest = [name for name in current if name not in chunk]
                if len(chunks) > 2 and agrees(frozenset(rest)):
                    current, parts = rest, max(parts - 1, 2)
                    break
            else:
                if parts >= len(current):
                    break
                parts = min(len(current), parts * 2)
    return current


def find_culprit_optimizers(model: str | os.PathLike[str] | bytes, feeds: Mapping[str, np.ndarray],
                            level: object, atol: float = 0.0, rtol: float = 0.0,
                            candidates: Sequence[str] | None = None) -> OptimizerBisection:
    """Name the smallest set of graph transformers whose removal makes ``level`` agree with ``disabled``.

    ``candidates`` overrides the list (source "caller"); otherwise the verbose log's names are tried first and
    the static table second. ``sessions`` counts the comparison sessions, not the two logging children.
    """
    name = level_name(level)
    ort_level = _LEVELS[name][0]
    if not hasattr(ort.GraphOptimizationLevel, ort_level):
        raise ValueError(f"onnxruntime {ort.__version__} has no {ort_level}")
    source_model: str | bytes = model if isinstance(model, bytes) else os.fspath(model)
    reference = _run(source_model, feeds, _DISABLED)
    cache: dict[frozenset[str], tuple[float, bool]] = {}  # one session per distinct set of disabled names

    def measure(disabled: frozenset[str]) -> tuple[float, bool]:
        if disabled not in cache:
            cache[disabled] = _error(_run(source_model, feeds, ort_level, disabled), reference, atol, rtol)
        return cache[disabled]

    def result(culprits: Sequence[str], explained: bool, listed: Sequence[str], source: str,
               error_disabled: float) -> OptimizerBisection:
        return OptimizerBisection(name, tuple(culprits), explained, as_is, error_disabled, len(cache) + 1,
                                  tuple(listed), source, ort.__version__)

    def narrow(listed: Sequence[str], source: str) -> OptimizerBisection:
        names = list(dict.fromkeys(listed))
        # A wrapper and one of its rules explain the same change: keep the rule's name when the rules suffice.
        specific = [entry for entry in names if entry not in dict(_RULE_WRAPPERS)]
        if len(specific) < len(names) and measure(frozenset(specific))[1]:
            names = specific
        single = next(([entry] for entry in names if measure(frozenset([entry]))[1]), None)
        culprits = single or _ddmin(names, lambda subset: measure(subset)[1])
        return result(culprits, True, names, source, measure(frozenset(culprits))[0])

    as_is, agree = measure(frozenset())
    if agree:
        return result((), True, (), "none needed", as_is)
    lists: list[tuple[str, Sequence[str]]] = []
    if candidates is not None:
        lists.append(("caller", list(candidates)))
    else:
        logged = applied_transformers(model, name)
        if logged:
            lists.append((f"verbose log of onnxruntime {ort.__version__}", logged))
        lists.append((f"static table for onnxruntime {ort.__version__}", transformer_names(name)))
    for source, listed in lists:
        everything, agree = measure(frozenset(listed))
        if agree:
            return narrow(listed, source)
    return result((), False, listed, source, everything)
