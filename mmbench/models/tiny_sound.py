"""mmbench-tiny-sound: a small conditional VAE that turns a sound-world caption into a mel spectrogram.

``caption -> words -> text vector c`` (word embeddings + positions, one transformer layer, masked
mean pooling); ``(z, c) -> mel`` by a 1-D convolutional decoder over time whose channels are the
mel bands (each block: 2x upsampling, a convolution, FiLM modulation by ``c``). The latent ``z``
(8 numbers) carries what the caption leaves open — where the events start, the gap between them,
the exact pitch — so different seeds give different renditions of the same caption. During
training an encoder ``q(z | mel, c)`` reads the target spectrogram; at generation ``z`` is drawn
from the prior N(0, I). Captions are dropped (replaced by the empty caption) 10 % of the time, so
the decoder also learns an unconditional model and classifier-free guidance
(``uncond + g (cond - uncond)``) is available.

The waveform comes from :func:`mmbench.audiogen.melspec.mel_to_sound` (Griffin-Lim). Trained by
``mmbench train tiny-sound`` (:mod:`mmbench.train.tiny_sound`).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

PAD, UNK = "<pad>", "<unk>"


@dataclass
class TinySoundConfig:
    vocab: tuple[str, ...] = ()
    max_words: int = 12
    word_dim: int = 64
    text_dim: int = 128
    latent_dim: int = 8
    channels: int = 64
    base_frames: int = 16
    n_mels: int = 80
    frames: int = 128
    mel: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "TinySoundConfig":
        d = dict(d)
        d["vocab"] = tuple(d.get("vocab", ()))
        return cls(**d)


class TextEncoder(nn.Module):
    """Words -> one vector: embeddings + positions, a transformer layer, masked mean pooling, a projection."""

    def __init__(self, cfg: TinySoundConfig) -> None:
        super().__init__()
        self.words = nn.Embedding(len(cfg.vocab) + 2, cfg.word_dim, padding_idx=0)
        self.positions = nn.Parameter(torch.zeros(cfg.max_words, cfg.word_dim))
        self.layer = nn.TransformerEncoderLayer(cfg.word_dim, nhead=2, dim_feedforward=2 * cfg.word_dim,
                                                dropout=0.0, batch_first=True, norm_first=True)
        self.out = nn.Sequential(nn.LayerNorm(cfg.word_dim), nn.Linear(cfg.word_dim, cfg.text_dim), nn.SiLU(),
                                 nn.Linear(cfg.text_dim, cfg.text_dim))
        nn.init.normal_(self.positions, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != 0
        h = self.words(ids) + self.positions[: ids.shape[1]]
        empty = ~mask.any(dim=1)  # the empty caption (guidance): attend to position 0 so softmax is defined
        key_mask = ~mask.clone()
        key_mask[empty, 0] = False
        h = self.layer(h, src_key_padding_mask=key_mask)
        weights = mask.float()
        weights[empty, 0] = 1.0
        pooled = (h * weights[..., None]).sum(1) / weights.sum(1, keepdim=True)
        return self.out(pooled)


class FiLMBlock(nn.Module):
    """2x upsampling in time, a convolution, group norm, scale and shift from the caption, SiLU."""

    def __init__(self, channels: int, text_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 5, padding=2)
        self.norm = nn.GroupNorm(8, channels)
        self.film = nn.Linear(text_dim, 2 * channels)
        self.conv2 = nn.Conv1d(channels, channels, 3, padding=1)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        scale, shift = self.film(c).unsqueeze(-1).chunk(2, dim=1)
        h = F.silu(self.norm(self.conv(h)) * (1 + scale) + shift)
        return h + F.silu(self.conv2(h))


class TinySound(nn.Module):
    """The conditional VAE (see the module docstring). ``forward`` is the training pass."""

    def __init__(self, config: TinySoundConfig) -> None:
        super().__init__()
        self.config = cfg = config
        self.index = {w: i + 2 for i, w in enumerate(cfg.vocab)}
        self.text = TextEncoder(cfg)
        ups = 0
        while cfg.base_frames * 2 ** ups < cfg.frames:
            ups += 1
        if cfg.base_frames * 2 ** ups != cfg.frames:
            raise ValueError("frames must be base_frames times a power of two")
        ch = cfg.channels
        self.start = nn.Linear(cfg.latent_dim + cfg.text_dim, ch * cfg.base_frames)
        self.blocks = nn.ModuleList(FiLMBlock(ch, cfg.text_dim) for _ in range(ups))
        self.to_mel = nn.Conv1d(ch, cfg.n_mels, 3, padding=1)
        downs = []
        cin = cfg.n_mels
        for _ in range(ups):
            downs += [nn.Conv1d(cin, ch, 5, stride=2, padding=2), nn.SiLU()]
            cin = ch
        self.encoder = nn.Sequential(*downs)
        self.to_latent = nn.Linear(ch * cfg.base_frames + cfg.text_dim, 2 * cfg.latent_dim)

    # -- words -----------------------------------------------------------------------------------
    @staticmethod
    def words(caption: str) -> list[str]:
        return re.findall(r"[a-z]+", caption.lower())

    def unknown_words(self, caption: str) -> list[str]:
        """Words of ``caption`` outside the model's vocabulary (they are read as ``<unk>``)."""
        return [w for w in self.words(caption) if w not in self.index]

    def tokenize(self, captions: Sequence[str]) -> torch.Tensor:
        """``(N, max_words)`` word ids; 0 pads, 1 is an unknown word; longer captions are cut."""
        cfg = self.config
        ids = torch.zeros(len(captions), cfg.max_words, dtype=torch.long)
        for i, caption in enumerate(captions):
            toks = [self.index.get(w, 1) for w in self.words(caption)][: cfg.max_words]
            ids[i, : len(toks)] = torch.tensor(toks, dtype=torch.long)
        return ids

    # -- the two halves --------------------------------------------------------------------------
    def encode(self, mel: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``q(z | mel, c)``: mean and log-variance, each ``(N, latent_dim)``."""
        h = self.encoder(mel).flatten(1)
        mu, logvar = self.to_latent(torch.cat([h, c], dim=1)).chunk(2, dim=1)
        return mu, logvar.clamp(-8.0, 8.0)

    def decode(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``(z, c)`` -> mel ``(N, n_mels, frames)``, roughly in [0, 1] (:meth:`generate` clips it).

        A linear output, not a sigmoid: with spectrograms that are mostly silence, a sigmoid is
        pushed into saturation early in training and its gradient vanishes for good."""
        cfg = self.config
        h = F.silu(self.start(torch.cat([z, c], dim=1))).view(len(z), cfg.channels, cfg.base_frames)
        for block in self.blocks:
            h = block(h, c)
        return self.to_mel(h)

    def forward(self, mel: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training pass: ``(reconstruction, mu, logvar)``."""
        c = self.text(ids)
        mu, logvar = self.encode(mel, c)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decode(z, c), mu, logvar

    @torch.no_grad()
    def generate(self, captions: Sequence[str], *, generator: torch.Generator | None = None,
                 temperature: float = 1.0, guidance_scale: float = 1.0) -> torch.Tensor:
        """Mel spectrograms ``(N, n_mels, frames)`` for ``captions``: ``z ~ N(0, temperature^2 I)``;
        ``guidance_scale`` != 1 mixes in the unconditional decoder (classifier-free guidance)."""
        device = next(self.parameters()).device
        ids = self.tokenize(captions).to(device)
        z = torch.randn(len(captions), self.config.latent_dim, generator=generator).to(device) * temperature
        c = self.text(ids)
        mel = self.decode(z, c)
        if guidance_scale != 1.0:
            uncond = self.decode(z, self.text(torch.zeros_like(ids)))
            mel = uncond + guidance_scale * (mel - uncond)
        return mel.clamp(0.0, 1.0)

    # -- persistence -----------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps(asdict(self.config), indent=1))

    @classmethod
    def load(cls, folder: str | Path) -> "TinySound":
        from safetensors.torch import load_file

        folder = Path(folder)
        model = cls(TinySoundConfig.from_dict(json.loads((folder / "config.json").read_text())))
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
        return model.eval()
