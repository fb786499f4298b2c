"""``.env.example`` lists exactly the variables the code reads, each with the code's default."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from service.core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
_LINE = re.compile(r"^#? ?([A-Z][A-Z0-9_]+)=(.*)$")
_NAME = re.compile(r"[A-Z][A-Z0-9_]+")
# The typed readers of core/setting_values.py take (env, NAME, ...).
_READERS = {"read_int", "read_choice", "read_existing_file", "read_rate_limit"}


def documented() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if match := _LINE.match(line):
            assert match[1] not in found, f"{match[1]} is documented twice"
            found[match[1]] = match[2]
    return found


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return _dotted(node.value) + "." + node.attr
    return node.id if isinstance(node, ast.Name) else ""


def read_by_code() -> set[str]:
    """Every environment variable read anywhere in service/: ``env.get``, ``os.environ.get``,
    ``os.environ[...]``, ``os.getenv`` and config's typed readers."""
    names: set[str] = set()
    for path in (ROOT / "service").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            args: list[ast.expr] = []
            if isinstance(node, ast.Call):
                func = _dotted(node.func)
                receiver = func.rsplit(".", 1)[0]
                if func.endswith((".get", ".setdefault")) and receiver.endswith(("environ", "env")):
                    args = node.args[:1]
                elif func == "os.getenv":
                    args = node.args[:1]
                elif func in _READERS:
                    args = node.args[1:2]
            elif isinstance(node, ast.Subscript) and _dotted(node.value).endswith("environ"):
                args = [node.slice]
            names.update(a.value for a in args
                         if isinstance(a, ast.Constant) and isinstance(a.value, str)
                         and _NAME.fullmatch(a.value))
    return names


def test_every_variable_read_is_documented_and_every_documented_one_is_read() -> None:
    read, listed = read_by_code(), set(documented())
    assert read - listed == set(), "read by the code but missing from .env.example"
    assert listed - read == set(), "in .env.example but read by nothing"


def test_the_scan_sees_each_way_of_reading() -> None:
    # The scan above must notice every form, or the test proves nothing.
    assert {"DATABASE_URL", "API_PORT", "SMTP_TLS", "SMTP_CA_FILE", "LOG_LEVEL",
            "MASTER_KEYS", "PUBLIC_BASE_URL"} <= read_by_code()


def test_the_documented_defaults_are_the_code_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's, and the dev keyring lands here
    values = {name: value for name, value in documented().items() if name != "LOG_LEVEL"}
    from_example = Settings.from_env(values)
    from_nothing = Settings.from_env({})
    for field in dataclasses.fields(Settings):
        if field.name != "keyring":
            name = field.name
            assert getattr(from_example, name) == getattr(from_nothing, name), name
    assert documented()["LOG_LEVEL"] == "INFO"  # cli.py's default
