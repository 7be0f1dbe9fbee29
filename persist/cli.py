"""The ``persist`` command: validate deployments, explain the effective config, move data."""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import click
from pydantic import SecretStr

from persist._errors import explain
from persist._plan import endpoint_host, secret_values
from persist._sources import (
    SECRETS_DIR_ENV,
    ExtraSource,
    Layer,
    Loaded,
    Origin,
    default_sources,
    env_name,
    file_sources,
    load,
    resolve,
)
from persist._text import MASK, redact
from persist.config import SECRET_FIELDS, SECTIONS, DataConfig
from persist.errors import ConfigError, PersistDeprecationWarning, PersistError
from persist.options import CONFIGURED_PROTOCOLS, GCS_PROTOCOLS, get_fsspec_storage_options
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
            except click.ClickException as err:
                if not ctx.meta.get(_JSON_ERRORS):
                    raise
                _echo_json({"error": err.format_message(), "exit_code": err.exit_code}, err=True)
                raise SystemExit(err.exit_code) from None
            except PersistError as err:
                debug = bool(ctx.params.get("debug"))
                _fail(err, debug)
            except KeyboardInterrupt as exc:
                # By now the transfer has cleaned up (see _fs.run_sync); say what it left.
                note = exc.note if isinstance(exc, _Interrupted) else "interrupted"
                click.echo(f"persist: {note}", err=True)
                ctx.exit(EXIT_INTERRUPTED)


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C during a command that knows what the interrupt left: ``note`` says it."""

    def __init__(self, note: str) -> None:
        super().__init__(note)
        self.note = note


@dataclass
class _FileCount:
    """A progress listener that counts finished files and passes everything on to ``inner``."""

    inner: Callable[..., None]
    total_files: int | None = None
    files: int = 0

    def __call__(
        self, files: int, nbytes: int, *, total_files: int | None = None, total_bytes: int | None = None
    ) -> None:
        self.files += files
        if total_files is not None and self.total_files is None:
            self.total_files = total_files
        self.inner(files, nbytes, total_files=total_files, total_bytes=total_bytes)


def _interrupt_note(count: _FileCount, dst: str, upload: bool, folder: bool) -> str:
    """What an interrupted ``cp`` to ``dst`` left: files complete, and that nothing is partial."""
    partial = (
        "no partial object or unfinished multipart upload was left" if upload else "no partial file was left"
    )
    verb = "uploaded" if upload else "written"
    if not folder:
        if count.files:  # the interrupt landed after the file was complete
            return f"interrupted after {dst} was {verb} complete"
        return f"interrupted; {dst} was not written and {partial}"
    if not count.files:
        return f"interrupted before any file was complete under {dst}; {partial}"
    if count.total_files is None:  # a streamed folder listing had not ended yet
        return f"interrupted: {count.files} files were {verb} complete under {dst}; {partial}"
    return (
        f"interrupted: {count.files} of {count.total_files} files were {verb} complete under {dst}; {partial}"
    )


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    click.echo(f"warning: {message}", err=True)


def _echo_json(value: Any, err: bool = False, **options: Any) -> None:
    """Print ``value`` as JSON on stdout, or stderr (json is imported here: most commands print none)."""
    import json

    click.echo(json.dumps(value, **options), err=err)


_JSON_ERRORS = "persist.json_errors"
"""``ctx.meta`` key: the running command was given --json, so errors are JSON too."""


def _json_errors() -> None:
    """From here on, this command's errors go to stderr as one JSON object each."""
    click.get_current_context().meta[_JSON_ERRORS] = True


def _fail(err: PersistError, debug: bool) -> NoReturn:
    if debug:
        import traceback

        traceback.print_exception(err, file=sys.stderr)
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(_JSON_ERRORS):
        _echo_json({"error": str(err), "exit_code": err.exit_code}, err=True)
        raise SystemExit(err.exit_code)
    for line in str(err).splitlines() or [type(err).__name__]:
        click.echo(f"persist: error: {line}", err=True)
    raise SystemExit(err.exit_code)


_TIMEOUT = click.FloatRange(min=0, min_open=True, max=3600)


@click.group(cls=PersistGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="On errors, show the whole chain of causes (a traceback).")
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, _param, value: _print_versions(ctx) if value else None,
    help="Show persist's version and the installed versions of its backends, then exit.",
)
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
@click.pass_context
def cli(ctx: click.Context, debug: bool, connect_timeout: float | None, read_timeout: float | None) -> None:
    """Move data between this machine and S3, GCS, Azure Blob or local storage.

    Configuration comes from, highest priority first: options given here (--connect-timeout,
    --read-timeout), PERSIST_<SECTION>__<FIELD> variables, flytekit's FLYTE_* variables, the
    YAML file (--config, else PERSIST_CONFIG, else FLYTECTL_CONFIG), files in the directory
    named by PERSIST_SECRETS_DIR, the AWS Secrets Manager secret named by PERSIST_AWS_SECRET_ID,
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


OPTIONS_LABEL = "command-line options"
"""How ``persist show`` and ``validate`` name values set by the group's options."""


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
    bucket: str | None = None
    """The deployment's bucket the file names (Flyte's ``storage.container``), if any."""
    protocols: tuple[str, ...] = ()
    """The protocols the file configures (``s3`` for an ``s3:`` section...), ``file`` if none."""


def check_file(path: str, use_env: bool, strict: bool) -> FileReport:
    """Load one file as DataConfig would, collecting every problem instead of stopping."""
    report = FileReport(path)
    overrides = _overrides()
    sources = (
        default_sources(DataConfig, path, overrides, overrides_label=OPTIONS_LABEL)
        if use_env
        else file_sources(DataConfig, path, overrides, OPTIONS_LABEL)
    )
    with warnings.catch_warnings():
        # load() warns about deprecated keys; validate reports them itself, below.
        warnings.simplefilter("ignore")
        origins: dict[tuple[str, ...], Origin] = {}
        try:
            report.config, origins = load(DataConfig, sources)
        except ConfigError as err:
            report.problems.extend(str(p) for p in err.problems)
    layer = file_sources(DataConfig, path)[0]()
    report.bucket = layer.bucket[0] if layer.bucket else None
    report.protocols = _file_protocols(origins, report.bucket, report.config)
    notes = _file_notes(path, layer)
    if strict:
        report.problems.extend(notes)
    else:
        report.warnings.extend(notes)
    # Flyte keys persist cannot honour but whose absence changes nothing stay warnings.
    report.warnings.extend(str(note) for note in layer.notes if not note.strict)
    return report


def _file_notes(path: str, layer: Layer) -> list[str]:
    """Notes that --strict turns into problems: deprecated keys, inline secrets, Flyte keys."""
    notes: list[str] = []
    keys = {loc: origin.key for loc, origin in layer.origins.items()}
    if ("s3", "adressing_style") in keys:
        notes.append(f"{path}: s3.adressing_style: deprecated spelling; write addressing_style")
    notes.extend(str(note) for note in layer.notes if note.strict)
    for loc, key in keys.items():
        if len(loc) == 2 and (loc[0], loc[1]) in SECRET_FIELDS:
            notes.append(
                f"{path}: {key}: secret written in the file; set {env_name(loc[0], loc[1])} "
                f"or put it in a file in the {SECRETS_DIR_ENV} directory"
            )
        elif len(loc) == 4 and loc[0] == "stores" and (loc[2], loc[3]) in SECRET_FIELDS:
            var = "PERSIST_" + "__".join(part.upper() for part in loc)
            notes.append(
                f"{path}: {key}: secret written in the file; set {var} "
                f"or put it in a file in the {SECRETS_DIR_ENV} directory"
            )
    return notes


_SECTION_PROTOCOLS = {"s3": "s3", "gcs": "gs", "azure": "abfs"}


def _file_protocols(
    origins: dict[tuple[str, ...], Origin], bucket: str | None, config: DataConfig | None = None
) -> tuple[str, ...]:
    """The protocols a config serves: its storage sections' and its bucket's, else ``file``."""
    used = {_SECTION_PROTOCOLS[loc[0]] for loc in origins if loc and loc[0] in _SECTION_PROTOCOLS}
    if config is not None:  # each store serves its prefixes' protocol
        used.update(get_protocol(prefix) for store in config.stores.values() for prefix in store.prefixes)
    if bucket:
        used.add(get_protocol(bucket))
    return tuple(sorted(used)) or ("file",)


def _backend_lines(
    report: FileReport, config: DataConfig, probes: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """The file's backend versions line, and its known-bad findings (problems under --strict)."""
    from persist._versions import backends_for, find_known_bad, installed_version

    protocols = (*(get_protocol(uri) for uri in probes if uri), *report.protocols)
    protocols = tuple(dict.fromkeys(protocols))
    names = backends_for(protocols, config)
    versions = ", ".join(f"{name} {installed_version(name) or 'not installed'}" for name in names)
    findings = [f"{report.path}: {f}" for f in find_known_bad(names, protocols)]
    return [f"{report.path}: backends for {', '.join(protocols)}: {versions}"], findings


@cli.command()
@click.argument("files", nargs=-1, metavar="FILE...")
@click.option(
    "--env", "use_env", is_flag=True, help="Also apply this environment's PERSIST_*/FLYTE_* sources."
)
@click.option(
    "--strict",
    is_flag=True,
    help="Also fail on inline secrets, deprecated keys, files with no storage settings and "
    "Flyte keys persist cannot honour, and on backend versions known to corrupt or lose data.",
)
@click.option(
    "--versions",
    "show_versions",
    is_flag=True,
    help="Also print the installed versions of the backends each file's config would use.",
)
@click.option(
    "--probe",
    metavar="URI",
    is_flag=False,
    flag_value="",
    multiple=True,
    help="Write, read back, list and delete a small object under URI with each file's config; "
    "without URI (last, or before another option), under the bucket the file names "
    "(Flyte's storage.container). Repeatable; each probe names the store serving it and the "
    "kind of credentials it uses.",
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
    files: tuple[str, ...],
    use_env: bool,
    strict: bool,
    show_versions: bool,
    probe: tuple[str, ...],
    probe_timeout: float,
) -> None:
    """Check config files; print every problem as FILE: field: message.

    Installed backend releases known to corrupt or lose data (for the protocols a file
    configures) are warnings, and problems under --strict.

    Exit status: 0 when every file is valid (and every probe passed), 1 otherwise, 2 for
    usage errors.
    """
    if not files and len(probe) == 1 and "://" not in probe[0] and os.path.isfile(probe[0]):
        # `validate --probe FILE`: click took the file for the probe's URI.
        files, probe = (probe[0],), ("",)
    if not files:
        raise click.UsageError("Missing argument 'FILE...'.")
    ok = True
    for path in files:
        report = check_file(path, use_env, strict)
        versions: list[str] = []
        if report.config is not None:
            versions, findings = _backend_lines(report, report.config, probe)
            (report.problems if strict else report.warnings).extend(findings)
        for line in report.warnings:
            click.echo(f"warning: {line}", err=True)
        for line in report.problems:
            click.echo(line)
        if report.problems:
            ok = False
            continue
        click.echo(f"{path}: OK")
        if show_versions:
            click.echo("\n".join(versions))
        if report.config is None:
            continue
        for uri in probe:
            target = uri or report.bucket
            if not target:
                click.echo(
                    f"{path}: probe: no URI given and the file names no bucket (storage.container); "
                    "use --probe URI"
                )
                ok = False
                continue
            ok = run_probe(path, report.config, target, probe_timeout) and ok
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
    click.echo(f"  {'store':<7} {_probe_store(config, uri)}")
    click.echo(f"  {'auth':<7} {_probe_credentials(config, uri)}")
    with _scratch_dir() as scratch:
        provider = FileAccessProvider(scratch, uri, config)
        target = join(provider.raw_output_prefix, name, sep="/" if is_remote(uri) else os.sep)
        written = False

        def write() -> str:
            nonlocal written
            provider.put_raw_data(payload, upload_prefix=uri, file_name=name, skip_raw_data_prefix=True)
            written = True
            return target

        def read() -> str:
            copy = os.path.join(scratch, "read-back")
            provider.get_data(target, copy)
            with open(copy, "rb") as handle:
                data = handle.read()
            if data != payload:
                raise PersistError(f"read back {len(data)} bytes that differ from the {len(payload)} written")
            return f"{len(data)} bytes match"

        def listing() -> str:
            names = {str(e["name"]).rstrip("/").rsplit("/", 1)[-1] for e in provider.ls(uri)}
            if name not in names:
                raise PersistError(f"{name} is missing from the listing of {uri}")
            return f"{len(names)} entries"

        def delete() -> str:
            nonlocal written
            provider.rm_file(target)
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
            _cleanup_after_deadline(provider, target, secrets, config)
        ok = bool(results) and results[0]
    total = (time.perf_counter() - started) * 1000
    click.echo(f"{label}: probe {'OK' if ok else 'FAILED'} ({total:.0f} ms)")
    return ok


def _probe_store(config: DataConfig, uri: str) -> str:
    """Which store serves ``uri``, for the probe's ``store`` line."""
    from persist._stores import match_store
    from persist.paths import get_protocol

    found = match_store(config.stores, uri)
    if found is not None:
        return f"{found.name} (prefix {found.prefix})"
    if not is_remote(uri):
        return "none (local disk)"
    protocol = get_protocol(uri)
    section = {"s3a": "s3", "gs": "gcs", "abfss": "azure", "abfs": "azure", "az": "azure"}.get(
        protocol, protocol
    )
    return f"none: the top-level {section} section"


def _probe_credentials(config: DataConfig, uri: str) -> str:
    """The kind of credentials the probe's requests carry (never a secret)."""
    from persist._credentials import describe_credentials
    from persist._stores import config_for
    from persist.paths import get_protocol

    _, served, anonymous = config_for(config, uri)
    try:
        return describe_credentials(get_protocol(uri), served, anonymous)
    except Exception as exc:  # a broken profile file must not stop the probe itself
        return f"unknown ({type(exc).__name__})"


def _cleanup_after_deadline(
    provider: FileAccessProvider, target: str, secrets: list[str], config: DataConfig
) -> None:
    """Try to delete the probe object, waiting at most one connect plus one read timeout, or 10 s."""
    generic = config.generic
    limit = min(generic.connect_timeout.total_seconds() + generic.read_timeout.total_seconds(), 10.0)
    outcome: list[str] = []

    def remove() -> None:
        try:
            provider.rm_file(target)
            outcome.append("removed")
        except FileNotFoundError:  # DataNotFoundError is one
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


@contextmanager
def _scratch_dir() -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="persist-cli-")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# --- version -----------------------------------------------------------------------------------


def _print_versions(ctx: click.Context, as_json: bool = False) -> None:
    """Print persist's, Python's and the backends' versions; warn about known-bad ones; exit."""
    from persist._versions import find_known_bad, version_report

    report = version_report()
    findings = [str(f) for f in find_known_bad()]
    if as_json:
        _echo_json({**report, "known_bad": findings}, indent=2)
    else:
        click.echo(f"persist {report['persist']}")
        click.echo(f"python {report['python']}")
        width = max(len(name) for name in report["packages"])
        for name, version in report["packages"].items():
            click.echo(f"{name:<{width}}  {version or 'not installed'}")
    for line in findings:
        click.echo(f"warning: {line}", err=True)
    ctx.exit(EXIT_OK)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object for scripts.")
@click.pass_context
def version(ctx: click.Context, as_json: bool) -> None:
    """Show persist's version and the installed versions of its backends.

    Installed releases known to corrupt or lose data (persist/known_bad_versions.json) are
    named in a warning on stderr.
    """
    _print_versions(ctx, as_json)


# --- show / options / schema ------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def effective_config(
    config_file: str | None, extra_sources: Sequence[ExtraSource] = ()
) -> dict[str, dict[str, dict[str, Any]]]:
    """Every field's effective value (secrets masked) and where it came from."""
    return _effective(
        resolve(
            DataConfig,
            default_sources(
                DataConfig, config_file, _overrides(), extra_sources, overrides_label=OPTIONS_LABEL
            ),
        )
    )


def _extra_source(spec: str) -> ExtraSource:
    """``MODULE:NAME``: a source factory (or ``(slot, factory)`` pair) to import."""
    import importlib

    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise click.BadParameter(f"{spec!r} is not MODULE:NAME", param_hint="'--source'")
    if os.getcwd() not in sys.path:
        # As `python -m` and other MODULE:NAME tools (uvicorn, gunicorn) do: a console script
        # does not put the current directory on the path, where the module usually is.
        sys.path.insert(0, os.getcwd())
    try:
        found: ExtraSource = getattr(importlib.import_module(module_name), name)
    except ImportError as exc:
        raise click.BadParameter(f"cannot import {module_name}: {exc}", param_hint="'--source'") from None
    except AttributeError:
        raise click.BadParameter(f"{module_name} has no {name}", param_hint="'--source'") from None
    return found


def _effective(loaded: Loaded[DataConfig]) -> dict[str, dict[str, dict[str, Any]]]:
    config, origins = loaded.config, loaded.origins
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
                "source": _source_of(origin),
            }
    return result


def _effective_stores(loaded: Loaded[DataConfig]) -> dict[str, dict[str, Any]]:
    """Each store's fields (its backend section's every field) with the source of each value."""
    config, origins = loaded.config, loaded.origins
    result: dict[str, dict[str, Any]] = {}
    for name, store in config.stores.items():
        entry: dict[str, Any] = {}
        for field_name in ("prefixes", "anonymous"):
            value = getattr(store, field_name)
            entry[field_name] = {
                "value": list(value) if isinstance(value, tuple) else value,
                "source": _source_of(origins.get(("stores", name, field_name))),
            }
        section = store.section()
        entry[store.backend] = {
            field_name: {
                "value": _plain(getattr(section, field_name)),
                "source": _source_of(origins.get(("stores", name, store.backend, field_name))),
            }
            for field_name in type(section).model_fields
        }
        result[name] = entry
    return result


def _yaml_value(value: Any) -> str:
    import yaml

    rendered = yaml.safe_dump(value, default_flow_style=True).strip()
    return rendered.removesuffix("\n...").removesuffix("...").strip()


def _echo_store(name: str, entry: dict[str, Any], indent: str = "  ") -> None:
    click.echo(f"{indent}{name}:")
    for key, item in entry.items():
        if "value" in item and "source" in item and not isinstance(item["value"], dict):
            click.echo(f"{indent}  {key}: {_yaml_value(item['value'])}  # {item['source']}")
            continue
        click.echo(f"{indent}  {key}:")
        for field_name, field_entry in item.items():
            click.echo(
                f"{indent}    {field_name}: {_yaml_value(field_entry['value'])}  # {field_entry['source']}"
            )


@cli.command()
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    help="YAML file to read (default: PERSIST_CONFIG, else FLYTECTL_CONFIG).",
)
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option(
    "--source",
    "extra",
    multiple=True,
    metavar="MODULE:NAME",
    help="Also read an extra pydantic-settings source: NAME in MODULE builds it from the settings "
    "class, or is a (slot, factory) pair (see examples/vault_source.py). Repeatable.",
)
@click.option(
    "--for",
    "for_uri",
    metavar="URI",
    help="Show only what serves URI: the named store whose prefix matches it (and why), or the "
    "top-level section.",
)
def show(config_file: str | None, fmt: str, extra: tuple[str, ...], for_uri: str | None) -> None:
    """Print the effective config after all sources, each value with its source; secrets masked.

    A Flyte file's bucket (storage.container) and variables ignored because they are empty
    follow as comments; keys persist cannot honour are warnings on stderr.
    """
    extra_sources = [_extra_source(spec) for spec in extra]
    loaded = resolve(
        DataConfig,
        default_sources(DataConfig, config_file, _overrides(), extra_sources, overrides_label=OPTIONS_LABEL),
    )
    for note in loaded.notes:
        click.echo(f"warning: {note}", err=True)
    if for_uri is not None:
        _show_for(loaded, for_uri, fmt)
        return
    shown: dict[str, Any] = _effective(loaded)
    stores = _effective_stores(loaded)
    if stores:
        shown["stores"] = stores
    if fmt == "json":
        if loaded.bucket:
            shown["deployment"] = {"bucket": {"value": loaded.bucket[0], "source": _where(loaded.bucket[1])}}
        if loaded.ignored:
            shown["ignored"] = {var: "empty" for var in loaded.ignored}
        _echo_json(shown, indent=2)
        return
    import yaml

    for section, fields in shown.items():
        click.echo(f"{section}:")
        if section == "stores":
            for name, entry in fields.items():
                _echo_store(name, entry)
            continue
        for name, entry in fields.items():
            rendered = yaml.safe_dump(entry["value"], default_flow_style=True).strip()
            rendered = rendered.removesuffix("\n...").removesuffix("...").strip()
            click.echo(f"  {name}: {rendered}  # {entry['source']}")
    if loaded.bucket:
        click.echo(f"# deployment bucket: {loaded.bucket[0]}  # {_where(loaded.bucket[1])}")
    for var in loaded.ignored:
        click.echo(f"# ignored: {var} (empty)")


def _show_for(loaded: Loaded[DataConfig], uri: str, fmt: str) -> None:
    """Which store serves ``uri`` and why, then the settings that serve it, each with its source."""
    from persist._stores import match_store
    from persist.options import AZURE_PROTOCOLS, S3_PROTOCOLS
    from persist.paths import get_protocol

    found = match_store(loaded.config.stores, uri)
    if found is not None:
        origin = loaded.origins.get(("stores", found.name, "prefixes"))
        why: dict[str, str | None] = {
            "store": found.name,
            "prefix": found.prefix,
            "source": _source_of(origin),
        }
        body: dict[str, Any] = _effective_stores(loaded)[found.name]
        body["generic"] = _effective(loaded)["generic"]
        line = (
            f"# {uri} is served by store {found.name!r}: it matches the prefix {found.prefix}"
            f"  # {why['source']}"
        )
    else:
        protocol = get_protocol(uri)
        section = (
            "s3"
            if protocol in S3_PROTOCOLS
            else "azure"
            if protocol in AZURE_PROTOCOLS
            else "gcs"
            if protocol in GCS_PROTOCOLS
            else None
        )
        why = {"store": None, "prefix": None, "source": None}
        effective = _effective(loaded)
        body = {name: effective[name] for name in (section, "generic") if name}
        reason = "no store's prefix matches it" if loaded.config.stores else "no stores are configured"
        top = (
            f"the top-level {section} section" if section else "no storage settings (local or other protocol)"
        )
        line = f"# {uri} is served by {top}: {reason}"
    if fmt == "json":
        _echo_json({"uri": uri, "served_by": why, "settings": body}, indent=2)
        return
    click.echo(line)
    if found is not None:
        click.echo("stores:")
        _echo_store(found.name, {k: v for k, v in body.items() if k != "generic"})
    for key, item in body.items():
        if key == "generic" or found is None:
            click.echo(f"{key}:")
            for name, entry in item.items():
                click.echo(f"  {name}: {_yaml_value(entry['value'])}  # {entry['source']}")


def _source_of(origin: Origin | None) -> str:
    """The file or variable; for a Flyte file also the key, which names no persist field."""
    if origin is None:
        return "default"
    return _where(origin) if origin.key.lower().startswith("storage.") else origin.source


def _where(origin: Origin) -> str:
    return f"{origin.source}: {origin.key}"


def _masked(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _masked(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v, secrets) for v in value]
    if isinstance(value, str):
        return redact(value, secrets)
    return value


GCS_ENDPOINT_NOTE = (
    "note: gcs.endpoint is set: retry_timeout makes gcsfs give up its bucket-type lookup, which "
    "emulators cannot answer, after one quick attempt (gcsfs logs a warning each time). To skip "
    "the lookup, set GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false before your program imports gcsfs."
)
"""Printed on stderr by ``persist options gs`` when the config names a GCS endpoint."""


@cli.command()
@click.argument("protocol", metavar="PROTOCOL", type=click.Choice(CONFIGURED_PROTOCOLS), required=False)
@click.option("--config", "config_file", metavar="FILE", help="YAML file to read (default: PERSIST_CONFIG).")
@click.option("--reveal", is_flag=True, help="Print secrets instead of masking them.")
@click.option(
    "--for",
    "for_uri",
    metavar="URI",
    help="The options for URI: those of the named store serving it, else of its protocol.",
)
def options(protocol: str | None, config_file: str | None, reveal: bool, for_uri: str | None) -> None:
    """Print the fsspec storage options for PROTOCOL (s3, gs, abfs, file...) or --for URI as JSON.

    Paste them into pandas, dask or pyarrow as storage_options. Secrets are masked unless
    --reveal is given. PROTOCOL is one persist configures, in lower case; any other protocol
    gets no options from persist. With --for URI, the protocol is the URI's and a named store
    whose prefix matches the URI supplies the options (the store is named on stderr).
    """
    from persist.paths import get_protocol

    if protocol is None and for_uri is None:
        raise click.UsageError(
            "Missing argument 'PROTOCOL'. Choose from: "
            + ", ".join(CONFIGURED_PROTOCOLS)
            + " (or give --for URI)."
        )
    protocol = protocol or get_protocol(for_uri or "")
    config = _auto(config_file)
    served = config
    if for_uri is not None:
        from persist._stores import config_for

        found, served, _ = config_for(config, for_uri)
        if found is not None:
            click.echo(f"# store {found.name!r} (prefix {found.prefix})", err=True)
    opts = get_fsspec_storage_options(protocol, config, path=for_uri)
    if not reveal:
        opts = _masked(opts, secret_values(config))
    _echo_json(opts, indent=2, sort_keys=True)
    if protocol in GCS_PROTOCOLS and served.gcs.endpoint:
        click.echo(GCS_ENDPOINT_NOTE, err=True)


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


def _no_length() -> Iterator[None]:
    """An iterable whose length nobody can tell: click's bar for a total not known yet."""
    yield from ()


class TransferProgress:
    """Counts a transfer's files and bytes and, on a terminal, draws click's progress bar.

    A ``persist._transfer.Progress``: the transfer calls it from persist's I/O thread (and
    obstore's), so a lock guards the counts and the bar. The bar (click's, on stderr) shows
    the bytes against their total with percent and ETA once the total is known, the files,
    and the rate; it is redrawn at most every ``interval`` seconds, and drawn a last time
    when the transfer ends. Use it as a context manager around the transfer.
    """

    def __init__(
        self,
        show: bool,
        total_files: int | None = None,
        total_bytes: int | None = None,
        interval: float = 0.1,
    ) -> None:
        self.files = 0
        self.nbytes = 0
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.started = time.perf_counter()
        self._interval = interval
        self._drawn_at = 0.0
        self._lock = threading.Lock()
        self._bar: Any = None
        self._drawn: tuple[int, int, int | None, int | None] | None = None
        if show:
            self._bar = click.progressbar(
                _no_length(),
                length=total_bytes,
                file=sys.stderr,
                show_percent=True,
                item_show_func=self._info,
                bar_template="%(bar)s  %(info)s",
                width=24,
            )

    def __enter__(self) -> TransferProgress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if self._bar is None:
            return
        with self._lock:
            if kind is None:
                self._bar.finish()
            # The last state once: redrawn only if it changed since the bar was last drawn
            # (the rate alone does not count), then the line is ended.
            if self._state() != self._drawn:
                self._draw()
            self._bar.render_finish()

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
                if self._bar is not None:
                    self._bar.length = total_bytes
            now = time.perf_counter()
            if self._bar is not None and now - self._drawn_at >= self._interval:
                self._drawn_at = now
                self._draw()

    @property
    def elapsed(self) -> float:
        """Seconds since the transfer started."""
        return max(time.perf_counter() - self.started, 1e-9)

    def _state(self) -> tuple[int, int, int | None, int | None]:
        return self.files, self.nbytes, self.total_files, self.total_bytes

    def _draw(self) -> None:
        # click's bar counts steps; here the steps are bytes (fewer after a retry took some back).
        self._bar.make_step(self.nbytes - self._bar.pos)
        self._bar.render_progress()
        self._drawn = self._state()

    def _info(self, _: object = None) -> str:
        files = f"{self.files}/{self.total_files}" if self.total_files is not None else str(self.files)
        size = _size(self.nbytes) + (f"/{_size(self.total_bytes)}" if self.total_bytes is not None else "")
        return f"{files} files  {size}  {_size(self.nbytes / self.elapsed)}/s"


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
    """Copy SRC to DST: uploads, downloads, local copies, or store to store.

    A downloaded file is written atomically, so an interrupted copy (Ctrl-C) never leaves a
    partial file at DST, and an interrupted upload leaves no object and no unfinished S3
    multipart upload; the one line printed says which files are complete (exit status 130).
    Between two remote locations (the same store or two), each object streams from one to the
    other with no local copy and appears whole or not at all. A progress bar is shown on a
    terminal.
    """
    from persist.provider import FileAccessProvider

    if as_json:
        _json_errors()
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
    with _scratch_dir() as scratch, TransferProgress(show_bar, *totals) as bar:
        provider: FileAccessProvider = FileAccessProvider(scratch, dst if is_remote(dst) else scratch, config)
        count = _FileCount(bar, totals[0])
        try:
            if is_remote(src) and is_remote(dst):
                _remote_copy(provider, src, dst, recursive, count)
            elif is_remote(src):
                _download(provider, src, dst, recursive, count)
            else:
                provider.put_data(src, dst, is_multipart=recursive, progress=count)
        except KeyboardInterrupt:
            raise _Interrupted(_interrupt_note(count, dst, is_remote(dst), recursive)) from None
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


def _download(
    provider: FileAccessProvider, src: str, dst: str, recursive: bool, progress: Callable[..., None]
) -> None:
    """Download ``src``; a folder without ``-r`` is a usage error, as it is for uploads."""
    from persist.errors import DataNotFoundError

    try:
        provider.get_data(src, dst, is_multipart=recursive, progress=progress)
    except DataNotFoundError:
        # Only now, on the rare failure, one more request: is there a folder (a prefix) there?
        if not recursive and _is_folder(provider, src):
            raise click.UsageError(f"{src} is a folder; use -r to copy it") from None
        raise


def _remote_copy(
    provider: FileAccessProvider, src: str, dst: str, recursive: bool, progress: Callable[..., None]
) -> None:
    """Stream ``src`` into ``dst``, store to store; a folder without ``-r`` is a usage error."""
    from persist.errors import InvalidInputError

    try:
        provider.copy(src, dst, recursive=recursive, progress=progress)
    except InvalidInputError as err:
        if not recursive and str(err).endswith("use -r to copy it"):
            raise click.UsageError(str(err)) from None
        raise


def _is_folder(provider: FileAccessProvider, uri: str) -> bool:
    try:
        return provider.exists(uri)
    except PersistError:
        return False


@cli.command()
@click.argument("uri")
@click.option("-l", "long", is_flag=True, help="Show type, size and modification time.")
@click.option("--config", "config_file", metavar="FILE", help="YAML file to read (default: PERSIST_CONFIG).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list for scripts.")
def ls(uri: str, long: bool, config_file: str | None, as_json: bool) -> None:
    """List the objects and folders directly under URI."""
    from persist.provider import FileAccessProvider

    if as_json:
        _json_errors()
    config = _auto(config_file)
    with _scratch_dir() as scratch:
        provider = FileAccessProvider(scratch, scratch, config)
        entries = provider.ls(uri)
    rows = []
    for entry in sorted(entries, key=lambda e: str(e["name"])):
        rows.append(
            {
                "name": str(entry["name"]),
                "type": entry["type"],
                "size": entry["size"],
                "modified": iso_utc(entry["modified"]),
            }
        )
    if as_json:
        _echo_json(rows, indent=2, default=str)
        return
    mark = "/" if is_remote(uri) else os.sep
    for row in rows:
        folder = row["type"] == "directory"
        if long:
            click.echo(
                f"{'d' if folder else '-'} {row['size']:>12}  {row['modified'] or '-':<20}  {row['name']}"
            )
        else:
            click.echo(f"{row['name']}{mark if folder else ''}")


def iso_utc(value: Any) -> str | None:
    """A listing's modification time as ISO 8601 in UTC to the second (``2026-12-02T01:02:03Z``).

    Backends differ: s3fs and adlfs give datetimes, gcsfs RFC 3339 strings, the local disk
    seconds since the epoch. A time without a zone is taken as UTC; None when there is none
    or it cannot be read.
    """
    if value is None or isinstance(value, bool):
        return None
    moment: datetime
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)):
        moment = datetime.fromtimestamp(value, tz=UTC)
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            from email.utils import parsedate_to_datetime

            try:
                moment = parsedate_to_datetime(text)  # an HTTP date: Wed, 02 Dec 2026 01:02:03 GMT
            except (TypeError, ValueError):
                return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def main() -> None:
    """Entry point of the ``persist`` command."""
    try:
        cli(prog_name="persist")
    except SystemExit as exc:
        if exc.code == EXIT_INTERRUPTED:
            # Leave without finalising the interpreter: obstore's runtime threads may still hand
            # a cancelled call's end back to Python, and one that does so while the interpreter
            # shuts down panics ("The Python interpreter is not initialized") and prints a Rust
            # backtrace. The transfer has already cleaned up (run_sync waited for it), and
            # nothing else is left to do but flush what was printed.
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(EXIT_INTERRUPTED)
        raise
    finally:
        # The process exits next: frozen objects spare the collector a last walk over every
        # module and schema (benchmarks/README.md, "Decisions measured"). atexit handlers
        # still run and the standard streams are still flushed.
        gc.freeze()
