"""One module per S3 resource family; each handler parses, calls the store, renders."""
