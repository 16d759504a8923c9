#!/bin/sh
# Regenerates kubernetes.pb (the protobuf descriptors of the built-in kinds, stable versions)
# and fields.txt (facts from the Go struct tags) from a tree holding the Kubernetes sources:
#   ROOT/k8s.io/{api,apimachinery,apiextensions-apiserver,kube-aggregator}/...
# (the generated.proto files and the Go types beside them, of the release kubectl speaks).
# Needs protoc and python3.
set -eu
root=$1
here=$(cd "$(dirname "$0")" && pwd)
cd "$root"
protos=$(find k8s.io -name generated.proto | grep -E '/(v1|v2)/|/resource/|/runtime/|/intstr/|/schema/' | grep -v testapigroup | sort)
protoc -I . --descriptor_set_out="$here/kubernetes.pb" $protos
python3 "$here/fieldinfo.py" "$root" | grep -v -E '\.v[0-9]+(alpha|beta)[0-9]+\.' > "$here/fields.txt"
