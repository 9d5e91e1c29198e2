# cipulse — one entry point.
#
#   make              build cipulse-agent, cipulsed and the unit tests into build/
#   make test         everything CI runs: unit + integration tests, then again under ASan/UBSan
#   make check        unit + integration tests once (no sanitizers)
#   make asan         the ASan+UBSan build (build-asan/)
#   make fuzz         build the libFuzzer targets (clang) and run each for FUZZ_SECONDS
#   make bench        benchmarks (ratios against baselines measured in the same run)
#   make deps         install the Debian packages the build, tests and demo need
#   make demo         the quick start: PostgreSQL + collector + sample data (scripts/demo.sh)
#
# Variables: BUILD (output dir), SAN=1 (sanitizers), WERROR=0 (warnings not fatal), CC.

BUILD    ?= build
CC       ?= cc
WERROR   ?= 1
SAN      ?=
PYTHON   ?= /usr/bin/python3
FUZZ_SECONDS ?= 20

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
	-Wformat=2 -Wundef -Wvla -Wnull-dereference -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif

PKG_CFLAGS := $(shell pkg-config --cflags grpc libprotobuf-c libpq libcurl openssl libmicrohttpd jansson 2>/dev/null)
CPPFLAGS += -D_GNU_SOURCE -Icommon -I$(BUILD)/gen
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -fno-strict-aliasing -pthread $(PKG_CFLAGS)
COLLECTOR_LDLIBS := -largon2 -lz
LDLIBS   += -lgrpc -lgpr -lprotobuf-c -lpq -lcurl -lssl -lcrypto -lmicrohttpd -ljansson -pthread -lm
# The agent is a short-lived process started once per job, so what it costs to start counts:
# it links gRPC, abseil, upb, re2, c-ares and protobuf-c statically (when their static
# libraries are installed), which drops ~45 shared libraries and most of the symbol lookups
# at start-up (docs/agent-footprint.md). So is the C++ runtime (libstdc++, libgcc): its ~4,300
# symbol relocations were the largest single share of the dynamic loader's work; its one glibc
# 2.36 call (arc4random) is wrapped like libexpat's (agent/junit.c), so the release still runs
# on the oldest runner it supports (scripts/release-build.sh). So are jansson and zlib (two
# fewer libraries to map: -0.4 MiB). OpenSSL stays shared (libcurl loads OpenSSL itself, and
# one process must not hold two copies). libcurl is not linked: agent/github.c loads it when
# the GitHub API is first called (dlopen).
# AGENT_STATIC=0 links the agent like the collector; sanitizer builds always do.
AGENT_STATIC ?= $(if $(filter /%,$(shell $(CC) -print-file-name=libgrpc.a)),1,0)
ifeq ($(SAN),1)
AGENT_STATIC := 0
endif
ifeq ($(AGENT_STATIC),1)
AGENT_STATIC_LIBS := -lexpat -lprotobuf-c $(filter-out -lssl -lcrypto -lz -ldl -lrt -latomic -lm,\
	$(shell pkg-config --static --libs-only-l grpc 2>/dev/null))
# libexpat.a and libstdc++.a call arc4random_buf / arc4random (glibc 2.36); agent/junit.c has
# stand-ins for older glibc.
AGENT_LDFLAGS := -Wl,--gc-sections -Wl,--wrap=arc4random_buf -Wl,--wrap=arc4random -static-libgcc
AGENT_LDLIBS  := -Wl,-Bstatic $(AGENT_STATIC_LIBS) -ljansson -lz -lstdc++ -Wl,-Bdynamic -lssl \
	-lcrypto -latomic -pthread -lm -ldl -lrt
else
AGENT_LDLIBS  := -lexpat $(filter-out -lcurl,$(LDLIBS)) -ldl
endif
ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

PROTOS   := cipulse/v1/report.proto cipulse/v1/collector.proto grpc/health/v1/health.proto
GEN_C    := $(PROTOS:%.proto=$(BUILD)/gen/%.pb-c.c)
GEN_H    := $(PROTOS:%.proto=$(BUILD)/gen/%.pb-c.h)
GEN_O    := $(GEN_C:.c=.o)

COMMON_SRC    := $(wildcard common/*.c)
COLLECTOR_SRC := $(wildcard collector/*.c collector/*/*.c)
AGENT_SRC     := $(wildcard agent/*.c)
UNIT_SRC      := $(wildcard tests/unit/test_*.c)

SQL_FILES   := $(sort $(wildcard sql/[0-9]*.sql))

COMMON_O    := $(COMMON_SRC:%.c=$(BUILD)/%.o)
COLLECTOR_O := $(filter-out $(BUILD)/collector/main.o,$(COLLECTOR_SRC:%.c=$(BUILD)/%.o)) \
	$(BUILD)/gen/migrations.o
AGENT_O     := $(filter-out $(BUILD)/agent/main.o,$(AGENT_SRC:%.c=$(BUILD)/%.o))
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

LIBCOMMON    := $(BUILD)/libcipulse-common.a
LIBCOLLECTOR := $(BUILD)/libcipulse-collector.a
LIBAGENT     := $(BUILD)/libcipulse-agent.a

.PHONY: FORCE all test check unit integration asan fuzz bench deps demo clean format format-check config-doc
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BUILD)/cipulsed $(BUILD)/cipulse-agent $(UNIT_BIN)

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c -Iproto --c_out=$(BUILD)/gen $<

# The list of migration files, rewritten only when it changes: a migration removed or renamed
# rebuilds migrations.c too (its timestamps alone would not).
$(BUILD)/gen/migrations.list: FORCE
	@mkdir -p $(BUILD)/gen
	@echo '$(SQL_FILES)' | cmp -s - $@ || echo '$(SQL_FILES)' > $@

$(BUILD)/gen/migrations.c: $(SQL_FILES) $(BUILD)/gen/migrations.list scripts/embed-sql.sh
	@mkdir -p $(BUILD)/gen
	scripts/embed-sql.sh $@ $(SQL_FILES)

$(BUILD)/gen/migrations.o: $(BUILD)/gen/migrations.c collector/store/migrate.h
	$(CC) $(CPPFLAGS) -Icollector $(CFLAGS) $(WARN) -Wno-overlength-strings -c -o $@ $<

# Generated code is not ours to lint: plain warnings only.
$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c $(GEN_H)
	$(CC) $(CPPFLAGS) $(CFLAGS) -w -c -o $@ $<

# Collector sources include each other from the collector root ("store/store.h"), so that an
# include crossing a folder reads as the architecture decision it is.
$(BUILD)/collector/%.o: CPPFLAGS += -Icollector

$(BUILD)/%.o: %.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c -o $@ $<

# Archives are rebuilt from scratch: `ar rcs` would keep objects of deleted sources.
$(LIBCOMMON): $(COMMON_O) $(GEN_O)
	rm -f $@ && $(AR) rcs $@ $^
$(LIBCOLLECTOR): $(COLLECTOR_O)
	rm -f $@ && $(AR) rcs $@ $^
$(LIBAGENT): $(AGENT_O)
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/cipulsed: $(BUILD)/collector/main.o $(LIBCOLLECTOR) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(COLLECTOR_LDLIBS) $(LDLIBS)

$(BUILD)/cipulse-agent: $(BUILD)/agent/main.o $(LIBAGENT) $(LIBCOMMON)
	$(CC) $(LDFLAGS) $(AGENT_LDFLAGS) -o $@ $^ $(AGENT_LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIBCOLLECTOR) $(LIBAGENT) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Icollector -Iagent $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $< \
		$(LIBCOLLECTOR) $(LIBAGENT) $(LIBCOMMON) $(LDFLAGS) -lexpat $(COLLECTOR_LDLIBS) $(LDLIBS) -lcmocka

unit: all
	@scripts/run-unit.sh $(BUILD)

integration: all
	scripts/run-integration.sh $(BUILD)

check: unit integration

asan:
	$(MAKE) BUILD=build-asan SAN=1 all

# What CI runs (.ci/run) and the README's test command.
test:
	scripts/test.sh

fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

bench: all
	scripts/bench.sh

deps:
	scripts/deps.sh

demo:
	scripts/demo.sh

# Rewrites README.md's settings table from the collector's option table (`cipulsed config-doc`).
config-doc:
	scripts/gen-config-doc.sh

# Every C source we write (generated code under build/ is not ours); .clang-format is the style.
FORMAT_SRC = $(wildcard common/*.[ch] collector/*.[ch] collector/*/*.[ch] agent/*.[ch] \
	tests/unit/*.c tests/fuzz/*.c bench/*/*.c)

format-check:
	clang-format --dry-run --Werror $(FORMAT_SRC)

format:
	clang-format -i $(FORMAT_SRC)

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
