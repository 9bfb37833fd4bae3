# Issue 14, topology: the runbook's layout -- an HA standby in the primary's
# region A, two DR standbys in region B.  On the primary, dr_status() answers
# the two questions: node_loss_lag (losing this node: the best copy
# anywhere) and region_loss_lag (losing region A: the best copy in B), and
# rpo_state judges the disaster objective, region loss:
#   - a lagging HA standby does not put the primary in breach (1.1 judged the
#     worst standby and did): it is named in state_reason, it keeps its own
#     state in dr_replicas and dr_regions, and raises STANDBY_LAGGING, then
#     STANDBY_CAUGHT_UP;
#   - losing region B's copies does, although the HA standby is fine;
#   - a synchronous standby makes node-loss exposure 0 by construction, and
#     losing sync (turned off as Patroni does, or the standby gone) is
#     SYNC_LOST with the reason.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use DrTest;

my $objectives = "tensafe_dr.rpo_target = '3s'\ntensafe_dr.rpo_max = '6s'\n";
my $primary = new_primary('primary', $objectives . "tensafe_dr.region = 'A'\n");
$primary->safe_psql('postgres', q{
	CREATE TABLE t (i int);
	SELECT dr_standby_set('ha1', 'A', 'ha');
	SELECT dr_standby_set('dr1', 'B', 'dr');
	SELECT dr_standby_set('dr2', 'B', 'dr');
});

sub write_some { $primary->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1, 100)'); }

sub events_of
{
	my ($type, $standby) = @_;
	return $primary->safe_psql('postgres', qq{
		SELECT coalesce(string_agg(details->>'rpo_state', ',' ORDER BY id), '')
		  FROM dr_events WHERE event_type = '$type' AND details->>'standby' = '$standby'});
}

# --- Region A only: no copy in another region yet.
my $ha1 = new_standby($primary, 'ha1', $objectives . "tensafe_dr.region = 'A'\n");
ok(defined wait_until($primary, 'SELECT rpo_state FROM dr_status()', 'ok', 30), 'primary ok with ha1');
is($primary->safe_psql('postgres',
	'SELECT node_loss_lag IS NOT NULL, region_loss_lag IS NULL FROM dr_status()'),
	't|t', 'one copy, in the same region: node_loss_lag known, region_loss_lag NULL');

my $dr1 = new_standby($primary, 'dr1', $objectives . "tensafe_dr.region = 'B'\n");
my $dr2 = new_standby($primary, 'dr2', $objectives . "tensafe_dr.region = 'B'\n");
ok(defined wait_until($primary, q{SELECT count(*) FROM dr_replicas WHERE state = 'streaming' AND rpo_state = 'ok'},
	'3', 30), 'three standbys streaming, each ok');
ok(defined wait_until($primary, q{
	SELECT rpo_state = 'ok' AND region_loss_lag IS NOT NULL AND node_loss_lag <= region_loss_lag
	  FROM dr_status()}, 't', 30),
	'region_loss_lag known once a copy in region B streams; node_loss_lag no larger');
like($primary->safe_psql('postgres', 'SELECT state_reason FROM dr_status()'),
	qr/^best copy in another region "dr[12]" \(B\): within rpo_target/, 'the reason names the judged copy');
is($primary->safe_psql('postgres', q{
	SELECT string_agg(format('%s %s %s %s/%s %s %s', region, local_region, standbys, ha_standbys,
	                         dr_standbys, streaming, rpo_state), ';' ORDER BY region)
	  FROM dr_regions}),
	'A t {ha1} 1/0 1 ok;B f {dr1,dr2} 0/2 2 ok', 'dr_regions: region A (local) and region B');

# --- The HA standby lags: its replay is paused while the primary writes.
$ha1->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
my %primary_states;
ok(defined wait_until($primary, q{SELECT rpo_state FROM dr_replicas WHERE standby_name = 'ha1'}, 'breach', 40,
	sub { write_some(); $primary_states{ $primary->safe_psql('postgres', 'SELECT rpo_state FROM dr_status()') } = 1; }),
	'ha1 in breach on its own figures (replay paused)');
is(join(',', sort keys %primary_states), 'ok', 'the primary stayed ok all along: region B holds the data');
my $st = $primary->safe_psql('postgres', 'SELECT rpo_state, state_reason FROM dr_status()');
like($st, qr/^ok\|best copy in another region .*; standby "ha1" lagging \(replay_lag [\d.]+ s at or above rpo_max\)/,
	"the lagging HA standby is named: $st");
ok(defined wait_until($primary, q{
	SELECT string_agg(region || ':' || rpo_state, ',' ORDER BY region) FROM dr_regions},
	'A:breach,B:ok', 10), 'dr_regions: region A in breach, region B ok');
ok(defined wait_until($primary,
	q{SELECT position('breach' IN string_agg(details->>'rpo_state', ',' ORDER BY id)) > 0
	    FROM dr_events WHERE event_type = 'STANDBY_LAGGING' AND details->>'standby' = 'ha1'}, 't', 20),
	'STANDBY_LAGGING recorded for ha1, up to breach');
like(events_of('STANDBY_LAGGING', 'ha1'), qr/^(warning,)?breach$/, 'once per state: ' . events_of('STANDBY_LAGGING', 'ha1'));
is($primary->safe_psql('postgres', q{
	SELECT format('%s %s %s', details->>'region', details->>'purpose', details->>'connected')
	  FROM dr_events WHERE event_type = 'STANDBY_LAGGING' AND details->>'standby' = 'ha1' ORDER BY id DESC LIMIT 1}),
	'A ha true', 'STANDBY_LAGGING carries region, purpose, connected');
is($primary->safe_psql('postgres', q{SELECT count(*) FROM dr_events
	WHERE event_type IN ('RPO_WARNING', 'RPO_BREACH')}), '0', 'no RPO event on the primary');

$ha1->safe_psql('postgres', 'SELECT pg_wal_replay_resume()');
ok(defined wait_until($primary, q{SELECT count(*) FROM dr_events
	WHERE event_type = 'STANDBY_CAUGHT_UP' AND details->>'standby' = 'ha1' AND successful}, '1', 30,
	sub { write_some(); }), 'STANDBY_CAUGHT_UP once ha1 replays again');
ok(defined wait_until($primary, 'SELECT state_reason NOT LIKE \'%lagging%\' FROM dr_status()', 't', 10),
	'no standby named lagging any more');

# --- Synchronous HA standby: node-loss exposure 0 by construction.
$primary->safe_psql('postgres', q{ALTER SYSTEM SET synchronous_standby_names = 'ha1'; SELECT pg_reload_conf()});
ok(defined wait_until($primary, q{SELECT sync_state FROM dr_replicas WHERE standby_name = 'ha1'}, 'sync', 30),
	'ha1 is the synchronous standby');
my $zero = 0;
for my $i (1 .. 20)
{
	write_some();
	$zero++ if $primary->safe_psql('postgres', 'SELECT node_loss_lag FROM dr_status()') eq '00:00:00';
}
is($zero, 20, 'node_loss_lag 0 at every look while writing (every acknowledged commit is on ha1)');
# SYNC_LOST is judged on the worker's samples, not on the live view above:
# wait until a sample has seen ha1 in the sync set before taking it away.
ok(defined wait_until($primary, q{SELECT format('%s/%s', available_standbys, required_standbys) FROM dr_sync_status()},
	'1/1', 20), 'the worker has sampled ha1 as synchronous');

# Patroni falls back to async by emptying synchronous_standby_names.
$primary->safe_psql('postgres', q{ALTER SYSTEM SET synchronous_standby_names = ''; SELECT pg_reload_conf()});
ok(defined wait_until($primary, q{SELECT details->>'reason' FROM dr_events
	WHERE event_type = 'SYNC_LOST' AND details->>'standby' = 'ha1' ORDER BY id DESC LIMIT 1},
	'synchronous replication turned off', 20), 'SYNC_LOST: synchronous replication turned off');

# Sync again, then the synchronous standby's host dies.
$primary->safe_psql('postgres', q{ALTER SYSTEM SET synchronous_standby_names = 'ha1'; SELECT pg_reload_conf()});
ok(defined wait_until($primary, q{SELECT sync_state FROM dr_replicas WHERE standby_name = 'ha1'}, 'sync', 30),
	'ha1 synchronous again');
# Same as above: the worker must have sampled the sync set again (after the
# SYNC_LOST just recorded it read 0 required), or a standby that dies
# within one sample of becoming synchronous was never synchronous to it.
ok(defined wait_until($primary, q{SELECT format('%s/%s', available_standbys, required_standbys) FROM dr_sync_status()},
	'1/1', 20), 'the worker has sampled ha1 as synchronous again');
$ha1->stop('immediate');
ok(defined wait_until($primary, q{SELECT string_agg(details->>'reason', ',' ORDER BY id) FROM dr_events
	WHERE event_type = 'SYNC_LOST' AND details->>'standby' = 'ha1'},
	'synchronous replication turned off,not streaming', 20), 'SYNC_LOST: not streaming');
$primary->safe_psql('postgres', q{ALTER SYSTEM SET synchronous_standby_names = ''; SELECT pg_reload_conf()});
$ha1->start;

# --- Region B is lost: the HA standby is fine, the disaster objective is not.
ok(defined wait_until($primary, q{SELECT rpo_state FROM dr_replicas WHERE standby_name = 'ha1'}, 'ok', 30,
	sub { write_some(); }), 'ha1 back and ok');
$dr1->stop('immediate');
$dr2->stop('immediate');
my %seen;
ok(defined wait_until($primary, 'SELECT rpo_state FROM dr_status()', 'breach', 40,
	sub { $seen{ $_[0] } = 1; write_some(); }), 'primary in breach with region B gone');
ok($seen{warning} && !$seen{unknown}, 'warning first, never unknown');
my ($node_loss, $region_loss, $reason) = split /\|/, $primary->safe_psql('postgres', q{
	SELECT extract(epoch FROM node_loss_lag), extract(epoch FROM region_loss_lag), state_reason FROM dr_status()});
cmp_ok($region_loss, '>=', 6, "region_loss_lag at least rpo_max ($region_loss)");
cmp_ok($node_loss, '<', 3, "node_loss_lag small: ha1 holds the data ($node_loss)");
like($reason, qr/^best copy in another region "dr[12]" \(B\): disconnected/,
	"the reason says region B's best copy is disconnected: $reason");
ok(defined wait_until($primary, q{SELECT rpo_state FROM dr_regions WHERE region = 'B'}, 'breach', 10),
	'dr_regions: region B in breach');
ok(defined wait_until($primary, q{SELECT count(*) FROM dr_metrics_rows('tensafe_dr_region_loss_lag_seconds')
	WHERE value >= 6}, '1', 10), 'metric tensafe_dr_region_loss_lag_seconds carries it');

$primary->stop;
$ha1->stop;
done_testing();
