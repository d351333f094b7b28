"""The replication error tree: codes, transient/permanent classification, no secrets."""

from __future__ import annotations

from simulators.nss.replication.logic import errors as re


def test_classification() -> None:
    assert re.is_transient(re.PeerTransferError("reset", peer="b"))
    assert re.is_transient(ConnectionResetError())
    assert re.is_transient(TimeoutError())
    for exc in (re.DeltaAuthError("x"), re.DeltaReplayError("x"), re.DiffInputError("x"),
                ValueError("x")):
        assert not re.is_transient(exc)


def test_tree_and_codes_are_stable() -> None:
    assert issubclass(re.DeltaMisdirectedError, re.DeltaAuthError)
    assert issubclass(re.DeltaReplayError, re.DeltaSequenceError)
    assert issubclass(re.DeltaGapError, re.DeltaSequenceError)
    assert issubclass(re.DeltaError, re.PermanentReplicationError)
    err = re.DeltaGapError("seq 7 missing", replication="r1", expected=7)
    assert err.to_dict() == {"code": "delta-gap", "message": "seq 7 missing",
                             "details": {"replication": "r1", "expected": 7}}
    assert err.status == 409
    codes = [c.code for c in vars(re).values()
             if isinstance(c, type) and issubclass(c, re.ReplicationError)]
    assert len(codes) == len(set(codes))
