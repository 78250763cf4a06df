"""The control endpoint over real sockets, and the ``inprocess`` fault that drives it."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from aichaos.errors import InjectionError, TargetError, ValidationError
from aichaos.faults import FAULTS
from aichaos.faults.base import InjectionContext
from aichaos.faults.undo import perform
from aichaos.inprocess import ControlServer, Hook, Raise, Switchboard
from aichaos.inprocess.fault import InProcessTarget

AUTH = {"Authorization": "Bearer test-token-123"}


def test_auth_is_required(control: ControlServer) -> None:
    assert httpx.get(control.url + "/faults").status_code == 401
    bad = {"Authorization": "Bearer test-token-124"}
    assert httpx.get(control.url + "/faults", headers=bad).status_code == 401
    assert httpx.get(control.url + "/faults", headers=AUTH).status_code == 200


def test_arm_renew_disarm_and_ttl(control: ControlServer, board: Switchboard) -> None:
    hook = Hook("predict", error=Raise(), board=board)
    url = "/faults/predict"
    # one client for the whole test: a new client per call costs enough under CPU
    # contention to eat a short TTL before the renewal is sent
    with httpx.Client(base_url=control.url, headers=AUTH) as c:
        r = c.post(url, json={"ttl_s": 0.8, "rate": 1.0})
        assert r.status_code == 200
        assert hook.shot().fired
        status = c.get("/faults").json()
        assert status["hooks"] == ["predict"] and "predict" in status["armed"]
        time.sleep(0.4)
        assert c.post(url + "/renew", json={"ttl_s": 0.8}).status_code == 200
        time.sleep(0.6)
        assert hook.shot().fired  # 1 s after arming, alive thanks to the renewal
        time.sleep(0.6)
        assert not hook.shot().fired  # the TTL lapsed: disarmed by itself
        assert c.post(url + "/renew", json={"ttl_s": 1}).status_code == 409
        c.post(url, json={"ttl_s": 30})
        r = c.delete(url)
        assert r.json() == {"disarmed": "predict", "was_armed": True, "effect": {}}
        assert not hook.shot().fired


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "needle"),
    [
        ("POST", "/faults/predict", {"ttl_s": -1}, 400, "ttl_s"),
        ("POST", "/faults/predict", {}, 400, "ttl_s"),
        ("POST", "/faults/predict", {"ttl_s": 1, "rate": 3}, 400, "rate"),
        ("POST", "/faults/predict", {"ttl_s": 1, "color": "red"}, 400, "color"),
        ("POST", "/faults/nope", {"ttl_s": 1}, 404, "unknown hook 'nope'"),
        ("DELETE", "/faults/nope", None, 404, "unknown hook"),
        ("GET", "/elsewhere", None, 404, "no route"),
    ],
)
def test_bad_requests_get_clear_errors(
    control: ControlServer,
    board: Switchboard,
    method: str,
    path: str,
    body: dict[str, object] | None,
    status: int,
    needle: str,
) -> None:
    Hook("predict", board=board)
    r = httpx.request(method, control.url + path, json=body, headers=AUTH)
    assert r.status_code == status
    assert needle in r.json()["error"]
    assert board.status()["armed"] == {}


def test_non_loopback_bind_is_refused() -> None:
    with pytest.raises(ValidationError, match="loopback"):
        ControlServer(Switchboard(), token="long-enough-token", host="0.0.0.0")
    with pytest.raises(ValidationError, match="at least 8"):
        ControlServer(Switchboard(), token="short")


async def test_inprocess_fault_apply_renew_revert_and_undo(
    control: ControlServer, board: Switchboard
) -> None:
    a = Hook("a", error=Raise(), board=board)
    b = Hook("b", error=Raise(), board=board)
    target = InProcessTarget(url=control.url, token="test-token-123")
    fault = FAULTS.get("inprocess").model_validate({"hooks": ["a", "b"], "rate": 1.0})
    inj = fault.injection(InjectionContext(target=target, ttl_s=0.5))
    async with inj:
        assert a.shot().fired and b.shot().fired
        await inj.renew(5)
        await asyncio.sleep(0.6)
        assert a.shot().fired  # renewed past the first TTL
        actions = inj.undo_actions()
        assert [x.method for x in actions] == ["DELETE", "DELETE"]
        for action in actions:  # what the watchdog would do
            perform(action)
        assert not a.shot().fired and not b.shot().fired
    assert board.status()["armed"] == {}


async def test_inprocess_fault_bad_target_leaves_nothing_armed(
    control: ControlServer, board: Switchboard
) -> None:
    Hook("a", board=board)
    fault = FAULTS.get("inprocess").model_validate({"hooks": ["a", "missing"]})
    target = InProcessTarget(url=control.url, token="test-token-123")
    inj = fault.injection(InjectionContext(target=target, ttl_s=5))
    with pytest.raises(InjectionError, match="unknown hook 'missing'"):
        await inj.apply()
    assert board.status()["armed"] == {}
    wrong = InProcessTarget(url=control.url, token="wrong-token-xyz")
    with pytest.raises(InjectionError, match="401"):
        await fault.injection(InjectionContext(target=wrong)).apply()
    with pytest.raises(TargetError, match="AICHAOS_NO_SUCH_VAR"):
        InProcessTarget(url=control.url, token_env="AICHAOS_NO_SUCH_VAR").bearer()
