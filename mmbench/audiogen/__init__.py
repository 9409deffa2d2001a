"""Audio generation building blocks: espeak-ng speech, the rule-based composer and its MIDI renderers,
mel spectrograms and Griffin-Lim for the tiny text-to-sound model, and the analysis that scores
generated sound (:mod:`mmbench.audiogen.analysis`). The pipelines live in
:mod:`mmbench.pipelines.audio_generation`; this package holds the parts they compose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Generation"]


@dataclass
class Generation:
    """What a generation backend returns: mono float32 samples, their rate, notes for the user, and
    backend-specific details (the composer's plan and MIDI bytes, the renderer used...)."""

    samples: np.ndarray
    sample_rate: int
    notes: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
