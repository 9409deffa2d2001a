"""transformers MusicGen (``MusicgenForConditionalGeneration``), e.g. the online default
``facebook/musicgen-small``: a T5 text encoder, a transformer decoder that predicts EnCodec audio
tokens (4 codebooks at 50 frames per second, with MusicGen's delay pattern) and the EnCodec
decoder that turns the tokens into 32 kHz audio.

Controls: duration (``max_new_tokens = duration x frame rate + codebooks - 1``), seed (sampling is on: top-k 250
as in the checkpoint's generation config), guidance (classifier-free guidance: the decoder also
runs without the text, and the two predictions are mixed as ``uncond + g (cond - uncond)``; 3 is
the authors' default). A progress callback is called after every generated frame.

Test models: ``options={"config": {"text_encoder": {...}, "audio_encoder": {...}, "decoder": {...}},
"vocab": [words], "seed": 0}`` builds a random-weight model and a word-level tokenizer offline.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Callable

import numpy as np

from ..audiogen import Generation
from ..registry import ModelSpec
from . import _hub


class _ProgressCounter:
    """A logits processor that changes nothing and reports ``(done, total)`` once per generated frame.

    (A logits processor rather than a streamer: it is called at every step by every release of
    transformers, while MusicGen's own ``generate`` does not hand streamers on in all of them.)
    """

    def __init__(self, total: int, callback: Callable[[int, int], None]) -> None:
        self.total, self.callback, self.done = total, callback, 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.done += 1
        self.callback(min(self.done, self.total), self.total)
        return scores


class HFMusicgenBackend:
    """A loaded MusicGen model and its text tokenizer."""

    kind = "music"
    default_duration = 8.0
    min_duration = 1.0
    max_duration = 30.0  # MusicGen was trained on 30-second clips
    default_guidance = 3.0

    def __init__(self, spec: ModelSpec, model: Any, tokenizer: Any, device: Any, dtype: Any, note: str = "") -> None:
        self.spec, self.tokenizer, self.device, self.dtype, self.note = spec, tokenizer, device, dtype, note
        self.model = model.to(device=device, dtype=dtype).eval()
        audio_cfg = model.config.audio_encoder
        self.sample_rate = int(audio_cfg.sampling_rate)
        self.frame_rate = float(audio_cfg.frame_rate)
        self.num_codebooks = int(model.decoder.config.num_codebooks)
        # one request at a time per loaded model: sampling is seeded through torch's global generator
        # (and VITS reads its speed from a model attribute), so concurrent users would mix seeds
        self._lock = threading.Lock()

    def generate(self, prompt: str, *, duration: float, seed: int, guidance_scale: float | None,
                 progress: Callable[[int, int], None] | None = None) -> Generation:
        import torch

        # the delay pattern shifts codebook k by k frames: num_codebooks - 1 extra steps finish the last frame
        tokens = max(1, int(math.ceil(duration * self.frame_rate))) + self.num_codebooks - 1
        inputs = self.tokenizer([prompt], padding=True, return_tensors="pt")
        kwargs: dict[str, Any] = {"do_sample": True, "max_new_tokens": tokens,
                                  "guidance_scale": self.default_guidance if guidance_scale is None else guidance_scale}
        if progress is not None:
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList([_ProgressCounter(tokens, progress)])
        devices = [self.device] if torch.device(self.device).type == "cuda" else []
        with self._lock, torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(seed)
            audio = self.model.generate(input_ids=inputs["input_ids"].to(self.device),
                                        attention_mask=inputs["attention_mask"].to(self.device), **kwargs)
        samples = audio[0].float().mean(dim=0).cpu().numpy().astype(np.float32)
        samples = samples[: int(round(duration * self.sample_rate))]
        return Generation(samples, self.sample_rate, details={"tokens": tokens})

    def torch_modules(self) -> list:
        return [self.model]


def word_tokenizer(words: list[str]) -> Any:
    """A word-level fast tokenizer (pad 0, eos 1, unk 2) built offline, for test models."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(dict.fromkeys(words))}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def _from_config(options: dict) -> tuple[Any, Any]:
    import torch
    from transformers import GenerationConfig, MusicgenConfig, MusicgenForConditionalGeneration

    cfg = options["config"]
    tokenizer = word_tokenizer(list(options.get("vocab", ["music", "calm", "fast", "piano", "dance", "happy"])))
    text_cfg = {"vocab_size": len(tokenizer), **cfg["text_encoder"]}
    decoder_cfg = dict(cfg["decoder"])
    pad = int(decoder_cfg.get("vocab_size", 64))
    decoder_cfg.setdefault("pad_token_id", pad)
    decoder_cfg.setdefault("bos_token_id", pad)
    decoder_cfg.setdefault("decoder_start_token_id", pad)
    config = MusicgenConfig(text_encoder=text_cfg, audio_encoder=cfg["audio_encoder"], decoder=decoder_cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(options.get("seed", 0)))
        model = MusicgenForConditionalGeneration(config)
        # EnCodec's codebooks start as zeros (real ones come from k-means): draw them, or every code decodes alike
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
    model.generation_config = GenerationConfig(decoder_start_token_id=pad, pad_token_id=pad, bos_token_id=pad,
                                               max_length=4096, do_sample=True, top_k=50, guidance_scale=3.0)
    return model.eval(), tokenizer


def _from_pretrained(spec: ModelSpec) -> tuple[Any, Any]:
    import torch
    from transformers import AutoTokenizer, MusicgenForConditionalGeneration

    model, tokenizer = _hub.load_pretrained(spec, MusicgenForConditionalGeneration, AutoTokenizer,
                                            dtype=torch.float32,
                                            what=f"the transformers MusicGen checkpoint '{spec.source}'")
    return model.eval(), tokenizer


def load(spec: ModelSpec, device: Any, dtype: Any) -> HFMusicgenBackend:
    """Build the backend for ``spec`` (see the module docstring for the accepted options)."""
    _hub.require_package(spec, "transformers")
    if "config" in spec.options:
        model, tokenizer = _from_config(spec.options)
        return HFMusicgenBackend(spec, model, tokenizer, device, dtype, note=_hub.RANDOM_NOTE)
    model, tokenizer = _from_pretrained(spec)
    return HFMusicgenBackend(spec, model, tokenizer, device, dtype)
