"""Test-only glue for the parity suite: hypothesis profiles, input strategies, random-weight model shapes,
and the property runners every parity test (and the broken-artifact test) goes through."""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from converter.models import DeepLogConfig, MSCREDConfig
from harness.parity.properties import ParityContext, check_parity, check_topg
from harness.parity.subjects import Subject

# ---------------------------------------------------------------- hypothesis profiles
# ci (default): derandomized (the same examples every run, no example database), no deadline (the
# machine is shared), example counts that keep `pytest -k parity` within a few minutes on 2 cores.
# thorough: ten times the examples, random exploration, failures kept in the local database.
PROFILE_ENV = "ALOG_PARITY_PROFILE"
PROFILES = {"ci": 1, "thorough": 10}  # multiplier of each test's example budget
_HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large,
           HealthCheck.large_base_example]
# ci leaves out hypothesis's explain phase: after a failure is shrunk, it re-runs the property many times
# only to annotate which parts of the input mattered (7.5 s of the 10 s checker self-check in a cell); the
# failure message and repro bundle come from the shrunk example either way.
_CI_PHASES = tuple(phase for phase in Phase if phase.name != "explain")
settings.register_profile("parity-ci", derandomize=True, database=None, deadline=None, print_blob=False,
                          suppress_health_check=_HEALTH, phases=_CI_PHASES)
settings.register_profile("parity-thorough", derandomize=False, deadline=None, print_blob=True,
                          suppress_health_check=_HEALTH)


def profile_name() -> str:
    name = os.environ.get(PROFILE_ENV, "ci")
    if name not in PROFILES:
        raise RuntimeError(f"{PROFILE_ENV}={name!r}: choose one of {', '.join(PROFILES)}")
    return name


def parity_settings(examples: int, key: str = ""):
    """Settings for one property: the profile's, with ``examples`` scaled by the profile. Under ci the seed
    comes from ``key`` (the test's node id): fixed per test, yet different tests see different examples
    (a derandomized seed alone would come from the shared runner's source, the same for every test)."""
    name = profile_name()
    configured = settings(settings.get_profile(f"parity-{name}"), max_examples=examples * PROFILES[name])
    if name != "ci":
        return configured
    fixed = seed(zlib.crc32(key.encode("utf-8")))
    return lambda test: fixed(configured(test))


# ---------------------------------------------------------------- random-weight model shapes
# Few and small: each is exported once per strategy (legacy ~0.3 s, dynamo 3-9 s).
RANDOM_DEEPLOG = {
    "v12-h8-l1-e4-s6": DeepLogConfig(vocab_size=12, seq_len=6, hidden=8, layers=1, embed_dim=4),
    "v30-h64-l2-e16-s10": DeepLogConfig(vocab_size=30, seq_len=10, hidden=64, layers=2, embed_dim=16),
    "v200-h32-l3-e24-s8": DeepLogConfig(vocab_size=200, seq_len=8, hidden=32, layers=3, embed_dim=24),
}
RANDOM_MSCRED = {
    "s5": MSCREDConfig(sensors=5),
    "s14": MSCREDConfig(sensors=14, step=4),
    "s33": MSCREDConfig(sensors=33, scales=2, step=3),
}
DEFAULT_STRATEGIES = ("legacy", "dynamo")  # auto = dynamo + verification on torch >= 2.9: same artifact


# ---------------------------------------------------------------- hub models (--artifacts DIR/hubs.json)
HUB_SEEDS = (11, 12)  # re-seeded inits of each hub entry, exported here (the golden stage builds under seed 7)


@dataclass(frozen=True)
class HubCase:
    """One hub model test case: the given weights against the cell's artifact of ``strategy`` (seed None), or
    the entry re-initialised under ``seed`` and exported here with ``strategy``."""

    model: str  # the matrix's name of the model: the figures' "model"
    strategy: str
    seed: int | None = None

    def __str__(self) -> str:
        return f"{self.model}-{self.strategy}" if self.seed is None else f"{self.model}-seed{self.seed}-{self.strategy}"


# ---------------------------------------------------------------- input strategies


@st.composite
def deeplog_inputs(draw, vocab: int, max_seq: int, export_seq: int, max_batch: int = 64) -> np.ndarray:
    """int64 [batch, seq] template ids in [0, vocab): seq from 1 to 4x the window, or the export length."""
    batch = draw(st.integers(1, max_batch))
    # Both draws always happen, so the export-length branch is no "simpler" to the shrinker than seq 1.
    seq = draw(st.integers(1, max_seq))
    seq = export_seq if draw(st.booleans()) else seq
    kind = draw(st.sampled_from(["random", "constant", "edges", "drawn"]))
    if kind == "constant":
        return np.full((batch, seq), draw(st.integers(0, vocab - 1)), dtype=np.int64)
    if kind == "drawn":  # hypothesis picks the ids itself (a few distinct ones over a fill value)
        return draw(arrays(np.int64, (batch, seq), elements=st.integers(0, vocab - 1)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "edges":  # the first and last rows of the embedding table
        return rng.choice(np.array([0, vocab - 1], dtype=np.int64), size=(batch, seq))
    return rng.integers(0, vocab, size=(batch, seq), dtype=np.int64)


@st.composite
def signature_inputs(draw, matrix: tuple[int, int, int], max_batch: int) -> np.ndarray:
    """float32 [batch, step, scales, sensors, sensors] in [0, 1] for ``matrix`` = (step, scales, sensors),
    all-zero and constant tensors included."""
    step, scales, sensors = matrix
    shape = (draw(st.integers(1, max_batch)), step, scales, sensors, sensors)
    kind = draw(st.sampled_from(["uniform", "zeros", "constant", "ones", "sparse", "binary"]))
    if kind == "zeros":
        return np.zeros(shape, dtype=np.float32)
    if kind == "ones":
        return np.ones(shape, dtype=np.float32)
    if kind == "constant":
        return np.full(shape, draw(st.floats(0.0, 1.0, width=32)), dtype=np.float32)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "binary":
        return rng.integers(0, 2, size=shape).astype(np.float32)
    values = rng.random(shape, dtype=np.float32)
    if kind == "sparse":  # signature matrices of rare templates: mostly zeros
        values = np.where(rng.random(shape) < 0.1, values, np.float32(0.0)).astype(np.float32)
    return values


# ---------------------------------------------------------------- property runners (the one code path)


def model_config(subject: Subject) -> Any:
    """The subject's model config (DeepLogConfig or MSCREDConfig): an attribute torch's Module types as a tensor."""
    return getattr(subject.model, "config")  # noqa: B009 - typed Any on purpose


def run_next_template_numeric(subject: Subject, ctx: ParityContext, vocab: int, max_seq: int, export_seq: int,
                              examples: int) -> None:
    """Numeric parity of a next-template subject (ids in [0, vocab)) on hypothesis-drawn batches."""
    @parity_settings(examples, ctx.test)
    @given(x=deeplog_inputs(vocab, max_seq, export_seq))
    def deeplog_parity_example(x):
        check_parity(subject, x, ctx)

    deeplog_parity_example()


def run_next_template_topg(subject: Subject, ctx: ParityContext, vocab: int, g: int, max_seq: int, export_seq: int,
                           examples: int) -> None:
    """Top-g decision parity of a next-template subject on hypothesis-drawn batches."""
    @parity_settings(examples, ctx.test)
    @given(x=deeplog_inputs(vocab, max_seq, export_seq))
    def deeplog_topg_parity_example(x):
        check_topg(subject, x, g, ctx)

    deeplog_topg_parity_example()


def run_signature_numeric(subject: Subject, ctx: ParityContext, matrix: tuple[int, int, int], max_batch: int,
                          examples: int) -> None:
    """Numeric parity of a signature-matrix subject of ``matrix`` = (step, scales, sensors)."""
    @parity_settings(examples, ctx.test)
    @given(x=signature_inputs(matrix, max_batch))
    def mscred_parity_example(x):
        check_parity(subject, x, ctx)

    mscred_parity_example()


def run_deeplog_numeric(subject: Subject, ctx: ParityContext, max_seq: int, export_seq: int, examples: int) -> None:
    run_next_template_numeric(subject, ctx, model_config(subject).vocab_size, max_seq, export_seq, examples)


def run_deeplog_topg(subject: Subject, ctx: ParityContext, g: int, max_seq: int, export_seq: int,
                     examples: int) -> None:
    run_next_template_topg(subject, ctx, model_config(subject).vocab_size, g, max_seq, export_seq, examples)


def run_mscred_numeric(subject: Subject, ctx: ParityContext, max_batch: int, examples: int) -> None:
    c: MSCREDConfig = model_config(subject)
    run_signature_numeric(subject, ctx, (c.step, c.scales, c.sensors), max_batch, examples)


def deeplog_seq_bounds(seq_len: int) -> tuple[int, int]:
    """(longest sequence tried, export sequence length) for a model trained on windows of ``seq_len``."""
    return 4 * seq_len, max(2, seq_len)


def window_seq_bounds(window: int) -> tuple[int, int]:
    """The same for a hub next-template model: up to 4x its window + 3, the longest shape its export
    validation sweeps (converter.specs.next_template_spec)."""
    return 4 * window + 3, max(2, window)


def model_of_item(item) -> str:
    """The model a test is about, before it recorded anything: its hub case's, else read from its name."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    case = next((v for v in params.values() if isinstance(v, HubCase)), None)
    if case is not None:
        return case.model
    name = item.name.lower()
    return "deeplog" if "deeplog" in name else "mscred" if "mscred" in name else "any"
