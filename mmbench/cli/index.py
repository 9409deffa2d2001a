"""``mmbench index build|search|add|remove|info``: photo-collection search (:mod:`mmbench.photos`).

Progress goes to stderr (a progress bar while a build embeds); the result is one JSON line on stdout.
"""

from __future__ import annotations

import argparse
from typing import Any

from .output import err, json_line


def cmd_build(args: argparse.Namespace) -> None:
    """Embed a folder of images into an index (resumes an interrupted build at the same --out)."""
    from ..photos import PhotoIndex

    report = PhotoIndex.build(args.folder, args.out, model=args.model, batch_size=args.batch_size,
                              progress=not args.quiet, overwrite=args.overwrite)
    err(f"indexed {report.indexed} of {report.files_found} files ({len(report.skipped)} skipped, "
        f"{report.resumed_batches} batches reused) in {report.seconds:.1f} s: {report.files_per_second:.1f} "
        f"files/s -> {report.index}")
    for item in report.skipped[:20]:
        err(f"  skipped {item['path']}: {item['reason']}")
    json_line(report.as_dict())


def cmd_search(args: argparse.Namespace) -> None:
    """Text search (or image search with --image)."""
    from ..photos import PhotoIndex

    index = PhotoIndex.open(args.index)
    if args.image:
        results = index.search_image(args.query, args.k)
    else:
        results = index.search_text(args.query, args.k)
    for hit in results:
        err(f"{hit['rank']:>3}  {hit['score']:.4f}  {hit['path']}")
    json_line({"query": args.query, "k": args.k, "index": str(index.path), "model": index.model,
               "search": index.info()["search"], "results": results})


def cmd_add(args: argparse.Namespace) -> None:
    from ..photos import PhotoIndex

    index = PhotoIndex.open(args.index)
    report = index.add(args.paths, batch_size=args.batch_size)
    err(f"added {len(report['added'])}, skipped {len(report['skipped'])}, "
        f"already indexed {len(report['already_indexed'])}; {len(index)} photos")
    json_line({**report, "photos": len(index)})


def cmd_remove(args: argparse.Namespace) -> None:
    from ..photos import PhotoIndex

    index = PhotoIndex.open(args.index)
    report = index.remove(args.paths)
    err(f"removed {len(report['removed'])} (not in the index: {len(report['not_found'])}); {len(index)} photos")
    json_line({**report, "photos": len(index)})


def cmd_info(args: argparse.Namespace) -> None:
    from ..photos import PhotoIndex

    json_line(PhotoIndex.open(args.index).info())


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def add_parser(commands: Any) -> None:
    """Add ``index`` and its subcommands to the ``commands`` subparsers."""
    from ..photos import DEFAULT_BATCH_SIZE

    p = commands.add_parser("index", help="photo-collection search: build, search, add to and remove from an index",
                            description="Embed a folder of photos once, then search it by text. The index is a "
                                        "folder on disk, memory-mapped when opened (exact search for small "
                                        "collections, IVF-PQ + exact re-ranking for large ones).")
    sub = p.add_subparsers(dest="index_command", required=True, metavar="COMMAND")

    b = sub.add_parser("build", help="embed a folder of images (recursively) into an index; resumable")
    b.add_argument("folder", help="folder of images (jpg, png, webp, bmp, gif, tiff), searched recursively")
    b.add_argument("--out", help="index folder to write (default: FOLDER/.mmbench-index)")
    b.add_argument("--model", help="matching model (default: the online CLIP, else the offline mmbench-tiny-clip)")
    b.add_argument("--batch-size", type=_positive, default=DEFAULT_BATCH_SIZE, help="images per batch")
    b.add_argument("--overwrite", action="store_true", help="replace a finished index at --out")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(handler=cmd_build)

    s = sub.add_parser("search", help="text search in an index (JSON results)")
    s.add_argument("index", help="index folder (the --out of build, or the photo folder for the default)")
    s.add_argument("query", help='what to look for, e.g. "a red circle"; an image path with --image')
    s.add_argument("-k", type=_positive, default=10, help="number of results")
    s.add_argument("--image", action="store_true", help="QUERY is an image file: find similar photos")
    s.set_defaults(handler=cmd_search)

    a = sub.add_parser("add", help="embed and add photos (files or folders) to an index")
    a.add_argument("index")
    a.add_argument("paths", nargs="+")
    a.add_argument("--batch-size", type=_positive, default=DEFAULT_BATCH_SIZE)
    a.set_defaults(handler=cmd_add)

    r = sub.add_parser("remove", help="remove photos from an index by path (never returned again)")
    r.add_argument("index")
    r.add_argument("paths", nargs="+")
    r.set_defaults(handler=cmd_remove)

    i = sub.add_parser("info", help="what an index holds (JSON)")
    i.add_argument("index")
    i.set_defaults(handler=cmd_info)
