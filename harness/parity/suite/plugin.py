"""The parity suite's pytest plugin: its options, one run context (sessions, tolerance, repro folder,
figures), the subjects (random-weight shapes exported here, and the trained models or the artifacts of
--artifacts DIR; a team's hub models of DIR/hubs.json come from ``hubplugin``, which this plugin loads),
and the hooks that write the figures JSON at the end of the run.

Options: --artifacts DIR, --parity-report PATH, --parity-repro-dir DIR, --parity-strategies LIST,
--parity-tolerance SPEC; a caller in the same process hands them over typed instead, as a
``SuiteSettings`` plugin (the matrix's parity check does). Hypothesis profile: ALOG_PARITY_PROFILE=ci|thorough.
Without --artifacts, the trained models come from the repository's test fixtures (loghub, trained, model_dir).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from converter import artifacts, atomic, checkpoint
from converter.compare import DEFAULT_TOLERANCE, Tolerance
from converter.errors import AlogError
from converter.exporting import STRATEGIES, export_model
from converter.models import MSCRED, DeepLog
from converter.specs import spec_for
from harness.config.models import REFERENCE_MODELS as MODELS
from harness.parity.figures import FiguresRecorder
from harness.parity.layout import ArtifactSet, discover_artifacts, strategies_for
from harness.parity.properties import ParityContext
from harness.parity.sessions import SessionCache
from harness.parity.subjects import Subject
from harness.parity.suite.support import DEFAULT_STRATEGIES, RANDOM_DEEPLOG, RANDOM_MSCRED, model_of_item, profile_name

pytest_plugins = ("harness.parity.suite.hubplugin",)  # wherever this plugin is loaded, hub models come along

OWN_DATASETS = ("HDFS", "BGL")  # the end-to-end datasets of tests/conftest.py's `trained`
LOG_SAMPLES = {"hdfs": "HDFS_2k.log", "bgl": "BGL_2k.log", "openssh": "OpenSSH_2k.log"}
TORCH_THREADS = 1  # with ORT's one intra-op thread (harness.parity.sessions.DEFAULT_THREADS): stated, not inherited


# ---------------------------------------------------------------- options


@dataclass(frozen=True)
class SuiteSettings:
    """The suite's settings handed over typed by a caller in the same process (``pytest.main(args,
    plugins=[plugin, SuiteSettings(...)])``); a field left None falls back to its command-line option."""

    artifacts: Path | None = None
    report: Path | None = None
    repro_dir: Path | None = None
    tolerance: Tolerance | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config) -> None:
        config.stash[_SETTINGS] = self


_SETTINGS = pytest.StashKey[SuiteSettings]()


def pytest_addoption(parser):
    """Options of the parity suite (layout and report format in tests/parity/README.md)."""
    group = parser.getgroup("parity", "parity suite (pytest -k parity)")
    group.addoption("--artifacts", metavar="DIR", default=None,
                    help="check artifacts made elsewhere instead of exporting here (python -m harness.parity layout)")
    group.addoption("--parity-report", metavar="PATH", default=None,
                    help="figures JSON written at the end of the run (default: reports/parity/figures.json)")
    group.addoption("--parity-repro-dir", metavar="DIR", default=None,
                    help="where failing examples are written as repro bundles (default: reports/repro)")
    group.addoption("--parity-strategies", metavar="[MODEL=]LIST", default=None, action="append",
                    help="export strategies to check, comma-separated, for every model or (MODEL=LIST, repeatable) "
                         "one model (default: legacy,dynamo; with --artifacts: per model, the strategies that made "
                         "its artifacts there)")
    group.addoption("--parity-tolerance", metavar="SPEC", default=None,
                    help="tolerance policy, e.g. atol=1e-5,rtol=1e-4,max_outlier_fraction=0 "
                         "(default: converter.compare's)")


def _option(config, name: str):
    return config.getoption(name)


def _setting(config, field_name: str):
    settings = config.stash.get(_SETTINGS, None)
    return getattr(settings, field_name) if settings is not None else None


def parse_tolerance(text: str | None) -> Tolerance:
    if not text:
        return DEFAULT_TOLERANCE
    try:
        pairs = dict(part.split("=", 1) for part in text.replace(" ", "").split(",") if part)
        return Tolerance.from_mapping(pairs)
    except (ValueError, TypeError):
        raise pytest.UsageError(f"--parity-tolerance {text!r}: expected atol=..,rtol=..,max_outlier_fraction=..") \
            from None


def artifact_sets(config) -> list[ArtifactSet] | None:
    directory = _setting(config, "artifacts") or _option(config, "--artifacts")
    if not directory:
        return None
    cached = getattr(config, "_parity_artifact_sets", None)
    if cached is None:
        try:
            cached = discover_artifacts(Path(config.invocation_params.dir, directory))
        except AlogError as exc:
            raise pytest.UsageError(str(exc)) from None
        config._parity_artifact_sets = cached
    return cached


def _given_strategies(config) -> dict[str, tuple[str, ...]] | None:
    """--parity-strategies: "legacy,dynamo" for every model, or MODEL=LIST (repeatable) for one."""
    values = _option(config, "--parity-strategies")
    if not values:
        return None
    chosen: dict[str, tuple[str, ...]] = {}
    for text in values:
        model, sep, rest = text.partition("=")
        models = (model.strip(),) if sep else MODELS
        names = tuple(s.strip() for s in (rest if sep else text).split(",") if s.strip())
        unknown = [s for s in names if s not in STRATEGIES]
        if unknown or (sep and models[0] not in MODELS):
            raise pytest.UsageError(f"--parity-strategies {text!r}: give LIST or MODEL=LIST with models from "
                                    f"{', '.join(MODELS)} and strategies from {', '.join(STRATEGIES)}")
        for name in models:
            chosen[name] = names
    return chosen


def strategies(config, model_type: str) -> tuple[str, ...]:
    """Export strategies for one model's random-weight shapes (and its trained models without --artifacts);
    with --artifacts, the strategies that produced that model's artifacts there (harness.parity.layout)."""
    given = _given_strategies(config)
    if given is not None:
        return given.get(model_type, ())
    sets = artifact_sets(config)
    if sets is not None:  # none at all when DIR holds only hub models: nothing of this model to export
        return strategies_for(sets, model_type, STRATEGIES)
    return DEFAULT_STRATEGIES


def artifact_cases(config, model_type: str) -> list[tuple[str, str]]:
    """(set name, label) of every trained artifact a test runs against."""
    sets = artifact_sets(config)
    if sets is None:
        return [(name, s) for name in OWN_DATASETS for s in strategies(config, model_type)]
    return [(s.name, label) for s in sets for label in s.labels(model_type)]


def tolerance_of(config) -> Tolerance:
    return _setting(config, "tolerance") or parse_tolerance(_option(config, "--parity-tolerance"))


def _model_of(metafunc) -> str:
    name = metafunc.function.__name__
    return next((m for m in MODELS if m in name), MODELS[0])


def pytest_configure(config):
    # Check the options once, up front: a bad --artifacts DIR is one usage error, not a collection error per module.
    artifact_sets(config)
    _given_strategies(config)
    tolerance_of(config)


def _in_suite(function) -> bool:
    """The suite's own tests (also when a repository's test module re-exports them): the hooks leave others alone."""
    return getattr(function, "__module__", "").startswith(__package__ or "harness.parity.suite")


def pytest_generate_tests(metafunc):
    if not _in_suite(metafunc.function):
        return
    for fixture, model_type in (("deeplog_case", "deeplog"), ("mscred_case", "mscred")):
        if fixture in metafunc.fixturenames:
            cases = artifact_cases(metafunc.config, model_type)
            metafunc.parametrize(fixture, cases, ids=[f"{n}-{label}" for n, label in cases], scope="session")
    if "strategy" in metafunc.fixturenames:
        metafunc.parametrize("strategy", strategies(metafunc.config, _model_of(metafunc)), scope="session")


# ---------------------------------------------------------------- the run: sessions, tolerance, figures


@dataclass
class ParityRun:
    tolerance: Tolerance
    repro_dir: Path
    report_path: Path
    sessions: SessionCache = field(default_factory=SessionCache)
    recorder: FiguresRecorder = None  # type: ignore[assignment]
    options: dict[str, Any] = field(default_factory=dict)
    written: bool = False

    def __post_init__(self) -> None:
        self.recorder = FiguresRecorder(self.tolerance)


_RUN = pytest.StashKey[ParityRun]()


def parity_run_of(config) -> ParityRun:
    if _RUN not in config.stash:
        root = Path(config.rootpath)
        here = Path(config.invocation_params.dir)
        # ALOG_PARITY_FIGURES: the same as --parity-report, for callers that set the environment.
        report = _setting(config, "report") or _option(config, "--parity-report") \
            or os.environ.get("ALOG_PARITY_FIGURES")
        repro = _setting(config, "repro_dir") or _option(config, "--parity-repro-dir")
        config.stash[_RUN] = ParityRun(
            tolerance=tolerance_of(config),
            repro_dir=(here / repro) if repro else root / "reports/repro",
            report_path=(here / report) if report else root / "reports/parity/figures.json",
            options={"artifacts": str(_setting(config, "artifacts") or _option(config, "--artifacts") or "") or None,
                     "strategies": {m: list(strategies(config, m)) for m in MODELS},
                     "hypothesis_profile": profile_name(), "torch_threads": TORCH_THREADS},
        )
    return config.stash[_RUN]


@pytest.fixture(scope="session")
def parity_run(request) -> Iterator[ParityRun]:
    run = parity_run_of(request.config)
    previous = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    yield run
    torch.set_num_threads(previous)


@pytest.fixture
def parity_ctx(request, parity_run):
    """ctx(model, check, subject) -> a ParityContext recording into this test's figures."""

    def make(model: str, check: str, subject: Subject | None = None,
             tolerance: Tolerance | None = None) -> ParityContext:
        figures = parity_run.recorder.entry(request.node.nodeid, model, check, subject)
        return ParityContext(parity_run.sessions, tolerance or parity_run.tolerance, parity_run.repro_dir,
                             figures, request.node.nodeid)

    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _RUN not in item.config.stash or not _in_suite(getattr(item, "function", None)):
        return
    recorder = item.config.stash[_RUN].recorder
    figures = recorder.entries.get(item.nodeid)
    if figures is None and report.failed:  # failed before recording anything (e.g. in an export fixture)
        figures = recorder.entry(item.nodeid, model_of_item(item), "setup")
    if figures is None:
        return
    figures.seconds += report.duration
    if report.when == "call" or report.failed or report.skipped:
        if figures.outcome != "failed":
            figures.outcome = report.outcome
        if report.failed and not figures.first_failure:
            figures.first_failure = (report.longreprtext.strip().splitlines() or ["failed"])[-1][:500]


def pytest_sessionfinish(session, exitstatus):
    run = session.config.stash.get(_RUN, None)
    if run is None or not run.recorder.entries:
        return
    run.recorder.write(run.report_path, exit_status=int(exitstatus), options=run.options,
                       sessions=run.sessions.stats(), repro_dir=str(run.repro_dir))
    run.written = True


def pytest_terminal_summary(terminalreporter, config):
    run = config.stash.get(_RUN, None)
    if run is not None and run.written:
        by_model = run.recorder.summary()
        totals = ", ".join(f"{m} {v['examples']} examples (max abs {v['max_abs_error']:.2g}, {v['ties']} ties, "
                           f"{v['failures']} failing)" for m, v in by_model.items() if m != "selfcheck")
        totals = totals or "self-checks only"
        terminalreporter.write_line(f"parity figures: {run.report_path}: {totals}")


# ---------------------------------------------------------------- subjects: random-weight shapes


@pytest.fixture(scope="session")
def random_subjects(tmp_path_factory, parity_run):
    """random_subjects(kind, shape_id, strategy) -> Subject: seeded weights, exported once per strategy."""
    root = tmp_path_factory.mktemp("parity-random")
    cache: dict[tuple[str, str, str], Subject] = {}

    def make(kind: str, shape_id: str, strategy: str) -> Subject:
        key = (kind, shape_id, strategy)
        if key not in cache:
            shapes: dict[str, Any] = RANDOM_DEEPLOG if kind == "deeplog" else RANDOM_MSCRED
            config = shapes[shape_id]
            seed = sorted(shapes).index(shape_id) + 11
            torch.manual_seed(seed)
            model = (DeepLog(config) if kind == "deeplog" else MSCRED(config)).eval()
            spec = spec_for(model)
            folder = root / f"{kind}-{shape_id}"
            ckpt = folder / f"{kind}.pth"
            if not ckpt.exists():
                checkpoint.save(ckpt, kind, model, extra={"seed": seed})
            onnx_path = folder / strategy / (artifacts.DEEPLOG_ONNX if kind == "deeplog" else artifacts.MSCRED_ONNX)
            record = export_model(model, spec, onnx_path, strategy)
            atomic.write_json(artifacts.meta_path(onnx_path), {
                "model_type": kind, "input_name": spec.input_name, "output_name": spec.output_name,
                "model_config": config.to_dict(), "versions": record.versions, "export": record.to_dict()})
            cache[key] = Subject(f"{kind}-{shape_id}/{strategy}", kind, model, onnx_path, ckpt, spec.input_name,
                                 spec.output_name, record.exporter, str(torch.__version__))
        return cache[key]

    return make


# ---------------------------------------------------------------- subjects: trained models / --artifacts


@dataclass
class TrainedArtifacts:
    """The trained models (this run's, or --artifacts DIR's), one subject per (set, label, model)."""

    sets: dict[str, ArtifactSet]
    loghub: Path | None  # the Loghub samples folder, when the repository's tests provide it
    subjects: dict[tuple, Subject] = field(default_factory=dict)

    def subject(self, model_type: str, case: tuple[str, str]) -> Subject:
        key = (model_type, *case)
        if key not in self.subjects:
            self.subjects[key] = self.sets[case[0]].subject(model_type, case[1])
        return self.subjects[key]

    def model_dir(self, case: tuple[str, str]) -> Path:
        return self.sets[case[0]].model_dirs[case[1]]

    def replay_log(self, case: tuple[str, str]) -> Path:
        chosen = self.sets[case[0]]
        if chosen.replay_log is not None:
            return chosen.replay_log
        if chosen.deeplog_checkpoint is None:
            raise AlogError(f"{chosen.root}: no replay.log and no DeepLog checkpoint to tell its log format")
        _, payload = checkpoint.load(chosen.deeplog_checkpoint, "deeplog")
        fmt = payload.get("extra", {}).get("log_format", "raw")
        if self.loghub is None or fmt not in LOG_SAMPLES or not (self.loghub / LOG_SAMPLES[fmt]).is_file():
            raise AlogError(f"{chosen.root}: no replay.log, and no Loghub sample of log format {fmt!r} "
                            f"in {self.loghub}")
        return self.loghub / LOG_SAMPLES[fmt]


class _LazyModelDirs(dict):
    """label -> model dir of this run's trained models, exported on first use (exports cost seconds)."""

    def __init__(self, make, dataset: str, labels):
        super().__init__()
        self._make, self._dataset, self._labels = make, dataset, tuple(labels)

    def __missing__(self, label: str) -> Path:
        if label not in self._labels:
            raise KeyError(label)
        self[label] = self._make(self._dataset, label)
        return self[label]

    def __contains__(self, label) -> bool:
        return label in self._labels


@pytest.fixture(scope="session")
def trained_artifacts(request) -> TrainedArtifacts:
    sets = artifact_sets(request.config)
    if sets is not None:  # a set without its replay.log falls back on the repository's Loghub samples, if any
        try:
            samples = request.getfixturevalue("loghub")
        except pytest.FixtureLookupError:  # the shipped suite, outside the repository's tests
            samples = None
        return TrainedArtifacts({s.name: s for s in sets}, samples)
    loghub = request.getfixturevalue("loghub")
    trained = request.getfixturevalue("trained")
    model_dir = request.getfixturevalue("model_dir")
    own = {}
    for name in OWN_DATASETS:
        result = trained[name]
        own[name] = ArtifactSet(name, result.deeplog_checkpoint.parent, result.deeplog_checkpoint,
                                result.mscred_checkpoint,
                                _LazyModelDirs(model_dir, name, sorted({s for m in MODELS
                                                                        for s in strategies(request.config, m)})),
                                loghub / LOG_SAMPLES[name.lower()])
    return TrainedArtifacts(own, loghub)
