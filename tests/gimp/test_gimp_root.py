"""Finding the Debian mirror for the GIMP root in this machine's apt sources, in both apt formats."""

from __future__ import annotations

import pytest

from gimp_root import debian_mirror, debootstrap_command

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_the_deb822_source_of_the_release_is_found_across_comment_lines(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list.d" / "vendor.list.disabled").write_text("deb http://vendor.example/apt bookworm main\n")
    assert debian_mirror([tmp_path / "sources.list", tmp_path / "sources.list.d"], "bookworm") == "http://mirror.example/debian"


def test_one_line_sources_with_options_and_other_suites(tmp_path):
    (tmp_path / "sources.list").write_text(
        "deb https://packages.example/apt cloud-sdk-bookworm main\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n"
    )
    assert debian_mirror([tmp_path / "sources.list"], "bookworm") == "http://mirror.example/debian"


def test_no_source_of_the_release_is_an_error_naming_the_files(tmp_path):
    (tmp_path / "sources.list").write_text("deb http://mirror.example/debian bullseye main\n")
    with pytest.raises(RuntimeError, match="no Debian bookworm source found in .*sources.list"):
        debian_mirror([tmp_path / "sources.list"], "bookworm")


def test_a_suite_this_debootstrap_does_not_know_is_built_with_sids_script(tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    for name in ("bookworm", "trixie", "sid"):
        (scripts / name).write_text("")
    root = tmp_path / "root"
    assert debootstrap_command("trixie", root, "http://mirror.example/debian", scripts) == ["debootstrap", "--variant=minbase", "trixie", str(root), "http://mirror.example/debian"]
    assert debootstrap_command("forky", root, "http://mirror.example/debian", scripts)[-1] == str(scripts / "sid")
