"""Live progress of a run in the terminal (rich), fed by journal events."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from aichaos.verdict import Verdict

__all__ = ["STYLES", "Progress", "verdict_markup"]

#: the rich style of each verdict
STYLES: dict[Verdict, str] = {
    Verdict.PASSED: "bold green",
    Verdict.DEVIATED: "bold yellow",
    Verdict.INCONCLUSIVE: "bold blue",
    Verdict.ABORTED: "bold red",
    Verdict.FAILED_BASELINE: "bold magenta",
    Verdict.ERROR: "bold red",
}


def verdict_markup(status: str, text: str | None = None) -> str:
    """``text`` (default: ``status``) in the rich markup of verdict ``status``."""
    style = STYLES.get(status, "bold")  # type: ignore[call-overload]
    return f"[{style}]{status if text is None else text}[/{style}]"


class Progress:
    """Prints one line per meaningful event; samples update a compact SLO line."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._last_ok: bool | None = None

    def __call__(self, e: dict[str, Any]) -> None:
        kind = e["event"]
        t = f"[dim]{e['t']:7.2f}s[/dim]"
        c = self.console
        if kind == "run-started":
            c.print(f"{t} [bold]{e['title']}[/bold]  seed={e['seed']}")
        elif kind == "phase":
            c.print(f"{t} phase [cyan]{e['phase']}[/cyan]")
        elif kind == "fault-applied":
            level = f" level={e['level']:g}" if e.get("level") is not None else ""
            c.print(
                f"{t} [red]+ {e['step']}[/red] {e['fault']['type']} on {e.get('target')}{level}"
            )
        elif kind == "ramp-level" and e.get("note"):
            c.print(f"{t} [yellow]! {e['step']} {e['field']}={e['level']:g}: {e['note']}[/yellow]")
        elif kind == "fault-reverted":
            c.print(f"{t} [green]- {e['step']}[/green] reverted")
        elif kind == "fault-revert-failed":
            c.print(f"{t} [bold red]! {e['step']} revert failed: {e['error']}[/bold red]")
        elif kind in ("fault-apply-failed", "probe-error"):
            who = e.get("step") or e.get("source")
            c.print(f"{t} [yellow]! {kind} {who}: {e['error']}[/yellow]")
        elif kind == "steady-state":
            waiting = not e["ok"] and all(
                x["ok"] or str(x["detail"]).startswith("no data") for x in e["checks"]
            )
            if e["phase"] == "injecting" and waiting:
                return  # no sample yet in this phase: not a verdict, the engine skips it too
            if e["phase"] == "injecting" and e["ok"] == self._last_ok:
                return  # during injection, print only when the verdict flips
            self._last_ok = e["ok"] if e["phase"] == "injecting" else None
            parts = ", ".join(f"{x['slo']}={_shown(x['value'])}" for x in e["checks"])
            mark = "[green]held[/green]" if e["ok"] else "[red]BROKE[/red]"
            c.print(f"{t} steady state ({e['phase']}) {mark}: {parts}")
        elif kind == "abort":
            c.print(f"{t} [bold red]ABORT[/bold red] {e['reason']}")
        elif kind == "breaking-point":
            c.print(
                f"{t} [bold]breaking point[/bold] {e['step']} {e['field']}: "
                f"held at {e['held']}, broke at {e['broke']}"
            )
        elif kind == "rollback":
            ok = "[green]ok[/green]" if e["ok"] else f"[red]failed: {e.get('error')}[/red]"
            c.print(f"{t} rollback {e['action']}: {ok}")
        elif kind == "run-ended":
            c.print(f"{t} {verdict_markup(e['status'], e['status'].upper())} {e['reason']}")


def _shown(value: Any) -> str:
    """A check's value: 4 significant digits, ``-`` for none; the journal writes a NaN or
    an infinity as a string (``"nan"``), which is shown as it is."""
    if value is None:
        return "-"
    return format(value, ".4g") if isinstance(value, (int, float)) else str(value)
