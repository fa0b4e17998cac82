"""Conversion reports: one data model, gathered from an NWB file and its sidecars, rendered four ways.

A report is for the people who decide whether a file can be shared (a PI, a data curator), not for the
person who ran the conversion: it states the verdict first, then everything needed to trust it.
"""

from __future__ import annotations

from nwbagent.report.collect import build_report
from nwbagent.report.model import SCHEMA_VERSION, Report
from nwbagent.report.text import render_text
from nwbagent.report.write import FORMATS, report_path, report_stem, write_reports

__all__ = [
    "FORMATS",
    "SCHEMA_VERSION",
    "Report",
    "build_report",
    "render_text",
    "report_path",
    "report_stem",
    "write_reports",
]
