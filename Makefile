# shmemfs: thin wrapper over meson/ninja.  See README.md.
BUILD      ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps build asan run test unit fuzz bench clean install uninstall deb

FUZZ_SECONDS ?= 300

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) >/dev/null
	@ninja -C $(BUILD)

asan: deps
	@[ -f $(ASAN_BUILD)/build.ninja ] || meson setup $(ASAN_BUILD) \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug >/dev/null
	@ninja -C $(ASAN_BUILD)

run: build
	@scripts/run-demo.sh $(BUILD)

test: build asan
	@scripts/run-tests.sh $(BUILD) $(ASAN_BUILD)

unit: build
	@meson test -C $(BUILD) --print-errorlogs

# Coverage-guided fuzzing of the core and the option parser (libFuzzer).
fuzz: deps
	@tests/fuzz/run-fuzz.sh $(FUZZ_SECONDS)

# Benchmarks against kernel tmpfs; BENCH_ARGS=--quick for a short run.
bench: build
	@bench/run.sh $(BENCH_ARGS)
	@bench/swap.sh $(BENCH_ARGS)
	@bench/transports.sh $(BENCH_ARGS)
	@bench/shm.sh $(BENCH_ARGS)
	@bench/pg.sh $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz build-deb

# Install the normal build under PREFIX (DESIGN.md "Installing"); DESTDIR
# stages it elsewhere, as for packaging.  ldconfig runs for a real install
# so that programs linked with libshmemfs.so find it.
PREFIX ?= /usr/local
install: build
	@meson configure $(BUILD) -Dprefix=$(PREFIX) >/dev/null
	@ninja -C $(BUILD) >/dev/null
	@DESTDIR="$(DESTDIR)" meson install -C $(BUILD) --no-rebuild --quiet
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi

uninstall:
	@ninja -C $(BUILD) uninstall

# Debian packages (debian/, dpkg-buildpackage) into build-deb/, then lintian.
deb: deps
	@scripts/make-deb.sh build-deb
