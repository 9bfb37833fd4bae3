# Issue 19: the primary remembers its standbys.  When the copy it would
# fail over to disappears, the primary says so: the standby keeps its row
# in dr_replicas ('disconnected'), its rpo_lag grows, dr_status() goes
# warning then breach (never 'unknown'), STANDBY_LOST and the RPO events
# are recorded; the breach holds across a restart of the primary; the
# standby's return is STANDBY_RETURNED and 'ok'; with two standbys, the
# figures follow the remaining one and the lost one is named; forgotten
# (dr_standby_forget), a primary without copies is 'unknown' again.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use DrTest;

my $objectives = "tensafe_dr.rpo_target = '3s'\ntensafe_dr.rpo_max = '6s'\n";
# wal_keep_size: the standby comes back after the primary restarted (and
# recycled its WAL) and must still find the WAL it misses
my $primary = new_primary('primary', $objectives . "wal_keep_size = '256MB'\n");
my $sa = new_standby($primary, 'standby_a', $objectives);

$primary->safe_psql('postgres', q{
	CREATE TABLE t (i int);
	SELECT dr_standby_set('standby_a', 'eu-west', 'dr');
});

# Remembered: the worker notes its positions.
ok(defined wait_until($primary, q{
	SELECT count(*) FROM dr_standbys
	 WHERE standby_name = 'standby_a' AND last_flush_lsn IS NOT NULL AND first_seen IS NOT NULL},
	'1', 30), 'the primary remembers the streaming standby');
ok(defined wait_until($primary, 'SELECT rpo_state FROM dr_status()', 'ok', 30), 'primary ok');
is($primary->safe_psql('postgres', q{
	SELECT state || ' ' || region || ' ' || purpose FROM dr_replicas WHERE standby_name = 'standby_a'}),
	'streaming eu-west dr', 'dr_replicas shows the declared region and purpose');

# --- The standby's host dies; the primary keeps committing.
my $stopped_at = time;
$sa->stop('immediate');
$primary->safe_psql('postgres', 'INSERT INTO t VALUES (1)');

my %seen;
my $breach_wait = wait_until($primary, 'SELECT rpo_state FROM dr_status()', 'breach', 40,
	sub { $seen{ $_[0] } = 1; $primary->safe_psql('postgres', 'INSERT INTO t VALUES (2)'); });
ok(defined $breach_wait, 'primary dr_status() reaches breach with its only standby gone');
ok($seen{warning}, 'warning before breach');
ok(!$seen{unknown}, 'never unknown while the standby is away');
my $elapsed = time - $stopped_at;
cmp_ok($elapsed, '>=', 5, "breach not before rpo_max, give or take a sample (${elapsed}s)");

my $st = status_of($primary);
cmp_ok($st->{rpo_lag_s}, '>=', 6, "rpo_lag at least rpo_max ($st->{rpo_lag_s})");
like($st->{state_reason}, qr/standby_a.*disconnected/, "reason names the lost standby: $st->{state_reason}");
is($st->{standbys}, '0', 'no standby streaming');

my ($row) = $primary->safe_psql('postgres', q{
	SELECT state, rpo_state, last_seen IS NOT NULL, extract(epoch FROM rpo_lag) >= 6
	  FROM dr_replicas WHERE standby_name = 'standby_a'}, extra_params => [ '-F', ' ' ]);
is($row, 'disconnected breach t t', 'dr_replicas keeps the disconnected standby, in breach');

# rpo_lag grows with time
my $lag1 = status_of($primary)->{rpo_lag_s};
ok(defined wait_until($primary,
	"SELECT extract(epoch FROM rpo_lag) > $lag1 + 1 FROM dr_status()", 't', 10),
	'rpo_lag keeps growing');

# Events: STANDBY_LOST naming it, then the RPO events.
ok(defined wait_until($primary, q{
	SELECT string_agg(event_type, ',' ORDER BY id) FROM dr_events
	 WHERE event_type IN ('STANDBY_LOST', 'RPO_WARNING', 'RPO_BREACH')},
	'STANDBY_LOST,RPO_WARNING,RPO_BREACH', 20), 'STANDBY_LOST, RPO_WARNING, RPO_BREACH recorded');
is($primary->safe_psql('postgres', q{
	SELECT details->>'standby' FROM dr_events WHERE event_type = 'STANDBY_LOST'}),
	'standby_a', 'STANDBY_LOST names the standby');

# Metrics carry it: the state is breach, the standby's series is there.
is($primary->safe_psql('postgres', q{
	SELECT labels->>'state' FROM dr_metrics_rows('tensafe_dr_rpo_state') WHERE value = 1}),
	'breach', 'metrics: rpo_state breach');
is($primary->safe_psql('postgres', q{
	SELECT value >= 6 FROM dr_metrics_rows('tensafe_dr_standby_rpo_lag_seconds')
	 WHERE labels->>'standby' = 'standby_a'}),
	't', "metrics: the disconnected standby's rpo_lag");
is($primary->safe_psql('postgres', q{
	SELECT value FROM dr_metrics_rows('tensafe_dr_standby_connected')
	 WHERE labels->>'standby' = 'standby_a'}),
	'0', 'metrics: the standby is not connected');

# --- The primary restarts while the standby is away: it still remembers.
my $last_event = $primary->safe_psql('postgres', 'SELECT max(id) FROM dr_events');
$primary->restart;
is($primary->safe_psql('postgres', q{
	SELECT state FROM dr_replicas WHERE standby_name = 'standby_a'}),
	'disconnected', 'after a restart the standby is still listed, disconnected');
%seen = ();
ok(defined wait_until($primary, 'SELECT rpo_state FROM dr_status()', 'breach', 20,
	sub { $seen{ $_[0] } = 1 }), 'after a restart of the primary the breach holds');
$st = status_of($primary);
$elapsed = time - $stopped_at;
cmp_ok($st->{rpo_lag_s}, '>=', $elapsed - 2,
	"rpo_lag after the restart covers the time since the standby left ($st->{rpo_lag_s} s, left ${elapsed} s ago)");
ok(defined wait_until($primary, qq{
	SELECT count(*) > 0 FROM dr_events WHERE event_type = 'RPO_BREACH' AND id > $last_event}, 't', 20),
	'the restarted primary records the breach again');
is($primary->safe_psql('postgres', q{SELECT count(*) FROM dr_events WHERE event_type = 'STANDBY_LOST'}),
	'1', 'no second STANDBY_LOST for a standby that left before the restart');

# --- The standby comes back and catches up.
$sa->start;
$primary->wait_for_catchup($sa, 'replay', $primary->lsn('flush'));
ok(defined wait_until($primary, 'SELECT rpo_state FROM dr_status()', 'ok', 60),
	'the standby is back and caught up: ok');
my $returned_at = $primary->safe_psql('postgres', 'SELECT now()');
is($primary->safe_psql('postgres', q{
	SELECT state FROM dr_replicas WHERE standby_name = 'standby_a'}),
	'streaming', 'dr_replicas: streaming again');
ok(defined wait_until($primary, q{
	SELECT count(*) FROM dr_events WHERE event_type = 'STANDBY_RETURNED'
	   AND details->>'standby' = 'standby_a'}, '1', 20), 'STANDBY_RETURNED recorded');
ok(defined wait_until($primary, q{
	SELECT event_type FROM dr_events WHERE event_type LIKE 'RPO_%' ORDER BY id DESC LIMIT 1},
	'RPO_RECOVERED', 20), 'RPO_RECOVERED recorded');

# --- Two standbys, one lost: the figures follow the remaining one.
my $sb = new_standby($primary, 'standby_b', $objectives);
ok(defined wait_until($primary, q{
	SELECT string_agg(standby_name, ',' ORDER BY standby_name) FROM dr_standbys
	 WHERE last_flush_lsn IS NOT NULL}, 'standby_a,standby_b', 30),
	'both standbys remembered (and not pg_basebackup, which reports no replay position)');
ok(defined wait_until($primary, 'SELECT rpo_state || standbys FROM dr_status()', 'ok2', 30),
	'two standbys, ok');
$stopped_at = time;
$sa->stop('immediate');
my @lost_states;
ok(defined wait_until($primary, q{
	SELECT rpo_state FROM dr_replicas WHERE standby_name = 'standby_a' AND state = 'disconnected'},
	'breach', 40,
	sub { push @lost_states, $_[0] if $_[0] ne ''; $primary->safe_psql('postgres', 'INSERT INTO t VALUES (3)') }),
	"the lost standby's own row reaches breach");
note('the lost row: ' . $primary->safe_psql('postgres', q{
	SELECT d.last_seen, d.last_flush_lsn, r.rpo_lag, r.replay_lag
	  FROM dr_standbys d JOIN dr_replicas r USING (standby_name) WHERE standby_name = 'standby_a'}));
is($primary->safe_psql('postgres', qq{
	SELECT last_seen > '$returned_at' FROM dr_standbys WHERE standby_name = 'standby_a'}),
	't', 'the positions it held when it left were written (last_seen after its return)');
isnt($lost_states[0] // 'breach', 'breach', "dated from when it left: not in breach at once (@lost_states[0..2])");
$elapsed = time - $stopped_at;
cmp_ok($elapsed, '>=', 5, "its breach not before rpo_max (${elapsed}s)");
$st = status_of($primary);
is($st->{rpo_state}, 'ok', 'the primary follows the remaining standby: ok');
cmp_ok($st->{rpo_lag_s}, '<', 3, "rpo_lag is the remaining standby's ($st->{rpo_lag_s})");
like($st->{state_reason}, qr/standby "standby_a" disconnected/,
	"the lost one is named: $st->{state_reason}");
ok(defined wait_until($primary, q{
	SELECT count(*) FROM dr_events WHERE event_type = 'STANDBY_LOST'}, '2', 20),
	'second STANDBY_LOST recorded');

# --- Forgotten on purpose: gone from dr_replicas and from the figures.
is($primary->safe_psql('postgres', "SELECT dr_standby_forget('standby_a')"), 't', 'forget standby_a');
is($primary->safe_psql('postgres', q{
	SELECT count(*) FROM dr_replicas WHERE standby_name = 'standby_a'}), '0',
	'forgotten: no longer listed');
ok(defined wait_until($primary, q{
	SELECT state_reason NOT LIKE '%standby_a%' FROM dr_status()}, 't', 10),
	'forgotten: no longer named');

# The last one leaves, and is forgotten: no DR copy configured.
$sb->stop('immediate');
ok(defined wait_until($primary, q{
	SELECT state FROM dr_replicas WHERE standby_name = 'standby_b'}, 'disconnected', 20),
	'standby_b disconnected');
is($primary->safe_psql('postgres', "SELECT dr_standby_forget('standby_b')"), 't', 'forget standby_b');
ok(defined wait_until($primary, 'SELECT rpo_state FROM dr_status()', 'unknown', 10),
	'no standby remembered: unknown again');
like(status_of($primary)->{state_reason}, qr/no DR copy configured/, 'reason: no DR copy configured');

# The worker's position updates stay HOT (fillfactor 50, pruned on the page).
my ($upd, $hot) = split /\|/, $primary->safe_psql('postgres', q{
	SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'dr_standbys'});
note("dr_standbys: $upd updates, $hot of them HOT");
cmp_ok($upd, '>', 0, "the worker updated the positions ($upd updates)");
cmp_ok($hot, '>=', 0.8 * $upd, "the updates are HOT ($hot of $upd)");

$primary->stop;
done_testing();
