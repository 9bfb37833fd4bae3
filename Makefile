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

# The install script is generated from sql/install/*.sql (one part per
# concern, concatenated in name order); upgrade scripts are
# sql/tensafe_dr--X--Y.sql; every other sql/*.sql is a pg_regress input.
INSTALL_PARTS = $(sort $(wildcard sql/install/*.sql))
DATA_built  = tensafe_dr--1.0.sql
DATA        = $(wildcard sql/tensafe_dr--*--*.sql)
REGRESS     = $(sort $(basename $(notdir $(filter-out $(DATA),$(wildcard sql/*.sql)))))
REGRESS_OPTS = --inputdir=. --temp-instance=$(CURDIR)/regress_instance \
               --temp-config=$(CURDIR)/test/regress.conf

# Patroni integration scripts, installed next to the server binaries
SCRIPTS     = patroni/tensafe_dr_callback patroni/tensafe_dr_pre_promote patroni/tensafe_dr_drill

TAP_TESTS   = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))
PROVE_FLAGS = -I $(CURDIR)/test/lib

PG_CPPFLAGS = -I$(CURDIR)/src -Werror -Wall -Wmissing-prototypes
SHLIB_LINK  = -lcurl
EXTRA_CLEAN = tensafe_dr--1.0.sql regress_instance results regression.diffs regression.out tmp_check log

PG_CONFIG  ?= pg_config
PGXS       := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

tensafe_dr--1.0.sql: $(INSTALL_PARTS)
	cat $^ > $@
