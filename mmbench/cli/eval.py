"""``mmbench eval TASK``: one subcommand per task over the :data:`EVALS` table, each with only its
own options; every task prints progress on stderr and its summary as the last JSON line on stdout."""

from __future__ import annotations

import argparse
from typing import Any, Callable, NamedTuple

from .output import err, json_line


def _model_seed_device(p: argparse.ArgumentParser, model: str, what: str, seed: bool = True) -> None:
    """The options most tasks share: the registry model (``what`` names it), the held-out seed, the device."""
    p.add_argument("--model", default=model, help=f"registry name (default: {model}, {what})")
    if seed:
        p.add_argument("--seed", type=int, default=None,
                       help="held-out set variant (default: the standard held-out seeds)")
    p.add_argument("--device", default=None, help="cpu, cuda, mps or auto")


def _note(pipe) -> None:
    if pipe is not None and pipe.notice:
        err(f"note: {pipe.notice}")


# ------------------------------------------------------------------ matching and explain
def matching_arguments(p: argparse.ArgumentParser) -> None:
    _model_seed_device(p, "mmbench-tiny-clip", "the offline tiny CLIP")
    p.add_argument("--n-zero-shot", type=int, default=1000, help="single-object images for zero-shot (default 1000)")
    p.add_argument("--n-gallery", type=int, default=1000, help="gallery size for retrieval (default 1000)")
    p.add_argument("--n-binding", type=int, default=500, help="two-object images for the binding probe (default 500)")


def eval_matching(args: argparse.Namespace) -> None:
    from ..eval.matching import evaluate_matching
    from ..loading import pipeline

    pipe = pipeline("image-text-matching", model=args.model, device=args.device, dtype=None)
    _note(pipe)
    err(f"evaluating {pipe.describe()}")
    json_line(evaluate_matching(pipe, n_zero_shot=args.n_zero_shot, n_gallery=args.n_gallery,
                                n_binding=args.n_binding, seed=args.seed, log=err))


def explain_arguments(p: argparse.ArgumentParser) -> None:
    _model_seed_device(p, "mmbench-tiny-clip", "the offline tiny CLIP")
    p.add_argument("--n", type=int, default=500, help="held-out 2-3-object scenes (default 500)")
    p.add_argument("--methods", default=None, help="comma-separated method ids (default: every CAM method)")
    p.add_argument("--layers", default=None,
                   help="comma-separated layer names, or 'all' (default: the model's default)")
    p.add_argument("--n-slow", type=int, default=100, help="scenes for ScoreCAM, one forward per channel (default 100)")
    p.add_argument("--n-sanity", type=int, default=100, help="scenes for the randomised-weights check (default 100)")
    p.add_argument("--steps", type=int, default=16, help="steps of the deletion/insertion curves (default 16)")
    p.add_argument("--quick", action="store_true", help="pointing game only (for layer sweeps)")
    p.add_argument("--shifts", type=int, default=None, help="sub-patch shift averaging per axis (default: the model's)")
    p.add_argument("--baseline", default=None,
                   help="neutral caption subtracted from the text target (default 'a photo'; 'none' for raw cosine)")


def eval_explain(args: argparse.Namespace) -> None:
    from ..eval.explain import EXPLAIN_SEED, evaluate_explain
    from ..loading import pipeline

    # explanations run in float32 on every device (ScoreCAM needs it; half precision blurs gradients)
    pipe = pipeline("image-text-matching", model=args.model, device=args.device, dtype="fp32")
    _note(pipe)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    layers = None
    if args.layers:
        from ..explain import available_layers

        layers = available_layers(pipe) if args.layers == "all" else [x.strip() for x in args.layers.split(",")]
    options = {} if args.shifts is None else {"shifts": args.shifts}
    if args.baseline is not None:
        options["baseline"] = None if args.baseline.strip().lower() == "none" else args.baseline
    err(f"explaining with {pipe.describe()}")
    json_line(evaluate_explain(pipe, n=args.n, seed=EXPLAIN_SEED if args.seed is None else args.seed,
                               methods=methods, layers=layers, n_slow=args.n_slow, n_sanity=args.n_sanity,
                               steps=args.steps, quick=args.quick, log=err, on_result=json_line, **options))


# ------------------------------------------------------------------ fusion
def fusion_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=None, help="one seed only (default: seeds 0, 1 and 2)")
    p.add_argument("--representations", default=None,
                   help="per-modality representations, e.g. text=minilm,image=clip,audio=cnn (default: handcrafted)")
    p.add_argument("--multitask", action="store_true", help="auxiliary per-modality losses for every fusion strategy")
    p.add_argument("--modality-dropout", type=float, default=0.0, help="P(a training sample loses one modality)")
    p.add_argument("--no-ablation", action="store_true",
                   help="skip the modality ablation (retraining without each modality)")


def eval_fusion(args: argparse.Namespace) -> None:
    from ..eval.fusion import evaluate_fusion
    from ..fusion.training import TrainConfig
    from ..fusion.representations import parse_assignments

    seeds = (args.seed,) if args.seed is not None else (0, 1, 2)
    reps = parse_assignments(args.representations) if args.representations else None
    config = TrainConfig(multitask=args.multitask, modality_dropout=args.modality_dropout)
    err(f"fusion lab: every strategy x seeds {list(seeds)} on the procedural sentiment data")
    ablation = {"ablation": ()} if args.no_ablation else {}
    json_line(evaluate_fusion(seeds=seeds, log=err, representations=reps, config=config, **ablation))


# ------------------------------------------------------------------ speech and video
def speech_arguments(p: argparse.ArgumentParser) -> None:
    _model_seed_device(p, "whisper-tiny.en-ct2", "offline Whisper tiny.en", seed=False)
    p.add_argument("--beam-size", type=int, default=5, help="beam-search width (default 5; 1 = greedy)")


def eval_speech(args: argparse.Namespace) -> None:
    from ..eval.speech import evaluate_speech
    from ..loading import pipeline

    pipe = pipeline("speech-recognition", model=args.model, device=args.device)
    _note(pipe)
    err(f"transcribing with {pipe.describe()}")
    json_line(evaluate_speech(pipe, beam_size=args.beam_size, log=err, on_result=json_line))


def video_arguments(p: argparse.ArgumentParser) -> None:
    _model_seed_device(p, "mmbench-tiny-video", "the offline video + audio model")
    p.add_argument("--n-clips", type=int, default=500, help="standard held-out clips (default 500)")
    p.add_argument("--n-ambiguous", type=int, default=500,
                   help="held-out clips with one modality degraded (default 500)")
    p.add_argument("--fusion-a", type=float, default=None, help="video weight a (default: fitted at training)")
    p.add_argument("--fusion-b", type=float, default=None, help="audio weight b (default: fitted at training)")


def eval_video(args: argparse.Namespace) -> None:
    from ..eval.video import EVAL_SEED, evaluate_video
    from ..loading import pipeline

    pipe = pipeline("video-classification", model=args.model, device=args.device)
    err(f"evaluating {pipe.describe()}")
    json_line(evaluate_video(pipe, n=args.n_clips, n_ambiguous=args.n_ambiguous,
                             seed=EVAL_SEED if args.seed is None else args.seed, a=args.fusion_a, b=args.fusion_b,
                             log=err, on_result=json_line))


# ------------------------------------------------------------------ captioning, text-to-image, audio generation
def captioning_arguments(p: argparse.ArgumentParser) -> None:
    _model_seed_device(p, "mmbench-tiny-captioner", "the offline captioner")
    p.add_argument("--n-images", type=int, default=500, help="held-out scenes to caption (default 500)")
    p.add_argument("--n-questions", type=int, default=1000,
                   help="held-out VQA questions, balanced by kind (default 1000; 0 skips VQA)")
    p.add_argument("--n-attention", type=int, default=200,
                   help="scenes for the per-word attention pointing game (default 200)")
    p.add_argument("--vqa-model", default="mmbench-tiny-vqa", help="VQA registry name (default mmbench-tiny-vqa)")
    p.add_argument("--num-beams", type=int, default=1, help="beam width for captions (default 1: greedy)")


def eval_captioning(args: argparse.Namespace) -> None:
    from ..eval.captioning import EVAL_SEED, evaluate_captioning
    from ..loading import pipeline

    cap = pipeline("image-to-text", model=args.model, device=args.device)
    vqa = pipeline("visual-question-answering", model=args.vqa_model, device=args.device) if args.n_questions else None
    _note(cap)
    _note(vqa)
    err(f"captioning with {cap.describe()}" + (f"; answering with {vqa.describe()}" if vqa else ""))
    json_line(evaluate_captioning(cap, vqa, n=args.n_images, n_questions=args.n_questions,
                                  n_attention=args.n_attention, seed=EVAL_SEED if args.seed is None else args.seed,
                                  decoding={"num_beams": args.num_beams}, log=err, on_result=json_line))


def text_to_image_arguments(p: argparse.ArgumentParser) -> None:
    _model_seed_device(p, "mmbench-tiny-diffusion", "the offline tiny diffusion model")
    p.add_argument("--n-prompts", type=int, default=200, help="held-out prompts (default 200)")
    p.add_argument("--t2i-steps", type=int, default=None, help="denoising steps (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the model's)")


def eval_text_to_image(args: argparse.Namespace) -> None:
    from ..eval.text_to_image import EVAL_SEED, evaluate_pipeline
    from ..loading import pipeline

    pipe = pipeline("text-to-image", model=args.model, device=args.device)
    _note(pipe)
    err(f"generating {args.n_prompts} held-out prompts with {pipe.describe()}")
    json_line(evaluate_pipeline(pipe, n=args.n_prompts, steps=args.t2i_steps, guidance=args.guidance,
                                seed=EVAL_SEED if args.seed is None else args.seed, on_result=json_line))


def audio_generation_arguments(p: argparse.ArgumentParser) -> None:
    _model_seed_device(p, "mmbench-tiny-sound", "the offline text-to-sound model")
    p.add_argument("--n-sound-prompts", type=int, default=100, help="held-out sound prompts (default 100)")
    p.add_argument("--n-unseen", type=int, default=40,
                   help="prompts of (sound, count, direction) combinations never seen in training (default 40)")
    p.add_argument("--speech-model", default="espeak-ng",
                   help="text-to-speech model for the speech check (default espeak-ng; 'none' skips it)")


def eval_audio_generation(args: argparse.Namespace) -> None:
    from ..errors import MMBenchError
    from ..eval.audio_generation import EVAL_SEED, evaluate_audio_generation
    from ..loading import pipeline

    pipe = pipeline("text-to-audio", model=args.model, device=args.device)
    speech = None
    if args.speech_model.lower() != "none":
        try:
            speech = pipeline("text-to-speech", model=args.speech_model, device=args.device)
        except MMBenchError as error:  # e.g. espeak-ng not installed: still score the sound model
            err(f"speech check skipped: {error}")
    err(f"generating {args.n_sound_prompts} held-out sound prompts with {pipe.describe()}")
    json_line(evaluate_audio_generation(pipe, n=args.n_sound_prompts, n_unseen=args.n_unseen,
                                        seed=EVAL_SEED if args.seed is None else args.seed, speech_pipe=speech,
                                        log=err, on_result=json_line))


# ------------------------------------------------------------------ drift detection
def drift_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="mmbench-tiny-clip", help="registry name of the image/text embedder "
                                                                 "(default: mmbench-tiny-clip, the offline tiny CLIP)")
    p.add_argument("--seed", type=int, default=None, help="world seed of the reference pool (default 40001)")
    p.add_argument("--quick", action="store_true", help="small pools, windows up to 200, few repetitions")
    p.add_argument("--device", default=None, help="cpu, cuda, mps or auto")


def eval_drift(args: argparse.Namespace) -> None:
    from ..eval.drift import DRIFT_SEED, evaluate_drift
    from ..loading import pipeline

    pipe = pipeline("image-text-matching", model=args.model, device=args.device)
    _note(pipe)
    err(f"drift detection on embeddings of {pipe.describe()}" + (" (quick)" if args.quick else ""))
    json_line(evaluate_drift(pipe, seed=DRIFT_SEED if args.seed is None else args.seed, quick=args.quick, log=err))


# ------------------------------------------------------------------ faces and expressions
def faces_arguments(p: argparse.ArgumentParser) -> None:
    _model_seed_device(p, "fer-mini-xception", "MTCNN + the offline mini-Xception", seed=False)


def eval_faces(args: argparse.Namespace) -> None:
    from ..eval.face_expression import evaluate_faces
    from ..loading import pipeline

    pipe = pipeline("face-expression", model=args.model, device=args.device)
    _note(pipe)
    err(f"face / no-face on skimage's lfw_subset and three photos with {pipe.describe()}")
    json_line(evaluate_faces(pipe, log=err))


class EvalTask(NamedTuple):
    """One row of :data:`EVALS`."""

    help: str  #: one line for ``mmbench eval --help``
    prints: str  #: what the JSON lines hold, for ``mmbench eval TASK --help``
    add_arguments: Callable[[argparse.ArgumentParser], None]  #: the task's own options
    run: Callable[[argparse.Namespace], None]  #: progress on stderr, the summary as the last JSON line


#: ``mmbench eval TASK`` -> its row.
EVALS: dict[str, EvalTask] = {
    "matching": EvalTask(
        "score an image-text matching model (default: the offline tiny CLIP) on a fresh held-out set",
        "zero_shot_top1, t2i_recall_at_1, i2t_recall_at_1, map, binding_colour_swap, binding_relation_flip, ...",
        matching_arguments, eval_matching),
    "fusion": EvalTask(
        "compare fusion strategies on procedural sentiment (3 seeds)",
        "one summary of every strategy x seed, with the modality ablation: best_strategy, best_unimodal, "
        "gain_over_best_unimodal, macro_f1_mean, ...",
        fusion_arguments, eval_fusion),
    "explain": EvalTask(
        "pointing game, deletion/insertion AUC, sanity check per explanation method",
        "one JSON line per method, then a summary: pointing_game, best_method, deletion_auc, insertion_auc, "
        "sanity_correlation",
        explain_arguments, eval_explain),
    "speech": EvalTask(
        "WER of offline Whisper on LibriVox and espeak-ng sentences, real-time factor",
        "one JSON line per recording, then a summary: wer, wer_espeak, rtf, model",
        speech_arguments, eval_speech),
    "video": EvalTask(
        "tiny video model, audio model and their fusion on held-out clips",
        "one JSON line per set and modality, then a summary: accuracy and audio_accuracy on clean clips; "
        "fusion_accuracy and fusion_gain over the better single modality on clips where one modality is "
        "ambiguous; fusion_weights",
        video_arguments, eval_video),
    "captioning": EvalTask(
        "offline captioner + VQA on held-out scenes (attribute match, BLEU-4)",
        "one JSON line per metric group, then a summary: attribute_match, bleu4, vqa_accuracy, model",
        captioning_arguments, eval_captioning),
    "text-to-image": EvalTask(
        "offline tiny diffusion on held-out prompts (prompt accuracy)",
        "one JSON line per prompt, then a summary: prompt_accuracy, colour_accuracy, shape_accuracy, "
        "seconds_per_image, model",
        text_to_image_arguments, eval_text_to_image),
    "audio-generation": EvalTask(
        "tiny text-to-sound model on held-out prompts (count and pitch direction) + espeak-ng speech check",
        "one JSON line per prompt, then a summary: prompt_accuracy, count_accuracy, direction_accuracy, "
        "speech_ok, speech_seconds, model",
        audio_generation_arguments, eval_audio_generation),
    "drift": EvalTask(
        "drift detectors (MMD, KS+PCA, classifier test, BBSD) on controlled shifts of the procedural worlds",
        "false_alarm_rate, power_at_200, detection_delay under the monitor's alarm_rule (ks on 64 components, "
        "p < 0.01), the same at alpha 0.05 (*_at_alpha_05), false_alarm_by_detector, power at 0.05 per "
        "modality/shift/detector/window size, zero_shot_accuracy per image shift, alibi_detect (its KS and MMD "
        "beside mmbench's, or why not), repetitions",
        drift_arguments, eval_drift),
    "faces": EvalTask(
        "face detection + expression on skimage's lfw_subset (face / no-face) and three photos",
        "lfw_accuracy_onet, lfw_accuracy_detector, lfw_accuracy, photos (faces and expressions of astronaut, "
        "chelsea, coffee), astronaut_ok, seconds_per_photo, model",
        faces_arguments, eval_faces),
}


def add_parser(commands: Any) -> None:
    """Add ``eval`` to the ``commands`` subparsers, with one subcommand per row of :data:`EVALS`."""
    e = commands.add_parser("eval", help="evaluate a pipeline on fresh held-out procedural data (JSON last line)",
                            description="Evaluate on freshly generated held-out data; progress goes to stderr and "
                                        "the last stdout line is one JSON object. `mmbench eval TASK --help` lists "
                                        "a task's options and what it prints.")
    tasks = e.add_subparsers(dest="task", required=True, metavar="TASK")
    for name, task in EVALS.items():
        p = tasks.add_parser(name, help=task.help, description=f"mmbench eval {name}: {task.help}. "
                                                               f"JSON on stdout: {task.prints}")
        task.add_arguments(p)
        p.set_defaults(handler=task.run)
