"""Reads of jobs built once: a statement built and keyed by SQLAlchemy anew for each request cost
more than SQLite took to run it, so these are built once per organization scope's shape
(``scope_shape``) and what they load of a job, their values bound at execution."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnExpressionArgument, Select, bindparam, false, select
from sqlalchemy.orm import defer, load_only
from sqlalchemy.sql.base import ExecutableOption

from hubspot_deals.store.database import matchable
from hubspot_deals.store.models import ScanJob

if TYPE_CHECKING:
    from hubspot_deals.store.jobs import OrgScope

#: Loads a job without its checkpoint (tens of kilobytes of JSON for a large scan); reading it
#: raises instead of loading it behind the caller's back.
WITHOUT_CHECKPOINT = defer(ScanJob.checkpoint, raiseload=True)
#: Loads only what a results page reads of its job (which run, whose, how far): the other
#: columns, JSON among them, cost a results request a quarter of its job read; they raise so.
BRIEF = load_only(
    ScanJob.id,
    ScanJob.scan_id,
    ScanJob.organization_id,
    ScanJob.status,
    ScanJob.processed_items,
    ScanJob.total_items,
    raiseload=True,
)


def scope_shape(org: OrgScope) -> tuple[str, dict[str, Any]]:
    """How ``org`` narrows a prebuilt query (``_prebuilt``), and what it binds."""
    if org is None:
        return "none", {}
    if not isinstance(org, str):  # ANY_ORG
        return "any", {}
    return ("org", {"org": org}) if matchable(org) else ("nothing", {})


def _prebuilt(
    shape: str, load: ExecutableOption | None, *where: ColumnExpressionArgument[bool]
) -> Select[ScanJob]:
    """Jobs ``where`` holds within the organization scope ``shape``, loaded as ``load`` says."""
    org = ScanJob.organization_id
    narrowed = {"none": org.is_(None), "nothing": false(), "org": org == bindparam("org")}
    query = select(ScanJob).where(*where, *([narrowed[shape]] if shape in narrowed else []))
    return query if load is None else query.options(load)


@functools.cache
def serving_query(shape: str, brief: bool) -> Select[ScanJob]:
    """``JobRepository.serving``'s query."""
    scan = ScanJob.scan_id == bindparam("scan_id")
    load = BRIEF if brief else WITHOUT_CHECKPOINT
    return _prebuilt(shape, load, scan, ScanJob.is_current).limit(1)


@functools.cache
def runs_query(shape: str, checkpoint: bool) -> Select[ScanJob]:
    """``JobRepository.runs``' query, newest first."""
    load = None if checkpoint else WITHOUT_CHECKPOINT
    runs = _prebuilt(shape, load, ScanJob.scan_id == bindparam("scan_id"))
    return runs.order_by(ScanJob.created_at.desc()).limit(bindparam("limit"))
