"""``aichaos proxy``: run the chaos proxy's control API (Toxiproxy-compatible)."""

from __future__ import annotations

import sys

import click

__all__ = ["proxy_command"]


@click.command("proxy")
@click.option("--host", default="127.0.0.1", show_default=True, help="control API address")
@click.option("--port", default=8474, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON (or YAML) array of proxies to create at start, as Toxiproxy's -config",
)
@click.option("--seed", type=int, default=None, help="seed of every random choice")
@click.option(
    "--token",
    envvar="AICHAOS_TOKEN",
    default=None,
    help="require 'Authorization: Bearer TOKEN' on every API request (env AICHAOS_TOKEN; "
    "prefer the environment: a flag shows in the process list)",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="serve the API on a non-loopback --host without a token (anyone who reaches it "
    "can control every proxy)",
)
@click.option(
    "--busy-poll-us",
    default=0,
    show_default=True,
    type=click.IntRange(0, 10_000),
    help="keep polling this long after each I/O instead of sleeping (0: off). On a VM "
    "where the proxy has a core of its own, ~100 removes the wake-up it adds to every "
    "round trip; where it shares a core with its peers it makes round trips slower",
)
def proxy_command(
    host: str,
    port: int,
    config_path: str | None,
    seed: int | None,
    token: str | None,
    insecure: bool,
    busy_poll_us: int,
) -> None:
    """Serve a Toxiproxy-compatible chaos proxy with HTTP- and AI-aware toxics.

    The API binds 127.0.0.1 by default; another --host needs a token (or --insecure).
    """
    try:
        import httptools  # noqa: F401
    except ImportError:
        raise click.UsageError("the proxy needs httptools: pip install 'aichaos[proxy]'") from None
    from aichaos.errors import ValidationError
    from aichaos.proxy.server import ApiSite, load_config, run

    def ready(site: ApiSite) -> None:
        proxies = ", ".join(
            f"{p.name} {p.listen}->{p.upstream}" for p in site.app.store.proxies.values()
        )
        click.echo(
            f"aichaos proxy API on {site.url} seed={site.app.store.seed}"
            + (" auth=bearer" if token else "")
            + (f" proxies: {proxies}" if proxies else "")
        )
        sys.stdout.flush()

    if insecure and token is None:
        click.echo(
            f"aichaos proxy: WARNING: control API on {host} without a token (--insecure)",
            err=True,
        )
    try:
        config = load_config(config_path) if config_path else None
        run(
            host,
            port,
            config=config,
            seed=seed,
            ready=ready,
            token=token or None,
            insecure=insecure,
            busy_poll_s=busy_poll_us / 1e6,
        )
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc}") from None
