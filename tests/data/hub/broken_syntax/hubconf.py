"""A hubconf.py with a syntax error, as a half-finished edit leaves one."""

dependencies = ["torch"]


def model(vocab_size=30:
    return None
