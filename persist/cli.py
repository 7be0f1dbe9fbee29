"""The ``persist`` command: validate deployments, explain the effective config, move data."""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import click
from pydantic import SecretStr

from persist import __version__
from persist._fs import timeout_kind
from persist._sources import (
    SECRETS_DIR_ENV,
    KeywordSource,
    Layer,
    Origin,
    Source,
    YamlFileSource,
    default_sources,
    env_name,
    load,
)
from persist._text import MASK, backend_reason, redact
from persist.config import SECRET_FIELDS, SECTIONS, DataConfig
from persist.errors import ConfigError, PersistDeprecationWarning, PersistError
from persist.options import endpoint_host, get_fsspec_storage_options, secret_values
from persist.paths import get_protocol, is_remote, join, strip_file_header

if TYPE_CHECKING:
    from persist.provider import FileAccessProvider

__all__ = ["cli", "main"]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class PersistGroup(click.Group):
    """A group that turns persist's errors into one line per problem (or a chain with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        with warnings.catch_warnings():
            # persist's deprecation warnings (s3.adressing_style...) as one `warning: ...` line
            # each, not Python's default two lines quoting pydantic's source.
            warnings.simplefilter("always", PersistDeprecationWarning)
            warnings.showwarning = _show_warning
            try:
                return super().invoke(ctx)
            except PersistError as err:
                debug = bool(ctx.params.get("debug"))
                _fail(err, debug)
            except KeyboardInterrupt:
                click.echo("persist: interrupted; no partial file was left at the destination", err=True)
                ctx.exit(EXIT_INTERRUPTED)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    click.echo(f"warning: {message}", err=True)


def _echo_json(value: Any, **options: Any) -> None:
    """Print ``value`` as JSON (json is imported here: most commands never print any)."""
    import json

    click.echo(json.dumps(value, **options))


def _fail(err: PersistError, debug: bool) -> NoReturn:
    if debug:
        import traceback

        traceback.print_exception(err, file=sys.stderr)
    for line in str(err).splitlines() or [type(err).__name__]:
        click.echo(f"persist: error: {line}", err=True)
    raise SystemExit(err.exit_code)


_TIMEOUT = click.FloatRange(min=0, min_open=True, max=3600)


@click.group(cls=PersistGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="On errors, show the whole chain of causes (a traceback).")
@click.option(
    "--connect-timeout",
    type=_TIMEOUT,
    metavar="SECONDS",
    help="Override generic.connect_timeout: seconds to wait for a connection (default 10).",
)
@click.option(
    "--read-timeout",
    type=_TIMEOUT,
    metavar="SECONDS",
    help="Override generic.read_timeout: seconds a request may go without progress (default 60).",
)
@click.version_option(__version__, prog_name="persist")
@click.pass_context
def cli(ctx: click.Context, debug: bool, connect_timeout: float | None, read_timeout: float | None) -> None:
    """Move data between this machine and S3, GCS, Azure Blob or local storage.

    Configuration comes from, highest priority first: options given here (--connect-timeout,
    --read-timeout), PERSIST_<SECTION>__<FIELD> variables, flytekit's FLYTE_* variables, the
    YAML file (--config or PERSIST_CONFIG), files in the directory named by PERSIST_SECRETS_DIR,
    then defaults. Run `persist show` to see which source set each value.
    """
    generic = {
        name: value
        for name, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout))
        if value is not None
    }
    ctx.obj = {"generic": generic} if generic else {}


def _overrides() -> dict[str, Any]:
    """Config overrides given as options of the ``persist`` group (keyword-argument priority)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return dict(obj) if isinstance(obj, dict) else {}


def _auto(config_file: str | None) -> DataConfig:
    """``DataConfig.auto`` with the group's overrides."""
    return DataConfig.auto(config_file, **_overrides())


# --- validate ---------------------------------------------------------------------------------


@dataclass
class FileReport:
    """What `validate` found in one file."""

    path: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    config: DataConfig | None = None


def check_file(path: str, use_env: bool, strict: bool) -> FileReport:
    """Load one file as DataConfig would, collecting every problem instead of stopping."""
    report = FileReport(path)
    overrides = _overrides()
    sources: list[Source] = (
        default_sources(path, overrides) if use_env else [KeywordSource(overrides), YamlFileSource(path)]
    )
    with warnings.catch_warnings():
        # load() warns about deprecated keys; validate reports them itself, below.
        warnings.simplefilter("ignore")
        try:
            report.config, _ = load(sources)
        except ConfigError as err:
            report.problems.extend(str(p) for p in err.problems)
    layer = YamlFileSource(path)()
    notes = _file_notes(path, layer)
    if strict:
        report.problems.extend(notes)
    else:
        report.warnings.extend(notes)
    return report


def _file_notes(path: str, layer: Layer) -> list[str]:
    """Deprecated keys, legacy layout and inline secrets: warnings, or problems with --strict."""
    notes: list[str] = []
    keys = {loc: origin.key for loc, origin in layer.origins.items()}
    if ("s3", "adressing_style") in keys:
        notes.append(f"{path}: s3.adressing_style: deprecated spelling; write addressing_style")
    if any(key.startswith("storage.") for key in keys.values()):
        notes.append(
            f"{path}: storage.connection: flytekit's legacy layout; persist's own layout is "
            "s3: {endpoint: ..., access_key_id: ...}"
        )
    for loc, key in keys.items():
        if len(loc) == 2 and (loc[0], loc[1]) in SECRET_FIELDS:
            notes.append(
                f"{path}: {key}: secret written in the file; set {env_name(loc[0], loc[1])} "
                f"or put it in a file in the {SECRETS_DIR_ENV} directory"
            )
    return notes


@cli.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--env", "use_env", is_flag=True, help="Also apply this environment's PERSIST_*/FLYTE_* sources."
)
@click.option(
    "--strict", is_flag=True, help="Also fail on inline secrets, deprecated keys and legacy layouts."
)
@click.option(
    "--probe",
    metavar="URI",
    help="Write, read back, list and delete a small object under URI with each file's config.",
)
@click.option(
    "--timeout",
    "probe_timeout",
    type=_TIMEOUT,
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Overall deadline of each --probe; on expiry the step, time and endpoint are reported.",
)
def validate(
    files: tuple[str, ...], use_env: bool, strict: bool, probe: str | None, probe_timeout: float
) -> None:
    """Check config files; print every problem as FILE: field: message.

    Exit status: 0 when every file is valid (and every probe passed), 1 otherwise, 2 for
    usage errors.
    """
    ok = True
    for path in files:
        report = check_file(path, use_env, strict)
        for line in report.warnings:
            click.echo(f"warning: {line}", err=True)
        for line in report.problems:
            click.echo(line)
        if report.problems:
            ok = False
            continue
        click.echo(f"{path}: OK")
        if probe is not None and report.config is not None:
            ok = run_probe(path, report.config, probe, probe_timeout) and ok
    sys.exit(EXIT_OK if ok else EXIT_PROBLEMS)


def run_probe(label: str, config: DataConfig, uri: str, deadline: float = 30.0) -> bool:
    """Write, read back, list and delete one small object under ``uri``; report each step.

    The object is deleted even when a step after the write fails. The steps share one
    ``deadline`` in seconds: past it, the step in progress is reported as timed out (with the
    time taken and the endpoint) and persist still tries to delete the object.
    """
    from persist.provider import FileAccessProvider

    name = f".persist-probe-{uuid.uuid4().hex[:12]}"
    payload = f"persist probe {name}\n".encode()
    secrets = secret_values(config)
    started = time.perf_counter()
    click.echo(f"{label}: probe {uri}")
    with _scratch_dir() as scratch:
        provider = FileAccessProvider(scratch, uri, config)
        target = join(provider.raw_output_prefix, name, sep="/" if is_remote(uri) else os.sep)
        fs = provider._transfer(get_protocol(uri)).fs
        written = False

        def write() -> str:
            nonlocal written
            provider.put_raw_data(payload, upload_prefix=uri, file_name=name, skip_raw_data_prefix=True)
            written = True
            return target

        def read() -> str:
            data = bytes(fs.cat_file(target))
            if data != payload:
                raise PersistError(f"read back {len(data)} bytes that differ from the {len(payload)} written")
            return f"{len(data)} bytes match"

        def listing() -> str:
            fs.invalidate_cache()
            names = {
                str(n).rstrip("/").rsplit("/", 1)[-1] for n in fs.ls(strip_file_header(uri), detail=False)
            }
            if name not in names:
                raise PersistError(f"{name} is missing from the listing of {uri}")
            return f"{len(names)} entries"

        def delete() -> str:
            nonlocal written
            fs.rm_file(target)
            written = False
            return "removed"

        current: list[tuple[str, float]] = [("write", started)]
        results: list[bool] = []

        def steps() -> None:
            ok = True
            for step, action in (("write", write), ("read", read), ("list", listing), ("delete", delete)):
                if not ok or expired.is_set():
                    break
                current[0] = (step, time.perf_counter())
                ok = _step(step, action, secrets, expired)
            if written and not expired.is_set():
                _step("cleanup", delete, secrets, expired)
            results.append(ok)

        # Each request is bounded by the connect and read timeouts, but a probe makes several
        # (and gcsfs retries on its own): the deadline bounds the whole, from a second thread.
        expired = threading.Event()
        worker = threading.Thread(target=steps, name="persist-probe", daemon=True)
        worker.start()
        worker.join(deadline)
        if worker.is_alive():
            expired.set()
            step, since = current[0]
            host = endpoint_host(get_protocol(uri), config) or "the local disk"
            click.echo(
                f"  {step:<7} TIMED OUT after {time.perf_counter() - since:.1f} s: no answer from "
                f"{host} before the probe's {deadline:g} s deadline (--timeout)"
            )
            _cleanup_after_deadline(fs, target, secrets, config)
        ok = bool(results) and results[0]
    total = (time.perf_counter() - started) * 1000
    click.echo(f"{label}: probe {'OK' if ok else 'FAILED'} ({total:.0f} ms)")
    return ok


def _cleanup_after_deadline(fs: Any, target: str, secrets: list[str], config: DataConfig) -> None:
    """Try to delete the probe object, waiting at most one connect plus one read timeout, or 10 s."""
    generic = config.generic
    limit = min(generic.connect_timeout.total_seconds() + generic.read_timeout.total_seconds(), 10.0)
    outcome: list[str] = []

    def remove() -> None:
        try:
            fs.rm_file(target)
            outcome.append("removed")
        except FileNotFoundError:
            outcome.append("nothing to remove")
        except Exception as exc:
            outcome.append(f"FAILED: {redact(explain(exc), secrets)}")

    cleaner = threading.Thread(target=remove, name="persist-probe-cleanup", daemon=True)
    cleaner.start()
    cleaner.join(limit)
    if outcome:
        click.echo(f"  cleanup {outcome[0]}")
    else:
        click.echo(f"  cleanup gave up after {limit:g} s; delete {target} yourself if it exists")


def _step(step: str, action: Callable[[], str], secrets: list[str], expired: threading.Event) -> bool:
    started = time.perf_counter()
    try:
        detail = action()
    except Exception as exc:
        elapsed = (time.perf_counter() - started) * 1000
        if not expired.is_set():  # past the deadline, the timeout report stands for this step
            click.echo(f"  {step:<7} FAILED {elapsed:6.0f} ms  {redact(explain(exc), secrets)}")
        return False
    elapsed = (time.perf_counter() - started) * 1000
    if not expired.is_set():
        click.echo(f"  {step:<7} ok     {elapsed:6.0f} ms  {detail}")
    return True


_EXPLANATIONS = {
    "InvalidAccessKeyId": "the server does not know this access key id",
    "SignatureDoesNotMatch": "the secret key does not match the access key id",
    "NoSuchBucket": "the bucket does not exist",
    "AccessDenied": "the credentials are not allowed to do this here",
    "ContainerNotFound": "the container does not exist",
    "AuthenticationFailed": "the account key or token was refused",
    "AuthorizationFailure": "the credentials are not allowed to do this here",
    "ExpiredToken": "the session token has expired",
    "InvalidToken": "the session token is not valid",
}


def explain(exc: BaseException) -> str:
    """One line a person can act on: what went wrong, then the backend's own reason."""
    text = _chain_text(exc)
    reason = backend_reason(exc.__cause__ or exc) if isinstance(exc, PersistError) else backend_reason(exc)
    if isinstance(exc, PersistError) and exc.__cause__ is None:
        return str(exc).splitlines()[0]
    if reason in _EXPLANATIONS:
        return f"{_EXPLANATIONS[reason]} ({reason})"
    lowered = text.lower()
    if (
        "name or service not known" in lowered
        or "nodename nor servname" in lowered
        or "getaddrinfo" in lowered
    ):
        return f"cannot resolve the endpoint's host name (DNS): {reason}"
    if "connection refused" in lowered or "could not connect" in lowered or "cannot connect" in lowered:
        return f"cannot connect to the endpoint; is the URL right and the server up? ({reason})"
    if "timed out" in lowered or "timeout" in lowered:
        return f"the endpoint did not answer in time ({reason})"
    return reason


def _chain_text(exc: BaseException) -> str:
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 10:
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return " | ".join(parts)


@contextmanager
def _scratch_dir() -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="persist-cli-")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# --- show / options / schema ------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def effective_config(config_file: str | None) -> dict[str, dict[str, dict[str, Any]]]:
    """Every field's effective value (secrets masked) and where it came from."""
    config, origins = load(default_sources(config_file, _overrides()))
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for section in SECTIONS:
        model = getattr(config, section)
        result[section] = {}
        for name in type(model).model_fields:
            origin: Origin | None = origins.get((section, name))
            if name == "addressing_style" and origin is None:
                origin = origins.get((section, "adressing_style"))
            result[section][name] = {
                "value": _plain(getattr(model, name)),
                "source": origin.source if origin else "default",
            }
    return result


@cli.command()
@click.option("--config", "config_file", metavar="FILE", help="YAML file to read (default: PERSIST_CONFIG).")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def show(config_file: str | None, fmt: str) -> None:
    """Print the effective config after all sources, each value with its source; secrets masked."""
    shown = effective_config(config_file)
    if fmt == "json":
        _echo_json(shown, indent=2)
        return
    import yaml

    for section, fields in shown.items():
        click.echo(f"{section}:")
        for name, entry in fields.items():
            rendered = yaml.safe_dump(entry["value"], default_flow_style=True).strip()
            rendered = rendered.removesuffix("\n...").removesuffix("...").strip()
            click.echo(f"  {name}: {rendered}  # {entry['source']}")


def _masked(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _masked(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v, secrets) for v in value]
    if isinstance(value, str):
        return redact(value, secrets)
    return value


@cli.command()
@click.argument("protocol")
@click.option("--config", "config_file", metavar="FILE", help="YAML file to read (default: PERSIST_CONFIG).")
@click.option("--reveal", is_flag=True, help="Print secrets instead of masking them.")
def options(protocol: str, config_file: str | None, reveal: bool) -> None:
    """Print the fsspec storage options for PROTOCOL (s3, gs, abfs, file...) as JSON.

    Paste them into pandas, dask or pyarrow as storage_options. Secrets are masked unless
    --reveal is given.
    """
    config = _auto(config_file)
    opts = get_fsspec_storage_options(protocol, config)
    if not reveal:
        opts = _masked(opts, secret_values(config))
    _echo_json(opts, indent=2, sort_keys=True)


@cli.command()
@click.option("--out", "out_dir", metavar="DIR", help="Write the schema files into DIR instead of printing.")
def schema(out_dir: str | None) -> None:
    """Print (or write) the JSON Schema of persist's YAML config files."""
    from persist._schema import SCHEMA_FILES, render, write_schemas

    if out_dir is None:
        for make in SCHEMA_FILES.values():
            click.echo(render(make()), nl=False)
        return
    try:
        written = write_schemas(out_dir)
    except OSError as exc:
        raise PersistError(f"cannot write the schemas to {out_dir}: {exc.strerror or exc}") from exc
    for path in written:
        click.echo(str(path))


# --- cp / ls ----------------------------------------------------------------------------------


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class ProgressBar:
    """A one-line progress display on stderr: files, bytes, rate and ETA. Thread-safe."""

    def __init__(self, enabled: bool, total_files: int | None = None, total_bytes: int | None = None) -> None:
        self.enabled = enabled
        self.files = 0
        self.nbytes = 0
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.started = time.perf_counter()
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(
        self, files: int, nbytes: int, *, total_files: int | None = None, total_bytes: int | None = None
    ) -> None:
        with self._lock:
            self.files += files
            self.nbytes += nbytes
            if total_files is not None and self.total_files is None:
                self.total_files = total_files
            if total_bytes is not None and self.total_bytes is None:
                self.total_bytes = total_bytes
            now = time.perf_counter()
            if self.enabled and now - self._last >= 0.1:
                self._last = now
                self._render()

    @property
    def elapsed(self) -> float:
        """Seconds since the transfer started."""
        return max(time.perf_counter() - self.started, 1e-9)

    def _render(self) -> None:
        rate = self.nbytes / self.elapsed
        files = f"{self.files}/{self.total_files}" if self.total_files is not None else str(self.files)
        size = _size(self.nbytes) + (f"/{_size(self.total_bytes)}" if self.total_bytes else "")
        eta = ""
        if self.total_bytes and rate > 0:
            left = max(self.total_bytes - self.nbytes, 0) / rate
            eta = f"  ETA {int(left // 60)}:{int(left % 60):02d}"
        click.echo(f"\r  {files} files  {size}  {_size(rate)}/s{eta}   ", err=True, nl=False)

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled:
            with self._lock:
                self._render()
            click.echo("", err=True)


def _walk_totals(path: str) -> tuple[int, int]:
    if os.path.isfile(path):
        return 1, os.path.getsize(path)
    files = size = 0
    for directory, _, names in os.walk(path):
        for name in names:
            files += 1
            size += os.path.getsize(os.path.join(directory, name))
    return files, size


@cli.command()
@click.argument("src")
@click.argument("dst")
@click.option("-r", "--recursive", is_flag=True, help="Copy a folder and everything under it.")
@click.option("--config", "config_file", metavar="FILE", help="YAML file to read (default: PERSIST_CONFIG).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary line for scripts.")
def cp(src: str, dst: str, recursive: bool, config_file: str | None, quiet: bool, as_json: bool) -> None:
    """Copy SRC to DST: uploads, downloads or local copies.

    A downloaded file is written atomically, so an interrupted copy (Ctrl-C) never leaves a
    partial file at DST. A progress bar is shown on a terminal.
    """
    from persist.provider import FileAccessProvider

    if is_remote(src) and is_remote(dst):
        raise click.UsageError("copying between two remote locations is not supported; download first")
    config = _auto(config_file)
    source_dir = not is_remote(src) and os.path.isdir(strip_file_header(src))
    if source_dir and not recursive:
        raise click.UsageError(f"{src} is a folder; use -r to copy it")
    if not recursive and (dst.endswith(("/", os.sep)) or (not is_remote(dst) and os.path.isdir(dst))):
        dst = join(
            dst, os.path.basename(strip_file_header(src).rstrip("/")), sep="/" if is_remote(dst) else os.sep
        )
    show_bar = not quiet and not as_json and sys.stderr.isatty()
    totals = (
        _walk_totals(strip_file_header(src))
        if not is_remote(src) and os.path.exists(strip_file_header(src))
        else (None, None)
    )
    bar = ProgressBar(show_bar, *totals)
    with _scratch_dir() as scratch:
        provider: FileAccessProvider = FileAccessProvider(scratch, dst if is_remote(dst) else scratch, config)
        try:
            if is_remote(src):
                provider.get_data(src, dst, is_multipart=recursive, progress=bar)
            else:
                provider.put_data(src, dst, is_multipart=recursive, progress=bar)
        finally:
            bar.close()
    summary = {
        "src": src,
        "dst": dst,
        "files": bar.files,
        "bytes": bar.nbytes,
        "seconds": round(bar.elapsed, 3),
    }
    if as_json:
        _echo_json(summary)
    elif not quiet:
        rate = _size(bar.nbytes / bar.elapsed)
        click.echo(
            f"copied {bar.files} file{'s' if bar.files != 1 else ''} ({_size(bar.nbytes)}) "
            f"to {dst} in {bar.elapsed:.2f} s ({rate}/s)",
            err=True,
        )


@cli.command()
@click.argument("uri")
@click.option("-l", "long", is_flag=True, help="Show type, size and modification time.")
@click.option("--config", "config_file", metavar="FILE", help="YAML file to read (default: PERSIST_CONFIG).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list for scripts.")
def ls(uri: str, long: bool, config_file: str | None, as_json: bool) -> None:
    """List the objects and folders directly under URI."""
    from persist.errors import DataNotFoundError
    from persist.provider import FileAccessProvider

    config = _auto(config_file)
    with _scratch_dir() as scratch:
        provider = FileAccessProvider(scratch, scratch, config)
        protocol = get_protocol(uri)
        # persist's own filesystem and retry budget: each request bounded by the timeouts.
        transfer = provider._transfer(protocol)
        fs = transfer.fs
        path = strip_file_header(uri)
        try:
            entries = _list(transfer, path, uri)
        except FileNotFoundError as exc:
            raise DataNotFoundError(f"{uri} does not exist") from exc
        except Exception as exc:
            why = provider._reason(exc, protocol) if timeout_kind(exc) else explain(exc)
            raise PersistError(redact(f"cannot list {uri} ({why})", secret_values(config))) from exc
    rows = []
    for entry in sorted(entries, key=lambda e: str(e["name"])):
        name = str(entry["name"])
        shown = fs.unstrip_protocol(name) if is_remote(uri) else name
        modified = next(
            (entry[k] for k in ("LastModified", "last_modified", "updated", "mtime") if entry.get(k)), None
        )
        rows.append(
            {
                "name": shown,
                "type": entry.get("type", "file"),
                "size": int(entry.get("size") or 0),
                "modified": str(modified) if modified is not None else None,
            }
        )
    if as_json:
        _echo_json(rows, indent=2, default=str)
        return
    for row in rows:
        if long:
            kind = "d" if row["type"] == "directory" else "-"
            click.echo(f"{kind} {row['size']:>12}  {row['modified'] or '-':<32}  {row['name']}")
        else:
            click.echo(str(row["name"]))


def _list(transfer: Any, path: str, uri: str) -> list[dict[str, Any]]:
    """``fs.ls(path, detail=True)`` on the I/O loop, retried as the transfer's policy says."""
    import asyncio

    from persist._fs import run_sync

    async def attempt() -> list[dict[str, Any]]:
        return list(await asyncio.to_thread(transfer.fs.ls, path, detail=True))

    return run_sync(lambda: transfer.retry.call(attempt, f"listing of {uri}"))


def main() -> None:
    """Entry point of the ``persist`` command."""
    try:
        cli(prog_name="persist")
    finally:
        # The process exits next. Frozen objects are skipped by the garbage collector, which
        # otherwise walks every imported module and model schema once more at shutdown: about
        # 60 ms of a 0.45 s `persist validate`. atexit handlers still run and the standard
        # streams are still flushed; the operating system reclaims the memory.
        gc.freeze()
