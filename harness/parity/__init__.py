"""The parity kit: PyTorch next to ONNX Runtime, example by example, with figures and repro bundles.

Used by the parity suite (tests/parity), the matrix's parity checks, the parity benchmark, and anyone
replaying a failure. One module per job:

- ``sessions``: ``SessionCache``, one ONNX Runtime session per artifact file.
- ``subjects``: ``Subject``, a PyTorch model and the ONNX file exported from it.
- ``checks``: ``check_parity`` / ``check_topg`` / ``check_parity_many`` and ``ParityFailure``.
- ``verdicts``: ``check_verdicts``, anomaly verdicts over a whole log in both runtimes.
- ``figures``: ``FiguresRecorder``, the figures document of a run.
- ``bundles``: repro bundles and the command that replays them.
- ``layout``: the ``--artifacts DIR`` layout (artifacts made in another environment).
- ``replay``: ``python -m harness.parity replay BUNDLE`` and ``layout``.
"""
