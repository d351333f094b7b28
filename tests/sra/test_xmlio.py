"""The XML layer alone: requests shaped like real SRM input parse into the right dataclasses."""

from __future__ import annotations

import pytest

from sra import errors
from sra.xmlio import NS, Initiator, parse_request

REAL_TFO = f"""<?xml version="1.0" encoding="UTF-8"?>
<Command xmlns="{NS}">
  <Name>testFailoverStart</Name>
  <OutputFile>C:\\Windows\\TEMP\\vmware-SYSTEM\\sra-output-20-0</OutputFile>
  <StatusFile>C:\\Windows\\TEMP\\vmware-SYSTEM\\sra-status-21-0</StatusFile>
  <LogLevel>verbose</LogLevel>
  <LogDirectory>C:\\ProgramData\\VMware\\VMware vCenter Site Recovery Manager\\Logs\\SRAs\\\
Vendor SRA</LogDirectory>
  <Connections>
    <Connection id="nss">
      <Addresses><Address id="address"> 10.0.0.5:8443/?verify_tls=false </Address></Addresses>
      <Username>DOMAIN\\srm admin</Username>
      <Password>tok en</Password>
      <SomethingNew>ignored</SomethingNew>
    </Connection>
  </Connections>
  <TestFailoverStartParameters>
    <ArrayId>50:06:01:60:01:23:45:67</ArrayId>
    <AccessGroups>
      <AccessGroup id="domain-c36">
        <Initiator id="21:00:00:00:11:22:AB:CD" type="FC"/>
        <Initiator id="iqn.1998-01.com.vmware:esx01" type="iSCSI"/>
      </AccessGroup>
    </AccessGroups>
    <TargetDevices>
      <TargetDevice key="async-LUN 11"><AccessGroups><AccessGroup id="domain-c36"/></AccessGroups>
      </TargetDevice>
    </TargetDevices>
    <TargetGroups><TargetGroup key="cg 1"><TargetDevices><TargetDevice key="m 1"/>
      <TargetDevice key="m 2"/></TargetDevices></TargetGroup></TargetGroups>
  </TestFailoverStartParameters>
</Command>"""


def test_real_test_failover_start_request() -> None:
    req = parse_request(REAL_TFO.encode())
    assert req.name == "testFailoverStart"
    assert req.output_file == "C:\\Windows\\TEMP\\vmware-SYSTEM\\sra-output-20-0"
    assert req.log_directory.endswith("SRAs\\Vendor SRA")
    conn = req.connections[0]
    assert conn.addresses == ("10.0.0.5:8443/?verify_tls=false",)
    assert conn.password == "tok en"
    assert "tok en" not in repr(conn)
    p = req.params
    assert p.array_id == "50:06:01:60:01:23:45:67"
    assert p.access_groups[0].initiators[0] == Initiator("21:00:00:00:11:22:AB:CD", "FC")
    assert p.target_devices[0].id == "async-LUN 11"
    assert p.target_devices[0].access_groups == ("domain-c36",)
    assert [d.id for d in p.target_groups[0].devices] == ["m 1", "m 2"]


def test_sync_ids_and_groups() -> None:
    raw = (f'<Command xmlns="{NS}"><Name>querySyncStatus</Name><OutputFile>o</OutputFile>'
           "<QuerySyncStatusParameters><ArrayId>A</ArrayId><ConsistencyGroups>"
           '<ConsistencyGroup id="g" syncId="job-1"/></ConsistencyGroups><SourceDevices>'
           '<SourceDevice id="lun 1" syncId="job 2"/></SourceDevices>'
           "</QuerySyncStatusParameters></Command>")
    p = parse_request(raw.encode()).params
    assert (p.consistency_groups[0].id, p.consistency_groups[0].sync_id) == ("g", "job-1")
    assert (p.source_devices[0].id, p.source_devices[0].sync_id) == ("lun 1", "job 2")


@pytest.mark.parametrize("raw, name", [
    (b"<Command", "MalformedRequest"),
    (b'<Command xmlns="urn:other"><Name>x</Name><OutputFile>o</OutputFile></Command>',
     "WrongNamespace"),
    (b'<!DOCTYPE x [<!ENTITY a "b">]><Command/>', "ForbiddenMarkup"),
    (f'<Command xmlns="{NS}"><Name>x</Name></Command>'.encode(), "MissingParameter"),
])
def test_bad_envelopes(raw: bytes, name: str) -> None:
    with pytest.raises(errors.SraError) as info:
        parse_request(raw)
    assert info.value.name == name
