"""The house's layers, checked mechanically from the imports of every module (``ast``).

    model (pure)      infra (shared infrastructure)
          ^                 ^
          calibration, experiments
          ^
          cli (the telesim command), app (the what-if page), benchmarks

Each package may import only the packages below it (``ALLOWED``); ``experiments`` may also read
the observed figures and targets of ``calibration.targets`` sideways. Imports inside functions
count too. No module uses a private (underscore) name of another package of the project, and
the only private module of a third-party package in use is scipy's differential-evolution solver,
isolated in ``calibration/stepped_de.py``. ``docs/architecture.md`` draws the same picture.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Every package of the project, bottom layer first.
PACKAGES = ("model", "infra", "calibration", "experiments", "cli", "app", "benchmarks")
#: What each package may import from the others (a package, or one module of it).
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "infra": set(),
    "calibration": {"model", "infra"},
    "experiments": {"model", "infra", "calibration.targets"},
    "cli": {"model", "infra", "calibration", "experiments"},
    "app": {"model", "infra", "calibration", "experiments"},
    "benchmarks": {"model", "infra", "calibration", "experiments"},
}
#: Private modules of third-party packages in use: where, and why (see the module's docstring).
THIRD_PARTY_PRIVATE = {("calibration/stepped_de.py", "scipy.optimize._differentialevolution")}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(module: str, importer: str, level: int, is_package: bool) -> str:
    """The absolute name of an ``import`` / ``from ... import`` target."""
    if level == 0:
        return module
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _imports(name: str, path: Path):
    """``(target module, imported names, node)`` for every import of one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], alias, node
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module or "", name, node.level, is_package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:  # ``from package import module``
                    yield sub, [], alias, node
                else:
                    yield base, [alias.name], alias, node


def _package(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in PACKAGES else None


def package_imports() -> dict[tuple[str, str], list[str]]:
    """``{(importing package, imported module): [importing files]}`` across packages."""
    edges: dict[tuple[str, str], list[str]] = {}
    for name, path in MODULES.items():
        here = _package(name)
        for target, _names, _alias, _node in _imports(name, path):
            there = _package(target)
            if there is not None and there != here:
                rel = str(path.relative_to(ROOT))
                edges.setdefault((here, target), []).append(rel)
    return edges


def test_every_import_runs_down_the_layers():
    faults = []
    for (here, target), files in sorted(package_imports().items()):
        allowed = ALLOWED[here]
        if not any(target == a or target.startswith(a + ".") for a in allowed):
            faults.append(f"{here} -> {target} ({', '.join(sorted(set(files)))})")
    assert not faults, "imports against the layers:\n" + "\n".join(faults)


def test_the_layers_are_what_the_docs_draw():
    """Every allowed package-to-package dependency is one the code has (no stale rule)."""
    used = {(here, _package(target)) for here, target in package_imports()}
    assert used >= {
        ("calibration", "model"),
        ("calibration", "infra"),
        ("experiments", "model"),
        ("experiments", "infra"),
        ("experiments", "calibration"),
        ("cli", "experiments"),
        ("cli", "calibration"),
        ("app", "experiments"),
        ("app", "model"),
    }
    assert not {p for p in used if p[0] in ("model", "infra")}


def test_no_private_name_of_another_package_is_used():
    faults = []
    for name, path in MODULES.items():
        here = _package(name)
        rel = str(path.relative_to(ROOT))
        bound = {}  # local names bound to modules of other packages
        for target, names, alias, _node in _imports(name, path):
            there = _package(target)
            if there is None or there == here:
                continue
            if any(_is_private(part) for part in target.split(".")):
                faults.append(f"{rel}: imports private module {target}")
            faults += [f"{rel}: imports private name {target}.{n}" for n in names if _is_private(n)]
            if not names:
                bound[alias.asname or alias.name.split(".")[-1]] = target
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and _is_private(node.attr)
            ):
                faults.append(f"{rel}: uses private name {bound[node.value.id]}.{node.attr}")
    assert not faults, "\n".join(faults)


def test_private_modules_of_third_party_packages_are_isolated():
    found = set()
    for name, path in MODULES.items():
        for target, _names, _alias, _node in _imports(name, path):
            if _package(target) is None and any(_is_private(p) for p in target.split(".")):
                found.add((str(path.relative_to(ROOT)), target))
    assert found == THIRD_PARTY_PRIVATE


if __name__ == "__main__":  # print the package-to-package imports
    for (here, target), files in sorted(package_imports().items()):
        print(f"{here} -> {target}: {', '.join(sorted(set(files)))}")
