"""Mark the mutants that cannot change behaviour as skipped in a cosmic-ray session, before any is run.

- inside type annotations, in modules written with ``from __future__ import annotations``: never evaluated, so
  ``float | None`` made ``float - None`` changes nothing;
- inside the arguments of a logging call (``log.info("%d done", n * 2)``): the text of a log line, not a result.

Docstrings and other strings need no filter: cosmic-ray has no string operators. Operators left out on purpose
(the redundant binary-operator replacements) are skipped by cosmic-ray's own operators filter (scripts/mutate.sh).

    python scripts/mutation_filter.py SESSION.sqlite MODULE.py
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import WorkerOutcome, WorkResult

Span = tuple[tuple[int, int], tuple[int, int]]
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


def _span(node: ast.AST) -> Span:
    return (node.lineno, node.col_offset), (node.end_lineno, node.end_col_offset)


def annotation_spans(tree: ast.AST) -> list[Span]:
    """(start, end) (line, column) of every annotation: arguments, returns and annotated assignments."""
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            found.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
    return [_span(n) for n in found]


def logging_spans(tree: ast.AST) -> list[Span]:
    """The arguments of calls like ``log.info(...)``, ``logger.warning(...)``, ``logging.debug(...)``."""
    return [
        _span(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LOG_METHODS
        and isinstance(node.func.value, ast.Name) and "log" in node.func.value.id.lower()
        for arg in [*node.args, *(k.value for k in node.keywords)]
    ]


def main(session: str, module: str) -> int:
    source = Path(module).read_text()
    tree = ast.parse(source)
    reasons = {"inside a logging call's arguments": logging_spans(tree)}
    if "from __future__ import annotations" in source:  # otherwise annotations are evaluated: their mutants are real
        reasons["inside an annotation, never evaluated"] = annotation_spans(tree)
    with use_db(session, WorkDB.Mode.open) as db:
        for reason, spans in reasons.items():
            skipped = [
                item.job_id
                for item in db.pending_work_items
                if all(any(start <= tuple(m.start_pos) and tuple(m.end_pos) <= end for start, end in spans) for m in item.mutations)
            ]
            for job_id in skipped:
                db.set_result(job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=reason))
            print(f"{len(skipped)} mutants skipped: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
