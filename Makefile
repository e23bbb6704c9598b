# cosmos - run video-generation jobs on remote GPUs from the shell.
#
#   make            build every program into bin/
#   make demo       build, then run the demo (share/cosmos/demo)
#   make check      install test packages, run the bats suite, then again
#                   under AddressSanitizer + UBSan, then every fuzz harness
#                   over its corpus and a short smoke run (FUZZ_RUNS each)
#   make fuzz       libFuzzer (clang) on every parser of untrusted input
#                   (t/fuzz/*.c), FUZZ_TIME seconds each (default 60), one
#                   after another; FUZZ=NAME runs one.  Inputs it finds are
#                   kept in build/fuzz/corpus/, crashes in build/fuzz/
#   make bench      benchmarks (t/bench/), printing ratios to baselines
#   make faults     the fault suite (t/faults.bats) in full: submit, sync and
#                   batch SIGKILLed 100 times each (FAULT_N) on this machine
#                   and on the SSH test host, a full and a read-only store,
#                   cut connections, a mute host; prints the figures (kills
#                   tried / landed / survived / failed).  `make check` runs
#                   the same file with 10 kills each
#   make screenshot the README's picture of the gallery (headless Chromium)
#   make install    PREFIX (/usr/local) and DESTDIR honoured

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
PKG_CONFIG ?= pkg-config

PROGS   = cosmos cosmos-spec cosmos-manifest cosmos-submit cosmos-sync cosmos-batch cosmos-gallery cosmos-prepare
LIBSRC  = lib/backend.c lib/backend_shell.c lib/backend_slurm.c lib/util.c lib/store.c lib/input.c lib/record.c lib/shell.c lib/host.c lib/ssh.c lib/local.c lib/remote.c lib/progress.c lib/enhance.c lib/batch.c lib/retry.c lib/packed.c lib/finish.c lib/job.c lib/transfer25.c lib/feed.c \
          lib/http.c lib/backend_http.c lib/provider_gemini.c lib/provider_replicate.c lib/housekeep.c
TESTS   = storetool shq put
PKGS    = libcjson libssh2 libcrypto libcurl

# Debian packages: the build and the demo (the reference engine is ffmpeg;
# GPU slots need flock(1), util-linux's), then what only the tests and the
# benchmarks need.  make demo installs the first list alone.
DEMO_DEBS = build-essential pkg-config libcjson-dev libssh2-1-dev libcurl4-openssl-dev \
       libssl-dev jq ffmpeg util-linux
DEBS = $(DEMO_DEBS) bats bats-support bats-assert bats-file openssh-server \
       mandoc strace bc python3 slurmctld slurmd slurm-client munge chromium \
       clang libclang-rt-14-dev

# BUILD holds objects and test helpers; BINDIR the programs.  The sanitizer
# build uses its own pair so both can coexist.
BUILD  ?= build
BINDIR ?= bin
LIBA   ?= lib/libcosmos.a

CFLAGS   ?= -O2 -g
WARN      = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Wvla
CPPFLAGS += -D_POSIX_C_SOURCE=200809L -Ilib
ALL_CFLAGS = $(WARN) $(CPPFLAGS) $(shell $(PKG_CONFIG) --cflags $(PKGS)) $(CFLAGS)
LDLIBS   += $(shell $(PKG_CONFIG) --libs $(PKGS)) -lm

SAN = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 \
           LSAN_OPTIONS=suppressions=$(CURDIR)/t/lsan.supp:print_suppressions=0 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

LIBOBJ  = $(LIBSRC:lib/%.c=$(BUILD)/lib/%.o)
HEADERS = $(wildcard lib/*.h)

.PHONY: all demo check test test-asan asan deps deps-demo bench faults install uninstall clean screenshot fuzz fuzz-build fuzz-check

all: $(PROGS:%=$(BINDIR)/%) $(TESTS:%=$(BUILD)/t/%)

$(BUILD)/lib/%.o: lib/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/src/%.o: src/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBA): $(LIBOBJ)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $(LIBOBJ)

$(BINDIR)/%: $(BUILD)/src/%.o $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

$(BUILD)/t/%: t/helpers/%.c $(LIBA) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

demo: deps-demo all
	PATH="$(CURDIR)/$(BINDIR):$$PATH" sh share/cosmos/demo

deps-demo:
	@$(MAKE) -s deps DEBS="$(DEMO_DEBS)"

# Installs what is missing, and nothing when everything is there.
deps:
	@missing=$$(for p in $(DEBS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing" $$missing >&2; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >&2; \
	fi

asan:
	$(MAKE) BUILD=build/asan BINDIR=build/asan/bin LIBA=build/asan/libcosmos.a \
	    CFLAGS="$(SAN)" LDFLAGS="-fsanitize=address,undefined" all
	ln -sfn ../../share build/asan/share

# TAP output, so that .ci/run can count it.
test: all
	COSMOS_BIN=$(CURDIR)/$(BINDIR) COSMOS_TESTBIN=$(CURDIR)/$(BUILD)/t \
	    bats --timing --formatter tap t

test-asan: asan
	$(ASAN_ENV) COSMOS_BIN=$(CURDIR)/build/asan/bin COSMOS_TESTBIN=$(CURDIR)/build/asan/t \
	    COSMOS_SANITIZED=1 bats --timing --formatter tap t

check: deps
	@rc=0; \
	$(MAKE) test || rc=1; \
	echo "# the same suite under AddressSanitizer + UBSan"; \
	$(MAKE) test-asan || rc=1; \
	echo "# every fuzz harness over its corpus, and a smoke run"; \
	$(MAKE) fuzz-check || rc=1; \
	exit $$rc

# Fuzzing: a harness per parser of untrusted input (t/fuzz/NAME.c, its
# seed corpus in t/fuzz/corpus/NAME/), built by clang with libFuzzer,
# ASan and UBSan against the library built the same way in build/fuzz.
# provider.c is built once per provider.
FUZZ_CC   ?= clang
FUZZ_TIME ?= 60
FUZZ_RUNS ?= 5000
FUZZ_DIR   = build/fuzz
FUZZ_SAN   = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZERS    = request record hosts ssh_config ssh_G status enhance gemini replicate header feed
FUZZ_CFLAGS = $(WARN) $(CPPFLAGS) $(shell $(PKG_CONFIG) --cflags $(PKGS)) $(FUZZ_SAN)
FUZZ_OBJ   = $(LIBSRC:lib/%.c=$(FUZZ_DIR)/lib/%.o)

$(FUZZ_DIR)/lib/%.o: lib/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/libcosmos.a: $(FUZZ_OBJ)
	rm -f $@
	$(AR) rcs $@ $(FUZZ_OBJ)

$(FUZZ_DIR)/gemini $(FUZZ_DIR)/replicate: $(FUZZ_DIR)/%: t/fuzz/provider.c t/fuzz/fuzz.h $(FUZZ_DIR)/libcosmos.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -DPROVIDER=provider_$* -fsanitize=fuzzer -o $@ $< $(FUZZ_DIR)/libcosmos.a $(LDLIBS)

$(FUZZ_DIR)/%: t/fuzz/%.c t/fuzz/fuzz.h $(FUZZ_DIR)/libcosmos.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_DIR)/libcosmos.a $(LDLIBS)

fuzz-build: $(FUZZERS:%=$(FUZZ_DIR)/%)

# TAP lines ("ok N fuzz NAME"), so that .ci/run counts them.
fuzz-check: fuzz-build
	$(ASAN_ENV) sh t/fuzz/run -r $(FUZZ_RUNS) $(FUZZ_DIR) $(FUZZERS)

fuzz: deps fuzz-build
	$(ASAN_ENV) sh t/fuzz/run -t $(FUZZ_TIME) $(FUZZ_DIR) $(or $(FUZZ),$(FUZZERS))

# The README's picture of the gallery, taken anew in headless Chromium.
screenshot: deps all
	bash t/screenshot.sh share/cosmos/gallery/screenshot.png

bench: deps all
	COSMOS_BIN=$(CURDIR)/$(BINDIR) sh t/bench/run

FAULT_N ?= 100
faults: deps all
	@rm -f $(BUILD)/faults.txt
	@rc=0; COSMOS_BIN=$(CURDIR)/$(BINDIR) COSMOS_TESTBIN=$(CURDIR)/$(BUILD)/t FAULT_N=$(FAULT_N) \
	    FAULT_REPORT=$(CURDIR)/$(BUILD)/faults.txt bats --formatter tap t/faults.bats || rc=1; \
	echo "# the figures:"; cat $(BUILD)/faults.txt 2>/dev/null; exit $$rc

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/cosmos \
	    $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man7 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 755 $(PROGS:%=$(BINDIR)/%) $(DESTDIR)$(PREFIX)/bin/
	cp -R share/cosmos/. $(DESTDIR)$(PREFIX)/share/cosmos/
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/*.7 $(DESTDIR)$(PREFIX)/share/man/man7/
	install -m 644 share/bash-completion/completions/cosmos $(DESTDIR)$(PREFIX)/share/bash-completion/completions/

uninstall:
	rm -f $(PROGS:%=$(DESTDIR)$(PREFIX)/bin/%) $(DESTDIR)$(PREFIX)/share/bash-completion/completions/cosmos
	rm -f $(PROGS:%=$(DESTDIR)$(PREFIX)/share/man/man1/%.1) $(DESTDIR)$(PREFIX)/share/man/man7/cosmos.7
	rm -rf $(DESTDIR)$(PREFIX)/share/cosmos

clean:
	rm -rf build $(LIBA) $(PROGS:%=$(BINDIR)/%)
.SECONDARY:
