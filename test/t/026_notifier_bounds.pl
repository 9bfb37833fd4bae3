# The notifier's own bounds (issue 13, item 9), against a real HTTP
# receiver on 127.0.0.1 (test/webhook_receiver.py):
#
# 1. Memory is flat across deliveries.  TDR_DELIVERIES (default 3,000;
#    bench/notifier_memory.sh runs 10,000) deliveries are queued as events
#    x 10 channels in rounds of 1,000; after each round, once everything is
#    delivered and the notifier idles, its memory is measured: the "Grand
#    total" of its memory contexts (pg_log_backend_memory_contexts(), read
#    back from the server log) and RssAnon from /proc/<pid>/status (and,
#    for the log, its heap and anonymous mappings from smaps).  Growth
#    between 1,000 deliveries and the end must stay under 64 kB of
#    contexts and 1 MB of anonymous memory (a leak of one allocation per
#    delivery of even 100 bytes would exceed the first).  Rounds are of
#    equal size because a pass's peak -- freed, but kept by malloc --
#    grows with the backlog: dr_outbox_due() sorts every due row with its
#    body to pick one per channel (one round of 2,000 left RssAnon 1 MB
#    higher, then flat).
# 2. $PGDATA/pg_tensafe_dr/delivered is bounded.  A standby delivers its
#    journalled events and logs their keys; a torn line (a crash mid-append)
#    and the key of another journal (a copy's) are dropped by the compaction
#    of a restarted notifier, which delivers nothing twice; after promotion
#    and the journal's flush the file is emptied, and the outbox holds the
#    events as delivered, none sent again.
use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use DrTest;

my $total = $ENV{TDR_DELIVERIES} // 3000;
my $channels = 10;
my $first = 1000;
die "TDR_DELIVERIES must be a multiple of $channels above $first" if $total % $channels || $total <= $first;

my $secret = 'a-long-test-secret-0123456789';
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $log = PostgreSQL::Test::Utils::tempdir() . '/received.jsonl';
my $receiver_pid = fork();
if ($receiver_pid == 0)
{
	exec 'python3', "$ENV{TESTDIR}/test/webhook_receiver.py", $port, $log;
}
END { local $?; if ($receiver_pid) { kill 'KILL', $receiver_pid; waitpid($receiver_pid, 0); } }
{
	my $deadline = time + 10;
	usleep(50_000)
	  until IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
	  or time > $deadline;
}

# idempotency keys received, in order
sub received_keys
{
	my @k;
	open my $fh, '<', $log or return ();
	while (my $line = <$fh>)
	{
		push @k, $1 if $line =~ /"idempotency-key": "([^"]+)"/;
	}
	close $fh;
	return @k;
}

my $primary = new_primary('nb_primary', "log_line_prefix = '%m [%p] '\n");
$primary->safe_psql('postgres', join ";\n",
	map { "SELECT dr_webhook_add('c$_', 'http://127.0.0.1:$port/ok', '$secret', ARRAY['MEM_TEST', 'SB_TEST'])" }
	  1 .. $channels);

###############################################################################
# 1. Memory across deliveries
###############################################################################
my $notifier = $primary->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'tensafe_dr notifier'});
like($notifier, qr/^\d+$/, "notifier running (pid $notifier)");

# Queue n events x channels; wait until all are delivered.
my $queued = 0;
sub deliver
{
	my ($n) = @_;
	my $t0 = time;
	$primary->safe_psql('postgres',
		"SELECT count(dr_record_event('MEM_TEST', jsonb_build_object('n', g))) FROM generate_series(1, $n / $channels) g");
	$queued += $n;
	ok(defined wait_until($primary,
		q{SELECT count(*) FROM dr_outbox WHERE event_type = 'MEM_TEST' AND status = 'delivered'},
		$queued, 300), "$queued deliveries done");
	return time - $t0;
}

# the notifier's memory now: (grand total of its contexts in bytes, RssAnon in kB)
sub memory
{
	my $offset = -s $primary->logfile;
	$primary->safe_psql('postgres', "SELECT pg_log_backend_memory_contexts($notifier)");
	my ($grand, $deadline) = (undef, time + 20);
	while (!defined $grand && time < $deadline)
	{
		my $text = slurp_file($primary->logfile, $offset);
		$grand = $1 if $text =~ /\[$notifier\] LOG:  Grand total: (\d+) bytes/;
		usleep(100_000) unless defined $grand;
	}
	open my $fh, '<', "/proc/$notifier/status" or die "no /proc/$notifier/status: $!";
	my ($anon) = map { /^RssAnon:\s+(\d+) kB/ ? $1 : () } <$fh>;
	close $fh;
	return ($grand, $anon);
}

# the notifier's private mappings now: "heap kB / anonymous mmap kB" resident
sub mappings
{
	open my $fh, '<', "/proc/$notifier/smaps" or return '?';
	my ($name, %rss) = ('');
	while (my $line = <$fh>)
	{
		if ($line =~ /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/)
		{
			$name = $2 eq '[heap]' ? 'heap' : ($1 == 0 && $2 eq '') ? 'anon' : 'other';
		}
		elsif ($line =~ /^Anonymous:\s+(\d+) kB/)
		{
			$rss{$name} += $1;
		}
	}
	close $fh;
	return sprintf('heap %d kB, anonymous mmap %d kB, other %d kB', $rss{heap} // 0, $rss{anon} // 0, $rss{other} // 0);
}

my $secs1 = deliver($first);
my ($grand1, $anon1) = memory();
ok(defined $grand1, "memory contexts logged after $first deliveries: $grand1 bytes, RssAnon $anon1 kB");
diag("after $first: " . mappings());
my $secs2 = 0;
for (my $done = $first; $done < $total;)
{
	my $n = $total - $done > 1000 ? 1000 : $total - $done;
	$secs2 += deliver($n);
	$done += $n;
	my ($g, $a) = memory();
	diag("after $done: contexts $g B, RssAnon $a kB; " . mappings());
}
my ($grand2, $anon2) = memory();
ok(defined $grand2, "memory contexts logged after $total deliveries: $grand2 bytes, RssAnon $anon2 kB");
my $rate = ($total - $first) / $secs2;
diag(sprintf('notifier memory: %d deliveries: contexts %d B, RssAnon %d kB; %d deliveries: contexts %d B, RssAnon %d kB; %.0f deliveries/s',
	$first, $grand1, $anon1, $total, $grand2, $anon2, $rate));
cmp_ok($grand2 - $grand1, '<', 64 * 1024,
	sprintf('memory contexts flat: %+d bytes over %d deliveries', $grand2 - $grand1, $total - $first));
cmp_ok($anon2 - $anon1, '<', 1024,
	sprintf('anonymous memory flat: %+d kB over %d deliveries', $anon2 - $anon1, $total - $first));
is($primary->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'tensafe_dr notifier'}),
	$notifier, 'the same notifier process throughout');
is(scalar(grep { /-e\d+-c\d+$/ } received_keys()), $total, "the receiver got $total deliveries");

###############################################################################
# 2. The delivered log of a standby
###############################################################################
my $standby = new_standby($primary, 'nb_standby');
my $delivered = $standby->data_dir . '/pg_tensafe_dr/delivered';
my $sb_notifier = sub {
	$standby->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'tensafe_dr notifier'});
};
sub file_lines
{
	my ($path) = @_;
	open my $fh, '<', $path or return ();
	local $/;
	my $text = <$fh>;
	close $fh;
	return split /\n/, $text, -1;
}
sub sb_keys { return grep { /-\d+-[0-9a-f]{16}-\d+-c\d+$/ } received_keys(); }
sub no_duplicates
{
	my %n;
	$n{$_}++ for sb_keys();
	return !grep { $_ > 1 } values %n;
}

my $sb_events = 20;
$standby->safe_psql('postgres',
	"SELECT count(*) FROM (SELECT dr_record_event('SB_TEST', jsonb_build_object('n', g)) FROM generate_series(1, $sb_events) g) x");
my $deadline = time + 60;
usleep(100_000) while scalar(sb_keys()) < $sb_events * $channels && time < $deadline;
is(scalar(sb_keys()), $sb_events * $channels, 'the standby delivered its journalled events to every channel');
sub file_keys { return grep { /^tdr-/ } file_lines($delivered); }
my @keys = file_keys();
is(scalar(@keys), $sb_events * $channels, 'and logged each key once in the delivered log');

# A torn last line (a crash mid-append) and the key of another journal (a
# copy's): both dropped by the compaction of the next notifier, which
# delivers nothing twice; the torn line does not swallow the next key.
open my $fh, '>>', $delivered or die;
print $fh "tdr-1-0123456789abcdef-7-c1\ntdr-1-0123456789ab";
close $fh;
my $old = $sb_notifier->();
kill 'TERM', $old;
ok(defined wait_until($standby,
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tensafe_dr notifier' AND pid <> $old", '1', 30),
	'the standby notifier restarted');
$standby->safe_psql('postgres', q{SELECT dr_record_event('SB_TEST', '{"after": "restart"}')});
$deadline = time + 30;
usleep(100_000) while scalar(sb_keys()) < ($sb_events + 1) * $channels && time < $deadline;
is(scalar(sb_keys()), ($sb_events + 1) * $channels, 'the event journalled after the restart is delivered');
ok(no_duplicates(), 'nothing delivered twice by the restarted notifier');
my @lines = file_lines($delivered);
is($lines[-1], '', 'the delivered log ends with a complete line');
ok(!grep({ /0123456789ab/ } @lines), 'the torn line and the other journal\'s key are gone');
is(scalar(file_keys()), ($sb_events + 1) * $channels, 'every key delivered is still there');

# once more, without help: a restarted notifier reads the compacted file
$old = $sb_notifier->();
kill 'TERM', $old;
ok(defined wait_until($standby,
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tensafe_dr notifier' AND pid <> $old", '1', 30),
	'the standby notifier restarted again');
$standby->safe_psql('postgres', q{SELECT dr_record_event('SB_TEST', '{"after": "second restart"}')});
$deadline = time + 30;
usleep(100_000) while scalar(sb_keys()) < ($sb_events + 2) * $channels && time < $deadline;
is(scalar(sb_keys()), ($sb_events + 2) * $channels, 'delivered after the second restart');
ok(no_duplicates(), 'still nothing delivered twice');

# Promotion: the journal is flushed, its events enter the outbox already
# delivered, and the delivered log is emptied.
$standby->safe_psql('postgres', 'SELECT pg_promote()');
ok(defined wait_until($standby,
	q{SELECT count(*) FILTER (WHERE status = 'delivered') || '/' || count(*) FROM dr_outbox WHERE event_type = 'SB_TEST'},
	(($sb_events + 2) * $channels) . '/' . (($sb_events + 2) * $channels), 30),
	'after promotion every standby delivery is in the outbox as delivered');
$deadline = time + 30;
usleep(100_000) while scalar(file_keys()) > 0 && time < $deadline;
is(scalar(file_keys()), 0, 'the delivered log is emptied once the journal is flushed');
cmp_ok(-s $delivered, '<', 64, 'down to its header line (' . (-s $delivered) . ' bytes)');
$standby->safe_psql('postgres', q{SELECT dr_record_event('MEM_TEST', '{"after": "promotion"}')});
$deadline = time + 30;
usleep(100_000) while scalar(grep { /-e\d+-c\d+$/ } received_keys()) < $total + $channels && time < $deadline;
ok(no_duplicates(), 'and the promoted node sent none of them again');
is(scalar(file_keys()), 0, 'the delivered log stays empty on a primary');

$standby->stop;
done_testing();
