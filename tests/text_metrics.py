"""Measures the tests take of templates and parses (not part of the product)."""

from __future__ import annotations

import pandas as pd

from converter.errors import AlogError
from converter.logformats import normalise_ws
from converter.matching import WILDCARD


def literal_length(template: str) -> int:
    """Specificity of a template: characters that are not part of a wildcard."""
    normal = normalise_ws(template)
    return len(normal) - len(WILDCARD) * normal.count(WILDCARD)


def grouping_accuracy(predicted_ids, truth_ids) -> float:
    """Loghub's grouping accuracy: a line counts iff its predicted group is exactly its true group."""
    pred = pd.Series(list(predicted_ids))
    truth = pd.Series(list(truth_ids))
    if len(pred) != len(truth):
        raise AlogError(f"grouping accuracy needs equal lengths, got {len(pred)} and {len(truth)}")
    if len(pred) == 0:
        raise AlogError("grouping accuracy of zero lines is undefined")
    frame = pd.DataFrame({"pred": pred.values, "truth": truth.values})
    truth_sizes = frame.groupby("truth").size()
    correct = 0
    for _, group in frame.groupby("pred"):
        truths = group["truth"].unique()
        # Correct only if the predicted group holds one true group, all of it.
        if len(truths) == 1 and truth_sizes[truths[0]] == len(group):
            correct += len(group)
    return correct / len(frame)
