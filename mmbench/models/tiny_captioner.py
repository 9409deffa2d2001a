"""mmbench-tiny-captioner: a small transformer decoder that writes captions and answers questions
about images, reading the patch tokens of the (frozen) tiny CLIP image tower.

The classic encoder-decoder captioner (Show, Attend and Tell; BLIP's decoder) in one file:

* the **encoder** is the tiny CLIP vision transformer (:mod:`mmbench.models.tiny_clip`), frozen:
  a 64x64 image becomes a [CLS] token and an 8x8 grid of patch tokens;
* the **decoder** reads a token sequence left to right (causal self-attention) and, in every block,
  *cross-attends* to the image tokens: each text position asks "which patches matter for the next
  word?". Those attention probabilities are the per-word maps the explain API shows;
* one sequence format serves both tasks: ``[BOS] question [SEP] answer [EOS]`` — a caption is the
  answer to the empty question, so ``[BOS] [SEP] a red circle left of a blue square [EOS]``.

Decoding (greedy, beam search, sampling with temperature / top-p) is written out in
:meth:`TinyCaptioner.generate`, without a key-value cache: at these lengths (≤ 40 tokens)
recomputing the prefix is cheap and keeps the code readable.
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

from .tiny_clip import Attention, sincos_2d

SPECIALS = ("[PAD]", "[BOS]", "[EOS]", "[SEP]", "[UNK]")
PAD, BOS, EOS, SEP, UNK = range(5)
_TOKEN_RE = re.compile(r"[a-z]+|[,:?]")
_NO_SPACE_BEFORE = {",", ":", "?"}


class CaptionTokenizer:
    """Word-level tokenizer over a closed vocabulary (the procedural world's caption and question words)."""

    def __init__(self, vocab: Sequence[str]) -> None:
        self.itos = list(SPECIALS) + [w for w in vocab if w not in SPECIALS]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def words(self, text: str) -> list[str]:
        return _TOKEN_RE.findall(text.lower())

    def unknown_words(self, text: str) -> list[str]:
        return [w for w in self.words(text) if w not in self.stoi]

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(w, UNK) for w in self.words(text)]

    def tokens(self, ids: Sequence[int]) -> list[str]:
        return [self.itos[int(i)] for i in ids]

    def decode(self, ids: Sequence[int]) -> str:
        """Ids -> text; special tokens are dropped, punctuation sticks to the previous word."""
        return join_words(self.itos[int(i)] for i in ids if int(i) >= len(SPECIALS))

    def prefix(self, question: str = "", prompt: str = "") -> list[int]:
        """``[BOS] question [SEP] prompt``: what the decoder reads before it writes."""
        return [BOS] + self.encode(question) + [SEP] + self.encode(prompt)


def join_words(words) -> str:
    out = ""
    for w in words:
        out += w if (not out or w in _NO_SPACE_BEFORE) else " " + w
    return out


@dataclass
class TinyCaptionerConfig:
    vocab: list[str] = field(default_factory=list)
    width: int = 96
    layers: int = 3
    heads: int = 4
    mlp_ratio: int = 3
    max_length: int = 40
    #: The frozen image encoder: a registry name, its token width and patch grid, and the SHA-256 of
    #: its weights file (the decoder only works with the encoder it was trained on).
    encoder: str = "mmbench-tiny-clip"
    encoder_width: int = 160
    grid: int = 8
    encoder_sha256: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "TinyCaptionerConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class CausalSelfAttention(nn.Module):
    """Masked multi-head self-attention: position t sees positions <= t (and no padding)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class DecoderBlock(nn.Module):
    """Pre-LN decoder block: causal self-attention, cross-attention to the image, MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.self_attn = CausalSelfAttention(dim, heads)
        self.ln_c = nn.LayerNorm(dim)
        # tiny CLIP's Attention: explicit softmax, so mmbench.explain can record its probabilities
        self.cross_attn = Attention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor, image: torch.Tensor, image_index: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.self_attn(self.ln1(x))
        if image_index is None:
            x = x + self.cross_attn(self.ln_c(x), context=image)
        else:
            x = x + self._shared_cross_attention(self.ln_c(x), image, image_index)
        return x + self.mlp(self.ln2(x))

    def _shared_cross_attention(self, x: torch.Tensor, image: torch.Tensor, image_index: torch.Tensor) -> torch.Tensor:
        """``cross_attn(x, context=image[image_index])`` with the keys and values computed once per
        image rather than once per sequence (training reads several sequences per image)."""
        a = self.cross_attn
        b, lq, d = x.shape
        h = a.heads
        q = a.q(x).view(b, lq, h, d // h).transpose(1, 2)
        k, v = a.kv(image).view(image.shape[0], image.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k[image_index], v[image_index])
        return a.out(y.transpose(1, 2).reshape(b, lq, d))


class TinyCaptioner(nn.Module):
    """The decoder. ``forward(image_tokens, ids)`` -> next-token logits ``(B, L, vocab)``.

    ``image_tokens``: ``(B, 1 + grid*grid, encoder_width)`` from the tiny CLIP vision tower
    (:meth:`encode_images` with an encoder); ``ids``: ``(B, L)`` token ids.
    """

    #: regex of the cross-attention modules (for :class:`mmbench.explain.CrossAttentionRecorder`)
    CROSS_ATTENTION = r"blocks\.\d+\.cross_attn"

    def __init__(self, config: TinyCaptionerConfig) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = CaptionTokenizer(config.vocab)
        c = config
        self.img_in = nn.Sequential(nn.LayerNorm(c.encoder_width), nn.Linear(c.encoder_width, c.width))
        pos = torch.cat([torch.zeros(1, c.width), sincos_2d(c.grid, c.width)])
        self.img_pos = nn.Parameter(pos[None].clone())  # where each patch is: needed for "left of"
        self.tok = nn.Embedding(len(self.tokenizer), c.width)
        self.pos = nn.Parameter(torch.randn(1, c.max_length, c.width) * 0.02)
        self.blocks = nn.ModuleList(DecoderBlock(c.width, c.heads, c.mlp_ratio) for _ in range(c.layers))
        self.ln = nn.LayerNorm(c.width)
        self.head = nn.Linear(c.width, len(self.tokenizer), bias=False)
        self.apply(_init)
        self.head.weight = self.tok.weight  # tied input/output embeddings

    def image_memory(self, image_tokens: torch.Tensor) -> torch.Tensor:
        """Encoder tokens -> the keys/values every cross-attention reads."""
        return self.img_in(image_tokens.to(self.pos.dtype)) + self.img_pos

    def forward(self, image_tokens: torch.Tensor, ids: torch.Tensor, memory: torch.Tensor | None = None,
                image_index: torch.Tensor | None = None) -> torch.Tensor:
        """``image_index`` (training): sequence i reads image ``image_index[i]`` of a smaller image batch."""
        mem = self.image_memory(image_tokens) if memory is None else memory
        x = self.tok(ids) + self.pos[:, : ids.shape[1]]
        for blk in self.blocks:
            x = blk(x, mem, image_index)
        return self.head(self.ln(x))

    # -- decoding ----------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, image_tokens: torch.Tensor, prefix: Sequence[int] | Sequence[Sequence[int]], *, max_new_tokens: int = 30,
                 num_beams: int = 1, do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
                 length_penalty: float = 1.0, generator: torch.Generator | None = None) -> list[list[int]]:
        """Continue ``prefix`` (e.g. ``tokenizer.prefix(question)``; or one prefix per image, all of
        one length) for each image; returns the new ids of each image without ``[EOS]``.

        Greedy (``num_beams=1``), beam search (``num_beams>1``: the ``num_beams`` most probable
        partial sequences are kept; finished ones are ranked by ``sum log p / length**length_penalty``,
        as transformers does) or sampling (``do_sample=True``: from ``softmax(logits / temperature)``
        restricted to the smallest set of tokens whose probability reaches ``top_p``).
        """
        b = image_tokens.shape[0]
        prefixes = [list(p) for p in prefix] if prefix and isinstance(prefix[0], (list, tuple)) else [list(prefix)] * b
        if len(prefixes) != b or len({len(p) for p in prefixes}) != 1:
            raise ValueError("give one prefix, or one per image, all of the same length")
        room = self.config.max_length - len(prefixes[0])
        max_new = max(0, min(int(max_new_tokens), room))
        if num_beams > 1:
            return [self._beam_search(image_tokens[i:i + 1], prefixes[i], max_new, num_beams, length_penalty)
                    for i in range(b)]
        mem = self.image_memory(image_tokens)
        ids = torch.tensor(prefixes, dtype=torch.long, device=mem.device)
        done = torch.zeros(b, dtype=torch.bool, device=mem.device)
        out: list[list[int]] = [[] for _ in range(b)]
        for _ in range(max_new):
            logits = self.forward(image_tokens, ids, memory=mem)[:, -1].float()
            logits[:, [PAD, BOS, SEP]] = -math.inf  # never written after the prefix
            if do_sample:
                nxt = _sample(logits, temperature, top_p, generator)
            else:
                nxt = logits.argmax(-1)
            for i in range(b):
                if not done[i]:
                    if int(nxt[i]) == EOS:
                        done[i] = True
                    else:
                        out[i].append(int(nxt[i]))
            if bool(done.all()):
                break
            ids = torch.cat([ids, nxt[:, None]], dim=1)
        return out

    def _beam_search(self, image_tokens: torch.Tensor, prefix: Sequence[int], max_new: int, k: int,
                     length_penalty: float) -> list[int]:
        mem = self.image_memory(image_tokens)
        beams: list[tuple[list[int], float]] = [([], 0.0)]  # (new ids, sum of log-probabilities)
        finished: list[tuple[float, list[int]]] = []
        for _ in range(max_new):
            ids = torch.tensor([list(prefix) + b[0] for b in beams], dtype=torch.long, device=mem.device)
            logp = self.forward(image_tokens.expand(len(beams), -1, -1), ids,
                                memory=mem.expand(len(beams), -1, -1))[:, -1].float()
            logp[:, [PAD, BOS, SEP]] = -math.inf
            logp = logp.log_softmax(-1)
            total = torch.tensor([b[1] for b in beams], device=logp.device)[:, None] + logp
            top = total.flatten().topk(min(2 * k, total.numel()))
            nxt: list[tuple[list[int], float]] = []
            for score, flat in zip(top.values.tolist(), top.indices.tolist()):
                beam, tok = divmod(flat, logp.shape[1])
                seq = beams[beam][0]
                if tok == EOS:
                    finished.append((score / max(1, len(seq) + 1) ** length_penalty, seq))
                else:
                    nxt.append((seq + [tok], score))
                if len(nxt) == k:
                    break
            beams = nxt
            if len(finished) >= k or not beams:  # transformers' early_stopping=True
                break
        if not finished:  # ran out of tokens: the best live beam
            finished = [(s / max(1, len(seq)) ** length_penalty, seq) for seq, s in beams]
        return max(finished, key=lambda f: f[0])[1]

    # -- persistence ------------------------------------------------------------------------
    def save(self, folder: str | Path, dtype: torch.dtype = torch.float16) -> None:
        """Write ``model.safetensors`` (the decoder only) and ``config.json`` to ``folder``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in self.state_dict().items()
                 if k != "head.weight"}  # tied to tok.weight
        save_file(state, str(folder / "model.safetensors"),
                  metadata={"format": "pt", "model": "mmbench-tiny-captioner", "encoder": self.config.encoder})
        (folder / "config.json").write_text(self.config.to_json())
        (folder / "model.safetensors").chmod(0o644)

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device = "cpu") -> "TinyCaptioner":
        from safetensors.torch import load_file

        folder = Path(folder)
        config = TinyCaptionerConfig.from_dict(json.loads((folder / "config.json").read_text()))
        model = cls(config)
        state = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
        state["head.weight"] = state["tok.weight"]
        model.load_state_dict(state)
        return model.to(device).eval()


def _sample(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None) -> torch.Tensor:
    """One token per row from ``softmax(logits / temperature)`` truncated to the top-p nucleus."""
    probs = (logits / max(float(temperature), 1e-6)).softmax(-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(-1, descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < top_p  # tokens before the nucleus is complete (>= 1)
        sorted_p = sorted_p * keep
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs / probs.sum(-1, keepdim=True), 1, generator=generator).squeeze(-1)


def _init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Embedding):
        nn.init.normal_(m.weight, std=0.02)
