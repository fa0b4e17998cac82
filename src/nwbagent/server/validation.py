"""Checks on the text clients send, made where it arrives so a bad value is refused at its field.

Metadata ends up in HDF5 attributes and datasets and in the session's stored record. HDF5 strings cannot
hold NUL, a lone surrogate (``"\\ud800"`` is legal JSON but not Unicode text) cannot be encoded at all, and
other control characters are invisible junk in a DANDI listing: all three used to be accepted and fail
much later, at the write, with a cryptic HDF5 error or a 500. NWB fields are short text, so each value is
also bounded (``NWBAGENT_MAX_METADATA_VALUE_CHARS``); a 20 MB description is a mistake or an attack, and it
used to make every later read of the session slow.

The checks live in the service, not in ``nwbagent.metadata``: the service is where untrusted text arrives
(the CLI reads a YAML file its own user wrote, and YAML already refuses these characters).
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from nwbagent.server.auth import ApiError

#: NUL and the other C0/C1 controls except tab, newline and carriage return; lone surrogates.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
MAX_FIELD_NAME_CHARS = 100


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot go into an NWB file (naming the first bad character), or None if it can."""
    match = _UNSTORABLE.search(text)
    if match is None:
        return None
    ch = match.group()
    code = f"U+{ord(ch):04X}"
    position = f"at character {match.start() + 1:,}"
    if ch == "\x00":
        return f"contains the NUL character ({code}) {position}, which NWB (HDF5) text cannot hold"
    if unicodedata.category(ch) == "Cs":
        return f"contains an unpaired surrogate ({code}) {position}, which is not valid Unicode text"
    return f"contains the control character {code} {position}, which does not belong in NWB text"


def storable(value: str | None) -> str | None:
    """A pydantic ``AfterValidator``: refuse text an NWB file or the session store cannot keep."""
    if value is not None:
        why = unstorable(value)
        if why is not None:
            raise ValueError(f"the text {why}; remove it and send it again")
    return value


def check_metadata_fields(fields: dict[str, Any], max_chars: int) -> None:
    """Refuse a metadata form edit whose field names or values cannot be stored, naming the field.

    413 for a value over ``max_chars`` (the limit is named), 422 for a character that cannot be stored.
    """
    for name, value in fields.items():
        shown = name if len(name) <= MAX_FIELD_NAME_CHARS else name[:MAX_FIELD_NAME_CHARS] + "…"
        if len(name) > MAX_FIELD_NAME_CHARS or unstorable(name):
            raise ApiError(
                422,
                "bad_field_name",
                f"The metadata field name {shown!r} is not a field name.",
                "Use the field names of GET /api/schema/metadata, e.g. 'session_description'.",
            )
        size = len(value) if isinstance(value, str) else len(json.dumps(value, ensure_ascii=False))
        if size > max_chars:
            raise ApiError(
                413,
                "value_too_large",
                f"The value of {name} is {size:,} characters long; the limit is {max_chars:,} per field.",
                "NWB fields are short text: shorten it (put long protocols in a file next to the data), or "
                "ask the operator to raise NWBAGENT_MAX_METADATA_VALUE_CHARS.",
            )
        for text in _texts(value):
            why = unstorable(text)
            if why is not None:
                raise ApiError(
                    422,
                    "bad_character",
                    f"The value of {name} {why}.",
                    f"Remove that character from {name} and save again.",
                )


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (*_texts(k), *_texts(v))]
    return []
