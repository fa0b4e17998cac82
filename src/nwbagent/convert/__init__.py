"""Conversion: detected units → NWB files written atomically, with recipe, provenance and inspection."""

from nwbagent.convert.progress import Progress, ProgressCallback
from nwbagent.convert.run import ConversionOutput, convert, select_units

__all__ = ["ConversionOutput", "Progress", "ProgressCallback", "convert", "select_units"]
