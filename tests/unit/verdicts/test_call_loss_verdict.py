"""A lossy call path is degraded, never blocked: a finding needs two lost exchanges that
agree, which the path's own loss would seldom explain (pure verdict rules on hand-made
exchanges)."""

from __future__ import annotations

from voipwatch.catalog import load
from voipwatch.ooni.model import Exchange
from voipwatch.testing import exchange
from voipwatch.verdicts.calls import judge_exchanges


def _ex(
    port: int,
    payload: str,
    ok: bool,
    control: str = "",
    *,
    attempt: int = 0,
    target: str = "helper",
) -> Exchange:
    return exchange(
        "whatsapp/relay", target, port, payload, ok, control=control, ip="192.0.2.90",
        attempt=attempt if ok else 2,
    )  # fmt: skip


ROLE = load().roles["whatsapp/relay"]


def test_one_lost_dtls_hello_on_a_lossy_path_is_loss() -> None:
    ex = [
        _ex(3478, "stun_binding", True, attempt=1),  # answered after a retransmission
        _ex(3478, "random", True, "same_port_other_payload", attempt=2),
        _ex(3478, "dtls_client_hello", False),
        _ex(42424, "stun_binding", True, "random_port"),
    ]
    v = judge_exchanges(ROLE, ex, ex)
    assert (v.status, v.technique) == ("degraded", "degraded.loss")
    assert "lossy path" in v.evidence[0].detail


def test_a_dtls_hello_dropped_twice_is_dpi_even_on_a_lossy_path() -> None:
    ex = [
        _ex(3478, "stun_binding", True, attempt=1),
        _ex(3478, "random", True, "same_port_other_payload"),
        _ex(3478, "dtls_client_hello", False),
        _ex(3478, "dtls_client_hello", False),  # made again: silence again
        _ex(42424, "stun_binding", True, "random_port"),
    ]
    v = judge_exchanges(ROLE, ex, ex)
    assert (v.status, v.technique, v.confirmed) == ("partial", "dtls.dpi", True)


def test_without_loss_a_single_failure_still_counts() -> None:
    ex = [
        _ex(3478, "stun_binding", True),
        _ex(3478, "random", True, "same_port_other_payload"),
        _ex(3478, "dtls_client_hello", False),
    ]
    assert judge_exchanges(ROLE, ex, ex).technique == "dtls.dpi"


def test_a_relay_lost_once_among_answered_ones_is_not_blocked() -> None:
    ex = [
        _ex(3478, "stun_binding", True, attempt=1),
        _ex(3478, "random", True, "same_port_other_payload", attempt=1),
        # Answered the first time: the path loses 2 datagrams of 12.
        *(_ex(p, "random", True, "random_port") for p in range(40000, 40008)),
        _ex(3478, "stun_binding", False, target="app"),
    ]
    v = judge_exchanges(ROLE, ex, ex)
    assert v.status == "degraded"
    again = [*ex, _ex(3478, "stun_binding", False, target="app")]
    v = judge_exchanges(ROLE, again, again)
    assert (v.status, v.technique) == ("blocked", "ip.blocked")


def test_a_lone_retransmission_is_not_loss() -> None:
    """A busy machine answers late once in a while: one retransmission is not degraded."""
    ex = [_ex(3478, "stun_binding", True, attempt=1), _ex(3478, "random", True, "x")]
    assert judge_exchanges(ROLE, ex, ex).status == "ok"
    two = [_ex(3478, "stun_binding", True, attempt=1), _ex(3479, "stun_binding", True, attempt=1)]
    assert judge_exchanges(ROLE, two, two).status == "degraded"


def _path(lost_per_ten: int) -> list[Exchange]:
    """Answered exchanges on a path that loses ``lost_per_ten`` datagrams in ten (one
    retransmission each), beside the controls of the DTLS checks."""
    lossy = [_ex(40000 + i, "random", True, "random_port", attempt=1) for i in range(lost_per_ten)]
    clean = [_ex(41000 + i, "random", True, "random_port") for i in range(10 - 2 * lost_per_ten)]
    return [
        *lossy,
        *clean,
        _ex(3478, "stun_binding", True),
        _ex(3478, "random", True, "same_port_other_payload"),
        _ex(42424, "stun_binding", True, "random_port"),
    ]


def test_two_lost_dtls_hellos_on_a_very_lossy_path_are_chance() -> None:
    """5 datagrams of 13 lost: two exchanges lost three times each happen by chance
    once in 310 (loss, not DTLS filtering); a third makes it once in 5,500."""
    dtls = [_ex(3478, "dtls_client_hello", False) for _ in range(3)]
    ex = [*_path(5), *dtls[:2]]
    v = judge_exchanges(ROLE, ex, ex)
    assert (v.status, v.technique) == ("degraded", "degraded.loss")
    ex = [*_path(5), *dtls]
    v = judge_exchanges(ROLE, ex, ex)
    assert (v.status, v.technique) == ("partial", "dtls.dpi")


def test_two_lost_dtls_hellos_on_a_slightly_lossy_path_are_filtering() -> None:
    """1 datagram of 13 lost: two exchanges lost three times each, once in 2 million."""
    ex = [*_path(1), *(_ex(3478, "dtls_client_hello", False) for _ in range(2))]
    v = judge_exchanges(ROLE, ex, ex)
    assert (v.status, v.technique, v.confirmed) == ("partial", "dtls.dpi", True)


def test_a_refusal_is_never_the_paths_loss() -> None:
    refused = exchange(
        "whatsapp/relay", "helper", 3478, "dtls_client_hello", False, ip="192.0.2.90",
        failure="connection_refused",
    )  # fmt: skip
    ex = [*_path(5), refused, refused]
    v = judge_exchanges(ROLE, ex, ex)
    assert v.technique == "dtls.dpi"


def test_one_exchange_lost_whole_and_then_answered_is_a_moment_not_loss() -> None:
    """A clean path where one exchange met silence three times and its repeat was
    answered (a stalled server, or probe): ok; a second sign of loss makes it degraded."""
    lost_once = [
        _ex(42424, "random", False, "random_port"),
        _ex(42424, "random", True, "random_port"),  # made again: answered
        _ex(3478, "stun_binding", True),
        _ex(3478, "random", True, "same_port_other_payload"),
    ]
    assert judge_exchanges(ROLE, lost_once, lost_once).status == "ok"
    again = [*lost_once, _ex(3479, "stun_binding", True, attempt=1)]
    v = judge_exchanges(ROLE, again, again)
    assert (v.status, v.technique) == ("degraded", "degraded.loss")
