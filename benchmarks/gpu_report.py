"""Gathers what ``benchmarks/gpu_check.sh`` left in its work folder into gpu_check.json, gpu_check.md and
gpu_check.log in the output folder; exits 0 when every step passed.

Standard library only, so that the results are written even when installing the project failed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

BENCHES = {"bench_1080": "1920x1080", "bench_2160": "3840x2160"}
# the targets, per frame, float16, end to end with a cached style
TARGETS = {"bench_1080": 0.033, "bench_2160": 0.150}


def steps(work: Path) -> list[dict]:
    rows = []
    for line in (work / "steps.tsv").read_text().splitlines() if (work / "steps.tsv").is_file() else []:
        name, status, rc, ms, budget = line.split("\t")
        rows.append({"name": name, "status": status, "exit": int(rc) if rc else None, "seconds": int(ms) / 1000, "budget_seconds": int(budget)})
    return rows


def cuda_tests(work: Path) -> dict | None:
    """Counts and names from pytest's JUnit XML: what ran, what failed and why, what was skipped and why."""
    path = work / "cuda_tests.xml"
    if not path.is_file():
        return None
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failures, skips = [], {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        if outcome is None:
            counts["passed"] += 1
        elif outcome.tag == "skipped":
            counts["skipped"] += 1
            reason = (outcome.get("message") or "").removeprefix("Skipped: ")
            skips[reason] = skips.get(reason, 0) + 1
        else:
            counts["failed" if outcome.tag == "failure" else "errors"] += 1
            failures.append({"test": name, "message": (outcome.get("message") or "")[:500]})
    return {"collected": sum(counts.values()), **counts, "failures": failures, "skip_reasons": skips}


def load_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def targets(benches: dict[str, dict | None], frame_8k: dict | None, dry_run: bool) -> list[dict]:
    """The issue's goals: 1080p in 33 ms and 4K in 150 ms a frame (float16, cached style), 8K completes."""
    rows = []
    for step, limit in TARGETS.items():
        report = benches.get(step)
        row = report["sizes"][0] if report and report.get("sizes") else None
        seconds = row["seconds"]["end_to_end_invnet_cached_style"] if row else None
        what = f"{row['size'] if row else BENCHES[step]} end to end with a cached style, {report['precision'] if report else 'float16'}"
        met = None if dry_run or seconds is None or not report["device"].startswith("cuda") else seconds <= limit
        rows.append({"what": what, "limit_seconds": limit, "seconds": seconds, "met": met})
    frames = frame_8k["frames"] if frame_8k else []
    rows.append(
        {
            "what": f"{'x'.join(map(str, frames[0]['size'])) if frames else '7680x4320'} completes",
            "limit_seconds": None,
            "seconds": frames[0]["timings"]["total"] if frames else None,
            "met": None if dry_run else bool(frames),
        }
    )
    return rows


def markdown(report: dict, work: Path) -> str:
    card = report["gpu"]["name"] if report.get("gpu") else "no CUDA card"
    title = "GPU check (dry run: tiny sizes on the CPU; no GPU figures)" if report["dry_run"] else f"GPU check on {card}"
    lines = [
        f"# {title}",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(report['started']))}, {report['seconds']:.0f} s of a {report['budget_seconds']} s budget; install: {report['install']}; python: {report['python']}",
        "",
    ]
    if report.get("nvidia_smi"):
        lines += [f"nvidia-smi: {report['nvidia_smi']}", ""]
    lines += ["| step | status | seconds | budget s |", "|---|---|---|---|"]
    lines += [f"| {s['name']} | {s['status']} | {s['seconds']:.1f} | {s['budget_seconds']} |" for s in report["steps"]]
    lines += ["", "## Targets", "", "| what | limit s | seconds | met |", "|---|---|---|---|"]
    for t in report["targets"]:
        seconds = "-" if t["seconds"] is None else f"{t['seconds']:.4f}"
        met = {True: "yes", False: "NO", None: "not judged" if report["dry_run"] else "-"}[t["met"]]
        lines.append(f"| {t['what']} | {t['limit_seconds'] if t['limit_seconds'] is not None else '-'} | {seconds} | {met} |")
    tests = report["cuda_tests"]
    lines += ["", "## Tests marked cuda or mps", ""]
    if tests is None:
        lines.append("no results (the step did not run or did not finish)")
    else:
        lines.append(
            f"{tests['collected']} collected: {tests['passed']} passed, {tests['failed']} failed, {tests['errors']} errors, {tests['skipped']} skipped"
        )
        lines += [f"- FAILED {f['test']}: {f['message'].splitlines()[0] if f['message'] else ''}" for f in tests["failures"]]
        lines += [f"- skipped ({count}): {reason}" for reason, count in tests["skip_reasons"].items()]
    for step, heading in (
        ("bench_1080", "styleswap bench, {}"),
        ("bench_2160", "styleswap bench, {}"),
        ("frame_8k", "{} end to end (benchmarks/high_resolution.py)"),
    ):
        ran = report["frame_8k"] if step == "frame_8k" else report["bench"][step]
        if step == "frame_8k":
            heading = heading.format("x".join(map(str, ran["frames"][0]["size"])) if ran and ran["frames"] else "7680x4320")
        else:
            heading = heading.format(ran["sizes"][0]["size"] if ran and ran["sizes"] else BENCHES[step])
        out = work / f"{step}.out"
        lines += [
            "",
            f"## {heading}",
            "",
            out.read_text().strip() if out.is_file() and out.stat().st_size else "no output (the step did not run or failed: see gpu_check.log)",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--dry-run", type=int, default=0)
    parser.add_argument("--install", default="")
    parser.add_argument("--python", default="")
    parser.add_argument("--budget", type=int, required=True)
    parser.add_argument("--started", type=float, required=True)
    parser.add_argument("--models", default="")
    parser.add_argument("--data", default="")
    args = parser.parse_args()
    benches = {step: load_json(args.work / f"{step}.json") for step in BENCHES}
    frame_8k = load_json(args.work / "frame_8k.json")
    smi = args.work / "nvidia_smi.out"
    first = next((b for b in benches.values() if b), None)
    report = {
        "dry_run": bool(args.dry_run),
        "started": args.started,
        "seconds": time.time() - args.started,
        "budget_seconds": args.budget,
        "install": args.install,
        "python": args.python,
        "models": args.models,
        "data": args.data,
        "gpu": first.get("gpu") if first else None,
        "nvidia_smi": smi.read_text().strip() if smi.is_file() else None,
        "machine": first["machine"] if first else None,
        "steps": steps(args.work),
        "cuda_tests": cuda_tests(args.work),
        "bench": benches,
        "frame_8k": frame_8k,
        "targets": targets(benches, frame_8k, bool(args.dry_run)),
    }
    report["passed"] = bool(report["steps"]) and all(s["status"] == "ok" for s in report["steps"])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    (args.out / "gpu_check.md").write_text(markdown(report, args.work))
    if (args.work / "gpu_check.log").is_file():
        shutil.copyfile(args.work / "gpu_check.log", args.out / "gpu_check.log")
    print(f"gpu_check: {'every step passed' if report['passed'] else 'NOT every step passed'}; results in {args.out}/gpu_check.md, .json and .log")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
