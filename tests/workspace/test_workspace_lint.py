"""lint_workspace: one broken thing at a time, then many at once, each at its file, line, field."""

from __future__ import annotations

from pathlib import Path

from workspace_factory import BASE, WorkspaceFactory

from stadsnav.workspace import Problem, lint_workspace

CODECS = ["elsys/elt-2", "elsys/ers", "milesight/em300-th"]


def lint(root: Path, codecs: list[str] | None = CODECS) -> list[Problem]:
    return lint_workspace(root, known_codecs=codecs, environ={})


def test_base_workspace_is_clean(make_workspace: WorkspaceFactory) -> None:
    assert lint(make_workspace()) == []


def test_yaml_syntax_error_has_its_line(make_workspace: WorkspaceFactory) -> None:
    root = make_workspace({"datasets/temps.yaml": "id: temps\ntitle: [unclosed\nowner: x\n"})
    [problem] = lint(root)
    assert (problem.file, problem.line, problem.field) == ("datasets/temps.yaml", 3, "")
    assert problem.message.startswith("YAML syntax error")


def test_missing_field_points_at_parent(make_workspace: WorkspaceFactory) -> None:
    text = BASE["integrations/tts.yaml"].replace("  entity_type: WaterQualityObserved\n", "", 1)
    [problem] = lint(make_workspace({"integrations/tts.yaml": text}))
    assert problem == Problem("integrations/tts.yaml", 8, "mapping.entity_type", "field required")
    assert str(problem) == "integrations/tts.yaml:8: mapping.entity_type: field required"


def test_bad_dev_eui_in_second_device(make_workspace: WorkspaceFactory) -> None:
    text = BASE["devices/sensors.yaml"].replace("a81758fffe05c3a2", "a81758fffe05c3")
    [problem] = lint(make_workspace({"devices/sensors.yaml": text}))
    assert (problem.file, problem.line, problem.field) == (
        "devices/sensors.yaml",
        8,
        "devices[1].dev_eui",
    )
    assert "16 hex digits" in problem.message


def test_dev_eui_read_as_number_asks_for_quotes(make_workspace: WorkspaceFactory) -> None:
    text = BASE["devices/sensors.yaml"].replace("a81758fffe05c3a2", "1234567890123456")
    [problem] = lint(make_workspace({"devices/sensors.yaml": text}))
    assert problem.field == "devices[1].dev_eui"
    assert "quotes" in problem.message


def test_mapping_path_must_start_with_known_root(make_workspace: WorkspaceFactory) -> None:
    text = BASE["integrations/tts.yaml"].replace("data.externalTemperature", "externalTemperature")
    [problem] = lint(make_workspace({"integrations/tts.yaml": text}))
    assert (problem.line, problem.field) == (13, "mapping.properties.temperature.value")
    assert "'data.', 'device.' or 'uplink.'" in problem.message


def test_template_placeholder_must_be_a_path(make_workspace: WorkspaceFactory) -> None:
    text = BASE["integrations/tts.yaml"].replace("{device.name}", "{name}")
    [problem] = lint(make_workspace({"integrations/tts.yaml": text}))
    assert (problem.line, problem.field) == (10, "mapping.entity_id")
    assert "'name'" in problem.message


def test_unknown_source_type(make_workspace: WorkspaceFactory) -> None:
    text = BASE["integrations/tts.yaml"].replace("type: webhook", "type: ftp")
    [problem] = lint(make_workspace({"integrations/tts.yaml": text}))
    assert (problem.line, problem.field) == (5, "source.type")
    assert "'webhook', 'mqtt'" in problem.message


def test_error_inside_union_member_drops_the_tag(make_workspace: WorkspaceFactory) -> None:
    text = BASE["integrations/tts.yaml"].replace("format: tts_v3", "format: semtech_udp")
    [problem] = lint(make_workspace({"integrations/tts.yaml": text}))
    assert (problem.line, problem.field) == (6, "source.format")


def test_duplicate_dataset_id_names_both_places(make_workspace: WorkspaceFactory) -> None:
    text = BASE["datasets/temps.yaml"].replace("id: temps", "id: beaches")
    problems = lint(make_workspace({"datasets/temps.yaml": text}))
    duplicate = next(p for p in problems if "duplicate" in p.message)
    assert (duplicate.file, duplicate.line, duplicate.field) == ("datasets/temps.yaml", 1, "id")
    assert duplicate.message == "duplicate dataset id 'beaches' (also at datasets/beaches.yaml:1)"


def test_duplicate_device_name_and_product_path(make_workspace: WorkspaceFactory) -> None:
    devices = BASE["devices/sensors.yaml"].replace("elt2-spare", "elt2-norrstrand")
    product = BASE["products/beaches.yaml"].replace("id: beaches", "id: beaches-copy")
    root = make_workspace({"devices/sensors.yaml": devices, "products/copy.yaml": product})
    messages = {(p.file, p.line, p.field): p.message for p in lint(root)}
    assert messages == {
        ("devices/sensors.yaml", 9, "devices[1].name"): (
            "duplicate device name 'elt2-norrstrand' (also at devices/sensors.yaml:3)"
        ),
        ("products/copy.yaml", 3, "path"): (
            "duplicate product path 'beaches' (also at products/beaches.yaml:3)"
        ),
    }


def test_unknown_dataset_suggests_close_match(make_workspace: WorkspaceFactory) -> None:
    text = BASE["integrations/tts.yaml"].replace("dataset: temps", "dataset: temp")
    problems = lint(make_workspace({"integrations/tts.yaml": text}))
    assert (
        Problem(
            "integrations/tts.yaml", 3, "dataset", "unknown dataset 'temp' (did you mean 'temps'?)"
        )
        in problems
    )


def test_invalid_dataset_still_counts_as_declared(make_workspace: WorkspaceFactory) -> None:
    dataset = BASE["datasets/temps.yaml"].replace("fritid@example.org", "fritid")
    entities = BASE["entities/beaches.yaml"].replace("dataset: beaches", "dataset: beach")
    root = make_workspace({"datasets/temps.yaml": dataset, "entities/beaches.yaml": entities})
    assert [(p.file, p.line, p.field) for p in lint(root)] == [
        ("datasets/temps.yaml", 3, "owner.email"),
        ("entities/beaches.yaml", 4, "entities[0].dataset"),
    ]  # 'temps' is invalid but declared: the integration and product naming it are not reported


def test_device_site_must_be_a_seed_entity(make_workspace: WorkspaceFactory) -> None:
    text = BASE["devices/sensors.yaml"].replace("testby:norrstrand", "testby:sodrastrand")
    [problem] = lint(make_workspace({"devices/sensors.yaml": text}))
    assert (problem.line, problem.field) == (6, "devices[0].site")
    assert "norrstrand" in problem.message  # the close match is suggested


def test_unknown_codec_suggests_close_match(make_workspace: WorkspaceFactory) -> None:
    text = BASE["devices/sensors.yaml"].replace("codec: elsys/elt-2\n", "codec: elsys/elt2\n", 1)
    [problem] = lint(make_workspace({"devices/sensors.yaml": text}))
    assert problem == Problem(
        "devices/sensors.yaml",
        4,
        "devices[0].codec",
        "unknown codec 'elsys/elt2' (did you mean 'elsys/elt-2' or 'elsys/ers'?)",
    )


def test_codecs_not_checked_without_a_list(make_workspace: WorkspaceFactory) -> None:
    text = BASE["devices/sensors.yaml"].replace("elsys/elt-2", "acme/thing")
    assert lint(make_workspace({"devices/sensors.yaml": text}), codecs=None) == []


def test_undecodable_device_is_a_warning(make_workspace: WorkspaceFactory) -> None:
    devices = BASE["devices/sensors.yaml"].replace("    codec: elsys/elt-2\n", "", 1)
    integration = BASE["integrations/tts.yaml"].replace("codec: elsys/elt-2\n", "")
    root = make_workspace({"devices/sensors.yaml": devices, "integrations/tts.yaml": integration})
    [problem] = lint(root)
    assert (problem.file, problem.line, problem.field) == (
        "devices/sensors.yaml",
        2,
        "devices[0].codec",
    )
    assert problem.severity == "warning"
    assert "tts" in problem.message
    assert str(problem).startswith("devices/sensors.yaml:2: warning: devices[0].codec: no codec")


def test_open_dataset_needs_licence(make_workspace: WorkspaceFactory) -> None:
    text = BASE["datasets/beaches.yaml"].replace("licence: CC0-1.0\n", "")
    [problem] = lint(make_workspace({"datasets/beaches.yaml": text}))
    assert (problem.file, problem.line, problem.field) == ("datasets/beaches.yaml", 1, "licence")


def test_product_observation_type_must_fit_dataset(make_workspace: WorkspaceFactory) -> None:
    text = BASE["products/beaches.yaml"].replace("  dataset: temps", "  dataset: beaches")
    problems = lint(make_workspace({"products/beaches.yaml": text}))
    assert [(p.line, p.field) for p in problems] == [(8, "observation.entity_type")]
    assert "'WaterQualityObserved' is not one of dataset 'beaches'" in problems[0].message


def test_product_relationship_no_integration_maps(make_workspace: WorkspaceFactory) -> None:
    text = BASE["products/beaches.yaml"].replace("refPointOfInterest", "refBeach")
    [problem] = lint(make_workspace({"products/beaches.yaml": text}))
    assert (problem.line, problem.field, problem.severity) == (
        9,
        "observation.relationship",
        "warning",
    )


def test_unknown_files_are_warnings(make_workspace: WorkspaceFactory) -> None:
    root = make_workspace({"datasets/notes.txt": "hello", "devices/old/x.yaml": "devices: []"})
    assert lint(root) == [
        Problem(
            "datasets/notes.txt",
            None,
            "",
            "unknown file (not a .yaml file); it is ignored",
            "warning",
        ),
        Problem("devices/old", None, "", "unknown file (a folder); it is ignored", "warning"),
    ]


def test_missing_settings_file(make_workspace: WorkspaceFactory) -> None:
    [problem] = lint(make_workspace({"stadsnav.toml": None}))
    assert (problem.file, problem.line, problem.severity) == ("stadsnav.toml", None, "error")


def test_duplicate_yaml_key(make_workspace: WorkspaceFactory) -> None:
    text = BASE["datasets/temps.yaml"] + "title: Again\n"
    [problem] = lint(make_workspace({"datasets/temps.yaml": text}))
    assert (problem.line, problem.field) == (10, "title")
    assert "first on line 2" in problem.message


def test_range_rule_min_above_max(make_workspace: WorkspaceFactory) -> None:
    text = BASE["datasets/temps.yaml"].replace("{min: -2, max: 35}", "{min: 35, max: -2}")
    [problem] = lint(make_workspace({"datasets/temps.yaml": text}))
    assert (problem.line, problem.field) == (9, "rules.temperature")
    assert problem.message == "min (35.0) is greater than max (-2.0)"


def test_many_problems_at_once(make_workspace: WorkspaceFactory) -> None:
    root = make_workspace(
        {
            "stadsnav.toml": '[workspace]\nname = "X"\ntimezone = "Europe/Skelleftea"\n',
            "datasets/temps.yaml": BASE["datasets/temps.yaml"].replace(
                "classification: open", "classification: public"
            ),
            "devices/sensors.yaml": """\
                devices:
                  - dev_eui: a81758fffe05c3a1
                    name: Elt2 Norrstrand
                    codec: elsys/elt-2
                    location: {lon: 200, lat: 64.9}
                  - dev_eui: a81758fffe05c3a1
                    name: elt2-b
                    codec: elsys/elt-2
                    colour: blue
                """,
            "entities/beaches.yaml": """\
                entities:
                  - id: Beach:norrstrand
                    type: Beach
                    dataset: beach
                """,
            "products/beaches.yaml": None,
            "integrations/tts.yaml": BASE["integrations/tts.yaml"].replace("device.site", "site"),
        }
    )
    found = [(p.file, p.line, p.field, p.severity) for p in lint(root)]
    assert found == [
        ("stadsnav.toml", 3, "workspace.timezone", "error"),
        ("datasets/temps.yaml", 4, "classification", "error"),
        ("devices/sensors.yaml", 3, "devices[0].name", "error"),
        ("devices/sensors.yaml", 5, "devices[0].location.lon", "error"),
        ("devices/sensors.yaml", 9, "devices[1].colour", "error"),
        ("entities/beaches.yaml", 2, "entities[0].id", "error"),
        ("integrations/tts.yaml", 16, "mapping.relationships.refPointOfInterest", "error"),
    ]


def test_unknown_envelope_format_lists_the_known_ones(make_workspace: WorkspaceFactory) -> None:
    text = BASE["integrations/tts.yaml"].replace("format: tts_v3", "format: semtech_udp")
    [problem] = lint(make_workspace({"integrations/tts.yaml": text}))
    assert "unknown envelope format 'semtech_udp'" in problem.message
    assert "netmore" in problem.message
    assert "loriot" in problem.message


def test_rollup_must_count_a_mapped_property_into_a_mapped_relationship(
    make_workspace: WorkspaceFactory,
) -> None:
    text = BASE["integrations/tts.yaml"] + (
        "rollup:\n"
        "  relationship: refPointOfInterst\n"
        "  property: temperature\n"
        "  counts: {cold: coldSensors}\n"
    )
    [problem] = lint(make_workspace({"integrations/tts.yaml": text}))
    assert (problem.line, problem.field) == (19, "rollup.relationship")
    assert problem.message == (
        "the mapping has no relationship 'refPointOfInterst' to count into "
        "(did you mean 'refPointOfInterest'?)"
    )
    wrong_property = text.replace("refPointOfInterst", "refPointOfInterest").replace(
        "property: temperature", "property: status"
    )
    [problem] = lint(make_workspace({"integrations/tts.yaml": wrong_property}))
    assert (problem.field, problem.message) == (
        "rollup.property",
        "the mapping has no property 'status' to count",
    )


def test_product_filter_must_name_a_field_of_the_items(make_workspace: WorkspaceFactory) -> None:
    text = BASE["products/beaches.yaml"] + (
        "filters:\n"
        "  minTemperature: {field: waterTemperature, op: min}\n"
        "  named: {field: nam, op: eq}\n"
    )
    [problem] = lint(make_workspace({"products/beaches.yaml": text}))
    assert (problem.line, problem.field) == (15, "filters.named.field")
    assert problem.message.startswith("'nam' is not a field of the product's items (did you mean")


def test_filters_may_not_take_a_built_in_parameter_and_routes_must_differ(
    make_workspace: WorkspaceFactory,
) -> None:
    text = (
        BASE["products/beaches.yaml"].replace(
            "history: temperatures", "history: temperatures\n  profile: temperatures"
        )
        + "filters:\n  near: {field: name, op: eq}\n"
    )
    problems = lint(make_workspace({"products/beaches.yaml": text}))
    assert [(p.field, p.message) for p in problems] == [
        (
            "observation.profile",
            "history and profile are both 'temperatures': give them different routes",
        ),
        (
            "filters.near",
            "'near' is a query parameter every product has (near, radius, format): "
            "give the filter another name",
        ),
    ]


def test_a_product_may_not_show_an_attribute_that_identifies_a_person(
    make_workspace: WorkspaceFactory,
) -> None:
    dataset = BASE["datasets/beaches.yaml"] + "identifying: [name, address]\n"
    [problem] = lint(make_workspace({"datasets/beaches.yaml": dataset}))
    assert (problem.file, problem.line, problem.field) == (
        "products/beaches.yaml",
        6,
        "fields.name",
    )
    assert "'name' identifies a person" in problem.message
    assert problem.severity == "error"


def test_a_dataset_whose_location_identifies_a_person_can_have_no_product(
    make_workspace: WorkspaceFactory,
) -> None:
    dataset = BASE["datasets/beaches.yaml"] + "identifying: [location]\n"
    [problem] = lint(make_workspace({"datasets/beaches.yaml": dataset}))
    assert (problem.file, problem.field) == ("products/beaches.yaml", "dataset")
    assert "can have no product" in problem.message
