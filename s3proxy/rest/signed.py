"""Signed URLs over REST (reference §2.3 "Signed URLs", §6): issuing download and upload
tokens, and serving the requests that carry them."""

from __future__ import annotations

from typing import Any

from s3proxy.rest.download import ObjectResponder
from s3proxy.rest.params import header_true
from s3proxy.rest.uploads import StreamingUploadHandler, Upload, decode_user_metadata, write_upload
from s3proxy.storage import objects, signing
from s3proxy.storage.errors import StorageError

MAX_SIGN_PATHS = 1000


def _transformations(transform: Any) -> str | None:
    """`transform` options as the token's `transformations` claim ("height:200,width:300")."""
    if not isinstance(transform, dict):
        return None
    parts = [f"{k}:{v}" for k, v in sorted(transform.items()) if v not in (None, "")]
    return ",".join(parts) or None


def signed_path(bucket_id: str, name: str, token: str, *, upload: bool = False) -> str:
    """The relative URL clients append to their base URL (the key unencoded, as the
    reference returns it: storage-js encodeURI()s the whole URL)."""
    kind = "upload/sign" if upload else "sign"
    return f"/object/{kind}/{bucket_id}/{name}?token={token}"


class SignedObjectHandler(ObjectResponder):
    """/object/sign/{bucket}/{key}: POST issues a download URL; GET/HEAD serve one."""

    async def post(self, bucket_id: str, key: str) -> None:
        ctx = self.ctx(self.authenticate())
        body = self.json_body()
        expires_in = signing.parse_expires_in(body.get("expiresIn"))
        token = await signing.sign_object(ctx, bucket_id, key, expires_in,
                                          transformations=_transformations(body.get("transform")))
        self.send_json({"signedURL": signed_path(bucket_id, key, token)})

    async def get(self, bucket_id: str, key: str) -> None:
        grant = signing.verify(self.store.keys, self.get_query_argument("token", None), "download", bucket_id, key)
        ctx = self.ctx(self.authenticate(optional=True)).as_service()
        info = await objects.find_object(ctx, grant.bucket_id, grant.name, mode="service",
                                         operation="storage.object.get_signed")
        await self.send_object(ctx, info, expires=grant.expires_at)

    async def head(self, bucket_id: str, key: str) -> None:
        await self.get(bucket_id, key)


class SignManyHandler(ObjectResponder):
    """POST /object/sign/{bucket} {expiresIn, paths}: one entry per path, in order."""

    async def post(self, bucket_id: str) -> None:
        ctx = self.ctx(self.authenticate())
        body = self.json_body()
        expires_in = signing.parse_expires_in(body.get("expiresIn"))
        paths = body.get("paths")
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise StorageError("InvalidRequest", "body/paths must be array of strings")
        if not 1 <= len(paths) <= MAX_SIGN_PATHS:
            raise StorageError("InvalidRequest", f"body/paths must have between 1 and {MAX_SIGN_PATHS} items")
        tokens = await signing.sign_objects(ctx, bucket_id, paths, expires_in)
        self.send_json([
            {
                "error": None if token else "Either the object does not exist or you do not have access to it",
                "path": path,
                "signedURL": signed_path(bucket_id, path, token) if token else None,
            }
            for path, token in zip(paths, tokens, strict=True)
        ])


class SignedUploadHandler(ObjectResponder, StreamingUploadHandler):
    """/object/upload/sign/{bucket}/{key}: POST issues an upload URL (after the RLS
    probe); PUT ?token= uploads in service scope, owner and upsert from the token."""

    async def prepare(self) -> None:
        if self.request.method != "PUT":
            return
        self.begin_upload(self._upload)

    def _upload(self) -> Upload:
        bucket_id, name = self.path_kwargs["bucket_id"], self.path_kwargs["key"]
        grant = signing.verify(self.store.keys, self.get_query_argument("token", None), "upload", bucket_id, name)
        ctx = signing.uploader(self.ctx(self.authenticate(optional=True)), grant)
        headers = self.request.headers
        return lambda body: write_upload(ctx, bucket_id, name, headers, body, upsert=grant.upsert,
                                         operation="storage.object.upload_signed", probe=False)

    async def put(self, bucket_id: str, key: str) -> None:
        info = await self.finish_upload()
        if info is not None:
            self.send_json({"Key": f"{bucket_id}/{key}"})

    async def post(self, bucket_id: str, key: str) -> None:
        ctx = self.ctx(self.authenticate())
        headers = self.request.headers
        length = headers.get("Content-Length")
        token = await signing.sign_upload_for(
            ctx, bucket_id, key,
            upsert=header_true(headers.get("x-upsert")),
            content_type=headers.get("Content-Type") or "application/octet-stream",
            size=int(length) if length and length.isdigit() else None,
            user_metadata=decode_user_metadata(headers.get("x-metadata")),
        )
        self.send_json({"url": signed_path(bucket_id, key, token, upload=True), "token": token})
