"""The shipped parity suite's hub model tests (harness/parity/suite), selected here by `pytest -k parity`."""

from harness.parity.suite.test_parity_hub import *  # noqa: F403 - the same test functions, collected here
