"""Visual question answering (``visual-question-answering``): an image and a question in, a short
answer and its probability out.

Backends: BLIP-VQA through transformers (online; the question is encoded together with the image
and the answer decoded from it) and mmbench's tiny captioner (offline; the question is the prefix
its decoder continues: ``[BOS] what colour is the circle ? [SEP]`` -> ``red``). The offline model
only reads the procedural world's words: a question with other words is refused with a message
naming them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..io import validate_image, validate_images, validate_text
from .base import Pipeline
from .captioning import TokenScore, decoding_options

#: Longest question accepted (characters); answers are short.
MAX_QUESTION_CHARS = 500


@dataclass
class AnswerResult:
    """The answer to one question about one image."""

    question: str
    answer: str
    tokens: list[TokenScore]
    model: str
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def probability(self) -> float:
        """Probability of the whole answer (product of its tokens' probabilities)."""
        return float(np.prod([t.probability for t in self.tokens])) if self.tokens else float("nan")


class VisualQuestionAnsweringPipeline(Pipeline):
    """Answer questions about images.

    >>> vqa = mmbench.pipeline("visual-question-answering")   # doctest: +SKIP
    >>> vqa(image, "what colour is the circle?").answer        # doctest: +SKIP
    'red'
    """

    task = "visual-question-answering"

    def __init__(self, backend: Any, spec: Any, notice: str = "") -> None:
        super().__init__(backend, spec, notice)
        self.batch_size = 64

    def __call__(self, image: Any, question: str, *, num_beams: int = 1, max_new_tokens: int = 10) -> AnswerResult:
        """Answer ``question`` about ``image`` (path, bytes, PIL or array)."""
        pil = validate_image(image)
        return self._run([pil], [self._question(question)], num_beams, max_new_tokens)[0]

    def answer_batch(self, images: Sequence[Any], questions: Sequence[str], *, num_beams: int = 1,
                     max_new_tokens: int = 10) -> list[AnswerResult]:
        """One answer per ``(images[i], questions[i])`` pair."""
        if len(images) != len(questions):
            raise InvalidInputError(f"Got {len(images)} images but {len(questions)} questions: give one question per image.")
        pil = validate_images(images)
        qs = [self._question(q) for q in questions]
        out: list[AnswerResult] = []
        for i in range(0, len(pil), self.batch_size):
            out += self._run(pil[i:i + self.batch_size], qs[i:i + self.batch_size], num_beams, max_new_tokens)
        return out

    def unknown_words(self, text: str) -> list[str]:
        """Words a closed-vocabulary model cannot read ([] for open-vocabulary ones)."""
        return list(dict.fromkeys(self.backend.unknown_words(text))) if getattr(self.backend, "closed_vocabulary",
                                                                                False) else []

    def _question(self, question: Any) -> str:
        text = validate_text(question, what="question", max_chars=MAX_QUESTION_CHARS)
        if getattr(self.backend, "closed_vocabulary", False):
            self.backend.check_words(text, "question")
        return text

    def _run(self, images: list[Any], questions: list[str], num_beams: int, max_new_tokens: int) -> list[AnswerResult]:
        opts = decoding_options(max_new_tokens=max_new_tokens, num_beams=num_beams)
        started = time.perf_counter()
        raw = self.backend.answer(images, questions, num_beams=opts.num_beams, max_new_tokens=opts.max_new_tokens)
        seconds = (time.perf_counter() - started) / max(1, len(images))
        out = []
        for q, (ids, probs) in zip(questions, raw):
            tokens = [TokenScore(t, int(i), float(p)) for t, i, p in zip(self.backend.tokens(ids), ids, probs)]
            out.append(AnswerResult(q, self.backend.decode(ids), tokens, self.spec.name, seconds))
        return out
