"""The engine's `Options` and `Result`, apart from the engine so the CLI can check options and talk to the daemon
without importing torch (`styleswap stylize --daemon` starts in a fraction of a second)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, make_dataclass
from typing import TYPE_CHECKING, Callable

from styleswap.engine.errors import StyleSwapError
from styleswap_protocol.options import BY_NAME, OPTIONS, OptionError

if TYPE_CHECKING:
    from styleswap.engine.images import Picture

METHODS = BY_NAME["method"].values
MATCHES = BY_NAME["match"].values
INITS = BY_NAME["init"].values
INVNET_FEATURES = ("vgg19-normalised", "relu3_1", "max")  # what our inverse network was trained on

# Called with a stage name ("encode", "swap", "reconstruct"), that stage's fraction done and the fraction of the
# whole image done (stages weighted by their share of the work, see styleswap.engine.progress). It may raise to
# cancel: the exception propagates out of ``stylize`` between chunks of work.
Progress = Callable[[str, float, float], None]


def _check(self: Options) -> None:
    """Every value by the schema, then what ties options together; an Options that exists is valid, so the
    CLI, the daemon and the engine never check one twice."""
    for option in OPTIONS:
        try:
            object.__setattr__(self, option.name, option.check(getattr(self, option.name)))
        except OptionError as exc:
            raise StyleSwapError(str(exc)) from None
    if self.stride > self.patch_size:
        raise StyleSwapError(f"stride ({self.stride}) must not exceed the patch size ({self.patch_size})")
    if self.method != "optim" and (self.encoder, self.layer, self.pooling) != INVNET_FEATURES:
        raise StyleSwapError(f"the inverse network inverts {'/'.join(INVNET_FEATURES)} activations; use --method optim for other encoders, layers or pooling")


def _style_key(self: Options) -> tuple:
    """What a prepared style depends on: styles cached under this key are reusable."""
    return (self.encoder, self.layer, self.pooling, self.style_size, self.stroke_scale, self.patch_size, self.stride)


# Everything that shapes a result, one field per entry of the options schema (styleswap_protocol.options),
# checked when made. ``lr`` None: 0.05 from the content or noise, 0.01 from the network's already close output;
# ``memory_budget`` None: from the device's free memory; ``score``: the inverse network needs one more encoding.
Options = make_dataclass(
    "Options",
    [(o.name, o.kind | None if o.nullable else o.kind, field(default=o.default)) for o in OPTIONS],
    namespace={"__post_init__": _check, "style_key": _style_key, "__module__": __name__},
    frozen=True,
)


@dataclass
class FrameReport:
    """How a frame of a temporal sequence used the chain (`engine.temporal`), for the host to show."""

    chain: int  # frames in the current chain, this one included (1: started afresh here)
    restart: str | None  # why the chain started here ("first frame", "scene cut", "working size changed"), None when it went on
    followed: float  # share of pixels whose motion from the previous frame was trusted
    kept: float  # share of patch positions that kept the patch inherited from the previous frame (all swaps)


@dataclass
class Result:
    picture: Picture
    objective: float | None  # swap objective of the result; None when not asked for and not free (see Options.score)
    content_objective: float | None  # the same measure for the unchanged content image, for comparison; None when objective is
    working_size: tuple[int, int]
    device: str
    timings: dict[str, float] = field(default_factory=dict)
    region: tuple[int, int, int, int] | None = None  # with a mask: (x, y, width, height) of the part stylised
    temporal: FrameReport | None = None  # how the frame used its sequence's chain; None outside a temporal sequence

    def summary(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "picture"}
