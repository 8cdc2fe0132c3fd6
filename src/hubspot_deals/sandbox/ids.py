"""Object ids as the sandbox issues them: deal ids grow with the index (with gaps, as real ones
have), so a deal's index and its id are found from each other without a lookup."""

from __future__ import annotations

ID_BASE = 10_000_000_000
ID_STRIDE = 7  # ids have gaps, as real ones do
CONTACT_ID_BASE = 51_000_000_000
COMPANY_ID_BASE = 22_000_000_000
LINE_ITEM_ID_BASE = 31_000_000_000


def deal_id(index: int) -> int:
    return ID_BASE + index * ID_STRIDE


def index_at_or_after(object_id: int) -> int:
    """The index of the first deal whose id is at least ``object_id``."""
    if object_id <= ID_BASE:
        return 0
    return -((ID_BASE - object_id) // ID_STRIDE)


def index_of(object_id: int) -> int | None:
    """The index of the deal with exactly this id, if the id is one the sandbox can issue."""
    offset = object_id - ID_BASE
    if offset < 0 or offset % ID_STRIDE:
        return None
    return offset // ID_STRIDE
