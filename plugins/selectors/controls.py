"""Control selectors: where a method must land below (random) or above (oracle)."""

from __future__ import annotations

import numpy as np

from bench_core import hookimpl
from bench_core.tracks.base import Tags
from bench_core.tracks.selectors import Selector


class RandomSelector(Selector):
    """Negative control: a uniformly random ranking of the features (seeded)."""

    name = "random"
    version = "1"
    tags = Tags(supervised=False, stochastic=True, control="negative")

    def rank(self, X, y, ctx):
        return ctx.rng(1).random(X.shape[1])


class OracleSelector(Selector):
    """Positive control (synthetic data only): the recorded informative features first, in the generator's
    order of importance, then the other relevant (redundant/repeated) features, then the rest at random."""

    name = "oracle"
    version = "1"
    tags = Tags(supervised=False, stochastic=True, control="positive", requires=("ground_truth",))

    def rank(self, X, y, ctx):
        gt = ctx.ground_truth
        d = X.shape[1]
        scores = ctx.rng(2).random(d)  # in [0, 1): the rest, at random
        lenient = [f for f in gt.get("lenient", []) if f not in set(gt["strict"])]
        scores[lenient] = 1.0 + ctx.rng(3).random(len(lenient))  # in [1, 2)
        strict = list(gt["strict"])
        scores[strict] = 2.0 + np.arange(len(strict), 0, -1)  # >= 3, most important first
        return scores


@hookimpl
def featbench_register_selectors(register):
    register.add(RandomSelector)
    register.add(OracleSelector)
