"""The audit chain: each record's hash covers its content and its predecessor's hash."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from stadsnav.gateway.audit import GENESIS, AuditEvent, chained, first_break

NOON = datetime(2026, 11, 27, 11, tzinfo=UTC)


def events(count: int) -> list[AuditEvent]:
    return [
        AuditEvent(
            NOON + timedelta(seconds=n),
            "rq2i74np",
            "read-personal",
            "GET /ngsi-ld/v1/entities/urn:ngsi-ld:HomeSensor:care:fridge-17",
            subject="urn:ngsi-ld:HomeSensor:care:fridge-17",
            dataset="care",
            purpose="alerting relatives of deviations",
            client="10.0.0.7",
        )
        for n in range(count)
    ]


def test_a_chain_holds_and_continues_from_its_head() -> None:
    first = chained(events(3), 0, GENESIS)
    assert [r.seq for r in first] == [1, 2, 3]
    assert first[0].previous == GENESIS
    assert [r.previous for r in first[1:]] == [r.hash for r in first[:-1]]
    more = chained(events(2), first[-1].seq, first[-1].hash)
    assert first_break(first + more) is None
    assert first_break(more, first[-1].seq, first[-1].hash) is None


def test_a_changed_record_is_found() -> None:
    records = chained(events(4), 0, GENESIS)
    changed = replace(records[2], event=replace(records[2].event, subject="someone else"))
    broken = first_break([*records[:2], changed, records[3]])
    assert broken is not None
    assert broken.seq == 3
    assert "changed" in broken.reason


def test_a_removed_or_rewritten_record_is_found() -> None:
    records = chained(events(4), 0, GENESIS)
    removed = first_break([records[0], records[2], records[3]])
    assert removed is not None
    assert removed.seq == 3
    assert "record 2 is missing" in removed.reason
    # A forger rewrites record 2 with a hash that fits: record 3 still names the old one.
    forged = chained([records[2].event], 1, records[0].hash)
    rewritten = first_break([records[0], forged[0], records[2], records[3]])
    assert rewritten is not None
    assert rewritten.seq == 3
    assert "hash of the record before" in rewritten.reason


def test_a_record_shows_no_unset_field() -> None:
    shown = chained(
        [AuditEvent(NOON, "anonymous", "denied", "GET /admin/keys", "denied", 401)], 0, GENESIS
    )
    assert shown[0].as_json() == {
        "seq": 1,
        "at": "2026-11-27T11:00:00Z",
        "actor": "anonymous",
        "action": "denied",
        "target": "GET /admin/keys",
        "outcome": "denied",
        "status": 401,
        "previous": GENESIS,
        "hash": shown[0].hash,
    }
