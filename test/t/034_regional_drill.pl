# patroni/tensafe_dr_drill --regional: the scripted Level 3 drill (runbook
# 3.1, a full_dr drill) on the two-region testbed (TwoRegion.pm: region B a
# Patroni standby cluster of region A).  The drill's outage command cuts the
# link and kills region A in one step; the script decides at breach,
# declares on the standby leader, promotes the standby cluster through its
# DCS config, resolves the incident and prints the judged report with the
# measured figures.  Every process is killed by PID at the end.
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

# the outage, in one step: the link and every process of region A
my @pids = ($tr->{pids}{link}, values %{ $A->{pids} }, grep { defined } map { $A->postmaster_pid($_) } qw(a1 a2));
my ($out, $err);
my $ok = IPC::Run::run([ "$ENV{TESTDIR}/patroni/tensafe_dr_drill", '--regional',
		'--patroni-config', "$dir/b/b1/patroni.yml", '--primary-config', "$dir/a/a1/patroni.yml",
		'--outage-cmd', "kill -9 @pids", '--user', 'postgres', '--timeout', '120',
		'--endpoints-ok', 'yes', '--error-rate', '0.1', '--corruption-found', 'no' ],
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
like($out, qr/- \[x\] data loss within RPO: [\d.]+ s at promotion/, 'data loss judged');
like($out, qr/- outage -> DR writable: [\d.]+ s\n- RTO from the outage start: .*of the 1 h runbook target\)\n- gate estimate of the data lost: [\d.]+ s/,
	'measured figures: outage -> writable, RTO ratio, gate estimate');
is($B->sql('b1', 'SELECT NOT pg_is_in_recovery()'), 't', 'b1 is the writable primary');
is($B->sql('b1', q{SELECT count(*) FROM dr_incidents WHERE level = 3 AND started_at IS NOT NULL AND resolved_at IS NOT NULL}), 1,
	'the level-3 incident was declared on the standby (with its start) and resolved');
$tr->stop_all;
done_testing();
