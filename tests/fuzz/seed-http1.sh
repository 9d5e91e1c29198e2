#!/bin/sh
# Writes the seed corpus of fuzz_http1 into DIR: replies as GitHub, blob storage and broken
# servers send them, each behind the split byte.
set -eu
dir=${1:?usage: seed-http1.sh DIR}
mkdir -p "$dir"
seed() {
  name=$1
  shift
  { printf '\027'; printf "$@"; } > "$dir/$name"
}
seed length 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nLink: <https://api.github.com/x?page=2>; rel="next"\r\n\r\n{"jobs":[]}'
seed chunked 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n'
seed close 'HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nline 1\nline 2\n'
seed redirect 'HTTP/1.1 302 Found\r\nLocation: https://blob.example/logs/1?sig=x\r\nContent-Length: 0\r\n\r\n'
seed continue 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n'
seed ratelimit 'HTTP/1.1 403 Forbidden\r\nX-RateLimit-Remaining: 0\r\nX-RateLimit-Reset: 1700000000\r\nContent-Length: 2\r\n\r\n{}'
seed lf-only 'HTTP/1.1 200 OK\nContent-Length: 3\n\nabc'
seed two-lengths 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'
seed bad-chunk 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n'
seed gzip 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'
seed folded 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n'
seed truncated 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort'
