"""Helpers of the bag tests: read a bag's messages back, find the temporary leftovers."""

from __future__ import annotations

from pathlib import Path

from scmis_ros.bags import open_bag


def read_all(bag: Path) -> dict[str, list[tuple[int, bytes]]]:
    """Topic -> [(bag timestamp, raw CDR bytes)] of every message, in bag order."""
    out: dict[str, list[tuple[int, bytes]]] = {}
    with open_bag(bag) as reader:
        for conn, timestamp, raw in reader.messages():
            out.setdefault(conn.topic, []).append((timestamp, bytes(raw)))
    return out


def leftovers(folder: Path) -> list[str]:
    """Names of the temporary files and folders (``*.tmp-*``) left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)
