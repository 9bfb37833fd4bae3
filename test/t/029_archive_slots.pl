# 029_archive_slots: the Level 4 exposure, replication slots, overdue drills
# and post-mortems due (issue 17).
#
#   - a real archive_command that fails (a flag file), then works again:
#     dr_status() says failing with the failed segment and count, the
#     archive_lag grows with the time since the last archived segment (and
#     rpo_state stays ok: the copies are fine), ARCHIVE_FAILING is recorded
#     once, ARCHIVE_RECOVERED once archiving works; the exposure is then
#     judged against rpo_target / rpo_max on its own (warning, breach, with
#     the archive_timeout hint);
#   - a standby with archive_mode = on does not archive: NULL and a reason;
#   - a real physical slot held inactive, then lost through
#     max_slot_wal_keep_size: retaining, lost, dropped -- SLOT_RETAINING,
#     SLOT_LOST, SLOT_RECOVERED, dr_status().slot_state / worst_slot, dr_slots
#     and the metrics;
#   - DRILL_OVERDUE for each drill kind never run, POSTMORTEM_DUE for an
#     incident resolved more than 48 h ago without a post-mortem, each once;
#     dr_postmortem_written() clears it.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use DrTest;

# ---------------------------------------------------------------------------
# The shipped alert rules: valid, each with a test where it fires and a
# healthy series where it stays quiet (promtool runs them).
{
	my $dir = "$ENV{TESTDIR}/monitoring";
	for my $cmd ([ 'promtool', 'check', 'rules', 'alerts.yml' ],
		[ 'promtool', 'test', 'rules', 'alerts_test.yml' ])
	{
		my ($stdout, $stderr);
		my $ok = IPC::Run::run($cmd, '>', \$stdout, '2>', \$stderr, init => sub { chdir $dir or die $! });
		ok($ok, join(' ', @$cmd)) or diag("$stdout$stderr");
	}
	my $rules = slurp_file("$dir/alerts.yml");
	my $tests = slurp_file("$dir/alerts_test.yml");
	my @alerts = $rules =~ /^\s*- alert: (\w+)$/mg;
	for my $want (qw(TensafeDrRpoWarning TensafeDrRpoBreach TensafeDrWorkerDown TensafeDrSampleStale
		TensafeDrArchiveFailing TensafeDrArchiveExposureHigh TensafeDrSlotRetaining TensafeDrSlotLost
		TensafeDrBackupTooOld TensafeDrDrillOverdue TensafeDrPostmortemDue TensafeDrNotificationsFailing))
	{
		ok((grep { $_ eq $want } @alerts), "alerts.yml has $want");
	}
	for my $a (@alerts)
	{
		like($tests, qr/alertname: \Q$a\E\n\s+exp_alerts:\n\s+- exp_labels:/, "$a fires in a test");
		like($tests, qr/alertname: \Q$a\E\n\s+exp_alerts: \[\]/, "$a is tested quiet");
	}
}

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $flag = "$tmp/archive_fails";
my $archive = "$tmp/archive";
mkdir $archive or die "mkdir $archive: $!";

my ($target, $max) = (10, 20);
my $primary = new_primary('primary', <<"CONF");
archive_mode = on
archive_command = 'test ! -f $flag && cp %p $archive/%f'
tensafe_dr.rpo_target = '${target}s'
tensafe_dr.rpo_max = '${max}s'
tensafe_dr.slot_wal_warning = '32MB'
tensafe_dr.due_check_interval = '1s'
max_slot_wal_keep_size = '64MB'
CONF
$primary->safe_psql('postgres', 'CREATE TABLE t (x int)');
my $standby = new_standby($primary, 'standby');
# a standby that archives too (archive_mode = always), into its own directory
my $archive2 = "$tmp/archive2";
mkdir $archive2 or die "mkdir $archive2: $!";
my $always = new_standby($primary, 'always', <<"CONF");
archive_mode = always
archive_command = 'cp %p $archive2/%f'
CONF

sub q1 { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }

# a segment with something in it, switched: returns its file name
sub switch_segment
{
	my $seg = q1($primary, q{
		INSERT INTO t SELECT generate_series(1, 100);
		SELECT pg_walfile_name(pg_current_wal_lsn())});
	q1($primary, 'SELECT pg_switch_wal()');
	return $seg;
}

sub metric
{
	my ($node, $family, $labels) = @_;
	return q1($node, qq{SELECT coalesce(string_agg(value::text, ','), 'absent')
	                      FROM dr_metrics_rows('$family') WHERE labels \@> '$labels'});
}

# ---------------------------------------------------------------------------
# The archive: healthy
# the WAL after seg0 is the first not archived: the primary passed seg0's
# end just after this switch (its next heartbeat)
my $t0_before = time;
my $seg0 = switch_segment();
my $t0_after = time;
ok(defined wait_until($primary, qq{SELECT archive_state = 'ok' AND archive_failed_count = 0
	AND archive_lag < interval '${target}s' AND archive_reason = 'within rpo_target'
	FROM dr_status()}, 't', 60), "archive ok once $seg0 is archived");
ok(-f "$archive/$seg0", 'the segment is in the archive');
is(metric($primary, 'tensafe_dr_archive_failing', '{}'), '0', 'metric: archive not failing');
is(metric($primary, 'tensafe_dr_archive_failures_total', '{}'), '0', 'metric: no failures');

# the standby does not archive (archive_mode = on): NULL and a reason
is(q1($standby, q{SELECT archive_state || '|' || (archive_lag IS NULL) || '|'
	|| (archive_failed_count IS NULL) || '|' || archive_reason FROM dr_status()}),
	"unknown|true|true|this standby does not archive (archive_mode = on): the primary's dr_status() shows the archive",
	'standby with archive_mode = on: archive unknown, NULL figures, the reason');
is(metric($standby, 'tensafe_dr_archive_lag_seconds', '{}'), 'absent', 'standby: no archive_lag series');
# archive_mode = always: the standby's own archiver, judged the same way
ok(defined wait_until($always, qq{SELECT archive_state = 'ok' AND archive_failed_count = 0
	AND archive_lag < interval '${target}s' FROM dr_status()}, 't', 60),
	'standby with archive_mode = always: its own archive, ok');
ok(-f "$archive2/$seg0", 'that standby archived the segment itself');

# ---------------------------------------------------------------------------
# The archive fails: the flag makes archive_command fail
open my $fh, '>', $flag or die;
close $fh;
my $seg1 = switch_segment();
ok(defined wait_until($primary, qq{SELECT archive_state = 'failing' AND archive_failed_count > 0
	AND archive_last_failed_wal = '$seg1' AND archive_last_failed_at IS NOT NULL
	FROM dr_status()}, 't', 60), "failing: $seg1 named, failures counted");
ok(defined wait_until($primary, q{SELECT count(*) FROM dr_events WHERE event_type = 'ARCHIVE_FAILING'
	AND details->>'last_failed_wal' = '} . $seg1 . q{' AND NOT pending}, '1', 30),
	'ARCHIVE_FAILING recorded');
like(q1($primary, 'SELECT archive_reason FROM dr_status()'),
	qr/^archiving fails: \d+ failures, the last for \Q$seg1\E at /, 'the reason names the segment');
is(metric($primary, 'tensafe_dr_archive_failing', '{}'), '1', 'metric: archive failing');
cmp_ok(metric($primary, 'tensafe_dr_archive_failures_total', '{}'), '>', 0, 'metric: failures counted');

# The exposure grows with the time since the newest archived WAL, up past
# rpo_max, while the copies stay ok: never mixed into rpo_state.
ok(defined wait_until($primary, qq{SELECT archive_lag >= interval '${max}s' FROM dr_status()}, 't', 90),
	'archive_lag reaches rpo_max while archiving fails');
my ($lag, $rpo_state, $state) = split /\|/,
  q1($primary, q{SELECT extract(epoch FROM archive_lag) || '|' || rpo_state || '|' || archive_state FROM dr_status()});
my $now = time;
cmp_ok($lag, '<=', $now - $t0_before + 0.2,
	sprintf('archive_lag (%.1f s) no more than the time since %s was switched (%.1f s)', $lag, $seg0, $now - $t0_before));
cmp_ok($lag, '>=', $now - $t0_after - 3,
	'and no less than it, less a heartbeat and a sample');
is($rpo_state, 'ok', 'rpo_state of the copies stays ok');
is($state, 'failing', 'archive_state failing comes first');
cmp_ok(metric($primary, 'tensafe_dr_archive_lag_seconds', '{}'), '>=', $max, 'metric: archive_lag_seconds');
is(q1($primary, q{SELECT count(*) FROM dr_events WHERE event_type = 'ARCHIVE_FAILING'}), '1',
	'ARCHIVE_FAILING recorded once, not per failed attempt');
q1($primary, q{INSERT INTO dr_backups (source, label, stop_time) VALUES ('pg_basebackup', 'b1', now())});
is(q1($primary, q{SELECT label || ' ' || archive_state || ' ' || (archive_lag >= interval '} . $max
	. q{s') FROM dr_backup_status}), 'b1 failing true', 'dr_backup_status shows the archive failing');
q1($primary, q{DELETE FROM dr_backups});

# ---------------------------------------------------------------------------
# Archiving works again
unlink $flag or die;
my $seg2 = switch_segment();	# a new .ready wakes the archiver
ok(defined wait_until($primary, q{SELECT archive_state FROM dr_status()}, 'ok', 90),
	'archive ok again');
ok(-f "$archive/$seg1" && -f "$archive/$seg2", 'the failed and the new segment are archived');
ok(defined wait_until($primary, q{SELECT string_agg(event_type, ',' ORDER BY id) FROM dr_events
	WHERE event_type LIKE 'ARCHIVE_%' AND NOT pending}, 'ARCHIVE_FAILING,ARCHIVE_RECOVERED', 30),
	'ARCHIVE_RECOVERED recorded after ARCHIVE_FAILING');
is(metric($primary, 'tensafe_dr_archive_failing', '{}'), '0', 'metric: not failing');

# Without archive_timeout, the segment being written is not archived: the
# exposure is judged on its own, warning and then breach, with the hint.
ok(defined wait_until($primary, q{SELECT archive_state FROM dr_status()}, 'warning', 60),
	'exposure past rpo_target: warning');
ok(defined wait_until($primary, q{SELECT archive_state FROM dr_status()}, 'breach', 60),
	'exposure past rpo_max: breach');
like(q1($primary, 'SELECT archive_reason FROM dr_status()'),
	qr/^archive_lag [\d.]+ s at or above rpo_max; archive_timeout is 0/, 'the reason, with the archive_timeout hint');
is(q1($primary, 'SELECT rpo_state FROM dr_status()'), 'ok', 'rpo_state still ok');

# ---------------------------------------------------------------------------
# A slot held inactive, then lost
q1($primary, q{ALTER SYSTEM SET wal_keep_size = 0; SELECT pg_reload_conf()});
is(q1($primary, 'SELECT slot_state FROM dr_status()'), 'none', 'no slot: slot_state none');
q1($primary, q{SELECT pg_create_physical_replication_slot('held', true)});
ok(defined wait_until($primary, q{SELECT slot_state || ' ' || coalesce(worst_slot, '-') FROM dr_status()},
	'ok -', 10), 'a new slot is ok');
switch_segment() for 1 .. 3;
ok(defined wait_until($primary, q{SELECT slot_state || ' ' || worst_slot FROM dr_status()},
	'retaining held', 30), 'held back 32MB: retaining, named');
ok(defined wait_until($primary, q{SELECT count(*) FROM dr_events WHERE event_type = 'SLOT_RETAINING'
	AND details->>'slot' = 'held' AND NOT pending}, '1', 30), 'SLOT_RETAINING recorded');
is(q1($primary, q{SELECT active || ' ' || (retained_bytes >= 32 * 1024 * 1024) || ' ' || state
	FROM dr_slots WHERE slot_name = 'held'}), 'false true retaining', 'dr_slots: inactive, 32MB held, retaining');
is(metric($primary, 'tensafe_dr_slot_status', '{"slot":"held","state":"retaining"}'), '1',
	'metric: slot_state retaining');
cmp_ok(metric($primary, 'tensafe_dr_slot_retained_bytes', '{"slot":"held"}'), '>=', 32 * 1024 * 1024,
	'metric: retained bytes');

switch_segment() for 1 .. 6;
q1($primary, 'CHECKPOINT');
ok(defined wait_until($primary, q{SELECT slot_state || ' ' || worst_slot FROM dr_status()},
	'lost held', 30), 'past max_slot_wal_keep_size and a checkpoint: lost');
is(q1($primary, q{SELECT wal_status || ' ' || state || ' ' || (restart_lsn IS NULL) FROM dr_slots}),
	'lost lost true', 'dr_slots: wal_status lost');
is(q1($primary, q{SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'held'}), 'lost',
	'PostgreSQL agrees');
ok(defined wait_until($primary, q{SELECT count(*) FROM dr_events WHERE event_type = 'SLOT_LOST'
	AND details->>'slot' = 'held' AND NOT pending}, '1', 30), 'SLOT_LOST recorded');
is(metric($primary, 'tensafe_dr_slot_status', '{"slot":"held","state":"lost"}'), '1', 'metric: slot lost');
is(q1($standby, 'SELECT slot_state FROM dr_status()'), 'none', 'the standby has no slot');

q1($primary, q{SELECT pg_drop_replication_slot('held')});
ok(defined wait_until($primary, q{SELECT count(*) FROM dr_events WHERE event_type = 'SLOT_RECOVERED'
	AND details->>'slot' = 'held' AND details->>'dropped' = 'true' AND NOT pending}, '1', 30),
	'SLOT_RECOVERED (dropped) recorded');
is(q1($primary, 'SELECT slot_state FROM dr_status()'), 'none', 'slot_state none again');
# unreserved may be seen between the switches and the checkpoint: then a
# second SLOT_RETAINING says so
like(q1($primary, q{SELECT string_agg(event_type || ':' || coalesce(details->>'state', '-'), ',' ORDER BY id)
	FROM dr_events WHERE event_type LIKE 'SLOT_%'}),
	qr/^SLOT_RETAINING:retaining,(SLOT_RETAINING:unreserved,)?SLOT_LOST:lost,SLOT_RECOVERED:-$/,
	'each slot change recorded once, in order');

# ---------------------------------------------------------------------------
# Overdue drills and post-mortems due
my $kinds = q1($primary, 'SELECT count(*) FROM dr_drill_kinds');
ok(defined wait_until($primary, q{SELECT count(DISTINCT details->>'occurrence') FROM dr_events
	WHERE event_type = 'DRILL_OVERDUE' AND NOT pending}, $kinds, 30),
	"DRILL_OVERDUE for each of the $kinds drill kinds never run");
is(metric($primary, 'tensafe_dr_drill_overdue', '{"kind":"full_dr"}'), '1', 'metric: full_dr overdue');
is(metric($standby, 'tensafe_dr_drill_overdue', '{}'), 'absent', 'standby: drills are the primary\'s');

my $old = q1($primary, q{SELECT dr_declare(2, 'old outage')});
q1($primary, qq{SELECT dr_resolve($old)});
my $recent = q1($primary, q{SELECT dr_declare(3, 'recent outage')});
q1($primary, qq{SELECT dr_resolve($recent)});
is(q1($primary, qq{SELECT state FROM dr_postmortem_status WHERE incident_id = $recent}), 'pending',
	'just resolved: post-mortem pending');
q1($primary, qq{UPDATE dr_incidents SET resolved_at = now() - interval '49 hours' WHERE id = $old});
is(q1($primary, qq{SELECT state FROM dr_postmortem_status WHERE incident_id = $old}), 'overdue',
	'resolved 49 h ago: overdue');
ok(defined wait_until($primary, qq{SELECT count(*) FROM dr_events WHERE event_type = 'POSTMORTEM_DUE'
	AND incident_id = $old AND NOT pending}, '1', 30), 'POSTMORTEM_DUE recorded, linked to the incident');
is(metric($primary, 'tensafe_dr_postmortems_due', '{}'), '1', 'metric: one post-mortem due');

# a second one due proves the check ran again: nothing recorded twice
my $older = q1($primary, q{SELECT dr_declare(2, 'older outage')});
q1($primary, qq{SELECT dr_resolve($older)});
q1($primary, qq{UPDATE dr_incidents SET resolved_at = now() - interval '50 hours' WHERE id = $older});
ok(defined wait_until($primary, qq{SELECT count(*) FROM dr_events WHERE event_type = 'POSTMORTEM_DUE'
	AND incident_id = $older AND NOT pending}, '1', 30), 'the next POSTMORTEM_DUE');
is(q1($primary, q{SELECT count(*) FROM dr_events WHERE event_type = 'POSTMORTEM_DUE'}), '2',
	'each post-mortem due recorded once');
is(q1($primary, q{SELECT count(*) FROM dr_events WHERE event_type = 'DRILL_OVERDUE'}), $kinds,
	'each overdue drill recorded once');

my $ev = q1($primary, qq{SELECT dr_postmortem_written($old, 'https://wiki.example/pm/$old')});
ok($ev > 0, 'dr_postmortem_written returns the event id');
is(q1($primary, qq{SELECT state || ' ' || document FROM dr_postmortem_status WHERE incident_id = $old}),
	"written https://wiki.example/pm/$old", 'written, with its document');
is(metric($primary, 'tensafe_dr_postmortems_due', '{}'), '1', 'metric: the other one still due');

done_testing();
