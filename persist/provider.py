"""FileAccessProvider: flytekit's data persistence API over typed config and fsspec."""

from __future__ import annotations

import io
import logging
import os
import pathlib
import stat
import sys
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, Union

from persist._backend import Entry, make_backend
from persist._errors import Kind, Operation, classify, to_persist_error
from persist._fs import RetryPolicy, build_filesystem, run_async, run_sync, timeout_kind
from persist._plan import Plan, enable_debug_logging, endpoint_host, plan_for, secret_values
from persist._stores import config_for, match_store
from persist._sync import SyncObstore, on_io_loop_thread
from persist._text import backend_reason
from persist._transfer import Progress, Transfer
from persist.config import DataConfig
from persist.errors import DataNotFoundError, InvalidInputError, UploadError
from persist.options import FILE_PROTOCOLS, get_fsspec_storage_options
from persist.paths import check_relative_key, get_file_tail, get_protocol, join, split_protocol
from persist.paths import is_remote as _is_remote
from persist.paths import strip_file_header as _strip_file_header

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["FileAccessProvider"]

T = TypeVar("T")

RawData = Union[str, "os.PathLike[str]", bytes, io.BufferedReader, io.BytesIO, io.StringIO]
"""What ``put_raw_data`` accepts: a path to a file or folder, bytes, or a readable buffer."""


class FileAccessProvider:
    """Moves data between the local machine and the storage that ``raw_output_prefix`` names.

    Args:
        local_sandbox_dir: a local working directory; persist uses ``<dir>/local_flytekit``.
        raw_output_prefix: where ``put_raw_data`` and the random remote paths go, such as
            ``s3://bucket/data/``; a local directory works too.
        data_config: the storage configuration; ``None`` reads it with ``DataConfig.auto()``.
        execution_metadata: user metadata stored on every uploaded object when
            ``generic.attach_execution_metadata`` is on.

    Every transfer method has a sync form that works from plain code, from threads and from
    inside a running event loop (a notebook cell), and an ``async_`` form.

    **Usage**::

        provider = FileAccessProvider("/tmp/sandbox", "s3://bucket/raw/", DataConfig.auto())
        uri = provider.put_raw_data(b"hello", file_name="greeting.txt")
    """

    def __init__(
        self,
        local_sandbox_dir: str | os.PathLike[str],
        raw_output_prefix: str,
        data_config: DataConfig | None = None,
        execution_metadata: dict[str, Any] | None = None,
    ) -> None:
        self._setup(local_sandbox_dir, raw_output_prefix, data_config, execution_metadata, None)

    @classmethod
    def from_environment(
        cls,
        local_sandbox_dir: str | os.PathLike[str],
        raw_output_prefix: str,
        execution_metadata: dict[str, Any] | None = None,
        config_file: str | os.PathLike[str] | None = None,
    ) -> FileAccessProvider:
        """A provider whose config is read with ``DataConfig.auto(config_file)`` wherever it is used.

        It reads the config now, as ``data_config=None`` does, but a pickled copy carries no
        config at all: unpickled on a worker (Dask, Ray, a process pool), it reads the config
        again from the worker's own environment, config file and secrets directory. Use it to
        keep credentials out of what is sent to workers.

        Args:
            local_sandbox_dir: a local working directory, as for ``FileAccessProvider``.
            raw_output_prefix: where raw data goes, as for ``FileAccessProvider``.
            execution_metadata: user metadata for uploaded objects; it travels with the provider.
            config_file: a YAML config file; the path (not its content) travels, so each
                worker reads its own copy. ``None``: ``PERSIST_CONFIG``, as ``DataConfig.auto``.

        Raises:
            ConfigError: the configuration found here is invalid.
        """
        provider = cls.__new__(cls)
        source = _EnvironmentConfig(None if config_file is None else os.fspath(config_file))
        provider._setup(local_sandbox_dir, raw_output_prefix, None, execution_metadata, source)
        return provider

    def _setup(
        self,
        local_sandbox_dir: str | os.PathLike[str],
        raw_output_prefix: str,
        data_config: DataConfig | None,
        execution_metadata: dict[str, Any] | None,
        environment: _EnvironmentConfig | None,
    ) -> None:
        """Build the provider's state: ``__init__``, ``from_environment`` and unpickling share it."""
        if local_sandbox_dir is None or os.fspath(local_sandbox_dir) == "":
            raise InvalidInputError("FileAccessProvider needs a local_sandbox_dir (a local directory)")
        if not raw_output_prefix:
            raise InvalidInputError("FileAccessProvider needs a raw_output_prefix, such as s3://bucket/raw/")
        self._sandbox_root = os.fspath(local_sandbox_dir)
        self._local_sandbox_dir = pathlib.Path(local_sandbox_dir) / "local_flytekit"
        self._local_sandbox_dir.mkdir(parents=True, exist_ok=True)
        self._environment = environment
        if environment is not None:
            data_config = DataConfig.auto(environment.config_file)
        self._data_config = data_config if data_config is not None else DataConfig.auto()
        self._execution_metadata = {str(k): str(v) for k, v in (execution_metadata or {}).items()}
        self._default_protocol = get_protocol(raw_output_prefix)
        sep = self._sep_for(self._default_protocol)
        self._raw_output_prefix = (
            raw_output_prefix if raw_output_prefix.endswith(sep) else raw_output_prefix + sep
        )
        self._secrets = secret_values(self._data_config)
        # Plans and sync fast paths, by (store, protocol, anonymous): see _plan and _fast.
        self._plans: dict[tuple[str | None, str, bool], Plan] = {}
        self._fast_paths: dict[tuple[str | None, str], tuple[int, int, SyncObstore | None]] = {}

    # --- pickling: a provider travels to Dask, Ray and process-pool workers --------------

    def __getstate__(self) -> dict[str, Any]:
        """What a pickled provider carries: its arguments, never a client, loop, lock or cache.

        The config travels as given, secrets included, unless the provider came from
        ``from_environment``: then only the config file's path (if any) travels.
        """
        return {
            "local_sandbox_dir": self._sandbox_root,
            "raw_output_prefix": self._raw_output_prefix,
            "data_config": None if self._environment is not None else self._data_config,
            "execution_metadata": dict(self._execution_metadata),
            "environment": self._environment,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild on the receiving side; clients and filesystems are built there on first use."""
        self._setup(
            state["local_sandbox_dir"],
            state["raw_output_prefix"],
            state["data_config"],
            state["execution_metadata"],
            state["environment"],
        )

    def __repr__(self) -> str:
        source = "environment" if self._environment is not None else "given"
        return (
            f"{type(self).__name__}(local_sandbox_dir={self._sandbox_root!r}, "
            f"raw_output_prefix={self._raw_output_prefix!r}, config={source})"
        )

    # --- properties ---------------------------------------------------------------------

    @property
    def data_config(self) -> DataConfig:
        """The configuration this provider uses."""
        return self._data_config

    @property
    def local_sandbox_dir(self) -> os.PathLike[str]:
        """The local working directory (``<local_sandbox_dir>/local_flytekit``)."""
        return self._local_sandbox_dir

    @property
    def local_access(self) -> AbstractFileSystem:
        """The local filesystem."""
        return self.get_filesystem("file")

    @property
    def raw_output_fs(self) -> AbstractFileSystem:
        """The filesystem of ``raw_output_prefix``, built on first use."""
        return self.get_filesystem(self._default_protocol)

    @property
    def raw_output_prefix(self) -> str:
        """Where raw data goes, always ending with a separator."""
        return self._raw_output_prefix

    # --- filesystems --------------------------------------------------------------------

    def get_filesystem(
        self, protocol: str | None = None, anonymous: bool = False, path: str | None = None, **kwargs: Any
    ) -> AbstractFileSystem:
        """The fsspec filesystem for a protocol (default: the raw output prefix's), cached.

        Args:
            protocol: ``s3``, ``gs``, ``abfs``, ``file``...; ``None`` means the raw output's.
            anonymous: build it without credentials, for public data.
            path: a path the filesystem is for: the named store serving it (if any) configures it.
            **kwargs: storage options that override the configured ones.
        """
        protocol = protocol or self._default_protocol
        config = self._data_config
        if path:
            _, config, store_anonymous = config_for(self._data_config, path)
            anonymous = anonymous or store_anonymous
        options = get_fsspec_storage_options(protocol, config, anonymous=anonymous, **kwargs)
        return build_filesystem(protocol, options, tune={})

    def get_filesystem_for_path(
        self, path: str = "", anonymous: bool = False, **kwargs: Any
    ) -> AbstractFileSystem:
        """The filesystem that serves ``path``."""
        return self.get_filesystem(get_protocol(path), anonymous=anonymous, path=path, **kwargs)

    async def get_async_filesystem_for_path(
        self, path: str = "", anonymous: bool = False, **kwargs: Any
    ) -> AbstractFileSystem:
        """An asynchronous filesystem for ``path``, bound to the awaiting event loop.

        A coroutine function, as in flytekit: ``fs = await provider.get_async_filesystem_for_path(path)``.
        The local filesystem has no async form and comes back as the plain one.
        """
        import asyncio

        loop = asyncio.get_running_loop()
        protocol = get_protocol(path)
        if protocol in FILE_PROTOCOLS:
            return self.get_filesystem(protocol, anonymous=anonymous, **kwargs)
        return self.get_filesystem(
            protocol, anonymous=anonymous, path=path, asynchronous=True, loop=loop, **kwargs
        )

    def _plan(self, path: str, anonymous: bool = False, put_kwargs: dict[str, Any] | None = None) -> Plan:
        """The plan for ``path``: its named store's settings, else the top-level sections.

        Each store's plan has its own options, so filesystems and stores are cached per store.
        """
        found, config, store_anonymous = config_for(self._data_config, path)
        protocol = get_protocol(path)
        anonymous = anonymous or store_anonymous
        if put_kwargs:
            return plan_for(config, protocol, anonymous=anonymous, put_kwargs=put_kwargs)
        # A plan is a pure function of these (the config is frozen): made once, not per call.
        key = (found.name if found else None, protocol, anonymous)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = plan_for(config, protocol, anonymous=anonymous)
        return plan

    def _fast(self, path: str) -> SyncObstore | None:
        """The sync fast path for ``path`` (``_sync``), or None where the I/O loop must serve it.

        Only the obstore engine has one, and not in a process forked after obstore ran in its
        parent, nor on persist's own I/O loop thread (there run_sync refuses, as before).
        """
        found = match_store(self._data_config.stores, path) if self._data_config.stores else None
        key = (found.name if found else None, get_protocol(path))
        entry = self._fast_paths.get(key)
        # Built again after a fork (the stores are the parent's) or clear_filesystem_cache().
        if entry is None or entry[0] != os.getpid() or entry[1] != _obstore_generation():
            plan = self._plan(path)
            fast = None
            if plan.engine == "obstore":
                from persist._obstore import ObstoreBackend

                backend = ObstoreBackend(plan, dict(self._execution_metadata) if plan.attach_metadata else {})
                retry = RetryPolicy(retries=plan.retry.retries, backoff=plan.retry.backoff)
                fast = SyncObstore(backend, retry, plan.part_size)
                entry = (os.getpid(), _obstore_generation(), fast)
            else:
                entry = (os.getpid(), _obstore_generation(), None)
            self._fast_paths[key] = entry
            enable_debug_logging(plan)
        fast = entry[2]
        if fast is None or not _obstore_usable() or on_io_loop_thread():
            return None
        return fast

    def _fallback(self, path: str) -> bool:
        """Whether a refused request on ``path`` is retried unsigned (never for an anonymous store)."""
        _, _, store_anonymous = config_for(self._data_config, path)
        return not store_anonymous and self._plan(path).anonymous_fallback

    def _transfer(
        self, path: str, anonymous: bool = False, progress: Progress | None = None, **put_kwargs: Any
    ) -> Transfer:
        """The transfer core over the backend the plan for ``path`` names."""
        plan = self._plan(path, anonymous=anonymous, put_kwargs=put_kwargs)
        if plan.engine == "obstore" and not _obstore_usable():
            # A fork of a process where obstore ran: plan this transfer as with engine: fsspec.
            _, config, _ = config_for(self._data_config, path)
            fsspec_only = config.model_copy(
                update={"generic": config.generic.model_copy(update={"engine": "fsspec"})}
            )
            plan = plan_for(fsspec_only, plan.protocol, anonymous=plan.anonymous, put_kwargs=put_kwargs)
        enable_debug_logging(plan)
        backend = make_backend(plan, self._execution_metadata)
        retry = RetryPolicy(retries=plan.retry.retries, backoff=plan.retry.backoff)
        return Transfer(backend=backend, retry=retry, concurrency=plan.concurrency, progress=progress)

    # --- paths --------------------------------------------------------------------------

    @staticmethod
    def is_remote(path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` is anywhere but the local filesystem."""
        return _is_remote(path)

    @staticmethod
    def strip_file_header(path: str, trim_trailing_sep: bool = False) -> str:
        """Drop a leading ``file://`` and, with ``trim_trailing_sep``, trailing separators."""
        return _strip_file_header(path, trim_trailing_sep=trim_trailing_sep)

    @staticmethod
    def get_file_tail(file_path_or_file_name: str) -> str:
        """The last component of a path."""
        return get_file_tail(file_path_or_file_name)

    @staticmethod
    def get_random_string() -> str:
        """A random 32-character hex string.

        Drawn from the OS (``uuid4``), not the ``random`` module: code that calls ``random.seed``
        (common in ML tasks) must not make two runs pick the same paths and overwrite each other.
        """
        return uuid.uuid4().hex

    @staticmethod
    def recursive_paths(f: str, t: str) -> tuple[str, str]:
        """The paths of a folder transfer, with trailing separators as flytekit gives them.

        ``t`` always gets one; ``f`` gets one when it is remote or an existing local folder.
        A local file, or a local path that does not exist, is returned unchanged.
        """
        if get_protocol(f) not in FILE_PROTOCOLS or os.path.isdir(_strip_file_header(f)):
            f = _with_sep(f)
        return f, _with_sep(t)

    @staticmethod
    def _sep_for(protocol: str) -> str:
        return os.sep if protocol in FILE_PROTOCOLS else "/"

    def sep(self, file_system: AbstractFileSystem | None = None) -> str:
        """The path separator of a filesystem; the local one when none is given."""
        if file_system is None:
            return os.sep
        protocols = (
            file_system.protocol
            if isinstance(file_system.protocol, (tuple, list))
            else [file_system.protocol]
        )
        if "file" in protocols or "local" in protocols:
            return os.sep
        return str(file_system.sep)

    def join(self, *args: str, unstrip: bool = False, fs: AbstractFileSystem | None = None) -> str:
        """Join path parts with the separator of ``fs`` (default: the raw output's).

        With ``unstrip``, a result without a protocol gets the filesystem's protocol.
        """
        if not args:
            raise InvalidInputError("join needs at least one path part")
        if fs is not None:
            sep = self.sep(fs)
        else:
            sep = self._sep_for(get_protocol(args[0]) if "://" in args[0] else self._default_protocol)
        joined = join(*args, sep=sep)
        if unstrip and split_protocol(joined)[0] is None:
            target = fs if fs is not None else self.raw_output_fs
            joined = str(target.unstrip_protocol(joined))
        return joined

    def get_random_local_path(self, file_path_or_file_name: str | None = None) -> str:
        """A new random path in the sandbox; keeps the tail of ``file_path_or_file_name``."""
        key = self.get_random_string()
        tail = get_file_tail(file_path_or_file_name) if file_path_or_file_name else ""
        path = self._local_sandbox_dir / key
        return str(path / tail) if tail else str(path)

    def get_random_local_directory(self) -> str:
        """A new, existing, empty random directory in the sandbox."""
        directory = self.get_random_local_path(None)
        pathlib.Path(directory).mkdir(parents=True, exist_ok=True)
        return directory

    def get_random_remote_path(self, file_path_or_file_name: str | None = None) -> str:
        """A new random path under the raw output prefix; keeps the tail of the given name."""
        key = self.get_random_string()
        tail = get_file_tail(file_path_or_file_name) if file_path_or_file_name else ""
        return (
            self.join(self._raw_output_prefix, key, tail) if tail else self.join(self._raw_output_prefix, key)
        )

    def get_random_remote_directory(self) -> str:
        """A new random directory path under the raw output prefix (nothing is created)."""
        return self.get_random_remote_path(None)

    def generate_new_custom_path(
        self, fs: AbstractFileSystem | None = None, alt: str | None = None, stem: str | None = None
    ) -> str:
        """A path under the raw output prefix ending in ``stem`` (``None`` or empty: a random string).

        ``alt`` replaces the prefix's first member: the bucket of ``s3://bucket/data/``, or the
        first directory of a local prefix. ``s3://bucket/data/`` with ``alt="other"`` and
        ``stem="x"`` gives ``s3://other/data/x``.

        Raises:
            InvalidInputError: ``alt`` or ``stem`` would leave the prefix (``..``, separators in
                ``alt``).
        """
        protocol, rest = split_protocol(self._raw_output_prefix)
        sep = self.sep(fs) if fs is not None else self._sep_for(protocol or "file")
        parts = rest.rstrip(sep).split(sep)
        if alt:
            if sep in alt or alt in (".", ".."):
                raise InvalidInputError(f"alt {alt!r} must be a single name, such as a bucket")
            first = 1 if parts and parts[0] == "" else 0
            if first < len(parts):
                parts[first] = alt
            else:
                parts.append(alt)
        if stem:
            check_relative_key(stem, "stem", self._raw_output_prefix)
        # An empty stem gets a random one too (as in flytekit), never the prefix itself.
        parts.append(stem or self.get_random_string())
        path = sep.join(parts)
        return f"{protocol}://{path}" if protocol else path

    # --- existence ----------------------------------------------------------------------

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists; retries anonymously when the credentials are refused."""
        fast = self._fast(path)
        if fast is None:
            return run_sync(lambda: self._exists(path))
        try:
            return fast.exists(path)
        except Exception as exc:
            if classify(exc) is not Kind.DENIED or not self._fallback(path):
                self._fail(exc, "lookup", path)
            first = exc
        return run_sync(lambda: self._exists_anonymously(path, first))

    async def _exists(self, path: str) -> bool:
        try:
            return await self._transfer(path).exists(path)
        except Exception as exc:
            if classify(exc) is not Kind.DENIED or not self._fallback(path):
                self._fail(exc, "lookup", path)
            return await self._exists_anonymously(path, exc)

    async def _exists_anonymously(self, path: str, first: Exception) -> bool:
        """exists() without credentials, after ``first`` refused them; its error if this fails."""
        try:
            return await self._transfer(path, anonymous=True).exists(path)
        except Exception:
            self._fail(first, "lookup", path)

    # --- listings and deletes -----------------------------------------------------------

    def ls(self, path: str) -> list[Entry]:
        """The files and folders directly under ``path``, through the engine that serves it.

        Each entry has ``name`` (a full URI for remote paths), ``type`` (``file`` or
        ``directory``), ``size`` and ``modified`` (as the backend gives it, or None).

        Raises:
            DataNotFoundError: nothing is at ``path``.
            PersistError: the listing failed; the text says why.
        """
        return run_sync(lambda: self._call(path, "list", lambda t: t.ls(path)))

    def rm_file(self, path: str) -> None:
        """Delete the one file or object at ``path``.

        Raises:
            DataNotFoundError: nothing is at ``path``.
            PersistError: the delete failed; the text says why.
        """
        run_sync(lambda: self._call(path, "delete", lambda t: t.rm_file(path)))

    async def _call(self, path: str, operation: Operation, action: Callable[[Transfer], Awaitable[T]]) -> T:
        """Run one request on ``path``'s transfer core, its errors mapped at the boundary."""
        try:
            return await action(self._transfer(path))
        except Exception as exc:
            self._fail(exc, operation, path)

    # --- downloads ----------------------------------------------------------------------

    def get(self, from_path: str, to_path: str, recursive: bool = False, **kwargs: Any) -> str:
        """Download ``from_path`` (a folder when ``recursive``) to ``to_path``; returns ``to_path``."""
        return run_sync(lambda: self._get(from_path, to_path, recursive, kwargs.get("progress")))

    def get_data(self, remote_path: str, local_path: str, is_multipart: bool = False, **kwargs: Any) -> str:
        """Download a file, or a folder with ``is_multipart``, to ``local_path``.

        A file is written atomically: a failure leaves an existing ``local_path`` unchanged.
        ``progress=`` takes a ``persist._transfer.Progress`` callable for finished files and bytes.

        Raises:
            DataNotFoundError: ``remote_path`` does not exist.
            DownloadError: the download failed; the text names both paths and the reason.
            InvalidInputError: a remote key would land outside ``local_path``.
        """
        fast = None if is_multipart or kwargs else self._fast(remote_path)
        if fast is None:
            return run_sync(lambda: self._get(remote_path, local_path, is_multipart, kwargs.get("progress")))
        to_path = _strip_file_header(os.fspath(local_path))
        try:
            fast.get(remote_path, to_path)
        except Exception as exc:
            if classify(exc) is Kind.DENIED and self._fallback(remote_path):
                first = exc
                run_sync(lambda: self._get_anonymously(remote_path, to_path, False, first, None))
                return to_path
            self._fail(exc, "download", remote_path, to_path)
        return to_path

    async def async_get_data(
        self, remote_path: str, local_path: str, is_multipart: bool = False, **kwargs: Any
    ) -> str:
        """``get_data`` for async code: awaits without blocking the caller's event loop."""
        return await run_async(
            lambda: self._get(remote_path, local_path, is_multipart, kwargs.get("progress"))
        )

    def download(self, remote_path: str, local_path: str, **kwargs: Any) -> str:
        """Download one file."""
        return self.get_data(remote_path, local_path, **kwargs)

    def download_directory(self, remote_path: str, local_path: str, **kwargs: Any) -> str:
        """Download a folder."""
        return self.get_data(remote_path, local_path, is_multipart=True, **kwargs)

    async def _get(
        self, from_path: str, to_path: str, recursive: bool, progress: Progress | None = None
    ) -> str:
        to_path = _strip_file_header(os.fspath(to_path))
        try:
            await self._get_with(self._transfer(from_path, progress=progress), from_path, to_path, recursive)
        except Exception as exc:
            # A refusal can come from a file's download or, for a folder, from its listing:
            # either way public data is retried without credentials, as flytekit does.
            if classify(exc) is Kind.DENIED and self._fallback(from_path):
                await self._get_anonymously(from_path, to_path, recursive, exc, progress)
                return to_path
            self._fail(exc, "download", from_path, to_path, recursive=recursive)
        return to_path

    @staticmethod
    async def _get_with(transfer: Transfer, from_path: str, to_path: str, recursive: bool) -> None:
        if recursive:
            await transfer.get_tree(from_path, to_path)
        else:
            await transfer.get_file(from_path, to_path, single=True)

    async def _get_anonymously(
        self,
        from_path: str,
        to_path: str,
        recursive: bool,
        first: Exception,
        progress: Progress | None,
    ) -> None:
        """Retry a refused download of a file or folder without credentials, for public data.

        When anonymous access fails too, the error is the one the credentials got.
        """
        try:
            anonymous = self._transfer(from_path, anonymous=True, progress=progress)
            await self._get_with(anonymous, from_path, to_path, recursive)
        except Exception as again:
            if classify(again) is Kind.NOT_FOUND:
                self._fail(again, "download", from_path, to_path, recursive=recursive)
            self._fail(first, "download", from_path, to_path, recursive=recursive)

    # --- remote to remote -----------------------------------------------------------------

    def copy(self, src: str, dst: str, recursive: bool = False, **kwargs: Any) -> str:
        """Copy ``src`` (a folder when ``recursive``) to ``dst``, both remote, in any stores.

        Each object streams from the store serving ``src`` into the one serving ``dst`` in
        parts (``generic.write_chunk_size_bytes``), through bounded memory and with no local
        copy; a folder keeps its relative layout. Each object appears whole or not at all: a
        failed or interrupted copy abandons the object's upload instead of committing it.
        ``progress=`` takes a ``persist._transfer.Progress`` callable.

        Raises:
            DataNotFoundError: ``src`` does not exist.
            DownloadError: reading ``src`` failed; UploadError: writing ``dst`` failed.
            InvalidInputError: ``src`` is a folder without ``recursive``, or a key has ``..``.
        """
        return run_sync(lambda: self._copy(src, dst, recursive, kwargs.get("progress")))

    async def _copy(self, src: str, dst: str, recursive: bool, progress: Progress | None) -> str:
        import asyncio

        stop = threading.Event()
        try:
            return await asyncio.to_thread(self._copy_blocking, src, dst, recursive, progress, stop)
        except asyncio.CancelledError:
            stop.set()  # the worker abandons the object in progress at its next part
            raise

    def _copy_blocking(
        self, src: str, dst: str, recursive: bool, progress: Progress | None, stop: threading.Event
    ) -> str:
        from persist._copy import CopyFailed, copy_files, plan_copy

        for path in (src, dst):
            if not self.is_remote(path):
                raise InvalidInputError(
                    f"{path} is not remote; copy uses put_data or get_data for local paths"
                )
        # The plans' own filesystems: each store's options, and one retry budget (botocore's
        # retries off on S3, as for every transfer).
        src_plan, dst_plan = self._plan(src), self._plan(dst)
        src_fs = build_filesystem(src_plan.protocol, src_plan.fs_options, tune=src_plan.fs_tune)
        dst_fs = build_filesystem(dst_plan.protocol, dst_plan.fs_options, tune=dst_plan.fs_tune)
        part = config_for(self._data_config, dst)[1].generic.write_chunk_size_bytes
        try:
            pairs = plan_copy(src_fs, src, dst, recursive)
        except InvalidInputError:
            raise
        except Exception as exc:
            self._fail(exc, "download", src, dst, recursive=recursive)
        if progress is not None:
            sizes = [size for _, _, size in pairs]
            total = sum(size or 0 for size in sizes)
            progress(0, 0, total_files=len(pairs), total_bytes=total)

        def moved(files: int, nbytes: int) -> None:
            if progress is not None:
                progress(files, nbytes)

        try:
            copy_files(src_fs, dst_fs, pairs, part, moved, stop)
        except CopyFailed as failed:
            cause = failed.__cause__ or failed
            where = f" at {failed.src}" if recursive else ""
            if failed.side == "read":
                self._fail(cause, "download", src, dst, recursive=recursive)
            try:
                self._fail(cause, "upload", src, dst)
            except UploadError as err:
                if where:
                    err.args = (str(err).replace(" failed (", f" failed{where} (", 1),)
                raise
        return dst

    # --- errors -------------------------------------------------------------------------

    def _fail(
        self, exc: BaseException, operation: Operation, src: str, dst: str = "", *, recursive: bool = False
    ) -> NoReturn:
        """Raise the persist error for ``exc`` (the one boundary, ``_errors``), secrets masked."""
        where = dst if operation == "upload" else src
        protocol = get_protocol(where)
        raise to_persist_error(
            exc,
            operation,
            src,
            dst,
            recursive=recursive,
            secrets=self._secrets,
            reason=lambda cause: self._reason(cause, protocol, where),
        )

    def _reason(self, cause: BaseException, protocol: str, path: str = "") -> str:
        """The backend's reason; for a timeout, which limit ran out, after how long, where.

        When a named store serves ``path``, the reason names it (never its settings).
        """
        found, config, _ = config_for(self._data_config, path) if path else (None, self._data_config, False)
        store = f"; store {found.name!r}" if found else ""
        kind = timeout_kind(cause)
        host = endpoint_host(protocol, config)
        if kind is None or host is None:
            return backend_reason(cause) + store
        generic = config.generic
        limit = generic.connect_timeout if kind == "connect" else generic.read_timeout
        # The attempts of persist's own budget (gcsfs counts its own: none shown there).
        attempts = plan_for(config, protocol).retry.retries + 1
        tries = f"; {attempts} attempts" if attempts > 1 else ""
        what = "no connection to" if kind == "connect" else "no answer from"
        return (
            f"timed out: {what} {host} within {limit.total_seconds():g} s "
            f"(generic.{kind}_timeout{tries}){store}"
        )

    # --- uploads ------------------------------------------------------------------------

    def put_data(
        self, local_path: str | os.PathLike[str], remote_path: str, is_multipart: bool = False, **kwargs: Any
    ) -> str:
        """Upload a file, or a folder, to ``remote_path``; returns ``remote_path``.

        A folder's files keep their relative paths under ``remote_path`` whether or not it
        already exists. ``kwargs`` reach the fsspec backend's put call (a call with kwargs uses
        the fsspec engine), except ``progress``: a
        ``persist._transfer.Progress`` callable told of finished files and moved bytes.

        Raises:
            DataNotFoundError: ``local_path`` does not exist.
            UploadError: the upload failed; the text names both paths and the reason.
        """
        if not is_multipart and not kwargs and self._put_fast(os.fspath(local_path), remote_path):
            return remote_path
        return run_sync(lambda: self._put(local_path, remote_path, is_multipart, **kwargs))

    def _put_fast(self, source: str | bytes | bytearray, remote_path: str) -> bool:
        """Upload ``source`` (bytes, or a local file's path) through the sync fast path if it fits.

        Returns False, having done nothing, where the fast path does not serve it: another
        engine, a folder, a missing or special file (the usual path reports those), or more
        than one PUT's worth of bytes.
        """
        fast = self._fast(remote_path)
        if fast is None:
            return False
        if isinstance(source, str):
            source = _strip_file_header(source)
            try:
                info = os.stat(source)
            except OSError:
                return False
            if not stat.S_ISREG(info.st_mode) or info.st_size > fast.single_put_limit:
                return False
        elif len(source) > fast.single_put_limit:
            return False
        try:
            fast.put(source, remote_path)
        except Exception as exc:
            label = source if isinstance(source, str) else f"{len(source)} bytes"
            self._fail(exc, "upload", label, remote_path)
        return True

    async def async_put_data(
        self, local_path: str | os.PathLike[str], remote_path: str, is_multipart: bool = False, **kwargs: Any
    ) -> str:
        """``put_data`` for async code: awaits without blocking the caller's event loop."""
        return await run_async(lambda: self._put(local_path, remote_path, is_multipart, **kwargs))

    def upload(self, file_path: str, to_path: str, **kwargs: Any) -> str:
        """Upload one file."""
        return self.put_data(file_path, to_path, **kwargs)

    def upload_directory(self, local_path: str, remote_path: str, **kwargs: Any) -> str:
        """Upload a folder."""
        return self.put_data(local_path, remote_path, is_multipart=True, **kwargs)

    async def _put(
        self, local_path: str | os.PathLike[str], remote_path: str, recursive: bool, **kwargs: Any
    ) -> str:
        source = _strip_file_header(os.fspath(local_path))
        if not os.path.exists(source):
            raise DataNotFoundError(f"{source} does not exist; nothing was uploaded to {remote_path}")
        transfer = self._transfer(remote_path, **kwargs)
        folder = os.path.isdir(source)
        try:
            if folder:
                await transfer.put_tree(source, remote_path)
            elif recursive:
                target = join(remote_path, os.path.basename(source), sep=transfer.backend.sep)
                await transfer.put_file(source, target, single=True)
            else:
                await transfer.put_file(source, remote_path, single=True)
        except Exception as exc:
            self._fail(exc, "upload", source, remote_path, recursive=folder)
        return remote_path

    def put_raw_data(
        self,
        lpath: RawData,
        upload_prefix: str | None = None,
        file_name: str | None = None,
        read_chunk_size_bytes: int = 1024,
        encoding: str = "utf-8",
        skip_raw_data_prefix: bool = False,
        **kwargs: Any,
    ) -> str:
        """Upload a path, folder, bytes or buffer under the raw output prefix; returns its URI.

        Writes to ``{raw_output_prefix}/{upload_prefix}/{file_name}``.

        Args:
            lpath: a file or folder path, ``bytes``, or a ``BytesIO``/``BufferedReader``/``StringIO``.
            upload_prefix: a sub-path of the raw output prefix; ``None`` means a random one.
            file_name: the object's name; default: the file's name, or a random one for data.
            read_chunk_size_bytes: how much of a buffer to read at a time.
            encoding: how a ``StringIO``'s text becomes bytes.
            skip_raw_data_prefix: treat ``upload_prefix`` as the full destination prefix.
            **kwargs: passed to the backend's put call.

        Raises:
            InvalidInputError: a missing source, a symlink, an unsupported ``lpath`` type, an
                unreadable buffer, or a name with ``..`` segments that would leave its prefix.
        """
        # A memoryview may count items of more than a byte: it takes the spooled path.
        if isinstance(lpath, (bytes, bytearray)) and not kwargs:
            base = self._raw_base(upload_prefix, file_name, skip_raw_data_prefix)
            to_path = self.join(base, file_name or self.get_random_string())
            # Bytes need no spooled copy to be retried; where the fast path declines, nothing
            # was sent and the usual path starts afresh (drawing its own random names).
            if self._put_fast(lpath, to_path):
                return to_path
        return run_sync(
            lambda: self._put_raw(
                lpath,
                upload_prefix,
                file_name,
                read_chunk_size_bytes,
                encoding,
                skip_raw_data_prefix,
                **kwargs,
            )
        )

    async def async_put_raw_data(
        self,
        lpath: RawData,
        upload_prefix: str | None = None,
        file_name: str | None = None,
        read_chunk_size_bytes: int = 1024,
        encoding: str = "utf-8",
        skip_raw_data_prefix: bool = False,
        **kwargs: Any,
    ) -> str:
        """``put_raw_data`` for async code: awaits without blocking the caller's event loop."""
        return await run_async(
            lambda: self._put_raw(
                lpath,
                upload_prefix,
                file_name,
                read_chunk_size_bytes,
                encoding,
                skip_raw_data_prefix,
                **kwargs,
            )
        )

    def _raw_base(self, upload_prefix: str | None, file_name: str | None, skip_raw_data_prefix: bool) -> str:
        """Where ``put_raw_data`` writes: the checked prefix its ``file_name`` goes under."""
        prefix = self.get_random_string() if upload_prefix is None else upload_prefix
        if skip_raw_data_prefix:
            base = prefix
        else:
            check_relative_key(prefix, "upload_prefix", self._raw_output_prefix)
            base = self.join(self._raw_output_prefix, prefix)
        if file_name is not None:
            check_relative_key(file_name, "file_name", base)
        return base

    async def _put_raw(
        self,
        lpath: RawData,
        upload_prefix: str | None,
        file_name: str | None,
        read_chunk_size_bytes: int,
        encoding: str,
        skip_raw_data_prefix: bool,
        **kwargs: Any,
    ) -> str:
        base = self._raw_base(upload_prefix, file_name, skip_raw_data_prefix)
        if isinstance(lpath, (str, os.PathLike)):
            path = pathlib.Path(_strip_file_header(os.fspath(lpath)))
            if path.is_symlink():
                raise InvalidInputError(f"{path} is a symlink; upload the file it points to instead")
            if not path.exists():
                raise InvalidInputError(f"{path} does not exist; nothing was uploaded")
            if path.is_dir():
                to_path = self.join(base, file_name) if file_name else base
            else:
                to_path = self.join(base, file_name or path.name)
            return await self._put(str(path), to_path, path.is_dir(), **kwargs)
        if not isinstance(lpath, (bytes, bytearray, memoryview, io.IOBase)):
            raise InvalidInputError(
                f"cannot upload a {type(lpath).__name__}; "
                "pass a path, bytes, BytesIO, BufferedReader or StringIO"
            )
        if isinstance(lpath, io.IOBase):
            _check_readable(lpath)
        to_path = self.join(base, file_name or self.get_random_string())
        spool = await _spool(lpath, self._local_sandbox_dir, read_chunk_size_bytes, encoding)
        try:
            await self._put(spool, to_path, False, **kwargs)
        finally:
            os.unlink(spool)
        return to_path


@dataclass(frozen=True)
class _EnvironmentConfig:
    """Marks a provider from ``from_environment``: its config is read where it is unpickled."""

    config_file: str | None


_TOLD_FORKED_ENGINE = False


def _obstore_generation() -> int:
    """How many times obstore's stores were forgotten (0 before obstore is used at all)."""
    engine = sys.modules.get("persist._obstore")
    return 0 if engine is None else int(engine.store_generation())


def _obstore_usable() -> bool:
    """False in a process forked after obstore ran in its parent (obstore cannot run there)."""
    global _TOLD_FORKED_ENGINE
    engine = sys.modules.get("persist._obstore")
    if engine is None or engine.usable_here():
        return True
    if not _TOLD_FORKED_ENGINE:
        _TOLD_FORKED_ENGINE = True
        logging.getLogger("persist").info(
            "process %d was forked after obstore ran in its parent, where obstore cannot run; "
            "S3 and Azure transfers here use fsspec",
            os.getpid(),
        )
    return False


def _with_sep(path: str) -> str:
    sep = os.sep if get_protocol(path) in FILE_PROTOCOLS else "/"
    return path if path.endswith(sep) else path + sep


def _check_readable(buffer: io.IOBase) -> None:
    """Refuse a closed or write-only buffer up front, as flytekit does, naming what is allowed."""
    kind = type(buffer).__name__
    if buffer.closed:
        raise InvalidInputError(f"cannot read the {kind} to upload: it is closed; pass an open buffer")
    if not buffer.readable():
        raise InvalidInputError(
            f"cannot read the {kind} to upload: it is not readable (readable() is False); "
            "pass a buffer opened for reading, such as open(path, 'rb') or a BytesIO"
        )


async def _spool(data: Any, directory: pathlib.Path, chunk: int, encoding: str) -> str:
    """Copy bytes or a buffer to a temporary file, so the upload can be retried and is atomic.

    A seekable buffer is read from its start, as flytekit does, so the same buffer uploaded
    twice gives its whole content both times; a stream that cannot seek (a pipe) is read from
    where it is, where flytekit's ``seek(0)`` would fail.
    """
    import asyncio

    def write() -> str:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".raw-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, (bytes, bytearray, memoryview)):
                    out.write(data)
                else:
                    if data.seekable():
                        data.seek(0)
                    size = chunk if chunk and chunk > 0 else 1024 * 1024
                    while True:
                        piece = data.read(size)
                        if not piece:
                            break
                        out.write(piece.encode(encoding) if isinstance(piece, str) else piece)
        except (OSError, ValueError, TypeError, UnicodeError) as exc:
            os.unlink(tmp)
            raise InvalidInputError(f"cannot read the {type(data).__name__} to upload: {exc}") from exc
        except BaseException:
            os.unlink(tmp)
            raise
        return tmp

    return await asyncio.to_thread(write)
