"""The resolved-plans cache (controller/plancache.py): a second resolution of the same inputs
is served from it, equal to what resolve() gives, without calling resolve(); every input the
plans are made of changes the key (a property over each of them); a cache directory others
can write, NSPROV_NO_CACHE and a topology file are never served from it."""

from __future__ import annotations

import os

import pytest

from nsprov.controller import plancache
from nsprov.controller import resolve as resolve_module
from nsprov.controller.inventory_files import load_inventory
from nsprov.controller.playbook import load_playbook

BOOK = """\
- hosts: all
  vars: {n: 3}
  tasks:
    - netns: {name: "c{{ item }}"}
      loop: "{{ range(n | int) | list }}"
      tags: [ns]
    - netns: {name: "{{ who }}"}
"""
INVENTORY = "all:\n  hosts:\n    h1: {who: alice}\n    h2: {who: bob}\n"


@pytest.fixture()
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NSPROV_NO_CACHE", raising=False)
    (tmp_path / "book.yml").write_text(BOOK)
    (tmp_path / "inv.yml").write_text(INVENTORY)
    return tmp_path


def resolved(tmp_path, limit=None, extra=None, tags=((), ())):
    path = str(tmp_path / "book.yml")
    return plancache.resolved(path, load_playbook(path), load_inventory((str(tmp_path / "inv.yml"),)), limit,
                              extra or {}, tags)


def refuse_resolve(monkeypatch):
    def refused(*a, **k):
        raise AssertionError("resolve() called: the cache did not serve")
    monkeypatch.setattr(resolve_module, "resolve", refused)


def test_the_same_inputs_are_served_from_the_cache_equal_to_a_resolution(files, monkeypatch):
    first = resolved(files)
    assert sorted(first) == ["h1", "h2"] and [t["params"]["name"] for t in first["h2"].tasks] == ["c0", "c1", "c2", "bob"]
    refuse_resolve(monkeypatch)
    assert resolved(files) == first


@pytest.mark.parametrize("change", ["playbook", "inventory", "extra", "limit", "tags", "skip_tags"])
def test_every_input_of_a_resolution_changes_its_key(files, monkeypatch, change):
    """The base is cached; with one input changed, what comes back is a fresh resolution of the
    changed inputs (the cache off gives the same), never the cached base."""
    base = resolved(files)
    args = dict(limit=None, extra={}, tags=((), ()))
    if change == "playbook":
        (files / "book.yml").write_text(BOOK.replace("n: 3", "n: 4"))
    elif change == "inventory":
        (files / "inv.yml").write_text(INVENTORY.replace("bob", "carol"))
    elif change == "extra":
        args["extra"] = {"n": 2}
    elif change == "limit":
        args["limit"] = "h1"
    else:
        args["tags"] = (("ns",), ()) if change == "tags" else ((), ("ns",))
    served = resolved(files, **args)
    monkeypatch.setenv("NSPROV_NO_CACHE", "1")
    assert served == resolved(files, **args) != base


def test_a_cache_others_can_write_is_never_read_nor_one_turned_off(files, monkeypatch):
    resolved(files)
    os.chmod(plancache.directory(), 0o777)
    refuse_resolve(monkeypatch)
    with pytest.raises(AssertionError, match="the cache did not serve"):
        resolved(files)
    os.chmod(plancache.directory(), 0o700)
    resolved(files)                              # the control: private again, it serves
    monkeypatch.setenv("NSPROV_NO_CACHE", "1")
    with pytest.raises(AssertionError, match="the cache did not serve"):
        resolved(files)
