"""The stylise options: one schema that every place options reach is derived from.

The engine's `Options`, the `styleswap stylize` flags, the daemon's validation of a request's `options`,
the option table of PROTOCOL.md, the GIMP procedure's arguments and the Blender node's properties are all
made from `OPTIONS`; a test checks each of them against it. Standard library only, so any host Python can
import it. Adding an option is one `Option` here plus the engine code that uses it.

Checks that tie two options together (the stride against the patch size, the encoder the inverse network
was trained on) belong to the engine, which knows why; everything about one value is checked here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


class OptionError(ValueError):
    """A value the schema refuses; the message names the option as the user typed it (CLI spelling)."""


@dataclass(frozen=True)
class Choice:
    value: str  # what the engine and the wire carry
    label: str  # what a host shows
    help: str


@dataclass(frozen=True)
class Option:
    name: str  # the engine's and the wire's name (snake_case); `flag` and `gimp_name` derive from it
    kind: type  # int, float, bool or str (str options are choices)
    default: Any
    label: str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Choice, ...] = ()
    nullable: bool = False  # None is allowed and means "chosen by the engine" (see help)
    host: bool = False  # shown in the GIMP dialog and on the Blender node
    unit: str = ""  # how a host or the CLI states it, when not the wire's unit ("MB" for bytes)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def gimp_name(self) -> str:
        """GIMP argument names are lower-case words joined by '-'."""
        return self.name.replace("_", "-")

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(choice.value for choice in self.choices)

    def check(self, value: Any) -> Any:
        """`value` if it is a valid value of this option (exact JSON types: a bool is no number), else OptionError."""
        if value is None and self.nullable:
            return None
        if self.kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok and not math.isfinite(value):
                raise OptionError(f"{self.flag[2:]} must be a finite number, not {value!r}")
        elif self.kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, self.kind)
        if not ok:
            expected = {float: "a number", int: "a whole number", bool: "true or false", str: "a string"}[self.kind]
            raise OptionError(f"{self.flag[2:]} must be {expected}, not {value!r}")
        if self.choices and value not in self.values:
            raise OptionError(f"{self.flag[2:]} must be one of {', '.join(self.values)}, not {value!r}")
        if self.minimum is not None and value < self.minimum or self.maximum is not None and value > self.maximum:
            where = self.range_text()
            raise OptionError(f"{self.flag[2:]} must {'be' if where.startswith('at') else 'lie in'} {where}, not {self.shown(value)}")
        return float(value) if self.kind is float else value

    def shown(self, value: Any) -> str:
        """A value in the unit the user states it in."""
        if self.unit == "MB" and value is not None:
            return f"{value / 2**20:g} MB"
        return f"{value!r}"

    def range_text(self) -> str:
        low = "" if self.minimum is None else self.shown(self.minimum if self.kind is float else int(self.minimum))
        high = "" if self.maximum is None else self.shown(self.maximum if self.kind is float else int(self.maximum))
        if not high:
            return f"at least {low}"
        return f"[{low}, {high}]"


MB = 2**20

OPTIONS: tuple[Option, ...] = (
    Option(
        "method", str, "invnet", "Method", "How swapped features become an image",
        choices=(
            Choice("invnet", "Inverse Network", "One pass through the inverse network: fast"),
            Choice("optim", "Optimisation", "Optimise the image towards the swapped features: slow, the paper's method"),
            Choice("invnet+optim", "Network + Optimisation", "Optimise starting from the network's result: slower, closer to the style"),
        ),
        host=True,
    ),
    Option("patch_size", int, 3, "Patch Size", "Style patch side in feature cells: bigger carries more texture", minimum=1, maximum=9, host=True),
    Option("stride", int, 1, "Stride", "Step between patches, in feature cells (at most the patch size)", minimum=1, maximum=9),
    Option("num_swap", int, 1, "Swaps", "Swap again with the result as the content: more contrast", minimum=1, maximum=8),
    Option(
        "pooling", str, "max", "Pooling", "Encoder pooling (avg gives smoother results)",
        choices=(Choice("max", "Max", "VGG's own max pooling"), Choice("avg", "Average", "Average pooling: smoother results")),
    ),
    Option("max_size", int, 1024, "Max Size", "Longest side the content is processed at; the result keeps the input's size", minimum=16, maximum=16384, host=True),
    Option("style_size", int, 512, "Style Size", "Longest side the style image is processed at (with content worked at up to 1024 px; see stroke scale)", minimum=16, maximum=16384),
    Option(
        "stroke_scale", float, 1.0, "Stroke Scale",
        "Size of the style's strokes and patterns relative to the picture: 2 paints them twice as large. The look stays the same at any max size: above 1024 px the style is processed larger with the content",
        minimum=0.25, maximum=4.0, host=True,
    ),
    Option(
        "detail", float, 1.0, "Detail",
        "For a picture larger than max size: how much of the content's fine detail comes back where the result follows the content (0 scales the result up smoothly)",
        minimum=0.0, maximum=1.0, host=True,
    ),
    Option("strength", float, 1.0, "Strength", "Blend of swapped and content features: 0 redraws the content through the network, 1 is fully stylised", minimum=0.0, maximum=1.0, host=True),
    Option("preserve_color", bool, False, "Preserve Colour", "Keep the content's colours (luminance from the result, chroma from the content)", host=True),
    Option("iters", int, 100, "Iterations", "Optimisation steps", minimum=1, maximum=100000),
    Option("lr", float, None, "Learning Rate", "Optimisation learning rate; default 0.05 from the content or noise, 0.01 from the network's output", minimum=1e-9, maximum=1e3, nullable=True),
    Option("tv", float, 2.5, "Smoothness", "Total-variation weight of the optimisation (colour differences between neighbours count more than brightness ones: no colour speckle)", minimum=0.0, maximum=1e6),
    Option(
        "init", str, "content", "Start", "Where the optimisation starts",
        choices=(Choice("content", "Content", "The content image"), Choice("random", "Noise", "Random noise (see seed)")),
    ),
    Option("seed", int, 0, "Seed", "Seed of the random start", minimum=0),
    Option(
        "encoder", str, "vgg19-normalised", "Encoder", "VGG-19 weight profile",
        choices=(
            Choice("vgg19-normalised", "VGG-19 normalised", "Normalised weights with reflection padding (the inverse network's)"),
            Choice("vgg19", "VGG-19", "The original ImageNet weights with zero padding, as the paper"),
        ),
    ),
    Option(
        "layer", str, "relu3_1", "Layer", "Encoder layer to swap at",
        choices=tuple(Choice(name, name, f"Swap at {name}") for name in ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1")),
    ),
    Option("memory_budget", int, None, "Memory Budget", "Working memory for matching bands and image tiles (default: a share of the free memory, at most 512 MB on a CPU)", minimum=MB, nullable=True, unit="MB"),
    Option(
        "match", str, "auto", "Matching", "Patch matching",
        choices=(
            Choice("auto", "Auto", "Fast on a CPU for large inputs, exact otherwise"),
            Choice("exact", "Exact", "Every style patch"),
            Choice("fast", "Fast", "Only the patches of each position's closest clusters of style patches"),
        ),
    ),
    Option("score", bool, False, "Score", "Also measure the result's swap objective (one more encoding with the inverse network)"),
    # the temporal mode's (a sequence stylised in order, each frame following the motion from the one before);
    # the margin's default is measured in docs/temporal.md
    Option("temporal_margin", float, 0.02, "Temporal Margin", "In a temporal sequence: how much better (in normalised correlation) a style patch must match than the one the previous frame chose at that point to replace it", minimum=0.0, maximum=2.0),
    Option("temporal_blend", float, 0.5, "Temporal Blend", "In a temporal sequence: share of the previous result, moved along the motion, mixed into each frame where the motion is trusted (0: none)", minimum=0.0, maximum=0.99),
)

BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}
HOST_OPTIONS: tuple[Option, ...] = tuple(option for option in OPTIONS if option.host)


def defaults() -> dict[str, Any]:
    return {option.name: option.default for option in OPTIONS}


def check_options(raw: Any) -> dict[str, Any]:
    """A request's `options` object checked value by value: every option, defaults for those left out.
    Unknown names and wrong JSON types are refused (a typo must not be silently ignored)."""
    if not isinstance(raw, dict):
        raise OptionError(f"options must be an object, not {raw!r}")
    unknown = sorted(set(raw) - set(BY_NAME))
    if unknown:
        raise OptionError(f"unknown options {unknown}; the options are {sorted(BY_NAME)}")
    return {**defaults(), **{name: BY_NAME[name].check(value) for name, value in raw.items()}}


def markdown_table() -> str:
    """PROTOCOL.md's option table (a test keeps the file equal to this)."""
    rows = ["| option | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for option in OPTIONS:
        kind = {int: "int", float: "number", bool: "bool", str: "str"}[option.kind] + (" or null" if option.nullable else "")
        if option.choices:
            allowed = ", ".join(f"`{value}`" for value in option.values)
        elif option.minimum is not None:
            allowed = option.range_text() + (" (sent in bytes)" if option.unit == "MB" else "")
        else:
            allowed = "true, false"
        default = "null" if option.default is None else str(option.default).lower() if option.kind is bool else f"`{option.default}`" if option.kind is str else str(option.default)
        rows.append(f"| `{option.name}` | {kind} | {default} | {allowed} | {option.help} |")
    return "\n".join(rows)
