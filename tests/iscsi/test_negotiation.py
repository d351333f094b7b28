"""Pure pieces of the target: text keys, negotiation rules, sense data, CDB lengths."""

from __future__ import annotations

import pytest

from simulators.nss.iscsi.errors import WRITE_PROTECTED, DataProtect, NegotiationError
from simulators.nss.iscsi.params import Negotiator, SessionParams, encode_text, parse_text
from simulators.nss.iscsi.transfer import data_out_length


def _negotiate(**keys: str) -> tuple[dict[str, str], SessionParams]:
    params = SessionParams()
    answer = Negotiator(params).answer(list(keys.items()))
    return dict(answer), params


def test_text_round_trip_and_malformed_item() -> None:
    pairs = [("HeaderDigest", "CRC32C,None"), ("TargetName", "iqn.x:y=z")]
    assert parse_text(encode_text(pairs)) == pairs
    with pytest.raises(NegotiationError, match="no '='"):
        parse_text(b"HeaderDigest\0")


def test_digests_take_the_first_value_both_support() -> None:
    answer, params = _negotiate(HeaderDigest="CRC32C,None", DataDigest="None,CRC32C")
    assert answer == {"HeaderDigest": "CRC32C", "DataDigest": "None"}
    assert params.header_digest and not params.data_digest
    with pytest.raises(NegotiationError, match="HeaderDigest='MD5'"):
        _negotiate(HeaderDigest="MD5")


def test_boolean_and_numeric_rules() -> None:
    answer, params = _negotiate(InitialR2T="No", ImmediateData="No", MaxBurstLength="65536",
                                FirstBurstLength="262144", MaxRecvDataSegmentLength="8192",
                                DefaultTime2Wait="2", X_Vendor="1")
    assert answer["InitialR2T"] == "No" and answer["ImmediateData"] == "No"
    assert answer["X_Vendor"] == "NotUnderstood"
    assert "MaxRecvDataSegmentLength" not in answer  # declarative: ours is sent at the end
    assert (params.max_burst, params.max_send_data) == (65536, 8192)
    Negotiator(params).finish()
    assert params.first_burst == 65536  # never above MaxBurstLength
    with pytest.raises(NegotiationError, match="MaxBurstLength='0'"):
        _negotiate(MaxBurstLength="0")


def test_fixed_format_sense() -> None:
    sense = DataProtect("read-only", *WRITE_PROTECTED).sense()
    assert (sense[0], sense[2], sense[7], sense[12], sense[13]) == (0x70, 0x7, 10, 0x27, 0)


def test_data_out_lengths_from_cdbs() -> None:
    assert data_out_length(bytes([0x2A, 0, 0, 0, 0, 0, 0, 0, 8, 0])) == 8 * 512
    assert data_out_length(bytes([0x93, 1]) + bytes(14)) == 0  # WRITE SAME(16) NDOB
    assert data_out_length(bytes([0x12, 0, 0, 0, 96, 0])) is None
