"""Conversion: detected units → NWB files written atomically, with recipe, provenance and inspection."""

from nwbagent.convert.build import OpenedSession
from nwbagent.convert.options import WriteOptions
from nwbagent.convert.progress import Progress, ProgressCallback
from nwbagent.convert.run import ConversionOutput, convert, convert_units, file_metadata
from nwbagent.convert.select import select_units

__all__ = [
    "ConversionOutput",
    "OpenedSession",
    "Progress",
    "ProgressCallback",
    "WriteOptions",
    "convert",
    "convert_units",
    "file_metadata",
    "select_units",
]
