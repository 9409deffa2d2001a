"""mmbench-tiny-clip: a small CLIP (ViT image tower + transformer text tower) plus an
image-text matching (ITM) head, trained by mmbench on its procedural world.

Written in the nanoGPT spirit: plain PyTorch, one file, attention computed explicitly so that
attention maps (and their gradients) can be read for explanation. The ITM head is the
BLIP/ALBEF design: text tokens self-attend and cross-attend to the image's patch tokens, and a
binary classifier on the text [CLS] says "does this caption describe this image?". It is what
fixes CLIP's bag-of-words weakness (attribute binding, spatial relations).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

SPECIALS = ("[PAD]", "[CLS]", "[EOS]", "[UNK]")
PAD, CLS, EOS, UNK = range(4)
_TOKEN_RE = re.compile(r"[a-z]+|[,:]")


class WordTokenizer:
    """Word-level tokenizer over a closed vocabulary (the procedural world's words).

    Lower-cases, keeps letters and the punctuation ``,`` ``:``, drops everything else (so the
    prompt template ``"a photo of a {}."`` works). Unknown words map to ``[UNK]``.
    """

    def __init__(self, vocab: Sequence[str], context_length: int = 24) -> None:
        self.itos = list(SPECIALS) + [w for w in vocab if w not in SPECIALS]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.context_length = context_length

    def __len__(self) -> int:
        return len(self.itos)

    def words(self, text: str) -> list[str]:
        return _TOKEN_RE.findall(text.lower())

    def unknown_words(self, text: str) -> list[str]:
        return [w for w in self.words(text) if w not in self.stoi]

    def encode(self, text: str) -> list[int]:
        ids = [CLS] + [self.stoi.get(w, UNK) for w in self.words(text)][: self.context_length - 2] + [EOS]
        return ids

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        out = torch.full((len(texts), self.context_length), PAD, dtype=torch.long)
        for i, t in enumerate(texts):
            ids = self.encode(t)
            out[i, : len(ids)] = torch.tensor(ids)
        return out


@dataclass
class TinyClipConfig:
    image_size: int = 64
    patch_size: int = 8
    vision_width: int = 160
    vision_layers: int = 6
    vision_heads: int = 5
    text_width: int = 160
    text_layers: int = 3
    text_heads: int = 5
    context_length: int = 24
    embed_dim: int = 160
    itm_layers: int = 4
    mlp_ratio: int = 4
    vocab: list[str] = field(default_factory=list)
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "TinyClipConfig":
        d = dict(d)
        for k in ("mean", "std"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class Attention(nn.Module):
    """Multi-head attention with explicit softmax; keeps the last attention map when asked."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.keep_attention = False
        self.attention: torch.Tensor | None = None  # (B, heads, Lq, Lk) when keep_attention

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, lq, d = x.shape
        ctx = x if context is None else context
        h = self.heads
        q = self.q(x).view(b, lq, h, d // h).transpose(1, 2)
        k, v = self.kv(ctx).view(b, ctx.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        mask = None
        if key_padding_mask is not None:  # True where padded
            mask = (~key_padding_mask)[:, None, None, :]
        if self.keep_attention:
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(d // h)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            attn = scores.softmax(-1)
            self.attention = attn
            y = attn @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(b, lq, d))


class Block(nn.Module):
    """Pre-LN transformer block; with ``cross=True`` adds cross-attention to a context."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4, cross: bool = False) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.cross = cross
        if cross:
            self.ln_c = nn.LayerNorm(dim)
            self.cross_attn = Attention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None, context: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), key_padding_mask=pad)
        if self.cross:
            x = x + self.cross_attn(self.ln_c(x), context=context)
        return x + self.mlp(self.ln2(x))


def sincos_2d(grid: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embedding (MAE) used to initialise the patch positions."""
    y, x = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32), indexing="ij")
    quarter = dim // 4
    omega = 1.0 / (100.0 ** (torch.arange(quarter, dtype=torch.float32) / quarter))
    ox, oy = x.flatten()[:, None] * omega, y.flatten()[:, None] * omega
    return torch.cat([ox.sin(), ox.cos(), oy.sin(), oy.cos()], dim=1)


class VisionTower(nn.Module):
    """ViT: 8x8 patches -> [CLS] + patch tokens -> transformer. ``forward`` returns all tokens."""

    def __init__(self, c: TinyClipConfig) -> None:
        super().__init__()
        self.grid = c.image_size // c.patch_size
        self.patch = nn.Conv2d(3, c.vision_width, c.patch_size, c.patch_size)
        self.cls = nn.Parameter(torch.zeros(1, 1, c.vision_width))
        pos = torch.cat([torch.zeros(1, c.vision_width), sincos_2d(self.grid, c.vision_width)])
        self.pos = nn.Parameter(pos[None].clone())
        self.blocks = nn.ModuleList(Block(c.vision_width, c.vision_heads, c.mlp_ratio) for _ in range(c.vision_layers))
        self.ln = nn.LayerNorm(c.vision_width)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.patch(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.ln(x)


class TextTower(nn.Module):
    """Bidirectional transformer over word tokens; the [CLS] state is the sentence feature."""

    def __init__(self, c: TinyClipConfig, vocab_size: int) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab_size, c.text_width)
        self.pos = nn.Parameter(torch.randn(1, c.context_length, c.text_width) * 0.02)
        self.blocks = nn.ModuleList(Block(c.text_width, c.text_heads, c.mlp_ratio) for _ in range(c.text_layers))
        self.ln = nn.LayerNorm(c.text_width)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pad = ids == PAD
        x = self.tok(ids) + self.pos[:, : ids.shape[1]]
        for blk in self.blocks:
            x = blk(x, pad=pad)
        return self.ln(x)


class MatchingHead(nn.Module):
    """ITM head: text tokens attend to themselves and to image tokens; [CLS] -> match logit."""

    def __init__(self, c: TinyClipConfig) -> None:
        super().__init__()
        self.img_in = nn.Linear(c.vision_width, c.text_width)
        self.blocks = nn.ModuleList(Block(c.text_width, c.text_heads, c.mlp_ratio, cross=True) for _ in range(c.itm_layers))
        self.ln = nn.LayerNorm(c.text_width)
        self.cls = nn.Linear(c.text_width, 1)

    def forward(self, text_tokens: torch.Tensor, ids: torch.Tensor, image_tokens: torch.Tensor) -> torch.Tensor:
        pad = ids == PAD
        ctx = self.img_in(image_tokens)
        x = text_tokens
        for blk in self.blocks:
            x = blk(x, pad=pad, context=ctx)
        return self.cls(self.ln(x[:, 0])).squeeze(-1)


class TinyClip(nn.Module):
    """Dual encoder (contrastive) + matching head. Images are float tensors normalised by
    ``config.mean/std`` at ``config.image_size``; texts are ids from :class:`WordTokenizer`."""

    def __init__(self, config: TinyClipConfig) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = WordTokenizer(config.vocab, config.context_length)
        self.visual = VisionTower(config)
        self.text = TextTower(config, len(self.tokenizer))
        self.image_proj = nn.Linear(config.vision_width, config.embed_dim, bias=False)
        self.text_proj = nn.Linear(config.text_width, config.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.itm = MatchingHead(config)
        self.apply(_init)

    # The three entry points used by the pipeline / explain API.
    def encode_image(self, pixels: torch.Tensor, tokens: bool = False):
        h = self.visual(pixels)
        emb = self.image_proj(h[:, 0])
        return (emb, h) if tokens else emb

    def encode_text(self, ids: torch.Tensor, tokens: bool = False):
        h = self.text(ids)
        emb = self.text_proj(h[:, 0])
        return (emb, h) if tokens else emb

    def match_logits(self, pixels: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """ITM logit for aligned pairs (pixels[i], ids[i])."""
        _, img_tokens = self.encode_image(pixels, tokens=True)
        _, txt_tokens = self.encode_text(ids, tokens=True)
        return self.itm(txt_tokens, ids, img_tokens)

    def forward(self, pixels: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """CLIP logits ``(N images, M texts)``."""
        img = F.normalize(self.encode_image(pixels), dim=-1)
        txt = F.normalize(self.encode_text(ids), dim=-1)
        return self.logit_scale.exp() * img @ txt.T

    def preprocess(self, images: Sequence) -> torch.Tensor:
        """PIL images (any size, RGB) -> normalised float batch at ``image_size``."""
        import numpy as np
        from PIL import Image

        s = self.config.image_size
        arr = np.stack([np.asarray(im.convert("RGB").resize((s, s), Image.BILINEAR) if im.size != (s, s)
                                   else im.convert("RGB"), dtype=np.uint8) for im in images])
        return self.normalise(torch.from_numpy(arr))

    def normalise(self, uint8_hwc: torch.Tensor) -> torch.Tensor:
        x = uint8_hwc.permute(0, 3, 1, 2).float() / 255.0
        mean = torch.tensor(self.config.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.config.std, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    # -- persistence ------------------------------------------------------------------------
    def save(self, folder: str | Path, dtype: torch.dtype = torch.float16) -> None:
        """Write ``model.safetensors`` (+ ``config.json``) to ``folder``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt", "model": "mmbench-tiny-clip"})
        (folder / "config.json").write_text(self.config.to_json())

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device = "cpu") -> "TinyClip":
        from safetensors.torch import load_file

        folder = Path(folder)
        config = TinyClipConfig.from_dict(json.loads((folder / "config.json").read_text()))
        model = cls(config)
        state = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
        model.load_state_dict(state)
        return model.to(device).eval()


def _init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Embedding):
        nn.init.normal_(m.weight, std=0.02)
