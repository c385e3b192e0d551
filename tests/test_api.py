"""The package's top level: what ``import kbalance`` gives."""

from __future__ import annotations

from importlib.metadata import version

import kbalance


def test_version_is_the_installed_distribution_version():
    assert kbalance.__version__ == version("kbalance")
    assert kbalance.__version__.count(".") >= 1
