#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""run-native.sh: starts the nine back ends + redis on loopback, every one
answers health, a full PlaceOrder goes through the Redis cart, and stop ends
every process it started."""
import os
import shutil
import subprocess
import sys
import tempfile
import datetime

SRC = os.environ["ENSCONCE_SOURCE_ROOT"]
BUILD = os.environ["ENSCONCE_BUILD_ROOT"]
PROTO = os.path.join(SRC, "examples/online-boutique/src/proto")
SCRIPT = os.path.join(SRC, "examples/online-boutique/run-native.sh")
NAME = "boutique-run-native"


def skip(why):
    print(f"SKIP: {NAME}: {why}")
    sys.exit(77)


try:
    import grpc
except ImportError:
    skip("python3-grpcio is not installed")
for tool in ("protoc", "grpc_python_plugin", "redis-server"):
    if not shutil.which(tool):
        skip(f"{tool} is not installed")

TMP = tempfile.mkdtemp(prefix="ens-boutique-native-")
subprocess.run(["protoc", f"--proto_path={PROTO}", f"--python_out={TMP}", f"--grpc_out={TMP}",
                "--plugin=protoc-gen-grpc=" + shutil.which("grpc_python_plugin"),
                os.path.join(PROTO, "hipstershop.proto"), os.path.join(PROTO, "health.proto")], check=True)
sys.path.insert(0, TMP)
import health_pb2, health_pb2_grpc  # noqa: E401,E402
import hipstershop_pb2 as pb, hipstershop_pb2_grpc as pbg  # noqa: E401,E402

# an offset whose ports are all free (tests may run side by side)
import socket  # noqa: E402
PORTS = [6379, 3550, 7000, 7070, 50051, 50052, 5000, 9555, 8081, 5050]


def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


import random  # noqa: E402
d = os.path.join(TMP, "run")
fails = []
# other tests pick port ranges too: retry with another free range if start loses a race
for attempt in range(5):
    bases = [b for b in range(3000, 15000, 37) if all(free(p + b) for p in PORTS)]
    if not bases:
        skip("no free port range")
    offset = random.choice(bases)
    env = dict(os.environ, PORT_OFFSET=str(offset))
    r = subprocess.run([SCRIPT, "start", d], env=env, capture_output=True, text=True, timeout=120)
    if r.returncode == 0:
        break
try:
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        raise SystemExit(f"FAIL: {NAME}: start failed")
    addrs = {}
    for line in open(os.path.join(d, "env")):
        if line.startswith("export "):
            k, v = line[7:].strip().split("=", 1)
            addrs[k] = v
    for k, v in sorted(addrs.items()):
        st = health_pb2_grpc.HealthStub(grpc.insecure_channel(v)).Check(health_pb2.HealthCheckRequest(), timeout=5)
        if st.status != health_pb2.HealthCheckResponse.SERVING:
            fails.append(f"{k} not SERVING")
    cart = pbg.CartServiceStub(grpc.insecure_channel(addrs["CART_SERVICE_ADDR"]))
    cart.AddItem(pb.AddItemRequest(user_id="native-u", item=pb.CartItem(product_id="L9ECAV7KIM", quantity=1)), timeout=5)
    co = pbg.CheckoutServiceStub(grpc.insecure_channel(addrs["CHECKOUT_SERVICE_ADDR"]))
    res = co.PlaceOrder(pb.PlaceOrderRequest(
        user_id="native-u", user_currency="JPY", email="n@example.com",
        address=pb.Address(street_address="1 A St", city="B", state="C", country="D", zip_code=1),
        credit_card=pb.CreditCardInfo(credit_card_number="4432801561520454",
                                      credit_card_expiration_year=datetime.date.today().year + 2,
                                      credit_card_expiration_month=5)), timeout=15).order
    if not res.order_id or res.items[0].cost.currency_code != "JPY":
        fails.append(f"PlaceOrder result {res}")
    redis_port = 6379 + offset
    t = subprocess.run(["redis-cli", "-p", str(redis_port), "TYPE", "native-u"], capture_output=True, text=True)
    if t.stdout.strip() != "hash":
        fails.append(f"cart not in redis ({t.stdout!r})")
finally:
    pids = [open(os.path.join(d, f)).read().strip() for f in os.listdir(d) if f.endswith(".pid")] if os.path.isdir(d) else []
    s = subprocess.run([SCRIPT, "stop", d], capture_output=True, text=True, timeout=120)
for pid in pids:
    if os.path.exists(f"/proc/{pid}") and "zombie" not in open(f"/proc/{pid}/status").read():
        fails.append(f"pid {pid} still running after stop")
if s.returncode != 0:
    fails.append(f"stop failed: {s.stderr}")
for f in fails:
    print("not ok -", f)
if fails:
    print(f"FAIL: {NAME}: logs in {d}")
    sys.exit(1)
print(f"ok - {NAME}: 9 services + redis up, order placed, all stopped")
shutil.rmtree(TMP, ignore_errors=True)
