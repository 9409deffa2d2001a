"""Benchmark: mmbench's speech-recognition pipeline vs calling faster-whisper directly, same loaded model.

Run ``mmbench bench speech`` (or ``python benchmarks/speech.py`` in a checkout), or call
:func:`run`. Both sides transcribe the same recordings with the same ``WhisperModel`` object and
the same decoding settings (beam 5, word timestamps, no VAD filter); the difference is what the
pipeline adds: validation, resampling and mono mixing (:func:`mmbench.io.validate_audio`), the
chunk plan and the typed result. The recordings are the LibriVox files of Debian's
``pocketsphinx-testdata`` when installed, else the two shipped in ``assets/audio``. A table goes to
stderr; the last line of stdout is one JSON object with ``ratio`` (mmbench median / raw median),
the real-time factors and whether the texts agree.
"""

from __future__ import annotations

import argparse
import statistics
import time

from .common import log, parse_and_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of this benchmark (the defaults are :func:`run`'s)."""
    parser.add_argument("--model", help="a faster-whisper registry row")
    parser.add_argument("--repeats", type=int, help="timed passes over the recordings per side")
    parser.add_argument("--beam-size", type=int)
    parser.add_argument("--device")


def run(*, model: str = "whisper-tiny.en-ct2", repeats: int = 3, beam_size: int = 5, device: str = "cpu") -> dict:
    """``pipe(path)`` vs ``WhisperModel.transcribe(path)`` on the same model and recordings."""
    import soundfile

    from ..errors import InvalidInputError
    from ..loading import pipeline
    from ..speech.corpora import LIBRIVOX_DIR, example_clips, librivox_recordings

    pipe = pipeline("speech-recognition", model=model, device=device, fallback=False)
    if pipe.spec.backend != "faster_whisper":
        raise InvalidInputError(f"{model} is not a faster-whisper model; the raw side calls faster-whisper directly")
    whisper = pipe.backend.model
    if (LIBRIVOX_DIR / "transcription").is_file():
        paths = [str(r.path) for r in librivox_recordings()]
    else:
        paths = [str(c.path) for c in example_clips() if c.id.startswith("librivox")]
    log(f"{pipe.describe()} · {len(paths)} recordings")

    def run_raw() -> list[str]:
        out = []
        for path in paths:
            segments, _ = whisper.transcribe(path, language="en", beam_size=beam_size, word_timestamps=True,
                                             vad_filter=False, condition_on_previous_text=False)
            out.append(" ".join(s.text.strip() for s in segments))
        return out

    def run_mmbench() -> list[str]:
        return [pipe(path, beam_size=beam_size).text for path in paths]

    run_raw(), run_mmbench()  # warm-up
    times: dict[str, list[float]] = {"raw": [], "mmbench": []}
    texts: dict[str, list[str]] = {}
    sides = {"raw": run_raw, "mmbench": run_mmbench}
    for i in range(repeats):  # interleaved, alternating which side goes first, to cancel drift
        for side in (("raw", "mmbench") if i % 2 == 0 else ("mmbench", "raw")):
            start = time.perf_counter()
            texts[side] = sides[side]()
            times[side].append(time.perf_counter() - start)

    audio_s = sum(soundfile.info(p).duration for p in paths)
    raw_med, mm_med = statistics.median(times["raw"]), statistics.median(times["mmbench"])
    log(f"{'side':10} {'median s':>9} {'RTF':>7}")
    log(f"{'raw':10} {raw_med:9.3f} {raw_med / audio_s:7.3f}")
    log(f"{'mmbench':10} {mm_med:9.3f} {mm_med / audio_s:7.3f}")
    return {"benchmark": "speech", "model": pipe.spec.name, "recordings": len(paths), "audio_s": round(audio_s, 2),
            "raw_s": round(raw_med, 4), "mmbench_s": round(mm_med, 4), "ratio": round(mm_med / raw_med, 3),
            "rtf_raw": round(raw_med / audio_s, 4), "rtf_mmbench": round(mm_med / audio_s, 4),
            "same_text": texts["raw"] == texts["mmbench"], "repeats": repeats, "beam_size": beam_size}


def main(argv: list[str] | None = None) -> dict:
    """:func:`run` with the options of the command line ``argv`` (default ``sys.argv[1:]``)."""
    return parse_and_run(__doc__, add_arguments, run, argv)
