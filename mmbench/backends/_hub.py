"""Helpers shared by the hub-backed backends: is the hub reachable, is a file cached, and how a
failure to obtain weights becomes a :class:`~mmbench.errors.ModelUnavailableError`.

Why the reachability probe: with no network, ``huggingface_hub`` retries every file five times
with back-off (about 23 s per file, more than a minute per model), so ``mmbench.pipeline()``
would hang before falling back to the offline tier. One short probe (``MMBENCH_HUB_TIMEOUT``
seconds, default 3) answers "can we reach the hub at all?" and is remembered for a minute.

Every transformers/diffusers backend loads its checkpoint through :func:`load_pretrained`:
local-only resolution (:func:`local_only`), safetensors first, never remote code, and one
:class:`~mmbench.errors.ModelUnavailableError` message naming the checkpoint and how to get it.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from typing import Any

from ..errors import ModelUnavailableError

log = logging.getLogger("mmbench")

#: How long a probe result is trusted, in seconds.
_PROBE_TTL_S = 60.0
_probe_lock = threading.Lock()
_probe: dict[str, tuple[float, bool]] = {}  # endpoint -> (time of probe, reachable)


#: ``backend.note`` of a model built from a config with random weights (``options["config"]``).
RANDOM_NOTE = "random weights (test model, not pretrained)"


def offline_mode() -> bool:
    """True when the user asked for no network: ``MMBENCH_OFFLINE`` or ``HF_HUB_OFFLINE`` is set.

    Read from the environment on every call: ``huggingface_hub`` reads ``HF_HUB_OFFLINE`` only
    once, at import time, so setting it later would otherwise be ignored.
    """
    return any(os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"}
               for v in ("MMBENCH_OFFLINE", "HF_HUB_OFFLINE"))


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def hub_timeout() -> float:
    try:
        return max(0.1, float(os.environ.get("MMBENCH_HUB_TIMEOUT", "3")))
    except ValueError:
        return 3.0


def hub_reachable(timeout: float | None = None) -> bool:
    """Whether the Hugging Face hub answers an HTTP request within ``timeout`` seconds.

    Any HTTP response counts (even an error status): the question is only whether downloads can
    be attempted. Uses ``huggingface_hub``'s own HTTP session, so proxies configured for it
    apply. The probe runs in a daemon thread because DNS resolution is not bounded by socket
    timeouts. Results are cached for a minute per endpoint.
    """
    endpoint = hub_endpoint()
    timeout = hub_timeout() if timeout is None else timeout
    with _probe_lock:
        hit = _probe.get(endpoint)
        if hit is not None and time.monotonic() - hit[0] < _PROBE_TTL_S:
            return hit[1]
    result: list[bool] = []

    def probe() -> None:
        try:
            from huggingface_hub import get_session

            get_session().head(endpoint, timeout=timeout)  # redirects are not followed by default
            result.append(True)
        except Exception as err:  # any transport failure means "not reachable"; nothing to propagate
            log.debug("Hugging Face hub probe of %s failed: %s", endpoint, describe_error(err))
            result.append(False)

    worker = threading.Thread(target=probe, name="mmbench-hub-probe", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    ok = bool(result and result[0])
    with _probe_lock:
        _probe[endpoint] = (time.monotonic(), ok)
    return ok


def forget_probe() -> None:
    """Drop cached probe results (tests; or after the network came back)."""
    with _probe_lock:
        _probe.clear()


def cached_hub_file(repo_id: str, filename: str, revision: str | None = None,
                    cache_dir: str | None = None) -> str | None:
    """Local path of ``repo_id/filename`` in the HF cache, or None. Never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir, revision=revision)
    return path if isinstance(path, str) and os.path.isfile(path) else None


def weight_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the weights could not be obtained" (network, cache, missing file).

    Everything else (TypeError, KeyError, shape mismatches...) is a bug and must propagate.
    ``OSError`` covers ``LocalEntryNotFoundError``, ``OfflineModeIsEnabled``, ``HfHubHTTPError``
    (repository/revision not found, gated), ``ConnectionError`` and ``FileNotFoundError``.
    """
    errors: list[type[BaseException]] = [OSError]
    try:
        from huggingface_hub.errors import EntryNotFoundError  # not an OSError in every release

        errors.append(EntryNotFoundError)
    except ImportError:  # pragma: no cover - very old huggingface_hub
        pass
    for http_module in ("httpx", "httpx2"):  # huggingface_hub's HTTP client, depending on its release
        try:
            errors.append(importlib.import_module(http_module).HTTPError)
        except ImportError:
            pass
    try:
        import requests

        errors.append(requests.exceptions.RequestException)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def require_package(spec: Any, module: str) -> None:
    """Import ``module`` or raise a DependencyError naming the model that needs it (``pip install module``)."""
    try:
        importlib.import_module(module)
    except ImportError as err:
        from ..errors import DependencyError

        raise DependencyError(f"'{spec.name}' needs the {module} package.", model=spec.name,
                              hint=f"pip install {module}") from err


def unavailable(spec: Any, what: str, reason: str) -> ModelUnavailableError:
    """The error ``mmbench.pipeline`` turns into an offline fallback: names the checkpoint."""
    return ModelUnavailableError(f"Could not load {what} for '{spec.name}': {reason}.", model=spec.name,
                                 hint=spec.how_to_get())


def require_hub(spec: Any, what: str) -> None:
    """Raise :class:`ModelUnavailableError` at once when ``what`` is not cached and cannot be
    downloaded (offline mode, or hub unreachable)."""
    if offline_mode():
        raise unavailable(spec, what, "it is not in the local Hugging Face cache and offline mode is on "
                                      "(HF_HUB_OFFLINE / MMBENCH_OFFLINE)")
    if not hub_reachable():
        raise unavailable(spec, what, f"it is not in the local Hugging Face cache and the hub ({hub_endpoint()}) "
                                      f"cannot be reached")


def describe_error(err: BaseException) -> str:
    """First line of an exception, for messages."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def local_only(source: str) -> tuple[bool, str]:
    """Whether loading ``source`` must not touch the network, and why (empty when the hub may be used).

    A local folder never needs the network; offline mode or an unreachable hub forbid it. Without
    this, transformers retries each file for ~20 s when the hub is unreachable.
    """
    if os.path.isdir(source):
        return True, ""
    if offline_mode():
        return True, "offline mode is on (HF_HUB_OFFLINE / MMBENCH_OFFLINE)"
    if not hub_reachable():
        return True, f"the hub ({hub_endpoint()}) cannot be reached"
    return False, ""


def load_pretrained(spec: Any, model_cls: Any, *companions: Any, what: str, source: str | None = None,
                    bin_fallback: bool = True, variant: str | None = None, **kwargs: Any) -> tuple[Any, ...]:
    """Load a checkpoint with ``model_cls.from_pretrained`` (and its processors), the one way every
    transformers/diffusers backend does it.

    Args:
        spec: the registry row (named in errors; its ``how_to_get()`` is the hint).
        model_cls: class with ``from_pretrained`` (``CLIPModel``, ``AutoPipelineForText2Image``...).
        *companions: classes loaded from the same source with only ``local_files_only``
            (processors, tokenizers), in order.
        what: the checkpoint in words, for the error ("the transformers CLIP checkpoint 'x'").
        source: hub id or local folder; ``spec.source`` by default.
        bin_fallback: when no safetensors weights can be read, try the repository's PyTorch ``.bin``
            weights (transformers reads them with ``torch.load(weights_only=True)``). False: safetensors only.
        variant: weight variant tried first (diffusers' ``"fp16"``); its absence falls back to the full files.
        **kwargs: passed on to ``model_cls.from_pretrained`` (``dtype``, ``attn_implementation``...).

    Returns:
        ``(model, *companion instances)``.

    Raises:
        ModelUnavailableError: the weights cannot be obtained (not cached and offline / no hub,
            missing repository or file); names ``what`` and says how to get it. Other errors propagate.

    Never passes ``trust_remote_code``: only code that ships with the library runs. Network access
    is forbidden (``local_files_only``) for local folders, in offline mode and when the hub cannot
    be reached (see :func:`local_only`), so a missing checkpoint fails in seconds.
    """
    source = spec.source if source is None else source
    local, why = local_only(source)
    try:
        model = _from_pretrained(model_cls, source, variant=variant, bin_fallback=bin_fallback,
                                 local_files_only=local, **kwargs)
        extra = tuple(cls.from_pretrained(source, local_files_only=local) for cls in companions)
    except weight_errors() as err:
        reason = f"it is not (completely) in the local Hugging Face cache and {why}" if why else describe_error(err)
        raise unavailable(spec, what, reason) from err
    return (model, *extra)


def _from_pretrained(model_cls: Any, source: str, *, variant: str | None, bin_fallback: bool, **kwargs: Any) -> Any:
    """``model_cls.from_pretrained``: the variant's safetensors, then plain safetensors, then ``.bin`` files."""
    if variant is not None:
        try:
            return model_cls.from_pretrained(source, use_safetensors=True, variant=variant, **kwargs)
        except (OSError, ValueError) as err:
            log.info("'%s': no %s variant (%s); loading its full-precision files.", source, variant,
                     describe_error(err))
    try:
        return model_cls.from_pretrained(source, use_safetensors=True, **kwargs)
    except OSError as err:
        if not bin_fallback:
            raise
        # No safetensors weights (or none cached). transformers' default order still prefers
        # safetensors and otherwise reads a .bin with torch.load(weights_only=True).
        log.info("'%s': no safetensors weights (%s); trying its PyTorch .bin weights.", source, describe_error(err))
    return model_cls.from_pretrained(source, **kwargs)
