"""One object-store front for local folders and s3:// (gs://, az://) URLs: list, get, put, conditional puts, delete.

Every byte goes through obstore (a local folder through its LocalStore), so one code path serves both; the one
exception is put-if-match on a local folder, which obstore's LocalStore does not implement: there the compare and
the (atomic, rename-based) put run under an exclusive flock on the object's folder.

Credentials, region and endpoint come from the standard AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_SESSION_TOKEN`, `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`/`AWS_ENDPOINT_URL_S3`, `AWS_PROFILE`)
and, for what they leave unset, from the shared files (`~/.aws/credentials`, `~/.aws/config`, or
`AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`). Secrets stay inside the store: `display_url()` and `repr()` are
what may be logged.
"""

from __future__ import annotations

import configparser
import fcntl
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import obstore
import obstore.exceptions as obstore_errors
from obstore.store import LocalStore, S3Store, from_url

CLOUD_SCHEMES = {"s3", "s3a", "gs", "az", "azure", "abfs", "abfss"}
PROBE_PREFIX = "_textdrops/probe"


class StoreError(RuntimeError):
    """A store operation failed in a way the user must fix (message is one line, without secrets)."""


class ObjectExistsError(StoreError):
    """put_if_absent found the object already there."""


class VersionMismatchError(StoreError):
    """put_if_match found another version of the object (or none at all)."""


class ConditionalWritesUnsupportedError(StoreError):
    """The store accepted a write its conditional header should have refused."""


@dataclass(frozen=True)
class Version:
    """What identifies one version of an object for put_if_match: its ETag and, on versioned buckets, its version."""

    e_tag: str | None
    version: str | None = None


@dataclass(frozen=True)
class ObjectInfo:
    path: str  # relative to the store's root, "/"-separated
    size: int
    last_modified: datetime
    version: Version


def is_cloud_url(location: str | os.PathLike) -> bool:
    return urlsplit(str(location)).scheme.lower() in CLOUD_SCHEMES


def display_url(location: str | os.PathLike) -> str:
    """The location as it may appear in a log line or a run record: never userinfo, query or fragment."""
    text = str(location)
    parts = urlsplit(text)
    if not parts.scheme or len(parts.scheme) == 1:  # a plain path (or a Windows drive letter)
        return text
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def aws_settings(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """AWS credentials, region and endpoint from the standard variables, then the shared config files.

    Keys are the variables' names (what delta-rs's storage options take too); only those found are returned.
    """
    env = os.environ if env is None else env
    found: dict[str, str] = {}
    names = {
        "AWS_ACCESS_KEY_ID": ("AWS_ACCESS_KEY_ID",),
        "AWS_SECRET_ACCESS_KEY": ("AWS_SECRET_ACCESS_KEY",),
        "AWS_SESSION_TOKEN": ("AWS_SESSION_TOKEN",),
        "AWS_REGION": ("AWS_REGION", "AWS_DEFAULT_REGION"),
        "AWS_ENDPOINT_URL": ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    }
    for key, variables in names.items():
        for variable in variables:
            if env.get(variable):
                found[key] = env[variable]
                break
    profile = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    home = Path(env.get("HOME", "~")).expanduser()
    credentials = _ini_section(env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials", profile)
    config_section = profile if profile == "default" else f"profile {profile}"
    config = _ini_section(env.get("AWS_CONFIG_FILE") or home / ".aws" / "config", config_section)
    from_files = {
        "AWS_ACCESS_KEY_ID": credentials.get("aws_access_key_id") or config.get("aws_access_key_id"),
        "AWS_SECRET_ACCESS_KEY": credentials.get("aws_secret_access_key") or config.get("aws_secret_access_key"),
        "AWS_SESSION_TOKEN": credentials.get("aws_session_token") or config.get("aws_session_token"),
        "AWS_REGION": config.get("region"),
        "AWS_ENDPOINT_URL": config.get("endpoint_url"),
    }
    # a key pair is taken whole from one place: never an id from the environment with a secret from a file
    if "AWS_ACCESS_KEY_ID" in found or "AWS_SECRET_ACCESS_KEY" in found:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            from_files.pop(key)
    for key, value in from_files.items():
        if value and key not in found:
            found[key] = value
    if found.get("AWS_ENDPOINT_URL", "").startswith("http://"):
        found["AWS_ALLOW_HTTP"] = "true"  # a local S3-compatible server (MinIO, moto) the user pointed us to
    return found


def _ini_section(path: str | os.PathLike, section: str) -> dict[str, str]:
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error):
        return {}
    return dict(parser[section]) if parser.has_section(section) else {}


def _one_line(error: BaseException) -> str:
    """obstore's messages carry a multi-line debug dump; the first line says what happened."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class Store:
    """A local folder or an object-store prefix, addressed by "/"-separated paths relative to it."""

    def __init__(self, location: str | os.PathLike, env: Mapping[str, str] | None = None) -> None:
        text = str(location)
        self.is_local = not is_cloud_url(text)
        self._settings: dict[str, str] = {}
        if self.is_local:
            self.root = Path(text[len("file://") :] if text.startswith("file://") else text).expanduser().absolute()
            self.url = str(self.root)
            self._store = LocalStore(self.root, mkdir=True)
            return
        self.url = text.rstrip("/")
        scheme = urlsplit(text).scheme.lower()
        if scheme in {"s3", "s3a"}:
            self._settings = aws_settings(env)
            config = {key.lower(): value for key, value in self._settings.items() if key != "AWS_ALLOW_HTTP"}
            config["aws_conditional_put"] = "etag"
            client_options = {"allow_http": True} if "AWS_ALLOW_HTTP" in self._settings else None
            self._store = S3Store.from_url(self.url, config=config, client_options=client_options)
        else:  # GCS and Azure take their own standard variables through obstore
            self._store = from_url(self.url)

    def __repr__(self) -> str:
        return f"Store({self.display_url()!r})"

    def display_url(self) -> str:
        return display_url(self.url)

    def child_uri(self, name: str) -> str:
        """The URI of a path under this store, as deltalake and other engines take it."""
        return str(self.root / name) if self.is_local else f"{self.url}/{name}"

    def storage_options(self) -> dict[str, str]:
        """Options for deltalake on this store: the resolved AWS settings, conditional puts, never unsafe rename.

        Holds secrets: pass it to deltalake, never to a log line, a run record or a Prefect parameter.
        """
        if self.is_local or urlsplit(self.url).scheme.lower() not in {"s3", "s3a"}:
            return {}
        return {**self._settings, "conditional_put": "etag", "AWS_S3_ALLOW_UNSAFE_RENAME": "false"}

    # reading

    def list(self, prefix: str = "", after: str | None = None) -> list[ObjectInfo]:
        """Every object under prefix (recursively), sorted by path; only those whose path sorts after `after` if
        given (S3 lists from that key on: one request per 1,000 objects after it, not per 1,000 under prefix)."""
        try:
            pages = list(obstore.list(self._store, prefix.strip("/") or None, offset=after))
        except FileNotFoundError:
            return []
        except obstore_errors.BaseError as error:
            raise StoreError(f"{self.display_url()}: cannot list {prefix!r}: {_one_line(error)}") from None
        return sorted((_info(meta) for page in pages for meta in page), key=lambda info: info.path)

    def list_folders(self, prefix: str = "") -> list[str]:
        """The immediate "folders" under prefix (names, sorted): one delimiter listing, never a recursive one."""
        return self.list_level(prefix)[0]

    def list_level(self, prefix: str = "") -> tuple[list[str], list[ObjectInfo]]:
        """(folders, objects) directly under prefix: one delimiter listing, never a recursive one."""
        try:
            result = obstore.list_with_delimiter(self._store, prefix.strip("/") or None)
        except FileNotFoundError:
            return [], []
        except obstore_errors.BaseError as error:
            raise StoreError(f"{self.display_url()}: cannot list {prefix!r}: {_one_line(error)}") from None
        folders = sorted(path.rstrip("/").rsplit("/", 1)[-1] for path in result["common_prefixes"])
        return folders, sorted((_info(meta) for meta in result["objects"]), key=lambda info: info.path)

    def head(self, path: str) -> ObjectInfo:
        try:
            return _info(obstore.head(self._store, path))
        except FileNotFoundError:
            raise
        except obstore_errors.BaseError as error:
            raise StoreError(f"{self.display_url()}: cannot read {path}: {_one_line(error)}") from None

    def exists(self, path: str) -> bool:
        try:
            self.head(path)
        except FileNotFoundError:
            return False
        return True

    def get(self, path: str) -> bytes:
        """The whole object (FileNotFoundError if there is none)."""
        try:
            return bytes(obstore.get(self._store, path).bytes())
        except FileNotFoundError:
            raise
        except obstore_errors.BaseError as error:
            raise StoreError(f"{self.display_url()}: cannot read {path}: {_one_line(error)}") from None

    def get_versioned(self, path: str) -> tuple[bytes, Version]:
        """The whole object and the version to pass to put_if_match, read in one request."""
        try:
            result = obstore.get(self._store, path)
            meta = result.meta
            return bytes(result.bytes()), Version(meta.get("e_tag"), meta.get("version"))
        except FileNotFoundError:
            raise
        except obstore_errors.BaseError as error:
            raise StoreError(f"{self.display_url()}: cannot read {path}: {_one_line(error)}") from None

    def get_to_file(self, path: str, target: Path) -> Version:
        """The whole object written to `target` (created), in chunks of at most a few MB: an index segment can be
        hundreds of MB, which a pull need not hold in memory."""
        try:
            result = obstore.get(self._store, path)
            meta = result.meta
            with open(target, "wb") as handle:
                for chunk in result.stream(min_chunk_size=4 * 1024 * 1024):
                    handle.write(chunk)
            return Version(meta.get("e_tag"), meta.get("version"))
        except FileNotFoundError:
            raise
        except obstore_errors.BaseError as error:
            raise StoreError(f"{self.display_url()}: cannot read {path}: {_one_line(error)}") from None

    def get_range(self, path: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of the object."""
        try:
            return bytes(obstore.get_range(self._store, path, start=start, end=end))
        except FileNotFoundError:
            raise
        except obstore_errors.BaseError as error:
            raise StoreError(f"{self.display_url()}: cannot read {path}: {_one_line(error)}") from None

    # writing

    def put(self, path: str, data: bytes) -> Version:
        """Write the object whole (readers see the old or the new object, never a part)."""
        return self._put(path, data, "overwrite")

    def put_if_absent(self, path: str, data: bytes) -> Version:
        """Write the object only if there is none at path; ObjectExistsError otherwise."""
        return self._put(path, data, "create")

    def put_if_match(self, path: str, data: bytes, expected: Version) -> Version:
        """Replace the object only if it is still at version expected; VersionMismatchError otherwise."""
        if not self.is_local:
            mode = {key: value for key, value in (("e_tag", expected.e_tag), ("version", expected.version)) if value}
            return self._put(path, data, mode)
        # LocalStore has no PutMode::Update: compare and put under an exclusive lock on the object's folder;
        # the put itself is a rename, so readers without the lock still see one whole version
        folder = (self.root / path).parent
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = self.head(path).version
            except FileNotFoundError:
                current = None
            if current != expected:
                raise VersionMismatchError(f"{self.display_url()}: {path} changed since it was read")
            return self._put(path, data, "overwrite")
        finally:
            os.close(fd)  # releases the flock

    def _put(self, path: str, data: bytes, mode) -> Version:
        try:
            result = obstore.put(self._store, path, data, mode=mode)
        except obstore_errors.AlreadyExistsError:
            raise ObjectExistsError(f"{self.display_url()}: {path} already exists") from None
        except (obstore_errors.PreconditionError, FileNotFoundError):
            # S3 answers If-Match on a missing object with 404: for the caller it is the same lost race
            raise VersionMismatchError(f"{self.display_url()}: {path} changed since it was read") from None
        except obstore_errors.NotSupportedError as error:
            raise StoreError(f"{self.display_url()}: conditional write not supported: {_one_line(error)}") from None
        except obstore_errors.BaseError as error:
            raise StoreError(f"{self.display_url()}: cannot write {path}: {_one_line(error)}") from None
        return Version(result.get("e_tag"), result.get("version"))

    def delete(self, path: str) -> None:
        """Remove the object; no error if it is already gone."""
        try:
            obstore.delete(self._store, path)
        except FileNotFoundError:
            pass
        except obstore_errors.BaseError as error:
            raise StoreError(f"{self.display_url()}: cannot delete {path}: {_one_line(error)}") from None

    def check_conditional_writes(self) -> None:
        """Refuse (ConditionalWritesUnsupportedError) a store that accepts a second put-if-absent of one object.

        Some S3-compatible servers accept If-None-Match / If-Match and ignore them; commits serialised by
        conditional writes would then silently overwrite each other. Two put-if-absent and one stale
        put-if-match of a fresh probe object; both must be refused.
        """
        probe = f"{PROBE_PREFIX}/{uuid.uuid4().hex}"
        try:
            self.put_if_absent(probe, b"first")
            try:
                self.put_if_absent(probe, b"second")
            except ObjectExistsError:
                pass
            else:
                raise ConditionalWritesUnsupportedError(
                    f"{self.display_url()} ignores conditional writes (a second put with If-None-Match: * was "
                    "accepted): use a store that honours them (AWS S3, MinIO, R2, GCS, Azure)"
                )
            current = self.head(probe).version
            stale = Version('"' + "0" * 32 + '"')  # a well-formed ETag no object of ours has
            if current != stale:
                try:
                    self.put_if_match(probe, b"third", stale)
                except VersionMismatchError:
                    pass
                else:
                    raise ConditionalWritesUnsupportedError(
                        f"{self.display_url()} ignores conditional writes (a put with a stale If-Match was "
                        "accepted): use a store that honours them (AWS S3, MinIO, R2, GCS, Azure)"
                    )
        finally:
            self.delete(probe)


def _info(meta) -> ObjectInfo:
    version = Version(meta.get("e_tag"), meta.get("version"))
    return ObjectInfo(meta["path"], meta["size"], meta["last_modified"], version)


def open_store(location: str | os.PathLike, env: Mapping[str, str] | None = None) -> Store:
    """The store at a local path or an s3:// (gs://, az://) URL."""
    return Store(location, env)
