"""How MCC on planted_main depends on the training budget (standard: 40,960 tokens). One process, one thread."""
import sys, time, json
import torch
torch.set_num_threads(1)
from bench_core.registry import load_registry
from bench_core.data.dataset import materialise
from bench_core.profiles import get_profile, track_settings
from bench_core.tracks import TRACKS
from bench_core.tracks.base import Context

reg = load_registry()
card = reg.card("planted_main")
ds, _ = materialise(card, reg.loader_fns, reg.reader_fns, None)
track = TRACKS["saes"]
base = track_settings(track, get_profile("standard"))
out = {}
for name, tokens, targets in [("random_topk", 40960, [16]), ("topk", 40960, [16]), ("topk", 163840, [16]),
                              ("topk", 655360, [16]), ("topk", 2621440, [16]),
                              ("jumprelu", 40960, [8, 16]), ("jumprelu", 327680, [8, 16])]:
    cls = reg.method("saes", name)
    s = {**base, "tokens": tokens, "l0_targets": targets, "consistency_l0": []}
    t0 = time.process_time()
    r = track.run(cls(**{**cls.params, **cls.profile_params.get("standard", {})}), ds, 0, s, Context(seed=0))
    row = {k: round(v, 4) for k, v in r.scores.items() if k.split("@")[0] in ("mcc", "fvu", "l0")}
    row["cpu_s"] = round(time.process_time() - t0, 1)
    print(name, tokens, row, flush=True)
    out[f"{name}/{tokens}"] = row
json.dump(out, open(sys.argv[1], "w"), indent=1)
