# Event retention and counters (issue 21).
#
# A primary with tensafe_dr.event_retention = '1d' and outbox_retention =
# '1d' (history_interval 1 s, so the worker's housekeeping step runs every
# second) and a streaming standby.  3,000 events 10 days old are inserted;
# the worker must delete them, in statements of at most 1,000 rows (counted
# by a statement trigger in the worker's own transactions), while keeping an
# old event of an open incident and an old event within a drill's window;
# delivered outbox rows past the retention go, a pending one stays.
# tensafe_dr_events_total never goes down while the worker prunes, and is
# the same after a restart, on the standby, and after the standby is
# promoted (where an event journalled on the standby counts once: pending
# before the promotion, in the counters after the flush).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DrTest;

my $primary = new_primary('ret_primary', <<'CONF');
tensafe_dr.history_interval = '1s'
tensafe_dr.event_retention = '1d'
tensafe_dr.outbox_retention = '1d'
CONF
my $standby = new_standby($primary, 'ret_standby');

sub metric
{
	my ($node, $type) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(sum(value), 0) FROM dr_metrics_rows('tensafe_dr_events_total')"
		  . " WHERE labels->>'type' = '$type'");
}

# What the worker deletes, statement by statement (its own transactions).
# Created in one transaction whose lock makes the worker wait.
$primary->safe_psql('postgres', q{
	BEGIN;
	CREATE TABLE pruned (n bigint, at timestamptz DEFAULT clock_timestamp());
	CREATE FUNCTION count_pruned() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN INSERT INTO public.pruned (n) SELECT count(*) FROM old_rows; RETURN NULL; END $$;
	CREATE TRIGGER t_pruned AFTER DELETE ON dr_event_log REFERENCING OLD TABLE AS old_rows
		FOR EACH STATEMENT EXECUTE FUNCTION count_pruned();
	COMMIT;
});

# What must be kept: an old event of an open incident, an old event within
# a drill's window.
my $incident = $primary->safe_psql('postgres', "SELECT dr_declare(2, 'retention test')");
$primary->safe_psql('postgres', qq{
	INSERT INTO dr_event_log (event_type, occurred_at, incident_id)
	VALUES ('OPS_OF_INCIDENT', now() - interval '30 days', $incident);
	INSERT INTO dr_drills (kind, started_by, started_at, finished_at)
	VALUES ('tabletop', 'tap', now() - interval '20 days', now() - interval '19 days');
	INSERT INTO dr_event_log (event_type, occurred_at)
	VALUES ('OPS_IN_DRILL', now() - interval '19 days 12 hours');
	INSERT INTO dr_outbox (channel, event_type, idempotency_key, body, status, delivered_at, created_at)
	VALUES ('tap', 'OPS_OLD', 'tap-delivered', '{}', 'delivered', now() - interval '5 days', now() - interval '5 days'),
	       ('tap', 'OPS_OLD', 'tap-pending', '{}', 'pending', now() + interval '1 day', now() - interval '5 days');
});
# The old history, in one statement (counted by the trigger: recorded now).
$primary->safe_psql('postgres', q{
	INSERT INTO dr_event_log (event_type, occurred_at)
	SELECT 'OPS_OLD', now() - interval '10 days' - make_interval(secs => g)
	  FROM generate_series(1, 3000) g});

# While the worker prunes, the counter never goes down.
my @seen;
my $waited = wait_until($primary,
	"SELECT (SELECT count(*) FROM dr_event_log WHERE event_type = 'OPS_OLD') || ' '"
	  . " || (SELECT coalesce(sum(value), 0) FROM dr_metrics_rows('tensafe_dr_events_total')"
	  . "      WHERE labels->>'type' = 'OPS_OLD')",
	'0 3000', 120, sub { push @seen, (split / /, $_[0])[1]; });
ok(defined $waited, 'the worker pruned the 3,000 old events');
my @bad = grep { $_ != 3000 } @seen;
is(scalar @bad, 0, 'tensafe_dr_events_total{type="OPS_OLD"} stayed 3000 while pruning ('
	  . scalar(@seen) . ' reads)');

my ($statements, $biggest, $total) = split /\|/, $primary->safe_psql('postgres',
	'SELECT count(*), max(n), sum(n) FROM pruned WHERE n > 0');
cmp_ok($statements, '>=', 3, "pruned in $statements statements");
cmp_ok($biggest, '<=', 1000, "at most 1000 rows per statement ($biggest)");
is($total, 3000, 'exactly the 3,000 old events were deleted');

is($primary->safe_psql('postgres',
	"SELECT string_agg(event_type, ',' ORDER BY event_type) FROM dr_event_log"
	  . " WHERE event_type IN ('OPS_OF_INCIDENT', 'OPS_IN_DRILL')"),
	'OPS_IN_DRILL,OPS_OF_INCIDENT', 'the open incident\'s and the drill\'s events are kept');

ok(defined wait_until($primary,
	"SELECT string_agg(idempotency_key, ',' ORDER BY 1) FROM dr_outbox WHERE channel = 'tap'",
	'tap-pending', 60), 'the delivered outbox row was pruned, the pending one kept');

# A restart: the counters are a table.
$primary->restart;
is(metric($primary, 'OPS_OLD'), '3000', 'counter unchanged after a restart');

# The standby: the counters came with the rows.
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is(metric($standby, 'OPS_OLD'), '3000', 'the standby reads the same counter');
is($standby->safe_psql('postgres',
	"SELECT count(*) FROM dr_event_log WHERE event_type = 'OPS_OLD'"),
	'0', 'the standby has the pruned log');

# An event journalled on the standby: pending, counted once.
$standby->safe_psql('postgres', "SELECT dr_record_event('OPS_ON_STANDBY')");
is(metric($standby, 'OPS_ON_STANDBY'), '1', 'a journalled event counts on the standby');

$primary->stop;
$standby->promote;
ok(defined wait_until($standby,
	"SELECT count(*) FROM dr_event_log WHERE event_type = 'OPS_ON_STANDBY'", '1', 60),
	'the journal was flushed after the promotion');
is($standby->safe_psql('postgres',
	"SELECT events FROM dr_event_totals WHERE event_type = 'OPS_ON_STANDBY'"),
	'1', 'the flushed event is in the counters');
is(metric($standby, 'OPS_ON_STANDBY'), '1', 'and counted once by the metric');
is(metric($standby, 'OPS_OLD'), '3000', 'the counter carried on across the promotion');

# The new primary prunes too: old events put in after the promotion go,
# the counter rises by them and stays.
$standby->safe_psql('postgres', q{
	INSERT INTO dr_event_log (event_type, occurred_at)
	SELECT 'OPS_OLD', now() - interval '10 days' FROM generate_series(1, 10)});
ok(defined wait_until($standby,
	"SELECT count(*) FROM dr_event_log WHERE event_type = 'OPS_OLD'", '0', 60),
	'the promoted node prunes');
is(metric($standby, 'OPS_OLD'), '3010', 'counter 3010 after the new primary pruned');

$standby->stop;
done_testing();
