"""Tiny random-weight models for the tests: config dicts, ModelSpecs and small builders (nothing downloaded).

Every config builds a 1-2 layer model of the real architecture in a fraction of a second. Tests import them
with ``from tiny_models import ...``: tests/conftest.py puts this folder on ``sys.path``.
"""

from __future__ import annotations

from pathlib import Path

from mmbench.registry import ModelSpec

# -- image-text matching (CLIP) ------------------------------------------------------------------------------
#: open_clip model config (``open_clip.create_model`` kwargs): a 32x32 ViT with a 4x4 patch grid.
OPEN_CLIP_TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
#: transformers ``CLIPConfig`` kwargs; its ``vision_config`` alone is a ``CLIPVisionConfig``.
HF_CLIP_TINY = {
    "projection_dim": 32,
    "text_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                    "max_position_embeddings": 32, "vocab_size": 49408},
    "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                      "image_size": 32, "patch_size": 8},
}

# -- image classification (ViT) ------------------------------------------------------------------------------
#: transformers ``ViTConfig`` kwargs, three unnamed classes.
VIT_TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
            "image_size": 32, "patch_size": 8, "num_labels": 3}
#: the same ViT with four named classes.
VIT_TINY_LABELLED = {**VIT_TINY, "num_labels": 4, "id2label": {0: "cat", 1: "dog", 2: "cup", 3: "rocket"},
                     "label2id": {"cat": 0, "dog": 1, "cup": 2, "rocket": 3}}

# -- captioning and VQA (BLIP, GIT) --------------------------------------------------------------------------
#: transformers ``BlipConfig`` kwargs, with a wide weight initialisation so that random attention is far from uniform.
BLIP_TINY = {
    "text_config": {"hidden_size": 32, "encoder_hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                    "num_attention_heads": 4, "max_position_embeddings": 64, "initializer_range": 0.2},
    "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                      "image_size": 32, "patch_size": 8, "initializer_range": 0.2},
    "projection_dim": 32,
}
#: transformers ``GitConfig`` kwargs on BLIP_TINY's vision tower.
GIT_TINY = {"vision_config": BLIP_TINY["vision_config"], "hidden_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 64, "initializer_range": 0.2}

# -- video (VideoMAE, X-CLIP) --------------------------------------------------------------------------------
#: transformers ``VideoMAEConfig`` kwargs: 4-frame 32x32 clips, three named actions.
VIDEOMAE_TINY = dict(image_size=32, patch_size=16, num_frames=4, tubelet_size=2, hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=64, num_labels=3,
                     id2label={0: "juggling", 1: "swimming", 2: "bouncing"},
                     label2id={"juggling": 0, "swimming": 1, "bouncing": 2})
#: transformers ``XCLIPConfig`` kwargs.
XCLIP_TINY = dict(
    text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                     max_position_embeddings=77),
    vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                       patch_size=16, num_frames=4, mit_hidden_size=32, mit_intermediate_size=64,
                       mit_num_hidden_layers=1, mit_num_attention_heads=2),
    projection_dim=32, prompt_layers=1, prompt_attention_heads=2, prompt_num_attention_heads=2)

# -- speech and audio generation (Whisper, VITS, MusicGen) ---------------------------------------------------
#: transformers ``WhisperConfig`` kwargs.
WHISPER_TINY = {"num_mel_bins": 80, "d_model": 32, "encoder_layers": 2, "decoder_layers": 2,
                "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64}
#: transformers ``VitsConfig`` kwargs (the backend adds ``vocab_size``).
VITS_TINY = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, ffn_dim=32, flow_size=16,
                 spectrogram_bins=33, upsample_initial_channel=16, upsample_rates=[8, 8], upsample_kernel_sizes=[16, 16],
                 resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]], prior_encoder_num_flows=1,
                 prior_encoder_num_wavenet_layers=1, posterior_encoder_num_wavenet_layers=1,
                 duration_predictor_num_flows=1, duration_predictor_filter_channels=16, depth_separable_num_layers=1,
                 sampling_rate=16_000)
#: MusicGen's three sub-configs (T5 text encoder, EnCodec audio encoder, decoder).
MUSICGEN_TINY = {
    "text_encoder": dict(d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2),
    "audio_encoder": dict(target_bandwidths=[2.0], codebook_size=64, num_filters=4, hidden_size=8,
                          upsampling_ratios=[8, 5, 4, 2], sampling_rate=16_000, audio_channels=1, codebook_dim=8,
                          num_residual_layers=1, num_lstm_layers=1, compress=2),
    "decoder": dict(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, ffn_dim=32,
                    num_codebooks=4, max_position_embeddings=512),
}


def tiny_spec(name: str, task: str, backend: str, config: dict, *, source: str = "random", **options) -> ModelSpec:
    """An online-tier ModelSpec whose backend builds a random-weight model from ``config`` (plus ``options``)."""
    return ModelSpec(name=name, task=task, tier="online", backend=backend, source=source,
                     options={"config": config, **options})


TINY_WHISPER = tiny_spec("test-whisper-random", "speech-recognition", "transformers_whisper", WHISPER_TINY,
                         seed=0, max_new_tokens=24)
TINY_VITS = tiny_spec("test-vits-random", "text-to-speech", "transformers_vits", VITS_TINY, seed=0)
TINY_MUSICGEN = tiny_spec("test-musicgen-random", "text-to-audio", "transformers_musicgen", MUSICGEN_TINY,
                          kind="music", seed=0)
#: a tiny random Stable Diffusion: the diffusers backend's own default tiny config (``config={}``).
TINY_SD = tiny_spec("tiny-sd-test", "text-to-image", "diffusers", {}, source="config", seed=0, default_steps=3,
                    default_guidance=2.0, default_size=32, sizes=[16, 64])


# -- WordPiece tokenizers and a tiny BERT --------------------------------------------------------------------
#: BERT's special tokens, in the order their ids are expected (0-4).
BERT_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def write_vocab(folder: Path, tokens: list[str]) -> Path:
    """Write a WordPiece ``vocab.txt`` (one token a line, id = line number) into ``folder``; returns its path."""
    path = Path(folder) / "vocab.txt"
    path.write_text("\n".join(tokens) + "\n")
    return path


def tiny_bert_folder(path: Path) -> Path:
    """A random 2-layer BERT + WordPiece vocabulary saved the transformers way (nothing downloaded)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    words = BERT_SPECIAL_TOKENS + ["the", "film", "was", "great", "awful", "not", "bad"]
    BertTokenizer(str(write_vocab(path, words))).save_pretrained(str(path))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(str(path))
    return path
