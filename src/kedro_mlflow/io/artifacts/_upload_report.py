"""What the end of a ``kedro run`` says about its saves: how many were logged, which were not.

Every save of the run counts: those whose upload failed or was abandoned, and those that
never reached the upload queue (the server was unreachable when the node saved: the node's
own error said so, and the run's report counts them too). Each artifact is named, logged or
not, so that "1 of 3 failed" can no longer hide a fourth save.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SaveOutcome:
    """One save of the run: the artifacts it wrote and, if they were not logged, why.

    Attributes:
        artifacts: The artifact names of the save (``reporting/a.csv``, or its partitions).
        error: Why they were not logged; ``None``: logged.
    """

    artifacts: tuple[str, ...]
    error: str | None = None


def _names(outcomes: list[SaveOutcome]) -> str:
    return ", ".join(f"'{name}'" for outcome in outcomes for name in outcome.artifacts)


def report(outcomes: list[SaveOutcome], problems: list[str]) -> str | None:
    """The message of a run whose saves were not all logged (or recorded), else ``None``.

    Args:
        outcomes: Every save of the run, in the order they were made.
        problems: What went wrong after the files were logged (their digests not recorded).

    Examples:
        >>> print(report([SaveOutcome(("a.csv",)), SaveOutcome(("b.csv",), "timed out")], []))
        1 of 2 save(s) of this run not logged into MLflow (their local files are kept):
        - 'b.csv': timed out
        Logged: 'a.csv'.
    """
    failed = [outcome for outcome in outcomes if outcome.error is not None]
    logged = [outcome for outcome in outcomes if outcome.error is None]
    if not failed and not problems:
        return None
    lines = []
    if failed:
        lines.append(
            f"{len(failed)} of {len(outcomes)} save(s) of this run not logged into MLflow "
            f"(their local files are kept):"
        )
        lines.extend(f"- {_names([outcome])}: {outcome.error}" for outcome in failed)
        lines.append(f"Logged: {_names(logged) or 'nothing'}.")
    else:
        lines.append(f"All {len(outcomes)} save(s) of this run were logged into MLflow, but:")
    lines.extend(f"- {problem}" for problem in problems)
    return "\n".join(lines)
