"""mmbench-tiny-video: a small (2+1)D video CNN and a log-mel audio CNN for procedural clips.

Both networks give one score vector *per video frame* — ``S_v(t)`` and ``S_a(t)`` in the chapter's
``S(t) = a S_v(t) + b S_a(t)`` — and a clip's score is their mean over time. That makes the fusion
of the two a one-liner, and the per-frame scores are what the app's frame strip shows.

* :class:`TinyVideoNet`: a 3x3x3 stem, then (2+1)D blocks — a spatial 1x3x3 convolution followed by
  a temporal 3x1x1 one (R(2+1)D, Tran et al. 2018) — at 16x16, 8x8 and 4x4, spatial average pooling,
  and a temporal 1-D convolution head. Motion is seen by the temporal convolutions; time is never
  pooled, so the output keeps one step per input frame.
* :class:`TinyAudioNet`: a log-mel front end (its mel filter bank is computed here and checked
  against librosa's in the tests), three 2-D conv blocks that pool time 8x (one step per video
  frame: the hop is an eighth of a frame), mel-axis averaging and a temporal head.

Plain PyTorch in one file, in the nanoGPT spirit.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# --------------------------------------------------------------------------------------------
# Video
# --------------------------------------------------------------------------------------------
@dataclass
class TinyVideoConfig:
    labels: list[str] = field(default_factory=list)
    input_size: int = 32          # frames are area-resized to input_size x input_size
    n_frames: int = 16            # training clip length (any length >= 1 works at inference)
    fps: float = 8.0              # frame rate of the training clips
    widths: tuple[int, int, int, int] = (24, 48, 96, 128)
    mean: float = 0.5
    std: float = 0.25
    frame_differences: bool = True   # add x(t) - x(t-1) as input channels (an explicit motion cue)
    coordinates: bool = True         # add x, y coordinate channels (CoordConv) so pooled features keep position

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TinyVideoConfig":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "widths" in d:
            d["widths"] = tuple(d["widths"])
        return cls(**d)


def _conv_bn(cin: int, cout: int, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> nn.Sequential:
    pad = tuple(k // 2 for k in kernel)
    return nn.Sequential(nn.Conv3d(cin, cout, kernel, stride, pad, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class Block2Plus1D(nn.Module):
    """Spatial 1x3x3 convolution (stride 2) then temporal 3x1x1 convolution, with a residual on the latter."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.spatial = _conv_bn(cin, cout, (1, 3, 3), (1, 2, 2))
        self.temporal = nn.Sequential(nn.Conv3d(cout, cout, (3, 1, 1), 1, (1, 0, 0), bias=False), nn.BatchNorm3d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.spatial(x)
        return F.relu(x + self.temporal(x))


class TinyVideoNet(nn.Module):
    """``(B, 3, T, H, W)`` normalised frames -> ``(B, T, C)`` per-frame logits."""

    def __init__(self, config: TinyVideoConfig) -> None:
        super().__init__()
        self.config = config
        w0, w1, w2, w3 = config.widths
        cin = 3 + 3 * config.frame_differences + 2 * config.coordinates
        self.stem = _conv_bn(cin, w0, (3, 3, 3), (1, 2, 2))
        self.blocks = nn.Sequential(Block2Plus1D(w0, w1), Block2Plus1D(w1, w2))
        self.temporal_head = nn.Sequential(nn.Conv1d(w2, w3, 3, padding=1), nn.ReLU(inplace=True),
                                           nn.Dropout(0.1), nn.Conv1d(w3, len(config.labels), 1))

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """The normalised RGB frames plus the optional motion and coordinate channels."""
        parts = [x]
        if self.config.frame_differences:
            parts.append(torch.cat([torch.zeros_like(x[:, :, :1]), x[:, :, 1:] - x[:, :, :-1]], dim=2))
        if self.config.coordinates:
            b, _, t, h, w = x.shape
            ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype).view(1, 1, 1, h, 1).expand(b, 1, t, h, w)
            xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype).view(1, 1, 1, 1, w).expand(b, 1, t, h, w)
            parts += [xs, ys]
        return torch.cat(parts, dim=1) if len(parts) > 1 else x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C', T)``: spatially pooled features per frame."""
        return self.blocks(self.stem(self.inputs(x))).mean(dim=(3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.temporal_head(self.features(x)).transpose(1, 2)

    def preprocess(self, frames: Any) -> torch.Tensor:
        """``(T, H, W, 3)`` or ``(B, T, H, W, 3)`` uint8 frames -> ``(B, 3, T, s, s)`` normalised float32."""
        x = torch.as_tensor(np.asarray(frames))
        if x.dim() == 4:
            x = x[None]
        b, t, h, w, _ = x.shape
        s = self.config.input_size
        x = x.permute(0, 1, 4, 2, 3).reshape(b * t, 3, h, w).float().div_(255.0)
        if (h, w) != (s, s):
            x = F.interpolate(x, size=(s, s), mode="area" if h >= s and w >= s else "bilinear")
        x = (x - self.config.mean) / self.config.std
        return x.reshape(b, t, 3, s, s).permute(0, 2, 1, 3, 4).contiguous()


# --------------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------------
@dataclass
class TinyAudioConfig:
    labels: list[str] = field(default_factory=list)
    sample_rate: int = 16000
    fps: float = 8.0              # video frames per second: one output step per video frame
    n_fft: int = 512
    steps_per_frame: int = 8      # mel frames per video frame (the hop is sample_rate / fps / 8)
    n_mels: int = 40
    fmin: float = 50.0
    fmax: float = 6000.0
    widths: tuple[int, int, int, int] = (16, 32, 48, 64)

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate / self.fps / self.steps_per_frame))

    @property
    def samples_per_frame(self) -> int:
        return self.hop_length * self.steps_per_frame

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TinyAudioConfig":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "widths" in d:
            d["widths"] = tuple(d["widths"])
        return cls(**d)


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    mels = f / f_sp
    return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, mels)


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """``(n_mels, n_fft // 2 + 1)`` triangular filters, Slaney-normalised (= ``librosa.filters.mel``)."""
    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


class LogMel(nn.Module):
    """Waveform ``(B, N)`` -> log-mel spectrogram ``(B, n_mels, N // hop)`` (power, dB-like log10)."""

    def __init__(self, config: TinyAudioConfig) -> None:
        super().__init__()
        self.config = config
        fb = mel_filterbank(config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax)
        self.register_buffer("filters", torch.from_numpy(fb), persistent=False)
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        hop = self.config.hop_length
        n_steps = wave.shape[-1] // hop
        spec = torch.stft(wave.float(), self.config.n_fft, hop, window=self.window, center=True,
                          return_complex=True)[..., :n_steps]
        mel = torch.matmul(self.filters, spec.abs().pow(2))
        return torch.log10(mel + 1e-6)


class TinyAudioNet(nn.Module):
    """``(B, N)`` waveform at ``sample_rate`` -> ``(B, T, C)`` logits, one step per video frame."""

    def __init__(self, config: TinyAudioConfig) -> None:
        super().__init__()
        self.config = config
        self.logmel = LogMel(config)
        w0, w1, w2, w3 = config.widths

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                                 nn.ReLU(inplace=True), nn.MaxPool2d(2))

        self.norm = nn.BatchNorm2d(1)
        self.convs = nn.Sequential(block(1, w0), block(w0, w1), block(w1, w2))  # time / 8 = video frames
        self.temporal_head = nn.Sequential(nn.Conv1d(w2, w3, 3, padding=1), nn.ReLU(inplace=True),
                                           nn.Dropout(0.1), nn.Conv1d(w3, len(config.labels), 1))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.logmel(wave)[:, None])           # (B, 1, mels, steps)
        steps = x.shape[-1] - x.shape[-1] % self.config.steps_per_frame
        x = self.convs(x[..., :steps]).mean(dim=2)          # (B, C', frames)
        return self.temporal_head(x).transpose(1, 2)


# --------------------------------------------------------------------------------------------
# Both, saved together
# --------------------------------------------------------------------------------------------
class TinyVideoModel(nn.Module):
    """The shipped pair: ``video`` (:class:`TinyVideoNet`) and ``audio`` (:class:`TinyAudioNet`)."""

    def __init__(self, video: TinyVideoConfig, audio: TinyAudioConfig) -> None:
        super().__init__()
        self.video = TinyVideoNet(video)
        self.audio = TinyAudioNet(audio)

    @property
    def labels(self) -> list[str]:
        return list(self.video.config.labels)

    def save(self, folder: str | Path, extra_config: dict[str, Any] | None = None) -> None:
        """Write ``model.safetensors`` (fp32; the whole thing is about 1 MB) and ``config.json``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt", "model": "mmbench-tiny-video"})
        config = {"video": asdict(self.video.config), "audio": asdict(self.audio.config), **(extra_config or {})}
        (folder / "config.json").write_text(json.dumps(config, indent=1))

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device = "cpu") -> tuple["TinyVideoModel", dict]:
        """``(model in eval mode, the whole config.json)``."""
        from safetensors.torch import load_file

        folder = Path(folder)
        config = json.loads((folder / "config.json").read_text())
        model = cls(TinyVideoConfig.from_dict(config["video"]), TinyAudioConfig.from_dict(config["audio"]))
        model.load_state_dict({k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()})
        return model.to(device).eval(), config
