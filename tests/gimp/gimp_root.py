"""Debian roots with GIMP 3, for running the plug-in in a real GIMP on a Debian 12 machine.

Debian 12 ships only GIMP 2.10, so the tests build a Debian 13 (trixie) root for GIMP 3.0 and a Debian
testing (forky) root for GIMP 3.2 with debootstrap once each, into cache folders outside the repository,
and run `gimp-console-3.x` in them with chroot, each command in a mount namespace of its own. (The Blender
tests run bpy for Python 3.13 in the trixie root too.) The chroot shares the host's process table and network,
so the plug-in inside sees a daemon's pid outside; it reaches the daemon's socket file through a bind mount of
its folder (or 127.0.0.1 for a TCP daemon).

    python tests/gimp/gimp_root.py [--suite forky] [--packages openbox ...]   # build (or extend) a root by hand
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

SUITE = "trixie"  # GIMP 3.0 (Debian 13)
SUITES = {"trixie": "3.0", "forky": "3.2"}  # the Debian suites the tests build roots of, and the GIMP each ships
DEBOOTSTRAP_SCRIPTS = Path("/usr/share/debootstrap/scripts")
BASE_PACKAGES = ("gimp", "python3-zmq")
MARKER = ".styleswap-root.json"  # written last: a root without it is incomplete and rebuilt
ROOT_ENV = "STYLESWAP_GIMP_ROOT"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BINDS = ("/proc", "/sys", "/dev", "/dev/pts", "/dev/shm")  # what GIMP and apt need from the host
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
_BUILD_TIMEOUT = 900
_ONE_LINE = re.compile(r"(deb|deb-src)\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)")  # deb [options] uri suite ...


def default_root(suite: str = SUITE) -> Path:
    """`$STYLESWAP_GIMP_ROOT` (for trixie's), else the user cache: outside the repository, reused by every run."""
    if suite == SUITE and (override := os.environ.get(ROOT_ENV)):
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "styleswap-tests" / f"gimp-{suite}"


def debian_mirror(sources: Iterable[Path] = APT_SOURCES, codename: str | None = None) -> str:
    """The Debian archive this machine's apt uses: the first `deb` source serving the host's own release
    (one-line `.list` or deb822 `.sources` files), so the root comes from the same mirror."""
    codename = codename or _os_release().get("VERSION_CODENAME", "")
    for file in _source_files(sources):
        for types, uris, suites in _entries(file.read_text(errors="replace")):
            if "deb" in types and codename in suites and uris:
                return uris[0].rstrip("/")
    raise RuntimeError(f"no Debian {codename or 'release'} source found in {', '.join(map(str, sources))}")


def _os_release() -> dict[str, str]:
    try:
        lines = Path("/etc/os-release").read_text().splitlines()
    except FileNotFoundError:
        return {}
    return {k: v.strip('"') for k, _, v in (line.partition("=") for line in lines) if v}


def _source_files(sources: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in sources:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".list", ".sources"))
        elif path.is_file():
            files.append(path)
    return files


def _entries(text: str) -> Iterator[tuple[list[str], list[str], list[str]]]:
    """(types, uris, suites) of each source, from either apt format."""
    stanza: dict[str, list[str]] = {}
    for raw in [*text.splitlines(), ""]:
        if raw.lstrip().startswith("#"):
            continue  # a comment, which does not end a deb822 stanza
        line = raw.split("#", 1)[0].strip()
        if match := _ONE_LINE.match(line):
            kind, uri, suite = match.groups()
            yield [kind], [uri], [suite]
        elif ":" in line and not raw[:1].isspace():
            key, _, value = line.partition(":")
            stanza[key.strip().lower()] = value.split()
        elif not line and stanza:
            yield stanza.get("types", []), stanza.get("uris", []), stanza.get("suites", [])
            stanza = {}


def unavailable_reason(root: Path) -> str | None:
    """Why a GIMP root cannot be had here, or None: chroot needs root, and a first build needs the mirror."""
    if sys.platform != "linux":
        return "the GIMP 3 root is built with debootstrap and chroot, which need Linux"
    if os.geteuid() != 0:
        return "building and entering the GIMP 3 root (debootstrap, mount, chroot) needs root"
    if (root / MARKER).is_file():
        return None
    if not shutil.which("apt-get"):
        return "no apt-get to install debootstrap with (not a Debian machine)"
    try:
        mirror = debian_mirror()
    except RuntimeError as exc:
        return str(exc)
    url = urlsplit(mirror)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=10).close()
    except OSError as exc:
        return f"no network to the Debian mirror {url.hostname} ({exc}) to build the GIMP 3 root"
    return None


def installed_packages(root: Path) -> set[str]:
    try:
        return set(json.loads((root / MARKER).read_text())["packages"])
    except (FileNotFoundError, ValueError, KeyError):
        return set()


def ensure_root(root: Path, packages: Iterable[str] = (), log=print, suite: str = SUITE) -> Path:
    """Build the root of Debian `suite` once (debootstrap + gimp + python3-zmq) and add any missing
    `packages`; safe to call from concurrent sessions (a lock file beside the root)."""
    wanted = {*BASE_PACKAGES, *packages}
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_name(root.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        have = installed_packages(root)
        if not have:
            _discard(root)
            _debootstrap(root, suite, log)
        missing = wanted - have
        if missing:
            _apt_install(root, sorted(missing), log)
            (root / MARKER).write_text(json.dumps({"suite": suite, "packages": sorted(have | missing)}) + "\n")
    return root


def _discard(root: Path) -> None:
    """Remove an incomplete root, never while anything is mounted inside it (that would delete /dev)."""
    if not root.exists():
        return
    if mounts := _mounts_under(root):
        raise RuntimeError(f"{root} is incomplete but has mounts inside ({', '.join(mounts)}); unmount them first")
    shutil.rmtree(root)


def _debootstrap(root: Path, suite: str, log) -> None:
    if not shutil.which("debootstrap"):
        log("installing debootstrap")
        _run(["apt-get", "update"])  # a fresh machine may have no package lists yet
        _run(["apt-get", "install", "-y", "--no-install-recommends", "debootstrap"], {"DEBIAN_FRONTEND": "noninteractive"})
    mirror = debian_mirror()
    log(f"debootstrap {suite} from {mirror} into {root}")
    _run(debootstrap_command(suite, root, mirror))
    # No services may start inside the root while packages install.
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)


def debootstrap_command(suite: str, root: Path, mirror: str, scripts: Path = DEBOOTSTRAP_SCRIPTS) -> list[str]:
    """An older debootstrap may not know a newer suite by name (Debian 12's has no forky); every current
    Debian suite is built by sid's script, so that one is named then."""
    script = [] if (scripts / suite).exists() else [str(scripts / "sid")]
    return ["debootstrap", "--variant=minbase", suite, str(root), mirror, *script]


def _apt_install(root: Path, packages: list[str], log) -> None:
    log(f"apt-get install {' '.join(packages)} in {root}")
    shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    # A testing suite's Release file is valid for a week only; a mirror that is a snapshot serves it
    # expired, and apt would then refuse it (stable suites carry no such date).
    _run(chroot_command(root, ["apt-get", "-o", "Acquire::Check-Valid-Until=false", "update"], env))
    _run(chroot_command(root, ["apt-get", "install", "-y", "--no-install-recommends", *packages], env))
    _run(chroot_command(root, ["apt-get", "clean"], env))


def _run(argv: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(argv, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=_BUILD_TIMEOUT)
    if result.returncode:
        raise RuntimeError(f"{' '.join(argv[:6])} failed ({result.returncode}):\n{result.stdout[-3000:]}")


def chroot_command(root: Path, argv: list[str], env: dict[str, str] | None = None, binds: Iterable[str] = ()) -> list[str]:
    """`argv` inside the root with a clean environment plus `env`.

    It runs in a private mount namespace that bind-mounts /proc, /sys, /dev (with pts and shm) and
    `binds` for this command alone: the kernel drops those mounts when it exits, however it exits
    (even killed), and concurrent runs on the same root never unmount each other's.
    """
    points = [*BINDS, *binds]
    for point in points:
        (root / point.lstrip("/")).mkdir(parents=True, exist_ok=True)
    mounts = " && ".join(f"mount --bind {shlex.quote(p)} {shlex.quote(str(root) + p)}" for p in points)
    variables = {"HOME": "/root", "PATH": PATH, "LANG": "C.UTF-8", **(env or {})}
    inside = ["chroot", str(root), "env", "-i", *(f"{k}={v}" for k, v in variables.items()), *argv]
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'{mounts} && exec "$@"', "sh", *inside]


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve())
    targets = (line.split()[1].replace("\\040", " ") for line in Path("/proc/self/mounts").read_text().splitlines())
    return [t for t in targets if t == prefix or t.startswith(prefix + "/")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the cached Debian root with GIMP 3.")
    parser.add_argument("--suite", default=SUITE, choices=SUITES, help="trixie (GIMP 3.0) or forky (GIMP 3.2)")
    parser.add_argument("--root", type=Path)
    parser.add_argument("--packages", nargs="*", default=[], help="extra Debian packages to install in it")
    args = parser.parse_args(argv)
    root = args.root or default_root(args.suite)
    if reason := unavailable_reason(root):
        print(reason, file=sys.stderr)
        return 1
    print(ensure_root(root, args.packages, suite=args.suite))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
