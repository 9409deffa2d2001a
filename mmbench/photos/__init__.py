"""``mmbench.photos``: photo-collection search — a folder of images embedded once with the
image-text matching pipeline, saved to disk, memory-mapped when opened and searched by text or by
image (:class:`PhotoIndex`). Builds are resumable and skip unreadable files with a report
(:class:`BuildReport`); photos can be added and removed afterwards.

>>> from mmbench.photos import PhotoIndex
>>> PhotoIndex.build("photos/", "photos.index", batch_size=64, progress=True)   # doctest: +SKIP
>>> PhotoIndex.open("photos.index").search_text("a red circle", k=5)            # doctest: +SKIP
"""

from .build import DEFAULT_BATCH_SIZE, BuildReport, build_index
from .collection import PhotoIndex
from .files import IMAGE_EXTENSIONS, find_images
from .service import INDEX_ENV, configured_index, configured_index_path, search_configured

__all__ = ["BuildReport", "DEFAULT_BATCH_SIZE", "IMAGE_EXTENSIONS", "INDEX_ENV", "PhotoIndex", "build_index",
           "configured_index", "configured_index_path", "find_images", "search_configured"]
