"""Cell venvs (uv), the disk check before building them, and progress output."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest

from converter.errors import AlogError
from harness.envs import disk, venvs as envs
from harness.envs.findlinks import pip_find_links
from harness.config.matrix import load_matrix
from harness.run.progress import Progress

from .conftest import write_matrix


def test_only_find_links_cells_see_pips_wheel_folder(tmp_path, monkeypatch):
    matrix = load_matrix(write_matrix(tmp_path / "m.toml", """
        [[cell]]
        id = "local"
        torch = "2.13.0"
        find_links = true

        [[cell]]
        id = "registry"
        torch = "2.8.0"
    """))
    local, registry = matrix.cells
    monkeypatch.setenv("UV_FIND_LINKS", "/somewhere/else")
    links = pip_find_links()
    if not links:
        with pytest.raises(AlogError, match="no global.find-links"):
            envs.uv_environment(local)
    else:
        assert envs.uv_environment(local)["UV_FIND_LINKS"] == ",".join(links)
    assert "UV_FIND_LINKS" not in envs.uv_environment(registry)


def test_fingerprint_follows_the_spec(tmp_path):
    path = write_matrix(tmp_path / "m.toml", """
        [[cell]]
        id = "a"
        torch = "2.8.0"
        pins = { numpy = "2.2.6" }

        [[cell]]
        id = "b"
        torch = "2.8.0"
        pins = { numpy = "2.2.5" }
    """)
    a, b = load_matrix(path).cells
    assert envs.spec_fingerprint(a) != envs.spec_fingerprint(b)
    assert envs.spec_fingerprint(a) == envs.spec_fingerprint(load_matrix(path).cells[0])
    assert not envs.is_current(a, tmp_path / "envs")


@pytest.mark.skipif(not pip_find_links(), reason="needs pip's local wheel folder (global.find-links) for CPU torch")
def test_build_then_reuse_a_cpu_torch_cell(tmp_path, host_torch):
    """A real uv venv with the local CPU wheel: built, verified by importing the stack, then reused."""
    from harness.config.matrix import DEFAULT_MATRIX

    local = next(c for c in load_matrix(DEFAULT_MATRIX).cells if c.find_links)
    root = tmp_path / "envs"
    built = envs.ensure_env(local, root)
    assert not built.reused and envs.is_current(local, root)
    version = subprocess.run([str(built.python), "-c", "import torch, harness; print(torch.__version__, harness.__file__)"],
                             cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert version[0] == f"{local.torch}+cpu"  # the local CPU-only wheel, not the registry's CUDA one
    # alog-detect installed from one wheel of this code into the venv, never a path into the checkout
    assert version[1] == str(built.site_packages() / "harness" / "__init__.py")
    library = subprocess.run([str(built.python), "-c", "from harness.runtimes.engine import default_ort_lib; "
                              "print(default_ort_lib().name)"], capture_output=True, text=True, check=True).stdout
    assert library.startswith("libonnxruntime.so.")  # the library the C engine runs against in this cell
    again = envs.ensure_env(local, root)
    assert again.reused and again.path == built.path

    # A second state folder on this machine: uv's cache holds every wheel the cell needs, so its venv costs
    # hard links, not the wheels again; with an empty cache the same cell asks for the cold figure.
    matrix = load_matrix(DEFAULT_MATRIX)
    warm = disk.estimate((local,), matrix, tmp_path / "second-state" / "cells")
    assert warm.to_build == (local.id,)
    assert warm.need_gb == round(disk.LINKED_CELL_GB + matrix.disk["margin_gb"], 1)
    with pytest.MonkeyPatch.context() as cold_cache:
        cold_cache.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))
        cold = disk.estimate((local,), matrix, tmp_path / "third-state" / "cells")
    assert cold.need_gb == round(matrix.disk["cpu_cell_gb"] + matrix.disk["margin_gb"], 1)


def test_disk_check_counts_only_cells_to_build(tmp_path, monkeypatch):
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))  # a cold cache: the wheels' full size
    matrix = load_matrix(write_matrix(tmp_path / "m.toml", """
        [disk]
        cuda_cell_gb = 5.0
        cpu_cell_gb = 1.0
        margin_gb = 2.0

        [[cell]]
        id = "cuda"
        torch = "2.8.0"

        [[cell]]
        id = "cpu"
        torch = "2.13.0"
        find_links = true
    """))
    need = disk.estimate(matrix.cells, matrix, tmp_path / "envs")
    assert need.to_build == ("cuda", "cpu")
    assert need.need_gb == 8.0
    assert abs(need.free_gb - shutil.disk_usage(tmp_path).free / 1e9) < 1.0
    assert disk.estimate((), matrix, tmp_path / "envs").need_gb == 0


def test_disk_check_stops_with_one_line_when_short(tmp_path, monkeypatch):
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))
    matrix = load_matrix(write_matrix(tmp_path / "m.toml", """
        [disk]
        cuda_cell_gb = 1000000.0

        [[cell]]
        id = "huge"
        torch = "2.8.0"
    """))
    with pytest.raises(AlogError) as caught:
        disk.require_space(matrix.cells, matrix, tmp_path / "envs")
    assert "\n" not in str(caught.value) and "not enough disk" in str(caught.value)


def test_plain_progress_lines_outside_a_terminal(monkeypatch):
    monkeypatch.setenv("CI", "true")
    stream = io.StringIO()
    progress = Progress(3, stream=stream)
    cell, other = progress.cell(2, "torch-2.8.0"), progress.cell(3, "torch-2.9.1")
    cell.stage("train")
    other.stage("venv")  # cells running at once: each line names its cell
    cell.stage("train")  # repeated: printed once
    cell.done("complete")
    progress.close()
    assert stream.getvalue().splitlines() == ["cell 2/3 torch-2.8.0: train", "cell 3/3 torch-2.9.1: venv",
                                              "cell 2/3 torch-2.8.0: complete"]
