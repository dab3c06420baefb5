# labmail - webmail bridge for the SMTP lab.
#
#   make            build build/labmail
#   make run        install what is missing, build, serve on 127.0.0.1:8080
#   make check      install what is missing, build, run every test
#   make bench      benchmarks against peers (nginx, smtp-source), as ratios
#   make install    PREFIX=/usr/local DESTDIR= (binary, web/, static/, man)
#
# SANITIZE=1 builds into build-san/ with AddressSanitizer and UBSan.

CC	?= cc
PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/sbin
DATADIR	?= $(PREFIX)/share/labmail
MANDIR	?= $(PREFIX)/share/man
PYTHON	?= /usr/bin/python3

VERSION	 = 0.1.0
PKGS	 = glib-2.0 gmime-3.0 libcmark libmicrohttpd pam

CFLAGS	?= -O2 -g
WARN	 = -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wpointer-arith -Wformat=2
ifeq ($(SANITIZE),1)
B	 = build-san
HARDEN	 = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	   -fno-omit-frame-pointer
LDHARDEN = -fsanitize=address,undefined
else
B	 = build
HARDEN	 = -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
LDHARDEN = -pie -Wl,-z,relro,-z,now
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = $(WARN) $(HARDEN) $(CFLAGS) $(PKG_CFLAGS) \
	     -DLABMAIL_VERSION='"$(VERSION)"' -DLABMAIL_DATADIR='"$(DATADIR)"'
ALL_LDFLAGS = $(LDHARDEN) $(LDFLAGS)

# Every module but main.c goes into a library that the unit tests link.
SRCS	 = $(filter-out src/main.c,$(wildcard src/*.c))
OBJS	 = $(SRCS:src/%.c=$(B)/%.o)
UNIT	 = $(patsubst tests/unit/%.c,$(B)/%,$(wildcard tests/unit/test_*.c))

# Debian packages: to build, to run the tests, to benchmark.
DEPS_BUILD = gcc make pkg-config libglib2.0-dev libgmime-3.0-dev \
	     libcmark-dev libmicrohttpd-dev libpam0g-dev libcmocka-dev
# Node.js may come from elsewhere than Debian (with its own npm): then
# only Debian's chromium is needed for the browser test.
DEPS_NODE  = $(if $(shell command -v node),,nodejs) \
	     $(if $(shell command -v npm),,npm)
DEPS_CHECK = $(DEPS_BUILD) python3 postfix mailutils curl nginx-light \
	     chromium valgrind $(DEPS_NODE)
DEPS_BENCH = $(DEPS_CHECK) wrk

.PHONY: all run check check-unit check-san bench deps deps-check deps-bench \
	install uninstall clean

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

run: deps
	$(MAKE) all
	./$(B)/labmail $(RUN_ARGS)

check: deps-check tests/browser/node_modules
	$(MAKE) all $(UNIT)
	$(PYTHON) tests/run.py --build $(B)

# playwright-core drives Debian's chromium; it downloads no browser.
tests/browser/node_modules: tests/browser/package.json
	cd tests/browser && npm install --no-audit --no-fund --loglevel=error
	touch $@

check-unit: $(UNIT)
	$(PYTHON) tests/run.py --build $(B) --unit-only

check-san:
	$(MAKE) check SANITIZE=1

bench: deps-bench
	$(MAKE) all
	$(PYTHON) tests/bench/run.py --build $(B)

# The system user the web process drops to is made only on a real
# install (no DESTDIR), by root.
install: $(B)/labmail
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR) \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)/etc/pam.d
	install -m 755 $(B)/labmail $(DESTDIR)$(BINDIR)/labmail
	cp -R web static $(DESTDIR)$(DATADIR)/
	install -m 644 src/labmail.8 $(DESTDIR)$(MANDIR)/man8/labmail.8
	install -m 644 web/pam/labmail $(DESTDIR)/etc/pam.d/labmail
	if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && \
	    ! getent passwd labmail >/dev/null; then \
		useradd --system --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin labmail; \
	fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/labmail $(DESTDIR)$(MANDIR)/man8/labmail.8
	rm -f $(DESTDIR)/etc/pam.d/labmail
	rm -rf $(DESTDIR)$(DATADIR)

clean:
	rm -rf build build-san
