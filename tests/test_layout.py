"""The checkout's layout as the cells import it: through a .pth path entry, with pytest putting tests/
first on sys.path (the parity suite's rootdir conftest, prepend import mode)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_test_folder_shadows_a_project_package():
    """A tests/harness package once hid the real harness from the parity suite in every cell
    (ModuleNotFoundError: No module named 'harness.parity'); an editable install hides that from the suite."""
    code = ("import sys; sys.path.insert(0, 'tests'); import converter.compare, harness.parity.properties; "
            "print(converter.__file__); print(harness.__file__)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(ROOT / "converter" / "__init__.py"), str(ROOT / "harness" / "__init__.py")]
