"""parity: the parity suite (harness.parity.suite, shipped with the harness) run once per cell on this
cell's artifacts, judged per model.

The suite exports its random-weight shapes, per model, with the strategies that produced that model's
artifacts here (it reads them from the ``--artifacts`` layout), so parity judges numbers only: an export
failure belongs to the export checks. A hub entry goes through the same tests by its interface: its golden
weights against each of its artifacts, and re-seeded inits of the entry exported by the suite (hubs.json
tells the suite where each is). A suite that did not run (a pytest usage or internal error, an empty
collection, no figures document), a self-check of the suite (which breaks artifacts on purpose and must see
the failure) that failed or never ran, or a model none of whose tests ran, is no evidence (``missing``) with
pytest's own reason: not a failure, so no expectation of matrix.toml can turn it into an xfail.

The suite runs inside the cell's own process (``pytest.main``), where torch, ONNX Runtime and the
dynamo exporter are already loaded and warm from the export stage: a fresh interpreter paid that again
in every cell. The cell process is itself the isolation: a crash or hang in the suite is the cell's, which
the orchestrator records, and every check before it is already saved.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter.errors import describe
from harness.checks.registry import NoEvidence, Outcome, check

if TYPE_CHECKING:
    from harness.checks.context import CellContext, ModelContext

FIGURE_KEYS = ("examples", "elements", "max_abs_error", "max_rel_error", "outliers", "rows", "ties", "failures")


@dataclass
class SuiteRun:
    command: str
    returncode: int
    summary: str
    output_tail: str
    figures_path: Path
    document: dict[str, Any] | None  # the figures JSON, when the suite wrote it
    seconds: float
    not_run: str | None = None  # why the suite gave no figures: pytest's own reason


def artifact_set(ctx: CellContext) -> Path:
    """This cell's artifacts in the parity suite's --artifacts layout (links, no copies): checkpoints,
    training vocab, the replayed log, and one model directory per strategy that produced an artifact; the hub
    models in hubs.json (harness.parity.hubs: entry, weights and each strategy's artifact folder)."""
    from harness.parity.hubs import HubArtifacts, write_hubs

    target = ctx.work / "artifacts"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    models = list(ctx.models())
    trained = [m for m in models if m.entry.reference]  # alog-detect checkpoints, in the reference layout
    hubs = [HubArtifacts.of(m.entry, m.checkpoint, {s: m.model_dirs[s] for s in m.strategies_with_artifacts()})
            for m in models if not m.entry.reference]
    if hubs:
        write_hubs(target, hubs)
    for mut in trained:
        (target / mut.checkpoint.name).symlink_to(mut.checkpoint)
        if mut.vocab is not None:
            (target / "vocab.json").symlink_to(mut.vocab)
        if not (target / "replay.log").exists():
            (target / "replay.log").symlink_to(mut.log)
    for strategy in sorted({s for mut in trained for s in mut.strategies_with_artifacts()}):
        (target / strategy).symlink_to(ctx.work / "models" / strategy)
    return target


@contextlib.contextmanager
def _environment(**values: str):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_pytest(args: list[str], plugins: tuple[object, ...] = (), **environment: str) -> tuple[int, str]:
    """pytest in this process: (exit code, everything it printed). Its terminal output goes to a buffer,
    as a subprocess's captured output did; the environment values hold for the run only."""
    import pytest

    printed = io.StringIO()
    with _environment(**environment), contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        try:
            code = pytest.main(args, plugins=list(plugins))
        except Exception as exc:  # noqa: BLE001 - raised out of pytest itself (-W error at startup): an internal error
            print(f"INTERNALERROR> {describe(exc)}")
            code = pytest.ExitCode.INTERNAL_ERROR
    return int(code), printed.getvalue()


def run_suite(ctx: CellContext) -> SuiteRun:
    try:
        from harness.parity import suite
        from harness.parity.suite import plugin
    except ImportError as exc:  # pytest or hypothesis missing in this environment: the suite cannot run
        raise NoEvidence(f"the parity suite cannot be loaded here ({exc}): no parity evidence") from None
    folder = Path(suite.__file__).parent
    started = time.perf_counter()
    artifacts_dir = artifact_set(ctx)
    figures_path = ctx.work / "parity" / "figures.json"
    figures_path.unlink(missing_ok=True)
    repro_dir = ctx.work / "repro" / "parity"
    tol = ctx.tolerance
    settings = plugin.SuiteSettings(artifacts=artifacts_dir, report=figures_path, repro_dir=repro_dir, tolerance=tol)
    args = ["-q", "-p", "no:cacheprovider", "--rootdir", str(folder), "-k", "parity", str(folder)]
    returncode, printed = run_pytest(args, (plugin, settings),
                                     ALOG_PARITY_PROFILE=os.environ.get("ALOG_PARITY_PROFILE", "ci"))
    lines = [ln for ln in printed.strip().splitlines() if ln.strip()]
    document = None
    if returncode in (0, 1) and figures_path.is_file():  # 0 passed, 1 some failed; else nothing ran
        document = json.loads(figures_path.read_text(encoding="utf-8"))
    summary = lines[-1] if lines else f"exit code {returncode}"
    # The command that repeats the run by hand, in the cell's environment: the same settings as options.
    command = " ".join(["python", "-m", "pytest", "-p", plugin.__name__, *args, "--artifacts", str(artifacts_dir),
                        "--parity-report", str(figures_path), "--parity-repro-dir", str(repro_dir),
                        "--parity-tolerance",
                        f"atol={tol.atol},rtol={tol.rtol},max_outlier_fraction={tol.max_outlier_fraction}"])
    return SuiteRun(command, returncode, summary, "\n".join(lines[-15:]), figures_path, document,
                    round(time.perf_counter() - started, 3), None if document else why_not_run(returncode, lines))


def why_not_run(returncode: int, lines: list[str]) -> str:
    """pytest's reason for a run that produced no figures: its error line (a usage error's "error: ..."
    line, a collection's "ERROR ...", the last INTERNALERROR line), or that it collected nothing."""
    usage = [ln.strip() for ln in lines if re.match(r"\S+: error: ", ln)]  # argparse's line names the bad option
    internal = [ln.strip() for ln in lines if ln.startswith("INTERNALERROR>")]
    errors = [ln.strip() for ln in lines if ln.startswith("ERROR")]
    reason = (usage or internal[-1:] or errors or [""])[0]
    if returncode == 5:  # pytest.ExitCode.NO_TESTS_COLLECTED
        reason = f"no tests ran ({lines[-1].strip() if lines else 'nothing collected'})"
    return f"pytest exit {returncode}: {reason or (lines[-1].strip() if lines else 'no output')}"


def judge_model(doc: dict[str, Any], model: str) -> Outcome:
    """One model's parity from the suite's figures document (harness.parity.figures). A checker whose
    self-checks did not all pass, or a model none of whose tests ran, is no evidence (NoEvidence)."""
    from harness.parity.figures import SELF_CHECKS

    tests = doc.get("tests", [])
    broken_checker = [t for t in tests if t["check"] in SELF_CHECKS and t.get("outcome") != "passed"]
    never_ran = sorted(SELF_CHECKS - {t["check"] for t in tests})
    mine = [t for t in tests if t["model"] == model and t["check"] not in SELF_CHECKS]
    failed = [t for t in mine if t.get("outcome") == "failed"]
    ran = [t for t in mine if t.get("outcome") in ("passed", "failed")]
    totals = doc.get("by_model", {}).get(model, {})
    figures: dict[str, Any] = {k: totals[k] for k in FIGURE_KEYS if k in totals}
    figures["tests"] = len(mine)
    detail = {"tests": [{"test": t["test"], "check": t["check"], "exporter": t.get("exporter"),
                         "outcome": t.get("outcome"), "examples": t.get("examples"),
                         "max_abs_error": t.get("max_abs_error")} for t in mine]}
    # The checker cannot be trusted to see a failure: its figures, passing or failing, are no evidence.
    if broken_checker:
        first = broken_checker[0]
        raise NoEvidence(f"the parity checker's self-check {first['test']} did not pass ({first.get('outcome')}): "
                         f"{first.get('first_failure')}", detail={**detail, "repro": first.get("repro")})
    if never_ran:
        raise NoEvidence(f"the parity checker's self-check(s) {', '.join(never_ran)} never ran: its figures are not "
                         "evidence", detail=detail)
    if not ran:
        raise NoEvidence(f"no parity test ran for {model} ({len(mine)} collected)", detail=detail)
    error = None
    if failed:
        first = failed[0]
        what = "setting up (exporting) its subject failed" if first["check"] == "setup" else "failed"
        error = f"{len(failed)} parity test(s) failed, first {first['test']} ({what}): {first.get('first_failure')}"
    repro = next((t.get("repro") for t in failed if t.get("repro")), None)
    outcome = Outcome(not failed, error=error, figures=figures, detail=detail, repro=repro)
    if repro:
        from harness.parity.bundles import bundle_replay_command

        outcome.replay = bundle_replay_command(repro)
    return outcome


@check("parity", stage="parity",
       meaning="ONNX Runtime now matches PyTorch within tolerance for {model} on torch {torch}: "
       "the accepted parity gap has closed")
def parity(ctx: ModelContext) -> Outcome:
    ctx.exported()
    run: SuiteRun = ctx.cell.once("parity", "parity", lambda: run_suite(ctx.cell))
    context = {"command": run.command, "summary": run.summary, "figures_json": str(run.figures_path)}
    if run.document is None:  # nothing was measured: no evidence, which no expectation can accept
        raise NoEvidence(f"the parity suite did not run ({run.not_run})",
                         detail={**context, "output_tail": run.output_tail})
    try:
        outcome = judge_model(run.document, ctx.model)
    except NoEvidence as exc:
        exc.detail = {**context, "output_tail": run.output_tail, **exc.detail}
        raise
    outcome.detail = {**context, **outcome.detail}
    outcome.seconds = run.seconds
    if outcome.repro:  # the suite's bundle of the failing example holds the weights it was checked against
        from harness.localize.diagnose import localize_bundle

        bundle = Path(outcome.repro)
        weights = bundle / "model.pth"
        entry = ctx.matrix.entry(ctx.model)  # a hub entry's model.pth is a state_dict its hubconf.py's model takes
        outcome.detail["divergence"] = localize_bundle(bundle, weights if weights.is_file() else None,
                                                       entry.model_type, ctx.matrix,
                                                       hub=None if entry.reference else entry)
    return outcome
