# kiln - build, test, demo, bench.
#
#   make          library (build/libkiln.so, build/libkiln.a) and tests
#   make test     C tests, then the same tests under ASan+UBSan
#   make demo     the headline example
#   make bench    benchmarks -> build/bench.json
#   make pyext    the Python extension (python/kiln/_kiln*.so)
#   make venv     .venv with numpy, pytest and kiln (editable)
#   make bench-peers  kiln against numpy, numexpr, MLX, JAX, torch
#
# Dependencies are installed on first use (scripts/deps.sh): OpenBLAS via
# apt-get when missing and we are root. Without CBLAS, matmul uses kiln's
# own loops.

CC      ?= cc
BUILD   := build
ARCH    ?= -march=native
OPT     ?= -O3
WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wvla
ifeq ($(CI),true)
WARN    += -Werror
endif
DEFS    := -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
BLAS_CFLAGS := $(shell sh scripts/deps.sh cflags 2>/dev/null)
BLAS_LIBS   := $(shell sh scripts/deps.sh libs 2>/dev/null)
CFLAGS_LIB  := -std=c11 $(OPT) $(ARCH) -fno-math-errno -fPIC \
               -fvisibility=hidden $(WARN) $(DEFS) -Iinclude $(BLAS_CFLAGS)
LIBS    := $(BLAS_LIBS) -lpthread -lm -ldl
# OpenBLAS picks its kernels at load time from this variable; see deps.sh.
OPENBLAS_CORETYPE ?= $(shell sh scripts/deps.sh coretype 2>/dev/null)
export OPENBLAS_CORETYPE
# The tests, demos and C benchmarks this Makefile runs load OpenBLAS
# without worker threads: kiln calls it single-threaded, and a worker
# OpenBLAS starts at load can spin and starve kiln's pool (matmul_cpu.c,
# blas_single_thread). Not exported: bench-peers' numpy keeps its own.
C_ENV   := OPENBLAS_NUM_THREADS=1
# Every flag a build product depends on, kept in a file that its rule
# (run on every make, like git's GIT-CFLAGS) rewrites only when they change
# (OpenBLAS installed after a plain `make`, another ARCH or Python), so
# that everything built with the old flags is rebuilt, not linked stale.
# Recursive: expanded when the rule runs, after every flag is defined.
FLAGS   := $(BUILD)/flags
FLAGS_NOW = $(CC) $(CFLAGS_LIB) $(SAN_FLAGS) $(LIBS) $(PY_INC)

SRC     := $(sort $(wildcard src/*/*.c src/*/*/*.c))
# The JIT preamble: the scalar meaning headers, embedded as a string.
PREAMBLE_HDR := src/core/half.h src/backend/cpu/vmath.h \
                src/backend/cpu/scalar.h src/backend/cpu/vecf.h \
                src/backend/cpu/ntstore.h
OBJ     := $(SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/preamble.o
TEST_SRC := $(sort $(wildcard tests/c/*.c))
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
HDR     := $(wildcard include/*.h src/*/*.h src/*/*/*.h tests/c/*.h)

SAN_DIR := $(BUILD)/san
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined -g -O1
SAN_OBJ := $(SRC:%.c=$(SAN_DIR)/%.o) $(TEST_SRC:%.c=$(SAN_DIR)/%.o) \
           $(SAN_DIR)/gen/preamble.o

.PHONY: all lib test test-c test-san test-py demo demo-run bench bench-run \
        deps clean format-check symbols-check fuzz pyext venv bench-peers \
        check-half-round FORCE

all: lib $(BUILD)/test_runner venv

deps:
	@sh scripts/deps.sh install

$(FLAGS): FORCE
	@mkdir -p $(@D)
	@echo '$(FLAGS_NOW)' | cmp -s - $@ || echo '$(FLAGS_NOW)' > $@

FORCE:

lib: $(BUILD)/libkiln.so $(BUILD)/libkiln.a

$(BUILD)/%.o: %.c $(HDR) $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) -c $< -o $@

$(BUILD)/gen/preamble.c: $(PREAMBLE_HDR) scripts/embed.sh
	@mkdir -p $(dir $@)
	sh scripts/embed.sh kiln__preamble $(PREAMBLE_HDR) > $@.tmp
	mv $@.tmp $@

$(BUILD)/gen/preamble.o: $(BUILD)/gen/preamble.c
	$(CC) -std=c11 -fPIC -fvisibility=hidden -c $< -o $@

$(SAN_DIR)/gen/preamble.o: $(BUILD)/gen/preamble.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -c $< -o $@

$(BUILD)/libkiln.a: $(OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libkiln.so: $(OBJ)
	$(CC) -shared -o $@ $^ $(LIBS)

$(BUILD)/tests/c/%.o: tests/c/%.c $(HDR) $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) -Isrc -Isrc/backend/cpu -Isrc/runtime -c $< -o $@

$(BUILD)/test_runner: $(TEST_OBJ) $(BUILD)/libkiln.a
	$(CC) -o $@ $(TEST_OBJ) $(BUILD)/libkiln.a $(LIBS)

$(SAN_DIR)/%.o: %.c $(HDR) $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(SAN_FLAGS) $(ARCH) -fno-math-errno $(WARN) $(DEFS) \
	    -Iinclude -Isrc -Isrc/backend/cpu -Isrc/runtime $(BLAS_CFLAGS) \
	    -c $< -o $@

$(SAN_DIR)/test_runner: $(SAN_OBJ)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LIBS)

# ------------------------------------------------------------------
# The Python module: python/src/*.c against include/kiln.h only, linked
# with the static core into python/kiln/_kiln<EXT_SUFFIX>. setup.py asks
# for this target, so pip and make build it the same way.
PYTHON  ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
PY_INC  := $(shell $(PYTHON) -c "import sysconfig; \
               print(sysconfig.get_paths()['include'])" 2>/dev/null)
PY_EXT  := $(shell $(PYTHON) -c "import sysconfig; \
               print(sysconfig.get_config_var('EXT_SUFFIX'))" 2>/dev/null)
PYEXT   := python/kiln/_kiln$(PY_EXT)
PYEXT_SRC := $(sort $(wildcard python/src/*.c))
PYEXT_OBJ := $(PYEXT_SRC:%.c=$(BUILD)/%.o)

$(BUILD)/python/src/%.o: python/src/%.c $(wildcard python/src/*.h) \
                         include/kiln.h $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(OPT) $(ARCH) -fPIC -fvisibility=hidden $(WARN) \
	    $(DEFS) -Iinclude -I$(PY_INC) -c $< -o $@

$(PYEXT): $(PYEXT_OBJ) $(BUILD)/libkiln.a $(FLAGS)
	$(CC) -shared -o $@.tmp $(PYEXT_OBJ) $(BUILD)/libkiln.a $(LIBS)
	mv $@.tmp $@

pyext: $(PYEXT)

# .venv: numpy and pytest, and kiln installed in development mode (its
# package folder is python/kiln, where pyext puts the extension).
$(VENV)/.stamp: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check numpy pytest wheel \
	    "setuptools>=64"
	$(VENV)/bin/pip install -q --disable-pip-version-check \
	    --no-build-isolation --no-deps -e .
	touch $@

venv: $(VENV)/.stamp $(PYEXT)

test-py: venv
	$(TEST_ENV) $(VPY) -m pytest -q tests/python

# The public targets install dependencies first, then run make again so
# that the build sees what was installed.
test:
	@sh scripts/deps.sh install
	@$(MAKE) --no-print-directory test-c test-san symbols-check test-py

# Kernels the tests compile go to a cache folder of the build, so runs do
# not touch the user's cache and the sanitizer run reuses the first's.
TEST_ENV := KILN_CACHE_DIR=$(abspath $(BUILD))/kernel-cache $(C_ENV)

test-c: $(BUILD)/test_runner
	$(TEST_ENV) $(BUILD)/test_runner

test-san: $(SAN_DIR)/test_runner
	$(TEST_ENV) ASAN_OPTIONS=detect_leaks=1 KILN_SANITIZE=1 \
	    $(SAN_DIR)/test_runner

# The differential compile test with many more random graphs.
fuzz: $(BUILD)/test_runner
	$(TEST_ENV) KILN_FUZZ_N=3000 KILN_FUZZ_JIT_N=500 \
	    $(BUILD)/test_runner compile_diff

# kiln_f16_round/kiln_bf16_round against the round trip for all 2^32
# floats (half a minute; the test suite checks a structured sample)
check-half-round: tools/check_half_round.c src/core/half.h
	@mkdir -p $(BUILD)
	$(CC) -std=c11 -O3 $(ARCH) -fno-math-errno -ffp-contract=off -Isrc \
	    tools/check_half_round.c -o $(BUILD)/check_half_round
	$(BUILD)/check_half_round

# Only kiln_* may be exported from the shared library.
symbols-check: $(BUILD)/libkiln.so
	@bad=$$(nm -D --defined-only $(BUILD)/libkiln.so | awk '{print $$3}' \
	    | grep -v '^kiln_' | grep -v '^_' || true); \
	if [ -n "$$bad" ]; then echo "exported non-kiln symbols: $$bad"; \
	    exit 1; fi; echo "symbols-check: only kiln_* exported"

$(BUILD)/examples/%: examples/%.c $(wildcard examples/*.h) $(BUILD)/libkiln.a
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 $(WARN) $(DEFS) -Iinclude $< -o $@ \
	    $(BUILD)/libkiln.a $(LIBS)

demo:
	@sh scripts/deps.sh install
	@$(MAKE) --no-print-directory demo-run

demo-run: $(BUILD)/examples/demo $(BUILD)/examples/compile_demo \
          $(BUILD)/examples/train_mlp venv
	$(C_ENV) $(BUILD)/examples/demo
	$(C_ENV) $(BUILD)/examples/compile_demo
	$(C_ENV) $(BUILD)/examples/train_mlp
	$(VPY) examples/gelu.py

$(BUILD)/bench/%: bench/%.c $(wildcard bench/*.h examples/*.h) $(HDR) \
               $(BUILD)/libkiln.a
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(OPT) $(ARCH) -fno-math-errno $(WARN) $(DEFS) \
	    -Iinclude -Isrc $(BLAS_CFLAGS) $< -o $@ $(BUILD)/libkiln.a $(LIBS)

bench:
	@sh scripts/deps.sh install
	@$(MAKE) --no-print-directory bench-run

bench-run: $(BUILD)/bench/bench_core $(BUILD)/bench/compile_bench \
           $(BUILD)/bench/mlp_bench $(BUILD)/bench/gemm_bench
	$(C_ENV) $(BUILD)/bench/bench_core $(BUILD)/bench.json
	$(C_ENV) $(BUILD)/bench/compile_bench $(BUILD)/bench.json
	$(C_ENV) $(BUILD)/bench/mlp_bench $(BUILD)/bench.json
	$(C_ENV) $(BUILD)/bench/gemm_bench $(BUILD)/bench.json

# kiln beside numpy, numexpr, MLX, JAX and torch (installed into
# build/peers-venv when they can be had) -> build/bench-peers.json
bench-peers: venv
	sh bench/peers/run.sh

format-check:
	@command -v clang-format >/dev/null || { echo "clang-format missing"; \
	    exit 0; }; clang-format --dry-run --Werror $(SRC) include/kiln.h

clean:
	rm -rf $(BUILD) $(PYEXT)
