"""A synthetic board for the HTML report's tests: every track, 30 methods (2 controls), datasets of unequal
difficulty, two seeds, curve points, a failed cell, a cell short of a seed, a negative zero peak memory and
an integer-valued count column. The numbers are made up; only their layout matters here."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from bench_core.store import ErrorInfo, Memory, Provenance, ResultRecord, Timing
from bench_core.tracks import TRACKS

CURVE_SCORES = {"selectors": ("bacc@k={x}[logreg]", (1, 2, 5, 10, 20, 50)),
                "saes": ("fvu@L0={x}", (4, 8, 16, 32, 64))}


@dataclass
class FakeCard:
    name: str
    properties: tuple = ()
    task: str = "classification"
    split: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(count=2))

    @property
    def fingerprint(self) -> str:
        return f"fp-{self.name}".ljust(32, "0")


class FakeRegistry:
    """What the leaderboard asks a registry: methods (version, params, control tag) and dataset cards."""

    def __init__(self, methods: dict[str, dict[str, str | None]], cards: list[FakeCard]):
        self.methods = {t: {m: SimpleNamespace(obj=SimpleNamespace(
            name=m, kind=t, version="1", params={}, profile_params={}, grid={}, tags=SimpleNamespace(control=ctl)))
            for m, ctl in ms.items()} for t, ms in methods.items()}
        self.cards = {c.name: c for c in cards}

    def method(self, track, name):
        return self.methods[track][name].obj

    def card(self, name):
        return self.cards[name]


def method_names(n: int) -> list[str]:
    return ["truth", "random"] + [f"method_{i:02d}" for i in range(n - 2)]


def _record(track, dataset, method, seed, status, scores, peak):
    t = TRACKS[track]
    return ResultRecord(
        schema_version=1, key=f"{track}-{dataset}-{method}-{seed}".replace("_", "-").ljust(40, "0"), status=status,
        track=track, method=method, method_version="1", variant=method, params={}, dataset=dataset,
        dataset_fingerprint=f"fp-{dataset}".ljust(32, "0"), split=seed, seed=seed, profile="quick",
        protocol_version=t.protocol_version, settings={}, scores=scores if status == "done" else {},
        timing=Timing(wall_s=1.0, job_s=0.9, fit_s=0.01 * (1 + seed)), memory=Memory(peak_delta_mb=peak),
        provenance=Provenance(featbench="0.1.0", plugin={"name": "p"}, git_commit="abc123def4567890",
                              git_dirty=False, executor="local", device="cpu", hardware={}, environment={},
                              started_at="2026-11-23T10:00:00+00:00", finished_at="2026-11-23T10:00:01+00:00"),
        error=None if status == "done" else ErrorInfo(type=status, message=f"{status} happened"),
    ).to_json()


def synthetic(n_methods: int = 30, n_datasets: int = 6, seeds: int = 2):
    """(records, registry) for every track; see the module docstring."""
    rng = np.random.default_rng(0)
    names = method_names(n_methods)
    control = {"truth": "positive", "random": "negative"}
    records, cards, methods = [], [], {}
    for t, track in TRACKS.items():
        higher = track.primary.higher_is_better
        methods[t] = {m: control.get(m) for m in names}
        quality = {m: (0.95 if m == "truth" else 0.1 if m == "random" else rng.uniform(0.3, 0.9)) for m in names}
        for j in range(n_datasets):
            ds = f"{t}_data_{j}"
            prop = track.ground_truth_property
            cards.append(FakeCard(ds, properties=(prop,) if prop and j % 2 == 0 else ()))
            difficulty = 0.5 * j / max(1, n_datasets - 1)  # hard datasets squeeze every score
            for m in names:
                for s in range(seeds):
                    if m == "method_03" and j == 1:
                        records.append(_record(t, ds, m, s, "timeout", {}, 1.0))
                        continue
                    if m == "method_04" and j == 2 and s == 1:
                        continue  # short of a seed
                    q = float(np.clip(quality[m] * (1 - difficulty) + rng.normal(0, 0.01), 0, 1))
                    v = q if higher else 1 - q
                    scores = {track.primary.name: v}
                    for score, _h in track.leaderboard_columns():
                        declared = track.score(score)
                        scores[score] = float(round(20 * (1 - q))) if declared and declared.integer else v
                    if t in CURVE_SCORES:
                        pattern, xs = CURVE_SCORES[t]
                        for x in xs:
                            y = q * (1 - np.exp(-x / 8)) if higher else 1 - q * (1 - np.exp(-x / 8))
                            scores[pattern.format(x=x)] = float(y)
                    peak = -0.3 if m == "method_05" else 5.0 + s
                    records.append(_record(t, ds, m, s, "done", scores, peak))
    return records, FakeRegistry(methods, cards)
