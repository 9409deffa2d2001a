"""ONNX export of a dual encoder's two towers and ONNX Runtime inference (fp32 and dynamic int8).

:func:`export_towers` writes ``image.onnx`` (pixels -> embedding) and ``text.onnx`` (token ids ->
embedding) with a dynamic batch axis, through PyTorch's TorchScript-based exporter
(``torch.onnx.export(..., dynamo=False)``: it handles the towers' scaled-dot-product attention and
needs neither onnxscript nor a graph break-free model), each attention layer of the tiny CLIP as one
fused ONNX Runtime ``MultiHeadAttention`` node (:mod:`.onnx_fusions`). :class:`OnnxBackend` runs them on ONNX
Runtime's CPU provider behind the matching pipeline's backend methods. :func:`quantize_int8` makes
a dynamic int8 copy of the exported files (``onnxruntime.quantization.quantize_dynamic``).

The matching head (cross-attention re-ranker) is not exported: a pipeline on an
:class:`OnnxBackend` scores with the dual encoder only.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from ..errors import CompressionError, DependencyError
from .torch_methods import dual_encoder_model

OPSET = 17
TOWERS = ("image", "text")


def _require(module: str, pip_name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise DependencyError(f"ONNX compression needs the Python package '{pip_name}', which is not installed.",
                              hint=f"Run: pip install {pip_name} (it is in mmbench's dependencies: pip install -e .)") from err


def _tower(model: Any, which: str) -> Any:
    import torch

    class Tower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: Any) -> Any:
            return self.model.encode_image(x) if which == "image" else self.model.encode_text(x)

    return Tower().eval()


def example_inputs(backend: Any) -> dict[str, Any]:
    """One small real input per tower (a grey image, a short caption), prepared by ``backend``."""
    from PIL import Image

    return {"image": backend.preprocess_images([Image.new("RGB", (64, 64), (128, 128, 128))] * 2).float(),
            "text": backend.tokenize(["a photo of a red circle.", "a blue square"])}


def export_towers(backend: Any, folder: str | Path, *, fuse_attention: bool = True) -> dict[str, Path]:
    """Export ``backend``'s image and text towers to ``folder/image.onnx`` and ``folder/text.onnx``.

    With ``fuse_attention`` the tiny CLIP's attention layers become ONNX Runtime ``MultiHeadAttention``
    nodes (:mod:`.onnx_fusions`; the files then need ONNX Runtime); ``False`` writes standard ONNX
    operators only. The model must be float32 (it is exported on the CPU). Raises
    :class:`CompressionError` when a tower cannot be traced or an operator has no ONNX translation,
    and :class:`DependencyError` when ``onnx`` is missing.
    """
    import torch

    from .onnx_fusions import with_fused_attention

    _require("onnx", "onnx")
    model = dual_encoder_model(backend)
    params = list(model.parameters())
    if params and params[0].dtype != torch.float32:
        raise CompressionError(f"ONNX export needs the float32 model, not {params[0].dtype}.",
                               hint="Export the original pipeline, not a half-precision copy.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    inputs = example_inputs(backend)
    exported = with_fused_attention(model)[0] if fuse_attention else model  # same function, fewer ONNX nodes
    paths = {}
    for which in TOWERS:
        path = folder / f"{which}.onnx"
        name = "pixels" if which == "image" else "input_ids"
        export_module(_tower(exported, which), (inputs[which].cpu(),), path, [name], ["embedding"],
                      what=f"The {which} tower of '{backend.spec.name}'", method="the model's encode method")
        paths[which] = path
    _verify(model, paths, backend)  # against the original model, not the fused copy
    return paths


def export_module(module: Any, args: tuple, path: str | Path, input_names: list[str], output_names: list[str], *,
                  what: str, method: str = "its forward method", dynamic_axes: dict | None = None) -> Path:
    """``torch.onnx.export`` of ``module(*args)`` to ``path`` (TorchScript exporter, opset
    :data:`OPSET`; axis 0 of every input and output dynamic unless ``dynamic_axes`` is given).

    Raises :class:`CompressionError` naming ``what`` (e.g. "The image tower of 'x'") and what to do
    when tracing or an operator's translation fails.
    """
    import torch

    dynamic = dynamic_axes or {n: {0: "batch"} for n in [*input_names, *output_names]}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer and deprecation notices
            torch.onnx.export(module, args, str(path), input_names=input_names, output_names=output_names,
                              opset_version=OPSET, dynamo=False, dynamic_axes=dynamic)
    except Exception as err:  # the exporter raises many types (UnsupportedOperatorError, RuntimeError...)
        raise CompressionError(f"{what} cannot be exported to ONNX: "
                               f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
                               hint=f"Replace the unsupported operation in {method} (data-dependent Python "
                                    "control flow, NumPy calls and operators without an ONNX "
                                    f"opset-{OPSET} translation cannot be traced), or use the 'int8-dynamic' "
                                    "or 'float16'/'bfloat16' methods, which stay in PyTorch.") from err
    return Path(path)


def _verify(model: Any, paths: dict[str, Path], backend: Any, tolerance: float = 1e-3) -> None:
    """Run the exported files on inputs other than the traced ones (another batch size, other
    pixels and words) and compare with PyTorch: a trace can freeze a value computed outside torch
    (a NumPy call, a Python branch) into a constant and still export without an error."""
    import numpy as np
    import torch
    from PIL import Image

    ort = _require("onnxruntime", "onnxruntime")
    check = {"image": backend.preprocess_images([Image.new("RGB", (64, 64), c) for c in
                                                 ((220, 30, 30), (30, 200, 40), (20, 40, 230))]).float(),
             "text": backend.tokenize(["a green triangle", "a photo of a blue square left of a red circle.", "circle"])}
    for which, path in paths.items():
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        x = check[which].cpu()
        with torch.inference_mode():
            want = (model.encode_image(x) if which == "image" else model.encode_text(x)).float().numpy()
        feeds = session.get_inputs()  # none when the output no longer depends on the input at all
        got = session.run(None, {feeds[0].name: x.numpy()})[0] if feeds else None
        diff = float(np.abs(got - want).max()) if got is not None and got.shape == want.shape else float("inf")
        if not diff <= tolerance * max(1.0, float(np.abs(want).max())):
            raise CompressionError(f"The exported {which} tower of '{backend.spec.name}' does not reproduce the "
                                   f"PyTorch model on new inputs (max |difference| {diff:.3g}): the trace froze a "
                                   "value computed outside torch (a NumPy call, .item(), a Python branch on data).",
                                   hint="Compute the encode method with torch operations only, or use the "
                                        "'int8-dynamic' or 'float16'/'bfloat16' methods, which stay in PyTorch.")


def quantize_int8(paths: dict[str, Path], folder: str | Path) -> dict[str, Path]:
    """Dynamic int8 copies (``QInt8`` weights) of exported files, in ``folder``.

    Only MatMul and Gemm are quantized, as PyTorch's dynamic quantization does (nn.Linear): ONNX
    Runtime's dynamic ``ConvInteger`` is slower than its float convolutions on CPUs and, with one
    scale per tensor, loses the depthwise convolutions of EfficientNet-Lite (measured: 6x slower, top-1
    agreement 0.75 on the skimage photos against 1.0 with MatMul/Gemm only). Convolutions need
    static quantization with calibration data, which this method does not do."""
    _require("onnx", "onnx")
    quantization = _require("onnxruntime.quantization", "onnxruntime")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for which, src in paths.items():
        dst = folder / f"{which}.int8.onnx"
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # quantize_dynamic logs a pre-processing tip on the root logger
        try:
            quantization.quantize_dynamic(str(src), str(dst), weight_type=quantization.QuantType.QInt8,
                                          op_types_to_quantize=["MatMul", "Gemm"])
        except Exception as err:
            raise CompressionError(f"ONNX Runtime could not quantize {src.name}: {type(err).__name__}: {err}",
                                   hint="Use the fp32 'onnx' method, or 'int8-dynamic' in PyTorch.") from err
        finally:
            root.setLevel(level)
        out[which] = dst
    return out


def make_session(path: str | Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session: every graph optimisation (``ORT_ENABLE_ALL``: constant folding,
    LayerNorm/GELU/attention/MatMul+Add fusions, layout changes), ``threads`` intra-op threads
    (default ``torch.get_num_threads()``, so both runtimes get the same), one inter-op thread and
    sequential execution (the graph is a chain; parallel branches would only compete for cores)."""
    import torch

    ort = _require("onnxruntime", "onnxruntime")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxBackend:
    """The matching pipeline's backend methods over two ONNX Runtime sessions (CPU provider).

    Preprocessing and tokenization are the original backend's; the embeddings come back as
    float32 torch tensors so the pipeline's normalisation and scoring are unchanged.
    """

    def __init__(self, paths: dict[str, Path], original: Any, note: str, threads: int | None = None) -> None:
        import torch

        self.sessions = {w: make_session(p, threads) for w, p in paths.items()}
        self._input_names = {w: s.get_inputs()[0].name for w, s in self.sessions.items()}
        self.paths, self.original, self.note = dict(paths), original, note
        self.spec, self.device, self.dtype = original.spec, torch.device("cpu"), torch.float32
        self.embed_dim = original.embed_dim
        self.tokenizer = getattr(original, "tokenizer", None)

    @property
    def logit_scale(self) -> float:
        return float(self.original.logit_scale)

    def preprocess_images(self, images: list) -> Any:
        return self.original.preprocess_images(images)

    def tokenize(self, texts: list[str]) -> Any:
        return self.original.tokenize(texts)

    def _run(self, which: str, x: Any) -> Any:
        import numpy as np
        import torch

        arr = x.detach().cpu().numpy()
        arr = arr.astype(np.float32 if which == "image" else np.int64, copy=False)
        return torch.from_numpy(self.sessions[which].run(None, {self._input_names[which]: arr})[0])

    def encode_images(self, pixels: Any) -> Any:
        return self._run("image", pixels)

    def encode_texts(self, ids: Any) -> Any:
        return self._run("text", ids)

    def unknown_words(self, texts: list[str]) -> list[str]:
        find = getattr(self.original, "unknown_words", None)
        return find(texts) if find else []

    def torch_modules(self) -> list:
        return []
