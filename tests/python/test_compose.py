"""Two replicas on one host with Docker Compose behind HAProxy (deploy/compose/compose.yml): a
`docker stop` of one replica (SIGTERM: the drain) under a steady request rate loses nothing, and
the replica, started again, is taken back. The balancer publishes on 127.0.0.1 only; the project
is taken down however the test ends. Skipped, with the reason, only where Docker cannot run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from balancing import (
    Load,
    build_images,
    free_port,
    model_versions,
    p99_ms,
    photo,
    predict_once,
    retried_requests,
    wait_for,
)
from containers import ROOT, docker

PROJECT = "chori-compose-test"
COMPOSE_FILE = ROOT / "deploy" / "compose" / "compose.yml"
REPLICAS = 2
DRAIN_DELAY_MS = 2000


def compose_command() -> list[str]:
    if docker("compose", "version", check=False).returncode == 0:
        return ["docker", "compose"]
    found = shutil.which("docker-compose")
    if found is None:
        pytest.fail("no `docker compose` nor docker-compose: scripts/setup-system.sh --deploy")
    return [found]


def containers_of(service: str, *, healthy: bool = False) -> list[str]:
    args = ["ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"]
    args += ["--filter", f"label=com.docker.compose.service={service}"]
    if healthy:
        args += ["--filter", "health=healthy"]
    return docker(*args).stdout.split()


@pytest.fixture(scope="module")
def balancer() -> Iterator[str]:
    images = build_images()  # starts dockerd; skips with the reason where it cannot run
    port = free_port()
    with model_versions() as models:
        env = {
            **os.environ,
            "CHORI_IMAGE": images["chori"],
            "CHORI_HAPROXY_IMAGE": images["haproxy"],
            "CHORI_MODELS": str(models["v1"]),
            "CHORI_PORT": str(port),
            "CHORI_DRAIN_DELAY_MS": str(DRAIN_DELAY_MS),
        }
        base = [*compose_command(), "-p", PROJECT, "-f", str(COMPOSE_FILE)]

        def compose(*args: str) -> None:
            r = subprocess.run([*base, *args], env=env, capture_output=True, text=True, timeout=180)
            assert r.returncode == 0, r.stderr[-3000:]

        compose("up", "-d", "--scale", f"chori={REPLICAS}")
        try:
            wait_for(
                lambda: len(containers_of("chori", healthy=True)) == REPLICAS,
                f"{REPLICAS} healthy replicas",
                120,
            )
            url = f"127.0.0.1:{port}"
            wait_for(lambda: predict_once(url, photo()) == 200, "the balancer to answer", 60)
            yield url
        finally:
            compose("down", "--timeout", "20")


def test_docker_stop_of_a_replica_loses_nothing(balancer: str) -> None:
    with Load(balancer, photo()) as load:
        time.sleep(2)
        victim = containers_of("chori", healthy=True)[0]
        t0 = time.monotonic()
        docker("stop", "--time", "20", victim, timeout=60)
        stopped_s = time.monotonic() - t0
        time.sleep(1)
        docker("start", victim)
        wait_for(
            lambda: len(containers_of("chori", healthy=True)) == REPLICAS,
            "the replica to be healthy again",
            60,
        )
        time.sleep(1.5)
    samples = load.samples
    failed = [s for s in samples if s.status != 200]
    state = json.loads(docker("inspect", victim).stdout)[0]["State"]
    log = docker("logs", victim, check=False).stdout
    retried = retried_requests(containers_of("haproxy")[0])
    summary = {"sent": len(samples), "failed": len(failed), "p99_ms": p99_ms(samples)}
    print(f"\ncompose docker stop: {summary}, stopped in {stopped_s:.1f} s, {retried} retried")
    assert len(samples) > 50
    assert not failed, f"{len(failed)} failed, e.g. {failed[:3]}"
    assert f"stopping signal=SIGTERM while=serving drain_delay_ms={DRAIN_DELAY_MS}" in log
    assert "stopped forced=false" in log
    assert stopped_s >= DRAIN_DELAY_MS / 1000, "docker stop returned before the drain delay ended"
    assert state["Running"], "started again"


def test_the_compose_file_keeps_the_balancer_on_loopback(balancer: str) -> None:
    ports = json.loads(docker("inspect", containers_of("haproxy")[0]).stdout)[0]["HostConfig"]
    bindings = [b["HostIp"] for b in ports["PortBindings"]["8080/tcp"]]
    assert bindings == ["127.0.0.1"], bindings
