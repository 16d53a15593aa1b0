"""A separate process for the compare-and-swap race: add 1 to a counter object TIMES times with put_if_match.

`python manifest_incrementer.py STORE_URL PATH TIMES START_AT`: the read-modify-write loop a manifest update
makes (read with its version, write only if still that version, else read again).
"""

from __future__ import annotations

import sys
import time

from textdrops.store import VersionMismatchError, open_store

if __name__ == "__main__":
    location, path, times, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    store = open_store(location)
    time.sleep(max(0.0, start_at - time.time()))
    for _ in range(times):
        while True:
            data, version = store.get_versioned(path)
            try:
                store.put_if_match(path, str(int(data) + 1).encode(), version)
                break
            except VersionMismatchError:
                continue
