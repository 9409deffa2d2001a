"""The ``mmbench`` command line: list models, train the offline models, evaluate, benchmark.

``eval``, ``bench`` and ``train`` are built from tables (:data:`~mmbench.cli.eval.EVALS`,
:data:`mmbench.benchmarks.BENCHMARKS`, :data:`~mmbench.cli.train.TRAINERS`), one subcommand per row
with only its own options. Machine-readable contract: ``eval`` and ``bench`` commands print progress
on stderr and, as the LAST line of stdout, one JSON object with plainly named metrics.
"""

from __future__ import annotations

import argparse
import sys

from .bench import add_parser as add_bench_parser
from .eval import add_parser as add_eval_parser
from .index import add_parser as add_index_parser
from .output import err, json_line
from .serve import add_parser as add_serve_parser
from .train import add_parser as add_train_parser

DESCRIPTION = """\
mmbench - a multimodal deep-learning workbench.

Examples:
  mmbench models                         list every model, its tier (online/offline) and licence
  mmbench eval matching                  score the offline tiny CLIP on a fresh held-out set
  mmbench eval matching --seed 7         ... on another held-out set
  mmbench eval explain                   pointing game, deletion/insertion AUC, sanity check per method
  mmbench bench explain                  mmbench's Grad-CAM vs calling pytorch-grad-cam directly (ratio)
  mmbench bench matching                 mmbench pipeline vs raw open_clip forward (ratio)
  mmbench eval fusion                    compare fusion strategies on procedural sentiment (3 seeds)
  mmbench eval speech                    WER of offline Whisper on LibriVox and espeak-ng sentences, RTF
  mmbench bench speech                   mmbench's transcription vs calling faster-whisper directly (ratio)
  mmbench bench fusion                   wall time of the full fusion comparison
  mmbench bench retrieval                text->image search latency over 100,000 embeddings
  mmbench train tiny-clip --device cuda  retrain the offline tiny CLIP (writes assets/...)
  mmbench train prosody-cnn              retrain the fusion lab's audio CNN (2 min on one CPU core)
  mmbench eval video                     tiny video model, audio model and their fusion on held-out clips
  mmbench bench video                    video decoding and VideoMAE classification vs raw PyAV / transformers
  mmbench train tiny-video               retrain the offline video + audio model (about 10 min on one CPU core)
  mmbench eval captioning                offline captioner + VQA on held-out scenes (attribute match, BLEU-4)
  mmbench train tiny-captioner           retrain the offline captioner / VQA decoder (about 6 min on one CPU core)
  mmbench eval text-to-image             offline tiny diffusion on 200 held-out prompts (prompt accuracy)
  mmbench bench text-to-image            mmbench's text-to-image call vs the raw diffusers pipeline (ratio)
  mmbench train tiny-diffusion --device cuda  retrain the offline text-to-image model (about 4 min on one GPU)
  mmbench eval audio-generation          tiny text-to-sound model on 100 held-out prompts (count and pitch
                                         direction recovered by librosa) + espeak-ng speech check
  mmbench train tiny-sound               retrain the offline text-to-sound model (about 3.5 min on one CPU core)
  mmbench app                            start the web app (same as `python app.py`)
  mmbench index build ~/Pictures --out pics.index   embed a photo folder (resumable; skips unreadable files)
  mmbench index search pics.index "a dog on a beach" -k 5   text search in it (JSON results)
  mmbench bench retrieval --n-items 1000000   on-disk IVF-PQ + exact re-rank over 1M vectors (latency, recall, RSS)
  mmbench serve --port 8000              REST API (/v1/..., /docs) + web UI + /healthz /readyz /metrics

eval/bench print progress on stderr and one JSON object as the last line of stdout.
`mmbench eval TASK --help` and `mmbench bench NAME --help` list a command's own options.
"""


def cmd_models(args: argparse.Namespace) -> None:
    """``mmbench models``: the registry as a table, or as one JSON line."""
    from ..registry import list_models

    rows = list_models(task=args.task)
    if args.json:
        json_line({"models": [r.as_row() for r in rows]})
        return
    header = f"{'name':28} {'task':22} {'tier':8} {'status':20} {'licence':28} params"
    print(header)
    print("-" * len(header))
    for r in sorted(rows, key=lambda r: (r.task, r.tier, r.name)):
        params = f"{r.params / 1e6:.1f}M" if r.params else "?"
        status = r.status + (f" (#{r.issue})" if r.issue else "")
        print(f"{r.name:28} {r.task:22} {r.tier:8} {status:20} {r.licence[:28]:28} {params}")


def cmd_app(args: argparse.Namespace) -> None:
    """``mmbench app``: the Gradio web app."""
    from ..ui.app import launch

    launch(server_name=args.host, server_port=args.port, share=args.share)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; every leaf command sets ``handler``, the function that runs it."""
    p = argparse.ArgumentParser(prog="mmbench", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    m = sub.add_parser("models", help="list the model registry")
    m.add_argument("--task", help="only this task, e.g. image-text-matching")
    m.add_argument("--json", action="store_true", help="print JSON instead of a table")
    m.set_defaults(handler=cmd_models)

    add_eval_parser(sub)
    add_bench_parser(sub)
    add_train_parser(sub)
    add_index_parser(sub)
    add_serve_parser(sub)

    a = sub.add_parser("app", help="start the Gradio web app")
    a.add_argument("--host", default="127.0.0.1")
    a.add_argument("--port", type=int, default=7860)
    a.add_argument("--share", action="store_true")
    a.set_defaults(handler=cmd_app)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command in ``argv`` (default ``sys.argv[1:]``); 0 on success, 1 on an mmbench error."""
    from ..errors import MMBenchError

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except MMBenchError as error:
        err(f"error: {error}")
        return 1
    except BrokenPipeError:  # e.g. `mmbench models | head`
        sys.stderr.close()
        return 0
    return 0
