"""The Docker watchdog removes the container when the harness's pipe closes without `done`, never with it."""

import contextlib

import pytest
from conftest import wait_for

from edgeprove.harness import watchdog
from edgeprove.harness.docker_backend import DockerBackend, owner_labels


@pytest.mark.parametrize("done", [True, False], ids=["harness-removed-it", "harness-died"])
def test_watchdog_removes_the_container_only_if_the_harness_did_not(
    docker_backend: DockerBackend, done: bool
) -> None:
    client = docker_backend._client
    container = client.containers.create(docker_backend.image, command=["true"], labels=owner_labels())
    try:
        guard = watchdog.spawn(container.id)
        watchdog.release(guard, removed=done)
        assert guard.returncode == 0
        listed = client.containers.list(all=True, filters={"id": container.id}, ignore_removed=True)
        assert bool(listed) == done
    finally:
        import docker.errors

        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def test_watchdog_acts_on_a_closed_pipe_alone(docker_backend: DockerBackend) -> None:
    client = docker_backend._client
    container = client.containers.create(docker_backend.image, command=["true"], labels=owner_labels())
    guard = watchdog.spawn(container.id)
    assert guard.stdin is not None
    guard.stdin.close()
    wait_for(
        lambda: not client.containers.list(all=True, filters={"id": container.id}, ignore_removed=True),
        30,
        "the removal",
    )
    assert guard.wait(timeout=10) == 0
