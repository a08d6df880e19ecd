"""Encryption at rest: SSE-S3, SSE-KMS and SSE-C over one sealed-body format.

Design (docs/security.md, "Encryption at rest", says the same for operators):

- Every encrypted object (and every multipart upload) gets its own random 256-bit data key
  and a random 128-bit object id. Its body files are sealed with AES-256-GCM in chunks of
  64 KiB plaintext, each authenticated on its own (cipher.py), so a range read opens only
  the chunks it touches and a flipped byte fails that chunk instead of being served.
- A body file starts with a 16-byte header: magic, the part number (1 for a single PUT)
  and a random 8-byte nonce prefix. Chunk n's nonce is prefix || n (32 bits); its
  associated data binds the object id, the header and n, and whether it is the last chunk,
  so chunks cannot be reordered, truncated, or moved between parts or objects. Part
  numbers must rise from file to file: parts cannot be swapped either.
- The data key is wrapped (AES key wrap, RFC 3394) by a key-encryption key: the newest
  master key for SSE-S3 (and SSE-KMS without a key id, "aws/s3"), a named keyring key for
  SSE-KMS, the customer's key for SSE-C. The wrapped key, the wrapping key's id and the
  object id are kept with the object's metadata (record.py); keys never are. SSE-C keeps
  a salted HMAC-SHA256 of the customer key to tell a wrong key from a corrupt object.
- Master keys and KMS keys come from a JSON file or an environment variable (keys.py);
  rotating means adding a newer master key: new objects use it, old ones stay readable,
  and `smarts3 admin sse rewrap` re-wraps old data keys without rewriting bodies.
"""
