"""Order books as column arrays: the week's bids and asks of a market.

Few rich agents append rows; vectorised populations append whole arrays; the book is frozen to
numpy once, before clearing. Quantities and prices are floats; ids, tiers and uses are integers.
"""

from __future__ import annotations

import numpy as np

FLOAT_COLS = {"gpus", "limit", "price", "qty"}


class Book:
    """Column arrays built up by appending rows (few, rich agents) or whole arrays (the
    vectorised populations); frozen to numpy once, before clearing."""

    def __init__(self, cols: tuple[str, ...]):
        self.cols = cols
        self._rows: dict[str, list] = {c: [] for c in cols}
        self._lists = [self._rows[c] for c in cols]
        self._chunks: dict[str, list[np.ndarray]] = {c: [] for c in cols}

    def add(self, **row) -> None:
        for c in self.cols:
            self._rows[c].append(row[c])

    def add_row(self, *values) -> None:
        """Append one row given in column order (the fast path for per-agent calls)."""
        if len(values) != len(self.cols):
            raise ValueError(f"a row needs {len(self.cols)} values ({', '.join(self.cols)})")
        for col, v in zip(self._lists, values):
            col.append(v)

    def extend(self, **cols) -> None:
        for c in self.cols:
            self._chunks[c].append(np.asarray(cols[c]))

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for c in self.cols:
            dtype = np.float64 if c in FLOAT_COLS else np.int64
            parts = [np.asarray(self._rows[c], dtype=dtype)] + [
                x.astype(dtype, copy=False) for x in self._chunks[c]
            ]
            out[c] = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return out
