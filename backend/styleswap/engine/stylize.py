"""The engine: encode, swap, reconstruct; the one entry point the CLI and the daemon share."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from functools import partial
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from styleswap.engine.approx_match import CLUSTERS_PER_ROOT, PROBES, match_approx
from styleswap.engine.devices import PRECISIONS, default_memory_budget, elapsed, free_memory, pick_device, pick_precision
from styleswap.engine.encoder import Encoder, load_encoder
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.flow import Motion
from styleswap.engine.images import Picture
from styleswap.engine.int8_encoder import Int8Encoder, load_scales
from styleswap.engine.int8_inverse import Int8InverseNet, load_ranges
from styleswap.engine.invnet import InverseNet, load_inverse
from styleswap.engine.mask import blend, check_mask, crop, region
from styleswap.engine.metrics import swap_objective
from styleswap.engine.optimize import LEARNING_RATE, NETWORK_START_LEARNING_RATE, invert_by_optimisation
from styleswap.engine.options import INITS, INVNET_FEATURES, MATCHES, METHODS, Options, Progress, Result  # noqa: F401  (the engine's names)
from styleswap.engine.progress import ENCODER_MACS, LAYER_CHANNELS, LAYER_STRIDE, Chunk, Tracker, part, reconstruct_work
from styleswap.engine.sizes import MIN_SIDE, fit_within, style_working_size  # noqa: F401  (the engine's names)
from styleswap.engine.swap import Matcher, StylePatches, match, prepare_style, swap
from styleswap.engine.temporal import Frame, TemporalState
from styleswap.engine.tiling import run_tiled
from styleswap.engine.upscale import restore_size

AUTO_FAST_PAIRS = 1 << 25  # on a CPU, fast matching pays off beyond about this many (position, style patch) pairs
ENCODER_HALO = 32  # pixels: the relu3_1 receptive field reaches 10 px; a multiple of the stride keeps pooling aligned
Report = Callable[[str, float], None]  # the stages' own progress (stage, fraction of it); Tracker makes it the user's Progress


@dataclass
class Swapped:
    image: torch.Tensor  # the working content image, padded for the encoder (1, 3, H, W)
    crop: tuple[int, int]  # (height, width) of the working image inside ``image``
    content: torch.Tensor | None  # its float activations Φc; None when int8 activations chose the patches and nothing needed Φc
    target: torch.Tensor  # the swapped activations Φss (blended with Φc by the strength)
    timings: dict[str, float]  # seconds spent encoding and swapping


def _channels_last(network: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """Run a network in channels-last layout (oneDNN's fast path on a CPU) and in its dtype.

    Its output stays channels last: activations are read as rows of channels by matching and the patch fold, and
    go back into the inverse network, so that layout is the one every consumer wants."""
    dtype = next(network.parameters()).dtype
    return lambda x: network(x.to(dtype, memory_format=torch.channels_last))


class Engine:
    """Keeps encoders resident on one device; cheap to call many times (frames, daemon requests).

    ``precision`` sets the feed-forward path (encoding, matching, the inverse network): ``dtype`` is that of
    activations and prepared styles. With ``int8`` they are float32: the content is encoded and matched in int8
    where that only decides which style patches are taken, and the inverse network runs in int8 up to its RGB conv on
    calibrated ranges. Optimisation and the swap objective always work in float32."""

    def __init__(self, device: str = "auto", weights: str | None = None, precision: str = "auto") -> None:
        self.device = pick_device(device)
        self.precision = pick_precision(precision, self.device)
        self.dtype = PRECISIONS[self.precision]
        self._weights = weights
        self._encoders: dict[tuple[str, str, str, torch.dtype], Encoder] = {}
        self._int8_encoders: dict[tuple[str, str, str], Int8Encoder | None] = {}
        self._inverse: InverseNet | None = None
        self._decoder: InverseNet | Int8InverseNet | None = None

    def encoder(self, options: Options, dtype: torch.dtype = torch.float32) -> Encoder:
        key = (options.encoder, options.layer, options.pooling, dtype)
        if key not in self._encoders:
            encoder = load_encoder(options.encoder, options.layer, options.pooling, self._weights, self.device)
            self._encoders[key] = encoder.to(dtype=dtype, memory_format=torch.channels_last)
        return self._encoders[key]

    def encode(self, rgb: torch.Tensor, options: Options, progress: Chunk | None = None) -> torch.Tensor:
        """Activations (in the engine's dtype) of a (1, 3, H, W) image whose sides are multiples of the encoder
        stride, in tiles when large."""
        encoder = self.encoder(options, self.dtype)
        with torch.no_grad():
            return run_tiled(_channels_last(encoder), rgb, 1 / encoder.stride, tile_side(self.memory_budget(options)), ENCODER_HALO, encoder.stride, progress)

    def encode_for_matching(self, rgb: torch.Tensor, options: Options, progress: Chunk | None = None) -> torch.Tensor:
        """Activations that serve to choose style patches: by the int8 encoder where the precision is int8 and this
        encoder was calibrated, else as ``encode``."""
        int8 = self.int8_encoder(options)
        if int8 is None:
            return self.encode(rgb, options, progress)
        with torch.no_grad():
            return run_tiled(int8, rgb, 1 / int8.stride, tile_side(self.memory_budget(options)), ENCODER_HALO, int8.stride, progress)

    def int8_encoder(self, options: Options) -> Int8Encoder | None:
        if self.precision != "int8":
            return None
        key = (options.encoder, options.layer, options.pooling)
        if key not in self._int8_encoders:
            scales = load_scales(options.encoder, options.pooling)
            self._int8_encoders[key] = None if scales is None else Int8Encoder(self.encoder(options), scales)
        return self._int8_encoders[key]

    def decode(self, features: torch.Tensor, options: Options, progress: Chunk | None = None) -> torch.Tensor:
        """The inverse network's float32 image for relu3_1 activations, in tiles when large."""
        net = self.decoder()
        with torch.no_grad():
            image = run_tiled(_channels_last(net), features, 4, tile_side(self.memory_budget(options)) // 4, net.halo, 1, progress)
        return image.float()

    def memory_budget(self, options: Options) -> int:
        return options.memory_budget or default_memory_budget(self.device)

    def working_image(self, picture: Picture, size: int | tuple[int, int], options: Options) -> tuple[torch.Tensor, tuple[int, int]]:
        """The picture on the device, scaled to ``size`` (a limit on its long side, or an exact (width, height)) and
        padded for the encoder; with the size to crop back."""
        rgb = _resize(_to_tensor(picture, self.device), fit_within(picture.size, size) if isinstance(size, int) else size)
        return _pad_to_multiple(rgb, self.encoder(options).stride)

    def prepare_style(self, style: Picture, options: Options, progress: Chunk | None = None, content_size: tuple[int, int] | None = None) -> StylePatches:
        """The style's patches for contents of ``content_size`` (width, height; only its working size matters, see
        `style_working_size`); a style prepared once serves every content of the same working size."""
        padded, _ = self.working_image(style, style_working_size(style.size, options, content_size), options)
        features = self.encode(padded, options, progress)
        _check_patch_bank(features, options.patch_size, options.stride, self.device)
        return prepare_style(features, options.patch_size, options.stride)

    def inverse(self) -> InverseNet:
        if self._inverse is None:
            self._inverse = load_inverse(device=self.device).to(dtype=self.dtype, memory_format=torch.channels_last)
        return self._inverse

    def decoder(self) -> InverseNet | Int8InverseNet:
        """The network ``decode`` runs: the inverse network, in int8 up to its RGB conv where the precision is int8 and
        the shipped ranges were measured with these weights."""
        if self._decoder is None:
            net = self.inverse()
            ranges = load_ranges(net) if self.precision == "int8" else None
            self._decoder = net if ranges is None else Int8InverseNet(net, ranges)
        return self._decoder

    def swapped(self, content: Picture, style: Picture | StylePatches, options: Options, report: Report, frame: Frame | None = None) -> Swapped:
        """Encode the content and swap its activations with the style's: the target any reconstruction aims at;
        with a sequence's ``frame``, by its stable matching."""
        started = time.perf_counter()
        padded, crop = self.working_image(content, options.max_size, options)
        report("encode", 0.0)
        style_pixels = 0 if isinstance(style, StylePatches) else math.prod(style_working_size(style.size, options, content.size))
        style_share = style_pixels / (style_pixels + padded.shape[2] * padded.shape[3])
        encoding = partial(report, "encode")
        patches = style if isinstance(style, StylePatches) else self.prepare_style(style, options, part(encoding, 0.0, style_share), content.size)
        matching = self.encode_for_matching(padded, options, part(encoding, style_share, 1.0 - style_share))
        content = matching if self.int8_encoder(options) is None else None
        if options.strength < 1.0 and content is None:
            content = self.encode(padded, options)  # the blend below is made of them
        report("encode", 1.0)
        encoded = elapsed(started, self.device)
        target = matching
        matcher = self.matcher(options, matching, patches)
        if frame is not None:
            matcher = frame.matcher(matcher)
        for i in range(options.num_swap):
            target = swap(target, patches, self.memory_budget(options), matcher, part(partial(report, "swap"), i / options.num_swap, 1 / options.num_swap))
            report("swap", (i + 1) / options.num_swap)
        if options.strength < 1.0:
            target = options.strength * target + (1.0 - options.strength) * content
        return Swapped(padded, crop, content, target, {"encode": encoded, "swap": elapsed(started, self.device) - encoded})

    def matcher(self, options: Options, content: torch.Tensor, style: StylePatches) -> Matcher:
        """Exact matching on accelerators and small inputs; cluster probing on a CPU beyond that (int8 GEMMs with
        the int8 precision)."""
        if not self._fast(options, content.shape[2] * content.shape[3], style.count):
            return match
        return partial(match_approx, int8=self.precision == "int8")

    def _fast(self, options: Options, positions: int, style_patches: int) -> bool:
        return options.match == "fast" or (options.match == "auto" and self.device.type == "cpu" and positions * style_patches > AUTO_FAST_PAIRS)

    def work(self, content: Picture, style: Picture | StylePatches, options: Options) -> dict[str, float]:
        """Estimated multiply-adds of each stage of ``stylize`` (see styleswap.engine.progress), from the sizes alone."""
        stride = LAYER_STRIDE[options.layer]
        width, height = (-(-side // stride) * stride for side in fit_within(content.size, options.max_size))
        k, s = options.patch_size, options.stride
        positions = max(1, (height // stride - k) // s + 1) * max(1, (width // stride - k) // s + 1)
        if isinstance(style, StylePatches):
            style_pixels, style_patches = 0, style.count
        else:
            style_width, style_height = style_working_size(style.size, options, content.size)
            style_pixels = style_width * style_height
            style_patches = max(1, (-(-style_height // stride) - k) // s + 1) * max(1, (-(-style_width // stride) - k) // s + 1)
        scored = style_patches
        if self._fast(options, (height // stride) * (width // stride), style_patches):  # the clusters' centres, then the probed clusters' members
            scored = min(style_patches, CLUSTERS_PER_ROOT * style_patches**0.5 + PROBES * style_patches**0.5 / CLUSTERS_PER_ROOT)
        residual_blocks = self.inverse().residual_blocks if options.method != "optim" else 0
        return {
            "encode": ENCODER_MACS[options.layer] * (width * height + style_pixels),
            "swap": options.num_swap * positions * scored * LAYER_CHANNELS[options.layer] * k * k,
            "reconstruct": sum(reconstruct_work(options.method, options.layer, width * height, options.iters, residual_blocks)),
        }

    def reconstruct(self, swapped: Swapped, options: Options, report: Report) -> tuple[torch.Tensor, float | None]:
        """The image realising ``swapped.target`` by the chosen method, and its swap objective (the optimisation's
        comes free; the inverse network's costs a float32 encoding, about as long as the
        whole int8 stylisation on a CPU, so only with ``score``)."""
        reconstructing = partial(report, "reconstruct")
        if options.method == "invnet":
            image = self.decode(swapped.target, options, reconstructing)
            report("reconstruct", 1.0)
            return image, swap_objective(self.encode(image, options), swapped.target) if options.score else None
        decoding, optimising = 0.0, 1.0
        if options.method == "invnet+optim":
            pixels = swapped.image.shape[2] * swapped.image.shape[3]
            decoding, optimising = reconstruct_work(options.method, options.layer, pixels, options.iters, self.inverse().residual_blocks)
            decoding, optimising = decoding / (decoding + optimising), optimising / (decoding + optimising)
            init = self.decode(swapped.target, options, part(reconstructing, 0.0, decoding))
        elif options.init == "content":
            init = swapped.image
        else:
            init = torch.rand(swapped.image.shape, generator=torch.Generator().manual_seed(options.seed)).to(self.device)
        lr = options.lr or (NETWORK_START_LEARNING_RATE if options.method == "invnet+optim" else LEARNING_RATE)
        return invert_by_optimisation(self.encoder(options), swapped.target.float(), init, options.iters, lr, options.tv, part(reconstructing, decoding, optimising))

    def stylize(
        self,
        content: Picture,
        style: Picture | StylePatches,
        options: Options,
        progress: Progress | None = None,
        mask: np.ndarray | None = None,
        temporal: TemporalState | None = None,
        motion: Motion | None = None,
    ) -> Result:
        """Stylise one image. With a `mask` (float (H, W) in [0, 1]), only the region around what it covers, laid
        over the content by it (see `styleswap.engine.mask`); with ``temporal``, as the next frame of that state's
        sequence (``motion``: from the previous frame, in this frame's pixels; estimated from the frames when None)."""
        if mask is not None:
            if temporal is not None:
                raise StyleSwapError("a mask and a temporal sequence cannot be combined yet")
            return _stylize_masked(self, content, style, options, progress, check_mask(mask, content.size))
        options = replace(options, memory_budget=self.memory_budget(options))  # free memory read once, not per stage
        started = time.perf_counter()
        report = Tracker(progress, self.work(content, style, options) if progress else {})
        frame = None
        if temporal is not None:
            frame = temporal.begin(content, fit_within(content.size, options.max_size), self.encoder(options).stride, self.device, motion)
        swapped = self.swapped(content, style, options, report, frame)
        timings = dict(swapped.timings)
        mark = time.perf_counter()
        image, objective = self.reconstruct(swapped, options, report)
        timings["reconstruct"] = elapsed(mark, self.device)
        height, width = swapped.crop
        image = image[..., :height, :width]
        if frame is not None:
            image = frame.finish(image)
        rgb = restore_size(image, swapped.image[..., :height, :width], content.rgb, options.detail, options.preserve_color)
        timings["total"] = elapsed(started, self.device)
        content_objective = None
        if objective is not None:
            features = swapped.content if swapped.content is not None else self.encode(swapped.image, options)
            content_objective = swap_objective(features, swapped.target)
        return Result(
            picture=Picture(rgb, content.alpha, content.bit_depth, content.gray),
            objective=objective,
            content_objective=content_objective,
            working_size=(width, height),
            device=str(self.device),
            timings=timings,
            temporal=None if frame is None else frame.report,
        )


def _stylize_masked(engine: Engine, content: Picture, style: Picture | StylePatches, options: Options, progress: Progress | None, mask: np.ndarray) -> Result:
    box = region(mask)
    if box is None:  # nothing to stylise: the content as it came, not resampled
        return Result(Picture(content.rgb, content.alpha, content.bit_depth), None, None, (0, 0), str(engine.device), {"total": 0.0}, region=None)
    inner = engine.stylize(crop(content, box), style, options, progress)
    return replace(inner, picture=blend(content, inner.picture, mask, box), region=box)


def _check_patch_bank(features: torch.Tensor, patch_size: int, stride: int, device: torch.device) -> None:
    """Refuse a style whose patches would not fit, before making them: the bank grows with the patch size squared
    (64x64 patches of a 512 px style are 6 GB, made twice over), which no memory budget bounds."""
    _, channels, height, width = features.shape
    count = max(0, (height - patch_size) // stride + 1) * max(0, (width - patch_size) // stride + 1)
    needed = 2 * count * channels * patch_size**2 * features.element_size()  # the patch rows and their normalised copy
    free = free_memory(device)
    if free is not None and needed > free // 2:
        raise StyleSwapError(
            f"the style's {count} patches of {patch_size}x{patch_size} would take {needed / 2**30:.1f} GB with {free / 2**30:.1f} GB free: lower the patch size or the style size"
        )


def tile_side(memory_budget: int) -> int:
    """Image pixels per tile side so one tile's activations (about 1 KB per pixel in the first layers) fit the budget."""
    return max(256, math.isqrt(memory_budget // 1024))


def _to_tensor(picture: Picture, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(picture.rgb).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def _resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    width, height = size
    if image.shape[-2:] == (height, width):
        return image
    return F.interpolate(image, size=(height, width), mode="bicubic", antialias=True, align_corners=False).clamp(0.0, 1.0)


def _pad_to_multiple(image: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflection-pad right and bottom so the encoder covers every pixel; returns the (height, width) to crop back."""
    height, width = image.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect")
    return image, (height, width)
