#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Black-box tests of the nine boutique back ends over gRPC.

Stubs are generated at test time from our proto with protoc and
grpc_python_plugin (python3-grpcio has no grpc_tools).  Every service is
started on 127.0.0.1 with a free port; cart runs once on a real redis-server
(started here) and once in memory.  Exit 77 = skipped.
"""
import datetime
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

SRC = os.environ.get("ENSCONCE_SOURCE_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.environ.get("ENSCONCE_BUILD_ROOT") or os.path.join(SRC, "build")
BIN = os.path.join(BUILD, "examples/online-boutique/src")
PROTO = os.path.join(SRC, "examples/online-boutique/src/proto")
NAME = "boutique-services"


def skip(why):
    print(f"SKIP: {NAME}: {why}")
    sys.exit(77)


try:
    import grpc
except ImportError:
    skip("python3-grpcio is not installed")
for tool in ("protoc", "grpc_python_plugin"):
    if not shutil.which(tool):
        skip(f"{tool} is not installed")
if not os.path.isdir(BIN):
    skip(f"services not built in {BIN}")

TMP = tempfile.mkdtemp(prefix="ens-boutique-")
subprocess.run(["protoc", f"--proto_path={PROTO}", f"--python_out={TMP}", f"--grpc_out={TMP}",
                "--plugin=protoc-gen-grpc=" + shutil.which("grpc_python_plugin"),
                os.path.join(PROTO, "hipstershop.proto"), os.path.join(PROTO, "health.proto")], check=True)
sys.path.insert(0, TMP)
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402
import hipstershop_pb2 as pb  # noqa: E402
import hipstershop_pb2_grpc as pbg  # noqa: E402

FAILS = []
PASSES = 0
PROCS = []


def check(cond, what):
    global PASSES
    if cond:
        PASSES += 1
    else:
        FAILS.append(what)
        print(f"not ok - {what}", flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, secs=20):
    end = time.time() + secs
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def start(name, env=None):
    for attempt in range(3):  # a free port can be taken by another test before we bind it
        port = free_port()
        e = dict(os.environ)
        e.update({"PORT": str(port), "LISTEN_ADDR": "127.0.0.1"})
        e.update(env or {})
        log = open(os.path.join(TMP, f"{name}-{port}.log"), "wb")
        p = subprocess.Popen([os.path.join(BIN, name)], env=e, stdout=log, stderr=subprocess.STDOUT)
        p.log_path = log.name
        p.name = name
        if wait_port(port, p):
            PROCS.append(p)
            return p, f"127.0.0.1:{port}"
        if p.poll() is None:
            p.kill()
        p.wait()
        text = open(log.name, errors="replace").read()
        if "cannot listen" not in text:
            break
    print(text)
    raise SystemExit(f"FAIL: {NAME}: {name} did not start")


def stop(p):
    """SIGTERM must stop a service gracefully (exit 0) and quickly."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = -9
        check(rc == 0, f"{p.name} exits 0 on SIGTERM (got {rc}); log {p.log_path}")
    # sanitizer builds: any report in the log is a failure
    if getattr(p, "log_path", None):
        text = open(p.log_path, errors="replace").read()
        check("Sanitizer" not in text and "runtime error:" not in text,
              f"{p.name}: no sanitizer report (log {p.log_path})")
    if p in PROCS:
        PROCS.remove(p)


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            p.kill()
            p.wait()


def code_of(fn):
    try:
        fn()
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


def money(cur, units, nanos):
    return pb.Money(currency_code=cur, units=units, nanos=nanos)


def health(addr, service_name):
    ch = grpc.insecure_channel(addr)
    stub = health_pb2_grpc.HealthStub(ch)
    r = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    check(r.status == health_pb2.HealthCheckResponse.SERVING, f"health '' SERVING on {addr}")
    r = stub.Check(health_pb2.HealthCheckRequest(service=service_name), timeout=5)
    check(r.status == health_pb2.HealthCheckResponse.SERVING, f"health {service_name} SERVING")
    c, _ = code_of(lambda: stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5))
    check(c == grpc.StatusCode.NOT_FOUND, f"health unknown service NOT_FOUND (got {c})")
    c, _ = code_of(lambda: next(stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=5)))
    check(c == grpc.StatusCode.UNIMPLEMENTED, f"health Watch UNIMPLEMENTED (got {c})")
    ch.close()


def raw(addr, method, data, timeout=5):
    """Calls a method with raw request bytes; returns (code, details)."""
    ch = grpc.insecure_channel(addr, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)])
    f = ch.unary_unary(method, request_serializer=None, response_deserializer=None)
    try:
        f(data, timeout=timeout)
        r = (grpc.StatusCode.OK, "")
    except grpc.RpcError as e:
        r = (e.code(), e.details())
    ch.close()
    return r


def malformed(addr, method, proc):
    """Garbage, truncated and oversized requests: error statuses, no crash."""
    garbage = [b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", b"\x0a\x05ab", b"\x12\xff\xff\xff\xff\x0f",
               b"\x08" + b"\x80" * 11, b"\x0f\x00", bytes(range(256))]
    for g in garbage:
        c, _ = raw(addr, method, g)
        check(c != grpc.StatusCode.OK or g == b"", f"{method}: garbage {g[:8]!r} gives an error (got {c})")
    c, _ = raw(addr, method, b"\x0a" + b"\xff\xff\xff\x07" + b"x" * (5 * 1024 * 1024))
    check(c == grpc.StatusCode.RESOURCE_EXHAUSTED, f"{method}: oversized message RESOURCE_EXHAUSTED (got {c})")
    c, _ = raw(addr, "/hipstershop.NoSuchService/Nope", b"")
    check(c == grpc.StatusCode.UNIMPLEMENTED, f"unknown method UNIMPLEMENTED (got {c})")
    check(proc.poll() is None, f"{proc.name} still running after malformed requests")


# ---------------------------------------------------------------- services

def test_currency():
    p, addr = start("currencyservice")
    health(addr, "hipstershop.CurrencyService")
    stub = pbg.CurrencyServiceStub(grpc.insecure_channel(addr))
    codes = list(stub.GetSupportedCurrencies(pb.Empty(), timeout=5).currency_codes)
    expect = "EUR USD JPY BGN CZK DKK GBP HUF PLN RON SEK CHF ISK NOK HRK RUB TRY AUD BRL CAD CNY HKD IDR ILS INR KRW MXN MYR NZD PHP SGD THB ZAR".split()
    check(codes == expect, f"GetSupportedCurrencies: 33 codes in order (got {codes})")
    vectors = [
        ((19, 990000000), "EUR", (17, 682441398)), ((19, 990000000), "JPY", (2235, 60592707)),
        ((19, 990000000), "GBP", (15, 201594869)), ((19, 990000000), "CAD", (26, 749997346)),
        ((19, 990000000), "TRY", (108, 299648830)), ((19, 990000000), "USD", (19, 990000000)),
        ((8, 990000000), "EUR", (7, 952233525)), ((8, 990000000), "JPY", (1005, 162317560)),
    ]
    for (u, n), to, (eu, en) in vectors:
        r = stub.Convert(pb.CurrencyConversionRequest(**{"from": money("USD", u, n)}, to_code=to), timeout=5)
        check((r.currency_code, r.units, r.nanos) == (to, eu, en),
              f"Convert USD {u}.{n:09d} -> {to}: want {eu}/{en}, got {r.currency_code} {r.units}/{r.nanos}")
    # cross-check: upstream's algorithm re-implemented here in Python floats (IEEE doubles,
    # JS % = fmod, Math.round = floor(x + 0.5)) on random amounts and currency pairs
    import math
    import random
    rates = dict(zip(expect, [1.0, 1.1305, 126.40, 1.9558, 25.592, 7.4609, 0.85970, 315.51, 4.2996, 4.7463,
                              10.5375, 1.1360, 136.80, 9.8040, 7.4210, 74.4208, 6.1247, 1.6072, 4.2682, 1.5128,
                              7.5857, 8.8743, 15999.40, 4.0875, 79.4320, 1275.05, 21.7999, 4.6289, 1.6679, 59.083,
                              1.5349, 36.012, 16.0583]))

    def carry(u, n):
        n += math.fmod(u, 1) * 1e9
        u = math.floor(u) + math.floor(n / 1e9)
        return u, math.fmod(n, 1e9)

    def ref(fc, u, n, tc):
        eu, en = carry(u / rates[fc], n / rates[fc])
        en = math.floor(en + 0.5)
        ru, rn = carry(eu * rates[tc], en * rates[tc])
        return int(math.floor(ru)), int(math.floor(rn))

    rnd = random.Random(7)
    mism = []
    for _ in range(300):
        fc, tc = rnd.choice(expect), rnd.choice(expect)
        u, n = rnd.randrange(0, 100000), rnd.randrange(0, 1000000000)
        if rnd.random() < 0.3:  # negative amounts too (nanos with the sign of units)
            u, n = -u, -n
        r = stub.Convert(pb.CurrencyConversionRequest(**{"from": money(fc, u, n)}, to_code=tc), timeout=5)
        if (r.units, r.nanos) != ref(fc, u, n, tc):
            mism.append((fc, u, n, tc, (r.units, r.nanos), ref(fc, u, n, tc)))
    check(not mism, f"Convert matches the reference algorithm on 300 random inputs ({mism[:3]})")
    r = stub.Convert(pb.CurrencyConversionRequest(**{"from": money("USD", 5, 0)}, to_code="XXX"), timeout=5)
    check((r.currency_code, r.units, r.nanos) == ("XXX", 0, 0), f"Convert to unknown code gives 0/0 XXX (got {r})")
    gz = pbg.CurrencyServiceStub(grpc.insecure_channel(addr, compression=grpc.Compression.Gzip))
    r = gz.Convert(pb.CurrencyConversionRequest(**{"from": money("USD", 19, 990000000)}, to_code="EUR"), timeout=5)
    check((r.units, r.nanos) == (17, 682441398), "gzip-compressed request is understood")
    r = stub.Convert(pb.CurrencyConversionRequest(**{"from": money("EUR", 1, 0)}, to_code="EUR"), timeout=5)
    check((r.units, r.nanos) == (1, 0), "Convert EUR 1 -> EUR 1")
    c, _ = code_of(lambda: stub.Convert(pb.CurrencyConversionRequest(to_code="EUR"), timeout=5))
    check(c == grpc.StatusCode.INVALID_ARGUMENT, f"Convert without from: INVALID_ARGUMENT (got {c})")
    malformed(addr, "/hipstershop.CurrencyService/Convert", p)
    stop(p)


def test_catalog():
    p, addr = start("productcatalogservice")
    health(addr, "hipstershop.ProductCatalogService")
    stub = pbg.ProductCatalogServiceStub(grpc.insecure_channel(addr))
    prods = stub.ListProducts(pb.Empty(), timeout=5).products
    ids = [x.id for x in prods]
    check(ids == ["OLJCESPC7Z", "66VCHSJNUP", "1YMWWN1N4O", "L9ECAV7KIM", "2ZYFJ3GM2N", "0PUK6V6EV0",
                  "LS4PSXUNUM", "9SIQT8TOJO", "6E92ZMYYFZ"], f"ListProducts ids in order (got {ids})")
    mug = stub.GetProduct(pb.GetProductRequest(id="6E92ZMYYFZ"), timeout=5)
    check(mug.name == "Mug" and mug.price_usd.units == 8 and mug.price_usd.nanos == 990000000
          and mug.price_usd.currency_code == "USD" and list(mug.categories) == ["kitchen"]
          and mug.picture.startswith("/static/img/products/"), f"GetProduct Mug (got {mug})")
    tank = stub.GetProduct(pb.GetProductRequest(id="66VCHSJNUP"), timeout=5)
    check(list(tank.categories) == ["clothing", "tops"] and tank.price_usd.units == 18, "Tank Top categories/price")
    c, d = code_of(lambda: stub.GetProduct(pb.GetProductRequest(id="Z" * 100000), timeout=5))
    check(c == grpc.StatusCode.NOT_FOUND and len(d) < 600 and d.endswith("..."),
          f"a huge id is echoed truncated in the status ({c} {len(d)})")
    c, d = code_of(lambda: stub.GetProduct(pb.GetProductRequest(id="NOPE"), timeout=5))
    check(c == grpc.StatusCode.NOT_FOUND and d == "no product with ID NOPE", f"GetProduct unknown: NOT_FOUND ({c} {d})")
    r = [x.id for x in stub.SearchProducts(pb.SearchProductsRequest(query="MUG"), timeout=5).results]
    check(r == ["6E92ZMYYFZ"], f"SearchProducts 'MUG' case-insensitive on name (got {r})")
    r = stub.SearchProducts(pb.SearchProductsRequest(query=""), timeout=5).results
    check(len(r) == 9, "SearchProducts '' matches all")
    r = stub.SearchProducts(pb.SearchProductsRequest(query="zzzznothing"), timeout=5).results
    check(len(r) == 0, "SearchProducts with no match is empty")
    # a word that only appears in a description
    desc_word = mug.description.split()[3].upper()
    r = [x.id for x in stub.SearchProducts(pb.SearchProductsRequest(query=desc_word), timeout=5).results]
    check("6E92ZMYYFZ" in r, f"SearchProducts matches descriptions ({desc_word!r} -> {r})")
    malformed(addr, "/hipstershop.ProductCatalogService/GetProduct", p)
    stop(p)
    # EXTRA_LATENCY is slept per RPC; invalid is fatal
    p, addr = start("productcatalogservice", {"EXTRA_LATENCY": "0.3s"})
    stub = pbg.ProductCatalogServiceStub(grpc.insecure_channel(addr))
    t = time.time()
    stub.ListProducts(pb.Empty(), timeout=5)
    check(time.time() - t >= 0.29, "EXTRA_LATENCY=0.3s delays ListProducts")
    stop(p)
    # graceful stop: a call in flight when SIGTERM arrives still completes
    import threading
    p, addr = start("productcatalogservice", {"EXTRA_LATENCY": "3s"})
    stub = pbg.ProductCatalogServiceStub(grpc.insecure_channel(addr))
    result = {}
    t = threading.Thread(target=lambda: result.update(c=code_of(
        lambda: stub.GetProduct(pb.GetProductRequest(id="OLJCESPC7Z"), timeout=10))))
    t.start()
    time.sleep(1.0)  # the call is in the handler (3 s of latency) when SIGTERM arrives
    p.send_signal(signal.SIGTERM)
    t.join()
    check(result.get("c", (None,))[0] == grpc.StatusCode.OK, f"call in flight at SIGTERM completes ({result})")
    stop(p)
    e = dict(os.environ, PORT=str(free_port()), LISTEN_ADDR="127.0.0.1", EXTRA_LATENCY="fast")
    r = subprocess.run([os.path.join(BIN, "productcatalogservice")], env=e, capture_output=True, timeout=10)
    check(r.returncode != 0 and b"EXTRA_LATENCY" in r.stdout + r.stderr, "invalid EXTRA_LATENCY is fatal")
    bad = os.path.join(TMP, "bad.json")
    open(bad, "w").write('{"products": [ {"id": 5} ]}')
    e = dict(os.environ, PORT=str(free_port()), LISTEN_ADDR="127.0.0.1", CATALOG_FILE=bad)
    r = subprocess.run([os.path.join(BIN, "productcatalogservice")], env=e, capture_output=True, timeout=10)
    check(r.returncode != 0 and b"catalog" in r.stdout, "a malformed catalog file is fatal and named")


def luhn_visa(prefix="4", length=16):
    digits = [int(c) for c in prefix] + [7] * (length - len(prefix) - 1)
    for check_digit in range(10):
        ds = digits + [check_digit]
        s = 0
        for i, d in enumerate(reversed(ds)):
            if i % 2 == 1:
                d *= 2
                if d > 9:
                    d -= 9
            s += d
        if s % 10 == 0:
            return "".join(map(str, ds))


def test_payment():
    p, addr = start("paymentservice")
    health(addr, "hipstershop.PaymentService")
    stub = pbg.PaymentServiceStub(grpc.insecure_channel(addr))
    year = datetime.date.today().year

    def charge(num, y=year + 1, m=1):
        return stub.Charge(pb.ChargeRequest(amount=money("USD", 10, 0), credit_card=pb.CreditCardInfo(
            credit_card_number=num, credit_card_cvv=123, credit_card_expiration_year=y,
            credit_card_expiration_month=m)), timeout=5)

    r = charge("4432-8015-6152-0454")
    check(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", r.transaction_id) is not None,
          f"Visa charged, transaction id is a UUID v4 ({r.transaction_id})")
    r = charge("5555 5555 5555 4444")
    check(len(r.transaction_id) == 36, "MasterCard (spaces stripped) charged")
    r = charge(luhn_visa("4", 16))
    check(len(r.transaction_id) == 36, "generated Luhn-valid Visa charged")
    c, d = code_of(lambda: charge("378282246310005"))
    check(c == grpc.StatusCode.INVALID_ARGUMENT and
          d == "Sorry, we cannot process amex credit cards. Only VISA or MasterCard is accepted.",
          f"amex refused ({c} {d})")
    # every card type of the validator, Luhn-valid: only visa and mastercard are accepted
    for prefix, length, name in [("300", 14, "diners_club_carte_blanche"), ("36", 14, "diners_club_international"),
                                 ("309", 14, "diners_club_international"), ("3528", 16, "jcb"),
                                 ("6304", 16, "laser"), ("6771", 19, "laser"), ("4026", 16, "visa_electron"),
                                 ("417500", 16, "visa_electron"), ("5018", 12, "maestro"), ("6011", 16, "discover"),
                                 ("65", 16, "discover"), ("34", 15, "amex")]:
        num = luhn_visa(prefix, length)
        c, d = code_of(lambda: charge(num))
        check(c == grpc.StatusCode.INVALID_ARGUMENT and d == f"Sorry, we cannot process {name} credit cards. "
              "Only VISA or MasterCard is accepted.", f"{num} is {name}, refused ({c} {d})")
    for num in (luhn_visa("4", 13), luhn_visa("51", 15), luhn_visa("34", 16)):
        c, d = code_of(lambda: charge(num))
        check(c == grpc.StatusCode.INVALID_ARGUMENT and d == "Credit card info is invalid",
              f"{num}: wrong length for its type is invalid ({c} {d})")
    c, d = code_of(lambda: charge(luhn_visa("52", 16)))
    check(c == grpc.StatusCode.OK, f"mastercard 52... accepted ({c} {d})")
    c, d = code_of(lambda: charge("4432801561520455"))
    check(c == grpc.StatusCode.INVALID_ARGUMENT and d == "Credit card info is invalid", f"Luhn failure ({c} {d})")
    c, d = code_of(lambda: charge(""))
    check(c == grpc.StatusCode.INVALID_ARGUMENT and d == "Credit card info is invalid", f"empty number ({c} {d})")
    c, d = code_of(lambda: charge("4432801561520454", y=2020, m=3))
    check(c == grpc.StatusCode.INVALID_ARGUMENT and d == "Your credit card (ending 0454) expired on 3/2020",
          f"expired card ({c} {d})")
    c, d = code_of(lambda: charge("4432801561520454", y=year, m=datetime.date.today().month))
    check(c == grpc.StatusCode.OK, f"card expiring this month still accepted ({c} {d})")
    c, d = code_of(lambda: stub.Charge(pb.ChargeRequest(amount=money("USD", 1, 0)), timeout=5))
    check(c == grpc.StatusCode.INVALID_ARGUMENT, f"missing credit_card gives INVALID_ARGUMENT ({c})")
    malformed(addr, "/hipstershop.PaymentService/Charge", p)
    stop(p)


def test_shipping():
    p, addr = start("shippingservice")
    health(addr, "hipstershop.ShippingService")
    stub = pbg.ShippingServiceStub(grpc.insecure_channel(addr))
    a = pb.Address(street_address="1600 Amphitheatre Parkway", city="Mountain View", state="CA", country="US",
                   zip_code=94043)
    q = stub.GetQuote(pb.GetQuoteRequest(address=a, items=[pb.CartItem(product_id="X", quantity=3)]), timeout=5)
    check((q.cost_usd.currency_code, q.cost_usd.units, q.cost_usd.nanos) == ("USD", 8, 990000000), f"quote 8.99 ({q})")
    q = stub.GetQuote(pb.GetQuoteRequest(address=a), timeout=5)
    check((q.cost_usd.units, q.cost_usd.nanos) == (0, 0), "quote for 0 items is 0")
    q = stub.GetQuote(pb.GetQuoteRequest(items=[pb.CartItem(product_id="X", quantity=1)]), timeout=5)
    check(q.cost_usd.units == 8, "quote ignores the address")
    r = stub.ShipOrder(pb.ShipOrderRequest(address=a, items=[pb.CartItem(product_id="X", quantity=1)]), timeout=5)
    salt = len("1600 Amphitheatre Parkway, Mountain View, CA")
    check(re.fullmatch(rf"[A-Y]{{2}}-{salt}\d{{3}}-{salt // 2}\d{{7}}", r.tracking_id) is not None,
          f"tracking id format ({r.tracking_id})")
    c, _ = code_of(lambda: stub.ShipOrder(pb.ShipOrderRequest(), timeout=5))
    check(c == grpc.StatusCode.INVALID_ARGUMENT, f"ShipOrder without address INVALID_ARGUMENT ({c})")
    malformed(addr, "/hipstershop.ShippingService/ShipOrder", p)
    stop(p)


def test_email():
    p, addr = start("emailservice")
    health(addr, "hipstershop.EmailService")
    stub = pbg.EmailServiceStub(grpc.insecure_channel(addr))
    r = stub.SendOrderConfirmation(pb.SendOrderConfirmationRequest(
        email="someone@example.com", order=pb.OrderResult(order_id="o-1")), timeout=5)
    check(r == pb.Empty(), "SendOrderConfirmation returns Empty")
    c, _ = code_of(lambda: stub.SendOrderConfirmation(pb.SendOrderConfirmationRequest(), timeout=5))
    check(c == grpc.StatusCode.INVALID_ARGUMENT, f"missing email INVALID_ARGUMENT ({c})")
    malformed(addr, "/hipstershop.EmailService/SendOrderConfirmation", p)
    stop(p)
    import json
    lines = [json.loads(x) for x in open(p.log_path) if x.startswith("{")]
    check(any("someone@example.com" in x["message"] for x in lines), "email logs the recipient")
    check(all({"severity", "message", "timestamp"} <= set(x) for x in lines) and lines, "logs are JSON lines")


def test_ads():
    p, addr = start("adservice")
    health(addr, "hipstershop.AdService")
    stub = pbg.AdServiceStub(grpc.insecure_channel(addr))
    ads = stub.GetAds(pb.AdRequest(context_keys=["kitchen"]), timeout=5).ads
    check(sorted(a.redirect_url for a in ads) == ["/product/6E92ZMYYFZ", "/product/9SIQT8TOJO"] and
          all(a.text for a in ads), f"kitchen ads ({ads})")
    ads = stub.GetAds(pb.AdRequest(context_keys=["clothing", "footwear"]), timeout=5).ads
    check([a.redirect_url for a in ads] == ["/product/66VCHSJNUP", "/product/L9ECAV7KIM"], "clothing + footwear ads")
    for keys in ([], ["nothing-here"]):
        seen = set()
        for _ in range(30):
            ads = stub.GetAds(pb.AdRequest(context_keys=keys), timeout=5).ads
            check(len(ads) == 2, f"random fallback gives 2 ads for {keys}")
            seen.update(a.redirect_url for a in ads)
        check(len(seen) >= 3, f"random fallback varies ({seen})")
    malformed(addr, "/hipstershop.AdService/GetAds", p)
    stop(p)


def test_recommendation(catalog_addr):
    p, addr = start("recommendationservice", {"PRODUCT_CATALOG_SERVICE_ADDR": catalog_addr})
    health(addr, "hipstershop.RecommendationService")
    stub = pbg.RecommendationServiceStub(grpc.insecure_channel(addr))
    all_ids = {"OLJCESPC7Z", "66VCHSJNUP", "1YMWWN1N4O", "L9ECAV7KIM", "2ZYFJ3GM2N", "0PUK6V6EV0", "LS4PSXUNUM",
               "9SIQT8TOJO", "6E92ZMYYFZ"}
    orders = set()
    for _ in range(20):
        r = list(stub.ListRecommendations(pb.ListRecommendationsRequest(user_id="u", product_ids=["6E92ZMYYFZ"]),
                                          timeout=5).product_ids)
        check(len(r) == 5 and len(set(r)) == 5 and "6E92ZMYYFZ" not in r and set(r) <= all_ids,
              f"5 distinct recommendations without the excluded id ({r})")
        orders.add(tuple(r))
    check(len(orders) > 1, "recommendations are random")
    excl = sorted(all_ids)[:6]
    r = list(stub.ListRecommendations(pb.ListRecommendationsRequest(product_ids=excl), timeout=5).product_ids)
    check(sorted(r) == sorted(all_ids - set(excl)), f"min(5, remaining): 3 left ({r})")
    r = list(stub.ListRecommendations(pb.ListRecommendationsRequest(product_ids=sorted(all_ids)), timeout=5).product_ids)
    check(r == [], "all excluded: empty")
    malformed(addr, "/hipstershop.RecommendationService/ListRecommendations", p)
    stop(p)
    # catalog down: an error status, not a crash
    p, addr = start("recommendationservice", {"PRODUCT_CATALOG_SERVICE_ADDR": f"127.0.0.1:{free_port()}"})
    stub = pbg.RecommendationServiceStub(grpc.insecure_channel(addr))
    c, _ = code_of(lambda: stub.ListRecommendations(pb.ListRecommendationsRequest(), timeout=10))
    check(c != grpc.StatusCode.OK and p.poll() is None, f"catalog down gives an error ({c})")
    stop(p)


def cart_suite(addr, label):
    stub = pbg.CartServiceStub(grpc.insecure_channel(addr))
    u = "user-" + uuid.uuid4().hex
    c = stub.GetCart(pb.GetCartRequest(user_id=u), timeout=5)
    check(len(c.items) == 0, f"{label}: unknown user has an empty cart")
    stub.AddItem(pb.AddItemRequest(user_id=u, item=pb.CartItem(product_id="A", quantity=2)), timeout=5)
    stub.AddItem(pb.AddItemRequest(user_id=u, item=pb.CartItem(product_id="B", quantity=1)), timeout=5)
    stub.AddItem(pb.AddItemRequest(user_id=u, item=pb.CartItem(product_id="A", quantity=3)), timeout=5)
    c = stub.GetCart(pb.GetCartRequest(user_id=u), timeout=5)
    check([(i.product_id, i.quantity) for i in c.items] == [("A", 5), ("B", 1)] and c.user_id == u,
          f"{label}: AddItem merges quantities and appends lines ({c})")
    other = stub.GetCart(pb.GetCartRequest(user_id=u + "x"), timeout=5)
    check(len(other.items) == 0, f"{label}: carts are per user")
    stub.EmptyCart(pb.EmptyCartRequest(user_id=u), timeout=5)
    c = stub.GetCart(pb.GetCartRequest(user_id=u), timeout=5)
    check(len(c.items) == 0, f"{label}: EmptyCart empties")
    stub.AddItem(pb.AddItemRequest(user_id=u, item=pb.CartItem(product_id="C", quantity=1)), timeout=5)
    c = stub.GetCart(pb.GetCartRequest(user_id=u), timeout=5)
    check([(i.product_id, i.quantity) for i in c.items] == [("C", 1)], f"{label}: add after empty")
    # concurrent AddItem on one cart: no lost update
    from concurrent.futures import ThreadPoolExecutor
    uc = u + "-conc"
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda i: stub.AddItem(pb.AddItemRequest(user_id=uc, item=pb.CartItem(
            product_id="P%d" % (i % 3), quantity=1)), timeout=10), range(120)))
    c = stub.GetCart(pb.GetCartRequest(user_id=uc), timeout=5)
    check(sorted((i.product_id, i.quantity) for i in c.items) == [("P0", 40), ("P1", 40), ("P2", 40)],
          f"{label}: 120 concurrent AddItem calls all counted ({c.items})")
    code, _ = code_of(lambda: stub.AddItem(pb.AddItemRequest(user_id=u), timeout=5))
    check(code == grpc.StatusCode.INVALID_ARGUMENT, f"{label}: AddItem without item INVALID_ARGUMENT ({code})")
    code, _ = code_of(lambda: stub.GetCart(pb.GetCartRequest(), timeout=5))
    check(code == grpc.StatusCode.INVALID_ARGUMENT, f"{label}: GetCart without user INVALID_ARGUMENT ({code})")
    return u


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), "--no-raw", *args], capture_output=True, timeout=10).stdout


def test_cart():
    # in memory
    p, addr = start("cartservice")
    health(addr, "hipstershop.CartService")
    cart_suite(addr, "memory")
    malformed(addr, "/hipstershop.CartService/AddItem", p)
    stop(p)
    # on a real redis-server
    if not shutil.which("redis-server"):
        check(False, "redis-server is not installed")
        return
    rport = free_port()
    rdir = os.path.join(TMP, "redis")
    os.mkdir(rdir)
    rp = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--dir", rdir], stdout=subprocess.DEVNULL)
    rp.name = "redis-server"
    PROCS.append(rp)
    if not wait_port(rport, rp):
        check(False, "redis-server started")
        return
    p, addr = start("cartservice", {"REDIS_ADDR": f"127.0.0.1:{rport}"})
    u = cart_suite(addr, "redis")
    # upstream layout: HASH with absexp/sldexp -1 and data = serialised Cart, no TTL
    t = redis_cli(rport, "TYPE", u).strip()
    check(t == b"hash", f"redis: cart is a HASH ({t})")
    ab = subprocess.run(["redis-cli", "-p", str(rport), "--raw", "HMGET", u, "absexp", "sldexp"],
                        capture_output=True).stdout.split()
    check(ab == [b"-1", b"-1"], f"redis: absexp and sldexp are -1 ({ab})")
    data = subprocess.run(["redis-cli", "-p", str(rport), "--raw", "HGET", u, "data"], capture_output=True).stdout
    cart = pb.Cart()
    cart.ParseFromString(data[:-1] if data.endswith(b"\n") else data)
    check([(i.product_id, i.quantity) for i in cart.items] == [("C", 1)], f"redis: data is the Cart protobuf ({cart})")
    ttl = redis_cli(rport, "TTL", u).strip()
    check(ttl == b"(integer) -1", f"redis: no TTL ({ttl})")
    # a cart written by another implementation (upstream) is read
    u2 = "upstream-user"
    blob = pb.Cart(user_id=u2, items=[pb.CartItem(product_id="OLJCESPC7Z", quantity=4)]).SerializeToString()
    subprocess.run(["redis-cli", "-p", str(rport), "-x", "HSET", u2, "data"], input=blob, capture_output=True)
    redis_cli(rport, "HSET", u2, "absexp", "-1", "sldexp", "-1")
    stub = pbg.CartServiceStub(grpc.insecure_channel(addr))
    c = stub.GetCart(pb.GetCartRequest(user_id=u2), timeout=5)
    check([(i.product_id, i.quantity) for i in c.items] == [("OLJCESPC7Z", 4)], "redis: reads a cart stored by upstream")
    # Redis gone: FAILED_PRECONDITION, never a crash; back again: works
    rp.terminate()
    rp.wait()
    PROCS.remove(rp)
    for call in (lambda: stub.GetCart(pb.GetCartRequest(user_id=u), timeout=5),
                 lambda: stub.AddItem(pb.AddItemRequest(user_id=u, item=pb.CartItem(product_id="A", quantity=1)), timeout=5),
                 lambda: stub.EmptyCart(pb.EmptyCartRequest(user_id=u), timeout=5)):
        code, d = code_of(call)
        check(code == grpc.StatusCode.FAILED_PRECONDITION and "cart storage" in d,
              f"redis down: FAILED_PRECONDITION ({code} {d})")
    check(p.poll() is None, "cartservice survives redis going away")
    rp = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--dir", rdir], stdout=subprocess.DEVNULL)
    rp.name = "redis-server"
    PROCS.append(rp)
    wait_port(rport, rp)
    code, _ = code_of(lambda: stub.AddItem(pb.AddItemRequest(user_id=u, item=pb.CartItem(product_id="A", quantity=1)),
                                           timeout=5))
    check(code == grpc.StatusCode.OK, f"redis back: AddItem works again ({code})")
    stop(p)
    rp.terminate()
    rp.wait()
    PROCS.remove(rp)
    # configuration errors are fatal with a message naming the variable
    for var, val in (("REDIS_ADDR", "no-port-here"), ("PORT", "http"), ("PORT", "70000")):
        e = dict(os.environ, PORT=str(free_port()), LISTEN_ADDR="127.0.0.1")
        e[var] = val
        r = subprocess.run([os.path.join(BIN, "cartservice")], env=e, capture_output=True, timeout=10)
        check(r.returncode == 1 and var.encode() in r.stdout, f"{var}={val} is fatal and named ({r.stdout[-200:]})")
    # never-reachable Redis
    p, addr = start("cartservice", {"REDIS_ADDR": f"127.0.0.1:{free_port()}"})
    stub = pbg.CartServiceStub(grpc.insecure_channel(addr))
    code, _ = code_of(lambda: stub.GetCart(pb.GetCartRequest(user_id="x"), timeout=5))
    check(code == grpc.StatusCode.FAILED_PRECONDITION, f"missing redis: FAILED_PRECONDITION ({code})")
    stop(p)


def test_checkout(catalog_addr):
    procs = {}
    addrs = {}
    for name in ("currencyservice", "cartservice", "shippingservice", "paymentservice", "emailservice"):
        procs[name], addrs[name] = start(name)
    env = {"PRODUCT_CATALOG_SERVICE_ADDR": catalog_addr, "CURRENCY_SERVICE_ADDR": addrs["currencyservice"],
           "CART_SERVICE_ADDR": addrs["cartservice"], "SHIPPING_SERVICE_ADDR": addrs["shippingservice"],
           "PAYMENT_SERVICE_ADDR": addrs["paymentservice"], "EMAIL_SERVICE_ADDR": addrs["emailservice"]}
    # a missing address variable: exit with a clear message
    e = dict(os.environ, PORT=str(free_port()), LISTEN_ADDR="127.0.0.1", **env)
    del e["PAYMENT_SERVICE_ADDR"]
    r = subprocess.run([os.path.join(BIN, "checkoutservice")], env=e, capture_output=True, timeout=10)
    check(r.returncode != 0 and b"PAYMENT_SERVICE_ADDR" in r.stderr + r.stdout, "checkout: missing env var is fatal")

    p, addr = start("checkoutservice", env)
    health(addr, "hipstershop.CheckoutService")
    stub = pbg.CheckoutServiceStub(grpc.insecure_channel(addr))
    cart = pbg.CartServiceStub(grpc.insecure_channel(addrs["cartservice"]))
    a = pb.Address(street_address="1 Main St", city="Springfield", state="IL", country="US", zip_code=62701)
    card = pb.CreditCardInfo(credit_card_number="4432-8015-6152-0454", credit_card_cvv=672,
                             credit_card_expiration_year=datetime.date.today().year + 1,
                             credit_card_expiration_month=1)
    u = "buyer-" + uuid.uuid4().hex
    cart.AddItem(pb.AddItemRequest(user_id=u, item=pb.CartItem(product_id="6E92ZMYYFZ", quantity=2)), timeout=5)
    cart.AddItem(pb.AddItemRequest(user_id=u, item=pb.CartItem(product_id="OLJCESPC7Z", quantity=1)), timeout=5)
    r = stub.PlaceOrder(pb.PlaceOrderRequest(user_id=u, user_currency="EUR", address=a, email="b@example.com",
                                             credit_card=card), timeout=15).order
    check(re.fullmatch(r"[0-9a-f-]{36}", r.order_id) is not None, f"order id is a UUID ({r.order_id})")
    check(re.fullmatch(r"[A-Y]{2}-\d+-\d+", r.shipping_tracking_id) is not None, "tracking id present")
    check((r.shipping_cost.currency_code, r.shipping_cost.units, r.shipping_cost.nanos) == ("EUR", 7, 952233525),
          f"shipping cost localized (8.99 USD -> EUR) ({r.shipping_cost})")
    check(r.shipping_address == a, "order has the request address")
    items = [(i.item.product_id, i.item.quantity, i.cost.currency_code, i.cost.units, i.cost.nanos) for i in r.items]
    check(items == [("6E92ZMYYFZ", 2, "EUR", 7, 952233525), ("OLJCESPC7Z", 1, "EUR", 17, 682441398)],
          f"order items with per-unit localized cost ({items})")
    c = cart.GetCart(pb.GetCartRequest(user_id=u), timeout=5)
    check(len(c.items) == 0, "cart emptied after the order")
    email_log = open(procs["emailservice"].log_path).read()
    check("b@example.com" in email_log, "confirmation sent to the email service")
    pay_log = open(procs["paymentservice"].log_path).read()
    # total = 7.952233525 + 2×7.952233525 + 17.682441398 = 41.539141973 EUR
    check("EUR41.539141973" in pay_log, "payment charged the Money sum of shipping and lines")
    check("4432801561520454" not in pay_log and "4432-8015" not in pay_log, "card number not logged")

    # 24 concurrent orders from 24 users: all succeed, each with its own cart
    from concurrent.futures import ThreadPoolExecutor

    def order(i):
        uid = f"conc-{i}-{uuid.uuid4().hex}"
        cart.AddItem(pb.AddItemRequest(user_id=uid, item=pb.CartItem(product_id="L9ECAV7KIM", quantity=i % 3 + 1)),
                     timeout=10)
        o = stub.PlaceOrder(pb.PlaceOrderRequest(user_id=uid, user_currency="USD", address=a, email="c@example.com",
                                                 credit_card=card), timeout=30).order
        return [(x.item.product_id, x.item.quantity) for x in o.items] == [("L9ECAV7KIM", i % 3 + 1)]

    with ThreadPoolExecutor(24) as ex:
        oks = list(ex.map(order, range(24)))
    check(all(oks), f"24 concurrent orders each got their own items ({oks})")

    # payment refused -> INTERNAL "failed to charge card: ..."
    cart.AddItem(pb.AddItemRequest(user_id=u, item=pb.CartItem(product_id="6E92ZMYYFZ", quantity=1)), timeout=5)
    bad = pb.CreditCardInfo(credit_card_number="378282246310005", credit_card_expiration_year=2099,
                            credit_card_expiration_month=1)
    code, d = code_of(lambda: stub.PlaceOrder(pb.PlaceOrderRequest(user_id=u, user_currency="USD", address=a,
                                                                   email="b@example.com", credit_card=bad), timeout=15))
    check(code == grpc.StatusCode.INTERNAL and d.startswith("failed to charge card: ") and "amex" in d,
          f"payment refused: INTERNAL failed to charge card ({code} {d})")
    # unknown product in the cart -> INTERNAL (before charge)
    u3 = "ghost-" + uuid.uuid4().hex
    cart.AddItem(pb.AddItemRequest(user_id=u3, item=pb.CartItem(product_id="NOPE", quantity=1)), timeout=5)
    code, d = code_of(lambda: stub.PlaceOrder(pb.PlaceOrderRequest(user_id=u3, user_currency="USD", address=a,
                                                                   email="b@example.com", credit_card=card), timeout=15))
    check(code == grpc.StatusCode.INTERNAL and "NOPE" in d, f"unknown product: INTERNAL ({code} {d})")
    # missing fields -> INVALID_ARGUMENT
    code, _ = code_of(lambda: stub.PlaceOrder(pb.PlaceOrderRequest(user_id=u), timeout=15))
    check(code == grpc.StatusCode.INVALID_ARGUMENT, f"missing fields: INVALID_ARGUMENT ({code})")
    malformed(addr, "/hipstershop.CheckoutService/PlaceOrder", p)
    # shipping down -> INTERNAL at the quote (before charge)
    stop(procs["shippingservice"])
    code, d = code_of(lambda: stub.PlaceOrder(pb.PlaceOrderRequest(user_id=u, user_currency="USD", address=a,
                                                                   email="b@example.com", credit_card=card), timeout=15))
    check(code == grpc.StatusCode.INTERNAL and "shipping" in d, f"shipping down: INTERNAL ({code} {d})")
    # cart down -> INTERNAL "cart failure"
    stop(procs["cartservice"])
    code, d = code_of(lambda: stub.PlaceOrder(pb.PlaceOrderRequest(user_id=u, user_currency="USD", address=a,
                                                                   email="b@example.com", credit_card=card), timeout=15))
    check(code == grpc.StatusCode.INTERNAL and "cart failure" in d, f"cart down: INTERNAL cart failure ({code} {d})")
    check(p.poll() is None, "checkout survives its dependencies going away")
    stop(p)
    for name in ("currencyservice", "paymentservice", "emailservice"):
        stop(procs[name])


def test_checkout_ship_fails(catalog_addr):
    """ShipOrder failing after a successful quote gives UNAVAILABLE 'shipping error: ...'.
    A tiny fake shipping service (python grpcio) answers GetQuote and fails ShipOrder."""
    from concurrent import futures

    class Ship(pbg.ShippingServiceServicer):
        def GetQuote(self, request, context):
            return pb.GetQuoteResponse(cost_usd=money("USD", 8, 990000000))

        def ShipOrder(self, request, context):
            context.abort(grpc.StatusCode.UNAVAILABLE, "trucks on strike")

    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pbg.add_ShippingServiceServicer_to_server(Ship(), srv)
    sport = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    procs, addrs = {}, {}
    for name in ("currencyservice", "cartservice", "paymentservice", "emailservice"):
        procs[name], addrs[name] = start(name)
    env = {"PRODUCT_CATALOG_SERVICE_ADDR": catalog_addr, "CURRENCY_SERVICE_ADDR": addrs["currencyservice"],
           "CART_SERVICE_ADDR": addrs["cartservice"], "SHIPPING_SERVICE_ADDR": f"127.0.0.1:{sport}",
           "PAYMENT_SERVICE_ADDR": addrs["paymentservice"], "EMAIL_SERVICE_ADDR": addrs["emailservice"]}
    p, addr = start("checkoutservice", env)
    stub = pbg.CheckoutServiceStub(grpc.insecure_channel(addr))
    cart = pbg.CartServiceStub(grpc.insecure_channel(addrs["cartservice"]))
    u = "ship-" + uuid.uuid4().hex
    cart.AddItem(pb.AddItemRequest(user_id=u, item=pb.CartItem(product_id="6E92ZMYYFZ", quantity=1)), timeout=5)
    card = pb.CreditCardInfo(credit_card_number="4432801561520454", credit_card_expiration_year=2099,
                             credit_card_expiration_month=1)
    a = pb.Address(street_address="1 Main St", city="X", state="Y", country="Z", zip_code=1)
    code, d = code_of(lambda: stub.PlaceOrder(pb.PlaceOrderRequest(user_id=u, user_currency="USD", address=a,
                                                                   email="b@example.com", credit_card=card), timeout=15))
    check(code == grpc.StatusCode.UNAVAILABLE and d.startswith("shipping error: ") and "trucks on strike" in d,
          f"ShipOrder failure: UNAVAILABLE shipping error ({code} {d})")
    c = cart.GetCart(pb.GetCartRequest(user_id=u), timeout=5)
    check(len(c.items) == 1, "cart kept when shipping fails")
    stop(p)
    for name in procs:
        stop(procs[name])
    srv.stop(0)


def main():
    try:
        test_currency()
        test_payment()
        test_shipping()
        test_email()
        test_ads()
        test_cart()
        cat, cat_addr = start("productcatalogservice")
        test_recommendation(cat_addr)
        test_checkout(cat_addr)
        test_checkout_ship_fails(cat_addr)
        stop(cat)
        test_catalog()
    finally:
        cleanup()
    if FAILS:
        print(f"FAIL: {NAME}: {len(FAILS)} of {PASSES + len(FAILS)} checks failed; logs in {TMP}")
        sys.exit(1)
    print(f"ok - {NAME}: {PASSES} checks passed")
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
