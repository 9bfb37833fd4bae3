# The notifier under a failing housekeeping (issue 13, part 9).
#
# While an incident is open, the notifier runs dr_notify_housekeeping()
# (incident updates, escalation) every 5 s.  Before 1.2, when that call
# failed, its next run time was never advanced, so the notifier looped
# without sleeping for as long as the incident stayed open: a core burnt and
# the log flooded.  Here housekeeping is made to fail (the function replaced
# by one that raises) with an incident open, and the notifier's CPU time and
# its failures are measured over a window: it must keep sleeping between
# attempts, and retry about every 5 s.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use DrTest;

my $node = new_primary('nf_primary');
my $notifier = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'tensafe_dr notifier'});
like($notifier, qr/^\d+$/, "notifier running (pid $notifier)");

# CPU time (user + system) of a process, in seconds.
my $tck = `getconf CLK_TCK` + 0 || 100;
sub cpu_seconds
{
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/stat" or die "no /proc/$pid/stat: $!";
	my $stat = <$fh>;
	close $fh;
	$stat =~ s/^.*\) //;
	my @f = split ' ', $stat;
	return ($f[11] + $f[12]) / $tck;    # utime, stime (fields 14, 15)
}

# Housekeeping fails from now on; an incident is open, so it is due.
$node->safe_psql('postgres', q{
	CREATE OR REPLACE FUNCTION dr_notify_housekeeping() RETURNS integer
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'housekeeping broken for the test'; END $$});
my $log_start = -s $node->logfile;
$node->safe_psql('postgres', q{SELECT dr_declare(2, 'housekeeping fails')});
ok(defined wait_until($node, q{SELECT open_incident IS NOT NULL FROM dr_status()}, 't', 30),
	'the worker sees the open incident');

# Wait for the first failure, then measure a 12 s window.
my $failures = sub {
	my $log = slurp_file($node->logfile, $log_start);
	return scalar(() = $log =~ /housekeeping broken for the test/g);
};
my $deadline = time + 30;
usleep(100_000) while $failures->() == 0 && time < $deadline;
ok($failures->() >= 1, 'housekeeping fails');
my ($cpu0, $fail0, $t0) = (cpu_seconds($notifier), $failures->(), time);
usleep(12_000_000);
my ($cpu1, $fail1, $t1) = (cpu_seconds($notifier), $failures->(), time);
my $cpu_share = ($cpu1 - $cpu0) / ($t1 - $t0);
cmp_ok($cpu_share, '<', 0.05,
	sprintf('the notifier sleeps between attempts: %.3f s of CPU in %.1f s', $cpu1 - $cpu0, $t1 - $t0));
my $attempts = $fail1 - $fail0;
cmp_ok($attempts, '<=', 4, "housekeeping retried about every 5 s, not in a loop ($attempts failures in 12 s)");
cmp_ok($attempts, '>=', 1, 'and still retried');
is($node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'tensafe_dr notifier'}),
	$notifier, 'the same notifier process throughout');

done_testing();
