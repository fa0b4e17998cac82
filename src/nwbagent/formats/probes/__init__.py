"""Every format probe, in one list: adding a format means adding its module and one line here.

Order matters only for ties between units of equal confidence (earlier wins the unit slot).
"""

from __future__ import annotations

from nwbagent.formats.probes.alphaomega import AlphaOmegaProbe
from nwbagent.formats.probes.axon import AxonProbe
from nwbagent.formats.probes.axona import AxonaProbe
from nwbagent.formats.probes.base import FileIndex, Probe, ProbeResult
from nwbagent.formats.probes.biocam import BiocamProbe
from nwbagent.formats.probes.blackrock import BlackrockProbe
from nwbagent.formats.probes.bruker import BrukerVoltageProbe
from nwbagent.formats.probes.cellexplorer import CellExplorerProbe
from nwbagent.formats.probes.edf import EDFProbe
from nwbagent.formats.probes.hdf5 import HDF5RecordingProbe
from nwbagent.formats.probes.intan import IntanProbe
from nwbagent.formats.probes.mcsraw import MCSRawProbe
from nwbagent.formats.probes.mda import MdaProbe
from nwbagent.formats.probes.neuralynx import NeuralynxProbe
from nwbagent.formats.probes.neuroscope import NeuroScopeProbe
from nwbagent.formats.probes.openephys import OpenEphysProbe
from nwbagent.formats.probes.phy import PhyKiloSortProbe
from nwbagent.formats.probes.plexon import PlexonProbe
from nwbagent.formats.probes.spike2 import Spike2Probe
from nwbagent.formats.probes.spikegadgets import SpikeGadgetsProbe
from nwbagent.formats.probes.spikeglx import SpikeGLXProbe
from nwbagent.formats.probes.tdt import TdtProbe
from nwbagent.formats.probes.unsupported import NeoOnlyProbe
from nwbagent.formats.probes.whitematter import WhiteMatterProbe
from nwbagent.formats.probes.xclust import XClustProbe

PROBES: list[Probe] = [
    SpikeGLXProbe(),
    OpenEphysProbe(),
    IntanProbe(),
    NeuroScopeProbe(),
    CellExplorerProbe(),
    PhyKiloSortProbe(),
    AxonProbe(),
    AxonaProbe(),
    NeuralynxProbe(),
    BlackrockProbe(),
    AlphaOmegaProbe(),
    BiocamProbe(),
    EDFProbe(),
    SpikeGadgetsProbe(),
    WhiteMatterProbe(),
    Spike2Probe(),
    PlexonProbe(),
    TdtProbe(),
    MCSRawProbe(),
    HDF5RecordingProbe(),
    MdaProbe(),
    XClustProbe(),
    BrukerVoltageProbe(),
    NeoOnlyProbe(),
]

__all__ = ["PROBES", "FileIndex", "Probe", "ProbeResult"]
