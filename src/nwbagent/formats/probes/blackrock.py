"""Blackrock NSP: continuous ``.ns1``-``.ns6`` (magic ``NEURALSG``/``NEURALCD``/``BRSMPGRP``) and events /
spikes ``.nev`` (``NEURALEV``/``BREVENTS``). Sampling rate follows the suffix: ns1-ns3 are LFP-rate.

A ``.nev`` is read, not guessed at: its data packets say whether it holds spikes at all (packet id = the
electrode) and whether the online sorter classified them (unit 1-16) or only saved threshold crossings
(unit 0); its basic header says the clock its timestamps tick at, which is the sorting's sampling frequency
when no NSx file sits beside it (NeuroConv cannot infer it then and would stop with an AssertionError).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from nwbagent.formats.model import Category, Unsupported
from nwbagent.formats.probes.base import (
    CERTAIN,
    STRONG,
    SUFFIX_ONLY,
    FileIndex,
    Probe,
    ProbeResult,
    Signature,
    head,
    rel,
    unit,
)

_NSX_MAGIC = (b"NEURALSG", b"NEURALCD", b"BRSMPGRP")
_NEV_MAGIC = (b"NEURALEV", b"BREVENTS")
_LFP_RATE = {".ns1", ".ns2", ".ns3"}  # 500 Hz, 1 kHz, 2 kHz
NSX = Signature(
    "Blackrock NSx", tuple(f".ns{i}" for i in range(1, 10)), _NSX_MAGIC, "NEURALSG, NEURALCD or BRSMPGRP"
)
NEV = Signature("Blackrock NEV", (".nev",), _NEV_MAGIC, "NEURALEV or BREVENTS")


class BlackrockProbe(Probe):
    family = "Blackrock"
    interfaces = ("BlackrockRecordingInterface", "BlackrockSortingInterface")
    categories: ClassVar[dict[str, Category]] = {"BlackrockSortingInterface": "sorting"}
    signatures = (NSX, NEV)

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        for number in range(0, 7):
            for path in index.files(f".ns{number}"):
                magic = head(path, 8)
                if magic not in _NSX_MAGIC:
                    continue
                result.claimed.add(path)
                suffix = path.suffix.lower()
                category: Category = "lfp" if suffix in _LFP_RATE else "recording"
                result.units.append(
                    unit(
                        "BlackrockRecordingInterface",
                        {"file_path": str(path)},
                        category,
                        CERTAIN,
                        [
                            f"{rel(path, index.root)}: Blackrock {magic.decode()} header"
                            + (f" ({suffix} is an LFP-rate file)" if category == "lfp" else "")
                        ],
                        streams=[suffix.lstrip(".")],
                    )
                )
        for path in index.files(".nev"):
            magic = head(path, 8)
            if magic not in _NEV_MAGIC:
                continue
            result.claimed.add(path)
            where = rel(path, index.root)
            facts = _nev_facts(path)
            if facts is None:
                result.warnings.append(
                    f"{path}: Blackrock {magic.decode()} header, but its packets could not be read (the file "
                    "is truncated or damaged); it is left out."
                )
                continue
            if facts.spikes == 0:
                result.unsupported.append(
                    Unsupported(
                        path=str(path),
                        reason=f"Blackrock .nev with {facts.digital} digital events and no spikes; NeuroConv "
                        "has no interface for Blackrock events alone",
                    )
                )
                continue
            evidence = [f"{where}: Blackrock {magic.decode()} header", facts.describe()]
            kwargs: dict[str, object] = {"file_path": str(path)}
            has_nsx = any(
                s.lower().startswith(path.stem.lower() + ".ns")
                for s in index.siblings(path)
                if s != path.name
            )
            if not has_nsx:
                kwargs["sampling_frequency"] = float(facts.clock_hz)
                evidence.append(
                    f"no NSx file beside it: sampling frequency {facts.clock_hz:g} Hz taken from the NEV "
                    "header's timestamp resolution"
                )
            result.units.append(
                unit(
                    "BlackrockSortingInterface",
                    kwargs,
                    "sorting",
                    STRONG if facts.sorted_units else SUFFIX_ONLY,
                    evidence,
                )
            )
        return result


@dataclass(frozen=True)
class NevFacts:
    clock_hz: int
    spikes: int
    sorted_spikes: int
    electrodes: int
    sorted_units: int
    digital: int

    def describe(self) -> str:
        if self.sorted_units:
            return (
                f"{self.spikes:,} spikes on {self.electrodes} electrodes, {self.sorted_spikes:,} of them in "
                f"{self.sorted_units} online-sorted units"
            )
        return (
            f"{self.spikes:,} threshold crossings on {self.electrodes} electrodes, none classified into "
            "units: each electrode becomes one multi-unit"
        )


def _nev_facts(path: Path) -> NevFacts | None:
    """Count the packets of a .nev: spikes (packet id 1-2048) and the units they were classified into."""
    try:
        with path.open("rb") as handle:
            basic = handle.read(28)
            magic, _spec, _flags, header_bytes, packet_bytes, clock = struct.unpack("<8sHHIII", basic[:24])
            if packet_bytes < 8 or header_bytes < 28:
                return None
            handle.seek(header_bytes)
            raw = handle.read()
    except (OSError, struct.error):
        return None
    count = len(raw) // packet_bytes
    packets = np.frombuffer(raw, dtype=np.uint8, count=count * packet_bytes).reshape(count, packet_bytes)
    offset = 8 if magic == b"BREVENTS" else 4  # file spec 3.0 has 64-bit timestamps
    if packet_bytes < offset + 3:
        return None
    ids = packets[:, offset : offset + 2].copy().view("<u2").ravel()
    classes = packets[:, offset + 2]
    spike = (ids > 0) & (ids <= 2048)
    sorted_mask = spike & (classes >= 1) & (classes <= 16)
    sorted_units = len(
        {(int(e), int(c)) for e, c in zip(ids[sorted_mask], classes[sorted_mask], strict=True)}
    )
    return NevFacts(
        clock_hz=int(clock),
        spikes=int(spike.sum()),
        sorted_spikes=int(sorted_mask.sum()),
        electrodes=len(np.unique(ids[spike])),
        sorted_units=sorted_units,
        digital=int((ids == 0).sum()),
    )
