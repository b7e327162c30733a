# Sluice — `make` builds bin/*, `make test` runs every test, `make demo` runs
# the system for real, `make bench` measures it. Each installs the Debian
# packages that are missing first (`make deps` does only that); `make check`
# is `make test` without installing anything. SAN=1 builds
# with AddressSanitizer + UBSan into build-san/, SAN=thread with
# ThreadSanitizer into build-tsan/.

CC      ?= cc
SAN     ?= 0
ifeq ($(SAN),1)
BUILD   := build-san
BIN     := build-san/bin
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     := -O1 -g
else ifeq ($(SAN),thread)
# ThreadSanitizer, for the code that runs on shared/pool.c's threads (PDF
# rendering, the intake's spool): `make tsan` builds it and runs the tests
# that start them.
BUILD   := build-tsan
BIN     := build-tsan/bin
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
OPT     := -O1 -g
else
BUILD   := build
BIN     := bin
SANFLAGS :=
OPT     := -O2 -g
endif

WARN    := -std=c11 -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Werror
CFLAGS  += $(OPT) $(WARN) $(SANFLAGS) -D_GNU_SOURCE -MMD -MP -Ishared -I$(BUILD)/gen
LDFLAGS += $(SANFLAGS)
# libmicrohttpd: the HTTP side of the intake, the fake platform and every
# program's --metrics-listen (shared/httpd.c); libsystemd: sd_notify for
# Type=notify units (shared/notify.c; a no-op without NOTIFY_SOCKET)
LDLIBS  = -lhiredis -lev -lcurl -lcjson -lsqlite3 -lmicrohttpd -lsystemd -lm -lpthread
# pango + cairo render PDFs (shared/pdf_render.c): only the objects and programs
# that use them get the flags; -isystem keeps -Werror off GLib's headers.
# Asked of pkg-config when such a target is built (=, not :=), so after
# `deps` has installed it, and an answer of nothing stops the build here.
pdf_pkg    = $(or $(shell pkg-config $(1) pangocairo fontconfig 2>/dev/null),$(error \
             pkg-config $(1) pangocairo fontconfig: no answer; `make deps` installs \
             pkg-config, libpango1.0-dev and libcairo2-dev))
PDF_CFLAGS = $(patsubst -I%,-isystem %,$(call pdf_pkg,--cflags))
PDF_LIBS   = $(call pdf_pkg,--libs)

LIB_SRC := $(wildcard shared/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/scripts_gen.o $(BUILD)/gen/schemas_gen.o \
           $(BUILD)/gen/functions_gen.o
LIB     := $(BUILD)/libsluice.a

PRODUCER_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard producer/*.c))
WORKER_OBJ    := $(patsubst %.c,$(BUILD)/%.o,$(wildcard worker/*.c worker/handlers/*.c))
SCHEDULER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard scheduler/*.c))
CTL_OBJ       := $(patsubst %.c,$(BUILD)/%.o,$(wildcard ctl/*.c))
BENCH_OBJ     := $(patsubst %.c,$(BUILD)/%.o,$(wildcard bench/*.c))
FAKE_OBJ      := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/fake/*.c))

PROGS := $(BIN)/sluice-producer $(BIN)/sluice-worker $(BIN)/sluice-scheduler \
         $(BIN)/sluice-ctl $(BIN)/sluice-bench
# The fake Discord/Telegram for tests, the demo and benchmarks (loopback only).
ifneq ($(FAKE_OBJ),)
PROGS += $(BIN)/sluice-fake-platform
endif

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all progs unit-bins test check unit integration integration-acl test-acl tsan bench demo \
        deps clean format format-check
.SECONDARY:
# The targets a user types first (make, make demo, make test, make bench)
# install what is missing (tools/deps.sh: a quick check when nothing is),
# then build in a second make that reads this file with everything in
# place. The build uses every core unless a -j was given.
JOBS = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc 2>/dev/null || echo 1))
MAKEFLAGS += --no-print-directory
all: deps
	@$(MAKE) $(JOBS) progs
progs: $(PROGS)
unit-bins: $(UNIT_BINS)

$(BUILD)/gen/scripts_gen.c: $(wildcard shared/scripts/*.lua) tools/embed.sh
	@mkdir -p $(@D)
	sh tools/embed.sh sl_lua_sources $@ $(sort $(wildcard shared/scripts/*.lua))

# the job schemas; openapi.json (the intake's HTTP API) is not one
JOB_SCHEMAS := $(sort $(filter-out schemas/openapi.json,$(wildcard schemas/*.json)))
$(BUILD)/gen/schemas_gen.c: $(JOB_SCHEMAS) tools/embed.sh
	@mkdir -p $(@D)
	sh tools/embed.sh sl_schema_sources $@ $(JOB_SCHEMAS)

# The Redis Function library (sluice-ctl install): shared/functions/sluice.lua
# with the scripts it includes (lib_enqueue.lua: the CLI's enqueue) and the
# job types of schemas/, then compiled in like the scripts.
$(BUILD)/gen/sluice.lua: shared/functions/sluice.lua $(wildcard shared/scripts/*.lua) \
                         $(JOB_SCHEMAS) tools/funclib.sh
	@mkdir -p $(@D)
	sh tools/funclib.sh $@ shared/functions/sluice.lua shared/scripts $(JOB_SCHEMAS)

$(BUILD)/gen/functions_gen.c: $(BUILD)/gen/sluice.lua tools/embed.sh
	sh tools/embed.sh sl_function_sources $@ $<

# sluice-ctl web's page (web/*.html, .js, .css), compiled in: no CDN, works offline
WEB_ASSETS := $(sort $(wildcard web/*.html web/*.js web/*.css))
$(BUILD)/gen/web_gen.c: $(WEB_ASSETS) tools/embed.sh
	@mkdir -p $(@D)
	sh tools/embed.sh sl_web_assets $@ $(WEB_ASSETS)

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

# made afresh: `ar rcs` into the old archive would keep the object of a
# source that was renamed or removed, and its symbols with it
$(LIB): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/shared/pdf_render.o $(BUILD)/tests/unit/test_pdf_render.o: CFLAGS += $(PDF_CFLAGS)
$(BIN)/sluice-worker $(BUILD)/tests/test_pdf_render: LDLIBS += $(PDF_LIBS)

$(BIN)/sluice-producer: $(PRODUCER_OBJ) $(LIB)
# tokens' SHA-256 (serve_tokens.c): OpenSSL libcrypto
$(BIN)/sluice-producer: LDLIBS += -lcrypto
$(BIN)/sluice-worker: $(WORKER_OBJ) $(LIB)
$(BIN)/sluice-scheduler: $(SCHEDULER_OBJ) $(LIB)
$(BIN)/sluice-ctl: $(CTL_OBJ) $(BUILD)/gen/web_gen.o $(LIB)
# sluice-ctl web: libmicrohttpd on its own polling thread (ctl/web.c)
$(BIN)/sluice-ctl: LDLIBS += -lmicrohttpd
$(BIN)/sluice-bench: $(BENCH_OBJ) $(LIB)
$(BIN)/sluice-fake-platform: $(FAKE_OBJ) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(filter-out $(BIN)/sluice-fake-platform,$(PROGS)):
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# Unit tests of the worker's outbound layer link the worker objects they
# test, before the library they use.
WORKER_UNIT := $(BUILD)/tests/test_gate $(BUILD)/tests/test_call
$(BUILD)/tests/test_gate: $(BUILD)/worker/gate.o $(BUILD)/worker/wmetrics_calls.o
$(BUILD)/tests/test_call: $(BUILD)/worker/call.o $(BUILD)/worker/gate.o \
                          $(BUILD)/worker/wmetrics_calls.o
$(WORKER_UNIT): $(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIB) $(LDLIBS) -lcmocka
$(WORKER_UNIT:$(BUILD)/tests/%=$(BUILD)/tests/unit/%.o): CFLAGS += -Iworker

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done
	python3 tests/schema/crosscheck.py
	python3 tests/docs/check_architecture.py

integration: $(PROGS)
	SLUICE_BIN=$(CURDIR)/$(BIN) bash tests/integration/run.sh

# Integration tests with the Redis users of deploy/users.acl, each program
# as its role (tests/integration/lib.sh, SLUICE_TEST_ACL=1); a test fails
# when Redis's ACL LOG shows any role refused anything, or a password in a
# log. `make check` runs the whole suite this way once, in its ASan + UBSan
# pass (integration-acl with SAN=1), so the roles cost no extra pass.
# `make test-acl` runs, with the plain build, the tests that between them
# run every script and every command each program sends, as its role
# (quicker, by hand; `make test-acl ACL_INTEGRATION=t_` runs all):
# producer: enqueue (CLI, --ndjson, spool flush: t_spool), batch open/seal
#   (t_batch), FCALL (t_acl); intake: POST/GET/DELETE/queues/batches
#   (t_serve), ?wait (PSUBSCRIBE, t_serve_wait);
# worker: claim, ack (with results: t_result_apps), fail (retry, dead:
#   t_ctl; defer: t_message_defer; back: t_drain), renew in parts
#   (t_lease_many), fenced calls refused (t_fence), heartbeat, rate limits
#   and the interview workflow (t_interview, t_approval, t_followup), the
#   PDF semaphore (t_pdf), follow-up enqueues, malformed bodies (t_malformed);
# scheduler: leader and failover (t_standby), promote (t_acl, t_retry),
#   expired + reclaim (t_kill9, t_batch), orphans of a dead worker
#   (t_dead_worker), trim (t_acl), the approval clock (t_approval), the
#   leader's fleet gauges (t_metrics);
# admin: stats, show, cancel, retry, pause, resume, workers (t_ctl), batch
#   (t_batch), install (t_func_install, t_acl), ls and purge (t_ls_purge),
#   top (t_top), web with its retry and cancel (t_web).
ACL_TESTS := t_acl t_ctl t_batch t_serve t_serve_wait t_spool t_func_install t_interview \
             t_approval t_followup t_pdf t_dead_worker t_kill9 t_lease_many t_fence \
             t_message_defer t_result_apps t_drain t_standby t_idempotency t_malformed t_retry \
             t_metrics t_ls_purge t_top t_web
ACL_INTEGRATION ?= $(ACL_TESTS:%==%)
test-acl: $(PROGS)
	SLUICE_TEST_ACL=1 SLUICE_BIN=$(CURDIR)/$(BIN) bash tests/integration/run.sh $(ACL_INTEGRATION)
integration-acl: $(PROGS)
	SLUICE_TEST_ACL=1 SLUICE_BIN=$(CURDIR)/$(BIN) bash tests/integration/run.sh

# The tests that run code on shared/pool.c's threads: the pool's own, the
# PDF renderer's, the integration tests whose workers render PDFs, and the
# intake's spool and the scheduler's archive (their SQLite calls run on a
# pool thread: t_serve_openapi, t_archive; t_serve_spool, 70 s under TSan,
# passes too and is left to a run by hand).
TSAN_UNIT        := test_pool test_pdf_render
TSAN_INTEGRATION := t_pdf t_result_apps t_serve_openapi t_archive

# ThreadSanitizer: `make tsan` builds into build-tsan/ and runs them; a
# report fails the test. tests/tsan.supp names the libraries TSan cannot
# see into (pango, cairo, fontconfig...).
tsan:
	@$(MAKE) SAN=thread $(JOBS) progs $(TSAN_UNIT:%=build-tsan/tests/%)
	@set -e; for t in $(TSAN_UNIT); do echo "== build-tsan/tests/$$t"; \
	    TSAN_OPTIONS=suppressions=$(CURDIR)/tests/tsan.supp build-tsan/tests/$$t; done
	SLUICE_BIN=$(CURDIR)/build-tsan/bin bash tests/integration/run.sh $(TSAN_INTEGRATION)

# `make test` installs what is missing (the README's two commands), then
# does `make check`: the format check, every test, every test again under
# ASan + UBSan as the ACL roles, and the threads' tests under TSan. `make check` installs
# nothing: a missing tool stops it, named.
test: deps
	@$(MAKE) check

check: format-check
	@$(MAKE) $(JOBS) progs unit-bins
	@$(MAKE) unit
	@$(MAKE) integration
	@$(MAKE) SAN=1 $(JOBS) progs unit-bins
	@$(MAKE) SAN=1 unit
	@$(MAKE) SAN=1 integration-acl
	@$(MAKE) tsan

bench: deps
	@$(MAKE) $(JOBS) progs
	bash tools/bench.sh

demo: deps
	@$(MAKE) $(JOBS) progs
	bash tools/demo.sh
	bash tools/demo_apps.sh

deps:
	@sh tools/deps.sh

# Every C file of the tree (generated ones live in build*/ and are not).
FORMAT_SRC = $(wildcard shared/*.[ch] producer/*.[ch] worker/*.[ch] worker/handlers/*.[ch] \
             scheduler/*.[ch] ctl/*.[ch] bench/*.[ch] tests/unit/*.[ch] tests/fake/*.[ch])
# clang-format 14 (Debian 12's; another version formats a few lines
# differently), under either name.
CLANG_FORMAT = $(shell command -v clang-format-14 || command -v clang-format || echo clang-format)
format:
	$(CLANG_FORMAT) -i $(FORMAT_SRC)

# Fails, naming the files and lines, when a C file differs from what
# `make format` would make of it (the repo's .clang-format).
format-check:
	@$(CLANG_FORMAT) --version 2>/dev/null | grep -q 'version 14\.' || \
	    { echo "format-check: needs clang-format 14 (make deps installs it); found:" \
	      "$$($(CLANG_FORMAT) --version 2>&1 | head -n 1)" >&2; exit 1; }
	@echo "format-check: $(words $(FORMAT_SRC)) C files against .clang-format"
	@$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_SRC)

clean:
	rm -rf build build-san build-tsan bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
