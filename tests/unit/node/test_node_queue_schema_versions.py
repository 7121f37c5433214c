"""Which procrastinate migration files ``db upgrade`` applies, from a recorded version or file."""

from __future__ import annotations

from eucaim.node.jobs.schema import installed_version, pending_migrations


def test_from_a_version_every_later_file_up_to_the_installed_one_in_order() -> None:
    names = pending_migrations("3.0.0", "3.10.0")
    assert names[0] == "03.01.00_01_pre_add_heartbeat.sql"
    assert names == sorted(names) and all(n.startswith("03.") for n in names)
    assert not any(n.startswith("03.00.00") for n in names)  # 3.0.0 already has its own files


def test_nothing_is_pending_at_the_installed_version_or_beyond_what_is_known() -> None:
    assert pending_migrations(installed_version(), installed_version()) == []
    assert pending_migrations("3.2.0", "3.2.0") == []
    assert pending_migrations("3.0.0", "3.1.0") == [
        "03.01.00_01_pre_add_heartbeat.sql",
        "03.01.00_50_post_add_heartbeat.sql",
    ]


def test_an_upgrade_stopped_after_a_file_continues_with_the_next_one() -> None:
    names = pending_migrations("03.01.00_01_pre_add_heartbeat.sql", "3.10.0")
    assert names[0] == "03.01.00_50_post_add_heartbeat.sql"
    assert pending_migrations("3.0.0", "3.10.0")[1:] == names
