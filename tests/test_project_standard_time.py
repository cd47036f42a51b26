"""tools/project_standard_time.py: the projection from a board, with measured fits replacing a changed
method's, checked on a hand-made board whose every figure is computed below by hand."""

from __future__ import annotations

import importlib.util
import json

from conftest import REPO


def _tool():
    spec = importlib.util.spec_from_file_location("project_standard_time", REPO / "tools" / "project_standard_time.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cell(method, fit_s, statuses):
    return {"method": method, "fit_s": fit_s, "statuses": statuses}


def test_projection_with_measured_fits(tmp_path, capsys):
    board = {"datasets": {
        "ds1": {"cells": [_cell("stg", 12.0, {"done": 1}), _cell("concrete_autoencoder", 99.0, {"done": 1}),
                          _cell("anova_f", 6.0, {"done": 1}), _cell("lassonet", None, {"timeout": 1})]},
        "ds2": {"cells": [_cell("concrete_autoencoder", None, {"timeout": 1})]},
    }}
    zero = {"logreg_curve": 0.0, "extratrees_curve": 0.0, "logreg_all": 0.0, "extratrees_all": 0.0, "nk": 4}
    fits = [
        {"dataset": "ds1", "method": "stg", "fit_cpu": 8.0, "refit_cpu": 8.0},  # load factor 12 / 8 = 1.5
        {"dataset": "ds1", "method": "concrete_autoencoder", "fit_cpu": 16.0, "refit_cpu": 1.2},
        {"dataset": "ds2", "method": "concrete_autoencoder", "fit_cpu": 30.0, "refit_cpu": 3.0},
    ]
    paths = {}
    for name, rows in (("evaluators", [{"dataset": d, **zero} for d in ("ds1", "ds2")]), ("fits", fits)):
        paths[name] = tmp_path / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(r) + "\n" for r in rows))
    paths["board"] = tmp_path / "board.json"
    paths["board"].write_text(json.dumps(board))
    rc = _tool().main(["project", "--board", str(paths["board"]), "--evaluators", str(paths["evaluators"]),
                       "--seeds", "1", "--workers", "1", "--fits", str(paths["fits"]),
                       "--replace", "concrete_autoencoder", "--load-ref", "stg", "--by-method"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "load factor 1.50" in out
    # fits: stg 12 + concrete 16 x 1.5 = 24 (its board 99 s is not used) + anova_f 6 = 42 s = 0.7 min
    assert "| fits | 0.7 |" in out
    # stability: concrete's refit 1.2 x 1.5 = 1.8 s, 10 refits = 18 <= 22.5: 10 x 0.9 x 1.8 = 16.2 s; stg (12 s)
    # and anova_f (6 s) are over the budget: 2 cells skipped
    assert "| stability (M = 10, budget 22.5 s; 2 cells skipped) | 0.3 |" in out
    # timeouts: lassonet's (board) and concrete on ds2 (30 x 1.5 = 45 s > the 30 s step limit): 2 x 30-150 s
    assert "| timeouts (2 cells × 30–150 s) | 1.0–5.0 |" in out
    # concrete_autoencoder: 24 + 16.2 + 30 = 70.2 s = 1.2 min; neural class adds stg's 12 s (0.2) and
    # lassonet's timeout (0.5): fits 36 s, stability 16.2 s, timeouts 60 s
    assert "| concrete_autoencoder | 0.4 | 0.3 | 0.5 | 1.2 |" in out
    assert "| neural | 0.6 | 0.3 | 1.0 | 1.9 |" in out
    assert "| other selectors | 0.1 | 0.0 | 0.0 | 0.1 |" in out


def test_replace_needs_fits_and_reference(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit) as exc:
        _tool().main(["project", "--board", "b", "--evaluators", "e", "--replace", "stg"])
    assert exc.value.code == 2
    assert "--replace needs --fits and --load-ref" in capsys.readouterr().err


def test_given_load_factor(tmp_path, capsys):
    board = {"datasets": {"ds1": {"cells": [_cell("concrete_autoencoder", 99.0, {"done": 1})]}}}
    ev = {"dataset": "ds1", "logreg_curve": 0.0, "extratrees_curve": 0.0, "logreg_all": 0.0, "extratrees_all": 0.0,
          "nk": 4}
    fit = {"dataset": "ds1", "method": "concrete_autoencoder", "fit_cpu": 10.0, "refit_cpu": 5.0}
    (tmp_path / "b.json").write_text(json.dumps(board))
    (tmp_path / "e.jsonl").write_text(json.dumps(ev) + "\n")
    (tmp_path / "f.jsonl").write_text(json.dumps(fit) + "\n")
    assert _tool().main(["project", "--board", str(tmp_path / "b.json"), "--evaluators", str(tmp_path / "e.jsonl"),
                         "--seeds", "1", "--workers", "1", "--fits", str(tmp_path / "f.jsonl"),
                         "--replace", "concrete_autoencoder", "--load-factor", "2.4"]) == 0
    out = capsys.readouterr().out
    # 10 CPU s x 2.4 = 24 s = 0.4 min; one refit 12 s: 10 refits over the 22.5 s budget, skipped
    assert "load factor 2.40, given" in out and "| fits | 0.4 |" in out and "1 cells skipped) | 0.0 |" in out
