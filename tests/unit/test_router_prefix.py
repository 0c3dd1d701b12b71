"""The router's affinity key: what the engine reads first, by characters."""

from __future__ import annotations

import pytest

from modelfleet.runtime.router.prefix import affinity_key


@pytest.mark.parametrize(
    ("body", "chars", "key"),
    [
        (b'{"prompt":"You are a helpful assistant. Say hi"}', 9, "You are a"),
        (b'{"prompt":["first prompt","second"]}', 5, "first"),
        (b'{"prompt":[1,2,3,4]}', 4, "[1,2"),
        (b'{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}', 100,
         "system\0Be brief.\0user\0Hi\0"),
        (b'{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}', 14, 'user\0[{"type":'),
        (b'{"inputs":"What is Deep Learning?","parameters":{}}', 7, "What is"),
        ('{"prompt":"héllo wörld"}'.encode(), 7, "héllo w"),
        (b'{"model":"m"}', 10, ""),
        (b"garbage", 10, ""),
        (b"[1,2]", 10, ""),
    ],
    ids=["completion", "batch", "token ids", "chat", "chat parts", "tgi", "characters", "no prompt", "not json",
         "not an object"],
)
def test_affinity_key(body, chars, key):
    assert affinity_key(body, chars) == key


def test_a_conversation_keeps_its_key_as_it_grows():
    first = b'{"messages":[{"role":"system","content":"Answer in French, briefly and politely."}]}'
    later = (b'{"messages":[{"role":"system","content":"Answer in French, briefly and politely."},'
             b'{"role":"user","content":"Bonjour"}]}')
    assert affinity_key(first, 30) == affinity_key(later, 30)
