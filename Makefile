# mod_slotproxy + execd -- build, test, install.
#
#   make            build the common library, execd, its example handlers
#                   and mod_slotproxy.so (with apxs)
#   make test       install missing build/test dependencies (as root),
#                   build, run the unit and integration tests
#   make demo       build and start execd + Apache on 127.0.0.1:8080
#   make demo-stop  stop them
#   make install    PREFIX=/usr/local DESTDIR=
#
# Flags come from apxs -q, apr-1-config, apu-1-config and pkg-config.

APXS       ?= $(shell command -v apxs 2>/dev/null || command -v apxs2 2>/dev/null || echo apxs)
APR_CONFIG ?= apr-1-config
APU_CONFIG ?= apu-1-config
PKG_CONFIG ?= pkg-config
PREFIX     ?= /usr/local
DESTDIR    ?=
B          := build
comma      := ,

APR_CFLAGS := $(shell $(APR_CONFIG) --cflags --cppflags --includes 2>/dev/null)
APR_LIBS   := $(shell $(APR_CONFIG) --link-ld --libs 2>/dev/null)
APU_CFLAGS := $(shell $(APU_CONFIG) --includes 2>/dev/null)
APU_LIBS   := $(shell $(APU_CONFIG) --link-ld 2>/dev/null)
SSL_CFLAGS := $(shell $(PKG_CONFIG) --cflags libssl libcrypto 2>/dev/null)
SSL_LIBS   := $(shell $(PKG_CONFIG) --libs libssl libcrypto 2>/dev/null || echo -lssl -lcrypto)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)
AP_INCLUDEDIR := $(shell $(APXS) -q INCLUDEDIR 2>/dev/null)
AP_LIBEXECDIR := $(shell $(APXS) -q LIBEXECDIR 2>/dev/null)

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter
ifeq ($(SANITIZE),1)
# A build of its own, so that a sanitized and a plain build never mix.
B       := build-san
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer
SAN_ENV := SP_BUILD=$(abspath $(B)) SP_SANITIZE=1 \
           APACHE_BIN=$(abspath $(B))/apache2-san
endif
BASE_CFLAGS := -std=gnu11 $(WARN) -fPIC $(SAN) $(APR_CFLAGS) $(APU_CFLAGS) \
               $(SSL_CFLAGS) -Icommon
ALL_CFLAGS  := $(BASE_CFLAGS) $(CFLAGS)

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/obj/%.o)
COMMON_LIB := $(B)/libspcommon.a

EXECD_SRC  := $(wildcard execd/*.c)
EXECD_OBJ  := $(EXECD_SRC:%.c=$(B)/obj/%.o)
HANDLER_SRC := $(wildcard execd/handlers/*.c)
HANDLERS   := $(HANDLER_SRC:execd/handlers/%.c=$(B)/handlers/%.so)

MOD_SRC    := $(wildcard mod_slotproxy/*.c)
MOD_SO     := $(B)/mod_slotproxy.so

UNIT_SRC   := $(wildcard t/unit/*.c)
UNIT_BIN   := $(B)/t/unit_tests
TEST_HELPERS_SRC := $(wildcard t/tools/*.c)
TEST_HELPERS := $(TEST_HELPERS_SRC:t/tools/%.c=$(B)/t/%)

.PHONY: all deps test unit integration demo demo-stop install clean check-deps
all: $(COMMON_LIB) $(B)/execd $(HANDLERS) $(MOD_SO)

deps:
	@scripts/deps.sh

check-deps:
	@scripts/deps.sh --check

$(B)/obj/%.o: %.c $(wildcard common/*.h execd/*.h) | $(B)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iexecd -c $< -o $@

$(B):
	@mkdir -p $(B)

$(COMMON_LIB): $(COMMON_OBJ)
	rm -f $@ && ar rcs $@ $^

# -rdynamic: handler modules call the execd_* API defined in execd itself.
$(B)/execd: $(EXECD_OBJ) $(COMMON_LIB)
	$(CC) $(SAN) -rdynamic -o $@ $(EXECD_OBJ) $(COMMON_LIB) $(APU_LIBS) \
	      $(APR_LIBS) $(SSL_LIBS) -ldl

$(B)/handlers/%.so: execd/handlers/%.c execd/execd_api.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iexecd -shared -o $@.tmp $< $(SSL_LIBS) && mv -f $@.tmp $@

# apxs compiles beside the sources (its way); the objects are ignored by git.
$(MOD_SO): $(MOD_SRC) $(wildcard mod_slotproxy/*.h) $(COMMON_LIB)
	$(APXS) -c -o mod_slotproxy/mod_slotproxy.la \
	    -Wc,"-std=gnu11 $(WARN) $(SAN) $(CFLAGS)" -Icommon \
	    $(MOD_SRC) -Wl,"$(abspath $(COMMON_LIB))",$(subst $(eval) ,$(comma),$(strip $(SSL_LIBS))) >$(B)/apxs.log 2>&1 \
	    || { cat $(B)/apxs.log; exit 1; }
	@grep -E '(warning|error):' $(B)/apxs.log || true
	cp mod_slotproxy/.libs/mod_slotproxy.so $@.tmp && mv -f $@.tmp $@

$(UNIT_BIN): $(UNIT_SRC) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -o $@ $(UNIT_SRC) $(COMMON_LIB) \
	      $(CHECK_LIBS) $(APU_LIBS) $(APR_LIBS) $(SSL_LIBS)

$(B)/t/%: t/tools/%.c $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(COMMON_LIB) $(APU_LIBS) $(APR_LIBS) $(SSL_LIBS)

test: deps
	$(MAKE) all $(UNIT_BIN) $(TEST_HELPERS) $(if $(SAN),$(B)/apache2-san)
	@$(SAN_ENV) t/run_tests.sh

# Apache is not built with the sanitizers: preload their runtimes so that
# it can load the sanitized module.
$(B)/apache2-san: | $(B)
	printf '#!/bin/sh\nLD_PRELOAD="%s %s" exec /usr/sbin/apache2 "$$@"\n' \
	    "$$($(CC) -print-file-name=libasan.so)" \
	    "$$($(CC) -print-file-name=libubsan.so)" > $@ && chmod 755 $@

unit: $(UNIT_BIN)
	@$(UNIT_BIN)

integration: all $(TEST_HELPERS)
	@$(SAN_ENV) t/run_tests.sh --integration-only

demo: deps
	$(MAKE) all
	@scripts/demo.sh start

demo-stop:
	@scripts/demo.sh stop

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib/execd \
	    $(DESTDIR)$(PREFIX)/include/execd $(DESTDIR)$(PREFIX)/share/doc/slotproxy \
	    $(DESTDIR)$(PREFIX)/lib/apache2/modules $(DESTDIR)$(PREFIX)/etc/execd
	install -m 755 $(B)/execd $(DESTDIR)$(PREFIX)/sbin/execd
	install -m 644 $(HANDLERS) $(DESTDIR)$(PREFIX)/lib/execd/
	install -d $(DESTDIR)$(PREFIX)/lib/execd/cgi-bin
	install -m 755 conf/demo/cgi-bin/* $(DESTDIR)$(PREFIX)/lib/execd/cgi-bin/
	install -m 644 execd/execd_api.h $(DESTDIR)$(PREFIX)/include/execd/
	install -m 644 $(MOD_SO) $(DESTDIR)$(PREFIX)/lib/apache2/modules/
	install -m 644 conf/execd.conf.example conf/slotproxy.conf.example \
	    $(DESTDIR)$(PREFIX)/etc/execd/
	install -m 644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/slotproxy/

clean:
	rm -rf build build-san mod_slotproxy/*.lo mod_slotproxy/*.slo mod_slotproxy/*.o \
	       mod_slotproxy/*.la mod_slotproxy/.libs

# --- benchmark (t/bench/): `make bench` builds everything, then t/bench/run.sh
# installs what it lacks (wrk, libfcgi-dev), builds the rules below and runs.
BENCH_BIN := $(B)/bench/mod_bench_limit.so $(B)/bench/fcgi_app $(B)/bench/handoff

.PHONY: bench bench-build
bench: all
	@t/bench/run.sh

bench-build: $(BENCH_BIN)

$(B)/bench/mod_bench_limit.so: t/bench/mod_bench_limit.c
	@mkdir -p $(dir $@)
	$(APXS) -c -o t/bench/mod_bench_limit.la -Wc,"$(WARN) $(CFLAGS)" $< \
	    >$(B)/bench/apxs.log 2>&1 || { cat $(B)/bench/apxs.log; exit 1; }
	@grep -E '(warning|error):' $(B)/bench/apxs.log || true
	cp t/bench/.libs/mod_bench_limit.so $@.tmp && mv -f $@.tmp $@

$(B)/bench/fcgi_app: t/bench/fcgi_app.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) $(CFLAGS) -o $@ $< -lfcgi

$(B)/bench/handoff: t/bench/handoff.c $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -pthread -o $@ $< $(COMMON_LIB) $(APU_LIBS) $(APR_LIBS) \
	      $(SSL_LIBS)

# --- fuzzing (t/fuzz/): libFuzzer targets for the frame and head decoders
# and the link handshake, each run FUZZ_SECONDS (default 60); see run.sh.
.PHONY: fuzz
fuzz:
	@t/fuzz/run.sh

# --- soak test (t/soak/): SOAK_SECONDS (default 180) of mixed traffic with
# injected faults (workers and the proxy child killed, graceful, reload,
# crashes, clients going away), then a report; not part of make test.
SOAK_SECONDS ?= 180
.PHONY: soak
soak: all $(TEST_HELPERS)
	@$(SAN_ENV) SOAK_SECONDS=$(SOAK_SECONDS) t/soak/run.sh
