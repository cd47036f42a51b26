"""How the SAE track's scores on planted_main depend on the training budget (``standard``: 40,960 tokens).

Runs the track's protocol in one process on one thread (split 0, seed 0, the standard profile's settings but
for ``tokens``, the L0 targets listed and no consistency refit) for the random dictionary, TopK at four token
budgets and JumpReLU at two, and prints MCC, FVU, the achieved L0 and the CPU seconds of each run; the figures
quoted in the SAE track's docstring ("What the budget costs in quality") come from it.

Usage: ``python tools/sae_tokens_curve.py OUT.json`` (a few minutes on one core).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

_TOOLS = str(Path(__file__).resolve().parent)  # tools/_projection.py is beside this file
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)
import _projection as P  # noqa: E402

RUNS = [("random_topk", 40_960, [16]), ("topk", 40_960, [16]), ("topk", 163_840, [16]), ("topk", 655_360, [16]),
        ("topk", 2_621_440, [16]), ("jumprelu", 40_960, [8, 16]), ("jumprelu", 327_680, [8, 16])]


def main(out_path: str) -> None:
    P.pin_one_thread()
    import torch

    from bench_core.profiles import get_profile, track_settings
    from bench_core.registry import load_registry
    from bench_core.tracks import TRACKS
    from bench_core.tracks.base import Context

    torch.set_num_threads(1)
    reg = load_registry()
    ds = P.load_dataset(reg, reg.card("planted_main"))
    track = TRACKS["saes"]
    base = track_settings(track, get_profile("standard"))
    out = {}
    for name, tokens, targets in RUNS:
        cls = reg.method("saes", name)
        settings = {**base, "tokens": tokens, "l0_targets": targets, "consistency_l0": []}
        t0 = time.process_time()
        r = track.run(cls(**{**cls.params, **cls.profile_params.get("standard", {})}), ds, 0, settings,
                      Context(seed=0))
        row = {k: round(v, 4) for k, v in r.scores.items() if k.split("@")[0] in ("mcc", "fvu", "l0")}
        row["cpu_s"] = round(time.process_time() - t0, 1)
        print(name, tokens, row, flush=True)
        out[f"{name}/{tokens}"] = row
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/sae_tokens_curve.py OUT.json")
    main(sys.argv[1])
