"""Request authentication: AWS SigV4 and SigV2, presigned URLs, aws-chunked bodies.

Knows nothing of storage, XML or HTTP frameworks: it works on `RequestView`.
"""
