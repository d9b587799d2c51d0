"""A task that makes a namespace needs a name: empty means "the host's own" everywhere a task
refers to a namespace, so it can never name one to make."""

from __future__ import annotations

import pytest

from nsprov.model.kinds import validate_params


@pytest.mark.parametrize("module,params", [
    ("netns", {"name": ""}),
    ("netns", {"name": None}),
    ("namespace", {"name": "", "kinds": ["uts"]}),
])
def test_a_namespace_to_make_needs_a_name(module, params):
    _, problems = validate_params(module, params)
    assert [f for f, _ in problems] == ["name"], problems
    assert "non-empty name" in problems[0][1] or "required" in problems[0][1]


def test_empty_still_means_the_host_where_a_task_refers_to_a_namespace():
    params, problems = validate_params("bridge", {"name": "br0", "netns": ""})
    assert not problems and params["netns"] == ""
    params, problems = validate_params("netns", {"name": "a1"})
    assert not problems and params["name"] == "a1"
