"""``python -m smarts3.selftest``: the `helm test` of the chart, run from the server image.

It does what an application does: declare an S3Bucket and an S3Credential, wait until both are Ready,
read the credential's Secret and PUT, GET and DELETE an object with its keys; then it deletes what it
created. Standard library only on the Kubernetes side (the server image has no Kubernetes client).
"""
