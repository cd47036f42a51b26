"""The opt-in Landlock sandbox of the method process (``featbench run --sandbox landlock``).

The method process (:mod:`bench_core.execute.host`) already holds only what each call hands it, but it runs
as the user and could open any file the user can: the materialised datasets in the cache (X, y and every
split), the external data, other jobs' result files. Where the kernel offers Landlock (Linux >= 5.13,
``landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`` > 0), this mode restricts the method
process right after it starts, before it imports torch, the registry or any plugin, so that no plugin code
(import-time code included) ever runs in it unrestricted. The worker, which must read the data and hand back
results, is not restricted.

Landlock is an allow-list. The method process may:

- read and execute (``EXECUTE | READ_FILE | READ_DIR``) what running Python and the plugins needs: the
  system directories (``/usr``, ``/lib*``, ``/bin``, ``/sbin``, ``/etc``, ``/proc``, ``/sys``), the
  interpreter's prefixes (``sys.prefix``, ``sys.base_prefix``, ``sys.exec_prefix``, ...), every ``sys.path``
  entry, the source directories of editable installs (setuptools' ``__editable__`` finders), and any extra
  path listed in ``FEATBENCH_SANDBOX_READ`` (``os.pathsep``-separated; e.g. a Hugging Face cache a method
  reads its weights from);
- read and write devices under ``/dev`` (``/dev/null``, ``/dev/urandom``, a GPU's device files) and create
  files in ``/dev/shm`` (the semaphores of ``multiprocessing``);
- do anything inside a private temporary directory, made by the worker for this method process and removed
  with it. ``TMPDIR`` points there, and so do the caches that numba (``NUMBA_CACHE_DIR``), torch's inductor
  (``TORCHINDUCTOR_CACHE_DIR``, otherwise under ``TMPDIR``), triton (``TRITON_CACHE_DIR``), matplotlib
  (``MPLCONFIGDIR``) and anything following ``XDG_CACHE_HOME`` would write to; the method process's working
  directory is there too. ``HF_HOME`` keeps its value (or its default under the user's home), so a method
  can read Hugging Face weights if that directory is listed in ``FEATBENCH_SANDBOX_READ``, and
  ``HF_HUB_OFFLINE=1`` (nothing is downloaded at run time). numba recompiles its cached functions once per
  method process (its on-disk cache beside the installed packages is read-only here).

Everything else is denied: reading a file in the cache, data or results directory (or listing them) raises
``PermissionError`` in the method, recorded as the method's own ``error``; so does writing anywhere outside
the private directory. On ABI >= 6 the method process also cannot send signals to processes outside its
domain (the worker, the driver). Landlock also stops it from tracing the unrestricted worker: checked on
this kernel (ABI 7), ``/proc/<worker>/mem`` and ``/proc/<worker>/root`` are denied, and so are reading and
re-opening ``/proc/<worker>/fd/N`` (a held dataset file or pipe); ``/proc/<worker>/environ``, ``maps``
and ``cmdline`` stay readable (paths and settings, no data).

**The protected directories must not lie beneath a granted path.** :func:`grants` computes the rules and,
where a protected directory (cache, data, results) lies beneath a granted directory (the cache under a
working directory that is on ``sys.path``, say), it grants the narrower paths instead: the granted
directory's entries other than the one leading to the protected directory, recursively. Where a granted path
lies inside (or is) a protected directory, the mode cannot work: :class:`SandboxConflict` names the two, and
the driver refuses the run with one line (exit 2) before any job runs.

What it does not do: it does not restrict the network, the worker, the driver, or plugin import code run in
the driver and the worker (registration needs it); a file already open before the restriction stays usable
(the method process is started with none but its socket and stdio).
"""

from __future__ import annotations

import ctypes
import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

MODES = ("none", "landlock")
#: How the sandbox travels from the driver to the workers and from a worker to its method process (JSON:
#: ``{"mode": "landlock", "deny": [paths]}``).
ENV = "FEATBENCH_SANDBOX"
#: The private temporary directory of one method process (set by the worker).
TMP_ENV = "FEATBENCH_SANDBOX_TMP"
#: Extra read-only paths granted to the method process (``os.pathsep``-separated).
READ_ENV = "FEATBENCH_SANDBOX_READ"

# syscall numbers (the same on every architecture that has Landlock: the unified table)
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# filesystem access rights, by the ABI that introduced them
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
SCOPE_SIGNAL = 1 << 1  # ABI 6

_ABI_FS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}  # ABI >= 5: (1 << 16) - 1
#: The rights that may be granted on a file (not a directory).
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ = EXECUTE | READ_FILE | READ_DIR
DEVICES = READ | WRITE_FILE | TRUNCATE | IOCTL_DEV
ALL = (1 << 16) - 1

#: System directories every Python process reads (those that exist are granted read-only).
SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc", "/proc", "/sys")
#: Above this many rules the narrowing of a granted directory gives up (the mode is refused).
MAX_RULES = 4096


class SandboxConflict(Exception):
    """A protected directory cannot be kept out of the method process's reach."""


@dataclass(frozen=True)
class Grant:
    path: str
    access: int


def abi_version() -> int:
    """The kernel's Landlock ABI version, 0 where Landlock is absent or disabled (or not Linux)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        v = libc.syscall(ctypes.c_long(_SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
                         ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return int(v) if v > 0 else 0


def _real(p: str | os.PathLike) -> str:
    return os.path.realpath(os.path.abspath(os.path.expanduser(os.fspath(p))))


def _beneath(path: str, root: str) -> bool:
    """``path`` is ``root`` or lies inside it (both real, absolute)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def read_roots() -> list[str]:
    """What the method process reads: system directories, the interpreter's prefixes, ``sys.path``, the
    source directories of editable installs, ``FEATBENCH_SANDBOX_READ`` (those that exist)."""
    out: list[str] = list(SYSTEM_READ)
    out += [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, os.path.dirname(sys.executable),
            os.path.dirname(_real(sys.executable))]
    out += [p for p in sys.path if p]
    for name, mod in list(sys.modules.items()):  # setuptools' editable finders map packages to source dirs
        mapping = getattr(mod, "MAPPING", None) if name.startswith("__editable__") else None
        if isinstance(mapping, dict):
            out += [str(v) for v in mapping.values()]
    out += [p for p in os.environ.get(READ_ENV, "").split(os.pathsep) if p]
    return out


def grants(deny: Iterable[str | os.PathLike], tmp: str | os.PathLike | None = None,
           roots: Iterable[str] | None = None) -> list[Grant]:
    """The Landlock rules for the method process, none of which reaches a directory in ``deny``.

    ``roots`` (default :func:`read_roots`) are granted read-only, ``/dev`` for devices, ``/dev/shm`` and
    ``tmp`` fully. A granted directory with a protected directory beneath it is replaced by its entries
    other than the one leading there (recursively; symbolic links are followed and checked the same way).
    Raises :class:`SandboxConflict` where a granted path is (or lies inside) a protected directory."""
    denied = sorted({_real(d) for d in deny})
    # (path, access, narrowed): ``narrowed`` marks an entry of a directory being narrowed, which is left out
    # when it leads into a protected directory; a path asked for by itself is a conflict there
    wanted: list[tuple[str, int, bool]] = [(r, READ, False) for r in (read_roots() if roots is None else roots)]
    wanted += [("/dev", DEVICES, False), ("/dev/shm", ALL, False)]
    if tmp is not None:
        wanted.append((os.fspath(tmp), ALL, False))
    out: dict[str, int] = {}
    seen: set[tuple[str, int]] = set()
    while wanted:
        given, access, narrowed = wanted.pop()
        path = _real(given)
        if (path, access) in seen or not os.path.exists(path):
            continue
        seen.add((path, access))
        inside = next((d for d in denied if _beneath(path, d)), None)
        if inside is not None and narrowed:
            continue
        if inside is not None:
            what = f"{given} ({path})" if os.path.normpath(str(given)) != path else path
            raise SandboxConflict(f"the method process needs {what}, which lies in the protected directory "
                                  f"{inside}; move that directory elsewhere")
        below = [d for d in denied if _beneath(d, path)]
        if not below:
            out[path] = out.get(path, 0) | access
        else:  # grant the narrower paths: every entry but the ones leading to a protected directory
            try:
                entries = os.listdir(path)
            except OSError:
                continue
            wanted += [(os.path.join(path, e), access, True) for e in entries]
        if len(out) + len(wanted) > MAX_RULES:
            raise SandboxConflict(f"narrowing the grant of {path} around the protected "
                                  f"director{'ies' if len(below) > 1 else 'y'} {', '.join(below)} needs more "
                                  f"than {MAX_RULES} rules; move {'them' if len(below) > 1 else 'it'} elsewhere")
    return [Grant(p, a) for p, a in sorted(out.items())]


# ------------------------------------------------------------------------------------- driver and worker


def policy(mode: str, deny: Iterable[str | os.PathLike]) -> str | None:
    """The value of :data:`ENV` for the workers (None for mode ``none``)."""
    if mode == "none":
        return None
    return json.dumps({"mode": mode, "deny": sorted({_real(d) for d in deny})})


def check(mode: str, deny: Iterable[str | os.PathLike], method_process: bool) -> None:
    """Refuse (:class:`~bench_core.errors.UsageError`) a sandbox that cannot be had: an unknown mode, no
    method process to restrict, a kernel without Landlock, a protected directory the grants would reach."""
    from bench_core.errors import UsageError

    if mode not in MODES:
        raise UsageError(f"unknown sandbox {mode!r} (valid: {', '.join(MODES)})")
    if mode == "none":
        return
    if not method_process:
        raise UsageError("--sandbox landlock restricts the method process, which this run does not have (it "
                         "needs the local executor, without FEATBENCH_METHOD_PROCESS=0)")
    abi = abi_version()
    if abi < 1:
        raise UsageError("--sandbox landlock needs a Linux kernel with Landlock enabled (5.13 or later, "
                         "'landlock' in the lsm= boot list); this one has none (valid here: --sandbox none)")
    try:
        grants(deny, tmp=None)
    except SandboxConflict as exc:
        raise UsageError(f"--sandbox landlock: {exc}") from None


def child_env(env: dict[str, str], tmp: str) -> str:
    """Point the method process's temporary files and the caches of numba, torch, triton, matplotlib and
    XDG-following libraries at its private directory ``tmp`` (in ``env``, before it starts); return the
    working directory it gets there (an empty one: ``python -m`` puts it first on ``sys.path``, where a
    cache directory named ``triton`` would pass for an installed package)."""
    home = os.path.expanduser("~")
    xdg = env.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    env.setdefault("HF_HOME", os.path.join(xdg, "huggingface"))  # where a granted HF cache stays readable
    env["HF_HUB_OFFLINE"] = "1"
    env[TMP_ENV] = tmp
    for var in ("TMPDIR", "TEMP", "TMP"):
        env[var] = tmp
    for var, sub in (("NUMBA_CACHE_DIR", "numba"), ("TORCHINDUCTOR_CACHE_DIR", "torchinductor"),
                     ("TRITON_CACHE_DIR", "triton"), ("MPLCONFIGDIR", "matplotlib"), ("XDG_CACHE_HOME", "cache")):
        env[var] = os.path.join(tmp, "caches", sub)
        os.makedirs(env[var], exist_ok=True)
    cwd = os.path.join(tmp, "cwd")
    os.makedirs(cwd, exist_ok=True)
    return cwd


# ------------------------------------------------------------------------------------ the method process


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _fail(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"landlock: {what} failed: {os.strerror(err)}")


def restrict(rules: list[Grant]) -> int:
    """Restrict this process (and every process it starts later) to ``rules``; return the ABI used.

    Rights the kernel's ABI does not know are dropped from the rules; rules on files keep only file
    rights."""
    abi = abi_version()
    if abi < 1:
        raise OSError("landlock: not available in this kernel")
    handled = _ABI_FS.get(abi, ALL)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    attr = _RulesetAttr(handled_access_fs=handled, handled_access_net=0, scoped=SCOPE_SIGNAL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    fd = libc.syscall(ctypes.c_long(_SYS_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size),
                      ctypes.c_uint32(0))
    if fd < 0:
        raise _fail("create_ruleset")
    try:
        for rule in rules:
            try:
                pfd = os.open(rule.path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # vanished since the rules were computed
            try:
                access = rule.access & handled
                if not stat.S_ISDIR(os.fstat(pfd).st_mode):
                    access &= _FILE_RIGHTS
                if not access:
                    continue
                beneath = _PathBeneathAttr(allowed_access=access, parent_fd=pfd)
                if libc.syscall(ctypes.c_long(_SYS_ADD_RULE), ctypes.c_int(fd), ctypes.c_int(_RULE_PATH_BENEATH),
                                ctypes.byref(beneath), ctypes.c_uint32(0)) < 0:
                    raise _fail(f"add_rule({rule.path})")
            finally:
                os.close(pfd)
        if libc.prctl(ctypes.c_int(_PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), ctypes.c_ulong(0),
                      ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
            raise _fail("prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(ctypes.c_long(_SYS_RESTRICT_SELF), ctypes.c_int(fd), ctypes.c_uint32(0)) < 0:
            raise _fail("restrict_self")
    finally:
        os.close(fd)
    return abi


def enter_from_env() -> None:
    """In the method process, before anything else: apply the sandbox named by :data:`ENV`, if any."""
    raw = os.environ.get(ENV)
    if not raw:
        return
    spec = json.loads(raw)
    if spec.get("mode") != "landlock":
        raise SystemExit(f"featbench: unknown sandbox {spec.get('mode')!r}")
    restrict(grants(spec["deny"], tmp=os.environ[TMP_ENV]))
