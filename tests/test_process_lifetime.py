"""Owner tokens that survive pid reuse, the gone-or-not judgement, and children that die with their parent."""

import os
import subprocess
import sys
from dataclasses import replace

from conftest import gone, wait_for

from edgeprove.process.lifetime import Owner, current_owner, owner_gone, pid_namespace, process_stat


def test_token_round_trip_and_junk() -> None:
    owner = current_owner()
    assert owner.pid == os.getpid() and owner.pidns == pid_namespace() != 0
    assert Owner.parse(owner.token) == owner
    for junk in ("", "12-34", "a-1-2", "1-2-3-4", "1--3"):
        assert Owner.parse(junk) is None


def test_a_live_process_is_not_gone() -> None:
    assert not owner_gone(current_owner())


def test_an_exited_process_is_gone_even_as_a_zombie() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    stat = wait_for(lambda: process_stat(child.pid), 10, "the child's /proc entry")
    owner = Owner(child.pid, stat[0], pid_namespace())
    wait_for(lambda: gone(child.pid), 10, "the child to exit")
    assert owner_gone(owner)  # not reaped yet: a zombie
    child.wait()
    assert owner_gone(owner)


def test_a_reused_pid_is_gone_but_another_namespace_never_is() -> None:
    owner = current_owner()
    assert owner_gone(replace(owner, start=owner.start + 1))
    assert not owner_gone(replace(owner, pid=2**22 + 7, pidns=owner.pidns + 1))
    assert not owner_gone(replace(owner, pid=2**22 + 7, pidns=0))


MIDDLE = """
import subprocess, sys
from edgeprove.process.lifetime import die_with_parent_hook
sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
child = subprocess.Popen(sleeper, preexec_fn=die_with_parent_hook())
print(child.pid, flush=True)
child.wait()
"""


def test_a_child_dies_with_its_sigkilled_parent() -> None:
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE], stdout=subprocess.PIPE, text=True)
    assert middle.stdout is not None
    grandchild = int(middle.stdout.readline())
    assert not gone(grandchild)
    middle.kill()
    middle.wait(timeout=10)
    wait_for(lambda: gone(grandchild), 10, "the grandchild to die with its parent")
