"""The package layout's rules, checked on the source: no import cycles, no use of another
module's private names, each sub-system imports only what DEVELOPERS.md allows, modules stay
small, files are written atomically through one module only, and the public surface."""
import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "adain_jax"

# Sub-system -> the sub-systems it may import (DEVELOPERS.md, "Who may import what").
# Top-level modules count as sub-systems of their own; "*" = anything.
ALLOWED = {
    "errors": set(),
    "fs": set(),
    "ops": set(),
    "image_io": {"errors", "fs"},
    "nn": {"errors", "fs"},
    "weights": {"errors", "fs", "nn"},
    "model": {"errors", "fs", "ops", "nn", "weights"},
    "inference": {"errors", "fs", "ops", "image_io", "nn", "model"},
    "training": {"errors", "fs", "ops", "image_io", "nn", "weights", "model", "inference"},
    "video": {"errors", "fs", "ops", "image_io", "nn", "model", "inference"},
    "export": {"errors", "fs", "ops", "nn", "model", "inference", "weights"},
    "datasets": {"errors", "fs", "ops", "image_io", "nn", "weights", "model", "inference",
                 "training"},
    "demo": {"errors", "fs", "ops", "image_io", "nn", "weights", "model", "inference"},
    "eval": {"errors", "fs", "ops", "image_io", "nn", "weights", "model", "inference"},
    "cli": {"*"},
    "__init__": {"*"},
}
MAX_LINES = 450


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def sources() -> dict[str, tuple[Path, ast.Module]]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        out[module_name(path)] = (path, ast.parse(path.read_text(), str(path)))
    return out


def resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(name: str, path: Path, tree: ast.Module, known: set[str]) -> list[tuple[str, int]]:
    """(imported adain_jax module, line) for every import in the module, at any depth."""
    found = []
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.startswith("adain_jax")]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(name, is_package, node)
            if not target.startswith("adain_jax"):
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                found.append((sub if sub in known else target, node.lineno))
    return found


def subsystem(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_no_import_cycles():
    src = sources()
    known = set(src)
    graph = {m: {t for t, _ in imports(m, p, tree, known) if t in known and t != m}
             for m, (p, tree) in src.items()}
    # A package's __init__ importing its own modules is not a cycle through the package.
    for m in graph:
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_no_private_names_of_other_modules():
    src = sources()
    known = set(src)
    bad = []
    for name, (path, tree) in src.items():
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = resolve(name, path.name == "__init__.py", node)
                if not target.startswith("adain_jax") or target == name:
                    continue
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        bad.append(f"{name}:{node.lineno} imports {target}.{a.name}")
                    if f"{target}.{a.name}" in known:
                        aliases[a.asname or a.name] = f"{target}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("adain_jax") and a.asname:
                        aliases[a.asname] = a.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and aliases[node.value.id] != name
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                bad.append(f"{name}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


def test_subsystems_import_only_what_they_may():
    src = sources()
    known = set(src)
    bad = []
    for name, (path, tree) in src.items():
        mine = subsystem(name)
        allowed = ALLOWED.get(mine)
        assert allowed is not None, f"{name}: sub-system {mine!r} missing from ALLOWED"
        if "*" in allowed:
            continue
        for target, line in imports(name, path, tree, known):
            theirs = subsystem(target)
            if theirs != mine and theirs not in allowed:
                bad.append(f"{name}:{line} imports {target} ({mine} may not use {theirs})")
    assert not bad, "\n".join(bad)


def test_modules_are_small():
    big = {m: n for m, (p, _) in sources().items()
           if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_atomic_replace_has_one_home():
    """Files are replaced (``os.replace``/``os.rename``) only in ``fs`` (``atomic_write``,
    ``move_aside``)."""
    homes = [module_name(p) for p in PACKAGE.rglob("*.py")
             if re.search(r"\bos\.(replace|rename)\(", p.read_text())]
    assert homes == ["adain_jax.fs"], homes


def test_files_are_written_only_through_fs():
    """No file is opened for writing or appending, nor written with ``write_text`` /
    ``write_bytes``, outside ``fs``: every write is atomic (or a crash-safe append)."""
    pattern = re.compile(r"""\bopen\([^)]*["'][wax]b?\+?["']|\.write_(text|bytes)\(""")
    # The MTCNN worker runs in another interpreter (the faces venv, without adain_jax) and
    # writes only its result into the caller's private temporary folder.
    exempt = {"adain_jax.fs", "adain_jax.eval.mtcnn_worker"}
    bad = [module_name(p) for p in PACKAGE.rglob("*.py")
           if pattern.search(p.read_text()) and module_name(p) not in exempt]
    assert not bad, bad


def test_uint8_and_pil_only_in_image_io():
    bad = [module_name(p) for p in PACKAGE.rglob("*.py")
           if re.search(r"^\s*(from PIL|import PIL)", p.read_text(), re.M)
           and not module_name(p).startswith(("adain_jax.image_io", "adain_jax.demo"))]
    assert not bad, bad


def test_public_surface_is_curated_and_has_no_import_hook():
    """``adain_jax.__all__`` is the public surface: every name resolves (the lazy ones too),
    ``dir()`` lists them, and importing the package installs no import hook: the module paths
    before the sub-system layout (``adain_jax.convert``, ...) are gone."""
    import importlib
    import sys

    import adain_jax

    assert not [f for f in sys.meta_path if getattr(f, "__module__", "").startswith("adain_jax")]
    assert len(set(adain_jax.__all__)) == len(adain_jax.__all__)
    for name in adain_jax.__all__:
        assert getattr(adain_jax, name) is not None, name
        assert name in dir(adain_jax), name
    assert adain_jax.load_vgg is importlib.import_module("adain_jax.weights").load_vgg
    for old in ("convert", "models", "fetch", "transfer", "optimize", "checkpoint"):
        assert not hasattr(adain_jax, old), old
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"adain_jax.{old}")
