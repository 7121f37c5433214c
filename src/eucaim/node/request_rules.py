"""Who may ask for, see and decide biobank requests: pure rules, no database.

=============  ==========================  ============================  ===================
role           submit a request            see requests                  approve / decline
=============  ==========================  ============================  ===================
data-ingester  yes (becomes its manager)   its own                       no
validator      no                          no                            no
admin          no (creates biobanks        all                           yes
               directly)
=============  ==========================  ============================  ===================
"""

from __future__ import annotations

from eucaim.node.roles import Role


def can_submit_request(role: Role) -> bool:
    """Return True when ``role`` may ask for a new biobank."""
    return role is Role.DATA_INGESTER


def can_see_request(role: Role, *, is_requester: bool) -> bool:
    """Return True when ``role`` may read a request (its own, or any as admin)."""
    return role is Role.ADMIN or (role is Role.DATA_INGESTER and is_requester)


def can_list_requests(role: Role) -> bool:
    """Return True when ``role`` may list requests (admins see all, ingesters their own)."""
    return role in (Role.ADMIN, Role.DATA_INGESTER)


def can_decide_request(role: Role) -> bool:
    """Return True when ``role`` may approve or decline a request."""
    return role is Role.ADMIN
