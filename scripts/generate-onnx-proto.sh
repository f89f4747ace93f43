#!/usr/bin/env bash
# Regenerates Sources/SlipwayRuntime/ONNX/Generated/onnx-ml.pb.swift from ONNX's onnx-ml.proto.
#
# Run by developers when moving to a newer ONNX IR (not by CI; the generated file is committed so a
# build needs neither protoc nor the swift-protobuf plugin). Needs:
#   - protoc (Debian: apt-get install protobuf-compiler)
#   - protoc-gen-swift from swift-protobuf at the version Package.swift resolves, e.g.
#       git clone -b 1.39.0 https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#       swift build -c release --package-path /tmp/swift-protobuf --product protoc-gen-swift
#     then PROTOC_GEN_SWIFT=/tmp/swift-protobuf/.build/release/protoc-gen-swift
#   - the onnx Python package (pip install onnx==1.23.2), which ships onnx-ml.proto; or ONNX_PROTO=path.
# The committed file was generated from onnx 1.23.2 with swift-protobuf 1.39.0 and protoc 3.21.12.
set -euo pipefail
cd "$(dirname "$0")/.."

plugin="${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift || true)}"
[ -x "$plugin" ] || { echo "set PROTOC_GEN_SWIFT to a built protoc-gen-swift" >&2; exit 1; }
proto="${ONNX_PROTO:-$(${PYTHON:-python3} -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "onnx-ml.proto"))')}"
[ -f "$proto" ] || { echo "no onnx-ml.proto at $proto (pip install onnx, or set ONNX_PROTO)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$proto" "$work/onnx-ml.proto"
protoc --plugin=protoc-gen-swift="$plugin" -I "$work" \
    --swift_opt=Visibility=Internal --swift_out="$work" "$work/onnx-ml.proto"
mkdir -p Sources/SlipwayRuntime/ONNX/Generated
cp "$work/onnx-ml.pb.swift" Sources/SlipwayRuntime/ONNX/Generated/onnx-ml.pb.swift
echo "wrote Sources/SlipwayRuntime/ONNX/Generated/onnx-ml.pb.swift from $proto"
