"""The two languages of the app: the message catalogue (mmbench/i18n/) is complete, library errors and
status lines come out in the request's language, and no English UI string is left in Chinese.

The last check walks the built app's config (what the browser renders: every component's label, info,
placeholder, Markdown/HTML/button text, choices, tab and accordion titles, table headers, example
captions) and lists every string that is English text rather than a catalogue key.
"""

from __future__ import annotations

import re
import types

import pytest

from mmbench import i18n
from mmbench.errors import ImageError, MMBenchError


# -- the catalogue ------------------------------------------------------------------------------
def test_every_message_has_both_languages_and_the_same_fields():
    problems = []
    for key, texts in i18n.catalogue().items():
        if set(texts) != set(i18n.LANGS) or not all(isinstance(t, str) and t.strip() for t in texts.values()):
            problems.append(f"{key}: languages {sorted(texts)}")
            continue
        if i18n.fields_of(texts["en"]) != i18n.fields_of(texts["zh"]):
            problems.append(f"{key}: fields {i18n.fields_of(texts['en'])} vs {i18n.fields_of(texts['zh'])}")
        if texts["zh"] == texts["en"] and re.search(r"[A-Za-z]{3,}", texts["en"]) and not _neutral(texts["en"]):
            problems.append(f"{key}: the Chinese text is the English one")
    assert not problems, "\n".join(problems)


def test_english_templates_can_be_matched_back():
    """A message is translated by matching its English against the templates: two fields in a row
    (``{hi}{extra}``) could not be told apart."""
    adjacent = [key for key, texts in i18n.catalogue().items()
                if re.search(r"\}\{", re.sub(r"\{\{|\}\}", "", texts["en"]))]
    assert not adjacent, adjacent


def _sample(node):
    """The text of a string literal or f-string, each ``{field}`` replaced by a made-up value."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else f"X{i}y" for i, v in enumerate(node.values))
    return None


def test_every_message_a_handler_raises_is_in_the_catalogue():
    """``user_error("...")``, ``user_errors("doing x")``, ``gr.Warning`` and ``number_option``'s
    messages in mmbench/ui/ are English text that the catalogue must translate."""
    import ast
    from pathlib import Path

    missing = []
    for path in sorted((Path(i18n.__file__).parent.parent / "ui").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", "")
            texts = []
            if name in ("user_error", "user_errors", "Warning", "Info") and node.args:
                texts.append(_sample(node.args[0]))
            if name == "number_option":
                texts += [re.sub(r"\{[^{}]*\}", "Z9", _sample(kw.value) or "") for kw in node.keywords
                          if kw.arg in ("not_a_number", "out_of_range")]
            for text in texts:
                if text and i18n.translate_message(text, "zh") == text:
                    missing.append(f"{path.name}:{node.lineno} {text!r}")
    assert not missing, "\n".join(missing)


def test_every_namespace_is_a_module_with_messages():
    assert {"app", "common", "errors", "matching"} <= set(i18n.namespaces())
    assert len(i18n.catalogue()) > 200


def test_tr_formats_falls_back_and_refuses_unknown_keys():
    assert i18n.tr("common.unexpected_error", "en", action="x") == "Something went wrong while x (details in the server log)."
    assert i18n.tr("common.unexpected_error", "zh-CN", action="加载模型") == "加载模型时出了问题（详情见服务器日志）。"
    assert i18n.tr("common.stopped", "fr") == "Stopped."  # a language the catalogue lacks: English
    with pytest.raises(KeyError):
        i18n.tr("common.no-such-key", "zh")


@pytest.mark.parametrize(("tag", "lang"), [("zh", "zh"), ("zh-CN", "zh"), ("zh_TW", "zh"), ("ZH-Hans", "zh"),
                                           ("en-US", "en"), ("fr", "en"), ("", "en"), (None, "en")])
def test_normalise_lang(tag, lang):
    assert i18n.normalise_lang(tag) == lang


@pytest.mark.parametrize(("header", "lang"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9,zh-CN;q=0.8", "en"), ("fr-FR,zh;q=0.5", "zh"),
    ("en;q=0.3, zh-TW;q=0.7", "zh"), ("de", "en"), ("", "en"), (None, "en"), ("zh;q=abc", "en")])
def test_language_from_accept_language(header, lang):
    assert i18n.lang_from_accept_language(header) == lang


# -- library errors -----------------------------------------------------------------------------
def test_a_real_validation_error_is_translated_and_english_is_unchanged():
    from mmbench.io import validate_image

    with pytest.raises(ImageError) as info:
        validate_image(b"hello, I am not an image" * 4)
    err = info.value
    assert i18n.translate_error(err, "en") == str(err)
    zh = i18n.translate_error(err, "zh")
    assert zh != str(err) and re.search(r"[\u4e00-\u9fff]", zh), zh
    assert not re.search(r"[A-Za-z]{4,}", zh.replace("PNG", "").replace("JPEG", "").replace("WebP", "")
                         .replace("GIF", "").replace("BMP", "").replace("TIFF", "")), zh


def test_an_error_with_a_code_is_rendered_from_the_catalogue():
    err = MMBenchError("Unknown model 'x'.", code="unknown_model", params={"name": "x"})
    assert str(err) == "Unknown model 'x'." and err.code == "unknown_model"
    assert i18n.translate_error(err, "zh") == "未知模型 'x'。"


def test_templates_fill_fields_and_translate_known_nouns():
    assert i18n.translate_message("Too many labels: 60; the limit is 50.", "zh") == "标签太多：60 个，上限是 50 个。"
    assert i18n.translate_message("No query was given.", "zh") == "没有提供查询。"
    assert i18n.translate_message("An English sentence nobody catalogued.", "zh") == "An English sentence nobody catalogued."
    assert i18n.translate_message("Too many labels: 60; the limit is 50.", "en") == "Too many labels: 60; the limit is 50."


def _png(size=(16, 16)) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _wav(seconds=1.0, rate=16000) -> bytes:
    import io

    import numpy as np
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, 0.3 * np.sin(np.linspace(0, 440 * seconds, int(seconds * rate))), rate, format="WAV")
    return buffer.getvalue()


def _raise_image_too_large(monkeypatch):
    import mmbench.io.image as image_io
    from mmbench.io import validate_image

    monkeypatch.setattr(image_io, "MAX_IMAGE_PIXELS", 100)
    validate_image(_png((20, 20)))


def _raise_unknown_model(monkeypatch):
    from mmbench.registry import get_spec

    get_spec("no-such-model", "image-text-matching")


def _raise_missing_checkpoint(monkeypatch):
    import dataclasses

    from mmbench.backends import get_loader
    from mmbench.registry import get_spec

    spec = dataclasses.replace(get_spec("mmbench-tiny-clip"), source="assets:models/not-here-1234")
    get_loader(spec.backend)(spec, "cpu", None)


def _raise_unknown_task(monkeypatch):
    import mmbench

    mmbench.pipeline("no-such-task-42")


def _raise_online_unavailable(monkeypatch):
    from mmbench.backends._hub import unavailable
    from mmbench.registry import list_models

    spec = next(m for m in list_models() if m.tier == "online")
    raise unavailable(spec, f"the transformers CLIP checkpoint '{spec.source}'",
                      "it is not in the local Hugging Face cache and offline mode is on (HF_HUB_OFFLINE / MMBENCH_OFFLINE)")


def _call(name, *args, **kwargs):
    def run(monkeypatch):
        import mmbench.io as mio

        getattr(mio, name)(*args, **kwargs)
    return run


_REAL_ERRORS = {
    "image corrupt": _call("validate_image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40),
    "image truncated": lambda mp: _call("validate_image", _png((64, 64))[:-60])(mp),
    "image empty": _call("validate_image", b""),
    "image too small": lambda mp: _call("validate_image", _png((1, 1)))(mp),
    "image too large": _raise_image_too_large,
    "image unsupported type": _call("validate_image", 3.5),
    "images too many": lambda mp: _call("validate_images", [_png()] * 3, max_items=2)(mp),
    "text empty": _call("validate_text", "   ", what="query"),
    "text too long": _call("validate_text", "a" * 120, max_chars=100),
    "texts empty list": _call("validate_texts", [], what="label"),
    "audio corrupt": _call("validate_audio", b"RIFF" + b"\x07" * 300),
    "audio empty": _call("validate_audio", b""),
    "audio silent": lambda mp: _call("validate_audio", (16000, __import__("numpy").zeros(16000, "float32")))(mp),
    "audio too long": lambda mp: _call("validate_audio", _wav(3.0), max_seconds=2.0)(mp),
    "audio too short": lambda mp: _call("validate_audio", _wav(0.05), min_seconds=0.5)(mp),
    "audio odd rate": lambda mp: _call("validate_audio", (500, __import__("numpy").ones(800, "float32") * 0.1))(mp),
    "video corrupt": _call("validate_video", b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 500),
    "video empty": _call("validate_video", b""),
    "video is audio": lambda mp: _call("validate_video", _wav(1.0))(mp),
    "unknown model": _raise_unknown_model,
    "missing checkpoint": _raise_missing_checkpoint,
    "unknown task": _raise_unknown_task,
    "online model unavailable": _raise_online_unavailable,
}

#: Names, formats, commands and units that stay as they are in Chinese.
_KEPT = re.compile(r"'[^']*'|`[^`]*`|\([^()]*[=/_][^()]*\)|pip install \S+|git checkout -- assets|HF_HUB_OFFLINE=1|Hugging Face|"
                   r"PNG|JPEG|WebP|GIF|BMP|TIFF|WAV|FLAC|MP3|MP4|H\.264|WebM|MOV|AVI|FFmpeg|Hub|numpy|"
                   r"transformers \w+|\b[a-z]+(?:-[a-z0-9]+)+\b|"  # a model family, task and model names
                   r"[\w./-]+\.(?:py|mp4|png|wav|safetensors|json)|/\S+|\b(?:ms|min|s|h|Hz|dBFS|x)\b")


@pytest.mark.parametrize("case", sorted(_REAL_ERRORS))
def test_real_library_errors_read_in_chinese_and_keep_their_numbers(case, monkeypatch):
    """Each input check and model-loading error users meet most, raised for real: in Chinese no English
    sentence is left (at most a name, a format or a command) and every number of the English survives;
    English is exactly ``str(err)``."""
    with pytest.raises(MMBenchError) as info:
        _REAL_ERRORS[case](monkeypatch)
    err = info.value
    english = str(err)
    assert i18n.translate_error(err, "en") == english
    zh = i18n.translate_error(err, "zh")
    assert re.search(r"[\u4e00-\u9fff]", zh), f"{case}: {english!r} -> {zh!r}"
    leftover = _KEPT.sub(" ", zh)
    assert not re.search(r"[A-Za-z]{3,}[ ,]+[A-Za-z]{2,}", leftover), f"{case}: English left in {zh!r} (from {english!r})"
    assert sorted(re.findall(r"\d+(?:\.\d+)?", english)) == sorted(re.findall(r"\d+(?:\.\d+)?", zh)), (english, zh)


def test_the_offline_fallback_notice_reads_in_chinese():
    from mmbench.backends._hub import unavailable
    from mmbench.registry import default_spec, list_models

    spec = next(m for m in list_models() if m.tier == "online")
    err = unavailable(spec, f"the transformers CLIP checkpoint '{spec.source}'",
                      "it is not in the local Hugging Face cache and the hub (https://huggingface.co) cannot be reached")
    offline = default_spec(spec.task, "offline")
    notice = (f"Could not load the online model '{spec.name}' ({str(err.message).rstrip('.')}); "
              f"using the offline model '{offline.name}' instead.")
    zh = i18n.translate_message(notice, "zh")
    assert zh.startswith("无法加载在线模型") and "改用离线模型" in zh and "检查点" in zh and "无法连接" in zh, zh
    assert not re.search(r"[A-Za-z]{3,} [A-Za-z]{2,} [A-Za-z]{2,}", _KEPT.sub(" ", zh)), zh


def test_every_registry_row_has_chinese_tier_status_and_good_for():
    from mmbench.i18n.models import good_for_key
    from mmbench.registry import list_models

    missing = [f"models.{key}" for spec in list_models()
               for key in (good_for_key(spec.name), f"tier.{spec.tier}", f"status.{spec.status}")
               if not i18n.has(f"models.{key}")]
    assert not missing, "add these to mmbench/i18n/models.py:\n" + "\n".join(sorted(set(missing)))
    stale = [key for key in i18n.catalogue() if key.startswith("models.good_for_")
             and key not in {f"models.{good_for_key(s.name)}" for s in list_models()}]
    assert not stale, stale  # a renamed or removed row
    for spec in list_models():  # the English is the registry's, word for word
        assert i18n.tr(f"models.{good_for_key(spec.name)}", "en") == spec.good_for, spec.name


def test_the_models_table_speaks_the_request_language(monkeypatch):
    from mmbench.registry import list_models
    from mmbench.ui import app, locale

    _, english = app.models_table()
    assert {row[2] for row in english} == {"online", "offline"}
    assert sorted(row[7] for row in english) == sorted(s.good_for for s in list_models())
    monkeypatch.setattr(locale, "lang", lambda: "zh")
    headers, rows = app.models_table()
    assert headers[7] == i18n.tr("app.col_good_for", "zh")
    assert [row[0] for row in rows] == [row[0] for row in english]  # same rows, same order
    assert {row[2] for row in rows} == {"在线", "离线"} and {row[3] for row in rows} <= {"可用", "计划中"}
    for row in rows:
        assert re.search(r"[\u4e00-\u9fff]", row[7]), row
        leftover = re.sub(r"'[^']*'|\([^()]*\)", " ", row[7])
        assert not re.search(r"\b[a-z]{3,} [a-z]{3,} [a-z]{3,}\b", leftover), row[7]  # names only, no sentences


# -- the web app's side ---------------------------------------------------------------------------
def _request(query: dict | None = None, accept: str | None = None):
    return types.SimpleNamespace(query_params=query or {}, headers={"accept-language": accept} if accept else {})


def test_the_request_language_is_its_query_then_its_header():
    from mmbench.ui.locale import request_lang

    assert request_lang(None) == "en"
    assert request_lang(_request(accept="zh-CN,zh;q=0.9")) == "zh"
    assert request_lang(_request({"lang": "en"}, accept="zh-CN")) == "en"  # the switch wins over the browser
    assert request_lang(_request({"lang": "zh"}, accept="en-US")) == "zh"


def test_user_errors_speak_the_request_language(monkeypatch):
    import gradio as gr
    from gradio.context import LocalContext

    from mmbench.ui.common import SessionCancels, user_errors

    token = LocalContext.request.set(_request({"lang": "zh"}))
    try:
        with pytest.raises(gr.Error) as info, user_errors("loading the model"):
            raise ImageError("The image is empty (0 bytes).", hint="Upload the image again.")
        assert info.value.message == "这个图像是空的（0 字节）。请重新上传图像。"
        with pytest.raises(gr.Error) as info, user_errors("loading the model"):
            raise KeyError("internal")
        assert info.value.message == "加载模型时出了问题（详情见服务器日志）。"
        assert SessionCancels().stop(None) == "没有正在运行的任务。"
    finally:
        LocalContext.request.reset(token)
    assert SessionCancels().stop(None) == "Nothing to stop."  # outside a request: English


# -- no English left in Chinese -------------------------------------------------------------------
#: Words that are the same in both languages: names of models, formats, libraries, units and codes.
NEUTRAL_WORDS = {
    "mmbench", "clip", "openclip", "json", "png", "jpeg", "gif", "webp", "bmp", "tiff", "wav", "flac", "mp3", "mp4",
    "webm", "onnx", "int8", "fp32", "fp16", "bf16", "float16", "bfloat16", "torchao", "cam", "grad", "gradcam",
    "hub", "hugging", "face", "whisper", "espeak", "piper", "blip", "git", "vit", "lime", "shap", "rise", "mmd",
    "bbsd", "pca", "vqa", "api", "url", "fps", "hz", "khz", "mb", "gb", "ms", "cpu", "gpu", "cuda", "logit",
    "logits", "top", "macro", "f1", "auc", "roc", "cls", "unk", "ffmpeg", "scikit", "skimage", "pypi", "offline",
    "online", "mosi", "mvsa", "mfcc", "stft", "htdemucs", "musicgen", "audioldm", "bark", "sd", "turbo", "ddim",
    "dpm", "unet", "vae", "lora", "ctranslate2", "faster", "minilm", "efficientnet", "lite", "mtcnn", "fer",
    "xception", "mini", "english", "token", "tokens", "top-p", "ok", "hirescam", "layercam",
}


def _neutral(text: str) -> bool:
    """Whether ``text`` has no English prose: only names, codes, numbers, symbols and neutral words."""
    text = re.sub(r"`[^`]*`", " ", text)  # code
    text = re.sub(r"[\w.]+\(\)", " ", text)  # a function's name
    text = re.sub(r"<[^>]+>", " ", text)  # tags
    text = re.sub(r"https?://\S+", " ", text)
    words = re.findall(r"[A-Za-z][A-Za-z0-9_.'-]*", text)
    prose = [w for w in words if not re.search(r"[0-9_\-.]", w) and w.lower() not in NEUTRAL_WORDS and len(w) >= 3
             and not w.isupper()]
    return not prose


MARKER = re.compile(r'__i18n__\{"__type__": "translation_metadata", "key": "([^"]+)"\}')


def _untranslated(value: object, where: str, out: list[str]) -> None:
    if not isinstance(value, str) or not value.strip():
        return
    markers = MARKER.findall(value)
    if len(markers) > 1:
        out.append(f"{where}: {len(markers)} keys in one string (the browser translates only the first)")
    for key in markers:
        if not i18n.has(key):
            out.append(f"{where}: key {key!r} is not in the catalogue")
    rest = MARKER.sub(" ", value)
    if not _neutral(rest):
        out.append(f"{where}: {rest.strip()[:120]!r}")


def untranslated_strings(config: dict) -> list[str]:
    """Every English UI string of a Blocks config (what the page shows in Chinese), as ``"<where>: <text>"``."""
    out: list[str] = []
    for comp in config["components"]:
        props, kind = comp.get("props", {}), comp["type"]
        where = f"{kind} #{props.get('elem_id') or comp['id']}"
        for name in ("label", "info", "placeholder", "description", "title"):
            if name == "placeholder" and props.get("elem_id") in MODEL_INPUT_PLACEHOLDERS:
                continue  # an example input for an English-only model
            _untranslated(props.get(name), f"{where} {name}", out)
        if kind in ("markdown", "html", "button", "downloadbutton"):
            _untranslated(props.get("value"), f"{where} value", out)
        if kind in ("radio", "dropdown", "checkboxgroup") and props.get("elem_id") not in MODEL_VOCABULARY:
            for choice in props.get("choices") or []:
                shown = choice[0] if isinstance(choice, (list, tuple)) else choice
                _untranslated(shown, f"{where} choice", out)
        if kind == "dataframe":
            for header in (props.get("value") or {}).get("headers") or []:
                if i18n.translate_message(str(header), "zh") == str(header):
                    _untranslated(str(header), f"{where} header", out)
        if kind == "dataset" and props.get("elem_id") not in MODEL_VOCABULARY:
            for label in props.get("sample_labels") or []:  # translated on load (app.localise_on_load)
                if i18n.translate_message(str(label), "zh") == str(label):
                    _untranslated(label, f"{where} example caption", out)
    return out


#: Text inputs whose placeholder is an example input for a model that reads English only (the tiny
#: models were trained on English captions): translating it would make a worse example.
MODEL_INPUT_PLACEHOLDERS = {"matching-texts", "matching-labels", "matching-query", "matching-explain-target",
                            "captioning-prompt", "vqa-question", "t2i-prompt", "t2i-negative"}
#: Components whose choices or example captions are the model's own words: ImageNet class names,
#: the transcripts of the speech examples. Model outputs stay as the model writes them.
MODEL_VOCABULARY = {"explain-class", "speech-examples"}


@pytest.fixture(scope="module")
def app_config():
    from mmbench.ui.app import build_app

    return build_app().get_config_file()


def test_no_english_ui_string_is_left_in_chinese(app_config):
    left = untranslated_strings(app_config)
    assert not left, f"{len(left)} UI strings are not in the catalogue:\n" + "\n".join(left)


def test_the_app_serves_the_catalogue_to_the_browser(app_config):
    translations = app_config["i18n_translations"]
    assert set(translations) == {"en", "zh"}
    assert translations["zh"]["matching.title"] == "图文匹配"
    assert translations["en"]["matching.title"] == "Image–text matching"
