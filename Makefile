# tensafe_dr — PGXS build.
#
#   make                 build src/*.c into tensafe_dr.so
#   make install         install library, control file and sql/tensafe_dr--*.sql
#   make installcheck    pg_regress (sql/*.sql vs expected/) on a temporary
#                        preloaded instance, then the TAP tests in test/t/
#
# Run the tests as a non-root user (PostgreSQL refuses to run as root); see
# test/run-tests.sh, which does the whole thing from a root shell.

EXTENSION   = tensafe_dr
MODULE_big  = tensafe_dr
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# Scripts are generated from parts, one per concern, concatenated in name
# order.  sql/install/*.sql is released version 1.0, frozen (SHA256SUMS);
# sql/update/1.1/*.sql is what 1.1 adds or changes.  So
#   tensafe_dr--1.0.sql       = sql/install
#   tensafe_dr--1.0--1.1.sql  = sql/update/1.1
#   tensafe_dr--1.1.sql       = sql/install + sql/update/1.1
# Every sql/*.sql is a pg_regress input.
PARTS_1_0   = $(sort $(wildcard sql/install/*.sql))
PARTS_1_1   = $(sort $(wildcard sql/update/1.1/*.sql))
DATA_built  = tensafe_dr--1.0.sql tensafe_dr--1.0--1.1.sql tensafe_dr--1.1.sql
REGRESS     = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --temp-instance=$(CURDIR)/regress_instance \
               --temp-config=$(CURDIR)/test/regress.conf

# Patroni integration scripts, installed next to the server binaries
SCRIPTS     = patroni/tensafe_dr_callback patroni/tensafe_dr_pre_promote patroni/tensafe_dr_drill

TAP_TESTS   = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))
PROVE_FLAGS = -I $(CURDIR)/test/lib

PG_CPPFLAGS = -I$(CURDIR)/src -Werror -Wall -Wmissing-prototypes
SHLIB_LINK  = -lcurl
EXTRA_CLEAN = regress_instance results regression.diffs regression.out tmp_check log

PG_CONFIG  ?= pg_config
PGXS       := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

tensafe_dr--1.0.sql: $(PARTS_1_0)
	cat $^ > $@
tensafe_dr--1.0--1.1.sql: $(PARTS_1_1)
	cat $^ > $@
tensafe_dr--1.1.sql: $(PARTS_1_0) $(PARTS_1_1)
	cat $^ > $@

# Released scripts must not change under their users.
check-frozen:
	cd sql/install && sha256sum --quiet -c SHA256SUMS
.PHONY: check-frozen
