"""A third-party similarity plugin (loaded with FEATBENCH_PLUGIN_MODULES=fbtest.similarity_plugin): one honest
measure, and two that declare properties they do not have (the kit must fail them)."""

from __future__ import annotations

import torch

from bench_core import hookimpl
from bench_core.tracks.base import Tags
from bench_core.tracks.similarity import SimilarityMeasure


def _cka(X, Y):
    X = X.double() - X.double().mean(0)
    Y = Y.double() - Y.double().mean(0)
    return float(torch.linalg.norm(X.T @ Y) ** 2 / (torch.linalg.norm(X.T @ X) * torch.linalg.norm(Y.T @ Y)))


class ThirdPartyGramCosine(SimilarityMeasure):
    """A third party's linear CKA, written independently of featbench's kernels."""

    name, version = "thirdparty-gram-cosine", "1"
    invariances = ("orthogonal", "isotropic_scaling", "translation", "permutation")
    tags = Tags(supervised=False)

    def score(self, X, Y, ctx):
        return _cka(X, Y)


class ClaimsLinearInvariance(SimilarityMeasure):
    """Linear CKA that wrongly claims invariance to invertible linear maps."""

    name, version = "wrong-claims-linear-invariance", "1"
    invariances = ("orthogonal", "isotropic_scaling", "translation", "permutation", "invertible_linear")
    tags = Tags(supervised=False)

    def score(self, X, Y, ctx):
        return _cka(X, Y)


class SquaredDistanceClaimsMetric(SimilarityMeasure):
    """2 - 2 CKA: a squared chordal distance, which breaks the triangle inequality, claimed a metric."""

    name, version = "wrong-claims-metric", "1"
    orientation, is_metric = "distance", True
    invariances = ("orthogonal", "isotropic_scaling", "translation", "permutation")
    tags = Tags(supervised=False)

    def score(self, X, Y, ctx):
        return 2.0 - 2.0 * _cka(X, Y)


@hookimpl
def featbench_register_similarity_measures(register):
    for cls in (ThirdPartyGramCosine, ClaimsLinearInvariance, SquaredDistanceClaimsMetric):
        register.add(cls)
