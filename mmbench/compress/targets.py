"""Compression of single-network models: how each model family's network is found, exported and put back.

The tiny CLIP is a dual encoder with its own path (:mod:`.api`, two ONNX towers). Every other
family is one network behind its backend, described by a :class:`Target` row of :data:`TARGETS`
(keyed by the registry's ``backend`` field) and, for the fusion lab's models (not registry models),
by :data:`FUSION_TARGET`:

* ``sentence_transformers`` (all-MiniLM-L6-v2): the transformers ``BertModel``; ONNX takes
  ``input_ids``, ``attention_mask``, ``token_type_ids`` (batch and sequence axes dynamic).
* ``efficientnet_lite`` (EfficientNet-Lite0): the whole classifier, pixels -> logits.
* ``tiny_video`` (mmbench-tiny-video): PyTorch methods convert the video and the audio network;
  ONNX exports the video network (clips -> per-frame logits) and keeps the audio network in PyTorch.
* fusion models (:mod:`mmbench.fusion`): a ``{modality: features}`` -> logits module.

:func:`compress_network` returns ``(backend, files)``: a shallow copy of the original backend whose
network is the compressed one, so the pipeline class of the original runs it unchanged.
"""

from __future__ import annotations

import copy
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import CompressionError, InvalidInputError
from .onnx_runtime import export_module, make_session, quantize_int8
from .torch_methods import quantize_linear_int8, to_half, torchao_weight_only_int8


@dataclass(frozen=True)
class Target:
    """How to compress one family's network.

    Attributes:
        family: what it is, for messages.
        network: backend -> the ``nn.Module`` that PyTorch methods convert (a deep copy is converted).
        put_back: ``(backend, converted network, dtype or None)`` -> a backend running it.
        onnx_network: backend -> ``(module to export, example args, input names, output names,
            dynamic axes or None, the network whose other attributes the ONNX stand-in keeps)``.
        onnx_put_back: ``(backend, OrtModule)`` -> a backend running the ONNX Runtime module.
        onnx_call: how the ONNX Runtime module is called (the network's own call signature).
    """

    family: str
    network: Callable[[Any], Any]
    put_back: Callable[[Any, Any, Any], Any]
    onnx_network: Callable[[Any], tuple]
    onnx_put_back: Callable[[Any, Any], Any]
    onnx_call: Callable[..., Any] | None = None


class OrtModule:
    """An ONNX Runtime session that stands in for a PyTorch network: called like the network (through
    the target's ``onnx_call``), returning torch tensors; other attributes (``config``, ``preprocess``,
    ``labels``...) come from the original network."""

    def __init__(self, path: Path, original: Any, call: Callable[..., Any] | None, threads: int | None) -> None:
        self.session = make_session(path, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.path, self._original, self._call = Path(path), original, call

    def run(self, *tensors: Any) -> list:
        """Feed ``tensors`` (in the exported input order) and return every output as a torch tensor."""
        import numpy as np
        import torch

        feeds = {}
        for name, x in zip(self.input_names, tensors):
            arr = x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)
            feeds[name] = arr.astype(np.float32, copy=False) if arr.dtype.kind == "f" else arr.astype(np.int64, copy=False)
        return [torch.from_numpy(o) for o in self.session.run(None, feeds)]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._call is not None:
            return self._call(self, *args, **kwargs)
        return self.run(*args)[0]

    def eval(self) -> "OrtModule":
        return self

    def parameters(self):  # no torch parameters: the weights live in the ONNX file
        return iter(())

    def buffers(self):
        return iter(())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_original":
            raise AttributeError(name)
        return getattr(self._original, name)


def _swap(backend: Any, network: Any, dtype: Any) -> Any:
    new = copy.copy(backend)
    new.model = network
    if dtype is not None:
        new.dtype = dtype
    return new


# -- sentence embedding (transformers encoder) ----------------------------------------------------
def _bert_onnx(backend: Any) -> tuple:
    import torch

    bert = backend.model

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    batch = backend.tokenize(["a short sentence", "another, somewhat longer sentence to embed"])
    ids, mask = batch["input_ids"].cpu(), batch["attention_mask"].cpu()
    types_ = batch.get("token_type_ids", torch.zeros_like(ids)).cpu()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"last_hidden_state": {0: "batch", 1: "sequence"}}
    return Encoder().eval(), (ids, mask, types_), names, ["last_hidden_state"], axes, bert


def _bert_call(ort: OrtModule, input_ids: Any = None, attention_mask: Any = None, inputs_embeds: Any = None,
               token_type_ids: Any = None, **_: Any) -> Any:
    import torch

    if inputs_embeds is not None or input_ids is None:
        raise CompressionError("The ONNX copy of the encoder takes token ids, not embeddings.",
                               hint="Explanations need the PyTorch model: use the original pipeline or a PyTorch method.")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids)
    return types.SimpleNamespace(last_hidden_state=ort.run(input_ids, attention_mask, token_type_ids)[0])


# -- image classification (EfficientNet-Lite) ------------------------------------------------------
def _image_onnx(backend: Any) -> tuple:
    from PIL import Image

    pixels = backend.preprocess_images([Image.new("RGB", (64, 48), (120, 90, 60))] * 2).float().cpu()
    return backend.model, (pixels,), ["pixels"], ["logits"], None, backend.model


# -- video classification (mmbench-tiny-video) -----------------------------------------------------
def _video_onnx(backend: Any) -> tuple:
    import numpy as np

    net = backend.model.video
    s = int(net.config.input_size)
    frames = np.random.default_rng(0).integers(0, 255, (2, backend.clip_len, s, s, 3), dtype=np.uint8)
    return net, (net.preprocess(frames),), ["clips"], ["frame_logits"], None, net


def _half_video(backend: Any, network: Any, dtype: Any) -> Any:
    """The video network in half precision behind float32 inputs and outputs (the audio network
    stays float32: its log-mel front end has no half-precision CPU kernels)."""
    import torch

    class Half(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = network
            self.config, self.preprocess = network.config, network.preprocess

        def forward(self, x: Any) -> Any:
            return self.net(x.to(dtype)).float()

    return _video_put_back(backend, network if dtype is None else Half().eval())


def _video_put_back(backend: Any, network: Any) -> Any:
    """The tiny video model with its video network replaced (the audio network stays PyTorch float32)."""
    model = copy.copy(backend.model)  # nn.Module: copy its module table too, never mutate the original's
    model._modules = dict(backend.model._modules)
    model._modules["video"] = network
    new = _swap(backend, model, None)
    new.torch_modules = lambda: [backend.model.audio]
    return new


TARGETS: dict[str, Target] = {
    "sentence_transformers": Target(
        "sentence encoder", lambda b: b.model, _swap, _bert_onnx,
        lambda b, ort: _swap(b, ort, None), _bert_call),
    "efficientnet_lite": Target(
        "image classifier", lambda b: b.model, _swap, _image_onnx, lambda b, ort: _swap(b, ort, None)),
    "tiny_video": Target(
        "video classifier", lambda b: b.model.video, _half_video, _video_onnx, _video_put_back),
}


# -- fusion lab models (a FusionModel, not a pipeline) ---------------------------------------------
def _fusion_onnx(model: Any) -> tuple:
    import torch

    mods = list(model.modalities)

    class Positional(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *xs: Any) -> Any:
            return self.model(dict(zip(mods, xs)))

    args = tuple(torch.randn(4, model.dims[m]) for m in mods)
    return Positional().eval(), args, mods, ["logits"], None, model


def _fusion_call(ort: OrtModule, inputs: Any) -> Any:
    missing = [m for m in ort.modalities if m not in inputs]
    if missing:
        raise InvalidInputError(f"The ONNX copy of a fusion model needs every modality; missing: {', '.join(missing)}.",
                                hint="Test missing-modality robustness on the PyTorch model (or a PyTorch method).")
    return ort.run(*[inputs[m] for m in ort.modalities])[0]


def _fusion_put_back(model: Any, network: Any, dtype: Any) -> Any:
    return network if dtype is None else _cast_inputs(network, dtype)


def _cast_inputs(network: Any, dtype: Any) -> Any:
    """A half-precision fusion model called with float32 features (the lab's tensors) -> float32 logits."""
    import torch

    class Cast(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network
            self.n_classes, self.modalities, self.dims = network.n_classes, network.modalities, network.dims
            self.name = network.name

        def forward(self, inputs: Any) -> Any:
            return self.network({m: x.to(dtype) for m, x in inputs.items()}).float()

    return Cast().eval()


FUSION_TARGET = Target("fusion model", lambda m: m, _fusion_put_back, _fusion_onnx,
                       lambda m, ort: ort, _fusion_call)


def is_fusion_model(obj: Any) -> bool:
    """A trained :mod:`mmbench.fusion` strategy (``FusionModel``)."""
    return callable(getattr(obj, "fuse", None)) and hasattr(obj, "modalities") and hasattr(obj, "dims")


def target_of(pipe: Any) -> tuple[Target, Any]:
    """``(Target, backend)`` for a loaded pipeline or a fusion model, or a CompressionError."""
    if is_fusion_model(pipe):
        return FUSION_TARGET, pipe
    backend = getattr(pipe, "backend", None)
    key = getattr(getattr(pipe, "spec", None), "backend", None)
    if backend is None or key not in TARGETS:
        name = getattr(getattr(pipe, "spec", None), "name", type(pipe).__name__)
        raise CompressionError(f"'{name}' has no compression target (model family {key!r}).",
                               hint="Compression works on the tiny CLIP and other image-text matching CLIPs, "
                                    f"the model families {', '.join(TARGETS)}, fusion-lab models and "
                                    "faster-whisper speech models.")
    return TARGETS[key], backend


def compress_network(pipe: Any, method: str, folder: Path, threads: int | None = None) -> tuple[Any, list[Path]]:
    """Apply ``method`` to the network of ``pipe`` (a pipeline, or a fusion model); see :data:`TARGETS`.

    Returns ``(new backend or fusion model, files written)``.
    """
    import torch

    target, backend = target_of(pipe)
    if method in ("onnx", "onnx-int8"):
        module, args, inputs, outputs, axes, original = target.onnx_network(backend)
        what = (f"The fusion model '{getattr(pipe, 'name', '?')}'" if target is FUSION_TARGET
                else f"The network of '{pipe.spec.name}'")
        path = export_module(module, args, folder / "model.onnx", inputs, outputs, what=what, dynamic_axes=axes)
        if method == "onnx-int8":
            path = quantize_int8({"model": path}, folder)["model"]
        ort = OrtModule(path, original, target.onnx_call, threads)
        _check_onnx(module, args, ort, what)
        return target.onnx_put_back(backend, ort), [path]
    network = target.network(backend)
    dtype = None
    if method == "fp32":
        new = network
    elif method in ("float16", "bfloat16"):
        new, dtype = to_half(network, method)
    elif method == "int8-dynamic":
        new = quantize_linear_int8(network)
    elif method == "torchao-int8":
        new = torchao_weight_only_int8(network)
    else:
        raise CompressionError(f"The method {method!r} does not apply to a {target.family}.",
                               hint="Use fp32, float16, bfloat16, int8-dynamic, torchao-int8, onnx or onnx-int8.")
    path = folder / "model.pt"
    torch.save(new.state_dict(), path)
    result = target.put_back(backend, new, dtype)
    if target is FUSION_TARGET:
        _check_fusion(result, method)
    return result, [path]


def _check_fusion(model: Any, method: str) -> None:
    """A converted fusion model must still run (some strategies build float32 tensors inside forward)."""
    import torch

    try:
        with torch.inference_mode():
            model({m: torch.zeros(2, d) for m, d in model.dims.items()})
    except RuntimeError as err:
        raise CompressionError(f"The {method} copy of the fusion model '{getattr(model, 'name', '?')}' cannot run: "
                               f"{str(err).splitlines()[0]}",
                               hint="Its forward method mixes dtypes; use 'int8-dynamic', 'torchao-int8' or 'onnx'.") from err


def _check_onnx(module: Any, args: tuple, ort: OrtModule, what: str, tolerance: float = 1e-3) -> None:
    """The exported file must reproduce the network on the example inputs (int8 files: loosely)."""
    import torch

    with torch.inference_mode():
        want = module(*args)
    got = ort.run(*args)[0]
    if got.shape != want.shape:
        raise CompressionError(f"{what}: the ONNX file returns shape {tuple(got.shape)}, PyTorch {tuple(want.shape)}.",
                               hint="Use a PyTorch method (int8-dynamic, bfloat16) for this model.")
    diff = float((got - want).abs().max())
    if "int8" in ort.path.name:  # int8 rounds every weight: its accuracy is the benchmark's metric to judge
        ok = bool(torch.isfinite(got).all())
    else:
        ok = diff <= tolerance * max(1.0, float(want.abs().max()))
    if not ok:
        raise CompressionError(f"{what}: the ONNX file does not reproduce the PyTorch network "
                               f"(max |difference| {diff:.3g}).",
                               hint="Use a PyTorch method (int8-dynamic, bfloat16) for this model.")
