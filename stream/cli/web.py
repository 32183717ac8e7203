"""`vigil web` and `vigil review`: the answer and review pages, and the day's review in the terminal."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import typer

from stream.cli.options import (
    BootstrapOption,
    MetricsHostOption,
    TopicPrefixOption,
    moment_option,
    require_bootstrap,
    review_store,
    run_until_interrupted,
)

ACK_SECRET_MIN_BYTES = 16
SUPPORT_CONTACT_MAX_CHARS = 200


def web(
    bootstrap: str = BootstrapOption,
    db_url: str = typer.Option("sqlite:///vigil-review.sqlite", "--db-url", envvar="VIGIL_DB_URL", help="Review store URL (sqlite:/// or postgresql+psycopg://)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8600, "--port", help="HTTP port; 0 picks a free one."),
    topic_prefix: str = TopicPrefixOption,
    public_url: str | None = typer.Option(None, "--public-url", envvar="VIGIL_PUBLIC_URL", help="Address the phones reach this service at (default: http://host:port)."),
    trusted_user_header: str | None = typer.Option(
        None, "--trusted-user-header", envvar="VIGIL_TRUSTED_USER_HEADER",
        help="Single sign-on behind the city's proxy: sign in the existing user this header names, when the request came "
             "through that proxy (--trusted-proxy-ips or --trusted-proxy-secret-file)."),
    trusted_proxy_ips: str | None = typer.Option(
        None, "--trusted-proxy-ips", envvar="VIGIL_TRUSTED_PROXY_IPS",
        help="Addresses or networks (comma-separated) of the single sign-on proxy: the user header is believed from these peers."),
    trusted_proxy_secret_file: Path | None = typer.Option(
        None, "--trusted-proxy-secret-file", envvar="VIGIL_TRUSTED_PROXY_SECRET_FILE",
        help="File holding the secret (16+ visible ASCII bytes) the single sign-on proxy adds to each request: the user header "
             "is believed from a request carrying it."),
    trusted_proxy_secret_header: str = typer.Option(
        "X-Vigil-Proxy-Secret", "--trusted-proxy-secret-header", help="Header the single sign-on proxy sends its secret in."),
    forwarded_allow_ips: str | None = typer.Option(
        None, "--forwarded-allow-ips", envvar="VIGIL_FORWARDED_ALLOW_IPS",
        help="Addresses or networks (comma-separated) of the proxies in front whose X-Forwarded-For/-Proto are believed (default: none)."),
    request_timeout: float = typer.Option(
        15.0, "--request-timeout", min=0.1, help="Seconds a client has to send a whole request (line, headers, body) from its first byte."),
    keep_alive_timeout: float = typer.Option(5.0, "--keep-alive-timeout", min=0.1, help="Seconds an idle connection is kept between requests."),
    limit_concurrency: int = typer.Option(
        200, "--limit-concurrency", min=1, help="Open connections and requests in progress at most: more requests get 503, more connections are closed."),
    max_header_bytes: int = typer.Option(16384, "--max-header-bytes", min=1024, help="Size of a request's line and headers at most (400 beyond)."),
    metrics_port: int = typer.Option(9603, "--metrics-port", min=0, max=65535, help="Port of /metrics for Prometheus (not on --port); 0 picks a free one (logged)."),
    metrics_host: str = MetricsHostOption,
    sms_auth_token_file: Path | None = typer.Option(
        None, "--sms-auth-token-file", envvar="VIGIL_SMS_AUTH_TOKEN_FILE",
        help="File holding the SMS gateway's (Twilio's) auth token: turns on answers by SMS reply at /sms/inbound (needs an "
             "https --public-url, or http to 127.0.0.1 or localhost, and --contacts)."),
    contacts: Path | None = typer.Option(
        None, "--contacts", envvar="VIGIL_CONTACTS", help="The contacts file: which phone numbers the SMS alerts go to (for SMS replies)."),
    support_contact: str | None = typer.Option(
        None, "--support-contact", envvar="VIGIL_SUPPORT_CONTACT",
        help="Whom the sign-in page tells a locked-out user to contact, e.g. \"DNS on-call, 612-555-0100\" (default: the DNS on-call)."),
) -> None:
    """Serve the alerts' answer pages (/ack/{token}, publishing to the acks topic) and the next-day review
    pages for signed-in staff (secret: VIGIL_ACK_SECRET; users: `vigil users add`); /metrics on its own port."""
    from reviews.standdowns import StanddownRules
    from reviews.web.app import run_web
    from reviews.web.incident import neighborhood_centres, team_precisions
    from stream.core.deployment import load_deployment
    from stream.core.state import Config
    from stream.ops.kafka import Topics, ensure_topics

    require_bootstrap(bootstrap)
    secret = os.environ.get("VIGIL_ACK_SECRET", "").encode()
    if not secret:
        typer.echo("vigil: no ack-link secret: set VIGIL_ACK_SECRET (the key the alerts' ack links are signed with)", err=True)
        raise typer.Exit(2)
    if len(secret) < ACK_SECRET_MIN_BYTES:
        typer.echo(f"vigil: the ack-link secret (VIGIL_ACK_SECRET) must be at least {ACK_SECRET_MIN_BYTES} bytes", err=True)
        raise typer.Exit(2)
    if metrics_port != 0 and metrics_port == port:
        typer.echo(f"vigil: --metrics-port {metrics_port} is the web port: /metrics needs a port of its own", err=True)
        raise typer.Exit(2)
    edge = web_edge(trusted_user_header, trusted_proxy_ips, trusted_proxy_secret_file, trusted_proxy_secret_header, forwarded_allow_ips,
                    request_timeout, keep_alive_timeout, limit_concurrency, max_header_bytes)
    if support_contact is not None and not 0 < len(support_contact.strip()) <= SUPPORT_CONTACT_MAX_CHARS:
        typer.echo(f"vigil: --support-contact must be 1 to {SUPPORT_CONTACT_MAX_CHARS} characters (who to call, and how)", err=True)
        raise typer.Exit(2)
    topics = Topics(topic_prefix)
    deployment = load_deployment()
    zone = deployment.classification.zone
    precision = team_precisions(Config(deployment.coverage, deployment.protocols))
    sms = sms_inbound(sms_auth_token_file, contacts, public_url)

    async def run() -> None:
        await ensure_topics(bootstrap, topics)
        await run_web(host, port, bootstrap, topics, db_url, secret, public_url or f"http://{host}:{port}", zone=zone,
                      metrics_host=metrics_host, metrics_port=metrics_port,
                      support_contact=support_contact and support_contact.strip(), sms=sms, team_precision=precision,
                      neighborhood_centres=neighborhood_centres(deployment.coverage),
                      standdown_rules=StanddownRules.of(deployment.coverage), **edge)

    run_until_interrupted(run())


def sms_inbound(token_file: Path | None, contacts: Path | None, public_url: str | None) -> Any:
    """``run_web``'s SMS reply settings (None without ``--sms-auth-token-file``); exit 2 naming the option at fault
    (never printing the token)."""
    if token_file is None:
        return None
    from notifiers.apprise_adapter import ContactsError, load_people, load_recipients, recipient_people, sms_phones
    from reviews.web.sms import SmsInbound

    if contacts is None:
        _refuse("--sms-auth-token-file needs --contacts (VIGIL_CONTACTS): the phone numbers the SMS alerts go to")
    try:
        token = token_file.read_text(encoding="utf-8").strip()
        people = load_people(contacts)
        phones = sms_phones(load_recipients(contacts), people)
        return SmsInbound(auth_token=token, public_url=f"{(public_url or '').rstrip('/')}/sms/inbound", phones=phones,
                          people=recipient_people(people))
    except OSError as exc:
        _refuse(f"--sms-auth-token-file {token_file}: {exc.strerror or exc}")
    except (ContactsError, ValueError) as exc:
        _refuse(f"SMS replies: {exc}")


def _refuse(message: str) -> NoReturn:
    typer.echo(f"vigil: {message}", err=True)
    raise typer.Exit(2)


def web_edge(user_header: str | None, proxy_ips: str | None, secret_file: Path | None, secret_header: str, forwarded_ips: str | None,
             request_timeout: float, keep_alive_timeout: float, limit_concurrency: int, max_header_bytes: int) -> dict[str, Any]:
    """``run_web``'s single sign-on, trusted proxies and server limits from the options; exit 2 naming the
    option at fault (never printing the secret)."""
    from reviews.web.edge import SingleSignOn, TrustedProxies
    from reviews.web.server import ServerLimits

    def fail(message: str) -> typer.Exit:
        typer.echo(f"vigil: {message}", err=True)
        return typer.Exit(2)

    try:
        forwarded = TrustedProxies.parse(forwarded_ips)
    except ValueError as exc:
        raise fail(f"--forwarded-allow-ips: {exc}") from None
    if user_header is None and (proxy_ips or secret_file):
        raise fail("--trusted-proxy-ips and --trusted-proxy-secret-file vouch for --trusted-user-header, which is not set")
    single_sign_on = None
    if user_header is not None:
        try:
            proxies = TrustedProxies.parse(proxy_ips)
        except ValueError as exc:
            raise fail(f"--trusted-proxy-ips: {exc}") from None
        secret = None
        if secret_file is not None:
            try:
                secret = secret_file.read_bytes().strip()
            except OSError as exc:
                raise fail(f"--trusted-proxy-secret-file {secret_file}: cannot read it ({exc.strerror})") from None
        try:
            single_sign_on = SingleSignOn(user_header, proxies, secret, secret_header)
        except ValueError as exc:
            raise fail(f"--trusted-user-header: {exc}") from None
    limits = ServerLimits(request_timeout, keep_alive_timeout, limit_concurrency, max_header_bytes)
    return {"single_sign_on": single_sign_on, "forwarded_allow_ips": forwarded, "limits": limits}


def review(
    day: str = typer.Option(..., "--date", help="The local calendar day to review (YYYY-MM-DD)."),
    db_url: str = typer.Option("sqlite:///vigil-review.sqlite", "--db-url", envvar="VIGIL_DB_URL", help="Review store URL."),
    out: Path | None = typer.Option(None, "--out", help="CSV file to write (default: review-<date>.csv in this folder)."),
    now: str | None = typer.Option(
        None, "--now", help="Judge the deadlines at this moment (ISO 8601 with an offset; default: the clock). One after it is 'awaiting'."),
) -> None:
    """A day's activations as a table (one row per team told) and a CSV, for the next-day review; its follow-up tasks
    (completion by team and kind, referrals by service) in a second CSV beside it (<out>-tasks.csv)."""
    from datetime import date as Date

    from reviews.review_cmd import day_rows, day_task_rows, table, tasks_path, write_csv
    from reviews.tasks import TASK_CSV_COLUMNS
    from stream.core.deployment import load_deployment

    try:
        chosen = Date.fromisoformat(day)
    except ValueError:
        typer.echo(f"vigil review: --date {day!r} is not a date of the form YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None
    moment = moment_option("--now", now) if now else datetime.now(UTC)
    with review_store(db_url, "review") as store:
        zone = load_deployment().coverage.zone
        rows = day_rows(store, chosen, zone, moment)
        task_rows = day_task_rows(store, chosen, zone, moment)
    path = out or Path(f"review-{chosen.isoformat()}.csv")
    write_csv(rows, path)
    write_csv(task_rows, tasks_path(path), TASK_CSV_COLUMNS)
    activations = len({r["activation"] for r in rows})
    typer.echo(table(rows))
    typer.echo(f"\n{activations} activation(s), {len(rows)} row(s) on {chosen.isoformat()}; CSV: {path}; follow-up tasks CSV: {tasks_path(path)}")
