# nubo: the two commands a user needs are `make demo` and `make test`.
# meson and ninja do the building; this file only strings the steps together.

BUILD ?= build
MESON_OPTS ?= -Dwerror=true

.PHONY: all deps build demo test bench install deb clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD)

demo: build
	@scripts/demo.sh $(BUILD)

test: build
	@tests/run.sh $(BUILD)

bench: build
	@bench/run.sh $(BUILD)

install: build
	meson install -C $(BUILD)

# The Debian package, into $(BUILD)/deb/ (docs/install.md).
deb: deps
	@scripts/deb.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-fuzz build-crash
