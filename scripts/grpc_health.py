#!/usr/bin/python3
"""Prints the status of grpc.health.v1.Health/Check at ADDR (python3-grpcio, hand-encoded).

usage: grpc_health.py HOST:PORT [SERVICE]   exit 0 when SERVING
"""
import sys

import grpc

STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def encode_request(service):
    data = service.encode()
    return (b"\x0a" + bytes([len(data)]) + data) if data else b""


def main():
    addr = sys.argv[1]
    service = sys.argv[2] if len(sys.argv) > 2 else ""
    with grpc.insecure_channel(addr) as ch:
        check = ch.unary_unary("/grpc.health.v1.Health/Check", request_serializer=None,
                               response_deserializer=None)
        try:
            raw = check(encode_request(service), timeout=5)
        except grpc.RpcError as e:
            print("ERROR %s" % e.code().name)
            return 1
    status = raw[1] if len(raw) >= 2 and raw[0] == 0x08 else 0
    print(STATUS.get(status, str(status)))
    return 0 if status == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
