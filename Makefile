# labmail - webmail bridge for the SMTP lab.
#
#   make            build build/labmail
#   make run        install what is missing, build, serve on 127.0.0.1:8080
#   make check      install what is missing, build, run every test
#   make bench      benchmarks against peers (nginx, smtp-source), as ratios
#   make fuzz       libFuzzer on every parser, FUZZ_SECONDS (60) each
#   make install    PREFIX=/usr/local DESTDIR= (binary, web/, static/, man,
#                   /etc/labmail/labmail.conf, PAM, systemd units)
#
# SANITIZE=1 builds into build-san/ with AddressSanitizer and UBSan;
# FUZZING=1 (what make fuzz uses) into build-fuzz/ with clang, libFuzzer's
# coverage, ASan and UBSan.

CC	?= cc
PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/sbin
DATADIR	?= $(PREFIX)/share/labmail
MANDIR	?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
PYTHON	?= /usr/bin/python3

VERSION	 = 0.1.0
PKGS	 = glib-2.0 gmime-3.0 libcmark libmicrohttpd pam gnutls libxcrypt

CFLAGS	?= -O2 -g
WARN	 = -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wpointer-arith -Wformat=2
FUZZ_CC	?= clang
ifeq ($(FUZZING),1)
B	 = build-fuzz
CC	 = $(FUZZ_CC)
# clang, unlike gcc, warns about a struct initialiser that leaves its
# last fields out (config.c's option table does, on purpose: NULL).
HARDEN	 = -fsanitize=fuzzer-no-link,address,undefined \
	   -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
	   -Wno-missing-field-initializers
LDHARDEN = -fsanitize=address,undefined
else ifeq ($(SANITIZE),1)
B	 = build-san
HARDEN	 = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	   -fno-omit-frame-pointer
# ASan intercepts crypt(3); libcrypt must then be loaded at start-up, or
# the interceptor finds no real crypt when PAM's pam_unix.so loads it.
LDHARDEN = -fsanitize=address,undefined -Wl,--no-as-needed -lcrypt \
	   -Wl,--as-needed
else
B	 = build
HARDEN	 = -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
LDHARDEN = -pie -Wl,-z,relro,-z,now
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libfcgi has no pkg-config file.
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lfcgi
ALL_CFLAGS = $(WARN) $(HARDEN) $(CFLAGS) $(PKG_CFLAGS) \
	     -DLABMAIL_VERSION='"$(VERSION)"' -DLABMAIL_DATADIR='"$(DATADIR)"' \
	     -DLABMAIL_CGI_CONFIG='"$(SYSCONFDIR)/labmail/labmail.conf"'
ALL_LDFLAGS = $(LDHARDEN) $(LDFLAGS)

# Every module but main.c goes into a library that the unit tests link.
SRCS	 = $(filter-out src/main.c,$(wildcard src/*.c))
OBJS	 = $(SRCS:src/%.c=$(B)/%.o)
UNIT	 = $(patsubst tests/unit/%.c,$(B)/%,$(wildcard tests/unit/test_*.c))
# Fuzz targets, tests/fuzz/fuzz_NAME.c: each is also built with
# tests/fuzz/replay.c as replay_NAME, which make check runs over the
# target's corpus, tests/fuzz/corpus/NAME/.
FUZZERS	 = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
REPLAY	 = $(FUZZERS:%=$(B)/replay_%)
FUZZ_SECONDS ?= 60

# Debian packages: to build, to run the tests, to benchmark.
DEPS_BUILD = gcc make pkg-config libglib2.0-dev libgmime-3.0-dev \
	     libcmark-dev libmicrohttpd-dev libpam0g-dev libfcgi-dev libgnutls28-dev \
	     libcmocka-dev libcrypt-dev
# Node.js may come from elsewhere than Debian (with its own npm): then
# only Debian's chromium is needed for the browser test.
DEPS_NODE  = $(if $(shell command -v node),,nodejs) \
	     $(if $(shell command -v npm),,npm)
DEPS_CHECK = $(DEPS_BUILD) python3 postfix mailutils curl openssl nginx-light \
	     lighttpd apache2-bin spawn-fcgi chromium valgrind $(DEPS_NODE)
DEPS_BENCH = $(DEPS_CHECK) wrk
DEPS_FUZZ  = $(DEPS_BUILD) clang libclang-rt-14-dev

.PHONY: all run check check-unit check-san bench fuzz fuzz-run deps deps-check \
	deps-bench deps-fuzz install uninstall check-install clean

all: $(B)/labmail

$(B)/%.o: src/%.c src/*.h | $(B)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/liblabmail.a: $(OBJS)
	$(AR) rcs $@ $^

$(B)/labmail: $(B)/main.o $(B)/liblabmail.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/test_%: tests/unit/test_%.c $(B)/liblabmail.a
	$(CC) $(ALL_CFLAGS) -Isrc $(shell pkg-config --cflags cmocka) \
	    $(ALL_LDFLAGS) -o $@ $< $(B)/liblabmail.a $(PKG_LIBS) \
	    $(shell pkg-config --libs cmocka)

$(B)/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/init.c \
    tests/fuzz/fuzz.h $(B)/liblabmail.a
	$(CC) $(ALL_CFLAGS) -Isrc $(ALL_LDFLAGS) -o $@ tests/fuzz/replay.c \
	    tests/fuzz/init.c $< $(B)/liblabmail.a $(PKG_LIBS)

$(B)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/init.c tests/fuzz/fuzz.h \
    $(B)/liblabmail.a
	$(CC) $(ALL_CFLAGS) -Isrc -fsanitize=fuzzer $(ALL_LDFLAGS) -o $@ \
	    tests/fuzz/init.c $< $(B)/liblabmail.a $(PKG_LIBS)

$(B):
	mkdir -p $@

# deps: install the Debian packages that are missing (as root), else say
# which ones to install.  Idempotent; make run, make check and CI use it.
define install_missing
	@missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	    grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
		echo "labmail: installing $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		    apt-get install -y -qq $$missing >/dev/null || exit 1; \
	    else \
		echo "labmail: please run: sudo apt-get install $$missing"; \
		exit 1; \
	    fi; \
	fi
endef

deps:
	$(call install_missing,$(DEPS_BUILD))
deps-check:
	$(call install_missing,$(DEPS_CHECK))
deps-bench:
	$(call install_missing,$(DEPS_BENCH))
deps-fuzz:
	$(call install_missing,$(DEPS_FUZZ))

run: deps
	$(MAKE) all
	./$(B)/labmail $(RUN_ARGS)

check: deps-check tests/browser/node_modules
	$(MAKE) all $(UNIT) $(REPLAY)
	$(PYTHON) tests/run.py --build $(B)

# playwright-core drives Debian's chromium; it downloads no browser.
tests/browser/node_modules: tests/browser/package.json
	cd tests/browser && npm install --no-audit --no-fund --loglevel=error
	touch $@

check-unit: $(UNIT) $(REPLAY)
	$(PYTHON) tests/run.py --build $(B) --unit-only

check-san:
	$(MAKE) check SANITIZE=1

bench: deps-bench
	$(MAKE) all
	$(PYTHON) tests/bench/run.py --build $(B)

# Each target searches for FUZZ_SECONDS from its corpus (what it finds
# goes to build-fuzz/corpus/NAME, not into git); a crash stops with the
# input in build-fuzz/crash-NAME-*.  Add that input to
# tests/fuzz/corpus/NAME/ with the fix, and make check replays it.
# CC on the command line would win over FUZZING's: name the compiler.
fuzz: deps-fuzz
	$(MAKE) FUZZING=1 CC=$(FUZZ_CC) fuzz-run

fuzz-run: $(FUZZERS:%=$(B)/fuzz_%)
	@for t in $(FUZZERS); do \
	    mkdir -p $(B)/corpus/$$t; \
	    echo "labmail: fuzz_$$t for $(FUZZ_SECONDS) s"; \
	    $(B)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		-artifact_prefix=$(B)/crash-$$t- $(B)/corpus/$$t \
		tests/fuzz/corpus/$$t 2>$(B)/fuzz_$$t.log || { \
		tail -40 $(B)/fuzz_$$t.log; exit 1; }; \
	    grep -E '^stat::number_of_executed_units|^stat::new_units_added' \
		$(B)/fuzz_$$t.log; \
	done

# make install: the binary, web/ and static/, the man pages, the PAM
# service, a commented /etc/labmail/labmail.conf (never overwritten) and
# the systemd units.  Units go where systemd looks for those that no
# package owns: $(PREFIX)/lib/systemd/system, i.e. /usr/local/lib/...
# for the default PREFIX (systemd.unit(5)); dpkg owns /lib/systemd and
# /usr/lib/systemd, which PREFIX=/usr (a package build) gives.  The
# state directory, /var/lib/labmail, is made by labmail itself (and by
# the unit's StateDirectory=).
UNITDIR	?= $(PREFIX)/lib/systemd/system
UNITS	 = labmail.service labmail-fcgi.service labmail-fcgi.socket
CONF	 = $(DESTDIR)$(SYSCONFDIR)/labmail/labmail.conf
PAMFILE	 = $(DESTDIR)/etc/pam.d/labmail
SUBST	 = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'
SYSTEMD_RUNNING = [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]

# Remove file $(1) only if it is one of the files $(2) as shipped: an
# admin's changes are kept (as dpkg keeps a changed conffile).
define remove_unchanged
	@if [ -f $(1) ]; then \
	    for ref in $(2); do \
		if cmp -s "$$ref" $(1); then rm -f $(1); break; fi; \
	    done; \
	    if [ -f $(1) ]; then echo "labmail: keeping $(1) (changed)"; fi; \
	fi
endef

# The system user the web process drops to is made only on a real
# install (no DESTDIR), by root.
install: $(B)/labmail
	@# The binary finds web/ and static/ in the DATADIR it was built with.
	@$(B)/labmail --help | grep -qF 'else $(DATADIR))' || { \
	    echo "labmail: $(B)/labmail was built for another DATADIR" \
		"than $(DATADIR): make clean, then make install with the" \
		"same PREFIX and DATADIR as make" >&2; exit 1; }
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR) \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)/etc/pam.d $(DESTDIR)$(SYSCONFDIR)/labmail \
	    $(DESTDIR)$(UNITDIR)
	install -m 755 $(B)/labmail $(DESTDIR)$(BINDIR)/labmail
	rm -rf $(DESTDIR)$(DATADIR)/web $(DESTDIR)$(DATADIR)/static
	cp -R web static $(DESTDIR)$(DATADIR)/
	chmod -R u=rwX,go=rX $(DESTDIR)$(DATADIR)
	install -m 644 src/labmail.8 $(DESTDIR)$(MANDIR)/man8/labmail.8
	install -m 644 src/labmail.conf.5 $(DESTDIR)$(MANDIR)/man5/labmail.conf.5
	install -m 644 web/pam/labmail $(PAMFILE)
	@if [ -e $(CONF) ]; then echo "labmail: keeping $(CONF)"; \
	else echo "install -m 644 web/labmail.conf $(CONF)"; \
	    install -m 644 web/labmail.conf $(CONF); fi
	for u in $(UNITS); do \
	    $(SUBST) web/systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u.tmp && \
	    chmod 644 $(DESTDIR)$(UNITDIR)/$$u.tmp && \
	    mv $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && \
	    ! getent passwd labmail >/dev/null; then \
		useradd --system --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin labmail; \
	fi
	@if $(SYSTEMD_RUNNING); then systemctl daemon-reload; \
	    echo "labmail: start it with: systemctl enable --now labmail.service"; \
	fi

# What install added, and nothing else: a changed labmail.conf or PAM
# file stays, as do the labmail user and /var/lib/labmail (the session
# key), as a package's would until a purge.
uninstall:
	@if $(SYSTEMD_RUNNING); then \
	    systemctl disable --now $(UNITS) 2>/dev/null || true; fi
	rm -f $(DESTDIR)$(BINDIR)/labmail
	rm -f $(DESTDIR)$(MANDIR)/man8/labmail.8 \
	    $(DESTDIR)$(MANDIR)/man5/labmail.conf.5
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$u; done
	$(call remove_unchanged,$(CONF),$(DESTDIR)$(DATADIR)/web/labmail.conf web/labmail.conf)
	$(call remove_unchanged,$(PAMFILE),$(DESTDIR)$(DATADIR)/web/pam/labmail web/pam/labmail)
	@rmdir $(DESTDIR)$(SYSCONFDIR)/labmail 2>/dev/null || true
	rm -rf $(DESTDIR)$(DATADIR)
	@if $(SYSTEMD_RUNNING); then systemctl daemon-reload; fi

# check-install DESTDIR=...: check an installed tree: the units with
# systemd-analyze verify (ExecStart= pointed into DESTDIR for it), the
# installed config with the installed binary, the man pages with groff.
check-install:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	if command -v systemd-analyze >/dev/null; then \
	    for u in $(UNITS); do \
		sed 's|^\(Exec[A-Za-z]*=\)$(BINDIR)/|\1$(abspath $(DESTDIR)$(BINDIR))/|' \
		    $(DESTDIR)$(UNITDIR)/$$u > "$$tmp/$$u"; \
	    done; \
	    (cd "$$tmp" && systemd-analyze verify --man=no $(UNITS)) \
		> "$$tmp/verify" 2>&1 || true; \
	    if [ -s "$$tmp/verify" ]; then cat "$$tmp/verify" >&2; exit 1; fi; \
	    echo "labmail: units verified"; \
	else echo "labmail: no systemd-analyze, units not verified"; fi; \
	$(DESTDIR)$(BINDIR)/labmail --config $(CONF) \
	    --data-dir $(DESTDIR)$(DATADIR) --check-config >/dev/null; \
	echo "labmail: $(CONF) checked"; \
	for m in $(DESTDIR)$(MANDIR)/man8/labmail.8 \
	    $(DESTDIR)$(MANDIR)/man5/labmail.conf.5; do \
	    LC_ALL=C.UTF-8 groff -mandoc -ww -z $$m 2>&1 | tee "$$tmp/man"; \
	    if [ -s "$$tmp/man" ]; then exit 1; fi; \
	done; \
	echo "labmail: man pages checked"

clean:
	rm -rf build build-san build-fuzz
