"""CopyObject when either side is encrypted: the body is decrypted and sealed again.

Sealed bytes cannot be shared by a hard link as plain copies are: every object has its own
data key and object id, bound into every chunk.
"""

from __future__ import annotations

from smarts3.s3 import sse
from smarts3.s3.context import Ctx
from smarts3.s3.errors import S3Error
from smarts3.storage.base import ObjectInfo, ObjectMeta, WriteCondition


async def copy_sealed(
    ctx: Ctx,
    info: ObjectInfo,
    version_id: str | None,
    meta: ObjectMeta,
    sealing: sse.Sealing | None,
    condition: WriteCondition | None,
) -> ObjectInfo:
    reader = await ctx.store.open_object(
        info.bucket, info.key, version_id, cipher_for=sse.cipher_for(ctx, copy_source=True)
    )
    try:
        if reader.info.etag != info.etag:  # replaced since the copy-source conditions were checked
            raise S3Error("PreconditionFailed", fields={"Condition": "x-amz-copy-source-If-Match"})
        cipher = None if sealing is None else sealing.cipher
        async with ctx.store.object_writer(ctx.bucket_name, ctx.key_name, cipher) as writer:
            async for chunk in reader.iter_range(0, reader.info.size):
                await writer.write(chunk)
            return await writer.commit(sse.sealed_meta(meta, sealing), condition)
    finally:
        await reader.close()
