"""`styleswap stylize --ray ADDRESS`: a batch spread over a Ray cluster's actors, each output written as it arrives,
outputs already written skipped so an interrupted run continues where it stopped."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from tqdm import tqdm

from styleswap.engine.errors import StyleSwapError
from styleswap.engine.images import Picture, load_image
from styleswap.engine.stylize import Options, Result


def stylize_on_cluster(args: argparse.Namespace, options: Options, contents: list[Path], targets: list[Path], save: Callable[[Picture, Path], None]) -> int:
    if getattr(args, "temporal", False):
        raise StyleSwapError("--temporal with --ray is not available yet")
    if args.daemon:
        raise StyleSwapError("--ray and --daemon both run the work elsewhere: choose one")
    from styleswap.cluster.connect import connect

    connect(args.ray)  # before importing the pool, which needs Ray installed
    from styleswap.cluster.pool import ActorPool

    todo = [(content, target) for content, target in zip(contents, targets) if not target.exists()]
    if len(todo) < len(contents) and not args.quiet:
        print(f"styleswap: {len(contents) - len(todo)} of {len(contents)} outputs already written; stylising the other {len(todo)}", file=sys.stderr)
    summaries: list[dict] = []
    actors: list[dict] = []
    if todo:
        pool = ActorPool(args.device, args.weights, args.precision)
        try:
            actors = pool.describe()
            if not args.quiet:
                print(f"styleswap: {len(actors)} Ray actors: " + ", ".join(f"{a['device']} {a['precision']} x{a['threads']}" for a in actors), file=sys.stderr)
            style = pool.put_style(load_image(args.style))
            with tqdm(total=len(contents), initial=len(contents) - len(todo), unit="frame", desc="frames", disable=args.quiet) as bar:

                def done(item: tuple[Path, Path], result: Result) -> None:
                    content, target = item
                    save(result.picture, target)
                    bar.update(1)
                    summaries.append({"content": str(content), "style": args.style, "output": str(target), **result.summary()})

                def failed(item: tuple[Path, Path], exc: StyleSwapError) -> None:
                    content, target = item
                    message = str(exc) if str(exc).startswith(str(content)) else f"{content}: {exc}"
                    bar.write(f"styleswap: error: {message}", file=sys.stderr)
                    summaries.append({"content": str(content), "style": args.style, "output": str(target), "error": message})

                pool.map((((c, t), partial(load_image, c)) for c, t in todo), style, options, done, failed)
        finally:
            pool.close()
    if args.json:
        print(json.dumps({"options": vars(options), "actors": actors, "skipped": len(contents) - len(todo), "results": summaries}, indent=2))
    return 1 if any("error" in s for s in summaries) else 0
