"""The Conversion agent: detects formats and streams, reads what the files say, runs NeuroConv.

It holds no session state: every request carries the source, the chosen units and the metadata layers it
needs, and every result goes back as a message. Detection, metadata reading and conversions block (neo,
HDF5), so they are registered as blocking actions and run off the event loop. Conversion progress is
published on the bus as ``progress`` events.
"""

from __future__ import annotations

from pathlib import Path

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
from nwbagent.convert import Progress, convert_units, file_metadata
from nwbagent.convert.preflight import preflight
from nwbagent.formats import detect

NAME = CONVERSION


class ConversionAgent:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
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
        source = Path(request.source)
        warnings = preflight(source)
        return DetectReply(detection=detect(source), warnings=warnings)

    def read_metadata(self, message: Message, request: ReadMetadataRequest) -> ReadMetadataReply:
        return ReadMetadataReply(layers=file_metadata(request.units, request.source))

    def convert(self, message: Message, request: ConvertRequest) -> ConvertReply:
        def progress(p: Progress) -> None:
            self.bus.publish(
                Message(
                    session_id=message.session_id,
                    sender=NAME,
                    target="*",
                    action="progress",
                    payload={**p.to_dict(), "stub": request.stub},
                    correlation_id=message.id,
                )
            )

        outputs = convert_units(
            request.units,
            request.source,
            request.output_dir,
            layers=request.layers,
            stub=request.stub,
            backend=request.backend,
            overwrite=request.overwrite,
            progress=progress,
            inspect=False,
        )
        return ConvertReply(outputs=outputs)
