# ragd: one C program. `make` builds ./ragd; `make check` installs deps, builds, runs every test.
# Sources are found by wildcard: a new .c under src/<module>/ is built with no Makefile edit.
# Tests: tests/t_*.c each become a test binary; tests/*.sh are shell tests; tests/run.sh runs all.

CC      ?= cc
BUILD   ?= build/release
SAN     ?=
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
PKGS    := sqlite3 libcurl libpcre2-8 libxml-2.0 poppler-glib libutf8proc libmicrohttpd jansson libcrypto libxxhash

ALL_CFLAGS = -std=c17 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -MMD -MP -pthread \
             -Isrc -Ibuild/faiss/include $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
ifneq ($(SAN),)
ALL_CFLAGS += -fsanitize=$(SAN) -fno-omit-frame-pointer
SANLD := -fsanitize=$(SAN)
endif
LDLIBS  = build/faiss/libfaiss_c.a -lfaiss -lopenblas -llapack -lgomp -lstemmer \
          $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lstdc++ -lm -pthread $(SANLD)

# MODULES restricts the library to some modules (e.g. MODULES="core nn embed"), so one module's
# tests can be built while another module is mid-edit.
MODULES ?= $(notdir $(wildcard src/*))
LIB_SRC  := $(filter-out src/serve/main.c,$(foreach m,$(MODULES),$(wildcard src/$(m)/*.c)))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/t_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps check check-asan check-tsan test demo bench clean tests benches
all: ragd

ragd: $(BUILD)/ragd
	@if [ "$(BUILD)" = build/release ]; then cp $< ragd; fi

$(BUILD)/ragd: $(BUILD)/src/serve/main.o $(BUILD)/libragd.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libragd.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/tests/%: tests/%.c $(BUILD)/libragd.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(BUILD)/libragd.a $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libragd.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libragd.a $(LDLIBS)

tests: $(BUILD)/ragd $(TEST_BIN)
benches: $(BENCH_BIN)

deps:
	@bash scripts/deps.sh

test: tests
	@RAGD_BUILD=$(BUILD) bash tests/run.sh

check: deps
	@$(MAKE) --no-print-directory -j$$(nproc) ragd tests
	@RAGD_BUILD=build/release bash tests/run.sh

check-asan: deps
	@$(MAKE) --no-print-directory -j$$(nproc) BUILD=build/asan SAN=address,undefined OPT=-O1 tests
	@ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  RAGD_BUILD=build/asan bash tests/run.sh

check-tsan: deps
	@$(MAKE) --no-print-directory -j$$(nproc) BUILD=build/tsan SAN=thread OPT=-O1 tests
	@TSAN_OPTIONS=halt_on_error=1 RAGD_BUILD=build/tsan bash tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory -j$$(nproc) ragd
	@bash scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory -j$$(nproc) benches

clean:
	rm -rf build/release build/asan build/tsan ragd

-include $(LIB_OBJ:.o=.d) $(BUILD)/src/serve/main.d
