"""Summarise a cosmic-ray session: counts by outcome, then each surviving mutant with its source line and diff.

    python scripts/mutation_survivors.py .mutation/replay/session.sqlite
    python scripts/mutation_survivors.py .mutation/replay/session.sqlite --requeue   # survivors back to pending

After new tests, ``--requeue`` then ``MUTATION_RESUME=1 scripts/mutate.sh MODULE`` runs only the survivors again.
"""

from __future__ import annotations

import sqlite3
import sys
from collections import Counter
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome


def requeue(session: str) -> None:
    with sqlite3.connect(session) as db:
        count = db.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'").rowcount
    print(f"{count} survivors pending again")


def main(session: str) -> int:
    with use_db(session, WorkDB.Mode.open) as db:
        done = list(db.completed_work_items)
        pending = db.num_work_items - db.num_results
    # skipped mutants by why: an annotation, a logging call, an operator left out ("Filtered operator")
    counts = Counter(result.test_outcome or f"skipped ({result.output})" if result.worker_outcome == WorkerOutcome.SKIPPED else (result.test_outcome or result.worker_outcome).value for _, result in done)
    print(f"{session}: {len(done)} mutants done or skipped, {pending} pending: " + ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())))
    for item, result in sorted(done, key=lambda pair: pair[0].mutations[0].start_pos):
        if result.test_outcome != TestOutcome.SURVIVED:
            continue
        for mutation in item.mutations:
            line = Path(mutation.module_path).read_text().splitlines()[mutation.start_pos[0] - 1].strip()
            print(f"\nSURVIVED {mutation.module_path}:{mutation.start_pos[0]} {mutation.operator_name} #{mutation.occurrence}\n    {line}")
        print("\n".join("    " + row for row in (result.diff or "").splitlines() if row.startswith(("+", "-")) and not row.startswith(("+++", "---"))))
    return 0


if __name__ == "__main__":
    if sys.argv[2:] == ["--requeue"]:
        requeue(sys.argv[1])
    sys.exit(main(sys.argv[1]))
