"""Roles on the node and what each may do with a biobank: pure rules, no database.

=============  =====================================  =====================================
role           reads                                  writes (STOW, later datasets)
=============  =====================================  =====================================
data-ingester  biobanks it manages                    biobanks it manages
validator      every biobank                          none
admin          every biobank                          every biobank
=============  =====================================  =====================================
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A user's role; the stored value is the name users type on the command line."""

    DATA_INGESTER = "data-ingester"
    VALIDATOR = "validator"
    ADMIN = "admin"


def can_read_biobank(role: Role, *, is_manager: bool) -> bool:
    """Return True when a user with ``role`` may search and retrieve a biobank's data."""
    return role in (Role.VALIDATOR, Role.ADMIN) or is_manager


def can_write_biobank(role: Role, *, is_manager: bool) -> bool:
    """Return True when a user with ``role`` may store data into a biobank."""
    return role is Role.ADMIN or (role is Role.DATA_INGESTER and is_manager)
