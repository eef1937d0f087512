"""Apply each of the nine one-line breaks that once went unnoticed and show that a test now fails on it.

    python scripts/known_breaks.py              # all nine (GIMP and Blender ones take minutes each)
    python scripts/known_breaks.py --fast       # the engine, protocol and queue ones only
    python scripts/known_breaks.py fold ties    # by name

Each break is written over its module, the tests that should catch it run (`-x`, file order), and the module is
put back, whatever happens. A break counts as caught only when pytest reports failed tests (exit status 1), not
when it could not collect or run them. Like scripts/mutate.sh it changes files on disk: run it on a checkout with
the modules committed and no other test run using it. Needs the same environment as the tests
(STYLESWAP_MODELS, STYLESWAP_DATA, and GIMP or bpy for the host ones).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the packages as this tree holds them, ahead of any installed copy (an editable install may point at another
# checkout): a break written here must be the code the tests import, the plug-ins' included
SOURCES = [ROOT / "backend", ROOT / "shared", ROOT / "plugin_gimp", ROOT / "plugin_blender"]


@dataclass(frozen=True)
class Break:
    name: str
    path: str
    line: str  # the code as it is: must occur exactly once
    broken: str
    tests: tuple[str, ...]
    host: bool = False  # runs GIMP or Blender


BREAKS = (
    Break(
        "fold",
        "backend/styleswap/engine/swap.py",
        "pixels.index_select(0, (origin[r0:r1] + dy",
        "pixels.index_select(0, (origin[0 : r1 - r0] + dy",  # every block reuses the first block's rows
        ("tests/engine/test_swap.py::test_patch_fold_in_several_blocks_equals_dense_reference",),
    ),
    Break(
        "ties",
        "backend/styleswap/engine/swap.py",
        "better = score > best_score",
        "better = score >= best_score",
        ("tests/engine/test_swap.py::test_exact_ties_go_to_the_first_style_patch_as_in_the_dense_reference",),
    ),
    Break(
        "replay-expiry",
        "shared/styleswap_protocol/replay.py",
        "len(self._seen) > self.capacity or next(iter(self._seen.values())) < now - self.window",
        "len(self._seen) > self.capacity",  # ids no longer forgotten by time
        ("tests/protocol/test_protocol_replay.py",),
    ),
    Break(
        "queue-prune",
        "backend/styleswap/daemon/fair_queue.py",
        "self._served = {c: turn for c, turn in self._served.items() if c in self._lanes}",
        "self._served = {}",  # pruning forgets the waiting clients' turns too
        ("tests/daemon/test_daemon_fair_queue.py",),
    ),
    Break(
        "tv",
        "backend/styleswap/engine/optimize.py",
        "loss = loss + tv_weight * colour_total_variation(image, CHROMA_SMOOTHNESS)",
        "loss = loss",
        ("tests/engine/test_stylize_effects.py::test_tv_weight_smooths_the_optimised_image",),
    ),
    Break(
        "strength",
        "backend/styleswap/engine/stylize.py",
        "target = options.strength * target + (1.0 - options.strength) * content",
        "target = options.strength**2 * target + (1.0 - options.strength**2) * content",
        ("tests/engine/test_stylize_effects.py::test_strength_blends_the_swapped_and_content_features_linearly",),
    ),
    Break(
        "num-swap",
        "backend/styleswap/engine/stylize.py",
        "for i in range(options.num_swap):",
        "for i in range(1):",
        ("tests/engine/test_stylize_effects.py::test_num_swap_swaps_the_swapped_features_again",),
    ),
    Break(
        "gimp-options",
        "plugin_gimp/styleswap_gimp/styleswap_transfer.py",
        "return {option.name: values(option.gimp_name) for option in HOST_OPTIONS}",
        'return {option.name: values(option.gimp_name) for option in HOST_OPTIONS} | {"strength": 1.0, "preserve_color": False}',
        ("tests/gimp/test_gimp_plugin.py::test_strength_and_preserve_colours_reach_the_pixels",),
        host=True,
    ),
    Break(
        "blender-preserve-colour",
        "plugin_blender/styleswap_blender/nodes.py",
        "return {option.name: getattr(node, option.name) for option in HOST_OPTIONS}",
        'return {option.name: getattr(node, option.name) for option in HOST_OPTIONS} | {"preserve_color": False}',
        ("tests/blender/test_blender_addon.py::test_preserve_colour_on_the_node_keeps_the_frames_colours",),
        host=True,
    ),
)


def run_tests(tests: tuple[str, ...]) -> int:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *tests]
    path = os.pathsep.join([*map(str, SOURCES), *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.run(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": path}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def try_break(item: Break) -> tuple[int, int, float]:
    """pytest's exit status on the module as it is and on the broken module, and the seconds the broken run took."""
    path = ROOT / item.path
    original = path.read_text()
    if original.count(item.line) != 1:
        raise SystemExit(f"{item.name}: the line to break is not in {item.path} exactly once: {item.line!r}")
    clean = run_tests(item.tests)
    start = time.monotonic()
    try:
        path.write_text(original.replace(item.line, item.broken))
        broken = run_tests(item.tests)
    finally:
        path.write_text(original)
    return clean, broken, time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"breaks to try (default: all): {', '.join(b.name for b in BREAKS)}")
    parser.add_argument("--fast", action="store_true", help="leave out the GIMP and Blender breaks")
    args = parser.parse_args()
    unknown = set(args.names) - {b.name for b in BREAKS}
    if unknown:
        parser.error(f"unknown break: {', '.join(sorted(unknown))}")
    chosen = [b for b in BREAKS if (not args.names or b.name in args.names) and not (args.fast and b.host)]
    dirty = subprocess.run(["git", "status", "--porcelain", "--", *{b.path for b in chosen}], cwd=ROOT, capture_output=True, text=True).stdout
    if dirty.strip():
        raise SystemExit(f"commit these first (breaks are written over them):\n{dirty}")
    print(f"{'break':<24} {'file':<48} {'as it is':<10} {'broken':<10} seconds")
    missed = 0
    for item in chosen:
        clean, broken, seconds = try_break(item)
        verdict = "caught" if clean == 0 and broken == 1 else "NOT CAUGHT" if broken == 0 else f"exit {broken}"
        missed += verdict != "caught"
        print(f"{item.name:<24} {item.path:<48} {'passes' if clean == 0 else f'exit {clean}':<10} {verdict:<10} {seconds:.0f}", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
