# Journal faults (issue 13, items 3 and 4): the journal has a cap
# (tensafe_dr.journal_max_size) past which recording is refused with 53400
# and nothing journalled is lost; it is streamed, never read whole (backend
# memory stays far below a 100+ MB journal); an unreadable journal leaves
# dr_status() and dr_promote_check() answering (NULL + reason), and the
# Patroni gate giving a verdict; a corrupt record in the middle keeps what
# can be read under a new journal identity, records JOURNAL_CORRUPT, and no
# event is lost nor any (journal, seq) reused.
use strict;
use warnings;

use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DrTest;

my $primary = new_primary('primary');
$primary->safe_psql('postgres',
	'CREATE ROLE op LOGIN IN ROLE dr_operator; CREATE ROLE mon LOGIN IN ROLE dr_monitor');
my $standby = new_standby($primary, 'standby', "tensafe_dr.journal_max_size = '1MB'\n");
my $jdir = $standby->data_dir . '/pg_tensafe_dr';

sub count_of
{
	my ($node, $type, $where) = @_;
	$where //= '';
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM dr_events WHERE event_type = '$type' $where");
}

###############################################################################
# (a) The cap: recording is refused past it (SQLSTATE 53400), and what was
# journalled stays, across a restart.
###############################################################################
my ($rc, $out, $err) = $standby->psql('postgres', q{
	DO $$
	DECLARE n integer := 0;
	BEGIN
		LOOP
			BEGIN
				PERFORM dr_record_event('CAP_FILL', jsonb_build_object('n', n, 'pad', repeat('x', 16000)));
				n := n + 1;
			EXCEPTION WHEN configuration_limit_exceeded THEN
				RAISE NOTICE 'refused after % events', n;
				EXIT;
			END;
			IF n > 1000 THEN RAISE EXCEPTION 'never refused'; END IF;
		END LOOP;
	END $$});
my ($filled) = $err =~ /refused after (\d+) events/;
ok(defined $filled && $filled > 20, "1 MB cap: refused with 53400 after " . ($filled // 'never'));
cmp_ok(-s "$jdir/journal", '<=', 1024 * 1024, 'the journal stays within the cap (' . (-s "$jdir/journal") . ' bytes)');

($rc, $out, $err) = $standby->psql('postgres',
	q{\set VERBOSITY verbose
	  SELECT dr_record_event('CAP_REFUSED', jsonb_build_object('pad', repeat('y', 16000)))},
	extra_params => [ '-U', 'op' ]);
isnt($rc, 0, 'as dr_operator past the cap: refused');
like($err, qr/53400: tensafe_dr journal is full/, 'SQLSTATE 53400 and a clear message');
like($err, qr/tensafe_dr\.journal_max_size/, 'the detail/hint name the setting');

$standby->restart;
is(count_of($standby, 'CAP_FILL', 'AND pending'), $filled, "after a restart all $filled events are still pending");
is(count_of($standby, 'CAP_REFUSED'), 0, 'the refused event is nowhere');
is($standby->safe_psql('postgres', 'SELECT pending_events FROM dr_status()'), $filled,
	'dr_status() counts them');

###############################################################################
# (b) An unreadable journal (mode 000): dr_status() and dr_promote_check()
# answer with NULL and a reason; the Patroni gate gives a verdict (not 2).
###############################################################################
$standby->stop('fast');
chmod 0000, "$jdir/journal" or die "chmod: $!";
$standby->start;
($rc, $out, $err) = $standby->psql('postgres',
	q{SELECT pending_events IS NULL, state_reason FROM dr_status()},
	extra_params => [ '-U', 'mon' ]);
is($rc, 0, 'dr_status() does not fail on an unreadable journal') or diag $err;
like($out, qr/^t\|.*pending_events unknown: could not open tensafe_dr journal.*Permission denied/,
	"pending_events NULL with the reason: $out");
($rc, $out, $err) = $standby->psql('postgres',
	q{SELECT promotable IS NOT NULL, reason FROM dr_promote_check()},
	extra_params => [ '-U', 'op' ]);
is($rc, 0, 'dr_promote_check() does not fail on an unreadable journal') or diag $err;
like($out, qr/^t\|.*verdict not journalled: could not open tensafe_dr journal/,
	"it gives a verdict, saying it could not journal it: $out");
my $verdict = $standby->safe_psql('postgres', 'SELECT promotable FROM dr_promote_check()');
my $gate = dirname(__FILE__) . '/../../patroni/tensafe_dr_pre_promote';
my $dsn = 'host=' . $standby->host . ' port=' . $standby->port . ' dbname=postgres';
my $gate_rc = system('bash', $gate, '--dsn', $dsn) >> 8;
is($gate_rc, $verdict eq 't' ? 0 : 1,
	"tensafe_dr_pre_promote follows the verdict ($verdict), not an error exit 2");

$standby->stop('fast');
chmod 0600, "$jdir/journal" or die "chmod: $!";
$standby->start;
is($standby->safe_psql('postgres', 'SELECT pending_events FROM dr_status()'), $filled,
	'readable again: nothing was lost');

###############################################################################
# Memory: a journal of 100+ MB (cap raised) is streamed: dr_events works and
# the backend's peak memory stays far below the file's size.
###############################################################################
$standby->append_conf('postgresql.conf', "tensafe_dr.journal_max_size = '256MB'\n");
$standby->reload;
wait_until($standby, 'SHOW tensafe_dr.journal_max_size', '256MB', 10);
$standby->safe_psql('postgres',
	q{SELECT count(dr_record_event('BIG', jsonb_build_object('pad', repeat('z', 65000)))) FROM generate_series(1, 1650)});
my $jsize = -s "$jdir/journal";
cmp_ok($jsize, '>', 100 * 1024 * 1024, "journal of $jsize bytes");
$standby->restart;    # the first reader opens (scans) it too
$out = $standby->safe_psql('postgres', q{
	SELECT count(*) FROM dr_events WHERE event_type = 'BIG' AND pending;
	SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\s+(\d+) kB'))[1]});
my ($big, $hwm_kb) = split /\n/, $out;
is($big, 1650, 'dr_events lists every event of the large journal');
cmp_ok($hwm_kb * 1024, '<', $jsize / 3,
	"backend peak RSS $hwm_kb kB is well under the journal's size");

###############################################################################
# (c) A flipped byte in a flushed record in the middle of a primary's
# journal: the journal goes on under a new identity, JOURNAL_CORRUPT is
# recorded, and later events get new (journal, seq) -- before, the sequence
# fell back and ON CONFLICT DO NOTHING dropped them.
###############################################################################
sub flip_byte_after
{
	my ($file, $needle, $skip) = @_;
	open my $fh, '+<', $file or die $!;
	binmode $fh;
	local $/;
	my $bytes = <$fh>;
	my $at = index($bytes, $needle);
	die "'$needle' not found in $file" if $at < 0;
	seek $fh, $at + $skip, 0;
	print $fh 'X';
	close $fh;
}

# In a read-only transaction dr_record_event journals (a fenced node would
# too, but its worker flushes nothing: fence.c); the worker flushes them.
my $ro = 'SET default_transaction_read_only = on;';
$primary->safe_psql('postgres',
	qq{$ro SELECT count(dr_record_event('MID_' || i, '{}')) FROM generate_series(1, 5) i});
ok(defined wait_until($primary, "SELECT count(*) FROM dr_event_log WHERE event_type LIKE 'MID\\_%'", '5', 30),
	'primary: five events journalled and flushed');
ok(defined wait_until($primary, 'SELECT pending_events FROM dr_status()', '0', 30), 'nothing pending');
my $old_id = $primary->safe_psql('postgres', 'SELECT DISTINCT journal_id FROM dr_journal_entries()');
my $max_seq = $primary->safe_psql('postgres', 'SELECT max(seq) FROM dr_journal_entries()');
$primary->stop('fast');
flip_byte_after($primary->data_dir . '/pg_tensafe_dr/journal', '"MID_3"', 2);
$primary->start;
$primary->safe_psql('postgres',
	qq{$ro SELECT count(dr_record_event('AFTER_CORRUPTION_' || i, '{}')) FROM generate_series(1, 3) i});
ok($primary->log_contains("tensafe_dr journal $old_id is corrupt at offset"), 'the corruption was reported');
ok(!$primary->log_contains('ignored a torn or corrupt tail'), 'not taken for a torn tail');
ok(-f $primary->data_dir . "/pg_tensafe_dr/journal.corrupt.$old_id", 'the old file is kept aside');
ok(defined wait_until($primary,
	"SELECT count(*) FROM dr_event_log WHERE event_type LIKE 'AFTER\\_CORRUPTION\\_%' OR event_type = 'JOURNAL_CORRUPT'",
	'4', 30), 'every event after the corruption reaches dr_event_log, and JOURNAL_CORRUPT');
is($primary->safe_psql('postgres',
	"SELECT count(DISTINCT origin_journal) || '|' || (bool_and(origin_journal <> '$old_id'))::int || '|' || (bool_and(origin_seq > $max_seq))::int FROM dr_event_log WHERE event_type LIKE 'AFTER\\_CORRUPTION\\_%'"),
	'1|1|1', "they carry a new journal id, and sequence numbers above the old journal's ($max_seq)");
is($primary->safe_psql('postgres',
	"SELECT details->>'old_journal_id', (details->>'offset')::bigint > 0, successful FROM dr_event_log WHERE event_type = 'JOURNAL_CORRUPT'"),
	"$old_id|t|f", 'JOURNAL_CORRUPT says which journal and where');
is($primary->safe_psql('postgres', "SELECT count(*) FROM dr_event_log WHERE event_type LIKE 'MID\\_%'"),
	5, 'the flushed events are all still there, once');

# The standby's journal: pending events only.  A flipped byte in one of them
# loses that one; every other is carried over under its own (journal, seq).
my $sb_id = $standby->safe_psql('postgres', 'SELECT DISTINCT journal_id FROM dr_journal_entries()');
$standby->stop('fast');
flip_byte_after("$jdir/journal", '{"n": 5, "pad": "', 30);
$standby->start;
is(count_of($standby, 'CAP_FILL', 'AND pending'), $filled - 1, 'standby: all but the corrupt event kept');
is(count_of($standby, 'BIG', 'AND pending'), 1650, 'and every later one');
# (the worker may have journalled state changes of its own meanwhile)
is($standby->safe_psql('postgres',
	"SELECT (details->>'records_kept')::int >= " . ($filled - 1 + 1650) . ", details->>'records_lost_estimate' FROM dr_events WHERE event_type = 'JOURNAL_CORRUPT' AND pending"),
	't|1', 'JOURNAL_CORRUPT: records kept, one lost');
is($standby->safe_psql('postgres',
	"SELECT count(DISTINCT journal_id) || '|' || min(journal_id) FROM dr_journal_entries() WHERE payload->>'event_type' IN ('CAP_FILL', 'BIG')"),
	"1|$sb_id", 'the kept events keep their journal id');

###############################################################################
# Promotion: everything the standby journalled (under the cap and the large
# journal) is flushed, none lost.
###############################################################################
$primary->stop('fast');
$standby->safe_psql('postgres', 'SELECT pg_promote()');
ok(defined wait_until($standby,
	"SELECT count(*) FROM dr_event_log WHERE event_type IN ('CAP_FILL', 'BIG')",
	$filled - 1 + 1650, 90), 'after promotion every kept journalled event is in dr_event_log');
is($standby->safe_psql('postgres',
	"SELECT count(*) FROM dr_event_log WHERE event_type = 'CAP_FILL' AND origin_journal = '$sb_id'"),
	$filled - 1, 'under the journal id they were recorded with');
is(count_of($standby, 'CAP_FILL', 'AND pending'), 0, 'nothing left pending');

$standby->stop;
done_testing();
