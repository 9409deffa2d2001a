"""Word error rate: ``WER = (S + D + I) / N`` over normalised transcripts.

``S``, ``D`` and ``I`` are the substitutions, deletions and insertions of a minimum-edit
(Levenshtein) alignment of the hypothesis to the reference, ``N`` the number of reference words.
Both texts are normalised first (:func:`normalize_transcript`): case, punctuation, hyphens and a
few spoken forms of abbreviations, so that "Mr. Dashwood's cold-hearted" and "mister dashwood's
cold hearted" are the same words. Numbers are *not* spelled out: "2" and "two" differ.
Chinese, Japanese and Korean characters count one "word" each (a character error rate for
those scripts, the usual convention).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InvalidInputError

__all__ = ["WERResult", "align_words", "normalize_transcript", "word_error_rate"]

#: Written abbreviations and the words a reader says (the LibriVox references spell them out).
SPOKEN_FORMS: dict[str, str] = {
    "mr": "mister", "mrs": "missus", "ms": "miss", "dr": "doctor", "st": "saint", "jr": "junior",
    "sr": "senior", "vs": "versus", "&": "and",
}

_CJK = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff])")
_TAG = re.compile(r"<[^>]*>|\[[^\]]*\]|\([^)]*\)")  # <s>, </s>, [noise], (utterance-id)


def normalize_transcript(text: str) -> list[str]:
    """Lower-cased words without punctuation: the units WER counts.

    Steps: Unicode NFKC; markup such as ``<s>``, ``[noise]`` or ``(file-id)`` removed; lower
    case; hyphens, slashes and dashes become spaces; apostrophes inside words are kept
    (``don't``), quotes and other punctuation dropped; abbreviations in :data:`SPOKEN_FORMS`
    replaced by their spoken form; every CJK character is its own word.
    """
    if not isinstance(text, str):
        raise InvalidInputError(f"A transcript must be a string, not {type(text).__name__}.")
    text = unicodedata.normalize("NFKC", text)
    text = _TAG.sub(" ", text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"[-\u2010-\u2015/]", " ", text)
    text = re.sub(r"(?<![a-z0-9])'|'(?![a-z0-9])", " ", text)  # quotes, not apostrophes
    text = "".join(ch if ch.isalnum() or ch in "'&" or ch.isspace() else " " for ch in text)
    text = _CJK.sub(r" \1 ", text)
    return [SPOKEN_FORMS.get(w, w) for w in text.split()]


@dataclass(frozen=True)
class WERResult:
    """Word error rate of one hypothesis (or a corpus) against its reference.

    Attributes:
        wer: ``(substitutions + deletions + insertions) / reference_words`` (can exceed 1).
        substitutions, deletions, insertions: edit counts of a minimum-edit alignment.
        reference_words: ``N``; hits: reference words recognised correctly.
    """

    wer: float
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def hits(self) -> int:
        return self.reference_words - self.substitutions - self.deletions

    def as_dict(self) -> dict:
        return {"wer": self.wer, "substitutions": self.substitutions, "deletions": self.deletions,
                "insertions": self.insertions, "reference_words": self.reference_words}


def align_words(reference: Sequence[str], hypothesis: Sequence[str]) -> list[tuple[str, str | None, str | None]]:
    """A minimum-edit alignment: ``(op, ref_word, hyp_word)`` with op in ``= S D I``.

    Dynamic programming over ``d[i][j]`` = edits turning ``reference[:i]`` into
    ``hypothesis[:j]``, then a backtrace that prefers matches, then substitutions.
    """
    n, m = len(reference), len(hypothesis)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        ri = reference[i - 1]
        row, prev = d[i], d[i - 1]
        for j in range(1, m + 1):
            cost = 0 if ri == hypothesis[j - 1] else 1
            row[j] = min(prev[j - 1] + cost, prev[j] + 1, row[j - 1] + 1)
    ops: list[tuple[str, str | None, str | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and d[i][j] == d[i - 1][j - 1] + (reference[i - 1] != hypothesis[j - 1]):
            ops.append(("=" if reference[i - 1] == hypothesis[j - 1] else "S", reference[i - 1], hypothesis[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and d[i][j] == d[i - 1][j] + 1:
            ops.append(("D", reference[i - 1], None))
            i -= 1
        else:
            ops.append(("I", None, hypothesis[j - 1]))
            j -= 1
    return ops[::-1]


def word_error_rate(reference: str | Sequence[str], hypothesis: str | Sequence[str], *,
                    normalize: bool = True) -> WERResult:
    """WER of ``hypothesis`` against ``reference``.

    Pass two strings for one utterance, or two equally long lists of strings for a corpus: the
    corpus WER is total errors over total reference words (long utterances weigh more), not the
    mean of per-utterance rates. ``normalize=False`` splits on whitespace only.

    >>> word_error_rate("He was not an ill disposed young man", "He was not an old-sposed young man.").wer
    0.25
    """
    if isinstance(reference, str) != isinstance(hypothesis, str):
        raise InvalidInputError("Pass two strings (one utterance) or two lists of strings (a corpus).")
    refs = [reference] if isinstance(reference, str) else list(reference)
    hyps = [hypothesis] if isinstance(hypothesis, str) else list(hypothesis)
    if len(refs) != len(hyps):
        raise InvalidInputError(f"{len(refs)} references but {len(hyps)} hypotheses: they must pair up.")
    split = normalize_transcript if normalize else (lambda t: str(t).split())
    subs = dels = ins = total = 0
    for ref, hyp in zip(refs, hyps):
        ops = align_words(split(ref), split(hyp))
        subs += sum(op == "S" for op, _, _ in ops)
        dels += sum(op == "D" for op, _, _ in ops)
        ins += sum(op == "I" for op, _, _ in ops)
        total += sum(op != "I" for op, _, _ in ops)
    if total == 0:
        raise InvalidInputError("The reference has no words; WER is undefined.")
    return WERResult((subs + dels + ins) / total, subs, dels, ins, total)
