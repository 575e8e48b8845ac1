#!/bin/sh
# Health check of the S3 store: a signed ListBuckets answers only once the
# gateway has found its filer. Keys go to curl on stdin, not its command line.
set -eu
printf 'user = "%s:%s"\n' "$LABQUEUE_S3_ACCESS_KEY" "$LABQUEUE_S3_SECRET_KEY" |
    curl --config - -fsS -o /dev/null --max-time 5 --aws-sigv4 "aws:amz:us-east-1:s3" http://127.0.0.1:8333/
