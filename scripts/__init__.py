"""Local tooling: the moto S3 server, S3 events shaped as AWS sends them, the local run."""
