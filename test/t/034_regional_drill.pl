# patroni/tensafe_dr_drill --regional: the scripted Level 3 drill (runbook
# 3.1, a full_dr drill) on the two-region testbed (TwoRegion.pm: region B a
# Patroni standby cluster of region A).  The drill's outage command cuts the
# link and kills region A in one step; the script decides at breach,
# declares on the standby leader, promotes the standby cluster through its
# DCS config, resolves the incident and prints the judged report with the
# measured figures.  A writer commits numbered rows in region A during the
# drill; the drill's --data-lost-cmd measures the data lost (the span of
# acknowledged commits region B lacks) and the drill judges that, with the
# gate's estimate beside it.  Every process is killed by PID at the end.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use TwoRegion;

TwoRegion::install_signal_handlers();

my $dir = PostgreSQL::Test::Utils::tempdir('regional_drill');
my $tr = TwoRegion->new(dir => $dir, scripts => "$ENV{TESTDIR}/patroni",
	params => { 'tensafe_dr.rpo_target' => '3s', 'tensafe_dr.rpo_max' => '6s', 'tensafe_dr.promote_max_lag' => '5s' });
my $A = $tr->start_region_a;
my $B = $tr->start_region_b;
$B->wait_for(sub { $B->sql('b1', 'SELECT rpo_state FROM dr_status()') eq 'ok' }, 60, 'b1 ok');
pass('two regions up');

# a writer in region A: every acknowledged commit recorded
my $ackfile = "$dir/acked";
$tr->start_writer($A->{nodes}{a1}{port}, $ackfile);
$B->wait_for(sub { $B->sql('b1', 'SELECT count(*) FROM drill_rows') >= 100 }, 60, 'rows reach b1');

# the data loss, measured: seconds of acknowledged commits that b1 lacks
# (the newest acknowledged commit against the newest b1 holds; 0 if b1
# lacks none).  The drill script runs it once b1 is writable.
my $lostcmd = "$dir/data_lost.pl";
open my $fh, '>', $lostcmd or die $!;
printf $fh <<'PERL', $ackfile, $PatroniCluster::bindir, $B->{nodes}{b1}{port}, "$dir/data_lost.out";
my ($ackfile, $bindir, $port, $out) = ('%s', '%s', %d, '%s');
my %%acked;
open my $afh, '<', $ackfile or die $!;
while (<$afh>) { $acked{$1} = $2 if /^(\d+)\|([\d.]+)$/ }
my @rows = `$bindir/psql -X -A -t -h 127.0.0.1 -p $port -U postgres -d postgres -c 'SELECT id FROM drill_rows'`;
die 'psql failed' if $?;
chomp @rows;
my %%have = map { $_ => 1 } @rows;
my @lost = sort { $a <=> $b } grep { !$have{$_} } keys %%acked;
my $newest_b = `$bindir/psql -X -A -t -h 127.0.0.1 -p $port -U postgres -d postgres -c 'SELECT extract(epoch FROM max(at)) FROM drill_rows'`;
die 'psql failed' if $?;
my ($last) = sort { $b <=> $a } values %%acked;
my $truth = @lost ? $last - $newest_b : 0;
open my $o, '>', $out or die $!;
printf $o "%%d %%.6f\n", scalar(@lost), $truth;
printf STDERR "data lost: %%d acknowledged rows b1 lacks (ids %%s..%%s), newest acknowledged %%s, newest on b1 %%s, %%.6f s\n",
	scalar(@lost), $lost[0] // '-', $lost[-1] // '-', $last, $newest_b, $truth;
printf "%%.6f\n", $truth;
PERL
close $fh;

# the outage, in one step: the link and every process of region A
my @pids = ($tr->{pids}{link}, values %{ $A->{pids} }, grep { defined } map { $A->postmaster_pid($_) } qw(a1 a2));
# (the writer stops by itself when a1 dies)
my ($out, $err);
my $ok = IPC::Run::run([ "$ENV{TESTDIR}/patroni/tensafe_dr_drill", '--regional',
		'--patroni-config', "$dir/b/b1/patroni.yml", '--primary-config', "$dir/a/a1/patroni.yml",
		'--outage-cmd', "kill -9 @pids", '--user', 'postgres', '--timeout', '120',
		'--endpoints-ok', 'yes', '--error-rate', '0.1', '--corruption-found', 'no',
		'--data-lost-cmd', "perl $lostcmd" ],
	'>', \$out, '2>', \$err, IPC::Run::timeout(400));
delete $tr->{pids}{link};
note($err);
note($out);
ok($ok, 'regional drill script ran to the end') or diag($err);
like($err, qr/Standby Leader|standby leader b1/i, 'found the standby cluster and its standby leader');
like($err, qr/rpo_state breach/, 'decided at breach on the standby leader');
like($err, qr/RTO [\d:.]+ \((met|target_missed|breach), from the outage start\)/, 'incident resolved, RTO from the outage start');
like($out, qr/# DR drill \d+: full_dr/, 'judged report of a full_dr drill');
like($out, qr/- \[x\] failover completed within RTO: /, 'failover within RTO');
like($out, qr/- \[x\] failover completed within RTO: [\d:.]+ from the outage start \(the incident's started_at\)/,
	'failover time measured from the outage start, not the drill start');
my ($nlost, $truth) = split ' ', slurp_file("$dir/data_lost.out");
my $acked = $tr->acked($ackfile);
ok(scalar(keys %$acked) >= 100, scalar(keys %$acked) . " rows acknowledged by region A; $nlost of them lost, $truth s");
my ($judged, $estimate) = $out =~ /- \[[x ]\] data loss within RPO: ([\d.]+) s measured \(gate estimate: ([\d.]+) s at promotion\) \(target [^,]+, measured by the operator\)/;
ok(defined $judged, 'criterion 2 judged the measured data loss, the gate estimate beside it') or diag($out);
ok(defined $judged && abs($judged - $truth) < 0.000002, "the drill judged the loss measured: $judged s (truth $truth s)");
ok(defined $estimate && $estimate >= $truth, sprintf('gate estimate %s s is not below the measured loss %s s', $estimate // '?', $truth));
like($out, qr/- \[x\] data loss within RPO: /, 'data loss within RPO');
like($out, qr/- outage -> DR writable: [\d.]+ s\n- RTO from the outage start: .*of the 1 h runbook target\)\n- gate estimate of the data lost: [\d.]+ s\n- data lost, measured: [\d.]+ s/,
	'measured figures: outage -> writable, RTO ratio, gate estimate, data lost measured');
diag(sprintf('FIGURES regional drill: data lost measured %s s (%d rows), gate estimate %s s', $truth, $nlost, $estimate // '?'));
is($B->sql('b1', 'SELECT NOT pg_is_in_recovery()'), 't', 'b1 is the writable primary');
is($B->sql('b1', q{SELECT count(*) FROM dr_incidents WHERE level = 3 AND started_at IS NOT NULL AND resolved_at IS NOT NULL}), 1,
	'the level-3 incident was declared on the standby (with its start) and resolved');
delete $tr->{pids}{writer} if waitpid($tr->{pids}{writer}, 1) > 0;
$tr->stop_all;
done_testing();
