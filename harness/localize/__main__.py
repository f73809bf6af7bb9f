"""``python -m harness.localize``: every value of a marked model for one input, in this venv's ONNX Runtime
(started by the localizer in a runtime's venv; the work is ``harness.localize.values``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.ground.exits import run_command
from harness.localize.values import ort_values


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    parser = argparse.ArgumentParser(prog="python -m harness.localize",
                                     description="every value of a marked model for one input")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--opt-level", default="all")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    def body() -> int:
        values = ort_values(args.model, np.load(args.input), args.opt_level)
        with open(args.out, "wb") as handle:
            np.savez(handle, **{f"v{i}": v for i, v in enumerate(values.values())}, names=np.array(list(values)))
        return 0

    return run_command("alog-matrix localize", body)


if __name__ == "__main__":
    sys.exit(main())
