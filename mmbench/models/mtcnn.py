"""MTCNN face detection (Zhang et al., 2016) as ported to PyTorch by facenet-pytorch (MIT): the
three cascaded networks P-Net, R-Net and O-Net and the detection stages that connect them.

The code follows ``facenet_pytorch/models/mtcnn.py`` and ``models/utils/detect_face.py`` (v2.6.0)
step by step, for one image at a time, so it gives the same boxes (a slow test checks it against the
original). The parameter names are the original's, so its ``pnet.pt``/``rnet.pt``/``onet.pt`` state
dicts load unchanged. Pixels are scaled as ``(p - 127.5) / 128``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class PNet(nn.Module):
    """Proposal net: fully convolutional, 12x12 windows with stride 2 -> (box offsets, face prob)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), self.conv4_1(x).softmax(1)


class RNet(nn.Module):
    """Refine net: 24x24 candidate crops -> (box offsets, face prob)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = x.permute(0, 3, 2, 1).contiguous()  # the Caffe weights flatten width-first
        x = self.prelu4(self.dense4(x.view(x.shape[0], -1)))
        return self.dense5_2(x), self.dense5_1(x).softmax(1)


class ONet(nn.Module):
    """Output net: 48x48 crops -> (box offsets, 5 landmarks, face prob)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).contiguous()
        x = self.prelu5(self.dense5(x.view(x.shape[0], -1)))
        return self.dense6_2(x), self.dense6_3(x), self.dense6_1(x).softmax(1)


class MTCNN(nn.Module):
    """The three nets; :meth:`detect` runs the cascade on one RGB image."""

    def __init__(self) -> None:
        super().__init__()
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()

    @torch.no_grad()
    def detect(self, image: np.ndarray, min_face_size: int = 20, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
               factor: float = 0.709) -> "Detections":
        """Faces in an ``(H, W, 3)`` uint8 RGB array, most probable first."""
        return detect_faces(self, image, min_face_size, thresholds, factor)

    @torch.no_grad()
    def face_probability(self, crops: torch.Tensor) -> torch.Tensor:
        """O-Net's face probability of ``(N, 3, H, W)`` crops with pixels in [0, 255] (resized to 48x48)."""
        x = F.interpolate(crops.to(self.device_dtype()), size=(48, 48), mode="area")
        return self.onet(_normalise(x))[2][:, 1]

    def device_dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype


@dataclass(frozen=True)
class Detections:
    """``boxes`` ``(N, 4)`` as x0, y0, x1, y1 in pixels, ``probs`` ``(N,)``, ``landmarks`` ``(N, 5, 2)``
    (eyes, nose, mouth corners as x, y)."""

    boxes: np.ndarray
    probs: np.ndarray
    landmarks: np.ndarray


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - 127.5) * 0.0078125


def _resample(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(img, size=size, mode="area")


def _crops(img: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """The (clipped) boxes' pixels resized to ``size`` x ``size``, as the original crops them."""
    h, w = img.shape[2:4]
    y, ey, x, ex = _pad(boxes, w, h)
    out = [_resample(img[:, :, y[k] - 1:ey[k], x[k] - 1:ex[k]], (size, size))
           for k in range(len(y)) if ey[k] > y[k] - 1 and ex[k] > x[k] - 1]
    return _normalise(torch.cat(out, dim=0))


def detect_faces(nets: MTCNN, image: np.ndarray, min_face_size: int = 20,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), factor: float = 0.709) -> Detections:
    """The MTCNN cascade: a P-Net scale pyramid proposes windows, R-Net and O-Net refine and score them."""
    from torchvision.ops import batched_nms

    dtype = nets.device_dtype()
    device = next(nets.parameters()).device
    img = torch.as_tensor(np.array(image, dtype=np.uint8), device=device).permute(2, 0, 1).unsqueeze(0).to(dtype)
    h, w = img.shape[2:4]
    empty = Detections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32))
    m = 12.0 / min_face_size
    minl = min(h, w) * m
    scales, scale = [], m
    while minl >= 12:
        scales.append(scale)
        scale, minl = scale * factor, minl * factor

    # Stage 1: P-Net on each scale, NMS per scale, then across scales.
    found = []
    for s in scales:
        reg, probs = nets.pnet(_normalise(_resample(img, (int(h * s + 1), int(w * s + 1)))))
        boxes_s = _windows(reg, probs[:, 1], s, thresholds[0])
        found.append(boxes_s[batched_nms(boxes_s[:, :4], boxes_s[:, 4], torch.zeros(len(boxes_s), device=device), 0.5)])
    if not found or sum(len(b) for b in found) == 0:
        return empty
    boxes = torch.cat(found, dim=0)
    boxes = boxes[batched_nms(boxes[:, :4], boxes[:, 4], torch.zeros(len(boxes), device=device), 0.7)]
    regw, regh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    boxes = torch.stack([boxes[:, 0] + boxes[:, 5] * regw, boxes[:, 1] + boxes[:, 6] * regh,
                         boxes[:, 2] + boxes[:, 7] * regw, boxes[:, 3] + boxes[:, 8] * regh, boxes[:, 4]]).permute(1, 0)
    boxes = _square(boxes)

    # Stage 2: R-Net on 24x24 crops.
    reg, probs = _batched(nets.rnet, _crops(img, boxes, 24))
    keep = probs[:, 1] > thresholds[1]
    boxes = torch.cat((boxes[keep, :4], probs[keep, 1:2]), dim=1)
    reg = reg[keep]
    pick = batched_nms(boxes[:, :4], boxes[:, 4], torch.zeros(len(boxes), device=device), 0.7)
    boxes = _square(_regress(boxes[pick], reg[pick]))
    if len(boxes) == 0:
        return empty

    # Stage 3: O-Net on 48x48 crops, landmarks, "Min" NMS.
    reg, points, probs = _batched(nets.onet, _crops(img, boxes, 48))
    keep = probs[:, 1] > thresholds[2]
    boxes = torch.cat((boxes[keep, :4], probs[keep, 1:2]), dim=1)
    reg, points = reg[keep], points[keep]
    w_i = (boxes[:, 2] - boxes[:, 0] + 1).unsqueeze(1)
    h_i = (boxes[:, 3] - boxes[:, 1] + 1).unsqueeze(1)
    points = torch.stack((w_i * points[:, :5] + boxes[:, :1] - 1, h_i * points[:, 5:] + boxes[:, 1:2] - 1), dim=2)
    boxes = _regress(boxes, reg)
    pick = _nms_min(boxes[:, :4].cpu().numpy(), boxes[:, 4].cpu().numpy(), 0.7)
    boxes, points = boxes[pick].float().cpu().numpy(), points[pick].float().cpu().numpy()
    return Detections(boxes[:, :4].astype(np.float32), boxes[:, 4].astype(np.float32), points.astype(np.float32))


def _batched(net: nn.Module, crops: torch.Tensor, batch_size: int = 512) -> tuple[torch.Tensor, ...]:
    outs = [net(crops[i:i + batch_size]) for i in range(0, len(crops), batch_size)]
    return tuple(torch.cat(v, dim=0) for v in zip(*outs))


def _windows(reg: torch.Tensor, probs: torch.Tensor, scale: float, thresh: float) -> torch.Tensor:
    """P-Net cells over ``thresh`` -> ``(N, 9)`` boxes in image pixels: x0 y0 x1 y1 score reg(4)."""
    stride, cellsize = 2, 12
    reg = reg.permute(1, 0, 2, 3)
    mask = probs >= thresh
    inds = mask.nonzero()
    score = probs[mask]
    reg = reg[:, mask].permute(1, 0)
    bb = inds[:, 1:].to(reg.dtype).flip(1)
    q1 = ((stride * bb + 1) / scale).floor()
    q2 = ((stride * bb + cellsize - 1 + 1) / scale).floor()
    return torch.cat([q1, q2, score.unsqueeze(1), reg], dim=1)


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    boxes = boxes.clone()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, :4] = torch.stack([boxes[:, 0] + reg[:, 0] * w, boxes[:, 1] + reg[:, 1] * h,
                                boxes[:, 2] + reg[:, 2] * w, boxes[:, 3] + reg[:, 3] * h]).permute(1, 0)
    return boxes


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box to a square around its centre (the original's ``rerec``)."""
    boxes = boxes.clone()
    h = boxes[:, 3] - boxes[:, 1]
    w = boxes[:, 2] - boxes[:, 0]
    side = torch.max(w, h)
    boxes[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    boxes[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    boxes[:, 2:4] = boxes[:, :2] + side.repeat(2, 1).permute(1, 0)
    return boxes


def _pad(boxes: torch.Tensor, w: int, h: int) -> tuple[np.ndarray, ...]:
    b = boxes.trunc().int().cpu().numpy()
    x, y, ex, ey = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    x[x < 1], y[y < 1] = 1, 1
    ex[ex > w], ey[ey > h] = w, h
    return y, ey, x, ex


def _nms_min(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """NMS with overlap = intersection / smaller area (the original's "Min" method)."""
    if boxes.size == 0:
        return np.zeros((0,), np.int64)
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)
    pick = []
    while order.size > 0:
        i, rest = order[-1], order[:-1]
        inter = (np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
                 * np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1))
        order = rest[inter / np.minimum(area[i], area[rest]) <= threshold]
        pick.append(i)
    return np.asarray(pick, np.int64)
