"""What ``--method`` and ``--dataset`` select: names, glob patterns and parameter variants.

A ``--method`` item is ``NAME``, a glob ``PATTERN`` (``mrmr*``, ``*_sae``, ``fault-?``; :mod:`fnmatch`
syntax, matched against the method names of the selected tracks), or either followed by parameter overrides
in brackets: ``sfm[C=1]``, ``'lasso[alpha=0.1,max_iter=500]'``. Several items are given comma-separated
(commas inside brackets belong to the item) or by repeating the option.

Parameter values are parsed as the type of the method's declared default: ``int`` (``C=1``), ``float``
(``1e-3``), ``bool`` (``true``/``false``, ``1``/``0``, ``yes``/``no``), ``str`` (taken as written, or a JSON
string in quotes); a parameter whose default is ``None``, a list or a mapping takes a JSON value (``null``,
``[1,2]``). An unknown parameter, or a value that does not parse as the declared type, is bad input (one
line naming the valid parameters, exit status 2).

A variant runs exactly like a grid variant of the ``full`` profile: its parameters are the method's defaults
with the profile's ``profile_params`` and the overrides on top; they are part of the job key, and the
leaderboard labels the row ``name[p=v,...]`` with the parameters that differ from the defaults
(:func:`bench_core.tracks.base.variant_id`). A plain name runs what the profile runs (the defaults, or the
sweep grid on a sweeping profile).

A pattern that matches nothing, like an unknown name, is bad input; the message puts the closest name
first ("did you mean").
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any, Iterable, Mapping, Sequence

from bench_core.errors import UsageError

_ITEM = re.compile(r"^(?P<name>[^\[\]]+?)\s*(?:\[(?P<params>[^\[\]]*)\])?$")
_GLOB = re.compile(r"[*?\[]")


def split_items(text: str) -> list[str]:
    """Split ``text`` at the commas outside brackets (``"a,b[x=1,y=2]"`` -> ``["a", "b[x=1,y=2]"]``)."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return out


def is_pattern(name: str) -> bool:
    return bool(_GLOB.search(name))


def closest_first(kind: str, name: str, valid: Iterable[str], *, pattern: bool = False) -> UsageError:
    """``unknown KIND 'name'; did you mean 'x'? (valid: ...)`` (the hint first, then the choices)."""
    from bench_core.registry import did_you_mean

    valid = sorted(valid)
    probe = name.replace("*", "").replace("?", "") if pattern else name
    hint = did_you_mean(probe, valid) if probe else ""
    what = f"no {kind} matches {name!r}" if pattern else f"unknown {kind} {name!r}"
    return UsageError(f"{what}{hint} (valid: {', '.join(valid) or 'none'})")


def expand_names(kind: str, requested: Sequence[str], valid: Iterable[str]) -> list[str]:
    """Names and glob patterns -> the matching names, in request order, each once."""
    valid = sorted(set(valid))
    out: list[str] = []
    for item in requested:
        if is_pattern(item):
            hits = fnmatch.filter(valid, item)
            if not hits:
                raise closest_first(kind, item, valid, pattern=True)
            out.extend(hits)
        elif item in valid:
            out.append(item)
        else:
            raise closest_first(kind, item, valid)
    return list(dict.fromkeys(out))


def parse_value(method: str, param: str, text: str, default: Any) -> Any:
    """``text`` as the type of ``default`` (see the module docstring)."""
    t = text.strip()
    try:
        if isinstance(default, bool):
            low = t.lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(t)
        if isinstance(default, float):
            v = float(t)
            if v != v or v in (float("inf"), float("-inf")):
                raise ValueError
            return v
        if isinstance(default, str):
            if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
                return t[1:-1]
            return t
        return json.loads(t)
    except ValueError:
        kind = type(default).__name__ if default is not None else "JSON value"
        raise UsageError(f"method {method!r}: parameter {param}={text!r} is not a valid {kind} "
                         f"(its default is {json.dumps(default)})") from None


def parse_overrides(cls, text: str) -> dict[str, Any]:
    """``"C=1,penalty=l1"`` -> ``{"C": 1, "penalty": "l1"}`` typed by ``cls.params``."""
    declared: Mapping[str, Any] = cls.params
    valid = ", ".join(sorted(declared)) or "none"
    out: dict[str, Any] = {}
    for part in split_items(text):
        if not part:
            raise UsageError(f"method {cls.name!r}: empty parameter in [{text}] (write name[p=v,q=w]; "
                             f"valid parameters: {valid})")
        if "=" not in part:
            raise UsageError(f"method {cls.name!r}: parameter {part!r} needs a value (p=v; valid parameters: {valid})")
        key, value = (s.strip() for s in part.split("=", 1))
        if key not in declared:
            from bench_core.registry import did_you_mean

            raise UsageError(f"method {cls.name!r} has no parameter {key!r}{did_you_mean(key, declared)} "
                             f"(valid parameters: {valid})")
        out[key] = parse_value(cls.name, key, value, declared[key])
    return out


def parse_item(item: str) -> tuple[str, str | None]:
    """``"sfm[C=1]"`` -> ``("sfm", "C=1")``; ``"sfm"`` -> ``("sfm", None)``."""
    m = _ITEM.match(item.strip())
    if not m:
        raise UsageError(f"--method {item!r} is not NAME, PATTERN or NAME[param=value,...]")
    return m.group("name").strip(), m.group("params")


def select_methods(registry, tracks: Sequence[str], requested: Sequence[str] | None
                   ) -> dict[str, list[dict[str, Any] | None]] | None:
    """``{method name: [overrides, ...]}`` for the requested items (``None``: every method, as planned).

    An override of ``None`` means "what the profile runs"; a dict is one variant's overrides. A name that
    exists in several selected tracks gets the same overrides in each (validated against each class)."""
    if requested is None:
        return None
    by_track = {t: registry.methods[t] for t in tracks}
    all_names = sorted({m for names in by_track.values() for m in names})
    out: dict[str, list[dict[str, Any] | None]] = {}
    for item in requested:
        base, params = parse_item(item)
        if params is not None and is_pattern(base):
            raise UsageError(f"--method {item!r}: parameters need one method name, not a pattern")
        for name in expand_names("method", [base], all_names):
            overrides: dict[str, Any] | None = None
            if params is not None:
                for t, names in by_track.items():
                    if name in names:
                        overrides = parse_overrides(names[name].obj, params)
            variants = out.setdefault(name, [])
            if overrides not in variants:
                variants.append(overrides)
    return out


def variants_for(cls, profile, selected: list[dict[str, Any] | None] | None) -> list[dict[str, Any]]:
    """Parameter dicts to run for ``cls``: the profile's (plain name) and each override variant."""
    from bench_core.execute.jobs import canonical_json, method_variants

    if not selected:
        return method_variants(cls, profile)
    base = {**cls.params, **cls.profile_params.get(profile.name, {})}
    out: dict[str, dict[str, Any]] = {}
    for ov in selected:
        for params in (method_variants(cls, profile) if ov is None else [{**base, **ov}]):
            out.setdefault(canonical_json(params), params)
    return list(out.values())
