"""The rooms and their one-way arrows (hosts -> protocol + client -> daemon -> engine), and the options
schema as the one place options are written down: every place they reach is checked against it here or,
for the hosts, in their end-to-end tests (GIMP's procedure arguments, Blender's node properties)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from styleswap.cli.main import _parser
from styleswap.daemon.errors import RequestError
from styleswap.daemon.params import parse_options
from styleswap.engine.encoder import LAYERS, POOLINGS
from styleswap.engine.stylize import Options
from styleswap.engine.weights import PROFILES
from styleswap_protocol.options import BY_NAME, OPTIONS, markdown_table

ROOT = Path(__file__).resolve().parents[1]
BACKEND = ROOT / "backend" / "styleswap"
SOURCES = [*ROOT.glob("backend/**/*.py"), *ROOT.glob("shared/**/*.py"), *ROOT.glob("plugin_*/**/*.py")]


def imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports too), relative ones resolved."""
    package = ".".join(path.relative_to(_root_of(path)).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
                found |= {f"{base}.{alias.name}" for alias in node.names}  # `from . import x` names modules
            found.add(base)
    return found


def _root_of(path: Path) -> Path:
    for top in ("backend", "shared", "plugin_gimp", "plugin_blender"):
        if (ROOT / top) in path.parents:
            return ROOT / top
    raise ValueError(path)


def test_the_engine_imports_nothing_above_it():
    for path in (BACKEND / "engine").glob("*.py"):
        above = {m for m in imports(path) if re.match(r"styleswap\.(daemon|cli|tools|cluster)\b|styleswap_client\b|zmq\b|ray\b", m)}
        assert not above, f"{path.name} imports {above}"


def test_the_cluster_runner_sits_above_the_engine_only():
    for path in (BACKEND / "cluster").glob("*.py"):
        above = {m for m in imports(path) if re.match(r"styleswap\.(daemon|cli|tools)\b|styleswap_client\b|zmq\b", m)}
        assert not above, f"{path.name} imports {above}"


def test_the_daemon_imports_no_cli_or_tools():
    for path in (BACKEND / "daemon").glob("*.py"):
        above = {m for m in imports(path) if re.match(r"styleswap\.(cli|tools)\b", m)}
        assert not above, f"{path.name} imports {above}"


def test_the_protocol_and_the_client_import_neither_daemon_nor_engine():
    for path in [*(ROOT / "shared").glob("*/*.py")]:
        assert not {m for m in imports(path) if m == "styleswap" or m.startswith("styleswap.") or m in ("torch", "numpy")}, path


def test_plugins_import_only_the_shared_packages():
    for path in [*ROOT.glob("plugin_*/*/*.py")]:
        assert not {m for m in imports(path) if m == "styleswap" or m.startswith("styleswap.")}, path


def test_the_protocol_and_its_options_load_without_pyzmq():
    code = "import sys; sys.modules['zmq'] = None\nimport styleswap_protocol, styleswap_protocol.options\nprint(len(styleswap_protocol.options.OPTIONS))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == str(len(OPTIONS)), done.stderr


def test_the_blender_addon_has_no_import_circle():
    folder = ROOT / "plugin_blender" / "styleswap_blender"
    graph = {p.stem: {m.split(".")[1] for m in imports(p) if m.startswith("styleswap_blender.") and m.count(".") == 1} - {p.stem} for p in folder.glob("*.py") if p.stem != "__init__"}
    visiting, done = set(), set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in visiting, f"import circle: {' -> '.join([*path, module])}"
        if module in done or module not in graph:
            return
        visiting.add(module)
        for other in graph[module]:
            visit(other, [*path, module])
        visiting.discard(module)
        done.add(module)

    for module in graph:
        visit(module, [])


def test_every_installed_module_has_its_source_tree_name():
    """pyproject maps each package to the folder of that name: no module is renamed on the way to a host."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package, folder in config["package-dir"].items():
        if package:
            assert Path(folder).name == package
    for package in config["packages"]:
        top = package.split(".")[0]
        base = ROOT / config["package-dir"].get(top, "backend/" + top)
        folder = base.joinpath(*package.split(".")[1:])
        # Plug-in folders are data packages the installers copy (GIMP runs plug-ins/<name>/<name>.py).
        assert (folder / "__init__.py").is_file() or (folder / f"{package}.py").is_file(), package


# -- the options schema ------------------------------------------------------------------------------


def test_the_engine_options_are_the_schema():
    assert [(name, field.default) for name, field in Options.__dataclass_fields__.items()] == [(o.name, o.default) for o in OPTIONS]
    assert (BY_NAME["pooling"].values, BY_NAME["layer"].values, set(BY_NAME["encoder"].values)) == (POOLINGS, LAYERS, set(PROFILES))


def test_the_cli_has_one_flag_per_option_with_the_schemas_default_and_choices():
    stylize = next(a for a in _parser()._subparsers._group_actions[0].choices.values() if a.prog.endswith("stylize"))
    by_dest = {action.dest: action for action in stylize._actions}
    for option in OPTIONS:
        action = by_dest[option.name]
        assert action.option_strings == [option.flag]
        assert action.default == option.default, option.name
        if option.choices:
            assert tuple(action.choices) == option.values
        if option.default is not None and option.kind is not bool:
            assert f"(default: {option.default})" in action.help


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_the_daemon_takes_each_option_within_its_range_and_refuses_it_outside(option):
    good = option.values[-1] if option.choices else option.maximum if option.maximum is not None else option.minimum if option.minimum is not None else not option.default
    relations = {"stride": {"patch_size": 9}, "layer": {"method": "optim"}, "pooling": {"method": "optim"}, "encoder": {"method": "optim"}}.get(option.name, {})
    assert getattr(parse_options({option.name: good, **relations}), option.name) == good
    bad = "not an option value" if option.kind is not str else "nonsense"
    with pytest.raises(RequestError, match=option.name.replace("_", "-")):
        parse_options({option.name: bad})
    if option.minimum is not None:
        below = option.minimum - (1 if option.kind is int else option.minimum / 2 or 1)
        with pytest.raises(RequestError, match=option.name.replace("_", "-")):
            parse_options({option.name: option.kind(below)})


def test_protocol_md_holds_the_schemas_option_table():
    assert markdown_table() in (ROOT / "shared" / "PROTOCOL.md").read_text()


def test_no_option_list_is_written_by_hand_outside_the_schema():
    """A list, tuple, set or dict naming three or more options in one place is a copy of the schema."""
    names = set(BY_NAME)
    schema = ROOT / "shared" / "styleswap_protocol" / "options.py"
    for path in SOURCES:
        if path == schema:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            elements = node.elts if isinstance(node, (ast.List, ast.Tuple, ast.Set)) else node.keys if isinstance(node, ast.Dict) else []
            named = {e.value for e in elements if isinstance(e, ast.Constant) and e.value in names}
            assert len(named) < 3, f"{path.relative_to(ROOT)}:{node.lineno} lists options {sorted(named)} by hand"
