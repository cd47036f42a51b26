"""The built-in similarity measures: thin declarations over the kernels of :mod:`bench_core.metrics.similarity`.

Each measure is named by the choices that define it (kernel, estimator, score or distance form, k), so that
two implementations of "the same" measure can never be confused. The declared ``invariances`` are the
transformations of *either* argument that leave the score unchanged (checked by the conformance kit and by the
track's T3 test); ``is_metric`` is claimed only where the distance provably satisfies identity (up to the
declared invariances), symmetry and the triangle inequality.

Invariance notes (the kit and T3 verify them; these are the reasons):

- CKA (linear, debiased, RBF with the median heuristic, angular): orthogonal maps, isotropic scaling,
  translation, feature permutation; never general invertible linear maps.
- CCA mean / R^2_CCA and the alpha = 0 shape metric: every invertible linear map (hence also the others).
- SVCCA: truncating to 0.99 of the variance depends on the spectrum, so an invertible linear map changes it.
- PWCCA: the weights sum_j |<h_i, x_j>| depend on the basis of X's features (its neurons), so a rotation
  of X changes them; only permutation, scaling and translation are claimed.
- Linear-regression R^2 and ridge R^2 are asymmetric: a linear map of the predictor side only would leave the
  plain R^2 unchanged, not one of the predicted side, so ``invertible_linear`` is not claimed.
- Euclidean k-NN keeps translation invariance; cosine neighbourhoods (mutual k-NN, CKNNA, relative
  representations) lose it. RSA's correlation distance centres each row, which a general translation breaks,
  and a rotation of the features changes the per-row correlations.
- The random control claims nothing.
"""

from __future__ import annotations


from bench_core import hookimpl
from bench_core.metrics import similarity as K
from bench_core.tracks.base import Tags
from bench_core.tracks.similarity import SimilarityMeasure

CKA_INV = ("orthogonal", "isotropic_scaling", "translation", "permutation")
LINEAR_INV = ("orthogonal", "isotropic_scaling", "translation", "invertible_linear", "permutation")
SCALE_FREE = ("isotropic_scaling", "translation", "permutation")
COSINE_INV = ("orthogonal", "isotropic_scaling", "permutation")


class CKALinear(SimilarityMeasure):
    """Linear CKA, biased (Gretton) HSIC; feature form, Gram form when d > n (Kornblith et al. 2019)."""

    name, version = "cka-linear-biased", "1"
    invariances = CKA_INV
    tags = Tags(supervised=False, reimplementation_of="Kornblith et al. 2019, eq. 4")

    def score(self, X, Y, ctx):
        return K.cka_linear(X, Y)


class CKALinearDebiased(SimilarityMeasure):
    """Linear CKA with Song et al.'s unbiased HSIC, feature-form U-statistic (Kornblith's debiased CKA)."""

    name, version = "cka-linear-debiased", "1"
    invariances = CKA_INV
    tags = Tags(supervised=False, reimplementation_of="Kornblith et al. 2019; Song et al. 2012 (HSIC_u)")

    def score(self, X, Y, ctx):
        return K.cka_linear_debiased(X, Y)


def _rbf(fraction: float, label: str):
    class CKARBF(SimilarityMeasure):
        __doc__ = f"RBF CKA (biased HSIC), sigma = {fraction} x the median pairwise distance; dense n x n."
        name, version = f"cka-rbf-sigma{label.replace('.', '_')}median-biased", "1"
        params = {"fraction": fraction}
        invariances = CKA_INV
        tags = Tags(supervised=False, reimplementation_of="Kornblith et al. 2019 (RBF kernel, median heuristic)")

        def score(self, X, Y, ctx):
            return K.cka_rbf(X, Y, float(self.params["fraction"]))

    CKARBF.__name__ = CKARBF.__qualname__ = f"CKARBF{label}"
    return CKARBF


class CKAAngular(SimilarityMeasure):
    """arccos of linear CKA: the angle between centred linear Grams (netrep LinearCKA); a metric."""

    name, version = "cka-linear-angular-distance", "1"
    orientation, is_metric = "distance", True
    invariances = CKA_INV
    tags = Tags(supervised=False, reimplementation_of="Williams et al. 2021 (netrep LinearCKA)")

    def score(self, X, Y, ctx):
        return K.cka_angular(X, Y)


class CCAMean(SimilarityMeasure):
    """Mean canonical correlation rho-bar over min(rank X, rank Y) pairs (SVD bases, rank tolerance)."""

    name, version = "cca-mean-rho", "1"
    invariances = LINEAR_INV
    tags = Tags(supervised=False, reimplementation_of="Raghu et al. 2017; Kornblith et al. 2019")

    def score(self, X, Y, ctx):
        return K.cca(X, Y, "mean")


class CCAR2(SimilarityMeasure):
    """R^2_CCA (Yanai's GCD): mean squared canonical correlation."""

    name, version = "cca-r2-yanai", "1"
    invariances = LINEAR_INV
    tags = Tags(supervised=False, reimplementation_of="Kornblith et al. 2019 (R^2_CCA)")

    def score(self, X, Y, ctx):
        return K.cca(X, Y, "r2")


class SVCCAVar(SimilarityMeasure):
    """SVCCA: PCA to 0.99 of the variance on each side, then mean canonical correlation."""

    name, version = "svcca-var0_99-mean-rho", "1"
    params = {"variance": 0.99}
    invariances = CKA_INV
    tags = Tags(supervised=False, reimplementation_of="Raghu et al. 2017")

    def score(self, X, Y, ctx):
        return K.svcca(X, Y, variance=float(self.params["variance"]))


class SVCCADims(SimilarityMeasure):
    """SVCCA with a fixed number of principal components per side (platonic: 10), then mean CCA."""

    name, version = "svcca-dims10-mean-rho", "1"
    params = {"dims": 10}
    invariances = CKA_INV
    tags = Tags(supervised=False, reimplementation_of="Raghu et al. 2017; Huh et al. 2024 (10 dims)")

    def score(self, X, Y, ctx):
        return K.svcca(X, Y, variance=None, dims=int(self.params["dims"]))


class PWCCA(SimilarityMeasure):
    """PWCCA, weights from the first argument's neurons (published formula; asymmetric)."""

    name, version = "pwcca-weights-x", "1"
    symmetric = False
    invariances = SCALE_FREE
    tags = Tags(supervised=False, reimplementation_of="Morcos et al. 2018")

    def score(self, X, Y, ctx):
        return K.pwcca(X, Y)


class LinRegYfromX(SimilarityMeasure):
    """R^2 of the least-squares prediction of Y (second argument) from X (first)."""

    name, version = "linreg-r2-y-from-x", "1"
    symmetric = False
    invariances = CKA_INV
    tags = Tags(supervised=False, reimplementation_of="Kornblith et al. 2019 (linear regression fit)")

    def score(self, X, Y, ctx):
        return K.linreg_r2(X, Y)


class LinRegXfromY(SimilarityMeasure):
    """R^2 of the least-squares prediction of X (first argument) from Y (second)."""

    name, version = "linreg-r2-x-from-y", "1"
    symmetric = False
    invariances = CKA_INV
    tags = Tags(supervised=False, reimplementation_of="Kornblith et al. 2019 (linear regression fit)")

    def score(self, X, Y, ctx):
        return K.linreg_r2(Y, X)


class RidgeYfromX(SimilarityMeasure):
    """In-sample ridge R^2 of Y from X, penalty alpha x tr(X^T X)/d (relative, scale-free)."""

    name, version = "ridge-r2-y-from-x-rel1", "1"
    params = {"alpha": 1.0}
    symmetric = False
    invariances = CKA_INV
    tags = Tags(supervised=False)

    def score(self, X, Y, ctx):
        return K.ridge_r2(X, Y, float(self.params["alpha"]))


class ProcrustesSizeShape(SimilarityMeasure):
    """Procrustes size-and-shape distance sqrt(||X||^2 + ||Y||^2 - 2||X^T Y||_*), centred (Williams 2021)."""

    name, version = "procrustes-size-shape-euclidean", "1"
    orientation, is_metric = "distance", True
    invariances = ("orthogonal", "translation", "permutation")
    tags = Tags(supervised=False, reimplementation_of="Williams et al. 2021; ReSi ProcDist")

    def score(self, X, Y, ctx):
        return K.procrustes(X, Y, "size_shape")


class ProcrustesUnit(SimilarityMeasure):
    """Procrustes distance of centred, unit-Frobenius-norm X, Y: sqrt(2 - 2||X^T Y||_*) (ReSi OrthProc)."""

    name, version = "procrustes-centred-unitnorm-euclidean", "1"
    orientation, is_metric = "distance", True
    invariances = CKA_INV
    tags = Tags(supervised=False, reimplementation_of="Ding et al. 2021 (square root taken); ReSi OrthProc")

    def score(self, X, Y, ctx):
        return K.procrustes(X, Y, "unit")


class ProcrustesAngular(SimilarityMeasure):
    """Angular shape metric arccos(||X^T Y||_* / (||X|| ||Y||)), centred (Williams et al. 2021)."""

    name, version = "procrustes-angular", "1"
    orientation, is_metric = "distance", True
    invariances = CKA_INV
    tags = Tags(supervised=False, reimplementation_of="Williams et al. 2021; ReSi AngShape")

    def score(self, X, Y, ctx):
        return K.procrustes(X, Y, "angular")


def _shape(alpha: float, label: str):
    class ShapeMetric(SimilarityMeasure):
        __doc__ = (f"Generalized shape metric, partial whitening alpha = {alpha} of unit-norm centred data, "
                   "angular Procrustes (Williams et al. 2021).")
        name, version = f"shape-metric-alpha{label.replace('.', '_')}-angular", "1"
        params = {"alpha": alpha}
        orientation, is_metric = "distance", True
        invariances = LINEAR_INV if alpha == 0.0 else CKA_INV
        tags = Tags(supervised=False, reimplementation_of="Williams et al. 2021 (netrep LinearMetric)")

        def score(self, X, Y, ctx):
            return K.shape_metric(X, Y, float(self.params["alpha"]))

    ShapeMetric.__name__ = ShapeMetric.__qualname__ = f"ShapeMetric{label.replace('.', '')}"
    return ShapeMetric


class PermutationAngular(SimilarityMeasure):
    """Neuron-matching metric: angular distance after the best permutation of features, centred."""

    name, version = "permutation-angular", "1"
    orientation, is_metric = "distance", True
    invariances = SCALE_FREE
    tags = Tags(supervised=False, reimplementation_of="Williams et al. 2021 (netrep PermutationMetric)")

    def score(self, X, Y, ctx):
        return K.permutation_angular(X, Y)


class RSA(SimilarityMeasure):
    """RSA: correlation-distance RDMs compared by Spearman (Kriegeskorte et al. 2008); dense n x n."""

    name, version = "rsa-corr-rdm-spearman", "1"
    invariances = ("isotropic_scaling", "permutation")
    tags = Tags(supervised=False, reimplementation_of="Kriegeskorte et al. 2008; ReSi RSA")

    def score(self, X, Y, ctx):
        return K.rsa(X, Y)


class KNNJaccard(SimilarityMeasure):
    """Mean Jaccard index of the Euclidean k-NN sets, k = 10 (row blocks, O(n k) memory)."""

    name, version = "knn-jaccard-euclidean-k10", "1"
    params = {"k": 10}
    invariances = CKA_INV
    tags = Tags(supervised=False, reimplementation_of="ReSi JaccardSimilarity (Euclidean variant)")

    def score(self, X, Y, ctx):
        return K.knn_jaccard(X, Y, int(self.params["k"]), "euclidean")


class MutualKNN(SimilarityMeasure):
    """Mutual k-NN: mean share of common cosine k-NN, k = 10 (Huh et al. 2024)."""

    name, version = "mutual-knn-cosine-k10", "1"
    params = {"k": 10}
    invariances = COSINE_INV
    tags = Tags(supervised=False, reimplementation_of="Huh et al. 2024 (platonic mutual_knn)")

    def score(self, X, Y, ctx):
        return K.mutual_knn(X, Y, int(self.params["k"]))


class CKNNA(SimilarityMeasure):
    """CKNNA: unbiased-HSIC CKA restricted to mutual cosine k-NN, k = 10 (Huh et al. 2024), O(n k) memory."""

    name, version = "cknna-cosine-k10-unbiased", "1"
    params = {"k": 10}
    # the masked Grams K o M are not symmetric matrices, so the 1'AB1 term of HSIC_u differs from 1'BA1:
    # platonic's formula (reproduced exactly) is not symmetric in X and Y
    symmetric = False
    invariances = COSINE_INV
    tags = Tags(supervised=False, reimplementation_of="Huh et al. 2024 (platonic cknna)")

    def score(self, X, Y, ctx):
        return K.cknna(X, Y, int(self.params["k"]))


class RelativeCosine(SimilarityMeasure):
    """Relative representations: cosine to K = 64 shared anchor rows (drawn with the job seed), mean
    row-wise cosine (Moschella et al. 2023)."""

    name, version = "relrep-cosine-anchors64", "1"
    params = {"anchors": 64}
    invariances = COSINE_INV
    tags = Tags(supervised=False, stochastic=True, reimplementation_of="Moschella et al. 2023")

    def score(self, X, Y, ctx):
        n = X.shape[0]
        idx = ctx.rng(7).choice(n, size=min(int(self.params["anchors"]), n), replace=False)
        return K.relative_cosine(X, Y, idx)


class RandomScore(SimilarityMeasure):
    """Negative control: a pseudo-random number in [0, 1) per call, seeded by the job seed and the call's
    index (the protocol's calls come in a fixed order), unrelated to any structure and not symmetric.

    Version 1 seeded it with a hash of the data's bytes; the digits networks' activations and the generated
    families differ in their last bits between CPUs (their kernels round differently), so its scores changed
    from machine to machine."""

    name, version = "random-score-control", "2"
    symmetric = False
    tags = Tags(supervised=False, stochastic=True, control="negative")

    def score(self, X, Y, ctx):
        self._calls = getattr(self, "_calls", 0) + 1
        return float(ctx.rng(self._calls).random())


MEASURES = [
    CKALinear, CKALinearDebiased, _rbf(0.2, "0.2"), _rbf(0.4, "0.4"), _rbf(0.8, "0.8"), CKAAngular,
    CCAMean, CCAR2, SVCCAVar, SVCCADims, PWCCA, LinRegYfromX, LinRegXfromY, RidgeYfromX,
    ProcrustesSizeShape, ProcrustesUnit, ProcrustesAngular, _shape(0.0, "0"), _shape(0.5, "0.5"),
    _shape(1.0, "1"), PermutationAngular, RSA, KNNJaccard, MutualKNN, CKNNA, RelativeCosine, RandomScore,
]


@hookimpl
def featbench_register_similarity_measures(register) -> None:
    for cls in MEASURES:
        register.add(cls)
