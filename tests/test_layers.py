"""Data flows one way: core pipeline → agents → service → UIs. Every package of ``src/nwbagent`` has a
layer, and a module imports only from lower layers (or its own package).

A package or top-level module that is not placed below fails the test: deciding where new code sits is
part of adding it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "nwbagent"

#: Lower numbers are lower layers. Same-layer packages do not import each other.
LAYERS: dict[str, int] = {
    # plain building blocks every layer may use
    "errors": 0,
    "settings": 0,
    "metrics": 0,
    "gc_tuning": 0,
    "outputs": 0,
    # the core pipeline
    "formats": 1,
    "inspect": 1,
    "metadata": 1,
    "report": 2,
    "sample": 2,
    "convert": 3,
    # language: models, then reading what people type
    "llm": 4,
    "sentences": 5,
    # the agents, the vocabulary they and the pipeline own, the service, the entry point
    "agents": 6,
    "vocabulary": 7,
    "server": 8,
    "cli": 9,
}
CORE = ("formats", "inspect", "metadata", "report", "convert")
WEB_OR_LLM = ("fastapi", "starlette", "uvicorn", "anthropic", "openai")
AGENTS = ("conversation", "conversion", "evaluation")


def _imports(path: Path) -> set[str]:
    """Modules a file imports, including ``from x import y`` as ``x.y`` (y may be a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _package(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC)


def test_every_package_has_a_layer() -> None:
    unplaced = {_package(p) for p in _modules()} - set(LAYERS)
    assert not unplaced, f"place these in LAYERS (tests/test_layers.py): {sorted(unplaced)}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down(path: Path) -> None:
    own = _package(path)
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] != "nwbagent" or len(parts) < 2 or parts[1] not in LAYERS or parts[1] == own:
            continue
        assert LAYERS[parts[1]] < LAYERS[own], (
            f"{path.relative_to(SRC)} ({own}, layer {LAYERS[own]}) imports {name} "
            f"(layer {LAYERS[parts[1]]}): imports must point to lower layers"
        )


@pytest.mark.parametrize("package", CORE)
def test_core_pipeline_imports_no_web_or_llm_library(package: str) -> None:
    for path in (SRC / package).rglob("*.py"):
        for name in _imports(path):
            assert name.split(".")[0] not in WEB_OR_LLM, f"{path.relative_to(SRC)} imports {name}"


@pytest.mark.parametrize("agent", AGENTS)
def test_agents_never_import_each_other(agent: str) -> None:
    """They talk only through typed messages on the bus."""
    imported = _imports(SRC / "agents" / f"{agent}.py")
    for other in AGENTS:
        assert other == agent or f"nwbagent.agents.{other}" not in imported, f"{agent} imports {other}"


def test_a_wrong_import_is_caught(tmp_path: Path) -> None:
    """The check reads real import statements: a core module importing the server would fail it."""
    bad = tmp_path / "bad.py"
    bad.write_text("from nwbagent.server.api import router\nimport nwbagent.agents.bus\n")
    imported = {n.split(".")[1] for n in _imports(bad) if n.startswith("nwbagent.")}
    assert {"server", "agents"} <= imported
    assert all(LAYERS[name] > LAYERS["convert"] for name in imported)
