"""Word timings from Whisper's cross-attention (the method of OpenAI's ``whisper/timing.py``).

Some of Whisper's decoder cross-attention heads ("alignment heads", listed in each checkpoint's
generation config) look at the audio frames where the token being written is spoken. Feeding the
transcript back through the decoder (teacher forcing) gives, per text token, a distribution over
the 20 ms encoder frames; after normalising and median-filtering those maps, dynamic time warping
finds the monotonic path token -> frame with the most attention, and each word starts at the
frame where the path reaches its first token.

faster-whisper does the same inside CTranslate2; this module is what the transformers backend
uses, written out so the notebook can show it.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FRAMES_PER_SECOND", "WordSpan", "attention_word_times", "dtw_path", "split_words"]

#: Whisper's encoder emits one frame per 20 ms (two mel frames of 10 ms).
FRAMES_PER_SECOND = 50
#: Languages written without spaces: every character group is a word.
NO_SPACE_LANGUAGES = {"zh", "ja", "th", "lo", "my", "yue"}
_PUNCTUATION = set(string.punctuation) | set("，。！？、：；“”‘’（）《》…")


@dataclass
class WordSpan:
    """A word and the indices of its tokens in a token list."""

    text: str
    tokens: list[int]
    first: int  # index of its first token


def split_words(tokens: Sequence[int], decode: Callable[[list[int]], str], language: str | None = None) -> list[WordSpan]:
    """Group text tokens into words.

    Tokens are first grouped until they decode to whole characters (a Chinese character can
    span several byte-level tokens). For languages written with spaces a new word starts at a
    group that begins with a space; punctuation joins the word before it.
    """
    groups: list[tuple[str, list[int], int]] = []
    current: list[int] = []
    start = 0
    for index, token in enumerate(tokens):
        if not current:
            start = index
        current.append(int(token))
        text = decode(current)
        if "\ufffd" not in text or index == len(tokens) - 1:
            groups.append((text, current, start))
            current = []
    words: list[WordSpan] = []
    spaced = language not in NO_SPACE_LANGUAGES
    for text, toks, first in groups:
        stripped = text.strip()
        is_punct = bool(stripped) and all(ch in _PUNCTUATION for ch in stripped)
        if words and (is_punct or (spaced and not text.startswith(" "))):
            words[-1].text += text
            words[-1].tokens.extend(toks)
        else:
            words.append(WordSpan(text, list(toks), first))
    return words


def dtw_path(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monotonic minimum-cost path through ``cost`` (rows x columns) from (0, 0) to the end.

    Steps: diagonal, down, right (as in OpenAI's whisper). The recursion
    ``D[i, j] = cost[i, j] + min(D[i-1, j-1], D[i-1, j], D[i, j-1])`` is filled one
    anti-diagonal at a time (cells with the same ``i + j`` are independent), so it is vectorised.
    Returns the row and column index of every step of the path.
    """
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    trace = np.zeros((n + 1, m + 1), dtype=np.int8)
    for k in range(2, n + m + 1):
        i = np.arange(max(1, k - m), min(n, k - 1) + 1)
        j = k - i
        options = np.stack([acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]])
        best = options.argmin(axis=0)
        acc[i, j] = cost[i - 1, j - 1] + options[best, np.arange(len(i))]
        trace[i, j] = best
    rows, cols = [], []
    i, j = n, m
    while i > 0 and j > 0:
        rows.append(i - 1)
        cols.append(j - 1)
        step = trace[i, j]
        if step == 0:
            i, j = i - 1, j - 1
        elif step == 1:
            i -= 1
        else:
            j -= 1
    return np.array(rows[::-1]), np.array(cols[::-1])


def _median_filter(x: np.ndarray, width: int) -> np.ndarray:
    """Median over a sliding window of ``width`` along the last axis (reflect padding)."""
    if width <= 1 or x.shape[-1] <= width // 2:
        return x
    pad = width // 2
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=-1)
    return np.median(windows, axis=-1)


def attention_word_times(attention: np.ndarray, words: Sequence[WordSpan], num_frames: int,
                         medfilt_width: int = 7) -> list[tuple[float, float]]:
    """``(start, end)`` seconds of each word from cross-attention maps.

    Args:
        attention: ``(heads, tokens + 1, frames)`` cross-attention of the alignment heads, rows
            for the query positions that *predict* each text token and then end-of-text.
        words: the words of those text tokens (:func:`split_words`), in order.
        num_frames: encoder frames that carry audio (the rest of the 30 s window is padding).
    """
    weights = np.asarray(attention, dtype=np.float64)[:, :, :max(1, num_frames)]
    mean = weights.mean(axis=-2, keepdims=True)
    std = weights.std(axis=-2, keepdims=True)
    weights = (weights - mean) / np.maximum(std, 1e-8)
    matrix = _median_filter(weights, medfilt_width).mean(axis=0)
    text_idx, time_idx = dtw_path(-matrix)
    jumps = np.diff(np.concatenate([[-1], text_idx])) > 0  # first frame the path spends on each token
    jump_times = time_idx[jumps] / FRAMES_PER_SECOND
    boundaries = np.cumsum([0] + [len(w.tokens) for w in words])
    times = []
    for k in range(len(words)):
        start = float(jump_times[min(boundaries[k], len(jump_times) - 1)])
        end = float(jump_times[min(boundaries[k + 1], len(jump_times) - 1)])
        times.append((start, max(start, end)))
    return times


def as_numpy(attn: Any) -> np.ndarray:
    """A torch tensor (any dtype/device) as float32 numpy."""
    return attn.detach().float().cpu().numpy()
