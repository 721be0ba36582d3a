"""The domain is pure: standard library, Shapely, pyproj and numpy — no framework, no database."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import deconfliction.domain

DOMAIN = Path(deconfliction.domain.__file__).parent
ALLOWED_THIRD_PARTY = {"shapely", "pyproj", "numpy"}
ALLOWED_OWN = ("deconfliction.domain", "deconfliction.errors")
# In the standard library, but database drivers, servers or I/O the domain must not touch.
FORBIDDEN_STDLIB = {
    "sqlite3",
    "dbm",
    "shelve",
    "http",
    "socket",
    "socketserver",
    "wsgiref",
    "xmlrpc",
    "smtplib",
    "subprocess",
    "multiprocessing",
}
FORBIDDEN_OWN = (
    "deconfliction.services",
    "deconfliction.storage",
    "deconfliction.api",
    "deconfliction.cli",
    "deconfliction.interop",
)
IMPORTERS = {"import_module", "__import__"}


def _imported(source: str, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in a module of the domain package."""
    package = module.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # `from deconfliction import services` imports deconfliction.services.
            if name == "deconfliction":
                found += [(node.lineno, f"deconfliction.{a.name}") for a in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in IMPORTERS and node.args and isinstance(node.args[0], ast.Constant):
                found.append((node.lineno, str(node.args[0].value)))
    return found


def _violations(source: str, module: str) -> list[str]:
    bad = []
    for line, name in _imported(source, module):
        top = name.split(".")[0]
        if top == "deconfliction":
            if name == "deconfliction":
                continue  # checked through the names it brings in
            ok = not name.startswith(FORBIDDEN_OWN) and any(
                name == own or name.startswith(own + ".") for own in ALLOWED_OWN
            )
        elif top in FORBIDDEN_STDLIB:
            ok = False
        else:
            ok = top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY
        if not ok:
            bad.append(f"{module}:{line} imports {name}")
    return bad


def _domain_modules() -> list[tuple[Path, str]]:
    return [
        (path, "deconfliction.domain." + ".".join(path.relative_to(DOMAIN).with_suffix("").parts))
        for path in sorted(DOMAIN.rglob("*.py"))
    ]


def test_domain_has_modules_to_check() -> None:
    names = {module for _, module in _domain_modules()}
    assert {
        "deconfliction.domain.conflicts",
        "deconfliction.domain.areas",
        "deconfliction.domain.volumes",
    } <= names


def test_domain_imports_only_stdlib_shapely_pyproj_numpy_and_itself() -> None:
    bad = [
        v
        for path, module in _domain_modules()
        for v in _violations(path.read_text(encoding="utf-8"), module)
    ]
    assert bad == []


@pytest.mark.parametrize(
    "source",
    [
        "import fastapi",
        "import sqlite3",
        "from sqlite3 import connect",
        "import psycopg",
        "import pydantic",
        "from starlette.requests import Request",
        "from deconfliction.services import notifications",
        "from deconfliction.storage.sqlite.store import SqliteStore",
        "import deconfliction.api",
        "from deconfliction import cli",
        "from ..services.ports import Store",
        "from .. import storage",
        "import importlib\nimportlib.import_module('fastapi')",
        "import http.server",
        "import deconfliction.domainx",
        "def f():\n    import sqlite3\n    return sqlite3",
        "if TYPE_CHECKING:\n    from deconfliction.api import app",
    ],
)
def test_checker_rejects_forbidden_imports(source: str) -> None:
    assert _violations(source, "deconfliction.domain.conflicts"), source


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations",
        "import math, re, json",
        "from datetime import UTC, datetime",
        "import numpy as np",
        "import shapely\nfrom shapely.geometry import mapping",
        "from pyproj import Geod, Transformer",
        "from deconfliction.domain import geo",
        "from deconfliction.domain.altitude import AltitudeBand",
        "from deconfliction.errors import InvalidInput",
        "from . import geo",
        "from .rules import Rules",
        "from deconfliction import errors",
    ],
)
def test_checker_accepts_allowed_imports(source: str) -> None:
    assert _violations(source, "deconfliction.domain.conflicts") == []
