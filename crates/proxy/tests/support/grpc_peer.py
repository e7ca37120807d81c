"""A gRPC server and client for dermaga's tests (Debian's python3-grpcio, generic handlers
with raw bytes as messages, so no protoc is needed).

  grpc_peer.py server [CERT KEY]      serves test.Echo on 127.0.0.1 (TLS with CERT KEY),
                                      prints "port N" once it listens, runs until killed
  grpc_peer.py client TARGET [CA NAME]
                                      calls every method through TARGET (TLS trusting CA,
                                      with NAME as the server name) and prints one line per
                                      result
"""

import queue
import sys
from concurrent import futures

import grpc

SERVICE = "test.Echo"


def unary(req, ctx):
    if req == b"fail":
        # No message first: the status goes back alone ("trailers-only").
        ctx.abort(grpc.StatusCode.PERMISSION_DENIED, "no entry")
    return b"echo:" + req


def server_stream(req, ctx):
    if req == b"fail":
        # Messages first, then an error status in the trailers.
        yield b"one"
        yield b"two"
        ctx.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "enough")
    for i in range(int(req)):
        yield b"item%d" % i


def client_stream(it, ctx):
    return b"+".join(it)


def bidi(it, ctx):
    for m in it:
        yield m.upper()


def serve(args):
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    if args:
        cert = open(args[0], "rb").read()
        key = open(args[1], "rb").read()
        creds = grpc.ssl_server_credentials([(key, cert)])
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("port %d" % port, flush=True)
    server.wait_for_termination()


def call(args):
    target = args[0]
    if len(args) > 1:
        creds = grpc.ssl_channel_credentials(root_certificates=open(args[1], "rb").read())
        ch = grpc.secure_channel(target, creds, options=(("grpc.ssl_target_name_override", args[2]),))
    else:
        ch = grpc.insecure_channel(target)
    t = 20
    u = ch.unary_unary("/%s/Unary" % SERVICE)
    print("unary", u(b"hi", timeout=t).decode())
    big = b"z" * 300000
    print("unary-big", len(u(big, timeout=t)))
    try:
        u(b"fail", timeout=t)
        print("unary-fail no error")
    except grpc.RpcError as e:
        print("unary-fail", e.code().name, e.details())
    ss = ch.unary_stream("/%s/ServerStream" % SERVICE)
    print("server-stream", " ".join(m.decode() for m in ss(b"3", timeout=t)))
    got = []
    try:
        for m in ss(b"fail", timeout=t):
            got.append(m.decode())
        print("server-stream-fail no error")
    except grpc.RpcError as e:
        print("server-stream-fail", " ".join(got), e.code().name, e.details())
    cs = ch.stream_unary("/%s/ClientStream" % SERVICE)
    print("client-stream", cs(iter([b"a", b"b", b"c"]), timeout=t).decode())
    bd = ch.stream_stream("/%s/Bidi" % SERVICE)
    print("bidi", " ".join(m.decode() for m in bd(iter([b"x", b"y", b"z"]), timeout=t)))
    # Ping-pong: each message is sent only once the answer to the previous one came back.
    answers = queue.Queue()

    def pings():
        yield b"a"
        while True:
            m = answers.get()
            if m is None:
                return
            yield m + b"b"

    got = []
    try:
        for r in bd(pings(), timeout=10):
            got.append(r.decode())
            answers.put(None if len(got) == 4 else r)
        print("bidi-pingpong", " ".join(got))
    except grpc.RpcError as e:
        answers.put(None)
        print("bidi-pingpong", " ".join(got), e.code().name)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(sys.argv[2:])
    else:
        call(sys.argv[2:])
