"""The Conversion agent: detects formats and streams, reads what the files say, runs NeuroConv.

It holds no session state: every request carries the source, the chosen units and the metadata layers it
needs, and every result goes back as a message. Detection, metadata reading and conversions block (neo,
HDF5), so they are registered as blocking actions and run off the event loop. Conversion progress is
published on the bus as ``progress`` events.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nwbagent.agents.bus import Action, Bus
from nwbagent.agents.contracts import (
    CONVERSION,
    ConvertReply,
    ConvertRequest,
    DetectReply,
    DetectRequest,
    ReadMetadataReply,
    ReadMetadataRequest,
)
from nwbagent.agents.messages import Message
from nwbagent.convert import OpenedSession, Progress, convert_units
from nwbagent.convert.build import NothingOpened
from nwbagent.formats import detect

NAME = CONVERSION


#: Runs one conversion somewhere and returns its reply: in this thread (CLI, tests) or in an executor's
#: worker (the service). Raises UserFacingError for anything the user must hear about.
Runner = Callable[[Message, ConvertRequest, Callable[[dict[str, Any]], None]], ConvertReply]


def convert_request(request: ConvertRequest, progress: Callable[[dict[str, Any]], None]) -> ConvertReply:
    """Run one ConvertRequest in this process; progress goes out as plain dicts (JSON-able, picklable)."""

    def on_progress(p: Progress) -> None:
        progress({**p.to_dict(), "stub": request.stub})

    outputs = convert_units(
        request.units,
        request.source,
        request.output_dir,
        layers=request.layers,
        stub=request.stub,
        backend=request.backend,
        overwrite=request.overwrite,
        progress=on_progress,
        inspect=False,
        fast_write=request.fast_write,
        write=request.write,
        timezone=request.timezone,
    )
    return ConvertReply(outputs=outputs)


def run_here(
    message: Message, request: ConvertRequest, progress: Callable[[dict[str, Any]], None]
) -> ConvertReply:
    """The in-process runner: the conversion runs in the bus's worker thread."""
    return convert_request(request, progress)


class ConversionAgent:
    def __init__(self, bus: Bus, runner: Runner = run_here) -> None:
        self.bus = bus
        self.runner = runner
        bus.register(
            NAME,
            [
                Action("detect", DetectRequest, DetectReply, self.detect, blocking=True),
                Action(
                    "read_metadata", ReadMetadataRequest, ReadMetadataReply, self.read_metadata, blocking=True
                ),
                Action("convert", ConvertRequest, ConvertReply, self.convert, blocking=True),
            ],
        )

    def detect(self, message: Message, request: DetectRequest) -> DetectReply:
        return DetectReply(detection=detect(Path(request.source)))

    def read_metadata(self, message: Message, request: ReadMetadataRequest) -> ReadMetadataReply:
        """What the files say, from the units whose reader opens; the others come back left out."""
        try:
            opened = OpenedSession(
                request.units, Path(request.source).expanduser().resolve(), timezone=request.timezone
            )
        except NothingOpened as nothing:
            return ReadMetadataReply(layers={}, left_out=nothing.left_out)
        return ReadMetadataReply(
            layers=opened.layers, opened=opened.units, left_out=opened.left_out, notes=opened.notes
        )

    def convert(self, message: Message, request: ConvertRequest) -> ConvertReply:
        def progress(payload: dict[str, Any]) -> None:
            self.bus.publish(
                Message(
                    session_id=message.session_id,
                    sender=NAME,
                    target="*",
                    action="progress",
                    payload=payload,
                    correlation_id=message.id,
                )
            )

        return self.runner(message, request, progress)
