"""Debouncer: quiet gap, maximum wait, storms, re-marks (pure, fake clock)."""

from __future__ import annotations

from packsync.daemon.debounce import Debouncer


def test_due_after_quiet_gap() -> None:
    d = Debouncer(0.5, 5.0)
    d.mark("a", 10.0)
    assert d.pop_due(10.4) == []
    d.mark("a", 10.4)  # another event restarts the quiet gap
    assert d.pop_due(10.8) == []
    assert d.pop_due(10.9) == ["a"]
    assert len(d) == 0


def test_max_wait_caps_a_continuous_stream() -> None:
    d = Debouncer(0.5, 5.0)
    t = 0.0
    fired_at = None
    while t < 20:
        d.mark("a", t)
        if d.pop_due(t + 0.01):
            fired_at = t
            break
        t += 0.1  # an event every 100 ms never leaves a 0.5 s gap
    assert fired_at is not None and 4.9 <= fired_at <= 5.1


def test_storm_across_packs_yields_each_pack_once() -> None:
    d = Debouncer(0.5, 5.0)
    for i in range(2000):  # a git checkout touching 2000 files in 50 packs
        d.mark(f"p{i % 50}", i * 0.0005)
    assert len(d) == 50
    due = d.pop_due(10.0)
    assert sorted(due) == sorted(f"p{i}" for i in range(50))
    assert d.pop_due(20.0) == []


def test_exclude_keeps_running_keys_pending() -> None:
    d = Debouncer(0.1, 1.0)
    d.mark("a", 0.0)
    d.mark("b", 0.0)
    assert d.pop_due(1.0, exclude={"a"}) == ["b"]
    assert "a" in d
    assert d.pop_due(1.0) == ["a"]


def test_mark_due_now_and_not_before() -> None:
    d = Debouncer(0.5, 5.0)
    d.mark_due_now("x", 3.0)
    assert d.pop_due(3.0) == ["x"]
    d.mark("y", 0.0, not_before=10.0)
    assert d.pop_due(9.9) == []
    assert d.next_deadline() == 10.0
    assert d.pop_due(10.0) == ["y"]


def test_earliest_first_and_take_all() -> None:
    d = Debouncer(0.5, 5.0)
    d.mark("late", 2.0)
    d.mark("early", 1.0)
    assert d.pop_due(3.0) == ["early", "late"]
    d.mark("a", 0.0)
    d.mark("b", 0.0)
    assert sorted(d.take_all()) == ["a", "b"]
    assert d.next_deadline() is None
