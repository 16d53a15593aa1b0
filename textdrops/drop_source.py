"""Where a drop is read from: a local folder, or an object-store prefix (`s3://bucket/raw/2016-03-15`).

A drop is named by its location, a string: a local folder's absolute path, or an s3:// (gs://, az://) URL
without credentials, query or fragment (`drop_location` refuses those). That string is all that the run
record, the flow run's parameters and name, the logs and the artifacts carry. Objects are listed and read
through `textdrops.store` (obstore); each process, a worker included, opens the store itself from the URL
and its own AWS_* settings, so no secret is pickled or passed as a parameter. A local folder keeps its walk
(`tasks.discover`) and its O_NOFOLLOW reads (`tasks.load`): only they see symbolic links, folders that
cannot be listed and special files, which an object store does not have.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from textdrops.store import ObjectInfo, Store, display_url, is_cloud_url, open_store

INPUT_SUFFIXES = (".txt", ".txt.gz")
READY_MARKERS = ("_SUCCESS", "_READY")


def is_input_name(name: str) -> bool:
    return name.lower().endswith(INPUT_SUFFIXES)


def is_object_location(location: str | os.PathLike) -> bool:
    """True for an object-store URL (s3://...), False for a local path."""
    return is_cloud_url(location)


def object_url(text: str) -> str:
    """text as a canonical object-store URL (no trailing or doubled slash); ValueError when it carries
    credentials, a query or a fragment (those would reach logs and records) or `.`/`..` segments."""
    parts = urlsplit(text)
    shown = display_url(text)
    if parts.username or parts.password or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(
            f"{shown}: give the URL without credentials or options; credentials, region and endpoint are "
            "read from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION / AWS_ENDPOINT_URL or ~/.aws"
        )
    segments = [segment for segment in parts.path.split("/") if segment]
    if not parts.hostname or any(segment in (".", "..") for segment in segments):
        raise ValueError(f"{shown}: not a prefix in a bucket; give e.g. s3://bucket/raw/2016-03-15")
    return f"{parts.scheme.lower()}://{parts.netloc}" + "".join(f"/{segment}" for segment in segments)


def drop_location(text: str | os.PathLike) -> str:
    """The location as runs record it: a local path made absolute (symlinks resolved), or `object_url`."""
    if is_object_location(text):
        return object_url(str(text))
    return str(Path(text).expanduser().resolve())


def location_name(location: str | os.PathLike) -> str:
    """The last segment of a location: a drop's id (folder name or last segment of its prefix)."""
    if is_object_location(location):
        return urlsplit(str(location)).path.rstrip("/").rsplit("/", 1)[-1]
    return Path(location).name


def parent_location(location: str) -> str:
    """The location that holds this one (a local folder's parent, or the prefix one segment up)."""
    if is_object_location(location):
        return location.rstrip("/").rsplit("/", 1)[0]
    return str(Path(location).parent)


# --- object-store drops ----------------------------------------------------------------------------------


def open_drop(url: str) -> Store:
    """The store of an object-store drop (or raw prefix), opened in this process from its own AWS settings."""
    return open_store(url)


def list_objects(store: Store) -> list[ObjectInfo]:
    """Every object of a drop, sorted by key; FileNotFoundError naming the prefix when there is none."""
    objects = [info for info in store.list() if not info.path.endswith("/")]
    if not objects:
        raise FileNotFoundError(
            f"drop {store.display_url()} holds no objects: give the prefix of a drop of .txt / .txt.gz objects "
            "(e.g. s3://bucket/raw/2016-03-15), and check the bucket and AWS_ENDPOINT_URL"
        )
    return objects


def input_objects(objects: Iterable[ObjectInfo]) -> list[ObjectInfo]:
    return [info for info in objects if is_input_name(info.path)]


def object_listing(store: Store) -> list[tuple[str, int, str]]:
    """(key, size, ETag or mtime) of every input object: one listing; changes when an object is written."""
    return [(info.path, info.size, object_version(info)) for info in input_objects(store.list())]


def object_version(info: ObjectInfo) -> str:
    """What changes when the object is rewritten: its ETag, or its modification time when there is none."""
    return info.version.e_tag or info.last_modified.isoformat()


def object_fingerprint(listing: Iterable[tuple[str, int, str]]) -> str:
    """sha256 over every input object's key, size and ETag: equal iff no input object was written since.
    (A local drop's fingerprint hashes file contents instead: a folder has no ETags.)"""
    digest = hashlib.sha256(b"objects\n")
    for key, size, version in sorted(listing):
        digest.update(f"{key}\0{size}\0{version}\n".encode())
    return digest.hexdigest()


def read_object(store: Store, key: str, at_most: int | None = None, listed_size: int | None = None) -> bytes | None:
    """The object's bytes (its first at_most: one that grew since it was listed is not read whole), None when
    it is gone (StoreError, naming the store, for any other failure)."""
    try:
        if at_most is None or not listed_size:  # S3 refuses a range of an empty object (416)
            return store.get(key)
        return store.get_range(key, 0, at_most)
    except FileNotFoundError:
        return None


def object_size(store: Store, key: str) -> int | None:
    """The object's size, None when there is none."""
    try:
        return store.head(key).size
    except FileNotFoundError:
        return None


def has_marker(store: Store) -> bool:
    """True when the drop holds a ready marker (_SUCCESS or _READY)."""
    return any(store.exists(marker) for marker in READY_MARKERS)


def drops_under(raw_url: str) -> list[str]:
    """The drop prefixes directly under a raw prefix (hidden and `_`-prefixed excluded), from one delimiter
    listing (StoreError naming the prefix when the bucket or the endpoint is wrong)."""
    names = open_drop(raw_url).list_folders()
    return [f"{raw_url}/{name}" for name in names if not name.startswith((".", "_"))]


def source_of(text: str | os.PathLike) -> Path | str:
    """A location as the drop functions take it: a local Path (as given), or the canonical URL of a prefix."""
    return object_url(str(text)) if is_object_location(text) else Path(text)
