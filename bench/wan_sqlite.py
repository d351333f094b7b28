"""The real-application pattern: an SQLite database inside an ext4 image, updated by transactions.

How it is built (no root, no mount):

1. A directory holds ``db.sqlite`` (4 KiB pages; at 1 GiB 50,000 accounts and 400,000 history
   rows with an index, proportionally fewer on smaller devices; the oldest 10 % of history
   deleted without secure_delete, so the freelist has non-zero pages to reuse) and other files
   (logs, media, record files: 12 MiB per 128 MiB of device, at most 96 MiB) so the filesystem
   is not empty.
2. ``mke2fs -t ext4 -b 4096 -d DIR`` builds the device image from the directory: the base.
3. ``debugfs -R "dump_extents -l /db.sqlite"`` maps the file's logical blocks to physical ones;
   the benchmark checks that the image holds every database page at exactly that block.
4. Real transactions run with Python's sqlite3 on a copy of the database file: bank transfers
   (two balance updates with a timestamp, one history insert) and, every 50th, a purge of a few
   old history rows. The file must not grow (the freelist absorbs the inserts).
5. Every 4 KiB page whose bytes differ is written in place at its physical block in a copy of the
   image: the head. Those writes mark their chunks dirty.

Honest limits: SQLite's rollback journal file and ext4's own metadata writes (inode mtime, the
jbd2 journal) are not reproduced, and pages SQLite rewrote with identical bytes are not written
(they would add chunks scanned, not bytes sent by any method).
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np

from .wan_images import Content, MiB, Pattern, Writer, copy_sparse

PAGE = 4096
ACCOUNTS = 50_000  # at 1 GiB; scaled down with the device, to 1/16 at most
HISTORY = 400_000


def _scaled(n: int, size: int) -> int:
    return n * max(1 << 26, min(size, 1 << 30)) // (1 << 30)


def _create_db(path: Path, content: Content, accounts: int, history: int) -> None:
    rng = content.rng
    con = sqlite3.connect(path)
    con.executescript("""
        PRAGMA page_size=4096; PRAGMA journal_mode=DELETE; PRAGMA secure_delete=OFF;
        CREATE TABLE accounts(id INTEGER PRIMARY KEY, owner TEXT, balance INTEGER, updated TEXT);
        CREATE TABLE history(id INTEGER PRIMARY KEY, account INTEGER, amount INTEGER,
                             ts TEXT, memo TEXT);
        CREATE INDEX history_account ON history(account);
    """)
    names = [bytes(content.text(20)).decode(errors="replace") for _ in range(1000)]
    con.executemany("INSERT INTO accounts VALUES (?, ?, ?, ?)",
                    ((i, names[i % 1000], int(rng.integers(0, 10**6)), _ts(i))
                     for i in range(accounts)))
    con.executemany("INSERT INTO history(account, amount, ts, memo) VALUES (?, ?, ?, ?)",
                    ((int(rng.integers(0, accounts)), int(rng.integers(-5000, 5000)), _ts(i),
                      names[i % 997][:12]) for i in range(history)))
    con.execute("DELETE FROM history WHERE id <= ?", (history // 10,))
    con.commit()
    con.close()


def _ts(i: int) -> str:
    return f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}Z"


def _transactions(path: Path, rng: np.random.Generator, count: int, accounts: int) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")  # same final bytes, no fsync per commit
    for t in range(count):
        a, b = (int(x) for x in rng.choice(accounts, 2, replace=False))
        amount, ts = int(rng.integers(1, 500)), _ts(t)
        con.execute("BEGIN")
        con.execute("UPDATE accounts SET balance = balance - ?, updated = ? WHERE id = ?",
                    (amount, ts, a))
        con.execute("UPDATE accounts SET balance = balance + ?, updated = ? WHERE id = ?",
                    (amount, ts, b))
        con.execute("INSERT INTO history(account, amount, ts, memo) VALUES (?, ?, ?, ?)",
                    (a, -amount, ts, f"to {b}"))
        if t % 50 == 49:
            con.execute("DELETE FROM history WHERE id IN (SELECT id FROM history LIMIT 5)")
        con.execute("COMMIT")
    con.close()


def _other_files(root: Path, content: Content, size: int) -> None:
    for i in range(max(1, min(8, size // (128 * MiB)))):  # 12 MiB per 128 MiB of device
        (root / f"app{i}.log").write_bytes(content.region("text", 4 * MiB).tobytes())
        (root / f"media{i}.bin").write_bytes(content.region("random", 4 * MiB).tobytes())
        (root / f"table{i}.dat").write_bytes(content.region("records", 4 * MiB).tobytes())


_LEAF = re.compile(r"^\s*\d+/\s*\d+\s+\d+/\s*\d+\s+(\d+)\s*-\s*(\d+)\s+(\d+)\s*-\s*(\d+)")


def file_blocks(image: Path, name: str) -> dict[int, int]:
    """Logical -> physical block of ``name`` inside an ext4 image (holes are absent).

    From ``debugfs -R "dump_extents -l"``: ``mke2fs -d`` leaves all-zero blocks as holes, so
    a plain block list would not say which logical block each physical one holds.
    """
    out = subprocess.run(["debugfs", "-R", f"dump_extents -l {name}", str(image)], check=True,
                         capture_output=True, text=True).stdout
    mapping: dict[int, int] = {}
    for line in out.splitlines():
        m = _LEAF.match(line)
        if m:
            first, last, phys = int(m[1]), int(m[2]), int(m[3])
            mapping.update((first + i, phys + i) for i in range(last - first + 1))
    return mapping


def _make_image(root: Path, image: Path, size: int) -> None:
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-d", str(root),
                    str(image), f"{size // 1024}k"], check=True, capture_output=True)


def sqlite_in_ext4(workdir: Path, content: Content, size: int, transactions: int) -> Pattern:
    root = workdir / "fsroot"
    root.mkdir()
    db = root / "db.sqlite"
    accounts = _scaled(ACCOUNTS, size)
    _create_db(db, content, accounts, _scaled(HISTORY, size))
    _other_files(root, content, size)
    base = workdir / "ext4.base"
    _make_image(root, base, size)
    blocks = file_blocks(base, "/db.sqlite")
    old = np.fromfile(db, np.uint8)
    _check_placement(base, blocks, old)
    work = workdir / "db.work.sqlite"
    shutil.copyfile(db, work)
    _transactions(work, content.rng, transactions, accounts)
    new = np.fromfile(work, np.uint8)
    if new.size != old.size:
        raise RuntimeError(f"database grew from {old.size} to {new.size} bytes: no block for "
                           "the new pages; raise the freelist in _create_db")
    head = workdir / "sqlite.head"
    copy_sparse(base, head)
    p = Pattern("sqlite", f"SQLite in ext4: {transactions} bank-transfer transactions "
                f"({old.size // MiB} MiB db)", base, head)
    _write_changed_pages(Writer(p), blocks, old, new)
    shutil.rmtree(root)
    work.unlink()
    return p


def _check_placement(image: Path, blocks: dict[int, int], db: np.ndarray) -> None:
    """Every page the image maps holds the database's bytes; unmapped pages are zero."""
    mm = np.memmap(image, np.uint8, mode="r")
    for i in range(db.size // PAGE):
        page = db[i * PAGE : (i + 1) * PAGE]
        placed = mm[blocks[i] * PAGE : (blocks[i] + 1) * PAGE] if i in blocks else None
        if (placed is None and page.any()) or (placed is not None and
                                               not np.array_equal(placed, page)):
            raise RuntimeError(f"page {i} of the database is not at block {blocks.get(i)}")


def _write_changed_pages(w: Writer, blocks: dict[int, int], old: np.ndarray,
                         new: np.ndarray) -> None:
    pages = np.flatnonzero((old != new).reshape(-1, PAGE).any(axis=1)).tolist()
    holes = [i for i in pages if i not in blocks]
    if holes:
        raise RuntimeError(f"{len(holes)} changed page(s) (first {holes[0]}) were all-zero holes "
                           "in the image: no block to write them to in place")
    for i in pages:
        w.write(blocks[i] * PAGE, new[i * PAGE : (i + 1) * PAGE])
    w.close()
