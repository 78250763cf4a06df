"""The verdict of a run, and the process exit code of each: the one list of verdicts.

The engine writes a :class:`Verdict` into the journal's ``run-ended`` event; the CLI
exits with :attr:`Verdict.exit_code`; reports, JUnit, OpenTelemetry and the pytest plugin
read the same names. A new verdict is added here, with its exit code, and nowhere else.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["EXIT_BAD_INPUT", "EXIT_CODES", "Verdict"]


class Verdict(StrEnum):
    """How a run ended. The values are the strings journals and reports carry."""

    PASSED = "passed"
    """The steady state held during injection and after recovery."""
    DEVIATED = "deviated"
    """The steady state did not hold during injection, or did not recover."""
    INCONCLUSIVE = "inconclusive"
    """The steady state held, but a fault provably touched nothing: no proof either way."""
    ABORTED = "aborted"
    """A guardrail, the kill switch, a signal or the time limit stopped the run."""
    FAILED_BASELINE = "failed-baseline"
    """The steady state did not hold before any fault: nothing was learned."""
    ERROR = "error"
    """The run itself went wrong (a fault could not be applied or reverted, a crash)."""

    @property
    def exit_code(self) -> int:
        """The documented exit code of ``aichaos run`` for this verdict."""
        return EXIT_CODES[self]

    @property
    def system_failed(self) -> bool:
        """True when the system under test did not hold (not when the run went wrong)."""
        return self in (Verdict.DEVIATED, Verdict.ABORTED, Verdict.FAILED_BASELINE)


#: process exit code of ``aichaos run`` for each verdict
EXIT_CODES: dict[Verdict, int] = {
    Verdict.PASSED: 0,
    Verdict.DEVIATED: 1,
    Verdict.ABORTED: 3,
    Verdict.FAILED_BASELINE: 4,
    Verdict.ERROR: 5,
    Verdict.INCONCLUSIVE: 6,
}
#: exit code for bad input: an experiment file, CLI flag or file that does not validate
EXIT_BAD_INPUT = 2
