"""The ``mmbench`` command line: list models, train the offline models, evaluate, benchmark.

Machine-readable contract: ``eval`` and ``bench`` commands print progress on stderr and, as the
LAST line of stdout, one JSON object with plainly named metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

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

eval/bench print progress on stderr and one JSON object as the last line of stdout.
"""

MATCHING_EVAL_MODEL = "mmbench-tiny-clip"
BENCHMARKS = ("matching", "retrieval", "fusion", "explain", "speech", "video", "text-to-image")
EVALS = ("matching", "fusion", "explain", "speech", "video", "captioning", "text-to-image", "audio-generation")


def _json_line(obj: dict) -> None:
    print(json.dumps(obj, default=_jsonable), flush=True)


def _jsonable(o):
    import numpy as np

    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cmd_models(args: argparse.Namespace) -> int:
    from .registry import list_models

    rows = list_models(task=args.task)
    if args.json:
        _json_line({"models": [r.as_row() for r in rows]})
        return 0
    header = f"{'name':28} {'task':22} {'tier':8} {'status':20} {'licence':28} params"
    print(header)
    print("-" * len(header))
    for r in sorted(rows, key=lambda r: (r.task, r.tier, r.name)):
        params = f"{r.params / 1e6:.1f}M" if r.params else "?"
        status = r.status + (f" (#{r.issue})" if r.issue else "")
        print(f"{r.name:28} {r.task:22} {r.tier:8} {status:20} {r.licence[:28]:28} {params}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.task == "fusion":
        from .eval.fusion import evaluate_fusion

        from .fusion.lab import TrainConfig

        seeds = (args.seed,) if args.seed is not None else (0, 1, 2)
        from .fusion.representations import parse_assignments

        reps = parse_assignments(args.representations) if args.representations else None
        config = TrainConfig(multitask=args.multitask, modality_dropout=args.modality_dropout)
        _err(f"fusion lab: every strategy x seeds {list(seeds)} on the procedural sentiment data")
        ablation = () if args.no_ablation else None
        _json_line(evaluate_fusion(seeds=seeds, log=_err, representations=reps, config=config,
                                   **({} if ablation is None else {"ablation": ablation})))
        return 0
    if args.task == "speech":
        return _eval_speech(args)
    if args.task == "video":
        return _eval_video(args)
    if args.task == "captioning":
        return _eval_captioning(args)
    if args.task == "text-to-image":
        return _eval_text_to_image(args)
    if args.task == "audio-generation":
        return _eval_audio_generation(args)
    from .loading import pipeline

    # explanations run in float32 on every device (ScoreCAM needs it; half precision blurs gradients)
    dtype = "fp32" if args.task == "explain" else None
    pipe = pipeline("image-text-matching", model=args.model, device=args.device, dtype=dtype)
    if pipe.notice:
        _err(f"note: {pipe.notice}")
    if args.task == "explain":
        return _eval_explain(pipe, args)
    from .eval.matching import evaluate_matching

    _err(f"evaluating {pipe.describe()}")
    result = evaluate_matching(pipe, n_zero_shot=args.n_zero_shot, n_gallery=args.n_gallery,
                               n_binding=args.n_binding, seed=args.seed, log=_err)
    _json_line(result)
    return 0


def _eval_speech(args: argparse.Namespace) -> int:
    from .eval.speech import evaluate_speech
    from .loading import pipeline

    model = args.model if args.model != MATCHING_EVAL_MODEL else "whisper-tiny.en-ct2"
    pipe = pipeline("speech-recognition", model=model, device=args.device)
    if pipe.notice:
        _err(f"note: {pipe.notice}")
    _err(f"transcribing with {pipe.describe()}")
    _json_line(evaluate_speech(pipe, beam_size=args.beam_size, log=_err, on_result=_json_line))
    return 0


def _eval_video(args: argparse.Namespace) -> int:
    from .eval.video import EVAL_SEED, evaluate_video
    from .loading import pipeline

    model = args.model if args.model != MATCHING_EVAL_MODEL else "mmbench-tiny-video"
    pipe = pipeline("video-classification", model=model, device=args.device)
    _err(f"evaluating {pipe.describe()}")
    _json_line(evaluate_video(pipe, n=args.n_clips, n_ambiguous=args.n_ambiguous,
                              seed=EVAL_SEED if args.seed is None else args.seed, a=args.fusion_a, b=args.fusion_b,
                              log=_err, on_result=_json_line))
    return 0


def _eval_captioning(args: argparse.Namespace) -> int:
    from .eval.captioning import EVAL_SEED, evaluate_captioning
    from .loading import pipeline

    model = args.model if args.model != MATCHING_EVAL_MODEL else "mmbench-tiny-captioner"
    cap = pipeline("image-to-text", model=model, device=args.device)
    vqa = pipeline("visual-question-answering", model=args.vqa_model, device=args.device) if args.n_questions else None
    for pipe in (cap, vqa):
        if pipe is not None and pipe.notice:
            _err(f"note: {pipe.notice}")
    _err(f"captioning with {cap.describe()}" + (f"; answering with {vqa.describe()}" if vqa else ""))
    _json_line(evaluate_captioning(cap, vqa, n=args.n_images, n_questions=args.n_questions,
                                   n_attention=args.n_attention, seed=EVAL_SEED if args.seed is None else args.seed,
                                   decoding={"num_beams": args.num_beams}, log=_err, on_result=_json_line))
    return 0


def _eval_text_to_image(args: argparse.Namespace) -> int:
    from .eval.text_to_image import EVAL_SEED, evaluate_pipeline
    from .loading import pipeline

    model = args.model if args.model != MATCHING_EVAL_MODEL else "mmbench-tiny-diffusion"
    pipe = pipeline("text-to-image", model=model, device=args.device)
    if pipe.notice:
        _err(f"note: {pipe.notice}")
    _err(f"generating {args.n_prompts} held-out prompts with {pipe.describe()}")
    _json_line(evaluate_pipeline(pipe, n=args.n_prompts, steps=args.t2i_steps, guidance=args.guidance,
                                 seed=EVAL_SEED if args.seed is None else args.seed, on_result=_json_line))
    return 0


def _eval_audio_generation(args: argparse.Namespace) -> int:
    from .errors import MMBenchError
    from .eval.audio_generation import EVAL_SEED, evaluate_audio_generation
    from .loading import pipeline

    model = args.model if args.model != MATCHING_EVAL_MODEL else "mmbench-tiny-sound"
    pipe = pipeline("text-to-audio", model=model, device=args.device)
    speech = None
    if args.speech_model.lower() != "none":
        try:
            speech = pipeline("text-to-speech", model=args.speech_model, device=args.device)
        except MMBenchError as err:  # e.g. espeak-ng not installed: still score the sound model
            _err(f"speech check skipped: {err}")
    _err(f"generating {args.n_sound_prompts} held-out sound prompts with {pipe.describe()}")
    _json_line(evaluate_audio_generation(pipe, n=args.n_sound_prompts, n_unseen=args.n_unseen,
                                         seed=EVAL_SEED if args.seed is None else args.seed, speech_pipe=speech,
                                         log=_err, on_result=_json_line))
    return 0


def _eval_explain(pipe, args: argparse.Namespace) -> int:
    from .eval.explain import EXPLAIN_SEED, evaluate_explain

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    layers = None
    if args.layers:
        from .explain import available_layers

        layers = available_layers(pipe) if args.layers == "all" else [x.strip() for x in args.layers.split(",")]
    options = {} if args.shifts is None else {"shifts": args.shifts}
    if args.baseline is not None:
        options["baseline"] = None if args.baseline.strip().lower() == "none" else args.baseline
    _err(f"explaining with {pipe.describe()}")
    result = evaluate_explain(pipe, n=args.n, seed=EXPLAIN_SEED if args.seed is None else args.seed, methods=methods,
                              layers=layers, n_slow=args.n_slow, n_sanity=args.n_sanity, steps=args.steps,
                              quick=args.quick, log=_err, on_result=_json_line, **options)
    _json_line(result)
    return 0


def cmd_bench(args: argparse.Namespace, extra: list[str]) -> int:
    import runpy

    script = Path(__file__).resolve().parent.parent / "benchmarks" / f"{args.name.replace('-', '_')}.py"
    if not script.is_file():
        _err(f"benchmark script not found: {script} (benchmarks live in the repository's benchmarks/ folder)")
        return 2
    module = runpy.run_path(str(script), run_name="mmbench_bench")
    result = module["main"](extra)
    if isinstance(result, dict):
        _json_line(result)
    return 0


def _cpu_unless_named(args: argparse.Namespace) -> str:
    """The small CPU-friendly models train on the CPU unless a device is named."""
    return "cpu" if args.device == "auto" else args.device


#: ``mmbench train NAME`` -> (module under ``mmbench.train``, registry row whose assets folder is the
#: default output, the TrainConfig arguments taken from the command line). Every module has
#: ``TrainConfig`` and ``train(cfg, out_dir, log) -> (model, summary)``; ``--config`` adds any field.
TRAINERS: dict[str, tuple[str, str, Callable[[argparse.Namespace], dict[str, Any]]]] = {
    "tiny-clip": ("tiny_clip", "mmbench-tiny-clip", lambda a: dict(
        steps=a.steps, batch_size=a.batch_size, lr=a.lr, seed=a.seed, workers=a.workers,
        time_budget_s=a.time_budget, device=a.device)),
    "prosody-cnn": ("prosody_cnn", "mmbench-prosody-cnn", lambda a: dict(seed=a.seed)),
    "tiny-video": ("tiny_video", "mmbench-tiny-video", lambda a: dict(
        seed=a.seed, time_budget_s=a.time_budget, device=_cpu_unless_named(a))),
    "tiny-captioner": ("tiny_captioner", "mmbench-tiny-captioner", lambda a: dict(
        seed=a.seed, time_budget_s=a.time_budget, device=_cpu_unless_named(a))),
    "tiny-diffusion": ("tiny_diffusion", "mmbench-tiny-diffusion", lambda a: dict(
        seed=a.seed, time_budget_s=a.time_budget, device=_cpu_unless_named(a), workers=max(1, a.workers))),
    "tiny-sound": ("tiny_sound", "mmbench-tiny-sound", lambda a: dict(seed=a.seed, time_budget_s=a.time_budget)),
}


def cmd_train(args: argparse.Namespace) -> int:
    import importlib

    from .registry import get_spec

    if args.name not in TRAINERS:
        _err(f"unknown trainable model {args.name!r}; available: {', '.join(TRAINERS)}")
        return 2
    module, model, from_args = TRAINERS[args.name]
    trainer = importlib.import_module(f"{__package__}.train.{module}")
    out = Path(args.out) if args.out else get_spec(model).assets_path
    extra = json.loads(args.config) if args.config else {}  # further TrainConfig fields
    try:
        cfg = trainer.TrainConfig(**from_args(args), **extra)
    except TypeError as err:  # an unknown field, or one that also has a command-line flag
        import dataclasses

        from .errors import InvalidInputError

        fields = ", ".join(f.name for f in dataclasses.fields(trainer.TrainConfig))
        raise InvalidInputError(f"Bad --config for {args.name}: {err}.",
                                hint=f"Fields: {fields}. These come from command-line flags, not --config: "
                                     f"{', '.join(sorted(from_args(args)))}.") from err
    _err(f"training {args.name} -> {out}")
    _model, summary = trainer.train(cfg, out, log=_err)
    _json_line(summary)
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    from .ui.app import launch

    launch(server_name=args.host, server_port=args.port, share=args.share)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mmbench", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    m = sub.add_parser("models", help="list the model registry")
    m.add_argument("--task", help="only this task, e.g. image-text-matching")
    m.add_argument("--json", action="store_true", help="print JSON instead of a table")

    e = sub.add_parser("eval", help="evaluate a pipeline on fresh held-out procedural data (JSON last line)",
                       description="Evaluate on freshly generated held-out data; the last stdout line is JSON with "
                                   "zero_shot_top1, t2i_recall_at_1, i2t_recall_at_1, map, binding_colour_swap, "
                                   "binding_relation_flip, ... (matching); pointing_game, best_method, deletion_auc, "
                                   "insertion_auc, sanity_correlation (explain); wer, wer_espeak, rtf, model (speech: "
                                   "one JSON line per recording first); accuracy, audio_accuracy, fusion_accuracy, "
                                   "fusion_gain, fusion_weights (video)")
    e.add_argument("task", choices=EVALS)
    e.add_argument("--model", default=MATCHING_EVAL_MODEL,
                   help="registry name (default: the offline tiny CLIP; for speech: whisper-tiny.en-ct2)")
    e.add_argument("--seed", type=int, default=None, help="held-out set variant (default: the standard held-out seeds)")
    e.add_argument("--n-zero-shot", type=int, default=1000, help="single-object images for zero-shot (default 1000)")
    e.add_argument("--n-gallery", type=int, default=1000, help="gallery size for retrieval (default 1000)")
    e.add_argument("--n-binding", type=int, default=500, help="two-object images for the binding probe (default 500)")
    e.add_argument("--device", default=None, help="cpu, cuda, mps or auto")
    x = e.add_argument_group("explain", "options of `mmbench eval explain` (one JSON line per method, then a summary)")
    x.add_argument("--n", type=int, default=500, help="held-out 2-3-object scenes (default 500)")
    x.add_argument("--methods", default=None, help="comma-separated method ids (default: every CAM method)")
    x.add_argument("--layers", default=None, help="comma-separated layer names, or 'all' (default: the model's default)")
    x.add_argument("--n-slow", type=int, default=100, help="scenes for ScoreCAM, one forward per channel (default 100)")
    x.add_argument("--n-sanity", type=int, default=100, help="scenes for the randomised-weights check (default 100)")
    x.add_argument("--steps", type=int, default=16, help="steps of the deletion/insertion curves (default 16)")
    x.add_argument("--quick", action="store_true", help="pointing game only (for layer sweeps)")
    x.add_argument("--shifts", type=int, default=None, help="sub-patch shift averaging per axis (default: the model's)")
    x.add_argument("--baseline", default=None,
                   help="neutral caption subtracted from the text target (default 'a photo'; 'none' for raw cosine)")
    sp = e.add_argument_group("speech", "options of `mmbench eval speech`")
    sp.add_argument("--beam-size", type=int, default=5, help="beam-search width (default 5; 1 = greedy)")
    vd = e.add_argument_group("video", "options of `mmbench eval video` (one JSON line per set and modality, then "
                                       "a summary: accuracy and audio_accuracy on clean clips; fusion_accuracy and "
                                       "fusion_gain over the better single modality on clips where one modality is "
                                       "ambiguous; fusion_weights)")
    vd.add_argument("--n-clips", type=int, default=500, help="standard held-out clips (default 500)")
    vd.add_argument("--n-ambiguous", type=int, default=500,
                    help="held-out clips with one modality degraded (default 500)")
    vd.add_argument("--fusion-a", type=float, default=None, help="video weight a (default: fitted at training)")
    vd.add_argument("--fusion-b", type=float, default=None, help="audio weight b (default: fitted at training)")
    cp = e.add_argument_group("captioning", "options of `mmbench eval captioning` (one JSON line per metric group, "
                                            "then a summary: attribute_match, bleu4, vqa_accuracy, model)")
    cp.add_argument("--n-images", type=int, default=500, help="held-out scenes to caption (default 500)")
    cp.add_argument("--n-questions", type=int, default=1000, help="held-out VQA questions, balanced by kind "
                                                                 "(default 1000; 0 skips VQA)")
    cp.add_argument("--n-attention", type=int, default=200, help="scenes for the per-word attention pointing game "
                                                                "(default 200)")
    cp.add_argument("--vqa-model", default="mmbench-tiny-vqa", help="VQA registry name (default mmbench-tiny-vqa)")
    cp.add_argument("--num-beams", type=int, default=1, help="beam width for captions (default 1: greedy)")
    ti = e.add_argument_group("text-to-image", "options of `mmbench eval text-to-image` (one JSON line per prompt, "
                                               "then a summary: prompt_accuracy, colour_accuracy, shape_accuracy, "
                                               "seconds_per_image, model)")
    ti.add_argument("--n-prompts", type=int, default=200, help="held-out prompts (default 200)")
    ti.add_argument("--t2i-steps", type=int, default=None, help="denoising steps (default: the model's)")
    ti.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the model's)")
    ag = e.add_argument_group("audio-generation", "options of `mmbench eval audio-generation` (one JSON line per "
                                                  "prompt, then a summary: prompt_accuracy, count_accuracy, "
                                                  "direction_accuracy, speech_ok, speech_seconds, model)")
    ag.add_argument("--n-sound-prompts", type=int, default=100, help="held-out sound prompts (default 100)")
    ag.add_argument("--n-unseen", type=int, default=40,
                    help="prompts of (sound, count, direction) combinations never seen in training (default 40)")
    ag.add_argument("--speech-model", default="espeak-ng", help="text-to-speech model for the speech check "
                                                                "(default espeak-ng; 'none' skips it)")

    f = e.add_argument_group("fusion", "options of `mmbench eval fusion`")
    f.add_argument("--representations", default=None,
                   help="per-modality representations, e.g. text=minilm,image=clip,audio=cnn (default: handcrafted)")
    f.add_argument("--multitask", action="store_true", help="auxiliary per-modality losses for every fusion strategy")
    f.add_argument("--modality-dropout", type=float, default=0.0, help="P(a training sample loses one modality)")
    f.add_argument("--no-ablation", action="store_true", help="skip the modality ablation (retraining without each modality)")

    b = sub.add_parser("bench", help="benchmarks: mmbench vs the raw library on the same model (JSON last line)",
                       description="Run benchmarks/<name>.py; extra arguments are passed to it (see --help there).")
    b.add_argument("name", choices=BENCHMARKS)
    b.add_argument("args", nargs=argparse.REMAINDER, help="passed to the benchmark (try: mmbench bench NAME --help)")

    t = sub.add_parser("train", help="train one of mmbench's own offline models")
    t.add_argument("name", choices=list(TRAINERS))
    t.add_argument("--steps", type=int, default=8000)
    t.add_argument("--batch-size", type=int, default=256)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0, help="training world seed (keep below 10000: eval uses 10001+)")
    t.add_argument("--workers", type=int, default=0, help="data-generation worker processes")
    t.add_argument("--time-budget", type=float, default=None, help="seconds; the LR schedule is shrunk to fit")
    t.add_argument("--device", default="auto")
    t.add_argument("--out", default=None, help="output folder (default: the shipped assets folder)")
    t.add_argument("--config", default=None,
                   help='JSON of further TrainConfig fields, e.g. \'{"itm_weight": 2, "model": {"vision_layers": 6}}\'')

    a = sub.add_parser("app", help="start the Gradio web app")
    a.add_argument("--host", default="127.0.0.1")
    a.add_argument("--port", type=int, default=7860)
    a.add_argument("--share", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    from .errors import MMBenchError

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "models":
            return cmd_models(args)
        if args.command == "eval":
            return cmd_eval(args)
        if args.command == "bench":
            return cmd_bench(args, args.args)
        if args.command == "train":
            return cmd_train(args)
        if args.command == "app":
            return cmd_app(args)
    except MMBenchError as err:
        _err(f"error: {err}")
        return 1
    except BrokenPipeError:  # e.g. `mmbench models | head`
        sys.stderr.close()
        return 0
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
