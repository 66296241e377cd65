"""hsctl: from raw tweets to a monitored, load-tested hate-speech classifier.

The package root imports nothing heavy; import the stage packages
(:mod:`hsctl.fetch`, :mod:`hsctl.preprocess`, ...) for the library API.
"""

from hsctl.__about__ import __version__

__all__ = ["__version__"]
