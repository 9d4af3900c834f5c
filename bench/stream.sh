#!/bin/bash
# Stream throughput, plain and zstd (MB/s of tensor payload).
set -eo pipefail
"$MMIB_BUILD/bench/b-stream" 40
