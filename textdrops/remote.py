"""Outputs in object storage (`--out s3://bucket/prefix`): the store holds everything, each machine a working copy.

On the store (the output location):

    documents/ entities/ entity_counts/ dates/ quarantine/ stories/   Delta tables, partitioned by drop_id: a
                                           drop is replaced in one commit (`textdrops.tables.replace_drop`)
    runs/drop_id=<drop>/<run_id>.parquet   one Parquet file per run, written once and never replaced
    _dedupe_index/ _story_index/ _story_vocabulary/ _runs_index/ _commit_seq _textdrops/ ...
                                           the history later runs read: immutable segments and parts, and the
                                           few objects that name them (manifests, the runs index, counters)
    _sync/<seq>.json                       one per push of the history: the objects it put and deleted, numbered
                                           in order (a machine pulls only the ones after the last it applied)
    _leases/index.json                     who may change the history now (expiring; renewed while held)
    _leases/drops/<drop>.json              who is processing a drop now
    _commits/<run_id>.json                 a commit under way: its marker; the commit is on the store from here
    _staging/<run_id>/                     that commit's staged files, uploaded before its intent

The working copy (under `TEXTDROPS_CACHE_DIR`, default `~/.cache/textdrops/stores/`) is an ordinary output folder
for the rest of the code, which reads and writes local paths as it does for `--out <folder>`: the history is
mirrored there (only what changed is downloaded: segments are immutable, so a machine fetches each once; a pull
reads the `_sync/` records after the last one it applied, so its requests follow what changed, not the history's
size; a machine's first pull, or one after a process holding the history died, lists the whole store) and the
Delta tables are not (a run reads other drops' rows from the store, `read_drops`). The two meet at the locks:

- taking the index lock (`textdrops.locking.index_lock`) also takes the store's index lease, by a conditional write
  (put-if-absent; a stale lease is taken over by put-if-match), then pulls the history; releasing it pushes what
  changed (heads last, each by put-if-match against the version pulled: a holder whose lease was taken over
  cannot overwrite the new holder's history) and releases the lease. So commits from any number of machines are
  serialised as the local lock serialises them on one, and each starts from the history the last one left;
- a commit uploads its staged files and puts its intent before it changes anything (`stage_commit`), replaces
  the drop in each Delta table after the local swaps, pushes the history, then deletes its intent (`publish`):
  the next run on any machine finishes an intent it finds (`commit.recover` downloads its staged files) and
  discards a local commit whose intent never reached the store.

A store that ignores conditional writes is refused before the first lease (`Store.check_conditional_writes`).
Nothing here logs or records anything but `display_url()`; credentials stay in the process environment.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textdrops.faults import crash_point

if TYPE_CHECKING:
    from textdrops.store import Store, Version

# textdrops.store (obstore, ~40 ms) is imported by the functions that need it: only working copies of a store do

log = logging.getLogger(__name__)

DELTA_TABLES = ("documents", "entities", "entity_counts", "dates", "quarantine", "stories")
LOCAL_ONLY = "_textdrops/local"  # this working copy's own files: the store's URL and what was last synced
REMOTE_FILE = "remote.json"
SYNC_FILE = "sync.json"
LEASES = "_leases"
COMMITS = "_commits"
STAGING = "_staging"
# never mirrored: the tables, what belongs to one commit or one holder, this machine's own files
EXCHANGE = "_exchange"  # batch tasks' staged files on their way to or from a Dask worker (textdrops.exchange)
SYNC = "_sync"
COMMIT_COUNTER = "_commit_seq"  # changed by every commit (tasks.runs_table.take_commit_seq)
SUMMARY_FILE = "sync-summary.json"  # how many objects the record holds, the commit counter's version
APPLIED_FILE = "sync-applied"  # the number of the last `_sync/` record this working copy applied
NOT_MIRRORED = frozenset({*DELTA_TABLES, LEASES, COMMITS, STAGING, EXCHANGE, SYNC, "_locks"})
# written by failed runs without the index lock (and pushed by their writer at once): a pull never removes them
APPEND_ONLY = ("runs/", "_runs_index/pending/")
FETCH_THREADS = 16  # objects a pull downloads at once
MIGRATING_MARKER = "_textdrops/migrating-from.json"  # on the store while `textdrops migrate` fills it
LEASE_SECONDS_ENV = "TEXTDROPS_LEASE_SECONDS"
CACHE_ENV = "TEXTDROPS_CACHE_DIR"


class StoreBeingFilledError(RuntimeError):
    """The store is being filled from an output folder (`textdrops migrate`): no run may use it yet."""


class LeaseLostError(RuntimeError):
    """Another process took over a lease this one held (it expired): this process's changes are not pushed."""


def cache_root() -> Path:
    given = os.environ.get(CACHE_ENV, "").strip()
    if given:
        return Path(given).expanduser().absolute()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser().absolute() / "textdrops" / "stores"


def working_copy(url: str) -> Path:
    """The local working copy of the output location `url` (made if missing; it names the store it mirrors)."""
    from textdrops.store import display_url

    shown = display_url(url)
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    digest = hashlib.sha256(f"{shown}\n{display_url(endpoint) if endpoint else ''}".encode()).hexdigest()[:12]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in shown.split("://", 1)[-1]).strip("_")[:80]
    folder = cache_root() / f"{name}-{digest}"
    own = folder / LOCAL_ONLY
    own.mkdir(parents=True, exist_ok=True)
    if not (own / REMOTE_FILE).exists():
        _write_atomically(own / REMOTE_FILE, json.dumps({"url": shown}).encode("utf-8"))
    return folder


_remotes: dict[str, Remote | None] = {}
_remotes_guard = threading.Lock()


def remote_of(out_dir: Path | str) -> Remote | None:
    """The store `out_dir` is the working copy of, or None for an ordinary output folder."""
    key = str(out_dir)
    with _remotes_guard:
        if key in _remotes:
            return _remotes[key]
    try:
        url = json.loads((Path(out_dir) / LOCAL_ONLY / REMOTE_FILE).read_text(encoding="utf-8"))["url"]
    except (OSError, ValueError, KeyError):
        return None  # not cached: a folder may become a working copy later in a test process, never the reverse
    remote = Remote(Path(out_dir), url)
    with _remotes_guard:
        return _remotes.setdefault(key, remote)


def display_out(out_dir: Path | str) -> str:
    """How to name an output location to a user: the store's URL (no credentials) or the folder."""
    remote = remote_of(out_dir)
    return remote.display_url if remote else str(out_dir)


def refresh(out_dir: Path | str, max_age: float = 1.0) -> None:
    """Bring the working copy's history up to date with the store for a reader (status, the survey, the skip of an
    unchanged drop), unless a run of this machine is changing it now (then it is newer than the store)."""
    remote = remote_of(out_dir)
    if remote is None or time.monotonic() - remote.pulled_at < max_age:
        return
    from textdrops.locking import local_index_lock  # the locks import this module

    with contextlib.suppress(TimeoutError), local_index_lock(Path(out_dir), wait=False) as nested:
        if not nested:
            remote.pull()


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _is_head(path: str) -> bool:
    """Objects that name others (read first by every run): pushed after everything they may name."""
    return path.endswith("MANIFEST.json") or path in {"_runs_index/runs.parquet", COMMIT_COUNTER}


def holder_description(info: dict, process: str) -> str:
    """Who holds a lock or lease, for a message: the flow run (name and id) when recorded, and its process."""
    run_id, name = info.get("flow_run_id"), info.get("flow_run_name")
    if not run_id:
        return process
    return f"flow run {name!r} ({run_id}), {process}" if name else f"flow run {run_id}, {process}"


@dataclass
class _Holder:
    path: str
    owner: str
    version: Version
    stop: threading.Event
    run: dict[str, str] | None = None
    thread: threading.Thread | None = None
    lost: bool = False
    took_over: bool = False  # from a holder that stopped renewing it (died, maybe half-way through a push)


class Remote:
    """One output location in object storage and its working copy on this machine."""

    def __init__(self, cache: Path, url: str) -> None:
        from textdrops.store import display_url

        self.cache = cache
        self.url = url
        self.display_url = display_url(url)
        self._store: Store | None = None
        self._probed = False
        self._sync_guard = threading.Lock()
        self._holders: dict[str, _Holder] = {}
        self.pulled_at = float("-inf")
        self.requests = 0  # objects read or written through this process's working copy (listings excluded)
        self.listed = 0  # objects listed by this process's pulls

    @property
    def store(self) -> Store:
        if self._store is None:
            from textdrops.store import open_store

            self._store = open_store(self.url)
        return self._store

    def table_uri(self, table: str) -> str:
        return self.store.child_uri(table)

    def probe(self) -> None:
        """Refuse a store that ignores conditional writes, once per process, before the first lease."""
        if not self._probed:
            self.store.check_conditional_writes()
            self._probed = True

    # --- mirroring the history ---------------------------------------------------------------------------

    def _record_path(self) -> Path:
        return self.cache / LOCAL_ONLY / SYNC_FILE

    def _record(self) -> dict[str, dict]:
        try:
            return json.loads(self._record_path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _save_record(self, record: dict[str, dict]) -> None:
        _write_atomically(self._record_path(), json.dumps(record, sort_keys=True).encode("utf-8"))
        summary = {"objects": len(record), "counter": record.get(COMMIT_COUNTER, {}).get("e_tag")}
        _write_atomically(self.cache / LOCAL_ONLY / SUMMARY_FILE, json.dumps(summary).encode("utf-8"))

    def _summary(self) -> dict:
        """What a pull with no change to apply needs of the record (objects mirrored, the commit counter's
        version), without reading the record (25,000 entries for 5,000 drops); a copy without it reads the record."""
        try:
            return json.loads((self.cache / LOCAL_ONLY / SUMMARY_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = self._record()
            return {"objects": len(record), "counter": record.get(COMMIT_COUNTER, {}).get("e_tag")}

    def _listing(self) -> dict[str, object]:
        from textdrops.store import PROBE_PREFIX

        store = self.store
        folders, objects = store.list_level("")
        found = {info.path: info for info in objects if info.path not in NOT_MIRRORED}
        for folder in folders:
            if folder in NOT_MIRRORED:
                continue
            for info in store.list(folder + "/"):
                if not info.path.startswith(PROBE_PREFIX + "/") and not info.path.startswith(LOCAL_ONLY + "/"):
                    found[info.path] = info
        return found

    def _local_files(self) -> dict[str, tuple[int, int, int]]:
        """(size, mtime, inode) of every mirrored file of the working copy, by store path (one scandir walk: a
        history of 5,000 drops is 25,000 files, walked by every push)."""
        found: dict[str, tuple[int, int, int]] = {}
        folders = [("", str(self.cache))] if self.cache.exists() else []
        while folders:
            prefix, folder = folders.pop()
            with os.scandir(folder) as entries:
                for entry in entries:
                    relative = prefix + entry.name
                    if (not prefix and entry.name in NOT_MIRRORED) or relative == LOCAL_ONLY:
                        continue  # not mirrored; this copy's own files
                    if entry.is_dir(follow_symlinks=False):
                        folders.append((relative + "/", entry.path))
                    elif entry.is_file(follow_symlinks=False) and not entry.name.startswith("."):  # "." a temporary
                        stat = entry.stat(follow_symlinks=False)
                        found[relative] = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
        return found

    def _applied(self) -> int | None:
        try:
            return int((self.cache / LOCAL_ONLY / APPLIED_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _save_applied(self, seq: int) -> None:
        _write_atomically(self.cache / LOCAL_ONLY / APPLIED_FILE, str(seq).encode("utf-8"))

    def _changes_after(self, seq: int | None) -> list[tuple[int, str]]:
        """(number, path) of the `_sync/` records after number seq (all for None), in order: one listing from that
        offset."""
        infos = self.store.list(f"{SYNC}/", after=None if seq is None else _sync_path(seq))
        self.listed += len(infos)
        return sorted((int(info.path.rsplit("/", 1)[-1].removesuffix(".json")), info.path) for info in infos)

    def pull(self, full: bool = False) -> None:
        """Make the working copy's history the store's (the caller holds the local index lock): the changes recorded
        since the last pull, or (`full`, or the copy's first pull) every object the store holds."""
        with self._sync_guard:
            applied = self._applied()
            if applied is None or full:
                self._pull_all()
            else:
                self._pull_changes(applied)
            self.pulled_at = time.monotonic()

    def _fetch(self, paths: list[str], record: dict[str, dict]) -> None:
        """Download the objects into the working copy, FETCH_THREADS at a time (a machine's first pull of a long
        history is tens of thousands of small GETs), the heads last (what they name is there before them)."""
        bodies, heads = [p for p in paths if not _is_head(p)], sorted(p for p in paths if _is_head(p))

        def one(path: str) -> tuple[str, Version | None, list | None]:
            target = self.cache / path
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
            try:
                version = self.store.get_to_file(path, temporary)
            except FileNotFoundError:  # deleted since: a later record (or listing) says so
                temporary.unlink(missing_ok=True)
                return path, None, None
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
            os.replace(temporary, target)
            return path, version, _stat(target.stat())

        with ThreadPoolExecutor(max(1, min(FETCH_THREADS, len(bodies)))) as pool:
            fetched = [*pool.map(one, bodies), *map(one, heads)]
        for path, version, stat in fetched:
            if version is None:
                self._forget(path, record)
                continue
            self.requests += 1
            record[path] = {"e_tag": version.e_tag, "version": version.version, "stat": stat}

    def _forget(self, path: str, record: dict[str, dict]) -> None:
        if not path.startswith(APPEND_ONLY) or path in record:  # a run's own record not yet pushed stays
            (self.cache / path).unlink(missing_ok=True)
            _remove_empty_parents(self.cache / path, self.cache)
        record.pop(path, None)

    def _pull_changes(self, applied: int) -> None:
        changes = self._changes_after(applied)
        if changes and changes[0][0] != applied + 1:  # records are numbered without gaps: a vacuum took some
            self._pull_all()
            return
        if not changes:
            summary = self._summary()
            if not summary.get("objects"):  # a copy of an empty store: what fills it may leave no record (a migration)
                self._pull_all()
            elif self._commit_counter_moved(summary.get("counter")):  # a commit no record names: an earlier release
                self._pull_all()
            return
        record = self._record()
        if not record:
            self._pull_all()
            return
        for seq, path in changes:
            try:
                change = json.loads(self.store.get(path))
            except FileNotFoundError:  # a vacuum took it since the listing
                self._pull_all()
                return
            self.requests += 1
            wanted = []
            for name, version in sorted(change["put"].items()):
                entry, target = record.get(name), self.cache / name
                if entry is None or entry["e_tag"] != version["e_tag"] or not target.exists():
                    wanted.append(name)
            self._fetch(wanted, record)
            for name in change["deleted"]:
                self._forget(name, record)
            applied = seq
        self._save_record(record)
        self._save_applied(applied)
        if self._commit_counter_moved(record.get(COMMIT_COUNTER, {}).get("e_tag")):  # as above
            self._pull_all()

    def _commit_counter_moved(self, known: str | None) -> bool:
        """Whether `_commit_seq` (every commit changes it) differs on the store from this copy's version `known`:
        one HEAD."""
        try:
            e_tag = self.store.head(COMMIT_COUNTER).version.e_tag
        except FileNotFoundError:
            e_tag = None
        self.requests += 1
        return e_tag != known

    def _pull_all(self) -> None:
        latest = max((seq for seq, _ in self._changes_after(None)), default=0)  # first: what follows is at least this
        remote = self._listing()
        self.listed += len(remote)
        if MIGRATING_MARKER in remote:
            source = json.loads(self.store.get(MIGRATING_MARKER)).get("source", "?")
            raise StoreBeingFilledError(
                f"{self.display_url} is being filled from the output folder {source} by `textdrops migrate`; "
                f"run that command again to finish it (`textdrops migrate {source} --to {self.display_url}`)"
            )
        record, local = self._record(), self._local_files()
        wanted = []
        for path, info in remote.items():
            entry, here = record.get(path), local.get(path)
            if not (entry and entry["e_tag"] == info.version.e_tag and here and list(here) == entry["stat"]):
                wanted.append(path)
        self._fetch(wanted, record)
        for path in local.keys() - remote.keys():
            self._forget(path, record)
        for path in record.keys() - remote.keys():
            record.pop(path)
        self._save_record(record)
        self._save_applied(latest)

    def old_changes(self, retention_hours: float) -> list[str]:
        """The `_sync/` records older than retention_hours but the newest (which tells a new machine where the
        numbers are): a machine that last pulled before the oldest one left lists the whole store once."""
        from datetime import UTC, datetime, timedelta

        cutoff = datetime.now(UTC) - timedelta(hours=retention_hours)
        records = self.store.list(f"{SYNC}/")
        return [info.path for info in records[:-1] if info.last_modified < cutoff]

    def _record_change(self, put: dict[str, Version], deleted: list[str]) -> None:
        """Number and put the `_sync/` record of a push: put-if-absent, so records never share a number."""
        from textdrops.store import ObjectExistsError

        body = json.dumps(
            {
                "put": {path: {"e_tag": v.e_tag, "version": v.version} for path, v in sorted(put.items())},
                "deleted": sorted(deleted),
            }
        ).encode("utf-8")
        applied = self._applied() or 0
        seq = max((n for n, _ in self._changes_after(applied)), default=applied) + 1
        while True:
            try:
                self.store.put_if_absent(_sync_path(seq), body)
                self.requests += 1
                return
            except ObjectExistsError:  # another machine's push took the number a moment ago
                seq += 1

    def push(self) -> int:
        """Put what changed in the working copy's history on the store: new and changed objects (heads last, by
        put-if-match against the version pulled), then deletions. The caller holds the index lock and lease."""
        from textdrops.store import ObjectExistsError, Version, VersionMismatchError

        holder = self._holders.get(_INDEX_LEASE)
        if holder is not None and holder.lost:
            raise LeaseLostError(
                f"{self.display_url}: the history's lease was taken over; this run's changes stay local"
            )
        with self._sync_guard:
            record, local = self._record(), self._local_files()
            put: dict[str, Version] = {}
            changed = sorted(
                (path for path, stat in local.items() if path not in record or record[path]["stat"] != list(stat)),
                key=lambda path: (_is_head(path), path),
            )
            for path in changed:
                data = (self.cache / path).read_bytes()
                entry = record.get(path)
                try:
                    if entry is not None:
                        version = self.store.put_if_match(path, data, Version(entry["e_tag"], entry.get("version")))
                    elif _is_head(path):
                        version = self.store.put_if_absent(path, data)
                    else:
                        version = self.store.put(path, data)
                except (VersionMismatchError, ObjectExistsError):
                    raise LeaseLostError(
                        f"{self.display_url}: {path} was changed by another process while this one held the "
                        "history's lease (it expired?); this run's changes were not all pushed: run the drop again"
                    ) from None
                self.requests += 1
                record[path] = {"e_tag": version.e_tag, "version": version.version, "stat": list(local[path])}
                put[path] = version
                crash_point("mid_push")
            gone = sorted(record.keys() - local.keys())
            for path in gone:
                self.store.delete(path)
                self.requests += 1
                record.pop(path)
            if put or gone:
                self._save_record(record)
                self._record_change(put, gone)  # last: a pull that reads it finds every object it names
            return len(changed) + len(gone)

    def push_new(self, paths: Iterable[Path]) -> None:
        """Put files a run wrote without the index lock (a failed run's record): new objects, written once."""
        put = {}
        for path in paths:
            relative = path.relative_to(self.cache).as_posix()
            put[relative] = self.store.put(relative, path.read_bytes())
            self.requests += 1
        if put:
            self._record_change(put, [])

    # --- leases ------------------------------------------------------------------------------------------

    def _lease_seconds(self) -> float:
        try:
            return max(2.0, float(os.environ.get(LEASE_SECONDS_ENV, "60")))
        except ValueError:
            return 60.0

    def _lease_body(self, owner: str, what: str, run: dict[str, str] | None = None) -> bytes:
        body = {
            "owner": owner,
            "what": what,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "expires": time.time() + self._lease_seconds(),
            **(run or {}),  # the Prefect flow run holding it, named in the waiting and refusal messages of others
        }
        return json.dumps(body).encode("utf-8")

    def _holder_of(self, path: str) -> tuple[dict, Version] | None:
        try:
            data, version = self.store.get_versioned(path)
        except FileNotFoundError:
            return None
        try:
            return json.loads(data), version
        except ValueError:
            return {"expires": 0}, version  # a damaged lease is a stale one

    @staticmethod
    def _stale(info: dict) -> bool:
        if info.get("expires", 0) < time.time():
            return True
        if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
            try:
                os.kill(info["pid"], 0)
            except ProcessLookupError:
                return True  # its process died on this machine: no need to wait for the expiry
            except PermissionError:
                return False
        return False

    def try_lease(self, path: str, what: str, run: dict[str, str] | None = None) -> bool:
        """Take the lease at path if nobody holds it (or its holder's lease went stale); True when taken. `run`
        (the flow run's `flow_run_id` and `flow_run_name`) is recorded in the lease for others to name."""
        from textdrops.store import ObjectExistsError, VersionMismatchError

        self.probe()
        owner = uuid.uuid4().hex
        try:
            version = self.store.put_if_absent(path, self._lease_body(owner, what, run))
        except ObjectExistsError:
            current = self._holder_of(path)
            if current is not None and not self._stale(current[0]):
                return False
            try:
                if current is None:
                    version = self.store.put_if_absent(path, self._lease_body(owner, what, run))
                else:
                    version = self.store.put_if_match(path, self._lease_body(owner, what, run), current[1])
            except (ObjectExistsError, VersionMismatchError):
                return False  # another process took it first
            took_over = current is not None
        else:
            took_over = False
        holder = _Holder(path, owner, version, threading.Event(), run, took_over=took_over)
        holder.thread = threading.Thread(target=self._renew, args=(holder, what), daemon=True, name=f"lease {path}")
        holder.thread.start()
        self._holders[path] = holder
        return True

    def holder_text(self, path: str) -> str:
        current = self._holder_of(path)
        if current is None:
            return "nobody now"
        return holder_description(current[0], f"pid {current[0].get('pid', '?')} on {current[0].get('host', '?')}")

    def _renew(self, holder: _Holder, what: str) -> None:
        from textdrops.store import StoreError, VersionMismatchError

        interval = self._lease_seconds() / 3
        while not holder.stop.wait(interval):
            try:
                body = self._lease_body(holder.owner, what, holder.run)
                holder.version = self.store.put_if_match(holder.path, body, holder.version)
            except VersionMismatchError:
                holder.lost = True
                log.error("%s: the lease %s was taken over by another process", self.display_url, holder.path)
                return
            except StoreError as exc:  # the store is unreachable for a moment: the lease lasts until it expires
                log.warning("%s: could not renew the lease %s: %s", self.display_url, holder.path, exc)

    def release(self, path: str) -> None:
        holder = self._holders.pop(path, None)
        if holder is None:
            return
        holder.stop.set()
        if holder.thread is not None:
            holder.thread.join()
        current = self._holder_of(path)
        if current is not None and current[0].get("owner") == holder.owner:
            self.store.delete(path)

    @contextlib.contextmanager
    def lease(
        self,
        path: str,
        what: str,
        timeout: float,
        on_wait: Callable[[str], None],
        error: type[Exception],
        run: dict[str, str] | None = None,
    ) -> Iterator[None]:
        """Hold the lease at path for the block, waiting up to timeout seconds for it."""
        deadline = time.monotonic() + timeout
        told = False
        while not self.try_lease(path, what, run):
            holder = self.holder_text(path)
            if time.monotonic() >= deadline:
                raise error(
                    f"{what} is still being processed by another run ({holder}, through {self.display_url}) after "
                    f"{timeout:.0f}s; try again when it finishes"
                )
            if not told:
                on_wait(f"{what} is being processed by another run ({holder}); waiting up to {timeout:.0f}s")
                told = True
            time.sleep(0.5)
        try:
            yield
        finally:
            self.release(path)

    @contextlib.contextmanager
    def index_section(self, timeout: float, on_wait: Callable[[str], None], error: type[Exception]) -> Iterator[None]:
        """The store's side of the index lock: the lease, the history pulled on entry and pushed on exit."""
        from textdrops.store import StoreError

        with self.lease(_INDEX_LEASE, f"the history of {self.display_url}", timeout, on_wait, error):
            # a holder that died may have pushed objects without their `_sync/` record: list them all then
            self.pull(full=self._holders[_INDEX_LEASE].took_over)
            try:
                yield
            except BaseException:
                with contextlib.suppress(StoreError):
                    self.push()  # what the section finished is as durable as a local crash at that point
                raise
            self.push()

    def drop_lease_path(self, drop_id: str) -> str:
        return f"{LEASES}/drops/{drop_id}.json"

    def running_drops(self, before: str) -> list[str]:
        """Drops sorting before `before` whose lease some process holds (on any machine)."""
        running = []
        for info in self.store.list(f"{LEASES}/drops/"):
            drop_id = info.path.rsplit("/", 1)[-1].removesuffix(".json")
            if drop_id >= before or info.path in self._holders:
                continue
            current = self._holder_of(info.path)
            if current is not None and not self._stale(current[0]):
                running.append(drop_id)
        return running

    # --- commits -----------------------------------------------------------------------------------------

    def stage_commit(self, stage: Path, names: Iterable[str], marker: dict) -> None:
        """Upload a commit's staged files, then put its intent: from here the commit is on the store."""
        for name in names:
            source = stage / name
            files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
            for path in files:
                key = f"{STAGING}/{stage.name}/{path.relative_to(stage).as_posix()}"
                self.store.put(key, path.read_bytes())
                self.requests += 1
        crash_point("before_commit_intent")
        self.store.put(f"{COMMITS}/{stage.name}.json", json.dumps(marker, default=str).encode("utf-8"))
        self.requests += 1

    def clear_abandoned(self, intents: set[str]) -> list[str]:
        """Delete staged files on the store that no intent names (a commit killed before its intent). The caller
        holds the index lease, under which every commit uploads and puts its intent: none is under way."""
        abandoned = [run_id for run_id in self.store.list_folders(f"{STAGING}/") if run_id not in intents]
        for run_id in abandoned:
            for info in self.store.list(f"{STAGING}/{run_id}/"):
                self.store.delete(info.path)
        return abandoned

    def work_left(self, running: str | None = None) -> bool:
        """Whether the store holds a commit under way (an intent) or staged files of one (`recover` has something
        to finish or clear), but the running one's: two LISTs, no lease."""
        return bool(set(self.intents()) - {running}) or any(
            run_id != running for run_id in self.store.list_folders(f"{STAGING}/")
        )

    def intents(self) -> list[str]:
        """Run ids of commits on the store that were not finished."""
        return sorted(info.path.rsplit("/", 1)[-1].removesuffix(".json") for info in self.store.list(f"{COMMITS}/"))

    def has_intent(self, run_id: str) -> bool:
        return self.store.exists(f"{COMMITS}/{run_id}.json")

    def download_commit(self, run_id: str, stage: Path) -> None:
        """Recreate a commit's staging folder from the store (another machine's interrupted commit). Its marker
        loses the inode numbers, which only tell apart folders of the machine that wrote them."""
        prefix = f"{STAGING}/{run_id}/"
        for info in self.store.list(prefix):
            _write_atomically(stage / info.path.removeprefix(prefix), self.store.get(info.path))
            self.requests += 1
        marker = json.loads(self.store.get(f"{COMMITS}/{run_id}.json"))
        marker["inodes"] = {}
        from textdrops.staging import COMMIT_MARKER  # imports polars: only a recovery needs it

        _write_atomically(stage / COMMIT_MARKER, json.dumps(marker, default=str).encode("utf-8"))

    def publish(self, drop_id: str, run_id: str, tables: list[str], metadata: dict[str, str]) -> None:
        """Replace the drop in each Delta table from the working copy's partitions just swapped in, push the
        history, end the commit (its intent and staged files), and drop the other drops' partitions here."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from textdrops import tables as delta

        options = self.store.storage_options()
        for table in tables:
            if table not in DELTA_TABLES:
                continue
            folder = self.cache / table / f"drop_id={drop_id}"
            parts = [pq.read_table(p) for p in sorted(folder.glob("*.parquet"))]
            if not parts:
                continue
            rows = pa.concat_tables(parts, promote_options="default")
            delta.replace_drop(self.table_uri(table), drop_id, rows, options, {"run_id": run_id, **metadata})
            self.requests += 1
            crash_point("mid_publish")
        self.push()
        crash_point("before_commit_end")
        self.end_commit(run_id)
        for table in DELTA_TABLES:
            root = self.cache / table
            for folder in root.glob("drop_id=*") if root.exists() else ():
                if folder.name != f"drop_id={drop_id}":
                    shutil.rmtree(folder, ignore_errors=True)

    def end_commit(self, run_id: str) -> None:
        self.store.delete(f"{COMMITS}/{run_id}.json")
        for info in self.store.list(f"{STAGING}/{run_id}/"):
            self.store.delete(info.path)
        self.requests += 1

    def scan_drops(self, table: str, drop_ids: list[str] | None = None):
        """A Delta table on the store as a polars LazyFrame, pruned to the partitions of `drop_ids` (every drop when
        None); None when the table has no commit yet."""
        import polars as pl

        from textdrops import tables as delta

        uri = self.table_uri(table)
        options = self.store.storage_options()
        if (drop_ids is not None and not drop_ids) or not delta.table_exists(uri, options):
            return None
        frame = pl.scan_delta(uri, storage_options=options or None)
        return frame if drop_ids is None else frame.filter(pl.col("drop_id").is_in(drop_ids))

    def read_drops(self, table: str, drop_ids: list[str], columns: list[str], doc_ids: list[str] | None = None):
        """Rows of other drops from a Delta table on the store (pruned to their partitions), as a polars frame."""
        import polars as pl

        frame = self.scan_drops(table, drop_ids)
        if frame is None:
            return pl.DataFrame()
        if doc_ids is not None:
            frame = frame.filter(pl.col("doc_id").is_in(doc_ids))
        return frame.select(columns).collect()


_INDEX_LEASE = f"{LEASES}/index.json"


def _sync_path(seq: int) -> str:
    return f"{SYNC}/{seq:012d}.json"


def _stat(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def _remove_empty_parents(path: Path, root: Path) -> None:
    parent = path.parent
    while parent != root and parent.is_relative_to(root):
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent
