"""Time-frequency attributions for spectrogram models: which regions of the spectrogram made the class.

>>> pipe = mmbench.pipeline("audio-classification", model="mmbench-prosody-cnn")   # doctest: +SKIP
>>> att = explain_spectrogram(pipe, (8000, clip), target="positive")                # doctest: +SKIP
>>> att.heatmap.shape == att.spectrogram.shape                                      # doctest: +SKIP
True

Occlusion (Zeiler & Fergus 2014) on the model's own input view, the log-mel spectrogram: a patch
of ``patch`` (mel bands, frames) slides with ``stride``; each position is set to ``fill`` (the
clip's minimum, i.e. silence, by default) and the drop of the target score is credited to every
cell the patch covered (averaged over the patches that covered it). Positive = that time-frequency
region supports the class. The model is the audio-classification pipeline, or any
:class:`SpectrogramModel` (``spectrogram``: waveform -> (1, 1, M, T); ``logits``: (B, 1, M, T) -> (B, C)).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..data.labels import target_class
from ..errors import InvalidInputError

__all__ = ["SpectrogramAttribution", "SpectrogramModel", "explain_spectrogram"]


@dataclass
class SpectrogramModel:
    """What time-frequency occlusion needs: the input view and the classifier on it."""

    spectrogram: Callable[[Any], Any]  # (1, samples) float tensor -> (1, 1, M, T)
    logits: Callable[[Any], Any]  # (B, 1, M, T) -> (B, C)
    labels: Sequence[str] | None = None
    sample_rate: int | None = None
    hop_length: int | None = None


@dataclass
class SpectrogramAttribution:
    """A signed relevance map aligned cell for cell with the model's spectrogram of the clip.

    Attributes:
        spectrogram: ``(M, T)`` the model's input (log-mel, low bands first).
        heatmap: ``(M, T)`` float, score drop when the region is occluded (> 0 supports ``target``).
        target / target_index / score: the explained class and its score on the intact clip.
        seconds_per_frame: frame hop in seconds when known (for time axes), else None.
    """

    spectrogram: np.ndarray
    heatmap: np.ndarray
    method: str
    target: str
    target_index: int
    score: float
    seconds_per_frame: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def band_profile(self) -> np.ndarray:
        """Mean relevance per mel band ``(M,)``: which frequencies mattered."""
        return self.heatmap.mean(axis=1)

    def time_profile(self) -> np.ndarray:
        """Mean relevance per frame ``(T,)``: when it mattered."""
        return self.heatmap.mean(axis=0)

    def figure(self, title: str | None = None) -> Any:
        """Spectrogram | relevance (diverging colours, 0 = white); a matplotlib ``Figure``."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8, 2.8), layout="constrained")
        left, right = fig.subplots(1, 2, sharey=True)
        t_max = self.heatmap.shape[1] * (self.seconds_per_frame or 1.0)
        extent = (0, t_max, 0, self.heatmap.shape[0])
        left.imshow(self.spectrogram, origin="lower", aspect="auto", cmap="magma", extent=extent)
        left.set_title("log-mel spectrogram (model input)", fontsize=9)
        peak = float(np.abs(self.heatmap).max()) or 1.0
        im = right.imshow(self.heatmap, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-peak, vmax=peak,
                          extent=extent)
        right.set_title(title or f"{self.method}: evidence for '{self.target}'", fontsize=9)
        for ax in (left, right):
            ax.set_xlabel("time (s)" if self.seconds_per_frame else "frame", fontsize=8)
        left.set_ylabel("mel band", fontsize=8)
        fig.colorbar(im, ax=right, fraction=0.05, pad=0.02, label="score drop")
        return fig


def _as_model(model: Any) -> SpectrogramModel:
    if isinstance(model, SpectrogramModel):
        return model
    backend = getattr(model, "backend", None)
    if backend is not None and hasattr(backend, "spectrogram") and hasattr(backend, "logits_spectrogram"):
        return SpectrogramModel(backend.spectrogram, backend.logits_spectrogram, list(model.labels),
                                int(backend.sample_rate), int(backend.model.config.hop_length))
    raise InvalidInputError(f"Cannot explain a {type(model).__name__} on spectrograms.",
                            hint="Pass mmbench.pipeline('audio-classification') or a SpectrogramModel.")


def explain_spectrogram(model: Any, clip: Any, target: Any = None, *, patch: tuple[int, int] = (8, 8),
                        stride: tuple[int, int] | None = None, fill: str | float = "min",
                        output: str = "probability", batch_size: int = 64) -> SpectrogramAttribution:
    """Time-frequency occlusion map of ``model``'s score for ``target`` on ``clip``.

    Args:
        model: ``mmbench.pipeline("audio-classification")`` or a :class:`SpectrogramModel`.
        clip: what the pipeline takes (``(sample_rate, samples)``, a path, bytes) or a 1-D float array
            at the model's rate.
        target: class name or index; None = the predicted class.
        patch / stride: occluding patch and its step in (mel bands, frames); stride defaults to half the patch.
        fill: ``"min"`` (silence at the clip's floor), ``"mean"``, or a number in the spectrogram's units.
        output: ``"probability"`` (softmax of the target) or ``"logit"``.
    """
    import torch

    started = time.perf_counter()
    sm = _as_model(model)
    if output not in ("probability", "logit"):
        raise InvalidInputError(f"output must be 'probability' or 'logit', not {output!r}.")
    ph, pw = (int(p) for p in patch)
    sh, sw = (int(s) for s in (stride or (max(1, ph // 2), max(1, pw // 2))))
    if min(ph, pw, sh, sw) < 1:
        raise InvalidInputError(f"patch and stride must be positive, got patch={patch}, stride={stride}.")
    if hasattr(model, "waveforms"):
        wave = model.waveforms(np.asarray(clip, np.float32)[None] if isinstance(clip, np.ndarray) and clip.ndim == 1
                               else clip)[:1]
    else:
        wave = np.asarray(clip, np.float32).reshape(1, -1)
        if not np.isfinite(wave).all():
            raise InvalidInputError("The clip contains NaN or infinite samples.")

    def score(spec: Any) -> np.ndarray:
        out = sm.logits(spec).float()
        return (out.softmax(-1) if output == "probability" else out).cpu().numpy()

    with torch.inference_mode():
        spec = sm.spectrogram(torch.as_tensor(wave))
        base = score(spec)[0]
        idx, name = target_class(sm.labels, target, base)
        m, t = spec.shape[-2:]
        value = (float(spec.min()) if fill == "min" else float(spec.mean()) if fill == "mean" else float(fill))
        rows = list(range(0, max(1, m - ph) + 1, sh))
        cols = list(range(0, max(1, t - pw) + 1, sw))
        if rows[-1] + ph < m:
            rows.append(m - ph)
        if cols[-1] + pw < t:
            cols.append(t - pw)
        positions = [(r, c) for r in rows for c in cols]
        drops = np.zeros((m, t))
        counts = np.zeros((m, t))
        for i in range(0, len(positions), batch_size):
            chunk = positions[i:i + batch_size]
            batch = spec.repeat(len(chunk), 1, 1, 1).clone()
            for k, (r, c) in enumerate(chunk):
                batch[k, :, r:r + ph, c:c + pw] = value
            s = score(batch)[:, idx]
            for k, (r, c) in enumerate(chunk):
                drops[r:r + ph, c:c + pw] += base[idx] - s[k]
                counts[r:r + ph, c:c + pw] += 1
    heat = drops / np.maximum(counts, 1)
    spf = sm.hop_length / sm.sample_rate if sm.hop_length and sm.sample_rate else None
    return SpectrogramAttribution(spec[0, 0].float().cpu().numpy(), heat.astype(np.float32), "occlusion", name, idx,
                                  float(base[idx]), spf,
                                  {"patch": (ph, pw), "stride": (sh, sw), "fill": value, "output": output,
                                   "n_occlusions": len(positions), "seconds": time.perf_counter() - started})
