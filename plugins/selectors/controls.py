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
    """Positive control (synthetic data only): knows which features are relevant, orders them with the
    training rows.

    Ranking: (1) the relevant features (the lenient ground truth: informative plus redundant or repeated
    copies), (2) then every other feature in random order. Within (1), the first ``greedy_depth`` positions are
    chosen by greedy forward selection restricted to the relevant features, each step adding the feature that
    maximises the mean balanced accuracy of two cheap stand-ins for the protocol's evaluators (standardized
    logistic regression, ExtraTrees with ``proxy_trees`` trees) fitted on at most ``proxy_rows`` training rows
    and scored on a stratified hold-out third of the *training* rows; the remaining relevant features follow
    in the order of their last greedy score. Ties prefer strictly informative features.

    Why not simply "the informative features first": redundant features are linear combinations of several
    informative ones and are often individually more predictive, so a strict-first ranking is beaten at small
    k by any good filter, and would not be a positive control of the accuracy-based primary score. The price is
    that on data with redundant copies the oracle's strict recovery need not be perfect; its lenient recovery
    always is (its top |G_lenient| is exactly G_lenient).
    """

    name = "oracle"
    version = "2"
    params = {"greedy_depth": 6, "holdout": 1 / 3, "proxy_trees": 10, "proxy_rows": 1000}
    tags = Tags(supervised=True, stochastic=True, control="positive", requires=("ground_truth",))

    def rank(self, X, y, ctx):
        import warnings

        from sklearn.ensemble import ExtraTreesClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from bench_core.metrics.selection import balanced_accuracy

        gt = ctx.ground_truth
        d = X.shape[1]
        strict = [int(f) for f in gt["strict"]]
        relevant = list(dict.fromkeys(strict + [int(f) for f in gt.get("lenient", [])]))
        scores = ctx.rng(2).random(d)  # in [0, 1): the irrelevant features, at random
        seed = int(ctx.rng(3).integers(2**31))
        try:
            tr, va = train_test_split(np.arange(len(y)), test_size=self.params["holdout"], stratify=y,
                                      random_state=seed)
        except ValueError:  # a class too small to stratify: plain split
            tr, va = train_test_split(np.arange(len(y)), test_size=self.params["holdout"], random_state=seed)
        tr = tr[: int(self.params["proxy_rows"])]
        proxies = (lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
                   lambda: ExtraTreesClassifier(n_estimators=int(self.params["proxy_trees"]), random_state=seed, n_jobs=1))

        def value(cols):
            out = []
            for make in proxies:
                model = make()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(X[np.ix_(tr, cols)], y[tr])
                    out.append(balanced_accuracy(y[va], model.predict(X[np.ix_(va, cols)])))
            return float(np.mean(out))

        chosen: list[int] = []
        remaining = list(relevant)
        last: dict[int, float] = {f: 0.0 for f in relevant}
        for _ in range(min(int(self.params["greedy_depth"]), len(relevant))):
            for f in remaining:
                last[f] = value(chosen + [f]) + (1e-9 if f in strict else 0.0)
            best = max(remaining, key=lambda f: (last[f], -remaining.index(f)))
            chosen.append(best)
            remaining.remove(best)
        remaining.sort(key=lambda f: (-last[f], f not in strict))
        order = chosen + remaining
        scores[order] = 2.0 + np.arange(len(order), 0, -1)  # >= 3, first chosen highest
        return scores


@hookimpl
def featbench_register_selectors(register):
    register.add(RandomSelector)
    register.add(OracleSelector)
