"""Opening a runtime: migrations and the workspace's seed entities, on every store."""

from __future__ import annotations

from collections.abc import Callable

from stadsnav.runtime import Runtime
from stadsnav.workspace import Workspace


def change_version(runtime: Runtime) -> int:
    return runtime.store.entity_delta(["Beach"], None).version


def test_reopening_leaves_unchanged_seed_entities_untouched(
    workspace: Workspace, runtime_of: Callable[[Workspace], Runtime]
) -> None:
    first = runtime_of(workspace)
    version = change_version(first)
    beach = first.store.get_entity("urn:ngsi-ld:Beach:se:skelleftea:byske-havsbad")
    assert beach is not None
    again = Runtime.open(workspace, store=first.store)
    assert change_version(again) == version
    unchanged = again.store.get_entity(beach.id)
    assert unchanged is not None
    assert unchanged.modified_at == beach.modified_at


def test_a_seed_changed_in_the_workspace_is_written_again(
    workspace: Workspace, runtime_of: Callable[[Workspace], Runtime]
) -> None:
    first = runtime_of(workspace)
    version = change_version(first)
    seed = next(e for e in workspace.entities if e.id.endswith("byske-havsbad"))
    seed.name = "Byske havsbad, norra stranden"
    again = Runtime.open(workspace, store=first.store)
    assert change_version(again) > version
    beach = again.store.get_entity(seed.id)
    assert beach is not None
    assert beach.attributes["name"]["value"] == "Byske havsbad, norra stranden"
