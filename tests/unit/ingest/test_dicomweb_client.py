"""Our STOW-RS client against a scripted server: streaming body, per-instance settlement, retries."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from eucaim.errors import AuthenticationError, TransientError, UploadError
from eucaim.ingest.upload.base import OutgoingInstance, PayloadTooLarge
from eucaim.ingest.upload.dicomweb import DicomwebTarget
from eucaim.ingest.upload.http import RetryPolicy


def items(tmp_path: Path, n: int = 3) -> list[OutgoingInstance]:
    out = []
    for i in range(n):
        path = tmp_path / f"{i}.dcm"
        path.write_bytes(b"DICM" + bytes([i]) * (100 + i))
        out.append(OutgoingInstance(i, path, path.stat().st_size, f"2.25.{i}", "2.25.99", "2.25.98"))
    return out


def store_response(stored: list[str], failed: dict[str, int]) -> bytes:
    body: dict[str, object] = {}
    if stored:
        body["00081199"] = {
            "vr": "SQ",
            "Value": [{"00081155": {"vr": "UI", "Value": [u]}} for u in stored],
        }
    if failed:
        body["00081198"] = {
            "vr": "SQ",
            "Value": [
                {"00081155": {"vr": "UI", "Value": [u]}, "00081197": {"vr": "US", "Value": [c]}}
                for u, c in failed.items()
            ],
        }
    return json.dumps(body).encode()


def no_sleep(_: float) -> None:
    pass


def target(handler: object, **kw: object) -> DicomwebTarget:
    return DicomwebTarget(
        "http://127.0.0.1:9/dicom-web",
        token_provider=kw.pop("token_provider", lambda: "tok"),  # type: ignore[arg-type]
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
        retry=RetryPolicy(max_attempts=4, sleep=no_sleep),
    )


def test_body_is_valid_multipart_with_each_file_and_exact_length(tmp_path: Path) -> None:
    batch = items(tmp_path)
    seen: dict[str, object] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        body = request.read()
        ctype = request.headers["content-type"]
        boundary = ctype.split("boundary=")[1]
        seen.update(len=int(request.headers["content-length"]), body=body, boundary=boundary)
        return httpx.Response(200, content=store_response([i.sop_instance_uid for i in batch], {}))

    result = target(handler).send("2.25.99", batch)
    assert result.stored == {i.sop_instance_uid for i in batch}
    body = seen["body"]
    assert isinstance(body, bytes) and len(body) == seen["len"]
    parts = body.split(f"--{seen['boundary']}".encode())
    assert len(parts) == len(batch) + 2  # preamble, parts, closing "--"
    for part, item in zip(parts[1:-1], batch, strict=True):
        assert part.endswith(item.path.read_bytes() + b"\r\n")


def test_boundary_is_fresh_per_request(tmp_path: Path) -> None:
    boundaries = []

    def handler(request: httpx.Request) -> httpx.Response:
        boundaries.append(request.headers["content-type"].split("boundary=")[1])
        return httpx.Response(200, content=store_response(["2.25.0"], {}))

    t = target(handler)
    t.send("2.25.99", items(tmp_path, 1))
    t.send("2.25.99", items(tmp_path, 1))
    assert boundaries[0] != boundaries[1]


def test_202_settles_each_instance(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, content=store_response(["2.25.0"], {"2.25.1": 0xC000}))

    result = target(handler).send("2.25.99", items(tmp_path))
    assert result.stored == {"2.25.0"}
    assert "cannot understand" in result.failed["2.25.1"] and "0xC000" in result.failed["2.25.1"]
    assert "2.25.2" not in result.stored and "2.25.2" not in result.failed


def test_503_is_retried_with_the_whole_body_rebuilt(tmp_path: Path) -> None:
    batch = items(tmp_path)
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(len(request.read()))
        if len(calls) < 3:
            return httpx.Response(503, headers={"Retry-After": "0"})
        return httpx.Response(200, content=store_response([i.sop_instance_uid for i in batch], {}))

    result = target(handler).send("2.25.99", batch)
    assert len(result.stored) == 3
    assert len(calls) == 3 and calls[0] == calls[2] > 0


def test_dropped_connections_exhaust_into_transient_error(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    with pytest.raises(TransientError, match="failed 4 times"):
        target(handler).send("2.25.99", items(tmp_path))


def test_401_rereads_the_token_once_then_stops(tmp_path: Path) -> None:
    tokens = iter(["old", "new", "newer"])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(401)

    t = target(handler, token_provider=lambda: next(tokens))
    with pytest.raises(AuthenticationError, match="refused our credentials"):
        t.send("2.25.99", items(tmp_path))
    assert seen == ["Bearer old", "Bearer new"]


def test_401_then_fresh_token_succeeds(tmp_path: Path) -> None:
    tokens = iter(["expired", "fresh"])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer expired":
            return httpx.Response(401)
        return httpx.Response(200, content=store_response(["2.25.0"], {}))

    result = target(handler, token_provider=lambda: next(tokens)).send("2.25.99", items(tmp_path, 1))
    assert result.stored == {"2.25.0"}


def test_413_asks_the_caller_to_split(tmp_path: Path) -> None:
    with pytest.raises(PayloadTooLarge):
        target(lambda r: httpx.Response(413)).send("2.25.99", items(tmp_path))


def test_403_is_final_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(UploadError, match="403") as info:
        target(lambda r: httpx.Response(403)).send("2.25.99", items(tmp_path))
    assert "biobank" in str(info.value)


def test_plain_http_to_a_remote_host_is_refused() -> None:
    from eucaim.errors import ConfigError

    with pytest.raises(ConfigError, match="plain HTTP"):
        DicomwebTarget("http://node.example.org/dicom-web", token_provider=lambda: "t")


def test_qido_pages_through_instances() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        n = 1000 if offset == 0 else 5
        return httpx.Response(
            200,
            json=[{"00080018": {"vr": "UI", "Value": [f"2.25.{offset + i}"]}} for i in range(n)],
        )

    assert len(target(handler).list_instances("2.25.1", "2.25.2")) == 1005
