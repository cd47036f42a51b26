"""Filter selectors: a score per feature computed once on the training rows."""

from __future__ import annotations

import numpy as np

from bench_core import hookimpl
from bench_core.tracks.base import Tags
from bench_core.tracks.selectors import Selector


class AnovaF(Selector):
    """ANOVA F statistic between each feature and the class (scikit-learn ``f_classif``); constant features
    score 0."""

    name = "anova_f"
    version = "1"
    tags = Tags(supervised=True, wraps="scikit-learn")

    def rank(self, X, y, ctx):
        import warnings

        from sklearn.feature_selection import f_classif

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant features: scikit-learn warns and returns NaN
            f, _ = f_classif(X, y)
        return np.nan_to_num(f, nan=0.0, posinf=np.finfo(np.float64).max)


class MutualInfo(Selector):
    """Mutual information between each feature and the class, k-NN estimator of Ross (2014) as implemented by
    scikit-learn's ``mutual_info_classif`` (``n_neighbors`` = 3)."""

    name = "mutual_info"
    version = "1"
    params = {"n_neighbors": 3}
    grid = {"n_neighbors": [3, 5, 10]}
    tags = Tags(supervised=True, stochastic=True, wraps="scikit-learn")

    def rank(self, X, y, ctx):
        from sklearn.feature_selection import mutual_info_classif

        return mutual_info_classif(X, y, n_neighbors=self.params["n_neighbors"],
                                   random_state=int(ctx.rng(5).integers(2**31)))


@hookimpl
def featbench_register_selectors(register):
    register.add(AnovaF)
    register.add(MutualInfo)
