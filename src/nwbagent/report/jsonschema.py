"""The JSON Schema of the report's JSON rendering, generated from the pydantic model and shipped with it.

Consumers outside Python (a LIMS, a DANDI curation script) validate reports against the shipped file, so it
must never drift from the model: a test compares it with :func:`report_json_schema`, and
``python -m nwbagent.report.jsonschema`` rewrites it after a model change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nwbagent.report.model import SCHEMA_VERSION, Report

SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
SCHEMA_ID = "https://nwbagent/report.schema.json"


def report_json_schema() -> dict[str, Any]:
    """Draft 2020-12 schema of ``Report.model_dump_json()``.

    ``schema_version`` is pinned to this major version: a report written by a later minor release still
    validates, one whose meaning changed (a major bump) does not.
    """
    schema = Report.model_json_schema(mode="serialization")
    major = SCHEMA_VERSION.split(".", 1)[0]
    schema["properties"]["schema_version"] = {
        **schema["properties"]["schema_version"],
        "pattern": rf"^{major}\.\d+\.\d+$",
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "version": SCHEMA_VERSION,
        **schema,
    }


def shipped_schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return data


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    path.write_text(json.dumps(report_json_schema(), indent=2, ensure_ascii=False) + "\n")
    return path


if __name__ == "__main__":
    print(write_schema())
