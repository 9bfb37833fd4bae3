# tensafe_dr — PGXS build.
#
#   make                 build src/<area>/*.c into tensafe_dr.so
#   make install         install the library, the control file, the generated
#                        tensafe_dr--*.sql scripts, the Patroni scripts and the
#                        documentation (docs/*.md)
#   make installcheck    pg_regress (sql/*.sql vs expected/) on a temporary
#                        preloaded instance, the isolation tests
#                        (isolation/specs/) on another, then the TAP tests
#                        in test/t/
#
# Run the tests as a non-root user (PostgreSQL refuses to run as root); see
# test/run-tests.sh, which does the whole thing from a root shell.

EXTENSION   = tensafe_dr
MODULE_big  = tensafe_dr
# src/ is grouped by concern: core (module init, GUCs, shared memory, the
# worker scaffolding), lag, events, notify, failover, backup.
SRC_AREAS   = core lag events notify failover backup
OBJS        = $(patsubst %.c,%.o,$(sort $(foreach a,$(SRC_AREAS),$(wildcard src/$(a)/*.c))))

# Scripts are generated from parts, one per concern, concatenated in name
# order.  extension/<version>/ holds what that version adds or changes; the
# released versions (1.0, 1.1) are frozen (extension/<version>/SHA256SUMS).
#   tensafe_dr--1.0.sql       = extension/1.0
#   tensafe_dr--1.0--1.1.sql  = extension/1.1
#   tensafe_dr--1.1--1.2.sql  = extension/1.2
#   tensafe_dr--1.1.sql       = extension/1.0 + 1.1
#   tensafe_dr--1.2.sql       = extension/1.0 + 1.1 + 1.2
# sql/ and expected/ are pg_regress's only.
PARTS_1_0   = $(sort $(wildcard extension/1.0/*.sql))
PARTS_1_1   = $(sort $(wildcard extension/1.1/*.sql))
PARTS_1_2   = $(sort $(wildcard extension/1.2/*.sql))
FROZEN      = 1.0 1.1
DATA_built  = tensafe_dr--1.0.sql tensafe_dr--1.0--1.1.sql tensafe_dr--1.1.sql \
              tensafe_dr--1.1--1.2.sql tensafe_dr--1.2.sql
REGRESS     = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --temp-instance=$(CURDIR)/regress_instance \
               --temp-config=$(CURDIR)/test/regress.conf

# Isolation tests (pg_isolation_regress): isolation/specs/*.spec against
# isolation/expected/*.out, run by installcheck after pg_regress on their own
# temporary preloaded instance, whose worker and notifier are pointed away
# from the test database (isolation/isolation.conf).
ISOLATION   = $(sort $(basename $(notdir $(wildcard isolation/specs/*.spec))))
ISOLATION_OPTS = --inputdir=isolation --outputdir=output_iso \
                 --temp-instance=$(CURDIR)/isolation_instance \
                 --temp-config=$(CURDIR)/test/regress.conf \
                 --temp-config=$(CURDIR)/isolation/isolation.conf \
                 --load-extension=$(EXTENSION)

# Patroni integration scripts, installed next to the server binaries
SCRIPTS     = patroni/tensafe_dr_callback patroni/tensafe_dr_pre_promote patroni/tensafe_dr_drill

# Documentation: docs/*.md, installed by PGXS (DOCS) into
# $(pg_config --docdir)/extension/, a directory every extension shares, so
# under our own names: docs/README.md as tensafe_dr.md, docs/NN-*.md as
# tensafe_dr-NN-*.md, their links to each other rewritten to those names.
DOCS        = tensafe_dr.md $(patsubst docs/%.md,tensafe_dr-%.md,$(sort $(wildcard docs/[0-9]*.md)))

TAP_TESTS   = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))
PROVE_FLAGS = -I $(CURDIR)/test/lib

PG_CPPFLAGS = $(foreach a,$(SRC_AREAS),-I$(CURDIR)/src/$(a)) -Werror -Wall -Wmissing-prototypes
# make TEST_HOOKS=1: a test build, with the crash points the crash-safety
# tests use (test/run-tests.sh builds this way); a plain `make` has none.
ifdef TEST_HOOKS
PG_CPPFLAGS += -DTENSAFE_DR_TEST_HOOKS
endif
SHLIB_LINK  = -lcurl
EXTRA_CLEAN = regress_instance isolation_instance output_iso results regression.diffs regression.out tmp_check log $(DOCS)

PG_CONFIG  ?= pg_config
PGXS       := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

tensafe_dr--1.0.sql: $(PARTS_1_0)
	cat $^ > $@
tensafe_dr--1.0--1.1.sql: $(PARTS_1_1)
	cat $^ > $@
tensafe_dr--1.1.sql: $(PARTS_1_0) $(PARTS_1_1)
	cat $^ > $@
tensafe_dr--1.1--1.2.sql: $(PARTS_1_2)
	cat $^ > $@
tensafe_dr--1.2.sql: $(PARTS_1_0) $(PARTS_1_1) $(PARTS_1_2)
	cat $^ > $@

all: $(DOCS)
DOCS_SED = sed -e 's/](\([0-9][0-9]-[A-Za-z0-9-]*\.md\)/](tensafe_dr-\1/g' -e 's/](README\.md/](tensafe_dr.md/g'
tensafe_dr.md: docs/README.md
	$(DOCS_SED) $< > $@
tensafe_dr-%.md: docs/%.md
	$(DOCS_SED) $< > $@

# Released scripts must not change under their users.
check-frozen:
	set -e; for v in $(FROZEN); do (cd extension/$$v && sha256sum --quiet -c SHA256SUMS); done
.PHONY: check-frozen
