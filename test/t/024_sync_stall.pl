# Synchronous replication: DR calls never hang, and a write stall is a DR
# state (issue 20).
#
# A primary with synchronous_standby_names = 'ss' and its standby ss
# streaming as sync.  The standby is killed (immediate stop) while a writer
# commits: the writer waits in SyncRep.  Then, on the primary:
#   - dr_declare, dr_record_event, dr_acknowledge, dr_drill_start and
#     dr_resolve, and the Patroni callback script, each return within
#     $prompt_s seconds, and what they recorded is visible to another
#     session at once (the return times are printed);
#   - SYNC_STALL is recorded, and dr_status().state_reason says "synchronous
#     replication stalled: 1 backend waiting ... missing: ss", within the
#     threshold plus one sample (plus a second of slack) of the writer
#     starting to wait; dr_sync_status() and the tensafe_dr_sync_* metrics
#     agree; rpo_state is judged as usual (from the remembered, now
#     disconnected standby's figures: never unknown);
#   - the standby returns: the writer's commit completes, SYNC_RESUMED is
#     recorded, the DR records reach the standby, and nothing was recorded
#     twice.
# The same on the primary fenced with dr_fence() during a second stall:
# dr_fence itself (a commit waiting for the synchronous standby already has its
# commit record flushed here, so the fence does not wait for it), dr_declare
# and dr_record_event return at once (journalled, flushed after dr_unfence),
# are flushed by the worker during the stall, and appear once each.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use IPC::Run;
use DrTest;

my $threshold_s = 2;
my $sample_s = 1;
my $prompt_s = 2;    # "within a second or two"
my $primary = new_primary('ss_primary',
	"tensafe_dr.sync_stall_threshold = '${threshold_s}s'\n");
$primary->safe_psql('postgres', 'CREATE TABLE t (id int)');
# the standby's application_name is its cluster_name, the node's name: ss
my $standby = new_standby($primary, 'ss');
$primary->append_conf('postgresql.conf', "synchronous_standby_names = 'ss'\n");
$primary->reload;
ok(defined wait_until($primary,
		"SELECT sync_state FROM pg_stat_replication WHERE application_name = 'ss'", 'sync', 30),
	'standby ss streams as the synchronous standby');
ok(defined wait_until($primary, 'SELECT stalled FROM dr_sync_status()', 'f', 10),
	'dr_sync_status(): no stall while ss confirms');
like(status_of($primary)->{state_reason}, qr/^(?!synchronous)/, 'no stall in state_reason');

my %measured;

# Run one SQL call on the primary with a hard limit; returns (elapsed, output).
sub timed
{
	my ($label, $sql) = @_;
	my $start = time;
	my ($ret, $out, $err) = $primary->psql('postgres', $sql,
		timeout => 15, timed_out => \my $timed_out);
	my $elapsed = time - $start;
	$measured{$label} = $elapsed;
	diag(sprintf('%-28s returned in %.3f s%s', $label, $elapsed, $timed_out ? ' (TIMED OUT)' : ''));
	ok(!$timed_out && $ret == 0, "$label returns") or diag("ret=$ret err=$err");
	cmp_ok($elapsed, '<', $prompt_s, "$label returns within ${prompt_s}s");
	return $out;
}

# Kill the standby and start a writer that waits for it; returns the harness
# and the time the writer was first seen waiting in SyncRep.
sub stall
{
	my ($value) = @_;
	$standby->stop('immediate');
	# before anything waits: no synchronous standby can be had, and who is missing
	ok(defined wait_until($primary,
			q{SELECT state_reason LIKE 'no synchronous standby available: 0 of 1 needed streaming, missing: ss; commits that wait for one will stall; %' FROM dr_status()},
			't', 10),
		'state_reason: no synchronous standby available, ss missing (nothing waits yet)');
	is($primary->safe_psql('postgres', 'SELECT waiting_backends, stalled, missing_standbys FROM dr_sync_status()'),
		'0|f|{ss}', 'dr_sync_status(): nothing waits, not stalled, ss missing');
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $primary->connstr('postgres'),
		  '-c', "INSERT INTO t VALUES ($value) RETURNING id" ],
		\$in, \$out, \$err);
	my $waited = wait_until($primary,
		"SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'", '1', 30);
	ok(defined $waited, "writer $value waits for the synchronous standby");
	# when its commit began to wait, by the server's clock (within its statement)
	my $since = $primary->safe_psql('postgres',
		"SELECT query_start FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
	return ($h, $since, \$out, \$err);
}

# Wait for the background writer to finish (bounded); its output.
sub finish_writer
{
	my ($h, $out, $label) = @_;
	my $deadline = time + 30;
	while ($h->pumpable && time < $deadline)
	{
		$h->pump_nb;
		usleep(50_000);
	}
	if ($h->pumpable)
	{
		$h->kill_kill;
		fail("$label: writer finished");
		return;
	}
	$h->finish;
	like($$out, qr/^\d+/, "$label: writer's commit completed");
}

sub count_events
{
	my ($where) = @_;
	return $primary->safe_psql('postgres', "SELECT count(*) FROM dr_events WHERE $where");
}

###############################################################################
# Stall 1: an unfenced primary.
###############################################################################
my ($writer, $waiting_at, $wout) = stall(42);

my $inc = timed('dr_declare', q{SELECT dr_declare(3, 'sync standby gone')});
like($inc, qr/^\d+$/, 'dr_declare returned an incident id');
# another session sees it at once
is($primary->safe_psql('postgres', "SELECT summary FROM dr_incidents WHERE id = $inc"),
	'sync standby gone', 'the incident is visible to another session at once');
is(count_events("event_type = 'DR_INITIATED' AND incident_id = $inc AND NOT pending"), '1',
	'DR_INITIATED is in the event log, visible at once');

my $ev = timed('dr_record_event', q{SELECT dr_record_event('sync.test', '{"n": 1}')});
like($ev, qr/^\d+$/, 'dr_record_event returned an id');
is(count_events("id = $ev AND event_type = 'sync.test'"), '1', 'the event is visible at once');

timed('dr_acknowledge', "SELECT dr_acknowledge($inc, 'oncall')");
is($primary->safe_psql('postgres', "SELECT acknowledged_by FROM dr_incidents WHERE id = $inc"),
	'oncall', 'the acknowledgement is visible at once');

my $drill = timed('dr_drill_start', q{SELECT dr_drill_start('tabletop', 'during a sync stall')});
is(count_events("event_type = 'DRILL_STARTED' AND (details->>'drill')::bigint = $drill"), '1',
	'DRILL_STARTED is visible at once');

# The Patroni callback script, as Patroni runs it
{
	my $start = time;
	my ($stdout, $stderr);
	local $ENV{PSQL} = 'psql';
	my $ok = IPC::Run::run(
		[ "$ENV{TESTDIR}/patroni/tensafe_dr_callback", '--dsn', $primary->connstr('postgres'),
		  'on_role_change', 'primary', 'ssscope' ],
		'>', \$stdout, '2>', \$stderr, IPC::Run::timeout(20));
	my $elapsed = time - $start;
	$measured{'tensafe_dr_callback'} = $elapsed;
	diag(sprintf('%-28s returned in %.3f s', 'tensafe_dr_callback', $elapsed));
	ok($ok, 'the Patroni callback succeeds') or diag($stderr);
	cmp_ok($elapsed, '<', $prompt_s + 1, 'the Patroni callback returns promptly');
	is(count_events(q{event_type = 'patroni.on_role_change' AND details->>'scope' = 'ssscope' AND NOT pending}),
		'1', 'the callback event was inserted (not spooled) and is visible');
}

# The stall is a state: SYNC_STALL and state_reason within threshold + one sample
my $limit = $threshold_s + $sample_s + 1;
my $seen = wait_until($primary, "SELECT count(*) > 0 FROM dr_events WHERE event_type = 'SYNC_STALL'",
	't', 30);
ok(defined $seen, 'SYNC_STALL recorded');
my $stall_after = $primary->safe_psql('postgres',
	"SELECT extract(epoch FROM occurred_at - '$waiting_at'::timestamptz) FROM dr_events WHERE event_type = 'SYNC_STALL'");
diag(sprintf('SYNC_STALL recorded %.3f s after the writer began to wait (threshold %d s, limit %d s)',
	$stall_after, $threshold_s, $limit));
cmp_ok($stall_after, '<=', $limit, 'SYNC_STALL within the threshold plus one sample');
cmp_ok($stall_after, '>=', $threshold_s, 'and not before the threshold');
my $st = status_of($primary);
like($st->{state_reason},
	qr/^synchronous replication stalled: 1 backend waiting for a synchronous standby since .*, missing: ss \(0 of 1 needed streaming\); no standby streaming; best remaining copy "ss" disconnected/,
	'dr_status() state_reason: the stall, how many wait, since when, and who is missing, before the lag reason');
like($st->{rpo_state}, qr/^(ok|warning|breach)$/,
	"rpo_state judged as usual, from the remembered standby's figures (issue 19), not hidden behind unknown: $st->{rpo_state}");
is($primary->safe_psql('postgres',
		q{SELECT waiting_backends, stalled, required_standbys, available_standbys, missing_standbys, waiting_since < now() FROM dr_sync_status()}),
	'1|t|1|0|{ss}|t', 'dr_sync_status(): one waiting, stalled, ss missing');
my $details = $primary->safe_psql('postgres',
	q{SELECT details->>'waiting_backends', details->'missing_standbys', details ? 'since', successful FROM dr_events WHERE event_type = 'SYNC_STALL'});
is($details, '1|["ss"]|t|f', 'SYNC_STALL details: waiting backends, since, missing standbys');
is($primary->safe_psql('postgres',
		q{SELECT string_agg(metric || '=' || value, ' ' ORDER BY metric) FROM dr_metrics_rows() WHERE metric IN ('tensafe_dr_sync_stalled', 'tensafe_dr_sync_waiting_backends', 'tensafe_dr_sync_standbys_missing')}),
	'tensafe_dr_sync_stalled=1 tensafe_dr_sync_standbys_missing=1 tensafe_dr_sync_waiting_backends=1',
	'metrics: stalled, one waiting, one missing');
cmp_ok($primary->safe_psql('postgres',
		q{SELECT value FROM dr_metrics_rows('tensafe_dr_sync_stall_seconds')}), '>=', $threshold_s,
	'tensafe_dr_sync_stall_seconds at least the threshold');
like($primary->safe_psql('postgres', 'SELECT dr_metrics()'), qr/^tensafe_dr_sync_stalled\{node="[^"]*",region="[^"]*"\} 1$/m,
	'dr_metrics() exposes tensafe_dr_sync_stalled 1');

# Resolve during the stall too
timed('dr_resolve', "SELECT rto_state FROM dr_resolve($inc, 'standby back')");

# The stall is real: a plain commit hangs (3 s) until cancelled, which
# commits it locally with PostgreSQL's warning.  The wait continues: the
# cancel does not end the stall.
{
	my ($ret, $out, $err) = $primary->psql('postgres', 'INSERT INTO t VALUES (7)',
		timeout => 3, timed_out => \my $timed_out);
	ok($timed_out, 'a plain commit hangs meanwhile (3 s)');
	$primary->safe_psql('postgres',
		q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = 'INSERT INTO t VALUES (7)' AND wait_event = 'SyncRep'});
	ok(defined wait_until($primary, q{SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'}, '1', 10),
		'the cancelled commit no longer waits');
	like(slurp_file($primary->logfile), qr/canceling wait for synchronous replication/,
		'PostgreSQL says it cancelled the wait');
	is($primary->safe_psql('postgres', 'SELECT stalled FROM dr_sync_status()'), 't',
		'still stalled: the first writer waits on');
}

# The standby returns
$standby->start;
finish_writer($writer, $wout, 'stall 1');
ok(defined wait_until($primary, "SELECT count(*) FROM dr_events WHERE event_type = 'SYNC_RESUMED'", '1', 30),
	'SYNC_RESUMED recorded');
ok(defined wait_until($primary, 'SELECT stalled FROM dr_sync_status()', 'f', 10), 'no longer stalled');
unlike(status_of($primary)->{state_reason}, qr/synchronous/, 'state_reason no longer mentions it');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is($standby->safe_psql('postgres', "SELECT summary, acknowledged_by, resolved_at IS NOT NULL FROM dr_incidents WHERE id = $inc"),
	'sync standby gone|oncall|t', 'the DR records recorded during the stall reached the standby');
is($primary->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id = 42'), '1', "the writer's row, once");

###############################################################################
# Stall 2: the primary fenced with dr_fence() during the stall.
###############################################################################
($writer, $waiting_at, $wout) = stall(43);
timed('dr_fence', q{SELECT dr_fence('sync stall test')});
is($primary->safe_psql('postgres', 'SELECT fenced FROM dr_status()'), 't', 'fenced');
my $inc2 = timed('dr_declare (fenced)', q{SELECT dr_declare(2, 'fenced and stalled')});
is($inc2, '', 'dr_declare on the fenced node journals (no id yet)');
is(count_events(q{event_type = 'DR_INITIATED' AND details->>'summary' = 'fenced and stalled'}), '1',
	'the fenced declaration is visible at once (dr_events)');
timed('dr_record_event (fenced)', q{SELECT dr_record_event('sync.fenced', '{}')});
is(count_events(q{event_type = 'sync.fenced'}), '1', 'the fenced event is visible at once');
# a fenced node commits no write, the worker's flush included (fence.c):
# the declaration stays journalled -- durable here, shown by dr_events --
# until dr_unfence()
is($primary->safe_psql('postgres',
		q{SELECT pending FROM dr_events WHERE event_type = 'DR_INITIATED' AND details->>'summary' = 'fenced and stalled'}),
	't', 'the fenced declaration is pending in the journal (the fence lets no write commit)');
ok(defined wait_until($primary,
		"SELECT count(*) FROM dr_events WHERE event_type = 'SYNC_STALL'", '2', $threshold_s + $sample_s + 10),
	'SYNC_STALL recorded for the second stall (fenced)');
like(status_of($primary)->{state_reason}, qr/^synchronous replication stalled: 1 backend waiting/,
	'state_reason on the fenced primary says the stall');
$standby->start;
finish_writer($writer, $wout, 'stall 2');
ok(defined wait_until($primary, "SELECT count(*) FROM dr_events WHERE event_type = 'SYNC_RESUMED'", '2', 30),
	'SYNC_RESUMED for the second stall');
timed('dr_unfence', q{SELECT dr_unfence()});
ok(defined wait_until($primary, 'SELECT pending_events FROM dr_status()', '0', 10), 'journal flushed');
is($primary->safe_psql('postgres', q{SELECT count(*) FROM dr_incidents WHERE summary = 'fenced and stalled'}),
	'1', 'unfenced, the worker flushed the fenced declaration: the incident exists, once');

###############################################################################
# Nothing recorded twice.
###############################################################################
is($primary->safe_psql('postgres', q{
	SELECT string_agg(event_type || '=' || n, ' ' ORDER BY event_type) FROM (
	  SELECT event_type, count(*) AS n FROM dr_events
	   WHERE event_type IN ('DR_INITIATED', 'DR_ACKNOWLEDGED', 'DR_COMPLETE', 'DRILL_STARTED',
	                        'sync.test', 'sync.fenced', 'patroni.on_role_change',
	                        'SYNC_STALL', 'SYNC_RESUMED', 'FENCED', 'UNFENCED')
	   GROUP BY event_type) x}),
	'DRILL_STARTED=1 DR_ACKNOWLEDGED=1 DR_COMPLETE=1 DR_INITIATED=2 FENCED=1 SYNC_RESUMED=2 SYNC_STALL=2 UNFENCED=1 patroni.on_role_change=1 sync.fenced=1 sync.test=1',
	'every event once');
is($primary->safe_psql('postgres', 'SELECT count(*) FROM dr_incidents'), '2', 'two incidents, once each');
is($primary->safe_psql('postgres', 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM t'), '7,42,43',
	"every writer's row, once each");

###############################################################################
# The alert rule: valid, and fires on a stall (promtool's rule unit test).
###############################################################################
for my $cmd ([ 'promtool', 'check', 'rules', 'alerts.yml' ], [ 'promtool', 'test', 'rules', 'alerts_test.yml' ])
{
	my ($stdout, $stderr);
	my $ok = IPC::Run::run($cmd, '>', \$stdout, '2>', \$stderr, init => sub { chdir "$ENV{TESTDIR}/monitoring" or die $! });
	ok($ok, join(' ', @$cmd)) or diag("$stdout$stderr");
}

diag('measured return times during the stall: '
	  . join(', ', map { sprintf('%s %.3f s', $_, $measured{$_}) } sort keys %measured));

$standby->stop;
$primary->stop;
done_testing();
