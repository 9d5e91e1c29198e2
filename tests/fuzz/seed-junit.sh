#!/bin/sh
# Writes the seed corpus of fuzz_junit into DIR: the JUnit fixtures of every tool
# (tests/fixtures/junit/*.xml) and a few hostile or broken documents.
set -eu
dir=${1:?usage: seed-junit.sh DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$dir"
cp "$root"/tests/fixtures/junit/*.xml "$dir"/
printf '%s' "<?xml version='1.0'?><!DOCTYPE l [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;&a;'>]><testsuite><testcase name='&b;'/></testsuite>" >"$dir/laughs"
printf '%s' "<!DOCTYPE r [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><testsuite><testcase name='x'><failure>&x;</failure></testcase></testsuite>" >"$dir/xxe"
printf '%s' "<testsuite name='s'><testcase name='a'/><testcase name='b'><failure message='s3cr3t-value'>s3cr3t-value" >"$dir/truncated"
printf '<testsuite><testcase name="a\377\000b" time="1,5"><error>\355\240\200</error><flakyFailure/></testcase></testsuite>' >"$dir/bad-bytes"
printf '\377\376<\000t\000/\000>\000' >"$dir/utf16"
