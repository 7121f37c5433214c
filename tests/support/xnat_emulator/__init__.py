"""An emulator of XNAT's REST API, for tests: the real ``xnat`` (xnatpy) client connects to it.

See README.md in this folder for what is emulated, from which XNAT source, and what is not.
"""

from __future__ import annotations

from .app import create_app
from .emulator import XnatEmulator
from .model import Accessibility, Role

__all__ = ["Accessibility", "Role", "XnatEmulator", "create_app"]
