"""tune_genres is built in floors: models < training < results < sweep < commands (and cli).

Read from the source with ast (nothing is imported or run): a module may import its own floor
and the floors below it, and dataset_builder; an import of a floor above fails, naming both modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tune_genres

PACKAGE_ROOT = Path(tune_genres.__file__).parent
FLOORS = ("models", "training", "results", "sweep", "commands")
TOP = len(FLOORS)  # cli.py and the package itself sit on the top floor, with commands


def module_name(path: Path, root: Path = PACKAGE_ROOT) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def floor_of(module: str) -> int | None:
    """The floor of a tune_genres module (None for anything outside the package)."""
    parts = module.split(".")
    if parts[0] != "tune_genres":
        return None
    if len(parts) > 1 and parts[1] in FLOORS:
        return FLOORS.index(parts[1])
    return TOP


def imported_modules(path: Path, root: Path = PACKAGE_ROOT) -> list[tuple[str, int]]:
    """(absolute module name, line) for every import in the file, relative ones resolved."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            # `from .. import sweep` names the module in the alias; `from ..sweep import driver` in the module.
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names] if not node.module else [(target, node.lineno)]
    return found


def upward_imports(root: Path = PACKAGE_ROOT) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        own = floor_of(module)
        for target, line in imported_modules(path, root):
            floor = floor_of(target)
            if floor is not None and floor > own:
                problems.append(
                    f"{module} (floor {FLOORS[own] if own < TOP else 'top'}) imports {target} "
                    f"(floor {FLOORS[floor] if floor < TOP else 'top'}) at {path.relative_to(root.parent)}:{line}"
                )
    return problems


def test_every_floor_exists_and_holds_modules():
    for floor in FLOORS:
        assert list((PACKAGE_ROOT / floor).glob("*.py")), f"tune_genres/{floor}/ is missing or empty"


def test_no_module_imports_a_floor_above_its_own():
    assert upward_imports() == []


def test_dataset_builder_never_imports_tune_genres():
    root = PACKAGE_ROOT.parent / "dataset_builder"
    offenders = [
        f"{path.relative_to(root.parent)}:{line} imports {target}"
        for path in sorted(root.rglob("*.py"))
        for target, line in imported_modules(path, root)
        if target.split(".")[0] == "tune_genres"
    ]
    assert offenders == []


@pytest.mark.parametrize("statement", ["from ..sweep.driver import run_sweep", "from ..results import report",
                                       "import tune_genres.sweep.trainable"])
def test_an_upward_import_is_caught_naming_both_modules(tmp_path, statement):
    # A copy of the package with one upward import added to training/loss code.
    copy = tmp_path / "tune_genres"
    for path in PACKAGE_ROOT.rglob("*.py"):
        target = copy / path.relative_to(PACKAGE_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    losses = copy / "training" / "losses.py"
    losses.write_text(losses.read_text() + f"\n{statement}\n")
    problems = upward_imports(copy)
    assert len(problems) == 1, problems
    assert problems[0].startswith("tune_genres.training.losses (floor training) imports tune_genres.")
    assert "training/losses.py:" in problems[0]
