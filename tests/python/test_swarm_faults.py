"""Three replicas on Docker Swarm behind HAProxy (deploy/swarm/stack.yml) under a steady request
rate while one replica is stopped (SIGTERM: the drain), one is killed (SIGKILL), Swarm replaces
them, and the service rolls to a new model version. Every request sent is counted, and every
answer: none may fail. Skipped, with the reason, only where Docker cannot run.

The balancer publishes on 127.0.0.1 only (a docker_gwbridge bound to loopback, made before the
swarm), and every request goes there. The test initialises its own swarm and leaves it, with the
stack, its containers and the bridge, however it ends."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from balancing import (
    CLIENTS,
    V1_LABELS,
    V2_LABELS,
    Load,
    Sample,
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

STACK = "chori-faults"
SERVICE = f"{STACK}_chori"
REPLICAS = 3
DRAIN_DELAY_MS = 2000
LOOPBACK_BRIDGE = [
    "--driver", "bridge", "--subnet", "172.31.250.0/24",
    "--opt", "com.docker.network.bridge.name=docker_gwbridge",
    "--opt", "com.docker.network.bridge.enable_icc=false",
    "--opt", "com.docker.network.bridge.enable_ip_masquerade=true",
    "--opt", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1",
]  # fmt: skip


# -- the swarm, the stack, the models ----------------------------------------------------------


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    return build_images()


@pytest.fixture(scope="module")
def models() -> Iterator[dict[str, Path]]:
    with model_versions() as found:
        yield found


@pytest.fixture(scope="module")
def swarm(images: dict[str, str]) -> Iterator[None]:
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    if state != "inactive":
        pytest.skip(
            f"this daemon is already in a swarm ({state}); the test makes and leaves its own"
        )
    bridge = docker("network", "inspect", "docker_gwbridge", check=False)
    made_bridge = bridge.returncode != 0
    if made_bridge:
        docker("network", "create", *LOOPBACK_BRIDGE, "docker_gwbridge")
    else:
        options = json.loads(bridge.stdout)[0]["Options"]
        if options.get("com.docker.network.bridge.host_binding_ipv4") != "127.0.0.1":
            pytest.skip("docker_gwbridge exists and publishes beyond loopback; the test would too")
    try:
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
        try:
            yield
        finally:
            docker("swarm", "leave", "--force", check=False)
    finally:
        if made_bridge:
            wait_for(
                lambda: docker("network", "rm", "docker_gwbridge", check=False).returncode == 0,
                "docker_gwbridge to be free",
                30,
            )


def replicas(*, healthy: bool = True) -> list[str]:
    args = ["ps", "-q", "--filter", f"label=com.docker.swarm.service.name={SERVICE}"]
    if healthy:
        args += ["--filter", "health=healthy"]
    return docker(*args).stdout.split()


def inspect(container: str) -> dict:
    return json.loads(docker("inspect", container).stdout)[0]


@pytest.fixture(scope="module")
def balancer(swarm: None, images: dict[str, str], models: dict[str, Path]) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "CHORI_IMAGE": images["chori"],
        "CHORI_HAPROXY_IMAGE": images["haproxy"],
        "CHORI_MODELS": str(models["v1"]),
        "CHORI_PORT": str(port),
        "CHORI_REPLICAS": str(REPLICAS),
        "CHORI_DRAIN_DELAY_MS": str(DRAIN_DELAY_MS),
    }
    stack_file = ROOT / "deploy" / "swarm" / "stack.yml"
    subprocess.run(
        ["docker", "stack", "deploy", "-c", str(stack_file), STACK],
        env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    try:
        wait_for(lambda: len(replicas()) == REPLICAS, f"{REPLICAS} healthy replicas", 120)
        listening = docker("inspect", "-f", "{{.NetworkSettings.Ports}}", haproxy_container())
        assert "127.0.0.1" in listening.stdout, (
            f"HAProxy publishes beyond loopback: {listening.stdout}"
        )
        url = f"127.0.0.1:{port}"
        wait_for(lambda: predict_once(url, photo()) == 200, "the balancer to answer", 60)
        yield url
    finally:
        docker("stack", "rm", STACK, check=False)
        wait_for(
            lambda: (
                not docker(
                    "ps", "-aq", "--filter", f"label=com.docker.stack.namespace={STACK}"
                ).stdout.strip()
            ),
            "the stack's containers to be removed",
            90,
            every_s=1,
        )


def haproxy_container() -> str:
    found = docker(
        "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_haproxy"
    ).stdout.split()
    assert found, "no HAProxy container"
    return found[0]


# -- the load -----------------------------------------------------------------------------------


def ready_seconds(container: str) -> float:
    """From the container's start to its server logging 'listening' (loaded, self-checked)."""
    started = datetime.fromisoformat(inspect(container)["State"]["StartedAt"][:26].rstrip("Z"))
    out = docker("logs", container, check=False).stdout
    line = next(line for line in out.splitlines() if " info listening " in line)
    listening = datetime.fromisoformat(line.split()[0][:23])
    return round((listening - started).total_seconds(), 2)


# -- the faults ---------------------------------------------------------------------------------


def replace_one(signal: str) -> dict:
    """Sends `signal` to one healthy replica; returns once Swarm has a healthy replacement."""
    before = set(replicas())
    victim = sorted(before)[0]
    t0 = time.monotonic()
    docker("kill", "--signal", signal, victim)
    wait_for(
        lambda: not inspect(victim)["State"]["Running"], f"the replica to exit on {signal}", 60
    )
    exited_s = time.monotonic() - t0
    new = wait_for(
        lambda: (set(replicas()) - before) if len(replicas()) == REPLICAS else None,
        "a healthy replacement",
        90,
    )
    (replacement,) = new
    return {
        "exit_code": inspect(victim)["State"]["ExitCode"],
        "exited_s": round(exited_s, 2),
        "replaced_s": round(time.monotonic() - t0, 2),
        "replacement_ready_s": ready_seconds(replacement),
    }


def roll_to(models_dir: Path) -> dict:
    t0 = time.monotonic()
    r = docker(
        "service", "update", "--detach=false", "--quiet",
        # A mount added on the target of an existing one replaces it (--mount-rm would drop both).
        "--mount-add", f"type=bind,source={models_dir},target=/mnt/models,readonly",
        SERVICE, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr

    def finished() -> dict | None:
        status = json.loads(docker("service", "inspect", SERVICE).stdout)[0].get("UpdateStatus", {})
        return None if status.get("State") in (None, "updating", "rollback_started") else status

    # The command returns once the tasks run; Swarm watches them for `monitor` longer.
    state = wait_for(finished, "the update to finish", 120)
    assert state["State"] == "completed", f"the update did not complete: {state}"
    wait_for(
        lambda: len(replicas()) == REPLICAS, f"{REPLICAS} healthy replicas after the update", 90
    )
    return {"update_s": round(time.monotonic() - t0, 2)}


def test_nothing_is_lost_under_sigterm_sigkill_and_a_rolling_update(
    balancer: str, models: dict[str, Path]
) -> None:
    settle_s = 1.5  # after each fault: the balancer's checks see the replacement
    report: dict[str, dict] = {}
    with Load(balancer, photo()) as load:
        t = time.monotonic()
        time.sleep(3)
        report["steady"] = {"t": (t, time.monotonic())}
        for name, signal in [("sigterm", "TERM"), ("sigkill", "KILL")]:
            t = time.monotonic()
            facts = replace_one(signal)
            time.sleep(settle_s)
            report[name] = {"t": (t, time.monotonic()), **facts}
        t = time.monotonic()
        facts = roll_to(models["v2"])
        time.sleep(settle_s)
        report["rolling_update"] = {"t": (t, time.monotonic()), **facts}
        t = time.monotonic()
        time.sleep(2)
        report["after"] = {"t": (t, time.monotonic())}

    failures: dict[str, list[Sample]] = {}
    for name, entry in report.items():
        samples = load.window(*entry.pop("t"))
        failed = [s for s in samples if s.status != 200]
        failures[name] = failed
        entry.update(
            sent=len(samples),
            answered=len(samples) - len(failed),
            failed=len(failed),
            p99_ms=p99_ms(samples),
        )
    total = load.samples
    report["total"] = {"sent": len(total), "failed": sum(s.status != 200 for s in total)}
    report["total"]["haproxy_retried"] = retried_requests(haproxy_container())
    setting = f"{REPLICAS} replicas, {CLIENTS} clients, {len(photo())} B photo"
    print(f"\nswarm faults ({setting}): {json.dumps(report, indent=1)}")

    assert report["steady"]["sent"] > 0 and report["rolling_update"]["sent"] > 0
    assert report["sigterm"]["exit_code"] == 0, "the drained replica exits cleanly"
    for name in ["steady", "sigterm", "sigkill", "rolling_update", "after"]:
        assert not failures[name], (
            f"{name}: {len(failures[name])} failed, e.g. {failures[name][:3]}"
        )
    assert report["total"]["failed"] == 0
    # The update rolled the model: v1's labels before it, v2's after it.
    assert {s.label for s in load.window(0, load.samples[0].start + 3)} <= set(V1_LABELS.split(","))
    last = load.samples[-20:]
    assert {s.label for s in last} <= set(V2_LABELS.split(",")), {s.label for s in last}
    # Each replica checked the golden set exported with its model: bit-identical in the image.
    conn = http.client.HTTPConnection(balancer, timeout=10)
    conn.request("GET", "/models")
    check = json.loads(conn.getresponse().read())["models"][0]["self_check"]
    conn.close()
    assert (check["status"], check["policy"], check["images"]) == ("exact", "exact", 3), check
