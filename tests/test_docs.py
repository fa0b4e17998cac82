"""The README cannot drift from the code: its settings table, its command-line usage and its endpoint list
are held against ``Settings.model_fields``, the click commands and the app's routes.

Each test reads the README as a user does (the tables and code blocks it shows) and names what is missing
or stale, so a new setting, option or route is documented in the same change that adds it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import pytest
from starlette.routing import BaseRoute, Mount

from nwbagent.cli import main
from nwbagent.server.app import create_app
from nwbagent.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
PREFIX = str(Settings.model_config.get("env_prefix", "NWBAGENT_"))


def section(title: str) -> str:
    """The text under a ``## title`` heading, up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README + "\n## ", re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"^\|[-| ]+\|$", line):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[1:] if rows else rows  # the header row


# ---- settings --------------------------------------------------------------------------------------


def documented_settings() -> dict[str, str]:
    """Each variable of the Settings table with its default cell."""
    found: dict[str, str] = {}
    for row in table_rows(section("Settings")):
        for name in re.findall(rf"`({PREFIX}[A-Z0-9_]+)`", row[0]):
            found[name] = row[1]
    return found


def test_every_setting_is_in_the_settings_table_and_every_row_is_a_setting() -> None:
    fields = {PREFIX + name.upper() for name in Settings.model_fields}
    documented = set(documented_settings())
    assert not fields - documented, (
        f"settings missing from the README's Settings table: {fields - documented}"
    )
    assert not documented - fields, f"README documents settings that do not exist: {documented - fields}"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_the_defaults_the_table_shows_are_the_defaults() -> None:
    """A default cell that is one literal (`10`, `auto`, `[]`) must equal the field's default."""
    defaults = documented_settings()
    checked = 0
    for name, field in Settings.model_fields.items():
        cell = defaults.get(PREFIX + name.upper(), "")
        literal = re.fullmatch(r"`([^`]*)`", cell)
        if not literal:
            continue
        default = field.get_default(call_default_factory=True)
        assert literal.group(1) == _shown(default), f"{PREFIX}{name.upper()}: README {cell}, code {default!r}"
        checked += 1
    assert checked >= 15


# ---- command line ----------------------------------------------------------------------------------


def commands() -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}

    def walk(cmd: click.Command, path: list[str]) -> None:
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
        else:
            found[" ".join(path)] = cmd

    walk(main, [])
    return found


def usage_lines() -> dict[str, str]:
    """``nwbagent <command> …`` lines of the README's code blocks (continuation lines joined)."""
    names = sorted(commands(), key=len, reverse=True)
    usage: dict[str, str] = {}
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        current: str | None = None
        for line in block.splitlines():
            text = line.split("  #", 1)[0]
            start = re.match(r"^\s*nwbagent (.*)$", text)
            if start:
                current = next(
                    (n for n in names if start.group(1).startswith(n + " ") or start.group(1) == n), None
                )
                if current is not None:
                    usage[current] = usage.get(current, "") + " " + start.group(1)
            elif current is not None and line.startswith(" ") and text.strip().startswith("["):
                usage[current] += " " + text.strip()
            else:
                current = None
    return usage


def test_every_command_has_a_usage_line_and_every_usage_line_is_a_command() -> None:
    documented, real = set(usage_lines()), set(commands())
    assert not real - documented, f"commands with no usage line in the README: {real - documented}"
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for cmd in re.findall(r"^\s*nwbagent ([a-z][a-z-]*)", block, re.M):
            assert any(name.split()[0] == cmd for name in real), (
                f"README shows `nwbagent {cmd}`: no such command"
            )


@pytest.mark.parametrize("name", sorted(commands()))
def test_each_usage_line_lists_exactly_the_commands_options(name: str) -> None:
    cmd = commands()[name]
    options = {
        opt
        for param in cmd.params
        if isinstance(param, click.Option)
        for opt in param.opts + param.secondary_opts
    }
    line = usage_lines().get(name, "")
    shown = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", line))
    assert not shown - options, f"`nwbagent {name}` usage shows options it does not have: {shown - options}"
    missing = {
        param.opts[0]
        for param in cmd.params
        if isinstance(param, click.Option)
        and not param.hidden
        and not (set(param.opts + param.secondary_opts) & shown)
    }
    assert not missing, f"`nwbagent {name}` options missing from its README usage line: {missing}"


# ---- endpoints -------------------------------------------------------------------------------------


def _flat(routes: list[BaseRoute]) -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for route in routes:
        included = getattr(route, "original_router", None)
        out.extend(_flat(list(included.routes)) if included is not None else [route])
    return out


def _norm(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.split("[", 1)[0].split("?", 1)[0])


def app_endpoints(tmp_path: Path) -> set[tuple[str, str]]:
    app = create_app(Settings(data_dir=str(tmp_path), rate_limits_enabled=False))
    found: set[tuple[str, str]] = set()
    for route in _flat(list(app.routes)):
        path = getattr(route, "path", "")
        if isinstance(route, Mount) or not path.startswith("/api"):
            continue
        methods = getattr(route, "methods", None) or {"WS"}
        found |= {(m, _norm(path)) for m in methods if m != "HEAD"}
    return found


def documented_endpoints() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for row in table_rows(section("Web service")):
        for methods, path in re.findall(r"`((?:[A-Z]+/)*[A-Z]+) (/api[^`]*)`", row[0]):
            found |= {(m, _norm(path)) for m in methods.split("/")}
    return found


def test_the_endpoint_table_is_the_apps_routes(tmp_path: Path) -> None:
    real, documented = app_endpoints(tmp_path), documented_endpoints()
    assert len(real) >= 20
    assert not real - documented, (
        f"routes missing from the README's endpoint table: {sorted(real - documented)}"
    )
    assert not documented - real, f"README lists endpoints the app does not have: {sorted(documented - real)}"
