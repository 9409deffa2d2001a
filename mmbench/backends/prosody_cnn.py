"""Backend for mmbench-prosody-cnn, the offline spectrogram CNN (weights in ``assets/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ModelUnavailableError
from ..registry import ModelSpec


class ProsodyCNNBackend:
    """Runs :class:`mmbench.models.prosody_cnn.ProsodyCNN`: waveform -> spectrogram -> embedding / logits."""

    note = ""

    def __init__(self, model: Any, spec: ModelSpec, device: Any, dtype: Any) -> None:
        self.model, self.spec, self.device, self.dtype = model.to(device).eval(), spec, device, dtype
        self.labels = list(model.config.labels)
        self.sample_rate = int(model.config.sample_rate)
        self.embed_dim = int(model.config.embed_dim)

    def spectrogram(self, waves: Any) -> Any:
        return self.model.spectrogram(waves.to(self.device))

    def embed_spectrogram(self, spec: Any) -> Any:
        return self.model.embed_spectrogram(spec)

    def logits_spectrogram(self, spec: Any) -> Any:
        return self.model.classify_spectrogram(spec)

    def torch_modules(self) -> list:
        return [self.model]


def load(spec: ModelSpec, device: Any, dtype: Any) -> ProsodyCNNBackend:
    """Registry options: ``weights`` (a folder with model.safetensors + config.json; default the
    shipped assets), or ``{"config": {...}, "seed": 0}`` for a random-weight test model."""
    import torch

    from ..models.prosody_cnn import ProsodyCNN, ProsodyCNNConfig

    if "config" in spec.options:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(spec.options.get("seed", 0)))
            model = ProsodyCNN(ProsodyCNNConfig.from_dict(spec.options["config"]))
        backend = ProsodyCNNBackend(model, spec, device, dtype)
        backend.note = "random weights (test model, not trained)"
        return backend
    folder = Path(spec.options["weights"]) if "weights" in spec.options else spec.assets_path
    if folder is None or not (folder / "model.safetensors").is_file() or not (folder / "config.json").is_file():
        raise ModelUnavailableError(f"The weights of '{spec.name}' are missing (expected model.safetensors and "
                                    f"config.json in {folder}).", model=spec.name, hint=spec.how_to_get())
    return ProsodyCNNBackend(ProsodyCNN.load(folder), spec, device, dtype)
