"""`featbench new-plugin`: the generated package for every track, and what it refuses."""

from __future__ import annotations

import importlib.util
import sys
import tomllib

import pytest

from bench_core.errors import UsageError
from bench_core.scaffold import new_plugin, plan
from bench_core.tracks import TRACKS
from conftest import run_cli

READY = sorted(t for t, tr in TRACKS.items() if tr.ready)


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(name, None)
    return mod


@pytest.mark.parametrize("track", READY)
def test_the_package_of_each_track_declares_its_entry_point_and_a_valid_method(track, tmp_path):
    name = f"gen_{track}"
    root, written = new_plugin(name, track, tmp_path / "pkg")
    rel = sorted(p.relative_to(root).as_posix() for p in written)
    assert rel == [".github/workflows/featbench.yml", "README.md", "pyproject.toml", f"src/{name}/__init__.py",
                   f"src/{name}/plugin.py", "tests/test_conformance.py"]
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert meta["project"]["name"] == name.replace("_", "-")
    assert meta["project"]["entry-points"]["featbench"] == {name: f"{name}.plugin"}
    test_src = (root / "tests" / "test_conformance.py").read_text()
    assert "@parametrize_with_checks([Gen" in test_src and f'registry.method("{track}", "{name}")' in test_src
    compile(test_src, "test_conformance.py", "exec")
    workflow = (root / ".github" / "workflows" / "featbench.yml").read_text()
    assert f"featbench check {name} --track {track}" in workflow and "featbench compare" in workflow
    assert f"--track {track} --method {name}" in workflow and "@@" not in workflow
    mod = _load(root / "src" / name / "plugin.py", f"{name}_plugin")
    cls = getattr(mod, "Gen" + track.capitalize())
    assert cls.name == name and issubclass(cls, TRACKS[track].method_base)
    cls.validate_declaration()
    cls.validate_contract()
    hook = getattr(mod, TRACKS[track].hook)
    added = []
    hook(type("R", (), {"add": staticmethod(added.append)})())
    assert added == [cls]


@pytest.mark.parametrize("track", [t for t in READY if t != "reducers"])
def test_the_generated_method_passes_the_conformance_kit(track, tmp_path):
    """Reducers are left out here (their label-free check runs the protocol's embedding: slow); the author
    loop test installs and checks a generated selectors package through the CLI."""
    from bench_core.testing import run_checks

    root, _ = new_plugin(f"kit_{track}", track, tmp_path / "pkg")
    mod = _load(root / "src" / f"kit_{track}" / "plugin.py", f"kit_{track}_plugin")
    cls = getattr(mod, "Kit" + track.capitalize())
    results = run_checks(cls)
    assert results and all(r.status == "passed" for r in results), [vars(r) for r in results if r.status != "passed"]


def test_the_reducer_skeleton_is_pca():
    """The reducers template's PCA against numpy's covariance eigenvectors (up to sign)."""
    import numpy as np

    from bench_core.tracks.base import Context

    text = plan("pca_gen", "reducers")["src/pca_gen/plugin.py"]
    ns: dict = {}
    exec(compile(text, "plugin.py", "exec"), ns)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5))
    Z = ns["PcaGen"]().fit_transform(X.copy(), 2, Context())
    w, V = np.linalg.eigh(np.cov(X, rowvar=False))
    ref = (X - X.mean(0)) @ V[:, ::-1][:, :2]
    assert np.allclose(np.abs(Z), np.abs(ref), atol=1e-8)


@pytest.mark.parametrize("name, track, message", [
    ("My", "selectors", "bad plugin name 'My'"),
    ("a-b", "selectors", "bad plugin name 'a-b'"),
    ("", "selectors", "bad plugin name ''"),
    ("ok", "nope", "unknown track 'nope' (valid: " + ", ".join(READY) + ")"),
])
def test_bad_names_and_tracks_are_refused(name, track, message):
    with pytest.raises(UsageError) as exc:
        plan(name, track)
    assert str(exc.value).startswith(message)


def test_cli_refuses_a_non_empty_folder_a_taken_name_and_writes_nothing(tmp_path, cli_env):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    proc = run_cli(["new-plugin", "fresh", "--track", "selectors", "--dir", str(target)], env=cli_env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "exists and is not empty" in proc.stderr
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
    proc = run_cli(["new-plugin", "chi2", "--track", "selectors", "--dir", str(tmp_path / "x")], env=cli_env)
    assert proc.returncode == 2 and "a selectors method named 'chi2' already exists" in proc.stderr
    proc = run_cli(["new-plugin", "Bad", "--track", "selectors", "--dir", str(tmp_path / "y")], env=cli_env)
    assert proc.returncode == 2 and proc.stderr.startswith("featbench: error: bad plugin name 'Bad'")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    proc = run_cli(["new-plugin", "fresh", "--track", "saes", "--dir", str(tmp_path / "ok")], env=cli_env)
    assert proc.returncode == 0 and (tmp_path / "ok" / "src" / "fresh" / "plugin.py").is_file()
