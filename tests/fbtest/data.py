"""A test dataset provider: a tiny generated dataset with ground truth, and its card."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench_core import hookimpl
from bench_core.data import RawData


def tiny(n: int = 80, d: int = 8, seed: int = 0) -> RawData:
    """n rows, d features; feature 0 and 1 carry the class, the rest is noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, d))
    X[:, 0] += 2.0 * y
    X[:, 1] -= 1.5 * y
    return RawData(X=X, y=y, ground_truth={"strict": [0, 1], "lenient": [0, 1]})


@hookimpl
def featbench_register_datasets(register):
    register.add_loader("fbtest.tiny", tiny)
    register.add_cards(Path(__file__).parent / "cards_ok")
