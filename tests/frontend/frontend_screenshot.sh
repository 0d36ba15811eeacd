#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Headless Chromium (Debian's chromium) opens the home page served by the
# frontend over the real back ends; every resource must load (no 4xx/5xx, no
# network or CSP failure, no console error), and the screenshot must be a
# 1280x1800 picture with content.  The PNG is kept in the build tree
# (tests/frontend/home.png) for people to look at.
. "$ENSCONCE_SOURCE_ROOT/tests/lib/common.sh"
. "$ENSCONCE_SOURCE_ROOT/tests/frontend/lib.sh"
command -v chromium >/dev/null || skip "chromium is not installed"

start_backends
start_frontend
png=$TMP/home.png
CHROMIUM_LOG=$TMP/chromium.log timeout 120 "$PYTHON" "$ENSCONCE_SOURCE_ROOT/tests/frontend/screenshot.py" \
    "$FE_URL/" "$png" 1280 1800 >"$TMP/shot.out" 2>&1 || { cat "$TMP/shot.out"; fail "screenshot failed"; }
cat "$TMP/shot.out"
out=$(cat "$TMP/shot.out")
assert_contains "$out" "no failed loads"
for r in /static/css/shop.css /static/img/logo.svg /static/img/products/sunglasses.svg /static/img/products/mug.svg; do
    assert_contains "$out" "loaded $FE_URL$r"
done
# Nothing outside the frontend was asked for (no CDN, no font service).
if grep '^loaded ' <<<"$out" | grep -v "^loaded $FE_URL/" | grep -q .; then
    fail "the page loaded resources from elsewhere: $(grep '^loaded ' <<<"$out" | grep -v "$FE_URL/")"
fi
# A real picture: PNG of the requested size, many distinct colours.
"$PYTHON" - "$png" <<'PY' || fail "the screenshot is not a picture of a page"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", data[16:24])
assert (w, h) == (1280, 1800), "size %dx%d" % (w, h)
idat, pos = b"", 8
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    if kind == b"IDAT":
        idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
raw = zlib.decompress(idat)
colours = len(set(raw[i:i + 3] for i in range(0, min(len(raw), 3_000_000), 3)))
assert colours > 200, "only %d distinct colours" % colours
print("png %dx%d, %d distinct byte triples" % (w, h, colours))
PY
mkdir -p "$ENSCONCE_BUILD_ROOT/tests/frontend"
cp "$png" "$ENSCONCE_BUILD_ROOT/tests/frontend/home.png"
pass "home page screenshot with no failed resource loads ($ENSCONCE_BUILD_ROOT/tests/frontend/home.png)"
stop_frontend
