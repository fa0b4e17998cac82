"""Prompt files and the one safe way to put untrusted text into them.

Prompts live as Markdown/Jinja files in ``llm/prompts/`` so they can be reviewed and changed without
touching code. Anything that did not come from us (user notes, file names, file contents) must enter a
prompt through :func:`as_data`: the system prompt tells the model that ``<data>`` blocks are data, never
instructions, and ``as_data`` guarantees the text cannot end its block early and smuggle instructions
outside it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import jinja2

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
# Any opening or closing data tag, tolerant of case and of whitespace a tokenizer would ignore.
_TAG_RE = re.compile(r"<(\s*/?\s*data)\b", re.IGNORECASE)
_LABEL_BAD_RE = re.compile(r"[^A-Za-z0-9 _.,:/()\-]")


def as_data(label: str, text: str) -> str:
    """Wrap ``text`` as an untrusted ``<data>`` block that nothing inside it can close.

    ``<`` of every ``<data``/``</data`` inside the text becomes ``&lt;``; the model still reads the
    content, but the only real closing tag is ours. The label is restricted to plain characters so it
    cannot break out of its attribute.
    """
    safe_label = _LABEL_BAD_RE.sub("_", label)[:80]
    body = _TAG_RE.sub(r"&lt;\1", text)
    return f'<data label="{safe_label}">\n{body}\n</data>'


def _data_filter(text: object, label: str) -> str:
    return as_data(label, str(text))


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["as_data"] = as_data
    env.filters["as_data"] = _data_filter
    return env


@lru_cache(maxsize=64)
def _template(name: str) -> jinja2.Template:
    source = resources.files("nwbagent.llm").joinpath("prompts", f"{name}.md").read_text(encoding="utf-8")
    return _environment().from_string(source)


def prompt_names() -> list[str]:
    """Names accepted by :func:`render_prompt`, for diagnostics and tests."""
    folder = resources.files("nwbagent.llm").joinpath("prompts")
    return sorted(p.name[:-3] for p in folder.iterdir() if p.name.endswith(".md"))


def render_prompt(name: str, **data: str) -> str:
    """Render ``prompts/<name>.md`` with Jinja2; a missing variable is an error, not an empty string.

    Values are inserted verbatim: wrap untrusted ones with :func:`as_data` (or ``{{ x | as_data("label") }}``
    in the template) so the model treats them as data.
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid prompt name {name!r}: use lower-case letters, digits, '_' and '-'")
    try:
        template = _template(name)
    except FileNotFoundError:
        raise ValueError(f"no prompt named {name!r}; known: {', '.join(prompt_names())}") from None
    return template.render(**data).strip()
