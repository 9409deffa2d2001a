"""transformers VITS text-to-speech (``VitsModel`` + ``VitsTokenizer``), e.g. the online default
``facebook/mms-tts-eng`` (Meta's Massively Multilingual Speech, English voice, 16 kHz).

VITS is a conditional VAE with normalising flows and a stochastic duration predictor: the same
text gives slightly different speech for different seeds (``noise_scale`` / ``noise_scale_duration``
set how much). Speed is the model's ``speaking_rate``. Long texts are spoken sentence by sentence
(with a short pause between), because the model attends over the whole input at once. The model
always runs in float32 (it is small, and its flows are sensitive to half precision).

Test models: ``options={"config": {...VitsConfig kwargs...}, "vocab": "abc...", "seed": 0}`` builds
a random-weight model and a character tokenizer without any download.
"""

from __future__ import annotations

import json
import re
import threading
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..audiogen import Generation
from ..errors import TextError
from ..registry import ModelSpec
from . import _hub

_SENTENCE = re.compile(r"(?<=[.!?;:。！？])\s+")


def split_sentences(text: str, max_chars: int = 300) -> list[str]:
    """Sentences of ``text``; a sentence longer than ``max_chars`` is cut at commas, then at spaces."""
    out: list[str] = []
    for sentence in _SENTENCE.split(text.strip()):
        while len(sentence) > max_chars:
            cut = sentence.rfind(",", 0, max_chars)
            cut = cut if cut > 0 else sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            out.append(sentence[:cut + 1].strip())
            sentence = sentence[cut + 1:]
        if sentence.strip():
            out.append(sentence.strip())
    return out


class HFVitsBackend:
    """A loaded VITS model and its tokenizer."""

    controls = frozenset({"speed", "seed"})

    def __init__(self, spec: ModelSpec, model: Any, tokenizer: Any, device: Any, note: str = "") -> None:
        import torch

        self.spec, self.tokenizer, self.device, self.note = spec, tokenizer, device, note
        self.model = model.to(device=device, dtype=torch.float32).eval()
        self.sample_rate = int(model.config.sampling_rate)
        self.default_voice = spec.name
        self.voices = (spec.name,)
        # one request at a time per loaded model: sampling is seeded through torch's global generator
        # (and VITS reads its speed from a model attribute), so concurrent users would mix seeds
        self._lock = threading.Lock()

    def check_voice(self, voice: str | None) -> str:
        from ..errors import InvalidInputError

        if voice not in (None, "", self.default_voice):
            raise InvalidInputError(f"{self.spec.name} has one voice; choose another model for another voice.")
        return self.default_voice

    def synthesize(self, text: str, *, voice: str | None, speed: float, pitch: int | None, seed: int) -> Generation:
        import torch

        pieces = []
        pause = np.zeros(int(0.2 * self.sample_rate), dtype=np.float32)
        devices = [self.device] if torch.device(self.device).type == "cuda" else []
        with self._lock, torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(seed)
            for sentence in split_sentences(text):
                inputs = self.tokenizer(sentence, return_tensors="pt")
                if inputs["input_ids"].shape[1] == 0 or not bool((inputs["input_ids"] != self.tokenizer.pad_token_id).any()):
                    continue
                self.model.speaking_rate = float(speed)
                wave = self.model(**{k: v.to(self.device) for k, v in inputs.items()}).waveform[0]
                pieces += [wave.float().cpu().numpy(), pause]
        if not pieces:
            raise TextError(f"{self.spec.name} cannot pronounce any character of this text.",
                            hint="Write it in the model's language and script (mms-tts-eng: English letters).")
        return Generation(np.concatenate(pieces[:-1]).astype(np.float32), self.sample_rate)

    def torch_modules(self) -> list:
        return [self.model]


def _from_config(options: dict) -> tuple[Any, Any]:
    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    chars = options.get("vocab", " abcdefghijklmnopqrstuvwxyz'.,?!-")
    vocab = {"<pad>": 0, **{c: i + 1 for i, c in enumerate(dict.fromkeys(chars))}}
    with tempfile.TemporaryDirectory(prefix="mmbench-vits-") as folder:
        path = Path(folder) / "vocab.json"
        path.write_text(json.dumps(vocab))
        tokenizer = VitsTokenizer(str(path), pad_token="<pad>", unk_token="<pad>", add_blank=True, normalize=True,
                                  phonemize=False)
    config = VitsConfig(vocab_size=len(vocab), **options["config"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(options.get("seed", 0)))
        model = VitsModel(config)
    return model.eval(), tokenizer


def _from_pretrained(spec: ModelSpec) -> tuple[Any, Any]:
    import torch
    from transformers import AutoTokenizer, VitsModel

    model, tokenizer = _hub.load_pretrained(spec, VitsModel, AutoTokenizer, dtype=torch.float32,
                                            what=f"the transformers VITS checkpoint '{spec.source}'")
    return model.eval(), tokenizer


def load(spec: ModelSpec, device: Any, dtype: Any) -> HFVitsBackend:
    """Build the backend for ``spec`` (see the module docstring for the accepted options)."""
    _hub.require_package(spec, "transformers")
    if "config" in spec.options:
        model, tokenizer = _from_config(spec.options)
        return HFVitsBackend(spec, model, tokenizer, device, note=_hub.RANDOM_NOTE)
    model, tokenizer = _from_pretrained(spec)
    return HFVitsBackend(spec, model, tokenizer, device)
