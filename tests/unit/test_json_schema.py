"""The one ``$ref`` inliner and keyword pruner (``api.json_schema``), which the CRD and the chart's values schema
share; ``test_crd.py`` and ``test_chart.py`` hold their whole output to the committed files."""

from __future__ import annotations

from modelfleet.api.json_schema import inline_refs, without_keywords

DEFINITIONS = {
    "Port": {"type": "integer", "description": "a port", "minimum": 1},
    "Server": {"type": "object", "properties": {"port": {"$ref": "#/$defs/Port"}}},
}


def test_refs_are_inlined_at_every_level_and_the_referring_keys_win():
    schema = {"type": "object", "properties": {"server": {"$ref": "#/$defs/Server", "description": "the server"},
                                               "ports": {"type": "array", "items": {"$ref": "#/$defs/Port"}}}}
    assert inline_refs(schema, DEFINITIONS) == {"type": "object", "properties": {
        "server": {"type": "object", "properties": {"port": DEFINITIONS["Port"]}, "description": "the server"},
        "ports": {"type": "array", "items": DEFINITIONS["Port"]},
    }}


def test_on_ref_sees_each_definition_it_resolves():
    seen = []
    inline_refs({"$ref": "#/$defs/Server"}, DEFINITIONS, lambda name, node: seen.append(name) or node)
    assert seen == ["Server", "Port"]


def test_pruning_drops_keywords_but_never_a_field_named_like_one():
    schema = {"title": "x", "type": "object", "properties": {"title": {"type": "string", "title": "t"}}}
    assert without_keywords(schema, lambda key: key == "title") == {
        "type": "object", "properties": {"title": {"type": "string"}}}
