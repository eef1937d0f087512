"""Training the inverse network with the paper's recipe: real AND style-swapped activations in every batch.

Each step draws 2 photos and 2 paintings, encodes them, adds the 2x2 swapped latents (photo content, painting
style) and minimises ‖Φ(D(z)) − z‖²/‖z‖² + λ·TV(D(z)) over all 8. Without augmentation (the ablation) only the 4
real latents are used, with the same number of steps.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from safetensors.torch import load_file
from tqdm import tqdm

from styleswap.engine.encoder import Encoder
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.images import SUFFIXES
from styleswap.engine.invnet import InverseNet, grow, residual_blocks_in, save_inverse
from styleswap.engine.metrics import total_variation
from styleswap.engine.swap import prepare_style, swap
from styleswap.tools.train_config import TrainConfig

VALIDATION_SHARE = 20  # one image in 20, chosen by a hash of its name, is held out for the validation curves


def image_files(folder: str | Path) -> list[Path]:
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in SUFFIXES)
    if len(files) < 2:
        raise StyleSwapError(f"{folder}: need at least 2 images to train, found {len(files)}")
    return files


def split(files: list[Path]) -> tuple[list[Path], list[Path]]:
    """(train, validation), stable under adding or removing other files."""
    held = [int(hashlib.sha1(p.name.encode()).hexdigest(), 16) % VALIDATION_SHARE == 0 for p in files]
    return [p for p, h in zip(files, held) if not h], [p for p, h in zip(files, held) if h]


def load_crop(path: Path, size: int, rng: random.Random | None) -> torch.Tensor:
    """A size x size crop (random with flips when ``rng`` is given, else centred), RGB in [0, 1], (3, S, S)."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        if min(image.size) < size:
            scale = size / min(image.size)
            image = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))), Image.Resampling.LANCZOS)
        if rng:
            left, top = rng.randint(0, image.width - size), rng.randint(0, image.height - size)
        else:
            left, top = (image.width - size) // 2, (image.height - size) // 2
        crop = image.crop((left, top, left + size, top + size))
        if rng and rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255.0).permute(2, 0, 1)


def latents(encoder: Encoder, photos: torch.Tensor, paintings: torch.Tensor, augment: bool, patch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(real latents of all images, swapped latents photo_i x painting_j) without gradients."""
    with torch.no_grad():
        real = encoder(torch.cat([photos, paintings]))
        if not augment:
            return real, real[:0]
        count = photos.shape[0]
        styles = [prepare_style(real[count + j : count + j + 1], patch_size) for j in range(paintings.shape[0])]
        swapped = torch.cat([swap(real[i : i + 1], style) for i in range(count) for style in styles])
        return real, swapped


def objective(encoder: Encoder, net: InverseNet, z: torch.Tensor, tv: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(training loss, per-latent swap objective ‖Φ(D(z)) − z‖²/‖z‖²)."""
    image = net(z)
    error = (encoder(image) - z).pow(2).flatten(1).sum(1) / z.pow(2).flatten(1).sum(1).clamp_min(1e-12)
    return error.mean() + tv * total_variation(image), error.detach()


class Trainer:
    def __init__(self, config: TrainConfig, encoder: Encoder, device: torch.device, resume: str | None = None) -> None:
        self.config, self.device = config, device
        self.out = Path(config.out)
        self.out.mkdir(parents=True, exist_ok=True)
        photos, self.val_photos = split(image_files(config.photos))
        paintings, self.val_paintings = split(image_files(config.paintings))
        self.photos, self.paintings = photos, paintings
        if not (self.val_photos and self.val_paintings and len(photos) >= 2 and len(paintings) >= 2):
            raise StyleSwapError(f"too few images: one in {VALIDATION_SHARE} is held out for validation, so each folder needs a few dozen")
        torch.manual_seed(config.seed)
        self.rng = random.Random(config.seed)
        # channels-last convolutions run faster on CPU (oneDNN) and are no slower on CUDA
        self.encoder = encoder.to(memory_format=torch.channels_last)
        self.net = InverseNet(config.residual_blocks).to(device, memory_format=torch.channels_last)
        self.optimiser = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimiser, self._lr_factor)
        self.step = 0
        if resume:
            self._resume(Path(resume))
        self.validation = self._validation_batch()

    def _lr_factor(self, step: int) -> float:
        """The paper's lr / (1 + decay·t), times a linear fall to zero over the last ``anneal`` steps.

        The factor is a function of the step alone, so a resumed run may add or change the annealing."""
        config = self.config
        fall = min(1.0, (config.steps - step) / config.anneal) if config.anneal else 1.0
        return fall / (1.0 + config.lr_decay * step)

    def _resume(self, path: Path) -> None:
        if not path.is_file():
            raise StyleSwapError(f"cannot resume: {path} does not exist")
        if path.suffix == ".safetensors":  # our exported weights: continue training them (or grow them) with a fresh optimiser
            grow(self.net, {k: v.float().to(self.device) for k, v in load_file(str(path)).items()})
            return
        state = torch.load(path, map_location=self.device, weights_only=False)
        blocks = residual_blocks_in(state["net"])
        if blocks != self.net.residual_blocks:
            raise StyleSwapError(f"{path} was trained with {blocks} residual blocks: resume it with --residual-blocks {blocks}")
        self.net.load_state_dict(state["net"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.schedule.load_state_dict(state["schedule"])
        self.step = state["step"]
        self.rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])

    def _validation_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        count = self.config.val_images
        photos = torch.stack([load_crop(p, self.config.size, None) for p in self.val_photos[:count]])
        paintings = torch.stack([load_crop(p, self.config.size, None) for p in self.val_paintings[:count]])
        return _device(photos, self.device), _device(paintings, self.device)

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        size = self.config.size
        photos = torch.stack([load_crop(p, size, self.rng) for p in self.rng.sample(self.photos, 2)])
        paintings = torch.stack([load_crop(p, size, self.rng) for p in self.rng.sample(self.paintings, 2)])
        return _device(photos, self.device), _device(paintings, self.device)

    def validate(self) -> tuple[float, float]:
        """Mean swap objective on held-out real latents and on held-out swapped latents (photo i x painting i)."""
        photos, paintings = self.validation
        self.net.eval()
        real_errors, swapped_errors = [], []
        with torch.no_grad():
            for i in range(min(photos.shape[0], paintings.shape[0])):
                real = self.encoder(torch.stack([photos[i], paintings[i]]))
                swapped = swap(real[:1], prepare_style(real[1:], self.config.patch_size))
                real_errors.append(objective(self.encoder, self.net, real, 0.0)[1])
                swapped_errors.append(objective(self.encoder, self.net, swapped, 0.0)[1])
        self.net.train()
        return float(torch.cat(real_errors).mean()), float(torch.cat(swapped_errors).mean())

    def save(self) -> None:
        state = {
            "net": self.net.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "schedule": self.schedule.state_dict(),
            "step": self.step,
            "rng": self.rng.getstate(),
            "torch_rng": torch.get_rng_state(),
        }
        torch.save(state, self.out / "checkpoint.pt.tmp")
        (self.out / "checkpoint.pt.tmp").replace(self.out / "checkpoint.pt")
        save_inverse(self.net, self.out / "inverse.safetensors", {"steps": str(self.step), "config": json.dumps(asdict(self.config))})

    def run(self, progress: bool = True) -> Path:
        config = self.config
        log = self.out / "losses.csv"
        fresh = self.step == 0 or not log.exists()
        if not fresh:
            _truncate_log(log, self.step)
        with open(log, "w" if fresh else "a", newline="") as f:
            writer = csv.writer(f)
            if fresh:
                writer.writerow(["step", "loss", "val_real", "val_swapped", "lr", "seconds"])
            started = time.perf_counter()
            bar = tqdm(total=config.steps, initial=self.step, disable=not progress, desc="train-inverse")
            while self.step < config.steps:
                photos, paintings = self._batch()
                real, swapped = latents(self.encoder, photos, paintings, config.augment, config.patch_size)
                loss, _ = objective(self.encoder, self.net, torch.cat([real, swapped]), config.tv)
                self.optimiser.zero_grad(set_to_none=True)
                loss.backward()
                self.optimiser.step()
                self.schedule.step()
                self.step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.4f}")
                row = [self.step, f"{loss.item():.6f}", "", "", f"{self.schedule.get_last_lr()[0]:.3e}", f"{time.perf_counter() - started:.1f}"]
                if self.step % config.val_every == 0 or self.step == config.steps:
                    val_real, val_swapped = self.validate()
                    row[2:4] = f"{val_real:.6f}", f"{val_swapped:.6f}"
                    bar.write(f"step {self.step}: val real {val_real:.4f}, val swapped {val_swapped:.4f}")
                writer.writerow(row)
                f.flush()
                if self.step % config.checkpoint_every == 0 or self.step == config.steps:
                    self.save()
            bar.close()
        plot_runs([log], [self.out.name], self.out / "losses.png")
        return self.out / "inverse.safetensors"


def _truncate_log(log: Path, step: int) -> None:
    """Drop rows logged after the checkpoint being resumed, so the continued run does not log those steps twice."""
    with open(log, newline="") as f:
        rows = list(csv.reader(f))
    kept = [rows[0]] + [r for r in rows[1:] if int(r[0]) <= step]
    tmp = log.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        csv.writer(f).writerows(kept)
    tmp.replace(log)


def _device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    return batch.to(device).contiguous(memory_format=torch.channels_last)


def plot_runs(logs: list[Path], labels: list[str], output: Path, offsets: list[int] | None = None) -> None:
    """Training loss and validation curves of one or more runs in one figure (the ablation figure); ``offsets`` shift
    a run's steps, to draw a run started from another's weights where that one ended."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 4.5))
    for run, (log, label) in enumerate(zip(logs, labels)):
        colour = f"C{run}"
        with open(log) as f:
            rows = list(csv.DictReader(f))
        shift = offsets[run] if offsets else 0
        steps = np.array([int(r["step"]) + shift for r in rows])
        loss = np.array([float(r["loss"]) for r in rows])
        window = max(1, len(loss) // 50)
        left.plot(steps[window - 1 :], np.convolve(loss, np.ones(window) / window, mode="valid"), colour, label=label)
        val = [r for r in rows if r["val_real"]]
        vsteps = [int(r["step"]) + shift for r in val]
        right.plot(vsteps, [float(r["val_swapped"]) for r in val], colour, marker="o", label=f"{label}: swapped latents")
        right.plot(vsteps, [float(r["val_real"]) for r in val], colour, linestyle="--", label=f"{label}: real latents")
    left.set(title="training loss (moving average)", xlabel="step", ylabel="loss", yscale="log")
    right.set(title="validation: ‖Φ(D(z)) − z‖² / ‖z‖²", xlabel="step", yscale="log")
    left.legend()
    right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # outside: the curves fill the axes
    fig.tight_layout()
    fig.savefig(output, dpi=110)
    plt.close(fig)
