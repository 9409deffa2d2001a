"""Speech helpers behind the speech-recognition pipeline: word error rate, voice-activity
segmentation (Silero VAD), Whisper's log-mel features, word alignment, and the test recordings.

The pipeline itself lives in :mod:`mmbench.pipelines.speech`; load it with
``mmbench.pipeline("speech-recognition")``. Every module here imports its heavy dependencies
(torch, librosa, silero-vad) inside the functions that need them.
"""

from __future__ import annotations

from .wer import WERResult, normalize_transcript, word_error_rate

__all__ = ["WERResult", "normalize_transcript", "word_error_rate"]
