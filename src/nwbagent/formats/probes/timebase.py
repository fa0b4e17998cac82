"""A recording seen at the time base its files prove, where the reader misreads it.

Two readers get a sampling rate wrong in ways the files themselves disprove: neo reads Intan's quarter-rate
auxiliary inputs at the quarter rate although these formats store them at the amplifier rate (so every
fourth sample is the real one), and NeuroScope ``.lfp``/``.eeg`` files at the wide-band rate instead of the
XML's ``lfpSamplingRate``. The view here keeps every ``step``-th sample and reports it at ``rate``; data
values are untouched, so the write reads exactly the samples the files hold.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def retimed(recording: Any, *, step: int = 1, rate: float | None = None) -> Any:
    """Every ``step``-th sample of ``recording`` at ``rate`` Hz (default: the recording's own rate)."""
    return _view_class()(recording, step, rate)


def _view_class() -> type:
    """Built on first use: SpikeInterface's preprocessing base is imported only where recordings are."""
    from spikeinterface.preprocessing.basepreprocessor import BasePreprocessor, BasePreprocessorSegment

    class Segment(BasePreprocessorSegment):
        def __init__(self, parent: Any, step: int, rate: float) -> None:
            super().__init__(parent)
            self.step = step
            self.sampling_frequency = rate
            self.t_start = parent.get_times_kwargs().get("t_start")
            self.time_vector = None

        def get_num_samples(self) -> int:
            return int(self.parent_recording_segment.get_num_samples() // self.step)

        def get_traces(self, start_frame: Any, end_frame: Any, channel_indices: Any) -> Any:
            start = 0 if start_frame is None else int(start_frame)
            end = self.get_num_samples() if end_frame is None else int(end_frame)
            traces = self.parent_recording_segment.get_traces(
                start * self.step, end * self.step, channel_indices
            )
            return traces[:: self.step]

        def get_times_kwargs(self) -> dict[str, Any]:
            return {
                "sampling_frequency": self.sampling_frequency,
                "t_start": self.t_start,
                "time_vector": None,
            }

        def get_times(self, start_frame: Any = None, end_frame: Any = None) -> Any:
            start = 0 if start_frame is None else int(start_frame)
            end = self.get_num_samples() if end_frame is None else int(end_frame)
            return np.arange(start, end) / self.sampling_frequency + (self.t_start or 0.0)

        def get_start_time(self) -> float:
            return float(self.t_start or 0.0)

        def get_end_time(self) -> float:
            return self.get_start_time() + self.get_num_samples() / self.sampling_frequency

        def sample_index_to_time(self, sample_ind: Any) -> Any:
            return sample_ind / self.sampling_frequency + (self.t_start or 0.0)

        def time_to_sample_index(self, time_s: Any) -> Any:
            return round((time_s - (self.t_start or 0.0)) * self.sampling_frequency)

    class View(BasePreprocessor):
        """Every ``step``-th sample of ``recording`` at ``rate``."""

        def __init__(self, recording: Any, step: int, rate: float | None) -> None:
            rate = float(rate if rate is not None else recording.get_sampling_frequency())
            super().__init__(recording, sampling_frequency=rate)
            for segment in recording._recording_segments:
                self.add_recording_segment(Segment(segment, step, rate))
            self._kwargs = {"recording": recording, "step": step, "rate": rate}

    return View
