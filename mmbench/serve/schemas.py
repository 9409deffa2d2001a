"""Wire format of the REST endpoints: typed input fields, their decoding and their OpenAPI schema.

A request's inputs arrive as a *wire dict*: JSON values, where a binary input (image, audio, video)
is either ``bytes`` (a multipart upload) or a base64 string (a JSON body; a ``data:...;base64,``
URL works too). :func:`decode` turns a wire dict into the already validated Python objects the
endpoint functions of :mod:`mmbench.serve.tasks` take — PIL images through
:func:`mmbench.io.validate_image`, ``(sample_rate, samples)`` audio through
:func:`mmbench.io.validate_audio`, lists of strings — or raises a typed
:class:`~mmbench.errors.InvalidInputError` naming the field. Nothing here knows about HTTP.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInputError

#: Field kinds, their JSON schema, and what the endpoint function receives.
KINDS: dict[str, dict[str, Any]] = {
    "image": {"type": "string", "format": "byte", "description": "image file, base64 (JSON) or a file (multipart)"},
    "images": {"type": "array", "items": {"type": "string", "format": "byte"},
               "description": "image files, base64 (JSON) or files (multipart, repeat the field)"},
    "audio": {"type": "string", "format": "byte", "description": "audio file (WAV, FLAC, OGG, MP3), base64 or a file"},
    "video": {"type": "string", "format": "byte", "description": "video file (MP4, WebM...), base64 or a file"},
    "text": {"type": "string"},
    "texts": {"type": "array", "items": {"type": "string"},
              "description": "a list of strings (multipart: repeat the field, or one field with one per line)"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
}
BINARY_KINDS = frozenset({"image", "images", "audio", "video"})
#: Most items of one list field per request (texts: also the library's MAX_TEXTS), files of one field.
MAX_ITEMS = 1000
MAX_FILES = 256


@dataclass(frozen=True)
class Field:
    """One input of an endpoint: its name, kind (a key of :data:`KINDS`), whether it is required,
    its default and a one-line description for the OpenAPI docs."""

    name: str
    kind: str
    required: bool = False
    default: Any = None
    doc: str = ""

    def schema(self) -> dict[str, Any]:
        """The field's JSON schema (for the OpenAPI document)."""
        out = dict(KINDS[self.kind])
        if self.doc:
            out["description"] = self.doc if "description" not in out else f"{self.doc} ({out['description']})"
        if self.default is not None:
            out["default"] = self.default
        return out


def request_schema(fields: tuple[Field, ...], example: dict[str, Any] | None = None) -> dict[str, Any]:
    """OpenAPI ``requestBody`` of an endpoint with these fields: JSON and multipart/form-data."""
    props = {f.name: f.schema() for f in fields}
    required = [f.name for f in fields if f.required]
    body: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        body["required"] = required
    form_props = {name: ({"type": "string", "format": "binary"} if f.kind in ("image", "audio", "video") else
                         {"type": "array", "items": {"type": "string", "format": "binary"}} if f.kind == "images" else p)
                  for (name, p), f in zip(props.items(), fields)}
    json_media: dict[str, Any] = {"schema": body}
    if example:
        json_media["example"] = example
    return {"required": True, "content": {
        "application/json": json_media,
        "multipart/form-data": {"schema": {**body, "properties": form_props}},
    }}


def b64decode(value: Any, *, what: str) -> bytes:
    """``bytes`` from a base64 string (or a ``data:`` URL); bytes pass through. InvalidInputError otherwise."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if not isinstance(value, str):
        raise InvalidInputError(f"Field '{what}' must be a base64 string, not {_json_type(value)}.",
                                hint="Send the file's bytes base64-encoded in JSON, or upload it as multipart/form-data.")
    text = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(f"Field '{what}' is not valid base64.",
                                hint="Encode the file's bytes with base64 (e.g. base64.b64encode(data).decode()).") from None


def b64encode(data: bytes) -> str:
    """Base64 text of ``data`` (how binary results are returned)."""
    return base64.b64encode(data).decode("ascii")


def png_base64(image: Any) -> str:
    """A PIL image or ``(H, W, 3)`` uint8 array as base64 PNG."""
    from PIL import Image

    pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return b64encode(buf.getvalue())


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _scalar(field: Field, value: Any) -> Any:
    """A text/int/float/bool field from JSON (typed) or multipart (a string)."""
    kind, name = field.kind, field.name
    if kind == "text":
        if not isinstance(value, str):
            raise InvalidInputError(f"Field '{name}' must be a string, not {_json_type(value)}.")
        return value
    if isinstance(value, str) and kind == "bool":  # multipart values are strings
        value = _parse_bool(value, name)
    elif isinstance(value, str):
        try:
            value = {"int": int, "float": float}[kind](value)
        except ValueError:
            raise InvalidInputError(f"Field '{name}' must be {'an integer' if kind == 'int' else 'a number'}, "
                                    f"not {value!r}.") from None
    if kind == "bool":
        if not isinstance(value, bool):
            raise InvalidInputError(f"Field '{name}' must be true or false, not {_json_type(value)}.")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind == "int" and not float(value).is_integer()):
        raise InvalidInputError(f"Field '{name}' must be {'an integer' if kind == 'int' else 'a number'}, "
                                f"not {_json_type(value) if not isinstance(value, (int, float)) else value!r}.")
    return int(value) if kind == "int" else float(value)


def _parse_bool(value: str, name: str) -> bool:
    low = value.strip().lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise InvalidInputError(f"Field '{name}' must be true or false, not {value!r}.")


def _texts(field: Field, value: Any) -> list[str]:
    if isinstance(value, str):  # multipart: one field, one text per line
        value = [line for line in value.splitlines() if line.strip()] or [value]
    hint = f'For example "{field.name}": ["a red circle", "a blue square"].'
    if not isinstance(value, list):
        raise InvalidInputError(f"Field '{field.name}' must be a list of strings, not {_json_type(value)}.", hint=hint)
    if len(value) > MAX_ITEMS:
        raise InvalidInputError(f"Field '{field.name}' has {len(value)} items; one request takes at most {MAX_ITEMS}.",
                                hint="Split the list over several requests.")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidInputError(f"Field '{field.name}' must be a list of strings: item {i} is {_json_type(item)}.",
                                    hint=hint)
    return value


def _binary_list(field: Field, value: Any) -> list[bytes]:
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_FILES:
        raise InvalidInputError(f"Field '{field.name}' has {len(items)} files; one request takes at most {MAX_FILES}.",
                                hint="Split them over several requests (or build a photo index: `mmbench index build`).")
    return [b64decode(v, what=f"{field.name}[{i}]" if isinstance(value, list) else field.name)
            for i, v in enumerate(items)]


def decode(fields: tuple[Field, ...], wire: dict[str, Any]) -> dict[str, Any]:
    """Validated keyword arguments for an endpoint function from a wire dict.

    Unknown fields are refused (a typo would otherwise be silently ignored); missing required
    fields and values of the wrong type raise :class:`InvalidInputError` naming the field.
    Binary fields are decoded here: images to RGB PIL images, audio to ``(sample_rate, samples)``;
    videos stay bytes (the video pipeline validates and decodes them itself).
    """
    from ..io import validate_audio, validate_image, validate_images

    if not isinstance(wire, dict):
        raise InvalidInputError(f"The request body must be a JSON object, not {_json_type(wire)}.")
    known = {f.name: f for f in fields}
    unknown = sorted(set(wire) - set(known))
    if unknown:
        raise InvalidInputError(f"Unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.",
                                hint=f"This endpoint takes: {', '.join(known)}.")
    out: dict[str, Any] = {}
    for f in fields:
        value = wire.get(f.name)
        if value is None:
            if f.required:
                raise InvalidInputError(f"Missing field '{f.name}' ({f.kind}).",
                                        hint=f"This endpoint needs: {', '.join(x.name for x in fields if x.required)}.")
            continue
        if f.kind == "image":
            out[f.name] = validate_image(b64decode(value, what=f.name), what=f.name)
        elif f.kind == "images":
            out[f.name] = validate_images(_binary_list(f, value), what=f.name.rstrip("s"))
        elif f.kind == "audio":
            samples, rate = validate_audio(b64decode(value, what=f.name), target_sr=None, what=f.name)
            out[f.name] = (rate, samples)
        elif f.kind == "video":
            data = b64decode(value, what=f.name)
            if not data:
                raise InvalidInputError(f"The {f.name} is empty (0 bytes).", hint="Upload the file again.")
            out[f.name] = data
        elif f.kind == "texts":
            out[f.name] = _texts(f, value)
        else:
            out[f.name] = _scalar(f, value)
    return out


def parse_json(body: bytes) -> Any:
    """The JSON value of a request body, or :class:`InvalidInputError` saying why it is not JSON."""
    if not body:
        raise InvalidInputError("The request body is empty.", hint="Send a JSON object with the endpoint's fields.")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"The request body is not valid JSON ({exc}).",
                                hint="Send a JSON object, with Content-Type: application/json.") from None
