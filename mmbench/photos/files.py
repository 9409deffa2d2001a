"""Finding the images of a photo folder and reading them through :func:`mmbench.io.validate_image`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from ..errors import ImageError, InvalidInputError

#: File name endings taken as images (case-insensitive).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def find_images(folder: str | os.PathLike, *, exclude: Iterable[Path] = ()) -> tuple[Path, list[str]]:
    """``(root, relative paths)`` of the image files under ``folder``, recursively, sorted (so two
    scans of the same folder give the same order). Hidden files and folders (``.name``), and the
    folders in ``exclude`` (an index written inside the photo folder), are skipped; symbolic links
    to folders are not followed."""
    root = Path(folder).expanduser()
    if not root.exists():
        raise InvalidInputError(f"The photo folder {str(root)!r} does not exist.", hint="Check the path and spelling.")
    if not root.is_dir():
        raise InvalidInputError(f"{str(root)!r} is a file, not a folder of photos.",
                                hint="Pass the folder that holds the images (it is searched recursively).")
    root = root.resolve()
    skip = {Path(p).resolve() for p in exclude}
    found: list[str] = []
    for current, dirs, files in os.walk(root, onerror=None):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and here / d not in skip)
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS):
                found.append((here / name).relative_to(root).as_posix())
    if not found:
        raise InvalidInputError(f"No image files were found in {str(root)!r}.",
                                hint=f"Images are found by their ending ({', '.join(IMAGE_EXTENSIONS)}), "
                                     "in the folder and its sub-folders.")
    return root, found


def read_images(paths: list[Path]) -> tuple[list[Any], list[int], list[dict]]:
    """Decode ``paths`` with :func:`mmbench.io.validate_image`: ``(images, indices of the readable
    paths, [{"path", "reason"}] of the others)``. A damaged, empty or vanished file is reported,
    not raised."""
    from ..io import validate_image

    images, ok, skipped = [], [], []
    for i, path in enumerate(paths):
        try:
            images.append(validate_image(path, what="photo"))
            ok.append(i)
        except ImageError as err:
            skipped.append({"path": str(path), "reason": str(err)})
        except OSError as err:  # e.g. permission denied while reading
            skipped.append({"path": str(path), "reason": f"The photo cannot be read ({err.__class__.__name__})."})
    return images, ok, skipped
