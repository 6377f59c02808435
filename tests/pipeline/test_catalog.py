"""The cached host action catalog (pipeline/catalog.py) on real folders.

A cached answer must never hide a change: a file added, removed or renamed
in another pack is seen by the next lookup, whether the pack's stamp is
trusted (an old stamp: `settled` clock) or still too fresh to trust (the real
clock, right after the folders were written).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import asyncpg

from packsync.config import Settings
from packsync.pipeline.catalog import CatalogCache, _settled, build_catalog
from packsync.pipeline.scan import scan_base
from packsync.sync.service import SyncService
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml, write


def settled_clock() -> int:
    """A clock 60 s ahead: every stamp on disk is old enough to be trusted."""
    return time.time_ns() + 60_000_000_000


def test_real_clock_sees_an_action_added_right_after_a_lookup(tmp_path: Path) -> None:
    make_pack(tmp_path, "pb", {}, actions={"old.yaml": "name: old\n"})
    cache = CatalogCache(tmp_path)
    assert not cache.view().has_action("pb.new")
    write(tmp_path / "pb" / "actions" / "new.yaml", "name: new\n")  # same timestamp tick, likely
    assert cache.view().has_action("pb.new")
    # fresh stamps are never trusted: each lookup re-listed the pack
    assert cache.listings == 2


def test_trusted_stamps_skip_the_listing_and_still_see_every_change(tmp_path: Path) -> None:
    root = make_pack(tmp_path, "pb", {"flow.yaml": workflow_yaml()}, actions={"a.yaml": "x: 1\n"})
    cache = CatalogCache(tmp_path, clock_ns=settled_clock)
    assert cache.view().actions_of("pb") == {"pb.a", "pb.flow"}
    assert cache.view().has_action("pb.a") and cache.listings == 1  # second lookup: stamp only

    write(root / "actions" / "added.yaml", "x: 1\n")
    assert cache.view().has_action("pb.added") and cache.listings == 2

    (root / "actions" / "a.yaml").rename(root / "actions" / "renamed.yml")
    offered = cache.view().actions_of("pb") or ()
    assert "pb.renamed" in offered and "pb.a" not in offered

    (root / "workflows" / "flow.yaml").unlink()
    assert not cache.view().has_action("pb.flow")

    write(root / "actions" / "workflows" / "nested.workflow.yaml", workflow_yaml())
    assert cache.view().has_action("pb.nested")  # actions/workflows/ did not exist before

    # rsync -t puts the folder's mtime back after writing into it; ctime still moves
    actions = root / "actions"
    before = actions.stat()
    write(actions / "sneaky.yaml", "x: 1\n")
    os.utime(actions, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert actions.stat().st_mtime_ns == before.st_mtime_ns
    assert cache.view().has_action("pb.sneaky")
    assert cache.listings == 6


def test_a_stamp_as_new_as_the_lookup_is_never_trusted(tmp_path: Path) -> None:
    """The racy case: a change in the same timestamp tick as the listing would
    leave the stamp unchanged, so a fresh stamp makes every lookup list again."""
    root = make_pack(tmp_path, "pb", {}, actions={"a.yaml": "x: 1\n"})
    newest = max(p.stat().st_ctime_ns for p in (root, root / "actions"))
    racy = CatalogCache(tmp_path, clock_ns=lambda: newest + 50_000_000)  # 50 ms later
    for _ in range(3):
        assert racy.view().has_action("pb.a")
    assert racy.listings == 3
    trusted = CatalogCache(tmp_path, clock_ns=lambda: newest + 200_000_000)
    for _ in range(3):
        assert trusted.view().has_action("pb.a")
    assert trusted.listings == 1


def test_whole_second_stamps_get_a_wider_margin() -> None:
    second = 1_700_000_000 * 1_000_000_000
    stamp = ((1, 2, second, second, 4096),)
    assert not _settled(stamp, second + 1_000_000_000)  # a 1 s file system: same tick
    assert _settled(stamp, second + 4_000_000_000)
    fine = ((1, 2, second + 123, second + 123, 4096),)
    assert _settled(fine, second + 123 + 200_000_000)
    assert not _settled(fine, second + 123 + 50_000_000)
    # an mtime far ahead (tar restores mtimes) does not keep a stamp unsettled
    future = ((1, 2, second + 10**12, second + 123, 4096),)
    assert _settled(future, second + 123 + 200_000_000)


def test_packs_appear_vanish_and_are_replaced(tmp_path: Path) -> None:
    cache = CatalogCache(tmp_path, clock_ns=settled_clock)
    assert not cache.view().has_pack("pc")
    make_pack(tmp_path, "pc", {}, actions={"x.yaml": "x: 1\n"})
    assert cache.view().has_action("pc.x")
    os.rename(tmp_path / "pc", tmp_path / "c-old")
    assert not cache.view().has_pack("pc")
    make_pack(tmp_path, "pc", {}, actions={"y.yaml": "y: 1\n"})
    view = cache.view()
    assert view.has_action("pc.y") and not view.has_action("pc.x")
    (tmp_path / "plain").write_text("a file, not a pack")
    assert not cache.view().has_pack("plain")


def test_a_lookup_touches_only_the_packs_asked_for(tmp_path: Path) -> None:
    make_core_pack(tmp_path)
    for i in range(30):
        make_pack(tmp_path, f"p{i:02d}", {"w.yaml": workflow_yaml()})
    cache = CatalogCache(tmp_path, clock_ns=settled_clock)
    view = cache.view()
    assert view.has_action("core.echo") and view.has_action("core.noop")
    assert view.has_pack("p07") and not view.has_pack("nowhere")
    assert cache.listings == 2  # core and p07; never the other 29 packs


def test_a_view_answers_as_the_disk_does_and_a_callers_answer_adds_to_it(tmp_path: Path) -> None:
    make_core_pack(tmp_path)
    make_pack(tmp_path, "demo", {"deploy.yaml": workflow_yaml()})
    make_pack(tmp_path, "other", {}, actions={"file_stem.yaml": "name: real_name\n"})
    (tmp_path / "Not_A_Ref").mkdir()
    view = CatalogCache(tmp_path).view({"remote": frozenset({"remote.run"})})
    assert view.actions_of("demo") == {"demo.deploy"}
    assert view.actions_of("other") == {"other.file_stem"}  # stems: nothing is read
    assert view.actions_of("Not_A_Ref") is None and view.actions_of("nowhere") is None
    assert view.has_action("remote.run")  # registered in Attune, not on this host
    view.add("demo", {"demo.mine"})
    assert view.actions_of("demo") == {"demo.deploy", "demo.mine"}
    # build_catalog: the scanned packs offer their parsed names
    scan = scan_base(tmp_path, max_file_size=1 << 20, only={"other"})
    assert build_catalog(scan).actions_of("other") == {"other.real_name", "other.file_stem"}


def test_names_that_are_not_pack_refs_never_reach_the_disk(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    make_pack(outside, "secret", {}, actions={"x.yaml": "x: 1\n"})
    base = tmp_path / "packs"
    base.mkdir()
    cache = CatalogCache(base)
    for name in ("../outside/secret", "..", ".", "/etc", "Core", ""):
        assert cache.actions_of(name) is None
        assert not cache.view().has_pack(name)
    assert cache.listings == 0


def test_forget_makes_the_next_lookup_list_again(tmp_path: Path) -> None:
    make_core_pack(tmp_path)
    cache = CatalogCache(tmp_path, clock_ns=settled_clock)
    assert cache.view().has_action("core.echo")
    assert cache.view().has_action("core.echo")
    assert cache.listings == 1
    cache.forget()
    assert cache.view().has_action("core.echo")
    assert cache.listings == 2


def test_concurrent_lookups_while_files_are_added(tmp_path: Path) -> None:
    make_pack(tmp_path, "pb", {}, actions={"a0.yaml": "x: 1\n"})
    cache = CatalogCache(tmp_path)
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                view = cache.view()
                assert view.has_pack("pb") and view.has_action("pb.a0")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(1, 40):
        write(tmp_path / "pb" / "actions" / f"a{i}.yaml", "x: 1\n")
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert not errors
    assert cache.view().actions_of("pb") == {f"pb.a{i}" for i in range(40)}


# ---------------------------------------------------------------- through the service
CALLS_B_NEW = """\
version: "1.0"
label: {label}
tasks:
  - name: go
    action: {action}
"""


async def error_codes(pool: asyncpg.Pool, pack: str) -> dict[str, list[str]]:
    async with pool.acquire() as conn:
        got = await conn.fetch(
            "SELECT file_path, errors FROM workflow_sync_error WHERE pack_ref = $1", pack
        )
    return {r["file_path"]: [e["code"] for e in r["errors"]] for r in got}


async def labels(pool: asyncpg.Pool) -> dict[str, str]:
    async with pool.acquire() as conn:
        got = await conn.fetch("SELECT ref, label FROM workflow_definition")
    return {r["ref"]: r["label"] for r in got}


async def test_action_added_to_another_pack_is_seen_by_the_next_sync(
    settings: Settings, pool: asyncpg.Pool, packs: Path
) -> None:
    cache = CatalogCache(packs, clock_ns=settled_clock)
    service = SyncService(settings, pool, catalog=cache)
    make_pack(packs, "pb", {}, actions={"old.yaml": "name: old\n"})
    make_pack(packs, "pa", {"go.yaml": CALLS_B_NEW.format(label="v1", action="pb.new")})
    await service.sync_all(trigger="startup")
    assert await error_codes(pool, "pa") == {"workflows/go.yaml": ["unknown-action"]}
    result = await service.sync_pack("pa", trigger="watch")  # b unchanged: trusted stamp
    assert result.outcome == "errors"
    listed = cache.listings

    write(packs / "pb" / "actions" / "new.yaml", "name: new\n")  # b is never synced here
    result = await service.sync_pack("pa", trigger="watch")
    assert result.outcome == "ok" and result.created == 1
    assert await error_codes(pool, "pa") == {}
    assert (await labels(pool))["pa.go"] == "v1"
    assert cache.listings == listed + 1  # b re-listed because its stamp moved


async def test_action_removed_from_another_pack_fails_the_next_change(
    settings: Settings, pool: asyncpg.Pool, packs: Path
) -> None:
    cache = CatalogCache(packs, clock_ns=settled_clock)
    service = SyncService(settings, pool, catalog=cache)
    make_pack(packs, "pb", {}, actions={"old.yaml": "name: old\n"})
    make_pack(packs, "pa", {"go.yaml": CALLS_B_NEW.format(label="v1", action="pb.old")})
    assert (await service.sync_all(trigger="startup")).outcome == "ok"

    (packs / "pb" / "actions" / "old.yaml").unlink()
    write(packs / "pa" / "workflows" / "go.yaml", CALLS_B_NEW.format(label="v2", action="pb.old"))
    result = await service.sync_pack("pa", trigger="watch")
    assert result.outcome == "errors" and result.failed == 1
    assert await error_codes(pool, "pa") == {"workflows/go.yaml": ["unknown-action"]}
    assert (await labels(pool))["pa.go"] == "v1"  # the last good version is kept


async def test_a_new_pack_folder_is_seen_by_the_next_sync(
    settings: Settings, pool: asyncpg.Pool, packs: Path
) -> None:
    service = SyncService(settings, pool, catalog=CatalogCache(packs, clock_ns=settled_clock))
    make_pack(packs, "pa", {"go.yaml": CALLS_B_NEW.format(label="v1", action="pc.x")})
    result = await service.sync_pack("pa", trigger="watch")
    assert result.outcome == "ok"  # an unknown pack only warns
    assert [d.code for w in result.workflows for d in w.warnings] == ["unknown-pack"]

    make_pack(packs, "pc", {}, actions={"y.yaml": "name: y\n"})  # c exists, without x
    write(packs / "pa" / "workflows" / "go.yaml", CALLS_B_NEW.format(label="v2", action="pc.x"))
    result = await service.sync_pack("pa", trigger="watch")
    assert result.outcome == "errors"
    assert await error_codes(pool, "pa") == {"workflows/go.yaml": ["unknown-action"]}


async def test_every_sweep_lists_the_packs_it_looks_up_again(
    settings: Settings, pool: asyncpg.Pool, packs: Path
) -> None:
    cache = CatalogCache(packs, clock_ns=settled_clock)
    service = SyncService(settings, pool, catalog=cache)
    make_pack(packs, "pb", {}, actions={"old.yaml": "name: old\n"})
    make_pack(packs, "pa", {"go.yaml": CALLS_B_NEW.format(label="v1", action="pb.new")})
    await service.sync_all(trigger="startup")
    await service.sync_pack("pa", trigger="watch")
    listed = cache.listings
    await service.sync_pack("pa", trigger="watch")  # failing file: parsed again, stamps trusted
    assert cache.listings == listed
    await service.sync_all(trigger="reconcile")  # the failing file is parsed again in the sweep
    assert cache.listings == listed + 2  # a and b listed afresh, stamps or not


async def test_a_single_pack_sync_lists_only_the_packs_it_needs(
    settings: Settings, pool: asyncpg.Pool, packs: Path
) -> None:
    """The storm regression guard: syncing one pack must not list every pack
    on the host (that made a storm quadratic in the number of packs)."""
    cache = CatalogCache(packs, clock_ns=settled_clock)
    service = SyncService(settings, pool, catalog=cache)
    make_core_pack(packs)
    for i in range(30):
        make_pack(packs, f"p{i:02d}", {"w.yaml": workflow_yaml("v1")})
    await service.sync_all(trigger="startup")
    listed = cache.listings
    assert listed <= 31  # at most once per pack during the sweep
    for i in range(5):
        write(packs / f"p{i:02d}" / "workflows" / "w.yaml", workflow_yaml("v2"))
        result = await service.sync_pack(f"p{i:02d}", trigger="watch")
        assert result.updated == 1
    # rewriting a file changes no folder: core and the synced packs stay trusted
    assert cache.listings - listed == 0, cache.listings - listed
