# shmemfs: thin wrapper over meson/ninja.  See README.md.
BUILD      ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps build asan run test unit clean

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

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
