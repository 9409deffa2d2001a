"""The mmbench error hierarchy: every failure a user can cause or meet is one of these.

Each error carries a plain-language message meant to be shown as-is in the web app or a
notebook (``str(err)``), plus an optional ``hint`` saying what to do about it. An error may also
carry a ``code`` and its ``params``: the key of its message in the catalogue (``mmbench.i18n``,
namespace ``errors``), so the web app can show it in the user's language.
"""

from __future__ import annotations


class MMBenchError(Exception):
    """Base class of every error mmbench raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None,
                 params: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code  # "errors.<code>" in the catalogue, rendered with ``params``
        self.params = dict(params or {})

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message

    @property
    def user_message(self) -> str:
        """Message for end users (same as ``str(err)``)."""
        return str(self)


class InvalidInputError(MMBenchError, ValueError):
    """An input (image, text, audio, option) cannot be used."""


class ImageError(InvalidInputError):
    """An image cannot be decoded or is unusable (corrupt, empty, absurd size...)."""


class TextError(InvalidInputError):
    """A text is empty, too long or otherwise unusable."""


class AudioError(InvalidInputError):
    """An audio clip cannot be decoded or is unusable (silent, too short, too long...)."""


class VideoError(InvalidInputError):
    """A video cannot be decoded or is unusable (corrupt, one frame, no video stream, too long, too large...)."""


class EmbeddingError(InvalidInputError):
    """An array of embeddings (a drift reference or window) is unusable: too few rows, the wrong
    dimension, NaN/inf values."""


class SearchIndexError(InvalidInputError):
    """A saved search index cannot be used: the path holds no index, the index is damaged, or its
    vectors have another dimension than the queries or the model at hand; the hint says what to do."""


class UnknownMethodError(InvalidInputError):
    """A method name (e.g. a drift detector) is not one mmbench knows; the hint lists the valid names."""


class UnknownTaskError(MMBenchError, KeyError):
    """No pipeline exists for the requested task name."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return MMBenchError.__str__(self)


class UnknownModelError(MMBenchError, KeyError):
    """The requested model name is not in the registry (or not for this task)."""

    def __str__(self) -> str:
        return MMBenchError.__str__(self)


class ModelUnavailableError(MMBenchError, RuntimeError):
    """A model exists in the registry but cannot be loaded here (weights or package missing)."""

    def __init__(self, message: str, *, model: str | None = None, hint: str | None = None,
                 code: str | None = None, params: dict | None = None) -> None:
        super().__init__(message, hint=hint, code=code, params=params)
        self.model = model


class DependencyError(ModelUnavailableError):
    """An optional Python package needed for this model or feature is not installed."""


class CompressionError(MMBenchError, RuntimeError):
    """A model cannot be compressed with the asked method (it has no exportable towers, an operator
    has no ONNX translation, quantization failed...); the hint says what to do instead."""
