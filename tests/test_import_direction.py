"""Imports run one way: shipped, core <- db <- capabilities <- http, worker and devtools. A
capability uses another only through the names its ``__init__`` lists in ``__all__``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parent.parent / "service"
# shipped/ is data the package carries (migrations, the OpenAPI document): it imports nothing.
BELOW = {"shipped": set(), "core": {"core"}, "db": {"core", "db", "shipped"}}
CAPABILITIES = {"audit", "access", "subjects", "consent", "messages", "campaigns", "engagement",
                "portal", "admin", "delivery", "inbound", "webhooks", "retention"}
TOP = {"http", "worker", "devtools", "cli", "__main__", "__init__"}


def _part(path: Path) -> str:
    return path.relative_to(SERVICE).parts[0].removesuffix(".py")


def _public(package: str) -> set[str]:
    tree = ast.parse((SERVICE / package / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    return set()


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every ``import service...`` and ``from service... import ...``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("service")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("service"):
            found.append((str(node.module), [a.name for a in node.names]))
    return found


def violations(path: Path) -> list[str]:
    here = _part(path)
    if here in TOP:
        return []
    wrong = []
    for module, names in _imports(path):
        parts = module.split(".")
        if len(parts) == 1:  # from service import audit, consent
            targets = [(name, None) for name in names]
        else:
            targets = [(parts[1], parts[2:] or None)]
        for target, rest in targets:
            if target == here:
                continue
            if here in BELOW:
                if target not in BELOW[here]:
                    wrong.append(f"{here} may not import {module}")
            elif target in BELOW:
                continue
            elif target not in CAPABILITIES:
                wrong.append(f"{here} (a capability) may not import {module}")
            elif rest is not None:
                wrong.append(f"{here} imports {module}: use what service.{target} names")
            elif len(parts) > 1 and not set(names) <= _public(target):
                hidden = sorted(set(names) - _public(target))
                wrong.append(f"{here} imports {hidden} from service.{target}, not in its __all__")
    return wrong


def test_every_module_belongs_to_a_known_layer() -> None:
    parts = {_part(path) for path in SERVICE.rglob("*.py")}
    assert parts <= BELOW.keys() | CAPABILITIES | TOP
    assert {p.name for p in SERVICE.iterdir() if p.suffix == ".py"} == {
        "__init__.py", "__main__.py", "cli.py"}


def test_no_module_is_two_concepts() -> None:
    # Past about 300 lines a module is usually two concepts that want to be split.
    long = {str(p.relative_to(SERVICE)): n for p in SERVICE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 300}
    assert long == {}


@pytest.mark.parametrize("path", sorted(SERVICE.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(SERVICE)))
def test_imports_go_one_way(path: Path) -> None:
    assert violations(path) == []


def test_the_check_sees_a_wrong_way_import() -> None:
    # The walker itself must notice each kind of wrong import, or the tests above prove nothing.
    for here, line in (
        ("core/x.py", "from service.db.queries import QUERIES"),
        ("db/x.py", "from service.consent import PURPOSES"),
        ("consent/x.py", "from service.http.app import create_app"),
        ("messages/x.py", "from service.consent.store import decisions"),
        ("messages/y.py", "from service.consent import tag_maker_that_is_not_public"),
    ):
        path = SERVICE / here
        path.write_text(line + "\n")
        try:
            assert violations(path), line
        finally:
            path.unlink()
