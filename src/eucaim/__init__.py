"""eucaim-transfer: move de-identified cancer-imaging and clinical data to EUCAIM reference nodes."""

from __future__ import annotations

import logging

__version__ = "0.1.0"
__all__ = ["__version__"]

# Only entry points configure handlers; a library stays quiet by default.
logging.getLogger(__name__).addHandler(logging.NullHandler())
