"""Tables whose every row is one line: columns that never shrink (ids, amounts, dates), columns
that share what is left of the width and cut their cells with an ellipsis, and optional ones that
leave when even that does not fit. ``render`` builds its tables with them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.table import Table
from rich.text import Text


@dataclass
class Column:
    """A table column and its cells. ``ratio`` 0 is a column that never shrinks (ids, amounts,
    dates cut short would mislead); others share what is left of the width, by ratio, and cut
    their cells with an ellipsis, so every row stays one line."""

    name: str
    cells: list[Text]
    ratio: int = 0
    right: bool = False
    #: left out when the width cannot hold every column: the highest first; 0 is always shown
    optional: int = 0
    #: an id: never cut; folded onto a second line if even alone it is wider than its share
    fold: bool = False


#: What SIMPLE_HEAD without edges puts between two columns: padding, divider, padding.
GAP = 3
#: The narrowest a shrinking column gets.
MIN_SHARE = 6


def _natural(column: Column) -> int:
    return max([len(column.name), *(t.cell_len for t in column.cells)])


def _needed(columns: list[Column]) -> int:
    fixed = sum(_natural(c) for c in columns if not c.ratio)
    shrinking = sum(max(len(c.name), MIN_SHARE) for c in columns if c.ratio)
    return fixed + shrinking + GAP * (len(columns) - 1)


def _shares(columns: list[Column], width: int) -> dict[str, int]:
    """The shrinking columns' widths: the room left by the others, by ratio, each at least its
    minimum, and never more in all than the room (else rich would crop them without an ``…``)."""
    room = width - sum(_natural(c) for c in columns if not c.ratio) - GAP * (len(columns) - 1)
    shrinking = [c for c in columns if c.ratio]
    ratios = sum(c.ratio for c in shrinking) or 1
    floor = {c.name: max(len(c.name), MIN_SHARE) for c in shrinking}
    shares = {c.name: max(room * c.ratio // ratios, floor[c.name]) for c in shrinking}
    while sum(shares.values()) > room and any(shares[n] > floor[n] for n in shares):
        widest = max((n for n in shares if shares[n] > floor[n]), key=lambda n: shares[n])
        shares[widest] -= 1
    return shares


def fit_table(columns: list[Column], width: int) -> Table:
    """Every row one line: optional columns leave, highest first, until the rest fit ``width``;
    what is left of the width is shared by the shrinking columns."""
    while _needed(columns) > width and any(c.optional for c in columns):
        dropped = max(columns, key=lambda c: c.optional)
        columns = [c for c in columns if c is not dropped]
    shares = _shares(columns, width)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        justify: Literal["left", "right"] = "right" if column.right else "left"
        if column.ratio:
            share = shares[column.name]
            table.add_column(
                column.name,
                justify=justify,
                no_wrap=True,
                overflow="ellipsis",
                min_width=share,
                max_width=share,
            )
        elif column.fold:  # whole on one line while the width allows it
            table.add_column(
                column.name,
                justify=justify,
                overflow="fold",
                min_width=min(_natural(column), width),
            )
        else:
            table.add_column(column.name, justify=justify, no_wrap=True)
    for row in zip(*(c.cells for c in columns), strict=True):
        table.add_row(*row)
    return table
