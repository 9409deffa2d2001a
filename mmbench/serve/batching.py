"""Batching across requests for the REST endpoints: record, batch, replay (no Ray in here).

:func:`run_batched` runs many requests of :mod:`mmbench.serve.tasks` endpoints with one pipeline
call per batchable method (:data:`BATCH_OPS`: CLIP image and text embeddings, sentence embeddings,
image-classification probabilities) instead of one per request, and returns what each endpoint
function returns on its own:

1. **record**: each endpoint function runs on a view of its pipeline whose batchable methods
   validate the request's items (a bad item fails that request alone, with the library's error),
   note them, and return placeholder rows of the right shape;
2. **batch**: the noted items of all requests go through the real method together (per model and
   method, at most :data:`MAX_BATCH_ITEMS` items per call);
3. **replay**: each endpoint function runs again on a view whose methods hand back the request's own
   rows, so the answer is computed by the endpoint's own code.

A request whose calls cannot be recorded or replayed the same way (an option only it uses, a call
sequence that depends on the numbers) runs on its own, unbatched. Everything runs in the calling
thread: a Ray Serve replica calls this from its one model thread (``@serve.batch``).
"""

from __future__ import annotations

import copy
import functools
from typing import Any, Callable, Sequence

#: Items one batched pipeline call takes at most (bigger joined batches are split; bounds memory).
MAX_BATCH_ITEMS = 256

#: task -> batchable pipeline method -> (``mmbench.io`` validator name, width attribute of its output rows).
BATCH_OPS: dict[str, dict[str, tuple[str, str]]] = {
    "image-text-matching": {"embed_images": ("validate_images", "embed_dim"),
                            "embed_texts": ("validate_texts", "embed_dim")},
    "sentence-embedding": {"embed": ("validate_many_texts", "embed_dim")},
    "image-classification": {"probabilities": ("validate_images", "num_classes")},
}


class _Unbatchable(Exception):
    """This request's calls cannot go through the batch: run it on its own."""


def _validator(name: str) -> Callable[[Any], list]:
    from .. import io

    if name == "validate_many_texts":
        return functools.partial(io.validate_texts, max_items=1_000_000)
    return getattr(io, name)


def _placeholder(rows: int, width: int, op: str) -> Any:
    import numpy as np

    value = 1.0 / width if op == "probabilities" else width ** -0.5  # uniform probabilities / unit vectors
    return np.full((rows, width), value, dtype=np.float32)


def _view(pipe: Any, method: Callable[[str, Any, tuple, dict], Any]) -> Any:
    """A shallow copy of ``pipe`` whose batchable methods call ``method(op, items, args, kwargs)``."""
    view = copy.copy(pipe)
    for op in BATCH_OPS[pipe.task]:
        setattr(view, op, lambda items, *args, _op=op, **kwargs: method(_op, items, args, kwargs))
    return view


class _Request:
    """One request: its endpoint, pipeline and inputs, the calls it made, its rows, its outcome."""

    def __init__(self, endpoint: Any, pipe: Any, inputs: dict[str, Any]) -> None:
        self.endpoint, self.pipe, self.inputs = endpoint, pipe, inputs
        self.calls: list[tuple[str, list]] = []
        self.rows: dict[int, Any] = {}
        self.alone = False
        self.outcome: tuple[str, Any] | None = None

    def record(self) -> None:
        def note(op: str, items: Any, args: tuple, kwargs: dict) -> Any:
            if any(a is not None for a in (*args, *kwargs.values())):  # an option only this call uses
                raise _Unbatchable(op)
            clean = _validator(BATCH_OPS[self.pipe.task][op][0])(items)
            self.calls.append((op, clean))
            return _placeholder(len(clean), int(getattr(self.pipe, BATCH_OPS[self.pipe.task][op][1])), op)

        try:
            result = self.endpoint.run(_view(self.pipe, note), **self.inputs)
        except Exception:  # noqa: BLE001 — its own run (below) gives the real answer or error
            self.alone = True
            return
        if not self.calls:  # no batchable call was made: that was a real run, and this is its answer
            self.outcome = ("ok", result)

    def replay(self) -> None:
        position = iter(range(len(self.calls)))

        def hand_back(op: str, items: Any, args: tuple, kwargs: dict) -> Any:
            i = next(position, None)
            if i is None or self.calls[i][0] != op or len(self.calls[i][1]) != len(_validator(
                    BATCH_OPS[self.pipe.task][op][0])(items)):
                raise _Unbatchable(op)  # not the calls recorded: the numbers changed its course
            return self.rows[i]

        try:
            result = self.endpoint.run(_view(self.pipe, hand_back), **self.inputs)
            if next(position, None) is not None:
                raise _Unbatchable("fewer calls than recorded")
            self.outcome = ("ok", result)
        except Exception:  # noqa: BLE001 — run on its own instead
            self.alone = True

    def run_alone(self) -> None:
        try:
            self.outcome = ("ok", self.endpoint.run(self.pipe, **self.inputs))
        except Exception as err:  # noqa: BLE001 — handed back to this request only
            self.outcome = ("error", err)


def run_batched(requests: Sequence[tuple[Any, Any, dict[str, Any]]]) -> list[tuple[str, Any]]:
    """Run ``(endpoint, pipeline, decoded inputs)`` requests with one pipeline call per batchable
    method; returns ``("ok", result)`` or ``("error", exception)`` per request, in order.
    Results are what ``endpoint.run(pipeline, **inputs)`` returns (plus nothing else)."""
    reqs = [_Request(*r) for r in requests]
    for r in reqs:
        if r.pipe is not None and r.pipe.task in BATCH_OPS:
            r.record()
        else:
            r.alone = True
    groups: dict[tuple[Any, ...], list[tuple[_Request, int]]] = {}
    for r in reqs:
        if not r.alone and r.outcome is None:  # pipeline() wraps one cached backend in a new object per call
            for i, (op, _) in enumerate(r.calls):
                groups.setdefault((type(r.pipe), id(r.pipe.backend), r.pipe.spec.name, op), []).append((r, i))
    for (_, _, _, op), members in groups.items():
        for chunk in _chunks(members):
            try:
                out = getattr(chunk[0][0].pipe, op)([x for r, i in chunk for x in r.calls[i][1]])
            except Exception:  # noqa: BLE001 — the requests of this chunk run on their own
                for r, _ in chunk:
                    r.alone = True
                continue
            start = 0
            for r, i in chunk:
                n = len(r.calls[i][1])
                r.rows[i] = out[start:start + n]
                start += n
    for r in reqs:
        if r.outcome is None and not r.alone:
            r.replay()
        if r.outcome is None:
            r.run_alone()
    return [r.outcome for r in reqs]  # type: ignore[misc]


def _chunks(members: list[tuple[_Request, int]]) -> list[list[tuple[_Request, int]]]:
    out: list[list[tuple[_Request, int]]] = [[]]
    total = 0
    for r, i in members:
        n = len(r.calls[i][1])
        if out[-1] and total + n > MAX_BATCH_ITEMS:
            out.append([])
            total = 0
        out[-1].append((r, i))
        total += n
    return out
