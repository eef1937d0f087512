"""Encoder weights: where they are found, how they are downloaded, converted and verified.

Resolution order for a profile: an explicit file (``--weights`` or ``STYLESWAP_ENCODER_WEIGHTS``), the models
folder ``STYLESWAP_MODELS``, the user cache, then (unless ``STYLESWAP_OFFLINE`` is set) a one-time download from
the public addresses below, checked by sha256 and converted into our own safetensors file in the cache.
``STYLESWAP_WEIGHTS_MIRROR`` replaces the public hosts by a mirror laid out as ``<owner>__<repo>/<path>``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import platformdirs

from styleswap.engine.errors import WeightsError

if TYPE_CHECKING:
    import torch

# torch, numpy and safetensors are imported where tensors are made: finding the weights (`styleswap weights path`,
# the daemon's start-up checks) needs none of them.

LAYER_KEYS = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1")
# RGB in [0,1] -> BGR*255 minus the caffe ImageNet mean, the input every VGG-19 profile here expects.
PREPROCESS_WEIGHT = ((0.0, 0.0, 255.0), (0.0, 255.0, 0.0), (255.0, 0.0, 0.0))
PREPROCESS_BIAS = (-103.939, -116.779, -123.68)

StateDict = dict[str, "torch.Tensor"]


@dataclass(frozen=True)
class Download:
    """One public file: ``https://github.com/<repo>/raw/<ref>/<path>``."""

    repo: str
    ref: str
    path: str
    sha256: str

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def url(self, mirror: str | None) -> str:
        if mirror:
            return f"{mirror.rstrip('/')}/{self.repo.replace('/', '__')}/{self.path}"
        return f"https://github.com/{self.repo}/raw/{self.ref}/{self.path}"


@dataclass(frozen=True)
class Profile:
    """A VGG-19 weight set: file name, padding it was trained with, and how to make it from public files."""

    name: str
    filename: str
    padding: str
    tensor_digest: str
    downloads: tuple[Download, ...]
    convert: Callable[[list[Path]], StateDict]
    about: str


def _convert_wct_pth(files: list[Path]) -> StateDict:
    """WCT's ``vgg_normalised_conv3_1.pth``: an ``nn.Sequential`` state dict keyed by layer index."""
    import torch

    raw = torch.load(files[0], map_location="cpu", weights_only=True)
    index = {"preprocess": 0, "conv1_1": 2, "conv1_2": 5, "conv2_1": 9, "conv2_2": 12, "conv3_1": 16}
    return {f"{name}.{part}": raw[f"{i}.{part}"].float().contiguous() for name, i in index.items() for part in ("weight", "bias")}


def _convert_keras_npy(files: list[Path]) -> StateDict:
    """Keras VGG-19 kernels (3, 3, in, out) and biases, one ``.npy`` each, in LAYER_KEYS order."""
    import numpy as np
    import torch

    state: StateDict = {"preprocess.weight": torch.tensor(PREPROCESS_WEIGHT).reshape(3, 3, 1, 1), "preprocess.bias": torch.tensor(PREPROCESS_BIAS)}
    for name, kernel, bias in zip(LAYER_KEYS, files[0::2], files[1::2]):
        state[f"{name}.weight"] = torch.from_numpy(np.load(kernel)).permute(3, 2, 0, 1).float().contiguous()
        state[f"{name}.bias"] = torch.from_numpy(np.load(bias)).float().contiguous()
    return state


_LST = "sunayana-981/LinearStyleTransfer"
_KERAS_SHA = {
    "block1_conv1": ("de029f88bd3583b1e177786c0dd863d7363ecbff7595d9fe292681c91f535103", "44f6589a3f63f7b9622f6113ecb90cc4d775da379762fb9c3321b8b3f6530e15"),
    "block1_conv2": ("4a6b308fcfcd4576360797b28cca079003e38b4c7abef0efd472cb245d480417", "7214b4e5e20fdb95bd49397ef99ac7abb19fef9648a71c32073de21abc455981"),
    "block2_conv1": ("fb46e130a941938ef7506e1029f1bae9cf018ff275ced42869fbec1af8345e53", "5ed4286dab6a57023ad88c679b2a02c7b58eee09a23ae8c91c92e2fbad050d4c"),
    "block2_conv2": ("ade3cdc2ba3569077a4758ba85c0729a2c608ada5880ce8d46276416b3fad3c1", "13cdf595b6466f496d7cf012bbc9aee6152e20ba31170bbd43022b84c2ee4cda"),
    "block3_conv1": ("644e6570e9f6d453ec29a15de7423e280ba46454d3499a1f18b6f7ac66af8b90", "169921e6a87e53e61658981ebbd940289d175c1ac5cfceb4455848cf49398eeb"),
}

PROFILES: dict[str, Profile] = {
    "vgg19-normalised": Profile(
        name="vgg19-normalised",
        filename="vgg19_normalised_relu3_1.safetensors",
        padding="reflect",
        tensor_digest="9f0b8e10f4e763b4f248862edf0e71b142fac9afad0b3b2f52414bea3be8350c",
        downloads=(
            Download(
                "pietrocarbo/deep-transfer",
                "master",
                "models/autoencoder_vgg19/vgg19_3/vgg_normalised_conv3_1.pth",
                "ff8506173d3a17e7b0fbfbff242c00b6827cfbcd7c21852b46806ae6a3fd7b09",
            ),
        ),
        convert=_convert_wct_pth,
        about="Gatys' normalised VGG-19 as used by WCT (Apache-2.0 conversion), reflection padding",
    ),
    "vgg19": Profile(
        name="vgg19",
        filename="vgg19_imagenet_relu3_1.safetensors",
        padding="zeros",
        tensor_digest="3110af6a3c280ee383590ad57073ed5b9ff67d95d8f266b436f69c95d5762438",
        downloads=tuple(
            Download(_LST, "master", f"weights/enc_r51/{layer}_{part}_0.npy", sha)
            for layer, shas in _KERAS_SHA.items()
            for part, sha in zip(("kernel", "bias"), shas)
        ),
        convert=_convert_keras_npy,
        about="original ImageNet VGG-19 (Oxford, CC BY 4.0, via Keras), zero padding, as in the paper",
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise WeightsError(f"unknown encoder {name!r}; choose one of: {', '.join(PROFILES)}") from None


def cache_dir() -> Path:
    return Path(os.environ.get("STYLESWAP_CACHE") or platformdirs.user_cache_dir("styleswap")) / "weights"


def tensor_digest(state: StateDict) -> str:
    """sha256 over sorted keys and raw tensor bytes: independent of file metadata and layout."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].contiguous().numpy().tobytes())
    return digest.hexdigest()


def load_state(path: Path, profile: Profile) -> StateDict:
    """Read and verify a safetensors weight file; a damaged file gives a message saying how to replace it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    hint = f"delete it and run `styleswap weights fetch --encoder {profile.name}`, or point STYLESWAP_MODELS at a folder holding {profile.filename}"
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"cannot read encoder weights {path}: {exc}; {hint}") from None
    if tensor_digest(state) != profile.tensor_digest:
        raise WeightsError(f"encoder weights {path} do not match the {profile.name} checksum (corrupt or different file); {hint}")
    return state


def candidates(profile: Profile, explicit: str | os.PathLike | None = None) -> list[Path]:
    """Where a profile's file may already be, in the order they are tried."""
    found: list[Path] = []
    explicit = explicit or os.environ.get("STYLESWAP_ENCODER_WEIGHTS")
    if explicit:
        return [Path(explicit)]
    if models := os.environ.get("STYLESWAP_MODELS"):
        found.append(Path(models) / profile.filename)
    found.append(cache_dir() / profile.filename)
    return found


def location(profile: Profile, explicit: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """The file ``resolve`` would use and whether it is there; when it is not, the place ``fetch`` would put it."""
    places = candidates(profile, explicit)
    for path in places:
        if path.is_file():
            return path, True
    return places[0] if explicit or os.environ.get("STYLESWAP_ENCODER_WEIGHTS") else cache_dir() / profile.filename, False


def next_steps(profile: Profile) -> str:
    """What a user can do when the weights cannot be found or fetched: said by every such error."""
    return (
        f"copy {profile.filename} into a folder and set STYLESWAP_MODELS to it, "
        f"run `styleswap weights fetch --encoder {profile.name}` where the internet is reachable, "
        "or set STYLESWAP_WEIGHTS_MIRROR to a folder or URL laid out as <owner>__<repo>/<path> (see the README)"
    )


def offline() -> bool:
    return os.environ.get("STYLESWAP_OFFLINE", "") not in ("", "0")


def mirror_url() -> str | None:
    """``STYLESWAP_WEIGHTS_MIRROR`` as a base URL (an existing folder or a file:// URL reads from disk, an http(s)://
    URL from a server); any other value is a one-line error, not a traceback from urllib."""
    value = os.environ.get("STYLESWAP_WEIGHTS_MIRROR", "").strip()
    if not value:
        return None
    scheme = urllib.parse.urlsplit(value).scheme.lower()
    if scheme in ("http", "https") and urllib.parse.urlsplit(value).netloc:
        return value
    folder = Path(urllib.request.url2pathname(urllib.parse.urlsplit(value).path)) if scheme == "file" else Path(value).expanduser()
    if (scheme == "file" or len(scheme) <= 1) and folder.is_dir():  # a one-letter scheme is a Windows drive
        return folder.resolve().as_uri()
    raise WeightsError(f"STYLESWAP_WEIGHTS_MIRROR={value!r} is neither an existing folder nor an http://, https:// or file:// URL of one")


def resolve(profile: Profile, explicit: str | os.PathLike | None = None, download: bool | None = None) -> Path:
    """Path of a verified weight file for ``profile``, downloading it once if allowed (``STYLESWAP_OFFLINE`` forbids
    it unless the mirror is a folder on this machine)."""
    path, found = location(profile, explicit)
    if found:
        return path
    places = candidates(profile, explicit)
    if explicit or os.environ.get("STYLESWAP_ENCODER_WEIGHTS"):
        raise WeightsError(f"encoder weights file {places[0]} does not exist")
    if download is None:
        download = not offline() or _local(mirror_url())
    if not download:
        raise WeightsError(f"{profile.filename} not found (looked in {', '.join(map(str, places))}) and STYLESWAP_OFFLINE forbids downloads; {next_steps(profile)}")
    return fetch(profile)


def fetch(profile: Profile, progress: bool = True) -> Path:
    """Download a profile's public files, check their sha256, convert and store them in the cache. With
    ``STYLESWAP_OFFLINE`` set only a mirror on this machine is read: nothing goes to the network."""
    mirror = mirror_url()
    if offline() and not _local(mirror):
        raise WeightsError(f"STYLESWAP_OFFLINE is set, so {profile.name} weights are not downloaded; unset it to download, or {next_steps(profile)}")
    target = cache_dir() / profile.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
        files = [_download(profile, item, item.url(mirror), Path(tmp) / f"{i:02d}-{item.name}", progress) for i, item in enumerate(profile.downloads)]
        try:
            state = profile.convert(files)
        except Exception as exc:  # a file that passed its checksum yet fails to parse means our converter is wrong
            raise WeightsError(f"could not convert downloaded {profile.name} weights: {exc}; please report this, and meanwhile {next_steps(profile)}") from exc
        if tensor_digest(state) != profile.tensor_digest:
            raise WeightsError(f"converted {profile.name} weights do not match the expected checksum; please report this, and meanwhile {next_steps(profile)}")
        partial = Path(tmp) / profile.filename
        from safetensors.torch import save_file

        save_file(state, str(partial), metadata={"profile": profile.name, "about": profile.about})
        os.replace(partial, target)
    return target


def _local(mirror: str | None) -> bool:
    return mirror is not None and mirror.startswith("file:")


def _download(profile: Profile, item: Download, url: str, dest: Path, progress: bool) -> Path:
    from tqdm import tqdm

    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=item.name, disable=not progress, leave=False) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError) else exc
        raise WeightsError(f"could not download {url}: {reason}; {next_steps(profile)}") from None
    if digest.hexdigest() != item.sha256:
        raise WeightsError(
            f"download of {url} is damaged or altered (sha256 {digest.hexdigest()[:16]}…, expected {item.sha256[:16]}…); "
            f"nothing was saved; try again, or {next_steps(profile)}"
        )
    return dest
