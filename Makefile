# SPDX-License-Identifier: GPL-2.0-or-later
#
# One non-recursive Makefile for all of cdpfs.
#   make                 build/cdpfs, build/mount.cdpfs, build/libcdpstore.a
#   make test            unit tests (cmocka) then integration tests (real FUSE mounts)
#   make unit-test       unit tests only
#   make fuzz            libFuzzer targets (clang) in build/fuzz/; scripts/run-fuzz runs them
#   make SANITIZE=address,undefined test
#   make bench-quick     benchmark suite, small (under 5 min); make bench: full (up to 30 min)
#   make install PREFIX=/usr/local DESTDIR=
#   make install-units   only the systemd units (UNITDIR) and the drop-in example
# Objects rebuild when the flags change (build/.flags holds the last ones).

PREFIX    ?= /usr/local
SBINDIR   ?= /sbin
MANDIR    ?= $(PREFIX)/share/man
CHECKDIR  ?= $(PREFIX)/share/cdpfs/checks
SYSCONFDIR ?= /etc
PLANDIR   ?= $(SYSCONFDIR)/cdpfs/drills.d
UNITDIR   ?= $(PREFIX)/lib/systemd/system
# the cdpfs the units run (tests point it at their build)
UNIT_BINDIR ?= $(PREFIX)/bin
EXAMPLEDIR ?= $(PREFIX)/share/cdpfs/systemd
DESTDIR   ?=
BUILD     ?= build
CC        ?= cc

PKGS      := fuse3 rocksdb libzstd libcrypto libssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)
# The store (store/, its unit tests, fuzz targets and benchmarks) builds
# and links without FUSE: a store file that includes a FUSE header fails.
STORE_PKGS := rocksdb libzstd libcrypto
STORE_PKG_CFLAGS := $(shell pkg-config --cflags $(STORE_PKGS) 2>/dev/null)
STORE_PKG_LIBS   := $(shell pkg-config --libs $(STORE_PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
        -Wformat=2 -Wwrite-strings -Wundef -Wno-unused-parameter
ifeq ($(CI),true)
WARN += -Werror
endif
ifdef WERROR
WARN += -Werror
endif

OPT ?= -O2 -g
CFLAGS_ALL := -std=gnu11 $(OPT) $(WARN) -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
              -DFUSE_USE_VERSION=314 -DCDP_PREFIX='"$(PREFIX)"' \
              -DCDP_CHECKDIR='"$(CHECKDIR)"' -DCDP_PLANDIR='"$(PLANDIR)"' \
              -I. -Istore $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL := $(LDFLAGS)
ifdef SANITIZE
CFLAGS_ALL  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS_ALL += -fsanitize=$(SANITIZE)
endif
LIBS := $(PKG_LIBS) -lpthread -lm
STORE_CFLAGS_ALL := $(filter-out $(PKG_CFLAGS) -DFUSE_USE_VERSION=%,$(CFLAGS_ALL)) \
                    $(STORE_PKG_CFLAGS)
STORE_LIBS := $(STORE_PKG_LIBS) -lpthread -lm

STORE_SRC   := $(wildcard store/*.c)
CAPTURE_SRC := $(wildcard capture/*.c)
FS_SRC      := $(wildcard fs/*.c)
UTIL_SRC    := $(wildcard util/*.c)
CLI_SRC     := $(wildcard cli/*.c)
SHIP_SRC    := $(wildcard ship/*.c)
MOUNT_SRC   := $(wildcard mount-helpers/*.c)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
STORE_UNIT_SRC := $(addprefix tests/unit/test_,$(addsuffix .c,audit chunklog overlay query retain roots store timespec))
TOOL_SRC    := $(wildcard tests/tools/*.c)
BENCH_SRC   := $(wildcard scripts/bench/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBSTORE := $(BUILD)/libcdpstore.a
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(TOOL_SRC))
BENCH_BINS := $(patsubst scripts/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

all: $(BUILD)/cdpfs $(BUILD)/mount.cdpfs $(LIBSTORE) $(TOOL_BINS)

# Rebuild everything when the compiler flags change.
FLAGS_FILE := $(BUILD)/.flags
$(shell mkdir -p $(BUILD) && echo '$(CC) $(CFLAGS_ALL) $(STORE_CFLAGS_ALL) $(LDFLAGS_ALL)' > $(FLAGS_FILE).new && \
        (cmp -s $(FLAGS_FILE).new $(FLAGS_FILE) || mv $(FLAGS_FILE).new $(FLAGS_FILE)); rm -f $(FLAGS_FILE).new)

$(BUILD)/obj/%.o: %.c $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

STORE_OBJS := $(call obj,$(STORE_SRC) $(STORE_UNIT_SRC) $(BENCH_SRC))
$(STORE_OBJS): $(BUILD)/obj/%.o: %.c $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(CC) $(STORE_CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(LIBSTORE): $(call obj,$(STORE_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/cdpfs: $(call obj,$(CLI_SRC) $(CAPTURE_SRC) $(FS_SRC) $(UTIL_SRC) $(SHIP_SRC)) $(LIBSTORE)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(BUILD)/mount.cdpfs: $(call obj,$(MOUNT_SRC))
	$(CC) $(LDFLAGS_ALL) -o $@ $^

# test_cli links what build/cdpfs is made of, but cli/main.o.
$(BUILD)/tests/test_cli: $(BUILD)/obj/tests/unit/test_cli.o \
		$(call obj,$(filter-out cli/main.c,$(CLI_SRC)) $(CAPTURE_SRC) $(FS_SRC) $(UTIL_SRC) \
		$(SHIP_SRC)) $(LIBSTORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(CMOCKA_LIBS) $(LIBS)

# test_holders: the FUSE-free /proc scan of capture/
$(BUILD)/tests/test_holders: $(BUILD)/obj/tests/unit/test_holders.o $(call obj,capture/holders.c)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(CMOCKA_LIBS)

# Unit tests of capture/, fs/ and util/ link the objects they test.
$(BUILD)/tests/test_capture: $(call obj,capture/node.c capture/control.c util/mounts.c)
$(BUILD)/tests/test_fs: $(call obj,fs/spec.c fs/ll.c)
$(BUILD)/tests/test_util: $(call obj,$(UTIL_SRC))
# test_ship: the store's replica (source, sink) and ship/'s frames over TLS
$(BUILD)/tests/test_ship: $(call obj,$(SHIP_SRC) $(UTIL_SRC))
$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(LIBSTORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(CMOCKA_LIBS) $(LIBS)

$(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(STORE_UNIT_SRC)): $(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBSTORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(CMOCKA_LIBS) $(STORE_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/tools/%.o $(LIBSTORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/scripts/bench/%.o $(LIBSTORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(STORE_LIBS)

# libFuzzer targets (tests/fuzz/): clang with ASan and UBSan, objects of
# their own under $(BUILD)/fuzz so they never mix with the cc build.
FUZZ_CC     ?= clang
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer $(filter-out -Werror,$(WARN)) \
               -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DFUSE_USE_VERSION=314 \
               -DCDP_PREFIX='"$(PREFIX)"' -I. -Istore $(PKG_CFLAGS) \
               -fsanitize=fuzzer-no-link $(FUZZ_SAN)
# the store's targets (all but fuzz_spec and fuzz_size) build without FUSE
FUZZ_STORE_CFLAGS := $(filter-out $(PKG_CFLAGS) -DFUSE_USE_VERSION=%,$(FUZZ_CFLAGS)) \
                     $(STORE_PKG_CFLAGS)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
fuzzobj      = $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(1))

FUZZ_FUSE_SRC := tests/fuzz/fuzz_spec.c tests/fuzz/fuzz_size.c $(FS_SRC) cli/util.c

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(if $(filter $<,$(FUZZ_FUSE_SRC)),$(FUZZ_CFLAGS),$(FUZZ_STORE_CFLAGS)) \
	        -MMD -MP -c -o $@ $<

$(BUILD)/fuzz/fuzz_spec: $(call fuzzobj,fs/spec.c)
$(BUILD)/fuzz/fuzz_spec $(BUILD)/fuzz/fuzz_size: FUZZ_LIBS = $(LIBS)
FUZZ_LIBS ?= $(STORE_LIBS)
$(BUILD)/fuzz/fuzz_size: $(call fuzzobj,cli/util.c)
$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_%.o $(call fuzzobj,$(STORE_SRC))
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(FUZZ_LIBS)

fuzz: $(FUZZ_BINS)

unit-test: $(UNIT_BINS)
	@scripts/run-unit-tests $(UNIT_BINS)

integration-test: all
	@scripts/run-integration-tests

test: all unit-test integration-test

# Benchmarks (scripts/bench/, never part of `make test`): install their
# Debian packages, then run every case; results in bench/results/.
bench: all $(BENCH_BINS)
	@scripts/bench/run --full

bench-quick: all $(BENCH_BINS)
	@scripts/bench/run --quick

# systemd units (mount-helpers/*.service, *.timer): @BINDIR@ becomes
# UNIT_BINDIR, @PLANDIR@ PLANDIR; the PostgreSQL drop-in goes to EXAMPLEDIR
# (an example: installing it changes how PostgreSQL starts); the plans
# directory and an example plan.  Needs nothing built (tests call it alone).
SYSTEMD_UNITS := $(wildcard mount-helpers/*.service mount-helpers/*.timer)
DROPIN_SRC := mount-helpers/postgresql@15-main.cdpfs-capture.conf

install-units: $(SYSTEMD_UNITS) $(DROPIN_SRC)
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(EXAMPLEDIR)/postgresql@15-main.service.d \
		$(DESTDIR)$(PLANDIR) $(DESTDIR)$(PREFIX)/share/cdpfs
	for u in $(SYSTEMD_UNITS); do \
		sed -e 's|@BINDIR@|$(UNIT_BINDIR)|g' -e 's|@PLANDIR@|$(PLANDIR)|g' "$$u" \
			>"$(DESTDIR)$(UNITDIR)/$${u##*/}" && \
		chmod 0644 "$(DESTDIR)$(UNITDIR)/$${u##*/}" || exit 1; \
	done
	sed -e 's|@BINDIR@|$(UNIT_BINDIR)|g' $(DROPIN_SRC) \
		>$(DESTDIR)$(EXAMPLEDIR)/postgresql@15-main.service.d/cdpfs-capture.conf
	install -m 0644 scripts/plans/example.conf $(DESTDIR)$(PREFIX)/share/cdpfs/drill-plan.example.conf

install: all install-units
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man5
	install -m 0755 $(BUILD)/cdpfs $(DESTDIR)$(PREFIX)/bin/cdpfs
	install -m 0755 $(BUILD)/mount.cdpfs $(DESTDIR)$(SBINDIR)/mount.cdpfs
	install -m 0644 docs/man/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 docs/man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -d $(DESTDIR)$(CHECKDIR)
	install -m 0755 scripts/checks/postgres scripts/checks/mariadb scripts/checks/sqlite \
	        scripts/checks/files $(DESTDIR)$(CHECKDIR)/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/cdpfs $(DESTDIR)$(SBINDIR)/mount.cdpfs \
	      $(DESTDIR)$(MANDIR)/man8/cdpfs.8 $(DESTDIR)$(MANDIR)/man8/mount.cdpfs.8 \
	      $(DESTDIR)$(MANDIR)/man8/cdpfs-drill.8 $(DESTDIR)$(MANDIR)/man5/cdpfs.conf.5 \
	      $(DESTDIR)$(MANDIR)/man8/cdpfs-serve.8 \
	      $(DESTDIR)$(CHECKDIR)/postgres $(DESTDIR)$(CHECKDIR)/mariadb \
	      $(DESTDIR)$(CHECKDIR)/sqlite $(DESTDIR)$(CHECKDIR)/files \
	      $(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(SYSTEMD_UNITS))) \
	      $(DESTDIR)$(EXAMPLEDIR)/postgresql@15-main.service.d/cdpfs-capture.conf \
	      $(DESTDIR)$(PREFIX)/share/cdpfs/drill-plan.example.conf
	-rmdir $(DESTDIR)$(EXAMPLEDIR)/postgresql@15-main.service.d $(DESTDIR)$(EXAMPLEDIR) \
	       $(DESTDIR)$(CHECKDIR) $(DESTDIR)$(PREFIX)/share/cdpfs $(DESTDIR)$(PLANDIR) 2>/dev/null

clean:
	rm -rf $(BUILD)

.PHONY: all test unit-test integration-test fuzz bench bench-quick install install-units uninstall clean
.SECONDARY:
-include $(shell find $(BUILD)/obj $(BUILD)/fuzz/obj -name '*.d' 2>/dev/null)
