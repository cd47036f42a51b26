"""The reducers track: the :class:`Reducer` contract and the one fixed evaluation protocol.

Contract
========
A reducer subclasses :class:`Reducer` and implements ``fit_transform(X, n_components, ctx) -> Z``: a finite
float array ``[n, n_components]`` for the data ``X [n, d]`` (float64 or float32, a fresh copy of the
training rows). A reducer that can embed new points also implements ``transform(X) -> Z`` after
``fit_transform`` (:meth:`Reducer.supports_transform` then says so). Reducers never see labels: the
protocol uses them only to score. A reducer must be deterministic given ``ctx.seed``. Only a method whose
tags require ``latent_coordinates`` (the positive control) receives ``ctx.latent``, the known intrinsic
coordinates of the rows it is given.

Protocol (version 2)
====================
For each job (method, dataset, split ``s``, seed ``s``):

0. **Rows**: the split's training rows, capped at ``max_train_rows`` (``None``: every row), and its test
   rows, capped at ``max_test_rows``: each cap a seeded stratified subsample of that part of the split
   (:func:`bench_core.data.subsample.cap_split`: every class keeps its share, rounded down or up; drawn
   from the card's split seed, the split index and the part only, so every method of a split gets the same
   rows, whatever its own seed). A part no larger than its cap is used whole. Every later step, the latent
   coordinates and the labels included, sees only these rows. Only the ``standard`` profile caps (1,000 /
   250: see *Standard budget*); ``smoke`` and ``quick`` run their small cards whole and ``full`` runs every
   card at its own size.
1. **Fit**: ``fit_transform`` on the training rows, to ``n_components = 2``; its wall time is
   ``fit_time_s``. Output that is not a finite ``[n_train, 2]`` array is ``invalid``.
2. **Scores against the ambient space** (:func:`bench_core.metrics.neighbours.all_scores`, on
   ``ctx.device``): ``trustworthiness@k`` and ``continuity@k`` (k in ``ks``, default 7 and 15), ``qnx@k``,
   ``rnx_auc`` (R_NX over log k, k = 1..``auc_k``), ``nh@k`` and ``knn_acc@k`` (labels used here only),
   ``shepard`` and ``stress`` (scale-normalised) on ``pairs`` sampled pairs, ``rta`` (``triplets`` per
   point), ``cta`` (class centroids; on hierarchical data also ``cta_coarse`` from
   ``Dataset.arrays["labels_coarse"]``). The sampled scores carry their standard error (``*_se``). The
   pairs and triplets are drawn with ``sample_seed`` (the same for every method and seed of a dataset), so
   methods are compared on the same sample.
3. **Scores against the intrinsic coordinates** on data that records them (``arrays["latent"]``): the same
   panel with ``X`` replaced by the latent coordinates of the training rows, prefixed ``intrinsic_``.
   Ambient distances penalise a correct unrolling (Isomap on a Swiss roll loses to PCA on ambient triplets);
   intrinsic ones do not.
4. **Out-of-sample** (reducers with ``transform``, when ``out_of_sample`` is set): ``transform`` the test
   rows and score them against the test rows' input, prefixed ``oos_`` (labels: the test rows' own).
5. **Primary score** ``structure`` = mean of ``local`` and ``global``, each on a chance-corrected scale
   (0 for an embedding unrelated to the data, 1 for a perfect one):

   - ``local`` = mean(2·T − 1, 2·C − 1, R_NX AUC), T and C averaged over ``ks``;
   - ``global`` = mean(2·RTA − 1, Shepard ρ).

   A blend hides the local/global trade-off (t-SNE and UMAP win on local, PCA and MDS on global), so the
   leaderboard shows ``local`` and ``global`` and their parts beside it. ``intrinsic_structure`` and
   ``oos_structure`` are the same aggregate on the intrinsic and out-of-sample panels.

Timing and memory: the harness records ``fit_time_s`` (step 1 only), the job's CPU seconds
(``timing.cpu_s``) and its peak memory; the scoring time is ``outputs["score_time_s"]``.

Versions
========
1. The protocol above without step 0: every training and test row of the split.
2. Step 0, the row caps ``max_train_rows`` / ``max_test_rows`` (settings; ``None`` by default). Results of
   profiles that do not cap (``smoke``, ``quick``, ``full``) are the same as under version 1; only their
   job keys changed.

Standard budget
===============
The issue's budget for ``standard``: every data set (34 cards of tier smoke, quick or standard), 3 seeds
(the seed also picks the split, so the deterministic reducers run 3 times too: 1,653 jobs), at most 60
minutes of wall time with ``-j 2`` on 2 cores, i.e. about 7,000 CPU-seconds of jobs with their scoring.
Uncapped, one seed of ``survey_epileptic`` (4,600 training rows) alone took 823 s of fits on one worker (MDS
123 s, UMAP 112, LargeVis 75, t-SNE 62, ...; wall times on a loaded machine) and ``mammoth`` (8,000) 894 s:
several hours for the profile. So ``standard`` caps one fit at **1,000 training rows** and the out-of-sample
step at **250 test rows** (step 0; the split's 4:1 ratio), and runs every card and every method with its
own parameters; ``full`` keeps each card's full size. Per-method budgets were measured as well and not
taken (seed 0, capped data; Δ = change of ``structure``):

- LargeVis with 2,000 instead of 10,000 samples per point: 4x cheaper, but Δ −0.06 (epileptic), −0.11
  (MNIST), −0.06 (Swiss roll): a different method, refused;
- UMAP ``n_epochs = 200`` (umap-learn's own default above 10,000 rows): 25 % cheaper, Δ −0.011, −0.008,
  +0.001; scikit-learn t-SNE ``max_iter = 750`` (openTSNE's 250 + 500 schedule): 20 % cheaper, Δ +0.003,
  +0.002, +0.003; autoencoder 100 epochs / 1,000 steps: 2x cheaper, Δ −0.011, +0.001, −0.003; TLDR 50
  epochs / 750 steps: 2x cheaper, Δ +0.014, −0.000, −0.014: all within the budget's margin without them,
  so the methods keep their own parameters (a reserve if the profile grows).

Measured: a seed-0 run (``featbench run --track reducers --profile standard --seeds 1 -j 1 --threads 1``,
commit e4445d5) of six cards, CPU seconds of each job (``timing.cpu_s``: fit and every scoring step, the
method process included) on a machine loaded by other work (CPU seconds, not wall)::

   method                epilept.   mnist  mammoth   swiss  swiss_s    orl  projected (3 seeds)
   autoencoder             4.53    8.51    3.37    3.68    3.91    5.88     614
   tldr                    4.23    5.11    4.49    4.50    4.61    4.62     543
   largevis                5.35    4.85    4.62    5.20    3.47    1.50     538
   tsne_sklearn            5.19    3.90    3.17    3.39    2.22    0.93     454
   opentsne                3.39    3.42    2.97    3.05    1.84    1.08     383
   umap                    2.35    2.80    2.17    2.30    1.31    1.78     323
   mds                     1.47    1.61    0.44    0.68    0.60    0.30     203
   trimap                  0.71    0.99    0.67    0.81    0.65    0.48     174
   isomap                  0.51    1.00    0.39    0.58    0.47    0.42     160
   lle                     0.46    0.92    0.34    0.48    0.45    0.42     155
   kernel_pca              0.33    0.83    0.27    0.42    0.39    0.39     147
   pca                     0.31    0.88    0.23    0.35    0.38    0.41     146
   pacmap                  0.40    0.63    0.37    0.45    0.43    0.30     145
   random_projection       0.34    0.67    0.25    0.36    0.40    0.42     143
   diffusion_maps          0.21    0.51    0.17    0.29    0.27    0.29     131
   laplacian_eigenmaps     0.25    0.48    0.14    0.29    0.29    0.25     130
   true_coordinates           -       -       -    0.28    0.26       -      26
   total (one seed)        30.0    37.1    24.1    27.1    21.9    19.5   4,416

(``survey_epileptic`` 1,000 of 4,600 rows, d = 178; ``mnist_embed`` 1,000 of 4,000, d = 784; ``mammoth``
1,000 of 8,000, d = 3; ``swiss_roll`` 1,000 of 4,000 with the intrinsic panel; ``swiss_roll_small`` 640;
``survey_orl`` 328, d = 396.) The projection (``tools/project_reducers_standard.py project``) costs each of
the 34 cards by the measured card nearest in (rows after the cap, dimension; manifolds by manifolds), linear
in the rows, plus 1 CPU-second per job for the worker's time outside the job (the quick reducers run,
cold, with -j 2: 172 worker-seconds for 134 jobs of 35 CPU-seconds, about 1 s per job outside the jobs'
own count): **4,416 CPU-seconds for the 1,653 jobs** (2,763 in the jobs, 1,653 of overhead), i.e. **74
worker-minutes, about 37 minutes of wall time with -j 2** on 2 cores, against the 60-minute budget (target
≤ 100 worker-minutes). A check of the proxies at the high-dimension end: ``survey_hiva`` (d = 1,617,
costed as MNIST) measured for five methods took 28.7 CPU-s where MNIST took 20.7 (autoencoder 13.8 vs 8.5,
TLDR 5.8 vs 5.1, openTSNE 4.2 vs 3.4, UMAP 3.4 vs 2.8, PCA 1.5 vs 0.9): even if all eight cards costed as
MNIST were 39 % dearer in every method, the total would be about 4,710 CPU-s (79 worker-minutes). The
largest job measured (the autoencoder on ``survey_hiva``, 13.8 CPU-s) is inside the profile's 30-s step
limit. Measured since: the whole profile, one run of d6c5580 with ``-j 2`` on 2 quiet cores, cold cache, took
**21 min 23 s** of wall time for the 1,653 jobs (all done; 41.9 worker-minutes in jobs, 39.4 CPU-minutes): the
projection above was high by about 1.8x, mostly its assumed 1 CPU-s per job outside the jobs (1,653 CPU-s):
in this run the two workers spent about 1 worker-minute in all outside the jobs (2 × 21.4 min of wall time
against 41.9 worker-minutes in jobs).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

import numpy as np

from bench_core.errors import DeclarationError, InvalidOutput, UsageError
from bench_core.tracks.base import Context, JobOutput, Method, Score, Tags, Track

if TYPE_CHECKING:  # pragma: no cover
    from bench_core.data.dataset import Dataset


class Reducer(Method):
    """A dimensionality reducer. Implement ``fit_transform`` (and optionally ``transform``)."""

    kind: ClassVar[str] = "reducers"
    tags: ClassVar[Tags] = Tags(supervised=False)
    #: True when ``transform`` of the training rows reproduces ``fit_transform`` (linear maps); the
    #: conformance kit then checks equality, otherwise a neighbourhood overlap.
    transform_exact: ClassVar[bool] = False

    def fit_transform(self, X, n_components: int, ctx: Context):
        """Embed ``X [n, d]`` into ``[n, n_components]``."""
        raise TypeError(f"{type(self).name} does not implement fit_transform()")

    def transform(self, X):
        """Embed new points with the fitted reducer (optional)."""
        raise TypeError(f"{type(self).name} cannot embed new points")

    @classmethod
    def supports_transform(cls) -> bool:
        return cls.transform is not Reducer.transform

    @classmethod
    def validate_contract(cls) -> None:
        if cls.fit_transform is Reducer.fit_transform:
            raise DeclarationError(f"reducer {cls.name!r} must implement fit_transform()")
        if cls.tags.supervised:
            raise DeclarationError(f"reducer {cls.name!r}: reducers are unsupervised (tags.supervised must be False)")


def validate_embedding(Z: Any, n: int, m: int, what: str = "fit_transform()") -> np.ndarray:
    """The contract of a reducer's output; raises :class:`InvalidOutput` naming the violation."""
    try:
        arr = np.asarray(Z)
    except Exception as exc:  # noqa: BLE001 - e.g. a torch tensor on a GPU
        raise InvalidOutput(f"{what} returned something that is not an array ({exc})") from None
    if arr.dtype.kind not in "fiu":
        raise InvalidOutput(f"{what} returned dtype {arr.dtype}, expected a float array")
    if arr.shape != (n, m):
        raise InvalidOutput(f"{what} returned shape {arr.shape}, expected ({n}, {m})")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise InvalidOutput(f"{what} returned {int(np.sum(~np.isfinite(arr)))} non-finite value(s)")
    return arr


def local_global(s: Mapping[str, float], ks, prefix: str = "") -> dict[str, float]:
    """``local``, ``global`` and ``structure`` (protocol step 5) from a panel of scores."""
    T = np.mean([s[f"{prefix}trustworthiness@{k}"] for k in ks])
    C = np.mean([s[f"{prefix}continuity@{k}"] for k in ks])
    local = float(np.mean([2 * T - 1, 2 * C - 1, s[f"{prefix}rnx_auc"]]))
    glob = float(np.mean([2 * s[f"{prefix}rta"] - 1, s[f"{prefix}shepard"]]))
    return {f"{prefix}local": local, f"{prefix}global": glob, f"{prefix}structure": 0.5 * (local + glob)}


#: The smallest row cap: the scores need ``2·max(ks) + 2`` rows (k = 15) and the cap must leave every class of
#: a small card some rows.
MIN_CAP_ROWS = 50


class ReducersTrack(Track):
    name = "reducers"
    hook = "featbench_register_reducers"
    method_base = Reducer
    protocol_version = 2
    task = "embedding"
    #: manifolds with known intrinsic coordinates and real data get separate overall tables
    ground_truth_property = "latent_coordinates"
    #: the exact k-NN pass of the scores (O(n²)) ran 13-60x faster on an H100 at n = 70,000 (issue 8)
    cuda_kernel_min_size = 50_000
    primary = Score("structure", "mean of local (T, C, R_NX AUC) and global (triplets, Shepard) structure, "
                                 "each chance-corrected to [0 = unrelated, 1 = perfect]")
    scores = (
        Score("local", "mean(2T − 1, 2C − 1, R_NX AUC), T and C averaged over k"),
        Score("global", "mean(2·RTA − 1, Shepard ρ)"),
        Score("trustworthiness@<k>", "Venna & Kaski trustworthiness (minimum-rank tie rule)"),
        Score("continuity@<k>", "Venna & Kaski continuity"),
        Score("qnx@<k>", "k-NN recall Q_NX(k)"),
        Score("rnx_auc", "area under R_NX over log k, k = 1..auc_k"),
        Score("nh@<k>", "neighbourhood hit (labels)"),
        Score("knn_acc@<k>", "leave-one-out k-NN accuracy in the embedding (labels)"),
        Score("shepard", "Spearman ρ of sampled pair distances"),
        Score("stress", "scale-normalised stress on sampled pairs", higher_is_better=False),
        Score("rta", "random-triplet accuracy"),
        Score("cta", "centroid-triplet accuracy (class means)"),
        Score("cta_coarse", "centroid-triplet accuracy of the coarse classes (hierarchical data)"),
        Score("intrinsic_<score>", "the score against the known intrinsic coordinates (manifolds)"),
        Score("oos_<score>", "the score of transform() on the test rows"),
    )

    def default_settings(self) -> dict[str, Any]:
        return {
            "n_components": 2,
            "ks": [7, 15],
            "auc_k": 100,
            "pairs": 200_000,
            "triplets": 5,
            "sample_seed": 0,
            "out_of_sample": True,
            "max_train_rows": None,
            "max_test_rows": None,
        }

    def validate_settings(self, settings: Mapping[str, Any]) -> None:
        """Refuse a row cap that is not ``None`` or an integer ≥ :data:`MIN_CAP_ROWS` (one line, naming the
        setting and the valid values)."""
        for key in ("max_train_rows", "max_test_rows"):
            v = settings.get(key)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < MIN_CAP_ROWS:
                raise UsageError(f"reducers setting {key} must be None (no cap) or an integer >= {MIN_CAP_ROWS}, "
                                 f"not {v!r}")

    def leaderboard_columns(self) -> list[tuple[str, str]]:
        return [
            ("local", "local"),
            ("global", "global"),
            ("trustworthiness@7", "T(7)"),
            ("continuity@7", "C(7)"),
            ("rnx_auc", "R_NX AUC"),
            ("knn_acc@15", "kNN acc"),
            ("rta", "RTA"),
            ("shepard", "Shepard ρ"),
            ("stress", "stress"),
            ("intrinsic_structure", "intrinsic"),
            ("oos_structure", "out-of-sample"),
        ]

    # ------------------------------------------------------------------------------------------ protocol
    def _panel(self, X, Z, y, settings, ctx: Context, coarse=None, prefix: str = "") -> dict[str, float]:
        from bench_core.metrics.neighbours import all_scores, centroid_triplet_accuracy

        ks = [k for k in settings["ks"] if k < X.shape[0] / 2]
        s = all_scores(X, Z, labels=y, settings={**settings, "ks": ks, "label_ks": ks}, device=ctx.device,
                       seed=int(settings["sample_seed"]))
        if coarse is not None:
            c = centroid_triplet_accuracy(X, Z, coarse)
            if np.isfinite(c):
                s["cta_coarse"] = c
        s.update(local_global(s, ks))
        return {f"{prefix}{k}": float(v) for k, v in s.items()}

    def run(self, method: Method, dataset: "Dataset", split: int, settings: Mapping[str, Any], ctx: Context) -> JobOutput:
        from bench_core.data.subsample import cap_split

        assert isinstance(method, Reducer)
        self.validate_settings(settings)
        sp = cap_split(dataset.split(split), settings.get("max_train_rows"), settings.get("max_test_rows"),
                       dataset.card.split.seed, split)
        m = int(settings["n_components"])
        latent = dataset.arrays.get("latent")
        coarse = dataset.arrays.get("labels_coarse")
        if "latent_coordinates" in method.tags.requires:
            ctx = replace(ctx, latent=None if latent is None else latent[sp.train_idx].copy())

        t0 = time.perf_counter()
        Z = validate_embedding(method.fit_transform(sp.X_train.copy(), m, ctx), len(sp.X_train), m)
        fit_time = time.perf_counter() - t0
        ctx.step("fit")

        t1 = time.perf_counter()
        ctr = None if coarse is None else coarse[sp.train_idx]
        scores = self._panel(sp.X_train, Z, sp.y_train, settings, ctx, ctr)
        ctx.step("scores")
        if latent is not None:
            scores.update(self._panel(latent[sp.train_idx], Z, sp.y_train, settings, ctx, ctr, "intrinsic_"))
            ctx.step("intrinsic scores")
        outputs: dict[str, Any] = {}
        if settings["out_of_sample"] and method.supports_transform() and len(sp.X_test) >= 2 * max(settings["ks"]) + 2:
            Zt = validate_embedding(method.transform(sp.X_test.copy()), len(sp.X_test), m, "transform()")
            cte = None if coarse is None else coarse[sp.test_idx]
            scores.update(self._panel(sp.X_test, Zt, sp.y_test, settings, ctx, cte, "oos_"))
            ctx.step("out-of-sample scores")
        elif not method.supports_transform():
            outputs["oos_structure_skipped"] = "the reducer cannot embed new points (no transform())"
        outputs["score_time_s"] = time.perf_counter() - t1
        return JobOutput(scores=scores, fit_time_s=fit_time, outputs=outputs)
