"""The client matrix (issue 4): every common S3 client against a real smarts3 with a restricted credential."""
