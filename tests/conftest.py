"""Shared fixtures: every test meshes into its own cache folder."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Tests must never read a mesh cached by another run or by the user.
    monkeypatch.setenv("FEMEIT_CACHE_DIR", str(tmp_path_factory.mktemp("mesh-cache")))
