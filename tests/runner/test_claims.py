from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loralab.runner.claims import Claim, ClaimLost, read_claim
from loralab.store import CLAIM_FILE


def _foreign_claim(run: Path, *, age: float, host: str = "elsewhere", token: str = "t0") -> None:
    run.mkdir(parents=True, exist_ok=True)
    rec = {"owner": f"{host}:1:abc", "host": host, "pid": 1, "token": token, "created": time.time() - age}
    path = run / CLAIM_FILE
    path.write_text(json.dumps(rec))
    os.utime(path, (time.time() - age, time.time() - age))


def test_acquire_blocks_others_and_release_frees(tmp_path: Path):
    a, b = Claim(tmp_path / "r", settle=0), Claim(tmp_path / "r", settle=0)
    assert a.try_acquire()
    assert not b.try_acquire()
    assert b.holder is not None and b.holder.owner == a.owner
    a.release()
    assert read_claim(tmp_path / "r") is None
    assert b.try_acquire()
    b.release()


def test_heartbeat_keeps_a_claim_fresh_past_the_timeout(tmp_path: Path):
    path = tmp_path / "r" / CLAIM_FILE
    with Claim(tmp_path / "r", timeout=5, beat_every=0.05, settle=0) as a:
        assert a.try_acquire()
        past = time.time() - 100  # as if the owner had last beaten 100 s ago: stale for a timeout of 5
        os.utime(path, (past, past))
        deadline = time.monotonic() + 30  # a bound for a loaded machine, not a margin the test needs
        while path.stat().st_mtime == past and time.monotonic() < deadline:
            time.sleep(0.01)
        assert read_claim(tmp_path / "r").age < 5, "the heartbeat thread refreshed the claim"
        assert not Claim(tmp_path / "r", timeout=5, settle=0).try_acquire()


def test_a_claim_without_heartbeat_is_taken_over_after_the_timeout(tmp_path: Path):
    _foreign_claim(tmp_path / "r", age=30)
    assert not Claim(tmp_path / "r", timeout=60, settle=0).try_acquire()  # a remote owner: wait
    c = Claim(tmp_path / "r", timeout=10, settle=0)
    assert c.try_acquire()
    assert c.takeover is not None and "no heartbeat for 30s" in c.takeover
    assert read_claim(tmp_path / "r").owner == c.owner
    c.release()


def test_a_claim_of_a_dead_local_process_is_taken_over_at_once(tmp_path: Path):
    code = (
        "import os, signal, sys; from loralab.runner.claims import Claim;"
        "assert Claim(sys.argv[1], settle=0).try_acquire(); os.kill(os.getpid(), signal.SIGKILL)"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "r")], timeout=60)
    dead = read_claim(tmp_path / "r")
    assert dead is not None and dead.age < 60
    c = Claim(tmp_path / "r", timeout=3600, settle=0)
    assert c.try_acquire()
    assert f"owner process {dead.pid} is gone" in c.takeover
    c.release()


def test_a_retry_of_the_same_task_takes_its_own_claim_over(tmp_path: Path):
    _foreign_claim(tmp_path / "r", age=0, token="task-7")
    assert not Claim(tmp_path / "r", token="task-8", settle=0).try_acquire()
    c = Claim(tmp_path / "r", token="task-7", settle=0)
    assert c.try_acquire() and "earlier attempt" in c.takeover
    c.release()


def test_a_half_written_claim_counts_as_held_until_stale(tmp_path: Path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / CLAIM_FILE).write_text("")
    assert not Claim(tmp_path / "r", timeout=60, settle=0).try_acquire()
    os.utime(tmp_path / "r" / CLAIM_FILE, (time.time() - 100, time.time() - 100))
    c = Claim(tmp_path / "r", timeout=60, settle=0)
    assert c.try_acquire()
    c.release()


def test_an_owner_notices_a_takeover_and_keeps_the_new_claim(tmp_path: Path):
    a = Claim(tmp_path / "r", beat_every=0.05, settle=0)
    assert a.try_acquire()
    _foreign_claim(tmp_path / "r", age=0)  # as if a paused owner had been taken over
    deadline = time.time() + 5
    while not a.lost and time.time() < deadline:
        time.sleep(0.05)
    with pytest.raises(ClaimLost):
        a.check()
    a.release()
    assert read_claim(tmp_path / "r").host == "elsewhere"


def _race(run_dirs: list[str], barrier, log: str) -> None:
    for run in run_dirs:
        barrier.wait()
        c = Claim(run, timeout=5)
        won = c.try_acquire()
        if won:
            with open(log, "a") as f:
                f.write(f"{run} {os.getpid()}\n")
        barrier.wait()  # the winner holds the claim until every contender has tried
        if won:
            c.release()


@pytest.mark.parametrize("stale", [False, True], ids=["free", "stale"])
def test_processes_racing_for_claims_get_each_exactly_once(tmp_path: Path, stale: bool):
    runs = [tmp_path / f"r{i}" for i in range(4)]
    if stale:
        for r in runs:
            _foreign_claim(r, age=60)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(4)
    log = tmp_path / "winners.txt"
    procs = [ctx.Process(target=_race, args=([str(r) for r in runs], barrier, str(log))) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    winners = [line.split()[0] for line in log.read_text().splitlines()]
    assert sorted(winners) == sorted(str(r) for r in runs)
    assert all(read_claim(r) is None for r in runs)
