#!/usr/bin/env python3
"""Filters ▸ Artistic ▸ Style Swap…: a stylised copy of the active layer, made by the StyleSwap daemon.

The source layer is never written: the new layer starts as its copy, and the stylised pixels are
composited onto that copy through the selection (feathered edges as blend weights) with GIMP's own
"clip to backdrop" compositing, so outside the selection the copy keeps the source's pixels and
everywhere it keeps the source's alpha, at the image's own precision.
"""

from __future__ import annotations

import sys
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GimpUi, Gio, GLib, GObject  # noqa: E402

from styleswap_protocol import Image  # noqa: E402
from styleswap_protocol.options import HOST_OPTIONS, Option  # noqa: E402
from styleswap_transfer import TransferError, daemon_status, engine_options, stylize  # noqa: E402

PROCEDURE = "plug-in-styleswap"
ARGUMENTS = ["style-file", *(option.gimp_name for option in HOST_OPTIONS), "mask-channel", "timeout"]
_U8 = {Gimp.Precision.U8_LINEAR, Gimp.Precision.U8_NON_LINEAR, Gimp.Precision.U8_PERCEPTUAL}
_RW = GObject.ParamFlags.READWRITE


class StyleSwap(Gimp.PlugIn):
    def do_query_procedures(self) -> list[str]:
        return [PROCEDURE]

    def do_set_i18n(self, name: str) -> bool:
        return False

    def do_create_procedure(self, name: str) -> Gimp.Procedure:
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        procedure.set_image_types("RGB*, GRAY*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label("Style _Swap…")
        procedure.add_menu_path("<Image>/Filters/Artistic")
        procedure.set_documentation(
            "Paint the layer in the style of an image",
            "Adds a stylised copy of the active layer above it, made by the StyleSwap daemon (started if needed). "
            "Only selected pixels change; the source layer is left as it is.",
            name,
        )
        procedure.set_attribution("StyleSwap", "StyleSwap", "2025")
        procedure.add_file_argument("style-file", "St_yle image", "Image whose style is applied", Gimp.FileChooserAction.OPEN, False, None, _RW)
        for option in HOST_OPTIONS:
            _add_argument(procedure, option)
        procedure.add_channel_argument("mask-channel", "Mask c_hannel", "Stylise only where this channel is white, soft where gray (as well as inside the selection); none: the whole layer", True, _RW)
        procedure.add_double_argument("timeout", "Time_out (s)", "Give up when the daemon sends nothing for this long", 1.0, 3600.0, 120.0, _RW)
        return procedure


def _add_argument(procedure: Gimp.Procedure, option: Option) -> None:
    """The procedure argument of one stylise option, as the options schema describes it."""
    name, label, help = option.gimp_name, option.label, option.help
    if option.choices:
        choice = Gimp.Choice.new()
        for number, entry in enumerate(option.choices):
            choice.add(entry.value, number, entry.label, entry.help)
        procedure.add_choice_argument(name, label, help, choice, option.default, _RW)
    elif option.kind is bool:
        procedure.add_boolean_argument(name, label, help, option.default, _RW)
    elif option.kind is int:
        procedure.add_int_argument(name, label, help, int(option.minimum), int(option.maximum), option.default, _RW)
    else:
        procedure.add_double_argument(name, label, help, option.minimum, option.maximum, option.default, _RW)


def run(procedure: Gimp.Procedure, run_mode: Gimp.RunMode, image: Gimp.Image, drawables: list[Gimp.Drawable], config: Gimp.ProcedureConfig, _data: object) -> Gimp.ValueArray:
    if len(drawables) != 1 or not isinstance(drawables[0], Gimp.Layer) or drawables[0].is_group():
        return _error(procedure, "Style Swap works on one layer (not a group): select exactly one.")
    if drawables[0].is_floating_sel():
        return _error(procedure, "Style Swap does not work on a floating selection: anchor it or make it a new layer first.")
    if run_mode == Gimp.RunMode.INTERACTIVE and not _dialog(procedure, config):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    try:
        _stylize_layer(image, drawables[0], config)
    except TransferError as exc:
        return _error(procedure, str(exc))
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def _error(procedure: Gimp.Procedure, message: str) -> Gimp.ValueArray:
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(message))


def _dialog(procedure: Gimp.Procedure, config: Gimp.ProcedureConfig) -> bool:
    GimpUi.init(PROCEDURE)
    dialog = GimpUi.ProcedureDialog.new(procedure, config, "Style Swap")
    dialog.get_label("daemon-status", f"Daemon: {daemon_status()}", False, False).set_line_wrap(True)
    dialog.fill([*ARGUMENTS, "daemon-status"])
    accepted = dialog.run()
    dialog.destroy()
    return accepted


def _stylize_layer(image: Gimp.Image, layer: Gimp.Layer, config: Gimp.ProcedureConfig) -> Gimp.Layer:
    style_file = config.get_property("style-file")
    if style_file is None or style_file.get_path() is None:
        raise TransferError("Choose a style image.")
    found, x, y, width, height = layer.mask_intersect()
    if not found:
        raise TransferError("The selection does not cover any of this layer.")
    wide = image.get_precision() not in _U8  # the engine keeps 16 bits; more would be lost anyway
    content = _read(layer, Gegl.Rectangle.new(x, y, width, height), "u16" if wide else "u8")
    style = _read_style(style_file)
    name = Path(style_file.get_path()).stem
    options = engine_options(config.get_property)
    mask = _read_mask(config.get_property("mask-channel"), layer, x, y, width, height)
    Gimp.progress_init(f"Style Swap: {name}")
    result = stylize(content, style, options, config.get_property("timeout"), _progress, mask)
    Gimp.progress_update(1.0)
    image.undo_group_start()
    try:
        return _insert_result(image, layer, result, x, y, name)
    finally:
        image.undo_group_end()
        Gimp.displays_flush()


def _progress(fraction: float, stage: str) -> None:
    Gimp.progress_set_text(f"Style Swap: {stage}")
    Gimp.progress_update(fraction)


def _format(dtype: str) -> str:
    return f"R'G'B' {dtype}"


def _read(drawable: Gimp.Drawable, rect: Gegl.Rectangle, dtype: str) -> Image:
    data = drawable.get_buffer().get(rect, 1.0, _format(dtype), Gegl.AbyssPolicy.CLAMP)
    return Image(rect.width, rect.height, 3, dtype, bytes(data))


def _read_mask(channel: Gimp.Channel | None, layer: Gimp.Layer, x: int, y: int, width: int, height: int) -> Image | None:
    """The chosen channel over the part of the layer being stylised (channels are in image coordinates)."""
    if channel is None:
        return None
    offset_x, offset_y = layer.get_offsets()[1:]
    rect = Gegl.Rectangle.new(offset_x + x, offset_y + y, width, height)
    data = channel.get_buffer().get(rect, 1.0, "Y u8", Gegl.AbyssPolicy.NONE)  # outside the image: not masked in
    return Image(width, height, 1, "u8", bytes(data))


def _read_style(file: Gio.File) -> Image:
    """The style image's visible pixels, loaded by GIMP so every format GIMP opens works."""
    try:
        style = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, file)
    except GLib.Error as exc:
        raise TransferError(f"Could not open the style image {file.get_path()}: {exc.message}") from None
    if style is None:  # some loaders fail without raising
        raise TransferError(f"Could not open the style image {file.get_path()}: GIMP cannot read it.")
    try:
        flat = style.flatten()
        return _read(flat, Gegl.Rectangle.new(0, 0, flat.get_width(), flat.get_height()), "u8")
    finally:
        style.delete()


def _insert_result(image: Gimp.Image, source: Gimp.Layer, result: Image, x: int, y: int, name: str) -> Gimp.Layer:
    """A copy of `source` above it, with `result` (the stylised crop at x, y of the layer) merged in
    through the selection with "clip to backdrop", which keeps the copy's alpha."""
    copy = source.copy()
    image.insert_layer(copy, source.get_parent(), image.get_item_position(source))
    copy.set_lock_content(False)  # the copy inherits a pixel lock, which would refuse the merge; given back below
    # Merging applies the lower layer's mask, opacity, mode and visibility; neutral ones keep its pixels.
    if copy.get_mask() is not None:
        copy.remove_mask(Gimp.MaskApplyMode.DISCARD)
    copy.set_opacity(100.0)
    copy.set_mode(Gimp.LayerMode.NORMAL)
    copy.set_visible(True)
    stylised = Gimp.Layer.new(image, name, result.width, result.height, Gimp.ImageType.RGB_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(stylised, source.get_parent(), image.get_item_position(copy))
    offset_x, offset_y = source.get_offsets()[1:]
    stylised.set_offsets(offset_x + x, offset_y + y)
    buffer = stylised.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, result.width, result.height), _format(result.dtype), bytes(result.data))
    buffer.flush()
    stylised.set_composite_mode(Gimp.LayerCompositeMode.CLIP_TO_BACKDROP)
    stylised.set_composite_space(Gimp.LayerColorSpace.RGB_PERCEPTUAL)  # blend weights apply to pixel values
    stylised.set_visible(True)
    if not Gimp.Selection.is_empty(image):
        stylised.add_mask(stylised.create_mask(Gimp.AddMaskType.SELECTION))
    try:
        merged = image.merge_down(stylised, Gimp.MergeType.CLIP_TO_BOTTOM_LAYER)
    except GLib.Error as exc:
        merged, reason = None, exc.message
    else:
        reason = "no layer came back"
    if merged is None:
        for layer in (stylised, copy):
            image.remove_layer(layer)
        raise TransferError(f"GIMP could not merge the stylised pixels into a copy of the layer ({reason}); the image is unchanged.")
    merged.set_name(name)
    merged.set_opacity(source.get_opacity())
    merged.set_mode(source.get_mode())
    merged.set_visible(source.get_visible())
    if (mask := source.get_mask()) is not None:
        _copy_mask(mask, merged)
        merged.set_apply_mask(source.get_apply_mask())
        merged.set_show_mask(source.get_show_mask())
    merged.set_lock_content(source.get_lock_content())
    merged.set_lock_alpha(source.get_lock_alpha())
    merged.update(0, 0, merged.get_width(), merged.get_height())
    return merged


def _copy_mask(mask: Gimp.LayerMask, layer: Gimp.Layer) -> None:
    copy = layer.create_mask(Gimp.AddMaskType.WHITE)
    layer.add_mask(copy)
    rect = Gegl.Rectangle.new(0, 0, mask.get_width(), mask.get_height())
    target = copy.get_buffer()
    target.set(rect, "Y float", mask.get_buffer().get(rect, 1.0, "Y float", Gegl.AbyssPolicy.CLAMP))
    target.flush()


Gimp.main(StyleSwap.__gtype__, sys.argv)
