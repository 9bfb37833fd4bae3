# The fence is a barrier (issue 13, item 5).
#
# In 1.1, after dr_fence() a plain login still wrote: a large object through
# libpq's fast-path calls (psql's \lo_import), an INSERT over a
# replication=database connection, and a transaction already open when the
# fence came committed what it wrote.  So the FENCED position was no final
# position, and runbook 3.2 ("stop writes, wait for final sync") could lose
# acknowledged writes.  Checked here:
#   - a commit in flight when dr_fence() runs (past its commit check, held
#     there by the test build's pause point) holds dr_fence() up until it
#     ends, and lies before FENCED's flush_lsn; a commit waiting for a
#     synchronous standby that is gone does not hold it up (its commit
#     record is flushed already: issue 20) and lies before it too;
#   - every door, each shown to write before the fence, is refused after it
#     (25006): fast-path large objects, replication=database, an open
#     transaction's COMMIT, PREPARE TRANSACTION, COMMIT PREPARED of a
#     transaction prepared before the fence, a plain INSERT; nothing of
#     theirs is committed;
#   - end to end, with writers running the whole time (autocommit,
#     asynchronous commit, explicit transactions): fence -> dr_wait_for_lsn
#     on the standby -> promote it; every write acknowledged on the old
#     primary is on the new one, and the old primary committed nothing more.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use DrTest;

my $pg_bin = '/usr/lib/postgresql/15/bin';
my $primary = new_primary('fb_primary', "max_prepared_transactions = 5\n");
$primary->safe_psql('postgres', q{
	CREATE TABLE inflight (id int);
	CREATE TABLE doors (door text);
	CREATE TABLE acked (id bigint PRIMARY KEY);
});
my $standby = new_standby($primary, 'fb_standby');

sub fenced_lsn
{
	my ($node, $reason) = @_;
	return $node->safe_psql('postgres',
		"SELECT details->>'flush_lsn' FROM dr_event_log WHERE event_type = 'FENCED' AND details->>'reason' = '$reason'");
}

# start psql -c $sql in the background; returns (harness, \stdout, \stderr)
sub psql_start
{
	my ($node, $sql) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ "$pg_bin/psql", '-XAtq', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$out, '2>', \$err);
	return ($h, \$out, \$err);
}

###############################################################################
# A commit in flight: past its commit check, not yet committed (held there by
# the test build's pause point).  dr_fence() waits for it to end.
###############################################################################
mkdir $primary->data_dir . '/pg_tensafe_dr';	# may exist already
my $pause = $primary->data_dir . '/pg_tensafe_dr/pause_at_fence_commit';
open my $pf, '>', $pause or die $!;
close $pf;
my ($wh, $wout, $werr) = psql_start($primary, 'INSERT INTO inflight VALUES (1) RETURNING id');
ok(defined wait_until($primary,
	q{SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'Extension' AND query LIKE 'INSERT INTO inflight%'}, '1', 30),
	'a commit is in flight, past its commit check');
my ($fh, $fout, $ferr) = psql_start($primary, q{SELECT dr_fence('in flight')});
ok(defined wait_until($primary, q{
	SELECT count(*) FROM pg_stat_activity
	 WHERE query LIKE 'SELECT dr_fence%' AND wait_event = 'Extension'}, '1', 30),
	'dr_fence() waits for the commit in flight');
is($primary->safe_psql('postgres', q{SELECT count(*) FROM dr_event_log WHERE event_type = 'FENCED'}), '0',
	'no FENCED event while it waits');
is($primary->safe_psql('postgres', 'SELECT fenced FROM dr_status()'), 't', 'but the node is fenced already');
unlink $pause or die $!;
$fh->finish;
$wh->finish;
chomp($$wout, $$fout);
is($$wout, '1', 'the commit in flight completed and was acknowledged');
is($$fout, 't', 'then dr_fence() returned');
my $fenced1 = fenced_lsn($primary, 'in flight');
ok($fenced1 ne '', "FENCED recorded flush_lsn $fenced1");
is($standby->safe_psql('postgres', "SELECT dr_wait_for_lsn('$fenced1', '60 s')"), 't',
	'the standby replayed up to FENCED\'s flush_lsn');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM inflight'), '1',
	'and holds the write that was in flight');
$primary->safe_psql('postgres', 'SELECT dr_unfence()');

###############################################################################
# A commit waiting for a synchronous standby that is gone: its commit record
# is flushed here already, so dr_fence() does not wait for it (it would hang
# for as long as the standby is gone), and FENCED's position is past it.
###############################################################################
$primary->append_conf('postgresql.conf', "synchronous_standby_names = 'nobody'\n");
$primary->reload;
ok(defined wait_until($primary, 'SHOW synchronous_standby_names', 'nobody', 30), 'synchronous_standby_names set');
($wh, $wout, $werr) = psql_start($primary, 'INSERT INTO inflight VALUES (2) RETURNING id');
ok(defined wait_until($primary,
	q{SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND query LIKE 'INSERT INTO inflight%'}, '1', 30),
	'a commit waits for the synchronous standby');
my $fence_t0 = [ Time::HiRes::gettimeofday() ];
is($primary->safe_psql('postgres', q{SELECT dr_fence('sync wait')}), 't', 'dr_fence() returns');
my $fence_s = Time::HiRes::tv_interval($fence_t0);
ok($fence_s < 5, sprintf('without waiting for the synchronous standby (%.3f s)', $fence_s));
my $fenced2 = fenced_lsn($primary, 'sync wait');
is($primary->safe_psql('postgres',
	q{SELECT pg_current_wal_flush_lsn() >= '} . $fenced2 . q{'::pg_lsn}), 't', "FENCED recorded flush_lsn $fenced2");
$primary->append_conf('postgresql.conf', "synchronous_standby_names = ''\n");
$primary->reload;
$wh->finish;
chomp($$wout);
is($$wout, '2', 'the waiting commit was acknowledged once the wait ended');
is($standby->safe_psql('postgres', "SELECT dr_wait_for_lsn('$fenced2', '60 s')"), 't',
	'the standby replayed up to FENCED\'s flush_lsn');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM inflight WHERE id = 2'), '1',
	'and holds the write that was waiting for the synchronous standby');
$primary->safe_psql('postgres', 'SELECT dr_unfence()');

###############################################################################
# The doors: each writes before the fence, none after it.
###############################################################################
my $lo_file = $primary->basedir . '/lo_payload';
open my $lof, '>', $lo_file or die $!;
print $lof "payload\n" x 100;
close $lof;
sub lo_count { $primary->safe_psql('postgres', 'SELECT count(*) FROM pg_largeobject_metadata') }
sub lo_import { my ($ret, $out, $err) = $primary->psql('postgres', "\\lo_import '$lo_file'"); return ($ret, $err) }
sub repl_db
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $primary->psql('postgres', $sql, replication => 'database', on_error_stop => 0);
	return ($out, $err);
}

my $lo_before = lo_count();
my ($ret, $err) = lo_import();
is($ret . lo_count(), '0' . ($lo_before + 1), 'before the fence: \lo_import (fast-path calls) writes');
my ($out, $rerr) = repl_db(q{SELECT backend_type FROM pg_stat_activity WHERE pid = pg_backend_pid();
	INSERT INTO doors VALUES ('replication=database before')});
is($out, 'walsender', 'a replication=database connection runs SQL in a walsender');
is($primary->safe_psql('postgres', q{SELECT count(*) FROM doors WHERE door = 'replication=database before'}), '1',
	'before the fence: it writes');

my $open = $primary->background_psql('postgres', on_error_stop => 0);
$open->query_safe(q{BEGIN; INSERT INTO doors VALUES ('open transaction')});
my $toprepare = $primary->background_psql('postgres', on_error_stop => 0);
$toprepare->query_safe(q{BEGIN; INSERT INTO doors VALUES ('prepared after the fence')});
$primary->safe_psql('postgres',
	q{BEGIN; INSERT INTO doors VALUES ('prepared before the fence'); PREPARE TRANSACTION 'before_fence'});

my $t0 = time;
is($primary->safe_psql('postgres', q{SELECT dr_fence('doors')}), 't', 'fenced');
my $fence_ms = int((time - $t0) * 1000);
note "dr_fence() with two writers idle in their transactions took $fence_ms ms";

$lo_before = lo_count();
($ret, $err) = lo_import();
like($err, qr/cannot commit a transaction that wrote while this node is fenced/,
	'after: \lo_import is refused at its commit');
is(lo_count(), $lo_before, 'and no large object was added');

($out, $rerr) = repl_db(q{INSERT INTO doors VALUES ('replication=database after')});
like($rerr, qr/read-only transaction/, 'after: an INSERT over replication=database is refused');
($out, $rerr) = repl_db(q{BEGIN; SELECT pg_current_xact_id() IS NOT NULL; COMMIT; \echo :SQLSTATE});
like($rerr, qr/cannot commit a transaction that wrote while this node is fenced/,
	'after: a transaction with an xid over replication=database does not commit');
like($out, qr/25006$/, 'with SQLSTATE 25006');

my ($cout) = $open->query(qq{COMMIT;\n\\echo :SQLSTATE});
like($open->{stderr}, qr/cannot commit a transaction that wrote while this node is fenced/,
	'after: the COMMIT of a transaction that wrote before the fence is refused');
is($cout, '25006', 'with SQLSTATE 25006');
$open->{stderr} = '';

my ($pout) = $toprepare->query(qq{PREPARE TRANSACTION 'after_fence';\n\\echo :SQLSTATE});
like($toprepare->{stderr}, qr/cannot prepare a transaction that wrote while this node is fenced/,
	'after: PREPARE TRANSACTION of a transaction that wrote is refused');
is($pout, '25006', 'with SQLSTATE 25006');
$toprepare->{stderr} = '';

my ($cpret, $cpout, $cperr) = $primary->psql('postgres', q{COMMIT PREPARED 'before_fence'});
like($cperr, qr/cannot commit prepared transaction "before_fence" while this node is fenced/,
	'after: COMMIT PREPARED of a transaction prepared before the fence is refused');
is($primary->safe_psql('postgres', 'SELECT gid FROM pg_prepared_xacts'), 'before_fence',
	'the prepared transaction is still there');
$primary->safe_psql('postgres', q{ROLLBACK PREPARED 'before_fence'});

my ($iret, $iout, $ierr) = $primary->psql('postgres', q{INSERT INTO doors VALUES ('plain')});
like($ierr, qr/read-only transaction/, 'after: a plain INSERT is refused');

is($primary->safe_psql('postgres', 'SELECT string_agg(door, \',\' ORDER BY door) FROM doors'),
	'replication=database before', 'nothing written through any door after the fence was committed');
$open->quit;
$toprepare->quit;

# the extension's own writes: events are journalled, and the worker does not
# flush them into dr_event_log while fenced (that would be a commit after
# FENCED), only once the fence is lifted
is($primary->safe_psql('postgres', q{SELECT dr_record_event('WHILE_FENCED') IS NULL}), 't',
	'an event recorded on the fenced node is journalled');
my $samples = $primary->safe_psql('postgres', 'SELECT last_sample_at FROM dr_status()');
ok(defined wait_until($primary, "SELECT last_sample_at > '$samples'::timestamptz + interval '2.5 s' FROM dr_status()", 't', 30),
	'the worker ran several passes meanwhile');
is($primary->safe_psql('postgres', q{SELECT pending FROM dr_events WHERE event_type = 'WHILE_FENCED'}), 't',
	'and the event is still pending: the fenced node committed nothing');
$primary->safe_psql('postgres', 'SELECT dr_unfence()');
ok(defined wait_until($primary, q{SELECT count(*) FROM dr_event_log WHERE event_type = 'WHILE_FENCED'}, '1', 30),
	'unfenced, the worker flushes it');

###############################################################################
# End to end, writers running the whole time: fence, wait for the final
# position on the standby, promote it, and find every acknowledged write.
###############################################################################
my $n = 20000;
my %writers;
for my $w (1 .. 3)
{
	my $script = $primary->basedir . "/writer$w.sql";
	open my $sf, '>', $script or die $!;
	print $sf "SET synchronous_commit = off;\n" if $w == 2;
	for my $i (1 .. $n)
	{
		my $id = $w * 1_000_000 + 2 * $i;
		if ($w == 3)
		{
			# an explicit transaction, acknowledged only if its COMMIT is;
			# the pause widens the window in which the fence finds it open
			print $sf "BEGIN;\nINSERT INTO acked VALUES ($id), (" . ($id + 1) . ");\n"
			  . "\\set ins_failed :ERROR\nSELECT pg_sleep(0.002) \\g /dev/null\nCOMMIT;\n"
			  . "\\if :ERROR\n\\elif :ins_failed\n\\else\n\\echo $id\n\\echo " . ($id + 1) . "\n\\endif\n";
		}
		else
		{
			print $sf "INSERT INTO acked VALUES ($id) RETURNING id;\n";
		}
	}
	close $sf;
	my ($wo, $we) = ('', '');
	$writers{$w}{out} = \$wo;
	$writers{$w}{err} = \$we;
	$writers{$w}{h} = IPC::Run::start(
		[ "$pg_bin/psql", '-XAtq', '-v', 'ON_ERROR_STOP=0', '-d', $primary->connstr('postgres'), '-f', $script ],
		'>', \$wo, '2>', \$we);
}
sub pump_writers { $_->{h}->pump_nb for values %writers }
sub acked_ids
{
	my ($w) = @_;
	my $s = ${ $writers{$w}{out} };
	$s =~ s/[^\n]*\z//;		# only whole lines: a cut one could read as another id
	return grep { /^\d+$/ } split /\n/, $s;
}

# every writer has had writes acknowledged before the fence
my $deadline = time + 60;
while (time < $deadline)
{
	pump_writers();
	last if !grep { scalar(acked_ids($_)) < 200 } keys %writers;
	usleep(50_000);
}
my %before = map { $_ => scalar(acked_ids($_)) } keys %writers;
ok(!grep({ $before{$_} < 200 } keys %before),
	'writers are running: acknowledged before the fence ' . join(', ', map { "w$_=$before{$_}" } sort keys %before));

$t0 = time;
is($primary->safe_psql('postgres', q{SELECT dr_fence('end to end')}), 't', 'fenced while the writers write');
$fence_ms = int((time - $t0) * 1000);
my $final = fenced_lsn($primary, 'end to end');
my $rows_at_fence = $primary->safe_psql('postgres', 'SELECT count(*) FROM acked');

# the writers go on and are refused
$deadline = time + 60;
while (time < $deadline)
{
	pump_writers();
	last if !grep { ${ $writers{$_}{err} } !~ /read-only transaction|fenced/ } keys %writers;
	usleep(50_000);
}
ok(!grep({ ${ $writers{$_}{err} } !~ /read-only transaction|fenced/ } keys %writers),
	'every writer kept writing after the fence and was refused');
$_->{h}->kill_kill for values %writers;
my @acked = map { acked_ids($_) } sort keys %writers;
my %after = map { $_ => scalar(acked_ids($_)) } keys %writers;
note "dr_fence() under load took $fence_ms ms; acknowledged per writer: "
  . join(', ', map { "w$_=$after{$_}" } sort keys %after) . '; refused commits of w3: '
  . scalar(() = ${ $writers{3}{err} } =~ /cannot commit a transaction/g);
is($primary->safe_psql('postgres', 'SELECT count(*) FROM acked'), $rows_at_fence,
	"the fenced primary committed nothing after dr_fence() returned ($rows_at_fence rows)");

is($standby->safe_psql('postgres', "SELECT dr_wait_for_lsn('$final', '60 s')"), 't',
	"the standby reached the final position $final");
$standby->safe_psql('postgres', 'SELECT pg_promote(true, 60)');
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 'f', 'the standby was promoted');

my $list = join(',', @acked);
is($standby->safe_psql('postgres',
	"SELECT count(*) FROM unnest('{$list}'::bigint[]) a(id) WHERE NOT EXISTS (SELECT 1 FROM acked k WHERE k.id = a.id)"),
	'0', scalar(@acked) . ' writes acknowledged on the old primary: none missing on the new one');
is($standby->safe_psql('postgres', 'SELECT count(*), sum(id) FROM acked'),
	$primary->safe_psql('postgres', 'SELECT count(*), sum(id) FROM acked'),
	'the new primary holds exactly what the old one committed');
is($primary->safe_psql('postgres', 'SELECT fenced FROM dr_status()'), 't', 'the old primary is still fenced');

$standby->stop;
$primary->stop;
done_testing();
