# The local journal: events recorded on a standby are durable (kill -9 of
# its postmaster), shown as pending, flushed exactly once when the node can
# write (promotion, later restarts, crashes in the middle of a flush), and
# never replayed by a clone taken with pg_basebackup.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DrTest;

my $primary = new_primary('primary');
my $standby = new_standby($primary, 'standby');

sub count_of
{
	my ($node, $type, $where) = @_;
	$where //= '';
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM dr_events WHERE event_type = '$type' $where");
}

###############################################################################
# Recorded on a standby: journalled, pending, durable across kill -9.
###############################################################################
is($standby->safe_psql('postgres',
	q{SELECT dr_record_event('STANDBY_NOTE_1', '{"n": 1}', 2) IS NULL}),
	't', 'on a standby dr_record_event journals (returns NULL)');
is(count_of($standby, 'STANDBY_NOTE_1', 'AND pending'), 1, 'shown as pending in dr_events');
is($standby->safe_psql('postgres',
	"SELECT pending_events > 0 FROM dr_status()"), 't', 'dr_status counts pending events');

kill9_and_restart($standby);
is(count_of($standby, 'STANDBY_NOTE_1'), 1, 'after kill -9 of the postmaster: still there, once');
is($standby->safe_psql('postgres',
	"SELECT details->>'n', level, pending FROM dr_events WHERE event_type = 'STANDBY_NOTE_1'"),
	'1|2|t', 'with its details, still pending');

$standby->safe_psql('postgres', q{SELECT dr_record_event('STANDBY_NOTE_2', '{}')});

###############################################################################
# A clone of the standby (pg_basebackup) must not take its entries over.
###############################################################################
$standby->backup('clone_backup');
my $clone = PostgreSQL::Test::Cluster->new('clone');
$clone->init_from_backup($standby, 'clone_backup', has_streaming => 1);
$clone->start;
is(count_of($clone, 'STANDBY_NOTE_1') + count_of($clone, 'STANDBY_NOTE_2'), 0,
	'clone does not show the entries of the node it was copied from');
# The standby's own journal, copied into the clone, is set aside under its id
# (the standby may itself hold a journal.inherited.* from the primary it was
# cloned from, which the copy carries along: not counted here).
my $standby_journal_id = $standby->safe_psql('postgres',
	'SELECT DISTINCT journal_id FROM dr_journal_entries()');
ok(-f $clone->data_dir . "/pg_tensafe_dr/journal.inherited.$standby_journal_id",
	"the inherited journal $standby_journal_id was set aside, not replayed");
ok($clone->log_contains('belongs to another data directory'), 'and that was logged');
$clone->safe_psql('postgres', q{SELECT dr_record_event('CLONE_NOTE', '{}')});
my $clone_journal = $clone->safe_psql('postgres', 'SELECT DISTINCT journal_id FROM dr_journal_entries()');
my $standby_journal = $standby_journal_id;
isnt($clone_journal, $standby_journal, "clone journal id $clone_journal differs from $standby_journal");
is(count_of($clone, 'CLONE_NOTE', 'AND pending'), 1, 'clone journals its own events');
$clone->stop('immediate');

###############################################################################
# Promotion: the journal is flushed into dr_event_log, exactly once.
###############################################################################
$primary->stop('fast');
$standby->safe_psql('postgres', 'SELECT pg_promote()');
ok(defined wait_until($standby,
	"SELECT count(*) FROM dr_event_log WHERE event_type IN ('STANDBY_NOTE_1', 'STANDBY_NOTE_2')",
	'2', 30), 'after promotion both journalled events are in dr_event_log');
is(count_of($standby, 'STANDBY_NOTE_1'), 1, 'exactly one STANDBY_NOTE_1 in dr_events');
is(count_of($standby, 'STANDBY_NOTE_1', 'AND pending'), 0, 'no longer pending');
is($standby->safe_psql('postgres',
	"SELECT origin_journal = '$standby_journal' AND origin_seq IS NOT NULL FROM dr_event_log WHERE event_type = 'STANDBY_NOTE_1'"),
	't', 'row carries its journal origin');
is(count_of($standby, 'CLONE_NOTE'), 0, "the clone's entries never arrive here");

$standby->restart;
ok(defined wait_until($standby, "SELECT pending_events FROM dr_status()", '0', 30),
	'after a restart nothing is pending');
is(count_of($standby, 'STANDBY_NOTE_1') . count_of($standby, 'STANDBY_NOTE_2'), '11',
	'after a restart still exactly one of each');

###############################################################################
# Crash in the middle of a flush: before the commit, and between the commit
# and the flushed mark.  The one-shot test hook PANICs the server there.
###############################################################################
my $journal_dir = $standby->data_dir . '/pg_tensafe_dr';
# Events are journalled on this (promoted) node by read-only transactions
# (dr_can_write() is false there).  Not by fencing it: a fenced node commits
# no write, the worker's flush included, so it keeps its journal until it
# is unfenced (020_fence_barrier).
my $ro = 'SET default_transaction_read_only = on;';
for my $point ('flush_before_commit', 'flush_after_commit')
{
	my $type = uc("CRASH_PROBE_$point");
	my $offset = -s $standby->logfile;
	open my $fh, '>', "$journal_dir/crash_at_$point" or die $!;
	close $fh;
	# read-only: recorded in the journal; the worker's flush hits the crash point
	$standby->psql('postgres', "$ro SELECT dr_record_event('$type', '{}')");
	ok(defined wait_until($standby, "SELECT count(*) FROM dr_event_log WHERE event_type = '$type'", '1', 60),
		"$point: the event reached dr_event_log after the crash");
	ok($standby->log_contains("test crash at $point", $offset), "$point: the server did crash there");
	ok(!-e "$journal_dir/crash_at_$point", "$point: hook was one-shot");
	ok(defined wait_until($standby, "SELECT pending_events FROM dr_status()", '0', 30),
		"$point: nothing left pending");
	is(count_of($standby, $type), 1, "$point: exactly one row, no duplicate");
}
is($standby->safe_psql('postgres',
	"SELECT count(*) FROM (SELECT origin_journal, origin_seq FROM dr_event_log WHERE origin_seq IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) d"),
	'0', 'no journal entry appears twice anywhere');

###############################################################################
# A torn tail (crash while appending) is ignored, and the journal goes on.
###############################################################################
$standby->safe_psql('postgres', qq{$ro SELECT dr_record_event('BEFORE_TEAR', '{}')});
$standby->stop('immediate');
open my $jf, '>>', "$journal_dir/journal" or die $!;
binmode $jf;
print $jf "TDJ1\x02\x00\x00\x00partial-record-cut-by-a-crash";
close $jf;
$standby->start;
ok(defined wait_until($standby, "SELECT count(*) FROM dr_event_log WHERE event_type = 'BEFORE_TEAR'", '1', 30),
	'events before the torn tail are flushed');
ok($standby->log_contains('ignored a torn or corrupt tail'), 'the torn tail was reported');
$standby->safe_psql('postgres', qq{$ro SELECT dr_record_event('AFTER_TEAR', '{}')});
ok(defined wait_until($standby, "SELECT count(*) FROM dr_event_log WHERE event_type = 'AFTER_TEAR'", '1', 30),
	'the journal keeps working after a torn tail');

###############################################################################
# Growth: a fully flushed journal past 1 MB is compacted, and sequence
# numbers go on (a restarted sequence would collide with flushed rows).
###############################################################################
$standby->safe_psql('postgres',
	qq{$ro SELECT count(dr_record_event('BULK', jsonb_build_object('pad', repeat('x', 2000)))) FROM generate_series(1, 600)});
ok(defined wait_until($standby, "SELECT count(*) FROM dr_event_log WHERE event_type = 'BULK'", '600', 60),
	'600 journalled events flushed');
ok(defined wait_until($standby, "SELECT pending_events FROM dr_status()", '0', 30), 'nothing pending');
cmp_ok(-s "$journal_dir/journal", '<', 4096, 'journal compacted after the flush (' . (-s "$journal_dir/journal") . ' bytes)');
my $max_seq = $standby->safe_psql('postgres',
	"SELECT max(origin_seq) FROM dr_event_log WHERE origin_journal = (SELECT DISTINCT journal_id FROM dr_journal_entries() UNION SELECT origin_journal FROM dr_event_log WHERE event_type = 'BULK' LIMIT 1)");
$standby->restart;
$standby->safe_psql('postgres', qq{$ro SELECT dr_record_event('AFTER_COMPACTION', '{}')});
ok(defined wait_until($standby, "SELECT count(*) FROM dr_event_log WHERE event_type = 'AFTER_COMPACTION'", '1', 30),
	'an event after compaction and restart reaches the table');
is($standby->safe_psql('postgres', "SELECT origin_seq FROM dr_event_log WHERE event_type = 'AFTER_COMPACTION'"),
	$max_seq + 1, "its sequence number follows on ($max_seq + 1)");

$standby->stop;
done_testing();
