import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from PIL import Image

SMALL = ["--method", "optim", "--max-size", "64", "--style-size", "64", "--iters", "3", "--device", "cpu", "--quiet"]


def styleswap(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "styleswap", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture
def files(tmp_path, chelsea, astronaut):
    Image.fromarray(chelsea).save(tmp_path / "content.png")
    Image.fromarray(astronaut[::4, ::4]).save(tmp_path / "style.jpg")
    return tmp_path


def test_stylize_writes_output_and_json_summary(files, models):
    run = styleswap("stylize", files / "content.png", files / "style.jpg", "-o", files / "out.png", "--json", *SMALL)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    result = summary["results"][0]
    assert result["device"] == "cpu" and result["working_size"] == [64, 43]
    assert 0 < result["objective"] < result["content_objective"]
    assert {"encode", "swap", "reconstruct", "total"} <= set(result["timings"])
    assert Image.open(files / "out.png").size == (451, 300)


def test_batch_folder_keeps_going_past_a_bad_file(files, models):
    batch = files / "batch"
    batch.mkdir()
    for name in ("a.png", "b.png"):
        (batch / name).write_bytes((files / "content.png").read_bytes())
    (batch / "broken.png").write_text("not an image")
    run = styleswap("stylize", batch, files / "style.jpg", "-o", files / "results", "--json", *SMALL)
    assert run.returncode == 1
    assert sorted(p.name for p in (files / "results").iterdir()) == ["a.png", "b.png"]
    assert "broken.png: not a readable image" in run.stderr
    results = {Path(r["content"]).name: r for r in json.loads(run.stdout)["results"]}
    assert sorted(results) == ["a.png", "b.png", "broken.png"]
    assert "not a readable image" in results["broken.png"]["error"] and "error" not in results["a.png"]
    # A reader that went away before the summary (`| head`): the image is written, and no traceback follows.
    command = [sys.executable, "-m", "styleswap", "stylize", batch / "a.png", files / "style.jpg", "-o", files / "piped.png", "--json", *SMALL]
    gone = subprocess.Popen(list(map(str, command)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    gone.stdout.close()
    assert gone.wait(timeout=300) == 1 and "Traceback" not in gone.stderr.read() and (files / "piped.png").is_file()


@pytest.mark.parametrize(
    "args,message",
    [
        (["missing.png", "style.jpg", "-o", "x.png"], "missing.png: no such file"),
        (["content.png", ".", "-o", "x.png"], ". is a folder, not an image file"),
        (["content.png", "style.jpg", "-o", "content.png"], "refusing to overwrite an input"),
        (["content.png", "style.jpg", "-o", "x.png", "--patch-size", "0"], "patch-size"),
        (["content.png", "style.jpg", "-o", "x.png", "--method", "invnet", "--encoder", "vgg19"], "use --method optim"),
        (["content.png", "style.jpg", "-o", "x.gif"], "unsupported output type"),
        (["content.png", "style.jpg", "-o", "content.png/x.png"], "cannot make the output folder content.png: content.png is a file"),
        (["content.png", "style.jpg", "-o", "."], ". is a folder: give the output a file name"),
        (["content.png", "style.jpg", "-o", "x.png", "--tv", "inf"], "tv must be a finite number, not inf"),
        (["content.png", "style.jpg", "-o", "x.png", "--memory-budget", "0.5"], "memory-budget must be at least 1 MB, not 0.5 MB"),
    ],
)
def test_bad_input_is_one_line_and_harmless(files, models, args, message):
    before = (files / "content.png").read_bytes()
    run = styleswap("stylize", *SMALL, *args, cwd=files)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert message in run.stderr.strip().splitlines()[-1]
    assert (files / "content.png").read_bytes() == before
    assert not (files / "x.png").exists()


def test_a_batch_replaces_no_file_beside_its_inputs_and_no_result_of_its_own(files, models):
    beside = files / "beside"
    beside.mkdir()
    (beside / "a.jpg").write_bytes((files / "style.jpg").read_bytes())
    (beside / "a.png").write_bytes((files / "content.png").read_bytes())  # the user's own picture
    run = styleswap("stylize", beside / "*.jpg", files / "style.jpg", "-o", beside, *SMALL)
    assert run.returncode == 2 and "already exists beside the inputs and would be replaced" in run.stderr
    assert (beside / "a.png").read_bytes() == (files / "content.png").read_bytes()

    run = styleswap("stylize", beside, files / "style.jpg", "-o", files / "results", *SMALL)
    assert run.returncode == 2 and "would both be written to" in run.stderr and "a.jpg" in run.stderr and "a.png" in run.stderr
    assert not (files / "results").exists() or not list((files / "results").iterdir())


def test_a_file_name_with_pattern_characters_is_that_file(files, models):
    (files / "photo[1].png").write_bytes((files / "content.png").read_bytes())
    (files / "photo1.png").write_bytes((files / "style.jpg").read_bytes())  # what "photo[1].png" matches as a pattern
    run = styleswap("stylize", files / "photo[1].png", files / "style.jpg", "-o", files / "out.png", *SMALL)
    assert run.returncode == 0, run.stderr
    assert Image.open(files / "out.png").size == (451, 300)  # the content's size, not photo1's


def test_unknown_option_value_is_rejected(files):
    run = styleswap("stylize", "content.png", "style.jpg", "-o", "x.png", "--pooling", "median", cwd=files)
    assert run.returncode == 2 and "invalid choice" in run.stderr and "Traceback" not in run.stderr


def test_weights_verify(models):
    run = styleswap("weights", "verify")
    assert run.returncode == 0, run.stderr
    assert run.stdout.count(" OK") == 2


# Runs the CLI with torch (and, where asked, numpy) made unimportable: any import of them fails the command.
_WITHOUT = """import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from styleswap.cli import main
raise SystemExit(main(sys.argv[2:]))
"""


def styleswap_without(modules: str, *args, env=None):
    return subprocess.run([sys.executable, "-c", _WITHOUT, modules, *map(str, args)], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("args", [["--help"], ["stylize", "--help"], ["weights", "--help"], ["weights", "path"], ["install-blender-addon", "--help"], ["train-inverse", "--help"]])
def test_commands_that_need_no_tensor_start_without_torch_or_numpy(models, args):
    run = styleswap_without("torch,numpy", *args)
    assert run.returncode == 0, run.stderr
    assert "usage:" in run.stdout or "vgg19_normalised_relu3_1.safetensors" in run.stdout


def test_installing_the_gimp_plugin_needs_no_torch_or_numpy(tmp_path):
    run = styleswap_without("torch,numpy", "install-gimp-plugin", "--profile", tmp_path / "profile")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "profile" / "plug-ins" / "styleswap_gimp").is_dir()


def test_stylize_through_the_daemon_imports_no_torch(files, daemon):
    from daemon_helpers import daemon_env

    Image.open(files / "content.png").convert("L").save(files / "gray.png")
    run = styleswap_without("torch", "stylize", "--daemon", files / "gray.png", files / "style.jpg", "-o", files / "out.png", "--method", "optim", "--iters", "2", "--max-size", "48", "--style-size", "32", env=daemon_env(daemon.root))
    assert run.returncode == 0, run.stderr
    written = Image.open(files / "out.png")
    assert written.size == (451, 300) and written.mode == "L"  # gray stays gray through the daemon too


def test_gray_in_gray_out_unless_colour_is_asked_for(files, models):
    Image.open(files / "content.png").convert("L").save(files / "gray.png")
    for extra, mode in ([], "L"), (["--preserve-color"], "L"), (["--color"], "RGB"):
        run = styleswap("stylize", files / "gray.png", files / "style.jpg", "-o", files / "out.png", *SMALL, *extra)
        assert run.returncode == 0, run.stderr
        assert Image.open(files / "out.png").mode == mode, extra


def test_the_run_says_when_it_works_below_the_image_size(files, models):
    args = [s for s in SMALL if s != "--quiet"]
    run = styleswap("stylize", files / "content.png", files / "style.jpg", "-o", files / "out.png", *args)
    assert run.returncode == 0, run.stderr
    notes = [line for line in run.stderr.splitlines() if "worked at" in line]
    assert len(notes) == 1 and "worked at 64x43 and scaled up to 451x300; --max-size 451" in notes[0]
    quiet = styleswap("stylize", files / "content.png", files / "style.jpg", "-o", files / "made" / "here" / "out.png", *SMALL)
    assert quiet.returncode == 0 and "worked at" not in quiet.stderr
    assert (files / "made" / "here" / "out.png").is_file()  # -o into folders that do not exist makes them (README)


README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_options_table_has_every_stylize_flag():
    from styleswap.cli.main import _parser

    commands = next(a for a in _parser()._actions if a.choices and "stylize" in a.choices).choices
    flags = {s for a in commands["stylize"]._actions for s in a.option_strings if s.startswith("--")} - {"--help", "--output"}
    table = [line for line in README.read_text().splitlines() if line.startswith("| `--")]
    missing = sorted(f for f in flags if not any(f"`{f}`" in row or f"`{f} " in row for row in table))
    assert not missing, f"README's options table lacks {missing}"


def test_blender_versions_agree_between_help_and_readme():
    run = styleswap_without("torch,numpy", "install-blender-addon", "--help")
    manifest = tomllib.loads((README.parent / "plugin_blender" / "styleswap_blender" / "blender_manifest.toml").read_text())
    assert (manifest["blender_version_min"], manifest["blender_version_max"]) == ("4.5.0", "5.4.0")  # 5.4 excluded
    assert "for Blender 4.5 LTS to 5.3" in " ".join(run.stdout.split())
    assert "Blender 4.5 LTS, 5.0, 5.1, 5.2 and 5.3" in " ".join(README.read_text().split())


def test_help_states_defaults_and_the_weights_actions():
    stylize = " ".join(styleswap_without("torch,numpy", "stylize", "--help").stdout.split())
    for text in ("(default: invnet)", "(default: 1024)", "(default: 512)", "--device {auto,cpu,cuda,mps} where the engine runs", "(default: auto)", "VGG-19 weight profile"):
        assert text in stylize, text
    weights = " ".join(styleswap_without("torch,numpy", "weights", "--help").stdout.split())
    for text in ("fetch download the public files", "verify read the weight file", "path print the file each encoder would use, or where `fetch` would put it"):
        assert text in weights, text
