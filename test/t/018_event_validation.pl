# One bad event does not stop the event log (issue 13, item 2).
#
# A primary and a standby start at version 1.1, whose dr_record_event()
# let an operator record any type with any details.  Under those rules the
# operator journals, on the standby, the issue's DR_INITIATED with
# {"level": "x"} between good events, and forges a PROMOTED with
# {"possible_loss_s": 0} on the primary during a drill (which 1.1's judge
# takes for a failover: the baseline below).  A journal entry whose sequence
# number the primary's table already holds with another payload is set up
# too.  The extension is then updated to 1.2 (the standby follows), where
# the operator can no longer record either (42501), and the standby is
# promoted: the good events and the worker's PROMOTION_DETECTED reach
# dr_event_log, the two entries that cannot be flushed are set aside --
# visible in dr_events with their reason and in the metric -- and the
# forged promotion passes no drill, while a real failover does.  Last, the
# flush made to fail (its table locked) does not stop the status summary.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DrTest;

my $primary = new_primary('primary');
$primary->safe_psql('postgres', q{
	DROP EXTENSION tensafe_dr;
	CREATE EXTENSION tensafe_dr VERSION '1.1';
	CREATE ROLE ops LOGIN IN ROLE dr_operator;
});
my $standby = new_standby($primary, 'standby');

sub as_ops
{
	my ($node, $sql) = @_;
	return $node->psql('postgres', "SET ROLE ops;\n$sql", on_error_stop => 1);
}

sub sqlstate_of
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSET ROLE ops;\n$sql");
	return $err =~ /ERROR:  ([0-9A-Z]{5}):/ ? $1 : "none (ret $ret: $err)";
}

is($standby->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'tensafe_dr'"),
	'1.1', 'both nodes at 1.1');

###############################################################################
# Baseline, 1.1: a promotion recorded by hand passes a drill with no failover.
###############################################################################
my $drill0 = $primary->safe_psql('postgres',
	q{SET ROLE ops; SELECT dr_drill_start('database_failover', 'baseline on 1.1')});
my ($ret) = as_ops($primary, q{SELECT dr_record_event('PROMOTED', '{"possible_loss_s": 0}')});
is($ret, 0, '1.1: the operator records PROMOTED by hand');
is($primary->safe_psql('postgres', qq{
	SET ROLE ops;
	SELECT string_agg(passed::text, ',' ORDER BY criterion) FROM dr_drill_finish($drill0, true, 0, false)
	 WHERE criterion IN ('failover completed within RTO', 'data loss within RPO')}),
	'true,true', '1.1: that passes the failover and data-loss criteria of a drill without failover');

# The drill of 1.2 starts under 1.1, and gets its forged promotion the same way.
my $drill1 = $primary->safe_psql('postgres',
	q{SET ROLE ops; SELECT dr_drill_start('database_failover', 'forged promotion')});
($ret) = as_ops($primary, q{SELECT dr_record_event('PROMOTED', '{"possible_loss_s": 0}')});
is($ret, 0, '1.1: a second forged PROMOTED, during the next drill');

###############################################################################
# On the standby, under 1.1's rules: the issue's bad event between good ones,
# and an entry whose sequence number the primary's table takes.
###############################################################################
for my $sql (q{SELECT dr_record_event('GOOD_1', '{"n": 1}')},
	q{SELECT dr_record_event('DR_INITIATED', '{"level": "x"}')},
	q{SELECT dr_record_event('GOOD_2', '{"n": 2}')},
	q{SELECT dr_record_event('REUSED', '{"mine": true}')})
{
	($ret) = as_ops($standby, $sql);
	is($ret, 0, "1.1 standby journals: $sql");
}
is($standby->safe_psql('postgres', q{
	SELECT string_agg(event_type, ',' ORDER BY occurred_at) FROM dr_events
	 WHERE pending AND event_type IN ('GOOD_1', 'DR_INITIATED', 'GOOD_2', 'REUSED')}),
	'GOOD_1,DR_INITIATED,GOOD_2,REUSED', 'all four pending in the standby\'s journal');
my ($jid, $seq) = split /\|/, $standby->safe_psql('postgres',
	q{SELECT journal_id, seq FROM dr_journal_entries() WHERE payload->>'event_type' = 'REUSED'});
$primary->safe_psql('postgres', qq{
	INSERT INTO dr_event_log (event_type, details, system_identifier, origin_journal, origin_seq)
	VALUES ('THERE_FIRST', '{"theirs": true}', (SELECT system_identifier FROM pg_control_system()),
	        '$jid', $seq)});

###############################################################################
# Update to 1.2: the operator can no longer record either.
###############################################################################
$primary->safe_psql('postgres', 'ALTER EXTENSION tensafe_dr UPDATE');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is($standby->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'tensafe_dr'"),
	'1.2', 'the standby follows the update');
is(sqlstate_of($standby, q{SELECT dr_record_event('DR_INITIATED', '{"level": "x"}')}), '42501',
	'1.2 standby: the operator\'s DR_INITIATED is refused with 42501');
is(sqlstate_of($primary, q{SELECT dr_record_event('PROMOTED', '{"possible_loss_s": 0}')}), '42501',
	'1.2 primary: the operator\'s PROMOTED is refused with 42501');
is(sqlstate_of($standby, q{SELECT dr_record_event('OPS_NOTE', '{}', 9)}), '22023',
	'1.2 standby: level 9 refused when recorded (22023)');
($ret) = as_ops($standby, q{SELECT dr_record_event('GOOD_3', '{"n": 3}')});
is($ret, 0, '1.2 standby: an operator\'s own type is journalled');

# The drill started on 1.1 with a forged promotion fails on 1.2's judge.
is($primary->safe_psql('postgres', qq{
	SET ROLE ops;
	SELECT string_agg(passed::text || ': ' || measured, ' / ' ORDER BY criterion)
	  FROM dr_drill_finish($drill1, true, 0, false)
	 WHERE criterion IN ('failover completed within RTO', 'data loss within RPO')}),
	'false: no promotion recorded during the drill / false: no promotion recorded during the drill',
	'1.2: the forged PROMOTED passes neither criterion of a drill without failover');

###############################################################################
# A real failover during a drill; the journal flushed after the promotion.
###############################################################################
my $drill2 = $primary->safe_psql('postgres',
	q{SET ROLE ops; SELECT dr_drill_start('database_failover', 'real failover')});
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
$primary->stop('fast');
$standby->promote;

ok(defined wait_until($standby, q{
	SELECT count(*) FROM dr_event_log
	 WHERE event_type IN ('GOOD_1', 'GOOD_2', 'GOOD_3', 'PROMOTION_DETECTED')}, '4', 60),
	'after promotion the good events and PROMOTION_DETECTED reach dr_event_log');
is($standby->safe_psql('postgres', q{
	SELECT string_agg(event_type || ' ' || count, ',' ORDER BY event_type) FROM (
	  SELECT event_type, count(*) FROM dr_event_log
	   WHERE event_type IN ('GOOD_1', 'GOOD_2', 'GOOD_3', 'PROMOTION_DETECTED') GROUP BY 1) c}),
	'GOOD_1 1,GOOD_2 1,GOOD_3 1,PROMOTION_DETECTED 1', 'each once');
ok(defined wait_until($standby, 'SELECT count(*) FROM dr_events WHERE pending', '0', 10),
	'nothing left pending');

my $bad = $standby->safe_psql('postgres', q{
	SELECT pending, set_aside_reason, details->>'level', id IS NULL FROM dr_events
	 WHERE event_type = 'DR_INITIATED' AND set_aside_reason IS NOT NULL});
like($bad, qr/^f\|.*details\.level of DR_INITIATED is "x".*\|x\|t$/,
	"the bad entry is in dr_events, set aside with its reason: $bad");
is($standby->safe_psql('postgres', q{SELECT count(*) FROM dr_event_log WHERE event_type = 'DR_INITIATED'}),
	'0', 'and not in dr_event_log');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM dr_incidents}), '0',
	'no incident declared from it');
is($standby->safe_psql('postgres', q{
	SELECT set_aside_reason, details FROM dr_events WHERE event_type = 'REUSED'}),
	'sequence reused with a different payload|{"mine": true}',
	'the entry whose sequence number was taken is set aside, not skipped');
is($standby->safe_psql('postgres', qq{
	SELECT event_type, details FROM dr_event_log WHERE origin_journal = '$jid' AND origin_seq = $seq}),
	'THERE_FIRST|{"theirs": true}', 'the row that was there first stays');
ok($standby->log_contains(qr/WARNING:  tensafe_dr: journal entry $jid\/$seq set aside: sequence reused with a different payload/),
	'a WARNING in the server log names it');
is($standby->safe_psql('postgres',
	q{SELECT value FROM dr_metrics_rows('tensafe_dr_set_aside_events')}), '2',
	'the metric counts the two entries set aside');
like($standby->safe_psql('postgres', 'SELECT dr_metrics()'),
	qr/^tensafe_dr_set_aside_events\{[^}]*\} 2$/m, 'and dr_metrics() exposes it');

# The real failover passes the drill's failover criterion.
my $judged = $standby->safe_psql('postgres', qq{
	SET ROLE ops;
	SELECT string_agg(criterion || '=' || coalesce(passed::text, 'null') || ' (' || measured || ')', ' / ' ORDER BY criterion)
	  FROM dr_drill_finish($drill2, true, 0, false)
	 WHERE criterion IN ('failover completed within RTO', 'audit logs continuous')});
like($judged, qr/failover completed within RTO=true/, "a real failover passes: $judged");
like($judged, qr/audit logs continuous=false \(0 missing journal entries, \d+ pending, 2 set aside\)/,
	'the entries set aside during the drill are reported by the audit criterion');

###############################################################################
# The flush failing does not stop the status summary: with dr_event_log
# locked, the flush times out (lock_timeout 1 s) pass after pass, while
# dr_status() still shows the newest event.
###############################################################################
my $locker = $standby->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK TABLE dr_event_log IN EXCLUSIVE MODE');
my $log_offset = -s $standby->logfile;
($ret) = as_ops($standby, q{BEGIN READ ONLY; SELECT dr_record_event('WHILE_LOCKED', '{}'); COMMIT;});
is($ret, 0, 'an event journalled while dr_event_log is locked');
my $shown = wait_until($standby, q{SELECT last_event LIKE 'WHILE_LOCKED at %' FROM dr_status()}, 't', 8);
ok(defined $shown, 'dr_status() shows it while the flush cannot run');
note(sprintf('summary refreshed %.1f s after the event, with the flush locked out', $shown // -1));
ok($standby->wait_for_log(qr/canceling statement due to lock timeout/, $log_offset),
	'the flush failed meanwhile (lock timeout logged)');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM dr_event_log WHERE event_type = 'WHILE_LOCKED'}),
	'0', 'the event is not in the table yet');
$locker->query_safe('COMMIT');
$locker->quit;
ok(defined wait_until($standby, q{SELECT count(*) FROM dr_event_log WHERE event_type = 'WHILE_LOCKED'}, '1', 30),
	'once the lock is gone the flush takes it');

$standby->stop;
done_testing();
