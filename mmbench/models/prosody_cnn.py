"""mmbench-prosody-cnn: a small spectrogram CNN that reads the sentiment of a prosody clip.

``waveform (N, samples) at 8 kHz -> log-mel spectrogram (N, 1, n_mels, frames) -> 3 conv blocks ->
mean+max pooling -> embedding (N, embed_dim) -> logits (N, 3)``. The spectrogram is computed in
torch (STFT + a mel filterbank stored with the weights), so explanations can perturb the
spectrogram itself (:mod:`mmbench.explain.audio`, time-frequency occlusion) and the model loads
without librosa. Trained by ``mmbench train prosody-cnn`` on procedural clips from world seeds
that the fusion lab never uses (:mod:`mmbench.train.prosody_cnn`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")


@dataclass
class ProsodyCNNConfig:
    sample_rate: int = 8000
    n_fft: int = 512
    hop_length: int = 64
    n_mels: int = 48
    f_min: float = 60.0
    f_max: float = 1400.0
    channels: tuple[int, ...] = (16, 32, 48)
    embed_dim: int = 64
    dropout: float = 0.2
    labels: tuple[str, ...] = field(default=LABELS)

    @classmethod
    def from_dict(cls, d: dict) -> "ProsodyCNNConfig":
        d = dict(d)
        for k in ("channels", "labels"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


def mel_filterbank(sr: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """``(n_mels, n_fft // 2 + 1)`` triangular filters on the HTK mel scale (``mel = 2595 log10(1 + f/700)``)."""
    def to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def to_hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    edges = to_hz(np.linspace(to_mel(f_min), to_mel(f_max), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lower) / (centre - lower)
    down = (upper - freqs[None]) / (upper - centre)
    fb = np.maximum(0.0, np.minimum(up, down))
    return (fb / np.maximum(fb.sum(axis=1, keepdims=True), 1e-9)).astype(np.float32)


class ProsodyCNN(nn.Module):
    def __init__(self, config: ProsodyCNNConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or ProsodyCNNConfig()
        self.register_buffer("mel", torch.from_numpy(mel_filterbank(c.sample_rate, c.n_fft, c.n_mels, c.f_min, c.f_max)))
        self.register_buffer("window", torch.hann_window(c.n_fft))
        blocks, cin = [], 1
        for cout in c.channels:
            blocks += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]
            cin = cout
        self.features = nn.Sequential(*blocks)
        self.embed = nn.Sequential(nn.Linear(2 * cin, c.embed_dim), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(c.embed_dim, len(c.labels)))

    # -- the three stages, each callable on its own ------------------------------------------------
    def spectrogram(self, wave: torch.Tensor) -> torch.Tensor:
        """``(N, samples)`` -> log-mel ``(N, 1, n_mels, frames)``, each clip scaled to a 0 dB peak."""
        c = self.config
        spec = torch.stft(wave.float(), c.n_fft, c.hop_length, window=self.window, return_complex=True,
                          center=True).abs() ** 2  # (N, F, T)
        mel = torch.einsum("mf,nft->nmt", self.mel, spec)
        db = 10.0 * torch.log10(mel.clamp(min=1e-10))
        db = db - db.amax(dim=(1, 2), keepdim=True)
        return (db.clamp(min=-80.0) / 40.0 + 1.0).unsqueeze(1)  # roughly [-1, 1]

    def embed_spectrogram(self, spec: torch.Tensor) -> torch.Tensor:
        """Log-mel ``(N, 1, M, T)`` -> embedding ``(N, embed_dim)``."""
        h = self.features(spec)
        return self.embed(torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1))

    def classify_spectrogram(self, spec: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed_spectrogram(spec))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Waveforms ``(N, samples)`` -> logits ``(N, classes)``."""
        return self.classify_spectrogram(self.spectrogram(wave))

    # -- persistence -------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps(asdict(self.config), indent=1))

    @classmethod
    def load(cls, folder: str | Path) -> "ProsodyCNN":
        from safetensors.torch import load_file

        folder = Path(folder)
        config = ProsodyCNNConfig.from_dict(json.loads((folder / "config.json").read_text()))
        model = cls(config)
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
        return model.eval()
