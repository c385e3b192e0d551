"""The translation of the model file."""

from __future__ import annotations

import warnings

from kbalance.paths import model_dir


def test_model_file_translates_without_warnings():
    import pysd

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pysd.read_vensim(str(model_dir() / "kbalance.mdl"), initialize=False)
    own = [w for w in caught if "chardet" not in str(w.message)]
    assert not own, [str(w.message) for w in own]
