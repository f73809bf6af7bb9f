"""The parity suite's hub models (a team's architectures of ``--artifacts DIR/hubs.json``, harness.parity.hubs):
their test cases and subjects. Loaded by ``plugin`` (its ``pytest_plugins``), so every way the suite runs gets it.

Each hub model is checked with the weights its artifacts were exported from (one case per artifact) and
re-initialised under the seeds of ``support.HUB_SEEDS``, exported here with each strategy that made its
artifacts. With no hub model of a kind, that kind's tests are not collected at all: a matrix without hub
entries collects exactly the reference tests it did before.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import pytest

from converter import artifacts, atomic
from converter.errors import AlogError
from converter.exporting import STRATEGIES, export_model
from harness.parity.hubs import HubArtifacts, read_hubs
from harness.parity.layout import strategies_among
from harness.parity.subjects import Subject, read_meta
from harness.parity.suite.plugin import _in_suite, _option, _setting, parity_run_of
from harness.parity.suite.support import HUB_SEEDS, HubCase

# fixture -> (re-seeded?, next-template models only?): the four kinds of hub test
HUB_FIXTURES = {"hub_case": (False, False), "hub_topg_case": (False, True),
                "hub_seeded_case": (True, False), "hub_seeded_topg_case": (True, True)}


def hub_models(config) -> list[HubArtifacts]:
    """The hub models of --artifacts DIR/hubs.json (none without --artifacts or without the file)."""
    cached = getattr(config, "_parity_hub_models", None)
    if cached is None:
        directory = _setting(config, "artifacts") or _option(config, "--artifacts")
        try:
            cached = read_hubs(Path(config.invocation_params.dir, directory)) if directory else []
        except AlogError as exc:
            raise pytest.UsageError(str(exc)) from None
        config._parity_hub_models = cached
    return cached


def seeded_strategies(model: HubArtifacts) -> tuple[str, ...]:
    """The strategies a re-seeded copy is exported with: those that made the model's artifacts."""
    return strategies_among(model.artifacts, STRATEGIES)


def hub_cases(config, fixture: str) -> list[HubCase]:
    seeded, topg_only = HUB_FIXTURES[fixture]
    models = [m for m in hub_models(config) if not topg_only or m.interface == "next-template"]
    if seeded:
        return [HubCase(m.name, s, seed) for m in models for seed in HUB_SEEDS for s in seeded_strategies(m)]
    return [HubCase(m.name, s) for m in models for s in m.artifacts]


def _hub_fixture(obj) -> str | None:
    if not inspect.isfunction(obj) or not _in_suite(obj):
        return None
    return next((f for f in inspect.signature(obj).parameters if f in HUB_FIXTURES), None)


def pytest_configure(config):
    models = hub_models(config)  # a bad hubs.json is one usage error, up front
    if models:  # the figures document says what the run took
        parity_run_of(config).options["hubs"] = {m.name: {"artifacts": list(m.artifacts), "seeds": list(HUB_SEEDS)}
                                                 for m in models}


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector, name, obj):
    fixture = _hub_fixture(obj)
    if fixture is not None and not hub_cases(collector.config, fixture):
        return []  # not collected: no "[NOTSET]" placeholder, the run's tests are the reference ones alone
    return None


def pytest_generate_tests(metafunc):
    fixture = _hub_fixture(metafunc.function)
    if fixture is not None:
        cases = hub_cases(metafunc.config, fixture)
        metafunc.parametrize(fixture, cases, ids=[str(c) for c in cases], scope="session")


def _meta(model: HubArtifacts, built, record, seed: int) -> dict:
    """A re-seeded export's meta, as the engine's contract (converter.metafile) takes it, so a repro bundle
    of it is as loadable as one of the cell's artifacts."""
    spec = built.spec
    sizes = ({"vocab_size": built.vocab_size, "seq_len": model.window, "top_g": artifacts.DEFAULT_TOP_G,
              "header_fields": 0} if model.interface == "next-template"
             else dict(zip(("step", "scales", "sensors"), model.shape or (), strict=True)))
    return {"format_version": artifacts.META_FORMAT_VERSION, "model_type": spec.model_type,
            "input_name": spec.input_name, "output_name": spec.output_name, "opset": record.opset, **sizes,
            "architecture": model.entry, "hub": model.describe(), "seed": seed, "versions": record.versions,
            "export": record.to_dict()}


@dataclass
class HubSubject:
    subject: Subject
    model: HubArtifacts
    vocab_size: int | None  # next-template: the output width


@pytest.fixture(scope="session")
def hub_subjects(request, tmp_path_factory, parity_run):
    """hub_subjects(case) -> HubSubject: the model built by its hubconf.py with the given weights (set against
    the cell's artifact), or re-seeded and exported here once per strategy."""
    from converter import hub

    models = {m.name: m for m in hub_models(request.config)}
    root = tmp_path_factory.mktemp("parity-hub")
    loaded: dict[tuple[str, int | None], hub.HubModel] = {}
    cache: dict[HubCase, HubSubject] = {}

    def load(model: HubArtifacts, seed: int | None) -> hub.HubModel:
        key = (model.name, seed)
        if key not in loaded:
            loaded[key] = hub.load(model.hub_entry(model.weights if seed is None else None), seed=seed)
            if seed is not None:  # the repro bundle's model.pth: the weights this seed gave
                hub.save_weights(loaded[key].module, root / f"{model.name}-seed{seed}" / "weights.pth")
        return loaded[key]

    def make(case: HubCase) -> HubSubject:
        if case not in cache:
            model = models[case.model]
            built = load(model, case.seed)
            spec = built.spec
            if case.seed is None:
                onnx_path, weights, label = model.onnx_path(case.strategy), model.weights, model.name
                if not onnx_path.is_file():
                    raise AlogError(f"{model.name}'s {case.strategy} artifact {onnx_path} not found")
            else:
                label = f"{model.name}-seed{case.seed}"
                weights = root / label / "weights.pth"
                onnx_path = root / label / case.strategy / model.onnx_name
                record = export_model(built.module, spec, onnx_path, case.strategy)
                atomic.write_json(artifacts.meta_path(onnx_path), _meta(model, built, record, case.seed))
            meta = read_meta(onnx_path)
            subject = Subject(f"{label}/{case.strategy}", spec.model_type, built.module, onnx_path, weights,
                              spec.input_name, spec.output_name, (meta.get("export") or {}).get("exporter"),
                              (meta.get("versions") or {}).get("torch"), hub=model.describe())
            cache[case] = HubSubject(subject, model, built.vocab_size)
        return cache[case]

    return make
