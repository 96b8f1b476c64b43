"""The producer's id of an event is stored and found again, on SQLite and PostgreSQL (item 12)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from premortem.ingest import cloudevents, k8s
from premortem.ports import EventQuery
from premortem.store.inputs import SqlInputStore
from premortem.testing import MemoryInputStore

pytestmark = pytest.mark.integration

CE = {"specversion": "1.0", "id": "evt-7", "source": "urn:ci", "type": "deploy"}


def test_external_ids_are_stored_and_queryable(sql_engine: Engine) -> None:
    for store in (SqlInputStore(sql_engine), MemoryInputStore()):
        events = cloudevents.parse_structured([CE, CE | {"source": "urn:cd"}], now_ns=1)
        kube = {"kind": "Event", "reason": "BackOff", "metadata": {"uid": "u-1"}}
        events += k8s.parse_events(kube | {"involvedObject": {"name": "p"}}, now_ns=1)
        assert store.add_events(events) == 3
        assert store.add_events(cloudevents.parse_structured(CE | {"data": 2}, now_ns=2)) == 0
        found = store.list_events(EventQuery(source="urn:ci", external_id="evt-7")).items
        assert [(e.source, e.external_id, e.data) for e in found] == [("urn:ci", "evt-7", None)]
        assert store.list_events(EventQuery(external_id="evt-7")).total == 2
        assert store.list_events(EventQuery(external_id="u-1")).items[0].type == "k8s.BackOff"
