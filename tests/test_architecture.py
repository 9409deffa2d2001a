"""The layer order of ``mmbench/`` (ARCHITECTURE.md), checked on the source: every import — module
level or inside a function — goes down or sideways, never up; no import cycles; no module uses
another module's ``_private`` names; no file over 500 lines.

The checks read the code with :mod:`ast` (nothing is imported), so they also see the lazy imports
that keep ``import mmbench`` fast.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "mmbench"

#: Layer of each top-level module or package of mmbench, bottom (0) to top (8). A module may import
#: modules of its own layer or below. A new top-level module must be given a layer here (and in
#: ARCHITECTURE.md).
LAYERS: dict[str, int] = {
    # 0 core: errors, the model registry, the device policy, the model cache
    "errors": 0, "registry": 0, "device": 0, "cache": 0,
    # 0 core: Prometheus metrics (needs only prometheus_client; reads the cache, front ends record requests)
    "telemetry": 0,
    # 0 core: the message catalogue (UI strings and error messages in English and Chinese)
    "i18n": 0,
    # 1 inputs and data: input checking and decoding, procedural worlds and loaders, metrics, the index
    "io": 1, "data": 1, "metrics": 1, "retrieval": 1, "examples": 1,
    # 1 on-disk vector search: memory-mapped vectors, IVF-PQ + exact re-ranking
    "ann": 1,
    # 2 plots: every matplotlib figure
    "plots": 2,
    # 3 models: nn.Modules and model-level hooks, speech and audio-generation building blocks
    "models": 3, "speech": 3, "audiogen": 3,
    # 4 backends: one file per model family, the hub loader, the explain adapters
    "backends": 4,
    # 5 explain: one explain API over the adapters
    "explain": 5,
    # 6 pipelines: one per task, and the factory that loads them
    "pipelines": 6, "loading": 6,
    # 7 applications of the pipelines: evaluation, training, the fusion lab, benchmarks
    "eval": 7, "train": 7, "fusion": 7, "benchmarks": 7,
    # 7 drift detection: detectors on embeddings and outputs, the online monitor, power measurement
    "monitor": 7,
    # 7 compression of loaded pipelines (dtype copies, int8, ONNX Runtime)
    "compress": 7,
    # 7 photo-collection search: resumable folder indexing with the matching pipeline, search, add/remove
    "photos": 7,
    # 8 front ends: the web app, the command line, the package facade
    "ui": 8, "cli": 8, "__init__": 8,
    # 8 the REST microservice (mmbench serve): endpoints over the pipelines, admission control, Ray Serve
    "serve": 8,
}

MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = ["mmbench", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _layer(module: str) -> int:
    parts = module.split(".")
    key = "__init__" if len(parts) == 1 else parts[1]
    assert key in LAYERS, f"{module} has no layer: add {key!r} to LAYERS (tests/test_architecture.py) and ARCHITECTURE.md"
    return LAYERS[key]


def _imports(module: str, path: Path) -> tuple[set[str], list[str]]:
    """The mmbench modules that ``module`` imports, and its uses of other modules' private names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    targets: set[str] = set()
    private: list[str] = []
    aliases: dict[str, str] = {}  # local name -> mmbench module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "mmbench":
                continue
            for alias in node.names:
                full = f"{source}.{alias.name}"
                if full in MODULES:  # a submodule
                    targets.add(full)
                    aliases[alias.asname or alias.name] = full
                else:
                    targets.add(source)
                    if alias.name.startswith("_") and source != module:
                        private.append(f"{module} line {node.lineno}: from {source} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "mmbench":
                    targets.add(alias.name)
                    if alias.asname:
                        aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")
                and f"{aliases[node.value.id]}.{node.attr}" not in MODULES):
            private.append(f"{module} line {node.lineno}: {aliases[node.value.id]}.{node.attr}")
    targets.discard(module)
    return {t for t in targets if t in MODULES}, private


GRAPH: dict[str, set[str]] = {}
PRIVATE: list[str] = []
for _name, _path in MODULES.items():
    GRAPH[_name], _private = _imports(_name, _path)
    PRIVATE += _private


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer():
    for name in MODULES:
        _layer(name)


def test_no_upward_imports():
    upward = [f"{m} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
              for m, targets in sorted(GRAPH.items()) for t in sorted(targets)
              # a package's own __init__ re-exporting its modules is not an upward edge
              if _layer(t) > _layer(m) and not t.startswith(m + ".")]
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_no_import_cycles():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_private_names_across_modules():
    assert not PRIVATE, "uses of another module's private names:\n" + "\n".join(PRIVATE)


def test_no_file_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in MODULES.values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_the_checker_sees_what_it_must_catch(tmp_path):
    """The checker itself: a cycle, an upward import and a private import are all found."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    module = ROOT / "registry.py"
    fake = tmp_path / "registry.py"
    fake.write_text("def f():\n    from .ui import app\n    from .io.files import _secret\n")
    targets, private = _imports("mmbench.registry", fake)
    assert "mmbench.ui" in targets or "mmbench.ui.app" in targets
    assert any("_secret" in p for p in private)
    assert module.exists()


@pytest.mark.parametrize("module", ["mmbench.errors", "mmbench.registry"])
def test_bottom_layer_imports_only_bottom(module):
    assert all(_layer(t) == 0 for t in GRAPH[module]), GRAPH[module]
