"""Client of the Admin service: reload, pin, unpin, roll back and status, with the bearer token."""

from __future__ import annotations

import grpc

from tessera.channels import open_channel
from tessera.client import StyleSummary, TesseraError
from tessera.number_checks import positive_seconds
from tessera.v1 import admin_pb2 as apb
from tessera.v1 import admin_pb2_grpc as apb_grpc


class AdminClient:
    """Operator calls on one server. Every call carries `authorization: Bearer <token>`."""

    def __init__(self, target: str, token: str, timeout: float = 30.0, tls_ca: bytes | None = None) -> None:
        self._timeout = positive_seconds("timeout", timeout)  # ValueError before a channel is opened
        self._channel = open_channel(target, tls_ca)
        self._stub = apb_grpc.AdminStub(self._channel)
        self._metadata = [("authorization", f"Bearer {token.strip()}")]  # as the server reads its token file

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._channel.close()

    def status(self) -> tuple[list[StyleSummary], list[tuple[str, int, str]]]:
        """Every style, and (style, version, reason) for every rejected version."""
        reply = self._call(self._stub.Status, apb.StatusRequest())
        rejected = [(r.style, r.version, r.reason) for r in reply.rejected]
        return [StyleSummary.from_proto(s) for s in reply.styles], rejected

    def reload(self) -> list[StyleSummary]:
        return [StyleSummary.from_proto(s) for s in self._call(self._stub.Reload, apb.ReloadRequest()).styles]

    def pin(self, style: str, version: int) -> StyleSummary:
        return StyleSummary.from_proto(self._call(self._stub.Pin, apb.PinRequest(style=style, version=version)).style)

    def unpin(self, style: str) -> StyleSummary:
        return StyleSummary.from_proto(self._call(self._stub.Unpin, apb.UnpinRequest(style=style)).style)

    def rollback(self, style: str) -> StyleSummary:
        return StyleSummary.from_proto(self._call(self._stub.Rollback, apb.RollbackRequest(style=style)).style)

    def _call(self, method, request):
        try:
            return method(request, metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as error:
            raise TesseraError.from_rpc(error) from None
