"""A thin client of a running ``mmbench serve``: the web app becomes a front end whose heavy work runs
on the service (its replicas, with ``--ray``) when ``MMBENCH_SERVICE_URL`` is set.

:class:`ServiceClient` posts JSON to the REST endpoints (stdlib ``urllib``, nothing to install) and
turns the service's error bodies back into the library's typed errors, so callers handle a remote
failure exactly like a local one. :class:`RemoteMatchingPipeline` has the part of the image-text
matching pipeline's interface the matching tab uses (``__call__``, ``zero_shot_classify``,
``describe``, ``spec``...), answered by the service.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any, Sequence

from .. import errors
from ..errors import MMBenchError, ModelUnavailableError

#: Environment variable with the base URL of a running ``mmbench serve`` (``http://host:8000``).
SERVICE_ENV = "MMBENCH_SERVICE_URL"


def service_url() -> str | None:
    """The service the web app should call, from ``MMBENCH_SERVICE_URL`` (None: run models locally)."""
    url = os.environ.get(SERVICE_ENV, "").strip()
    return url.rstrip("/") or None


def _png_b64(image: Any) -> str:
    from .schemas import png_base64

    return png_base64(image)


def _error_from(status: int, body: bytes, url: str) -> MMBenchError:
    """The typed error a service error body describes (its ``code`` is the error class's name)."""
    try:
        err = json.loads(body)["error"]
        code, message, hint = err["code"], err["message"], err.get("hint")
    except (ValueError, KeyError, TypeError):
        return MMBenchError(f"The mmbench service at {url} answered HTTP {status}.")
    cls = getattr(errors, code, None)
    if isinstance(cls, type) and issubclass(cls, MMBenchError) and cls is not ModelUnavailableError:
        return cls(message, hint=hint)
    if cls is ModelUnavailableError or status == 503:
        return ModelUnavailableError(message, hint=hint)
    return MMBenchError(message, hint=hint)


class ServiceClient:
    """POST JSON to a running ``mmbench serve``; typed errors back (see the module docstring)."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON answer of ``POST path`` (e.g. ``/v1/matching/similarity``) with ``body``."""
        data = json.dumps({k: v for k, v in body.items() if v is not None}).encode()
        request = urllib.request.Request(self.url + path, data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise _error_from(exc.code, exc.read(), self.url) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ModelUnavailableError(f"The mmbench service at {self.url} cannot be reached ({reason}).",
                                        hint=f"Start it with `mmbench serve`, or unset {SERVICE_ENV} to run "
                                             "models in this process.") from None


class RemoteMatchingPipeline:
    """Image-text matching answered by the service: the calls of
    :class:`~mmbench.pipelines.matching.ImageTextMatchingPipeline` the web app makes."""

    task = "image-text-matching"

    def __init__(self, client: ServiceClient, model: str | None = None) -> None:
        self.client = client
        self.model = model or None
        self._spec: Any = None
        self.notice = ""

    @property
    def spec(self) -> Any:
        """The registry row of the model the service runs (asked of it once: it may have fallen back)."""
        if self._spec is None:
            self._answer("/v1/matching/embed", {"texts": ["a"]})
        return self._spec

    def _answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        from ..registry import get_spec

        out = self.client.call(path, {**body, "model": self.model})
        self._spec = get_spec(out["model"], self.task)
        self.notice = out.get("notice", "")
        return out

    def __call__(self, images: Sequence[Any], texts: Sequence[str]) -> Any:
        """Similarity matrix and probabilities, as :class:`~mmbench.pipelines.matching.MatchingResult`."""
        import numpy as np

        from ..pipelines.matching import MatchingResult

        out = self._answer("/v1/matching/similarity", {"images": [_png_b64(im) for im in images], "texts": list(texts)})
        return MatchingResult(np.asarray(out["similarity"], np.float32), np.asarray(out["probs"], np.float32),
                              out["texts"], float(out["logit_scale"]))

    def zero_shot_classify(self, image: Any, labels: Sequence[str], templates: Sequence[str] | None = None) -> Any:
        """Zero-shot classification, as :class:`~mmbench.pipelines.matching.ZeroShotResult`."""
        import numpy as np

        from ..pipelines.matching import ZeroShotResult

        body: dict[str, Any] = {"image": _png_b64(image), "labels": list(labels)}
        body.update({"templates": list(templates)} if templates else {"use_templates": False})  # None: verbatim
        out = self._answer("/v1/matching/zero-shot", body)
        return ZeroShotResult(out["labels"], np.asarray(out["probs"]), out["scores"])

    def unknown_words(self, texts: Sequence[str]) -> list[str]:
        """Words the model cannot read, asked of the local registry's tokenizer: not known remotely."""
        return []

    @property
    def device(self) -> str:
        return f"remote {self.client.url}"

    def describe(self, include_notice: bool = True) -> str:
        """One line for UIs: model, tier and the service that runs it."""
        text = f"{self.spec.name} · {self.spec.tier} tier · served by {self.client.url}"
        return f"{text} — {self.notice}" if self.notice and include_notice else text
