"""Tests of the fault-injecting proxy that sits in front of moto (test infrastructure)."""

from __future__ import annotations

import http.client
import os
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest
from botocore.config import Config

from tests.integration.faultproxy import FaultProxy
from tests.integration.servers import S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY

PAYLOAD = os.urandom(1024 * 1024)

CONNECTION_ERRORS = (botocore.exceptions.HTTPClientError, botocore.exceptions.ConnectionError)
"""What botocore raises when the connection drops before a response."""


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[FaultProxy]:
    """A fault proxy in front of the session's moto server."""
    with FaultProxy(s3_endpoint) as running:
        yield running


def _s3_client(url: str, retries: dict[str, Any]) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        region_name=S3_REGION,
        config=Config(s3={"addressing_style": "path"}, retries=retries),
    )


@pytest.fixture
def client(proxy: FaultProxy) -> Iterator[Any]:
    """boto3 S3 client through the proxy that makes exactly one attempt per call."""
    s3 = _s3_client(proxy.url, {"total_max_attempts": 1, "mode": "standard"})
    try:
        yield s3
    finally:
        s3.close()


def _connect(proxy: FaultProxy) -> http.client.HTTPConnection:
    host, port = proxy.url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=30)


class TestForwarding:
    def test_s3fs_round_trip_through_proxy(self, proxy: FaultProxy) -> None:
        """s3fs creates a bucket, writes, reads and lists 1 MiB through the proxy."""
        import s3fs

        fs = s3fs.S3FileSystem(
            key=S3_ACCESS_KEY,
            secret=S3_SECRET_KEY,
            client_kwargs={"endpoint_url": proxy.url},
            config_kwargs={
                "s3": {"addressing_style": "path"},
                "retries": {"max_attempts": 1, "mode": "standard"},
            },
            skip_instance_cache=True,
        )
        bucket = f"proxy-{os.urandom(6).hex()}"
        fs.mkdir(bucket)
        fs.pipe(f"{bucket}/data/one.bin", PAYLOAD)

        assert fs.cat(f"{bucket}/data/one.bin") == PAYLOAD
        assert fs.ls(f"{bucket}/data", detail=False) == [f"{bucket}/data/one.bin"]
        assert proxy.requests_seen["PUT"] >= 2
        assert proxy.failures_injected == 0

    def test_boto3_put_and_get(self, client: Any, s3_bucket: str) -> None:
        """A signed PUT and GET pass through unchanged (the Host header is kept)."""
        client.put_object(Bucket=s3_bucket, Key="k", Body=PAYLOAD)

        assert client.get_object(Bucket=s3_bucket, Key="k")["Body"].read() == PAYLOAD

    def test_client_connection_is_kept_alive(self, proxy: FaultProxy, s3_bucket: str) -> None:
        """Several requests on one client connection all get answers."""
        conn = _connect(proxy)
        try:
            for _ in range(3):
                conn.request("GET", f"/{s3_bucket}?list-type=2")
                response = conn.getresponse()
                body = response.read()
                assert response.status == 200, body
        finally:
            conn.close()

        assert proxy.connections_accepted == 1
        assert proxy.requests_seen["GET"] == 3

    def test_chunked_request_body_is_forwarded(self, proxy: FaultProxy, client: Any, s3_bucket: str) -> None:
        """A body sent with Transfer-Encoding: chunked arrives whole."""
        conn = _connect(proxy)
        try:
            pieces = (PAYLOAD[i : i + 100_000] for i in range(0, len(PAYLOAD), 100_000))
            conn.request("PUT", f"/{s3_bucket}/chunked", body=pieces, encode_chunked=True)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()

        assert response.status == 200, body
        assert client.get_object(Bucket=s3_bucket, Key="chunked")["Body"].read() == PAYLOAD


class TestSlowdown:
    def test_write_fails_with_slowdown(self, proxy: FaultProxy, client: Any, s3_bucket: str) -> None:
        """An injected slowdown reaches botocore as a 503 SlowDown ClientError."""
        proxy.fail_first(1, "slowdown")

        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            client.put_object(Bucket=s3_bucket, Key="k", Body=PAYLOAD)

        assert excinfo.value.response["Error"]["Code"] == "SlowDown"
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503

    def test_botocore_max_attempts_counts_retries(
        self, proxy: FaultProxy, s3_endpoint: str, s3_bucket: str
    ) -> None:
        """botocore's ``max_attempts=1`` means one retry, so two slowdowns make a put fail."""
        proxy.fail_first(2, "slowdown")
        s3 = _s3_client(proxy.url, {"max_attempts": 1, "mode": "standard"})
        try:
            with pytest.raises(botocore.exceptions.ClientError, match="SlowDown"):
                s3.put_object(Bucket=s3_bucket, Key="k", Body=PAYLOAD)
        finally:
            s3.close()

        assert proxy.failures_injected == 2
        assert proxy.requests_seen["PUT"] == 2

    def test_only_first_n_writes_fail(self, proxy: FaultProxy, client: Any, s3_bucket: str) -> None:
        """After n injected failures, writes are forwarded again."""
        proxy.fail_first(2, "slowdown")
        for _ in range(2):
            with pytest.raises(botocore.exceptions.ClientError):
                client.put_object(Bucket=s3_bucket, Key="k", Body=b"x")

        client.put_object(Bucket=s3_bucket, Key="k", Body=b"x")

        assert proxy.failures_injected == 2
        assert proxy.failures_remaining == 0

    def test_reads_pass_while_writes_are_failing(
        self, proxy: FaultProxy, client: Any, s3_bucket: str
    ) -> None:
        """By default only PUT and POST count, so GET and HEAD are forwarded."""
        client.put_object(Bucket=s3_bucket, Key="k", Body=b"x")
        proxy.fail_first(5, "slowdown")

        assert client.get_object(Bucket=s3_bucket, Key="k")["Body"].read() == b"x"
        assert client.head_object(Bucket=s3_bucket, Key="k")["ContentLength"] == 1
        assert proxy.failures_remaining == 5

    def test_get_fails_when_get_is_counted(self, proxy: FaultProxy, client: Any, s3_bucket: str) -> None:
        """With methods={"GET"}, writes pass and the next GET fails."""
        proxy.fail_first(1, "slowdown", methods={"get"})
        client.put_object(Bucket=s3_bucket, Key="k", Body=b"x")

        with pytest.raises(botocore.exceptions.ClientError, match="SlowDown"):
            client.get_object(Bucket=s3_bucket, Key="k")

    def test_error_body_is_well_formed_s3_xml(self, proxy: FaultProxy, s3_bucket: str) -> None:
        """The 503 carries an S3 error document whose length matches Content-Length."""
        proxy.fail_first(1, "slowdown")
        conn = _connect(proxy)
        try:
            conn.request("PUT", f"/{s3_bucket}/k", body=b"abc")
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()

        assert response.status == 503
        assert response.getheader("Content-Length") == str(len(body))
        root = ET.fromstring(body)
        assert root.tag == "Error"
        assert root.findtext("Code") == "SlowDown"
        assert root.findtext("Message") == "Please reduce your request rate."

    def test_connection_stays_usable_after_slowdown(self, proxy: FaultProxy, s3_bucket: str) -> None:
        """The body of a refused write is consumed, so the next request on the connection works."""
        proxy.fail_first(1, "slowdown")
        conn = _connect(proxy)
        try:
            conn.request("PUT", f"/{s3_bucket}/k", body=PAYLOAD)
            first = conn.getresponse()
            first.read()
            conn.request("PUT", f"/{s3_bucket}/k", body=PAYLOAD)
            second = conn.getresponse()
            second.read()
        finally:
            conn.close()

        assert (first.status, second.status) == (503, 200)
        assert proxy.connections_accepted == 1

    def test_head_slowdown_has_no_body(self, proxy: FaultProxy, s3_bucket: str) -> None:
        """A failed HEAD gets headers only, and the connection stays in sync."""
        proxy.fail_first(1, "slowdown", methods={"HEAD"})
        conn = _connect(proxy)
        try:
            conn.request("HEAD", f"/{s3_bucket}")
            failed = conn.getresponse()
            failed.read()
            conn.request("HEAD", f"/{s3_bucket}")
            passed = conn.getresponse()
            passed.read()
        finally:
            conn.close()

        assert (failed.status, passed.status) == (503, 200)


class TestReset:
    def test_write_fails_with_connection_error(self, proxy: FaultProxy, client: Any, s3_bucket: str) -> None:
        """An injected reset reaches botocore as a connection error."""
        proxy.fail_first(1, "reset")

        with pytest.raises(CONNECTION_ERRORS):
            client.put_object(Bucket=s3_bucket, Key="k", Body=PAYLOAD)

        assert proxy.failures_injected == 1

    def test_client_sees_tcp_reset(self, proxy: FaultProxy, s3_bucket: str) -> None:
        """The connection is reset rather than closed cleanly."""
        proxy.fail_first(1, "reset")
        conn = _connect(proxy)
        try:
            conn.request("PUT", f"/{s3_bucket}/k", body=b"abc")
            with pytest.raises(ConnectionResetError):
                conn.getresponse()
        finally:
            conn.close()

    def test_botocore_max_attempts_counts_retries(self, proxy: FaultProxy, s3_bucket: str) -> None:
        """With ``max_attempts=1`` botocore retries once, so two resets make a put fail."""
        proxy.fail_first(2, "reset")
        s3 = _s3_client(proxy.url, {"max_attempts": 1, "mode": "standard"})
        try:
            with pytest.raises(CONNECTION_ERRORS):
                s3.put_object(Bucket=s3_bucket, Key="k", Body=PAYLOAD)
        finally:
            s3.close()

        assert proxy.failures_injected == 2


class TestDeny:
    def test_signed_requests_get_access_denied(self, proxy: FaultProxy, client: Any, s3_bucket: str) -> None:
        """deny("signed"): a request with an Authorization header gets 403 AccessDenied."""
        client.put_object(Bucket=s3_bucket, Key="k", Body=b"public")
        proxy.deny("signed")
        with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
            client.get_object(Bucket=s3_bucket, Key="k")
        assert proxy.denied == 1

    def test_presigned_url_is_denied(self, proxy: FaultProxy, client: Any, s3_bucket: str) -> None:
        """A presigned URL (X-Amz-Signature in the query) counts as signed."""
        client.put_object(Bucket=s3_bucket, Key="k", Body=b"public")
        url = client.generate_presigned_url("get_object", Params={"Bucket": s3_bucket, "Key": "k"})
        proxy.deny("signed")
        conn = _connect(proxy)
        try:
            conn.request("GET", url.removeprefix(proxy.url))
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        assert response.status == 403
        assert ET.fromstring(body).findtext("Code") == "AccessDenied"

    def test_anonymous_requests_are_forwarded(self, proxy: FaultProxy, client: Any, s3_bucket: str) -> None:
        """deny("signed"): an unsigned GET reaches moto, which serves the public-read object."""
        client.put_object(Bucket=s3_bucket, Key="k", Body=b"public", ACL="public-read")
        proxy.deny("signed")
        conn = _connect(proxy)
        try:
            conn.request("GET", f"/{s3_bucket}/k")
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        assert (response.status, body) == (200, b"public")
        assert (proxy.denied, proxy.anonymous_forwarded) == (0, 1)

    def test_deny_all_refuses_anonymous_requests(self, proxy: FaultProxy, s3_bucket: str) -> None:
        """deny("all"): an unsigned GET gets 403 as well; deny(None) lifts it."""
        proxy.deny("all")
        conn = _connect(proxy)
        try:
            conn.request("GET", f"/{s3_bucket}/k")
            response = conn.getresponse()
            response.read()
            assert response.status == 403
            proxy.deny(None)
            conn.request("GET", f"/{s3_bucket}?list-type=2")
            response = conn.getresponse()
            response.read()
            assert response.status == 200
        finally:
            conn.close()

    def test_rejects_unknown_deny_mode(self, proxy: FaultProxy) -> None:
        """Only 'signed', 'all' and None are deny modes."""
        with pytest.raises(ValueError, match="which must be"):
            proxy.deny("some")  # type: ignore[arg-type]


class TestControl:
    def test_reset_clears_counters_and_arms_failures(
        self, proxy: FaultProxy, client: Any, s3_bucket: str
    ) -> None:
        """reset() zeroes the counters and arms the new plan."""
        proxy.fail_first(1, "slowdown")
        with pytest.raises(botocore.exceptions.ClientError):
            client.put_object(Bucket=s3_bucket, Key="k", Body=b"x")

        proxy.reset(3, "reset", methods={"DELETE"})

        assert proxy.requests_seen == {}
        assert proxy.failures_injected == 0
        assert proxy.failures_remaining == 3

    def test_rejects_unknown_mode(self, proxy: FaultProxy) -> None:
        """Only 'slowdown' and 'reset' are failure modes."""
        with pytest.raises(ValueError, match="mode"):
            proxy.fail_first(1, "timeout")  # type: ignore[arg-type]

    def test_close_stops_listening(self, s3_endpoint: str) -> None:
        """After the context exits, the port refuses connections."""
        with FaultProxy(s3_endpoint) as running:
            host, port = running.url.removeprefix("http://").split(":")
            conn = _connect(running)
            conn.request("GET", "/moto-api/")
            conn.getresponse().read()
            # conn is still open (keep-alive) while the proxy closes.

        conn.close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, int(port)), timeout=5).close()
