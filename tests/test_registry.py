"""Plugin discovery: built-ins through entry points, isolation of broken plugins, strict mode, allow/block lists.

Third-party plugins are simulated by real installed-distribution metadata (a ``*.dist-info`` folder with an
``entry_points.txt``) on ``sys.path``, which is exactly what ``pip install`` produces.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import textwrap
from pathlib import Path

import pytest

from bench_core import hookspecs
from bench_core.errors import PluginError, UsageError
from bench_core.registry import load_registry
from conftest import REPO, run_cli

BUILTIN_ENTRY_POINTS = {"datasets-builtin", "selectors-controls", "selectors-filters", "selectors-embedded",
                        "selectors-neural"}

GOOD = """
from bench_core import hookimpl
from bench_core.tracks.selectors import Selector

class ThirdParty(Selector):
    '''A third-party selector.'''
    name = "{name}"
    version = "1"
    def rank(self, X, y, ctx):
        return X.var(axis=0)

@hookimpl
def featbench_register_selectors(register):
    register.add(ThirdParty)
"""

UNKNOWN_HOOK = """
from bench_core import hookimpl

@hookimpl
def featbench_register_widgets(register):
    pass
"""

BAD_DECLARATION = """
from bench_core import hookimpl
from bench_core.tracks.selectors import Selector

class Bad(Selector):
    name = "Has Spaces"
    version = "1"
    def rank(self, X, y, ctx):
        return X.var(axis=0)

@hookimpl
def featbench_register_selectors(register):
    register.add(Bad)
"""


def make_dist(root: Path, dist: str, modules: dict[str, str], entry_points: dict[str, str]) -> None:
    """Write importable modules and an installed distribution's metadata under ``root``."""
    for mod, src in modules.items():
        (root / f"{mod}.py").write_text(textwrap.dedent(src))
    info = root / f"{dist.replace('-', '_')}-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
    eps = "[featbench]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(eps)


@pytest.fixture
def third_parties(tmp_path, monkeypatch):
    make_dist(tmp_path, "fb-good", {"fb_good": GOOD.format(name="third_party")}, {"good": "fb_good"})
    make_dist(tmp_path, "fb-broken", {"fb_broken": "import does_not_exist_anywhere\n"}, {"broken": "fb_broken"})
    make_dist(tmp_path, "fb-dupe", {"fb_dupe": GOOD.format(name="anova_f")}, {"dupe": "fb_dupe"})
    make_dist(tmp_path, "fb-unknown", {"fb_unknown": UNKNOWN_HOOK}, {"unknown-hook": "fb_unknown"})
    make_dist(tmp_path, "fb-baddecl", {"fb_baddecl": BAD_DECLARATION}, {"bad-declaration": "fb_baddecl"})
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    return tmp_path


def _by_name(reg):
    return {p.name: p for p in reg.plugins}


def test_builtins_are_discovered_through_entry_points(registry):
    plugins = _by_name(registry)
    for ep in BUILTIN_ENTRY_POINTS:
        assert plugins[ep].status == "ok", plugins[ep].reason
        assert plugins[ep].dist == "featbench"
    for name in ("random", "oracle", "anova_f", "mutual_info"):
        assert registry.methods["selectors"][name].plugin.dist == "featbench"
    assert {"local", "inline"} <= set(registry.executors)
    assert {"breast_cancer", "classification_small"} <= set(registry.cards)


def test_bench_core_never_imports_plugins():
    offenders = [p for p in (REPO / "bench_core").rglob("*.py")
                 if any(f"{w} {pkg}" in p.read_text() for w in ("import", "from") for pkg in ("plugins", "featbench_builtins"))]
    assert not offenders


def test_broken_plugins_are_listed_and_the_rest_work(third_parties):
    reg = load_registry(strict=False, env={})
    plugins = _by_name(reg)
    assert plugins["good"].status == "ok"
    assert "third_party" in reg.methods["selectors"]
    assert plugins["broken"].status == "broken"
    assert "import failed: ModuleNotFoundError" in plugins["broken"].reason
    assert plugins["dupe"].status == "broken"
    assert "duplicate selectors name 'anova_f'" in plugins["dupe"].reason
    assert reg.methods["selectors"]["anova_f"].plugin.name == "selectors-filters", "the built-in keeps its name"
    assert plugins["unknown-hook"].status == "broken"
    assert "unknown hook 'featbench_register_widgets'" in plugins["unknown-hook"].reason
    assert plugins["bad-declaration"].status == "broken"
    assert "must match" in plugins["bad-declaration"].reason
    for ep in BUILTIN_ENTRY_POINTS:
        assert plugins[ep].status == "ok"


def test_strict_mode_raises(third_parties):
    with pytest.raises(PluginError, match="broken"):
        load_registry(env={"FEATBENCH_STRICT_PLUGINS": "1"})


def test_allow_and_block_lists(third_parties):
    reg = load_registry(env={"FEATBENCH_LOAD_PLUGINS": "good,selectors-controls"})
    status = {p.name: p.status for p in reg.plugins}
    assert status["good"] == "ok" and status["selectors-controls"] == "ok"
    assert status["broken"] == "disabled" and status["selectors-filters"] == "disabled"
    assert set(reg.methods["selectors"]) == {"third_party", "random", "oracle"}
    reg = load_registry(env={"FEATBENCH_DISABLE_PLUGINS": "fb-broken,fb-dupe,fb-unknown,fb-baddecl"})
    assert not reg.broken
    reg = load_registry(env={"FEATBENCH_LOAD_PLUGINS": ""})
    assert not any(reg.methods[t] for t in reg.methods) and not reg.cards
    assert set(reg.executors) == {"local", "inline", "slurm"}, "the core's own executors are always there"


def test_cli_list_shows_broken_plugins_with_reasons(third_parties, cli_env):
    env = dict(cli_env)
    env["PYTHONPATH"] = f"{third_parties}:{env['PYTHONPATH']}"
    proc = run_cli(["list"], env=env)
    assert proc.returncode == 0, proc.stderr
    assert "broken: import failed: ModuleNotFoundError" in proc.stdout
    assert "broken: duplicate selectors name 'anova_f'" in proc.stdout
    assert "third_party" in proc.stdout
    data = json.loads(run_cli(["list", "--json"], env=env).stdout)
    assert data["methods"]["selectors"]["third_party"]["plugin"] == "good"
    env["FEATBENCH_STRICT_PLUGINS"] = "1"
    proc = run_cli(["list"], env=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "broken" in proc.stderr


def test_unknown_names_name_the_valid_choices(registry):
    with pytest.raises(UsageError, match=r"unknown selectors method 'anova'; did you mean 'anova_f'\? \(valid: .*anova_f"):
        registry.method("selectors", "anova")
    with pytest.raises(UsageError, match=r"unknown track 'selector'; did you mean 'selectors'\? \(valid: reducers, saes, selectors, similarity\)"):
        registry.track("selector")
    with pytest.raises(UsageError, match=r"unknown dataset 'breast'"):
        registry.card("breast")


# --- every hook has a test (datasette's rule), and is documented --------------------------------------------

HOOKS = sorted(n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("featbench_"))


def test_every_hook_has_a_test_and_docs():
    module = sys.modules[__name__]
    readme = (REPO / "README.md").read_text()
    for hook in HOOKS:
        assert hasattr(module, f"test_hook_{hook}"), f"hook {hook} has no test_hook_{hook}"
        assert getattr(hookspecs, hook).__doc__, f"hook {hook} has no docstring"
        assert hook in readme, f"hook {hook} is not documented in README.md"


def test_hook_featbench_register_selectors(registry):
    assert registry.methods["selectors"]["anova_f"].plugin.hooks == ["featbench_register_selectors"]


HOOK_MODULE = """
import numpy as np
from bench_core import hookimpl
from bench_core.tracks.saes import SAE
from bench_core.tracks.similarity import SimilarityMeasure
from bench_core.tracks.reducers import Reducer
from bench_core.execute.inline import InlineExecutor

class PCASAE(SAE):
    '''A PCA dictionary (contract test).'''
    name = "pca-dict"
    version = "1"
    def fit(self, acts, ctx):
        import torch
        self.mean = acts.mean(0)
        _, _, v = torch.linalg.svd(acts - self.mean, full_matrices=False)
        self.v = v
    def encode(self, x):
        return (x - self.mean) @ self.v.T
    def decode(self, z):
        return z @ self.v + self.mean
    @property
    def dictionary(self):
        return self.v

class LinearCKA(SimilarityMeasure):
    '''Linear CKA (contract test).'''
    name = "cka-linear-contract-test"
    version = "1"
    invariances = ("orthogonal", "isotropic_scaling", "translation")
    def score(self, X, Y, ctx):
        X = X - X.mean(0); Y = Y - Y.mean(0)
        return float((X.T @ Y).norm() ** 2 / ((X.T @ X).norm() * (Y.T @ Y).norm()))

class FirstTwo(Reducer):
    '''The first two columns (contract test).'''
    name = "first-two"
    version = "1"
    def fit_transform(self, X, n_components, ctx):
        return np.asarray(X)[:, :n_components]

class Serial(InlineExecutor):
    description = "a third-party executor (contract test)"

@hookimpl
def featbench_register_saes(register):
    register.add(PCASAE)

@hookimpl
def featbench_register_similarity_measures(register):
    register.add(LinearCKA)

@hookimpl
def featbench_register_reducers(register):
    register.add(FirstTwo)

@hookimpl
def featbench_register_executors(register):
    register.add("serial", Serial)
"""


@pytest.fixture
def other_kinds(tmp_path, monkeypatch):
    make_dist(tmp_path, "fb-kinds", {"fb_kinds": HOOK_MODULE}, {"kinds": "fb_kinds"})
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    return load_registry(strict=True, env={})


def test_hook_featbench_register_saes(other_kinds):
    from bench_core.testing import run_checks

    cls = other_kinds.method("saes", "pca-dict")
    assert all(r.status == "passed" for r in run_checks(cls)), run_checks(cls)


def test_hook_featbench_register_similarity_measures(other_kinds):
    from bench_core.testing import run_checks

    cls = other_kinds.method("similarity", "cka-linear-contract-test")
    assert all(r.status == "passed" for r in run_checks(cls))


def test_hook_featbench_register_reducers(other_kinds):
    from bench_core.testing import run_checks

    cls = other_kinds.method("reducers", "first-two")
    assert all(r.status == "passed" for r in run_checks(cls))


def test_hook_featbench_register_executors(other_kinds):
    assert other_kinds.executors["serial"].plugin.name == "kinds"


def test_hook_featbench_register_datasets(registry):
    assert registry.cards["breast_cancer"].plugin.name == "datasets-builtin"
    assert "sklearn.breast_cancer" in registry.loaders and "mat" in registry.readers


def test_a_registration_breaking_its_contract_is_refused(tmp_path, monkeypatch):
    src = HOOK_MODULE.replace("register.add(PCASAE)", "register.add(LinearCKA)")
    make_dist(tmp_path, "fb-wrongkind", {"fb_wrongkind": src}, {"wrongkind": "fb_wrongkind"})
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    reg = load_registry(env={})
    info = _by_name(reg)["wrongkind"]
    assert info.status == "broken" and "must subclass bench_core.tracks.saes.SAE" in info.reason
    assert "first-two" not in reg.methods["reducers"], "a broken plugin keeps none of its registrations"


def test_contract_only_tracks_refuse_to_run(cli_env, tmp_path):
    from bench_core.tracks import TRACKS

    pending = sorted(name for name, t in TRACKS.items() if not t.ready)
    if not pending:
        pytest.skip("every track has its protocol")
    proc = run_cli(["run", "--track", pending[0], "--results", str(tmp_path / "r")], env=cli_env)
    assert proc.returncode == 2
    assert "no evaluation protocol yet" in proc.stderr
    assert not (tmp_path / "r").exists()
