"""kbalance: a calibrated system-dynamics model of Korea's 17 regions to 2070."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kbalance")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"
