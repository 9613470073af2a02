"""The package's shape (docs/architecture.md): modules of a readable size, no module reaching
into another's privates, one module per job where the architecture names one. The layers and the
absence of import cycles are import-linter's contracts (pyproject.toml), run by `make test`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sqlgrpo"
MAX_MODULE_LINES = 600  # ~500 is the aim; past 600 a module holds two things
LAYERS = ("common", "data", "sql", "scoring", "llm", "report", "stages")  # bottom to top, as in pyproject.toml
MODULES = sorted(PACKAGE.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _trees() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in MODULES}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_the_size_limit(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_MODULE_LINES


def test_every_layer_is_a_package_that_says_what_it_is():
    for layer in LAYERS:
        init = PACKAGE / layer / "__init__.py"
        assert init.is_file(), layer
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), f"{layer}/__init__.py has no docstring"
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()} == set(LAYERS)


def _private_imports(module: str, tree: ast.Module) -> list[str]:
    """`from sqlgrpo.x import _name` (anywhere in the module) where x is another module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sqlgrpo") and node.level == 0:
            found += [f"{module}: {node.module}.{a.name}" for a in node.names
                      if a.name.startswith("_") and not a.name.startswith("__") and node.module != module]
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append(f"{module}: a relative import (use sqlgrpo.<layer>.<module>)")
    return found


def test_no_module_imports_another_modules_private_names():
    offending = [line for module, tree in _trees().items() for line in _private_imports(module, tree)]
    assert offending == []


def test_the_private_import_check_sees_imports_inside_functions():
    # The check itself must be able to fail: a private name imported in a function body.
    tree = ast.parse("def f():\n    from sqlgrpo.stages.train import _load_policy\n")
    assert _private_imports("sqlgrpo.stages.eval", tree) == ["sqlgrpo.stages.eval: sqlgrpo.stages.train._load_policy"]


def _calls(tree: ast.Module, name: str) -> int:
    return sum(1 for node in ast.walk(tree) if isinstance(node, ast.Call)
               and (getattr(node.func, "id", None) == name or getattr(node.func, "attr", None) == name))


@pytest.mark.parametrize("trainer, module", [("DPOTrainer", "sqlgrpo.stages.contrastive"),
                                             ("SFTTrainer", "sqlgrpo.stages.sft"),
                                             ("GRPOTrainer", "sqlgrpo.stages.train")])
def test_each_trl_trainer_is_built_in_its_stage_only(trainer, module):
    assert {name for name, tree in _trees().items() if _calls(tree, trainer)} == {module}


def test_only_the_sql_layer_opens_database_connections():
    # apsw and duckdb are imported by the executor's engines and nowhere else.
    importers = set()
    for name, tree in _trees().items():
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] in ("apsw", "duckdb", "sqlite3") for n in names):
                importers.add(name)
    assert importers and all(name.startswith("sqlgrpo.sql.") for name in importers), importers
