"""warnings: every warning the probes and the export records saw must match matrix.toml's [warnings].allow,
so a new torch's new warning is seen."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from harness.checks.registry import Outcome, check

if TYPE_CHECKING:
    from harness.checks.context import ModelContext
    from harness.checks.models import ModelUnderTest


def collected_warnings(mut: ModelUnderTest) -> list[dict[str, str]]:
    seen, out = set(), []
    sources: list[tuple[str, list[dict[str, str]]]] = []
    if mut.default_call is not None:
        sources.append(("default_call", mut.default_call.warnings))
    for strategy, record in mut.records.items():
        if record is not None:
            sources += [(f"{strategy}:{a.exporter}", a.warnings) for a in record.attempts]
    for source, items in sources:
        for w in items:
            key = (w["category"], w["message"])
            if key not in seen:
                seen.add(key)
                out.append({"category": w["category"], "message": w["message"][:1000], "source": source})
    return out


@check("warnings", stage="warnings",
       meaning="the export of {model} on torch {torch} no longer raises the expected warnings: "
       "the deprecation (or other warning) the expectation describes has gone")
def warnings(ctx: ModelContext) -> Outcome:
    allowed = [re.compile(p, re.S) for p in ctx.matrix.warnings_allowed]
    found = collected_warnings(ctx.exported())
    unexpected = [w for w in found if not any(p.search(f"{w['category']}: {w['message']}") for p in allowed)]
    error = None
    if unexpected:
        w = unexpected[0]
        first = w["message"].splitlines()[0][:200] if w["message"] else ""
        error = f"{len(unexpected)} warning(s) not in [warnings].allow, first: {w['category']}: {first}"
    return Outcome(not unexpected, error=error, warnings=found, detail={"unexpected": unexpected, "total": len(found)},
                   figures={"warnings": len(found), "unexpected": len(unexpected)})
