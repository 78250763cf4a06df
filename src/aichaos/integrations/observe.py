"""The observers ``aichaos run`` attaches on request: Prometheus and OpenTelemetry.

:func:`observer_options` adds the command-line flags; :meth:`Observers.attach` turns
them into journal listeners before the run (every mistake is a :class:`ValidationError`
naming the flag); :meth:`Observers.flush` exports the last spans once the run ended and
:meth:`Observers.finish` pushes the final metrics to a Pushgateway and keeps the
``/metrics`` endpoint up for its linger, so a scraper sees the verdict.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from aichaos.engine.signals import stop_requested
from aichaos.errors import ValidationError

__all__ = ["Observers", "observer_options"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = [
    click.option(
        "--metrics-port",
        type=click.IntRange(0, 65535),
        default=None,
        help="serve Prometheus metrics of the run on 127.0.0.1:PORT (0: a free port)",
    ),
    click.option(
        "--metrics-host",
        default="127.0.0.1",
        show_default=True,
        help="address of the metrics endpoint; other than loopback it needs --metrics-token",
    ),
    click.option(
        "--metrics-token",
        envvar="AICHAOS_METRICS_TOKEN",
        default=None,
        help="require 'Authorization: Bearer TOKEN' on every scrape (env AICHAOS_METRICS_TOKEN)",
    ),
    click.option(
        "--metrics-insecure",
        is_flag=True,
        help="serve metrics on a non-loopback --metrics-host without a token",
    ),
    click.option(
        "--metrics-linger-s",
        type=click.FloatRange(min=0),
        default=None,
        help="keep serving metrics this long after the verdict so a scraper sees it "
        "(default 30: two scrape intervals of a 15 s Prometheus)",
    ),
    click.option(
        "--metrics-pushgateway",
        default=None,
        help="push the run's final metrics to this Prometheus Pushgateway (http(s) URL; "
        "job 'aichaos', grouped by experiment and run_id)",
    ),
    click.option(
        "--otel",
        is_flag=True,
        help="export the run as OpenTelemetry spans while it runs, over OTLP as the standard "
        "OTEL_EXPORTER_OTLP_* variables say (needs aichaos[otel])",
    ),
]


def observer_options(command: F) -> F:
    """Add the ``--metrics-*`` and ``--otel`` options to a click command."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


@dataclass
class Observers:
    """What was attached to a run's journal, and how to end it."""

    metrics: Any = None  # EngineMetrics
    server: Any = None  # MetricsServer
    spans: Any = None  # TracerProvider
    linger_s: float | None = None
    pushgateway: str | None = None

    @classmethod
    def attach(cls, journal: Any, **options: Any) -> Observers:
        """Listeners on ``journal`` for the :func:`observer_options` given."""
        port, host = options.get("metrics_port"), options.get("metrics_host") or "127.0.0.1"
        token, insecure = options.get("metrics_token"), bool(options.get("metrics_insecure"))
        gateway = options.get("metrics_pushgateway")
        out = cls(linger_s=options.get("metrics_linger_s"), pushgateway=gateway)
        if port is None and (out.linger_s is not None or token or host != "127.0.0.1"):
            raise ValidationError(
                "--metrics-host, --metrics-token and --metrics-linger-s need --metrics-port"
            )
        if gateway is not None and not str(gateway).startswith(("http://", "https://")):
            raise ValidationError(f"--metrics-pushgateway must be an http(s) URL, got {gateway!r}")
        if port is not None or gateway is not None:
            from aichaos.integrations.prometheus import EngineMetrics, MetricsServer

            out.metrics = EngineMetrics()
            if port is not None:
                try:
                    out.server = MetricsServer(out.metrics.registry, port, host, token, insecure)
                except ValidationError as exc:
                    raise ValidationError(f"--metrics-host: {exc}") from None
                except OSError as exc:
                    raise ValidationError(
                        f"--metrics-port: cannot listen on {host}:{port}: {exc}"
                    ) from None
            journal.listeners.append(out.metrics)
        if options.get("otel"):
            from aichaos.integrations.otel import SpanWriter, otlp_tracer_provider

            try:
                out.spans = otlp_tracer_provider()
            except ValidationError as exc:
                raise ValidationError(f"--otel: {exc}") from None
            journal.listeners.append(SpanWriter(out.spans))
        return out

    @property
    def url(self) -> str | None:
        """The ``/metrics`` URL, when an endpoint serves."""
        return self.server.url if self.server is not None else None

    def flush(self) -> None:
        """Export the spans the batch still holds (bounded by ``OTEL_BSP_*``)."""
        if self.spans is not None:
            self.spans.shutdown()
            self.spans = None

    def finish(self, echo: Callable[[str], None]) -> None:
        """After the verdict: push to the Pushgateway, then linger, then stop serving."""
        self.flush()
        if self.pushgateway is not None and self.metrics is not None:
            self._push(echo)
        if self.server is None:
            return
        from aichaos.integrations.prometheus import DEFAULT_LINGER_S

        seconds = DEFAULT_LINGER_S if self.linger_s is None else self.linger_s
        if seconds > 0:
            echo(f"metrics: serving the verdict {seconds:g}s more at {self.server.url}")
            with contextlib.suppress(KeyboardInterrupt):  # no handler: Ctrl-C ends it
                stop_requested.wait(seconds)  # SIGINT/SIGTERM after the run end it early
        self.server.stop()

    def _push(self, echo: Callable[[str], None]) -> None:
        from prometheus_client import push_to_gateway

        experiment, run_id = self.metrics.labels
        try:
            push_to_gateway(
                str(self.pushgateway),
                job="aichaos",
                registry=self.metrics.registry,
                grouping_key={"experiment": experiment, "run_id": run_id},
                timeout=10,
            )
        except OSError as exc:  # the verdict stands; the push is a report of it
            echo(f"metrics: could not push to {self.pushgateway}: {exc}")
            return
        echo(f"metrics: pushed to {self.pushgateway}")
