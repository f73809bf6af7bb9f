"""The registry of a cell's checks, one family per module, in run and report order.

To add a check: add its name to ``harness.ground.names.CHECK_NAMES`` (where matrix.toml and the report
learn it), write a function ``fn(ctx: ModelContext) -> Outcome`` in the module of its family (or in a new
module named in ``FAMILIES``) and decorate it with ``@check(name, stage=..., meaning=...)``. Checks run in
the order of ``FAMILIES``, then of definition within a module, which must be the order of CHECK_NAMES.
"""

import importlib

from harness.checks.registry import REGISTRY, Check, NoEvidence, NotReached, Outcome, check
from harness.ground.names import CHECK_NAMES

FAMILIES = ("signature", "training", "calls", "exports", "cli", "axes", "golden_parity", "suite", "engine", "warnings")
for _family in FAMILIES:
    importlib.import_module(f"harness.checks.{_family}")  # importing a family registers its checks

CHECKS = tuple(c.name for c in REGISTRY)
if CHECKS != CHECK_NAMES:  # one list of names: matrix.toml is validated against CHECK_NAMES without this registry
    raise ImportError(f"the check registry {CHECKS} differs from harness.ground.names.CHECK_NAMES {CHECK_NAMES}")

__all__ = ["CHECKS", "FAMILIES", "REGISTRY", "Check", "NoEvidence", "NotReached", "Outcome", "check"]
