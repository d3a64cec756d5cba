"""What a caller may read and write, from its scopes and the datasets' classifications."""

from __future__ import annotations

from stadsnav.gateway.access import access_of
from stadsnav.workspace.models import Dataset, Owner

OWNER = Owner(name="Skellefteå kommun", email="it@skelleftea.se")


def dataset(dataset_id: str, classification: str, *types: str) -> Dataset:
    return Dataset(
        id=dataset_id,
        title=dataset_id,
        owner=OWNER,
        classification=classification,  # type: ignore[arg-type]
        entity_types=list(types),
    )


DATASETS = [
    dataset("beaches", "open", "Beach"),
    dataset("energy", "internal", "EnergyMeter"),
    dataset("care", "personal", "HomeSensor"),
]


def test_anyone_reads_open_data_and_nothing_else() -> None:
    anyone = access_of(None, None, DATASETS)
    assert anyone.can_read(["Beach"])
    assert not anyone.can_read(["EnergyMeter"])
    assert not anyone.can_read(["Unlisted"])  # no dataset: internal
    assert not anyone.can_read(["Beach", "EnergyMeter"])  # several types: all of them
    assert not anyone.can_write(["Beach"])
    assert anyone.pushdown() == frozenset({"Beach"})


def test_dataset_scopes_open_their_dataset_only() -> None:
    energy = access_of(["read:energy", "write:energy"], None, DATASETS)
    assert energy.can_read(["EnergyMeter"])
    assert energy.can_read(["Beach"])
    assert not energy.can_read(["HomeSensor"])
    assert energy.can_write(["EnergyMeter"])
    assert not energy.can_write(["Beach"])


def test_read_and_admin_do_not_open_personal_data() -> None:
    for scopes in (["read", "write"], ["admin"]):
        wide = access_of(scopes, None, DATASETS)
        assert wide.can_read(["EnergyMeter"])
        assert wide.can_read(["Unlisted"])
        assert wide.can_write(["Unlisted"])
        assert not wide.can_read(["HomeSensor"])
        assert not wide.can_write(["HomeSensor"])
        assert wide.pushdown() is None


def test_personal_data_needs_its_scope_and_a_purpose() -> None:
    assert not access_of(["read:care"], None, DATASETS).can_read(["HomeSensor"])
    carer = access_of(["read:care"], "alerting relatives", DATASETS)
    assert carer.can_read(["HomeSensor"])
    assert not carer.can_write(["HomeSensor"])
    assert access_of(["write:care"], None, DATASETS).can_write(["HomeSensor"])


def test_a_type_two_datasets_list_follows_the_stricter() -> None:
    datasets = [*DATASETS, dataset("everyone", "open", "HomeSensor", "EnergyMeter")]
    anyone = access_of(None, None, datasets)
    assert not anyone.can_read(["HomeSensor"])
    assert not anyone.can_read(["EnergyMeter"])
    assert not access_of(["read:everyone"], None, datasets).can_read(["EnergyMeter"])
    assert access_of(["read:energy"], None, datasets).can_read(["EnergyMeter"])


def test_scopes_everyone_has_never_open_personal_data() -> None:
    everyone = access_of(["read:care", "write:care"], None, DATASETS, anonymous=True)
    assert not everyone.can_read(["HomeSensor"])
    assert not everyone.can_write(["HomeSensor"])
    # A key's purpose does not make the scopes everyone has open personal data either.
    keyed = everyone.union(access_of(["read:energy"], "a purpose", DATASETS))
    assert not keyed.can_read(["HomeSensor"])
    assert keyed.can_read(["EnergyMeter"])


def test_identifying_attributes_are_hidden_without_the_identify_scope() -> None:
    care = dataset("care", "personal", "Resident").model_copy(update={"identifying": ["name"]})
    more = dataset("care2", "personal", "Resident").model_copy(update={"identifying": ["address"]})
    permits = dataset("permits", "internal", "Permit").model_copy(
        update={"identifying": ["holder"]}
    )
    datasets = [care, more, permits]
    reader = access_of(["read:care", "read:care2", "read"], "care", datasets)
    # Every dataset listing a type hides its own: the union, not the last one.
    assert reader.hidden_of(["Resident"]) == {"name", "address"}
    assert reader.hidden_of(["Permit"]) == {"holder"}  # in an internal dataset too
    assert reader.probed(["Resident"], ["name", "temperature"]) == ["name"]
    assert reader.probed(["Permit"], ["name"]) == []
    assert reader.probed(None, ["holder", "name"]) == ["holder", "name"]
    identifier = access_of(
        ["read:care", "identify:care", "identify:permits", "read"], "care", datasets
    )
    assert identifier.hidden_of(["Resident"]) == {"address"}  # care2's still hidden
    assert identifier.hidden_of(["Permit"]) == frozenset()
    # identify of a personal dataset needs a purpose, as read does.
    assert access_of(["identify:care"], None, datasets).hidden_of(["Resident"]) == {
        "name",
        "address",
    }
    # A caller that cannot read a type is not told its attributes are hidden: nothing to probe.
    assert access_of([], None, datasets).probed(["Resident"], ["name"]) == []
