"""Mark the mutants that fall inside type annotations as skipped in a cosmic-ray session.

Modules written with ``from __future__ import annotations`` never evaluate their annotations, so a mutant there
(``float | None`` made ``float - None``) cannot change behaviour: running the tests for it would only cost time.

    python scripts/mutation_skip_annotations.py SESSION.sqlite MODULE.py
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import WorkerOutcome, WorkResult


def annotation_spans(tree: ast.AST) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) (line, column) of every annotation: arguments, returns and annotated assignments."""
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            found.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
    return [((n.lineno, n.col_offset), (n.end_lineno, n.end_col_offset)) for n in found]


def main(session: str, module: str) -> int:
    source = Path(module).read_text()
    if "from __future__ import annotations" not in source:
        return 0  # annotations are evaluated: their mutants are real
    spans = annotation_spans(ast.parse(source))
    with use_db(session, WorkDB.Mode.open) as db:
        skipped = [
            item.job_id
            for item in db.pending_work_items
            if all(any(start <= tuple(m.start_pos) and tuple(m.end_pos) <= end for start, end in spans) for m in item.mutations)
        ]
        for job_id in skipped:
            db.set_result(job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output="inside an annotation, never evaluated"))
    print(f"{len(skipped)} mutants inside annotations skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
