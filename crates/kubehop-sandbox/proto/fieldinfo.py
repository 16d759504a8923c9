#!/usr/bin/env python3
"""Writes fields.txt: what the protobuf descriptors do not say about the Go types they were
generated from, read from the Go struct tags of the same source tree.

  <message> <field> inline   the Go field is embedded (`json:",inline"`): its fields sit in the
                             parent's JSON object
  <message> <field> omitzero  `omitzero`: a zero struct (a zero time) is left out
  <message> <field> json=NAME  the field's JSON name differs from its protobuf name
  <message> <field> keep     a pointer or a field without `omitempty`: a zero value on the wire
                             is written to JSON (other zero scalars are dropped, as Go's JSON
                             encoder drops them)

Usage: fieldinfo.py ROOT > fields.txt, ROOT holding k8s.io/<repo>/.../{generated.proto,*.go}.
"""
import os
import re
import sys

FIELD = re.compile(r'^\t(?:(\w+)\s+)?(\S+)\s+`(.*)`')
JSON_TAG = re.compile(r'json:"([^"]*)"')
PROTO_TAG = re.compile(r'protobuf:"([^"]*)"')


def package_of(proto_path):
    with open(proto_path) as f:
        for line in f:
            if line.startswith("package "):
                return line.split()[1].rstrip(";")
    return None


def structs(go_path):
    struct = None
    with open(go_path) as f:
        for line in f:
            m = re.match(r"^type (\w+) struct \{", line)
            if m:
                struct = m.group(1)
                continue
            if struct and line.startswith("}"):
                struct = None
                continue
            if struct:
                fm = FIELD.match(line)
                if fm:
                    yield struct, fm.group(1), fm.group(2), fm.group(3)


def main(root):
    out = []
    for dirpath, _, files in sorted(os.walk(root)):
        if "generated.proto" not in files:
            continue
        package = package_of(os.path.join(dirpath, "generated.proto"))
        for name in sorted(files):
            if not name.endswith(".go") or name.endswith("_test.go"):
                continue
            for struct, field, typ, tags in structs(os.path.join(dirpath, name)):
                json_tag = JSON_TAG.search(tags)
                proto = PROTO_TAG.search(tags)
                if not json_tag or not proto:
                    continue
                named = re.search(r"name=(\w+)", proto.group(1))
                bare = typ.lstrip("*").split(".")[-1]
                field_name = named.group(1) if named else bare[:1].lower() + bare[1:]
                parts = json_tag.group(1).split(",")
                if parts[0] == "":
                    out.append(f"{package}.{struct} {field_name} inline")
                    continue
                if parts[0] != field_name:
                    out.append(f"{package}.{struct} {field_name} json={parts[0]}")
                if "omitzero" in parts[1:]:
                    out.append(f"{package}.{struct} {field_name} omitzero")
                if typ.startswith("*") or "omitempty" not in parts[1:]:
                    out.append(f"{package}.{struct} {field_name} keep")
    sys.stdout.write("\n".join(sorted(set(out))) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
