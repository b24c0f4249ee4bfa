"""Signed URLs over REST (reference §2.3 "Signed URLs", §6): issuing download and upload
tokens, and serving the requests that carry them."""

from __future__ import annotations

from typing import Any

from s3proxy import errors
from s3proxy.imaging import TransformError, parse_sign_transform
from s3proxy.rest.base import Auth, Policy
from s3proxy.rest.download import ObjectResponder
from s3proxy.rest.params import header_true
from s3proxy.rest.transforms import as_error, image_service
from s3proxy.rest.uploads import decode_user_metadata, write_upload
from s3proxy.storage import signing

MAX_SIGN_PATHS = 1000


def signed_path(bucket_id: str, name: str, token: str, *, upload: bool = False, render: bool = False) -> str:
    """The relative URL clients append to their base URL (the key unencoded, as the
    reference returns it: storage-js encodeURI()s the whole URL)."""
    if render:
        return f"/render/image/sign/{bucket_id}/{name}?token={token}"
    kind = "upload/sign" if upload else "sign"
    return f"/object/{kind}/{bucket_id}/{name}?token={token}"


class SignedObjectHandler(ObjectResponder):
    """/object/sign/{bucket}/{key}: POST issues a download URL; GET/HEAD serve one."""

    policies = {
        "POST": Policy(Auth.JWT, "storage.object.sign"),
        "GET": Policy(Auth.DOWNLOAD_TOKEN, "storage.object.get_signed"),
        "HEAD": Policy(Auth.DOWNLOAD_TOKEN, "storage.object.get_signed"),
    }

    async def post(self, bucket_id: str, key: str) -> None:
        body = self.json_body()
        expires_in = signing.parse_expires_in(body.get("expiresIn"))
        transformations, image_format = self._transform(body)
        token = await signing.sign_object(self.ctx, bucket_id, key, expires_in,
                                          transformations=transformations, image_format=image_format)
        self.send_json({"signedURL": signed_path(bucket_id, key, token, render=bool(transformations))})

    def _transform(self, body: dict[str, Any]) -> tuple[str, str]:
        """The `transformations` and `format` claims of `body.transform` (empty: none).

        As the reference: validated whenever given; carried in the token only while image
        transformation is on, and a transformation with segments makes the URL a
        `/render/image/sign/...` one."""
        if "transform" not in body:
            return "", ""
        images = image_service(self)
        try:
            options = parse_sign_transform(body["transform"], images.limits)
        except TransformError as exc:
            raise as_error(exc) from exc
        return options.to_claims() if images.enabled else ("", "")

    async def get(self, bucket_id: str, key: str) -> None:
        assert self.grant is not None
        await self.send_object(self.grant.bucket_id, self.grant.name, "service", expires=self.grant.expires_at)

    head = get


class SignManyHandler(ObjectResponder):
    """POST /object/sign/{bucket} {expiresIn, paths}: one entry per path, in order."""

    policies = {"POST": Policy(Auth.JWT, "storage.object.sign_many")}

    async def post(self, bucket_id: str) -> None:
        body = self.json_body()
        expires_in = signing.parse_expires_in(body.get("expiresIn"))
        paths = body.get("paths")
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise errors.InvalidRequest("body/paths must be array of strings")
        if not 1 <= len(paths) <= MAX_SIGN_PATHS:
            raise errors.InvalidRequest(f"body/paths must have between 1 and {MAX_SIGN_PATHS} items")
        tokens = await signing.sign_objects(self.ctx, bucket_id, paths, expires_in)
        self.send_json([
            {
                "error": None if token else "Either the object does not exist or you do not have access to it",
                "path": path,
                "signedURL": signed_path(bucket_id, path, token) if token else None,
            }
            for path, token in zip(paths, tokens, strict=True)
        ])


class SignedUploadHandler(ObjectResponder):
    """/object/upload/sign/{bucket}/{key}: POST issues an upload URL (after the RLS
    probe); PUT ?token= uploads in service scope, owner and upsert from the token."""

    policies = {
        "POST": Policy(Auth.JWT, "storage.object.sign_upload_url"),
        "PUT": Policy(Auth.UPLOAD_TOKEN, "storage.object.upload_signed", upload=True),
    }

    def start_upload(self) -> None:
        assert self.grant is not None
        bucket_id, name, upsert = self.path_kwargs["bucket_id"], self.path_kwargs["key"], self.grant.upsert
        self.consume(lambda body: write_upload(self.ctx, bucket_id, name, self.request.headers, body,
                                               upsert=upsert, probe=False))

    async def put(self, bucket_id: str, key: str) -> None:
        await self.outcome()
        self.send_json({"Key": f"{bucket_id}/{key}"})

    async def post(self, bucket_id: str, key: str) -> None:
        headers = self.request.headers
        length = headers.get("Content-Length")
        token = await signing.sign_upload_for(
            self.ctx, bucket_id, key,
            upsert=header_true(headers.get("x-upsert")),
            content_type=headers.get("Content-Type") or "application/octet-stream",
            size=int(length) if length and length.isdigit() else None,
            user_metadata=decode_user_metadata(headers.get("x-metadata")),
        )
        self.send_json({"url": signed_path(bucket_id, key, token, upload=True), "token": token})
