"""Lifecycle rules: the model of a bucket's configuration (rules.py) and its execution by the
sweeper (execute.py). The XML of Put/GetBucketLifecycleConfiguration is the protocol layer's
(s3/lifecycle_xml.py)."""
