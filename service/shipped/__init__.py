"""Files the service reads at run time that live at the top of the repository.

``migrations/`` and ``openapi.yaml`` stay where a reader expects them; the two symlinks here put
them inside the package, so the wheel carries real copies and ``importlib.resources`` finds them
the same way from a checkout and from an installed wheel.
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable

_MIGRATION_NAME = re.compile(r"[0-9]{4}_\w+\.sql")


def migration_files() -> list[Traversable]:
    """The numbered migration files, in the order they apply."""
    directory = files(__name__) / "migrations"
    if not directory.is_dir():
        return []
    found = (f for f in directory.iterdir() if _MIGRATION_NAME.fullmatch(f.name))
    return sorted(found, key=lambda f: f.name)


def openapi_document() -> bytes:
    return (files(__name__) / "openapi.yaml").read_bytes()
