"""The one rule for text from outside: what PostgreSQL refuses is found (to refuse it with
a clear answer) or replaced by a visible marker (to keep it)."""

from __future__ import annotations

import json

from eventlog.text import MARKER, storable, unstorable_field


def test_storable_replaces_nul_and_lone_surrogates_in_keys_and_values_and_keeps_the_rest(
) -> None:
    hostile = json.loads('{"split": "train\\u0000ing", "k\\ud800": ["ok", "\\udfff", 3, null],'
                         ' "emoji": "\\ud83d\\ude00", "n": 1.5, "b": true}')

    assert storable(hostile) == {
        "split": f"train{MARKER}ing", f"k{MARKER}": ["ok", MARKER, 3, None],
        "emoji": "\U0001F600", "n": 1.5, "b": True}
    json.dumps(storable(hostile)).encode("utf-8")  # UTF-8 can carry all of it now


def test_unstorable_field_names_the_first_refused_string_by_its_path() -> None:
    assert unstorable_field({"modelId": "m\x00"}) == "modelId"
    assert unstorable_field({"extra": {"tags": ["a", "b\ud800"]}}) == "extra.tags[1]"
    assert unstorable_field({"ok": "fine", "n": [1, {"x": "y"}]}) is None
    assert unstorable_field({"bad\x00key": 1}) == f"bad{MARKER}key"
