"""Runs inside gimp-console-3.0 (python-fu-eval): what a batch script calling the plug-in does.

Loads the job's image, optionally converts it to grayscale or another precision, moves its layer, sets its
opacity, gives it a mask (disabled if asked), locks its pixels and its alpha, selects a feathered ellipse or floats a
selection of the layer, calls plug-in-styleswap
non-interactively with every option as an argument, saves the image as XCF, loads that file back and
dumps every layer's pixels (R'G'B'A u8) plus a JSON report into the job's output folder for the test.
"""

import json
import os

from gi.repository import Gegl, Gimp, Gio

job = json.load(open(os.environ["STYLESWAP_GIMP_JOB"]))
out = job["out"]


def load(path):
    return Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))


def pixels(drawable, name, babl_format):
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    path = f"{out}/{name}"
    with open(path, "wb") as file:
        file.write(bytes(drawable.get_buffer().get(rect, 1.0, babl_format, Gegl.AbyssPolicy.CLAMP)))
    return path


def dump(image, prefix):
    return [
        {
            "name": layer.get_name(),
            "offsets": list(layer.get_offsets()[1:]),
            "size": [layer.get_width(), layer.get_height()],
            "opacity": layer.get_opacity(),
            "locked": [layer.get_lock_content(), layer.get_lock_alpha()],
            "mask_applied": layer.get_mask() is not None and layer.get_apply_mask(),
            "pixels": pixels(layer, f"{prefix}-{index}.rgba", "R'G'B'A u8"),
            "mask": layer.get_mask() and pixels(layer.get_mask(), f"{prefix}-{index}.mask", "Y u8"),
        }
        for index, layer in enumerate(image.get_layers())
    ]


image = load(job["input"])
if job.get("grayscale"):
    image.convert_grayscale()
if job.get("precision"):
    image.convert_precision(getattr(Gimp.Precision, job["precision"]))
layer = image.get_layers()[0]
if job.get("offsets"):
    layer.set_offsets(*job["offsets"])
if job.get("opacity"):
    layer.set_opacity(job["opacity"])
if job.get("alpha_mask"):
    layer.add_mask(layer.create_mask(Gimp.AddMaskType.ALPHA))
    layer.set_apply_mask(not job.get("mask_disabled"))
if job.get("lock_content"):
    layer.set_lock_content(True)
if job.get("lock_alpha"):
    layer.set_lock_alpha(True)
report = {"canvas": [image.get_width(), image.get_height()]}
if job.get("ellipse"):
    image.select_ellipse(Gimp.ChannelOps.REPLACE, *job["ellipse"])
    Gimp.Selection.feather(image, job["feather"])
    report["selection"] = pixels(image.get_selection(), "selection.y", "Y u8")
target = layer
if job.get("floating"):
    image.select_rectangle(Gimp.ChannelOps.REPLACE, *job["floating"])
    target = Gimp.Selection.float(image, [layer], 0, 0)
report["before"] = dump(image, "before")

procedure = Gimp.get_pdb().lookup_procedure("plug-in-styleswap")
report["image_types"] = procedure.get_image_types()  # what the menu entry is offered for
config = procedure.create_config()


def argument(spec):
    """What the procedure registered for one argument: its GObject type, default, range or choices."""
    entry = {"type": spec.value_type.name, "spec": spec.__gtype__.name, "default": config.get_property(spec.name)}
    for bound in ("minimum", "maximum"):
        if hasattr(spec, bound):
            entry[bound] = getattr(spec, bound)
    if entry["spec"] == "GimpParamChoice":
        entry["choices"] = list(Gimp.param_spec_choice_get_choice(spec).list_nicks())
    return entry


report["arguments"] = {spec.name: argument(spec) for spec in procedure.get_arguments()}
config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
config.set_property("image", image)
config.set_core_object_array("drawables", [target])
config.set_property("style-file", Gio.File.new_for_path(job["style"]))
for name, value in job["args"].items():
    config.set_property(name, value)
if job.get("mask_rect"):  # a channel, white in this rectangle of the image, chosen as the mask
    channel = Gimp.Channel.new(image, "mask", image.get_width(), image.get_height(), 100.0, Gegl.Color.new("black"))
    image.insert_channel(channel, None, 0)
    mx, my, mw, mh = job["mask_rect"]
    channel.get_buffer().set(Gegl.Rectangle.new(mx, my, mw, mh), "Y u8", bytes([255]) * (mw * mh))
    channel.get_buffer().flush()
    config.set_property("mask-channel", channel)
result = procedure.run(config)
report["status"] = result.index(0).value_nick
report["error"] = result.index(1) if result.length() > 1 else None

saved = f"{out}/result.xcf"
Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(saved), None)
reloaded = load(saved)
report["after"] = dump(reloaded, "after")
with open(f"{out}/report.json", "w") as file:
    json.dump(report, file)
for done in (image, reloaded):
    done.delete()
