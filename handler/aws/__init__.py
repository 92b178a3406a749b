"""The only code that knows AWS: wiring, the S3 pipeline, storage, and the Lambda entry points."""
