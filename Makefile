# SPDX-License-Identifier: Apache-2.0
# make wraps Meson.  Two build trees: build/ (gcc, optimised) and
# build-asan/ (clang, ASan+UBSan, libFuzzer harnesses).
.PHONY: all deps build build-asan check demo bench images fuzz clean distclean

all: build

deps:
	@scripts/install-deps

build/build.ninja:
	meson setup build

build-asan/build.ninja:
	CC=clang meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dfuzzing=true

build: build/build.ninja
	meson compile -C build

build-asan: build-asan/build.ninja
	meson compile -C build-asan

check: deps
	@$(MAKE) --no-print-directory build build-asan
	@scripts/run-tests

demo: deps build
	@examples/online-boutique/demo.sh

images: deps build
	@examples/online-boutique/make-images.sh

bench: deps build
	@bench/run-all.sh

clean:
	rm -rf build build-asan

distclean: clean
