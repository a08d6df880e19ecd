// The AWS SDK for JavaScript v3 leg of the smarts3 client matrix (driven by tests/clients/test_js.py).
//
//   node matrix.mjs <operation> [args...]
//
// Endpoint and credential come from S3_ENDPOINT, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
// Each operation prints one JSON document on stdout; an S3 error prints
// {"error": Code, "status": HTTP status, "message": ...} and exits 1.
import { createReadStream, readFileSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { createRequire } from "node:module";

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketEncryptionCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutBucketEncryptionCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  paginateListObjectsV2,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

const PART_SIZE = 8 * 1024 * 1024;

const s3 = new S3Client({
  endpoint: process.env.S3_ENDPOINT,
  region: process.env.AWS_REGION || "us-east-1",
  forcePathStyle: true,
  maxAttempts: 1,
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  },
});

function versionOf(pkg) {
  const require = createRequire(import.meta.url);
  return JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), "utf8")).version;
}

async function uploadMultipart(bucket, key, path) {
  const size = statSync(path).size;
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const parts = [];
  const file = await open(path);
  try {
    for (let offset = 0, n = 1; offset < size; offset += PART_SIZE, n += 1) {
      const length = Math.min(PART_SIZE, size - offset);
      const body = Buffer.alloc(length);
      await file.read(body, 0, length, offset);
      const { ETag } = await s3.send(
        new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: n, Body: body }),
      );
      parts.push({ ETag, PartNumber: n });
    }
  } finally {
    await file.close();
  }
  return s3.send(
    new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }),
  );
}

function sseFields(out) {
  // What the SDK parsed from the x-amz-server-side-encryption* response headers.
  return {
    etag: out.ETag,
    sse: out.ServerSideEncryption ?? null,
    kmsKeyId: out.SSEKMSKeyId ?? null,
    context: out.SSEKMSEncryptionContext ?? null,
    bucketKey: out.BucketKeyEnabled ?? null,
    customerAlgorithm: out.SSECustomerAlgorithm ?? null,
    customerKeyMD5: out.SSECustomerKeyMD5 ?? null,
  };
}

const operations = {
  async version() {
    return {
      "client-s3": versionOf("@aws-sdk/client-s3"),
      "s3-request-presigner": versionOf("@aws-sdk/s3-request-presigner"),
      node: process.versions.node,
    };
  },
  async mb(bucket) {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    return {};
  },
  async rb(bucket) {
    // Empty the bucket (ListObjectsV2 + DeleteObjects), then DeleteBucket.
    for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket })) {
      const objects = (page.Contents || []).map((o) => ({ Key: o.Key }));
      if (objects.length) {
        const out = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects } }));
        if (out.Errors && out.Errors.length) throw new Error(`DeleteObjects: ${JSON.stringify(out.Errors)}`);
      }
    }
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    return {};
  },
  async put(bucket, key, path) {
    const out = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: readFileSync(path) }));
    return { etag: out.ETag };
  },
  async putstream(bucket, key, path) {
    // A stream of known length: the SDK sends it aws-chunked with a CRC32 trailer.
    const out = await s3.send(
      new PutObjectCommand({
        Bucket: bucket, Key: key, Body: createReadStream(path), ContentLength: statSync(path).size,
      }),
    );
    return { etag: out.ETag };
  },
  async get(bucket, key, path) {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    writeFileSync(path, await out.Body.transformToByteArray());
    return { etag: out.ETag, length: out.ContentLength };
  },
  async range(bucket, key, range, path) {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
    writeFileSync(path, await out.Body.transformToByteArray());
    return { contentRange: out.ContentRange, length: out.ContentLength };
  },
  async list(bucket, prefix, delimiter) {
    const keys = [];
    const prefixes = [];
    for await (const page of paginateListObjectsV2(
      { client: s3 },
      { Bucket: bucket, Prefix: prefix, Delimiter: delimiter },
    )) {
      keys.push(...(page.Contents || []).map((o) => o.Key));
      prefixes.push(...(page.CommonPrefixes || []).map((p) => p.Prefix));
    }
    return { keys, prefixes };
  },
  async mpu(bucket, key, path) {
    const out = await uploadMultipart(bucket, key, path);
    return { etag: out.ETag };
  },
  async copy(bucket, source, dest) {
    const CopySource = `${bucket}/${source.split("/").map(encodeURIComponent).join("/")}`;
    const out = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: dest, CopySource }));
    return { etag: out.CopyObjectResult && out.CopyObjectResult.ETag };
  },
  async del(bucket, key, versionId) {
    const out = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
    return { deleteMarker: out.DeleteMarker || false, versionId: out.VersionId };
  },
  async versioning(bucket, status) {
    await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: status } }));
    return {};
  },
  async putv(bucket, key, path) {
    const out = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: readFileSync(path) }));
    return { etag: out.ETag, versionId: out.VersionId };
  },
  async getv(bucket, key, versionId, path) {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
    writeFileSync(path, await out.Body.transformToByteArray());
    return { versionId: out.VersionId };
  },
  async versions(bucket, prefix, maxKeys) {
    // Pages of maxKeys, resumed from NextKeyMarker/NextVersionIdMarker (the SDK has no paginator for it).
    const versions = [];
    const markers = [];
    let KeyMarker;
    let VersionIdMarker;
    for (;;) {
      const page = await s3.send(
        new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, MaxKeys: Number(maxKeys), KeyMarker, VersionIdMarker }),
      );
      versions.push(...(page.Versions || []).map((v) => [v.Key, v.VersionId, v.IsLatest]));
      markers.push(...(page.DeleteMarkers || []).map((m) => [m.Key, m.VersionId, m.IsLatest]));
      if (!page.IsTruncated) return { versions, markers };
      KeyMarker = page.NextKeyMarker;
      VersionIdMarker = page.NextVersionIdMarker;
    }
  },
  async presign(bucket, key) {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 300 });
    return { url };
  },
  async sseput(bucket, key, path, mode, keyArg, context) {
    // mode: AES256 | aws:kms | aws:kms:dsse (keyArg: KMS key id, "-" for none; context: base64 JSON)
    //       | SSE-C (keyArg: the customer key, base64; the SDK adds its MD5) | none (bucket default)
    const input = { Bucket: bucket, Key: key, Body: readFileSync(path) };
    if (mode === "SSE-C") {
      Object.assign(input, { SSECustomerAlgorithm: "AES256", SSECustomerKey: keyArg });
    } else if (mode !== "none") {
      input.ServerSideEncryption = mode;
      if (keyArg && keyArg !== "-") input.SSEKMSKeyId = keyArg;
      if (context) input.SSEKMSEncryptionContext = context;
    }
    return sseFields(await s3.send(new PutObjectCommand(input)));
  },
  async sseget(bucket, key, path, customerKey, range) {
    // customerKey: base64 SSE-C key, "-" for none; range: optional "bytes=a-b"
    const input = { Bucket: bucket, Key: key };
    if (customerKey && customerKey !== "-") Object.assign(input, { SSECustomerAlgorithm: "AES256", SSECustomerKey: customerKey });
    if (range) input.Range = range;
    const out = await s3.send(new GetObjectCommand(input));
    writeFileSync(path, await out.Body.transformToByteArray());
    return { ...sseFields(out), length: out.ContentLength };
  },
  async ssedefault(bucket, algorithm, kmsKeyId, bucketKey) {
    const byDefault = { SSEAlgorithm: algorithm };
    if (kmsKeyId && kmsKeyId !== "-") byDefault.KMSMasterKeyID = kmsKeyId;
    await s3.send(new PutBucketEncryptionCommand({
      Bucket: bucket,
      ServerSideEncryptionConfiguration: {
        Rules: [{ ApplyServerSideEncryptionByDefault: byDefault, BucketKeyEnabled: bucketKey === "true" }],
      },
    }));
    const got = await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
    return { rules: got.ServerSideEncryptionConfiguration.Rules };
  },
  async denied(bucket) {
    await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    return { listed: true };
  },
};

const [name, ...args] = process.argv.slice(2);
const operation = operations[name];
if (!operation) {
  console.error(`usage: node matrix.mjs <${Object.keys(operations).join("|")}> [args...]`);
  process.exit(2);
}
try {
  console.log(JSON.stringify(await operation(...args)));
} catch (err) {
  const status = err.$metadata && err.$metadata.httpStatusCode;
  console.log(JSON.stringify({ error: err.Code || err.name, status, message: err.message }));
  process.exit(1);
}
