"""The parity property suite, shipped with the harness: PyTorch next to ONNX Runtime on hypothesis-drawn
inputs, for random-weight shapes and for the artifacts of a cell (``--artifacts DIR``).

``plugin`` holds its options, fixtures and hooks; the ``parity`` check runs this folder with
``pytest.main(..., plugins=[plugin, SuiteSettings(...)])`` inside the cell, handing over the tolerance and
folders typed; the repository's ``pytest -k parity`` runs the same tests through tests/parity.
"""
