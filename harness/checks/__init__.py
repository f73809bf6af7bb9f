"""The registry of a cell's checks, one family per module, in run and report order.

To add a check: write a function ``fn(ctx: ModelContext) -> Outcome`` in the module of its family (or in
a new module named in ``FAMILIES``) and decorate it with ``@check(name, stage=..., meaning=...)``. Checks
run, and the report lists them, in the order of ``FAMILIES``, then of definition within a module.
"""

import importlib

from harness.checks.base import REGISTRY, Check, NoEvidence, NotReached, Outcome, check

FAMILIES = ("signature", "training", "calls", "exports", "axes", "golden", "parity", "engine", "warnings")
for _family in FAMILIES:
    importlib.import_module(f"harness.checks.{_family}")  # importing a family registers its checks

CHECKS = tuple(c.name for c in REGISTRY)

__all__ = ["CHECKS", "FAMILIES", "REGISTRY", "Check", "NoEvidence", "NotReached", "Outcome", "check"]
