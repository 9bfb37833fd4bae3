# bench/patroni_rto.pl — driver of bench/patroni_rto.sh (run it through that
# script: it builds and installs the extension, holds the install lock and
# runs this as postgres in a temp dir).
#
# RTO of an automatic Patroni failover with the tensafe_dr pre_promote gate
# and without it, on the same cluster configuration (PatroniCluster, as in
# test/t/010_patroni.pl: Patroni 3.0 + etcd 3.4 on 127.0.0.1, ttl 10,
# loop_wait 2, library preloaded and extension created on both nodes,
# callbacks in both arms; only pre_promote differs).
#
# Environment (set by patroni_rto.sh): RTO_WORK (work dir), RTO_SCRIPTS (the
# patroni/ scripts of the build), ROUNDS, GATE_RUNS, RPO_TARGET, RPO_MAX,
# PROMOTE_MAX_LAG, TTL, READY_TIMEOUT, FAILOVER_TIMEOUT.
use strict;
use warnings;

# PostgreSQL::Test::Utils' INIT sends STDOUT/STDERR to its log file: keep
# the real stdout for the report.
our $OUT;
BEGIN
{
	open($OUT, '>&', \*STDOUT) or die "dup stdout: $!";
	$OUT->autoflush(1);
}

use Digest::MD5;
use File::Path qw(make_path remove_tree);
use POSIX qw(floor);
use Time::HiRes qw(time usleep);
use Time::Local qw(timelocal);
use PostgreSQL::Test::Utils;
use PatroniCluster;

my $work = $ENV{RTO_WORK} or die "RTO_WORK not set";
my $real_scripts = $ENV{RTO_SCRIPTS} or die "RTO_SCRIPTS not set";
my $rounds = $ENV{ROUNDS} // 3;
my $gate_runs = $ENV{GATE_RUNS} // 20;
my $ready_timeout = $ENV{READY_TIMEOUT} // 90;
my $failover_timeout = $ENV{FAILOVER_TIMEOUT} // 120;
my $ttl = $ENV{TTL} // 10;
my %params = (
	'tensafe_dr.rpo_target' => $ENV{RPO_TARGET} // '3s',
	'tensafe_dr.rpo_max' => $ENV{RPO_MAX} // '6s',
	'tensafe_dr.promote_max_lag' => $ENV{PROMOTE_MAX_LAG} // '4s',
	'tensafe_dr.sample_interval' => '1s',
	'tensafe_dr.heartbeat_interval' => '1s',
);

sub out { print $OUT @_, "\n"; }
sub f3 { return defined $_[0] ? sprintf('%.3f', $_[0]) : '-'; }

sub median
{
	my @a = sort { $a <=> $b } grep { defined } @_;
	return undef unless @a;
	return @a % 2 ? $a[$#a / 2] : ($a[@a / 2 - 1] + $a[@a / 2]) / 2;
}

# The gate as Patroni runs it, wrapped to record its start, end and exit
# code (bash's $EPOCHREALTIME: no fork; the wrapper adds one bash start,
# a few ms).  The callback is the real one.
my $scripts = "$work/scripts";
my $gate_log = "$work/gate_times";
make_path($scripts);
symlink("$real_scripts/tensafe_dr_callback", "$scripts/tensafe_dr_callback")
  or die "symlink: $!";
{
	open my $fh, '>', "$scripts/tensafe_dr_pre_promote" or die $!;
	print $fh <<"SH";
#!/usr/bin/env bash
t0=\$EPOCHREALTIME
"$real_scripts/tensafe_dr_pre_promote" "\$@"
rc=\$?
echo "\$t0 \$EPOCHREALTIME \$rc" >> "$gate_log"
exit \$rc
SH
	close $fh;
	chmod 0755, "$scripts/tensafe_dr_pre_promote";
}

sub gate_times
{
	open my $fh, '<', $gate_log or return ();
	my @r = map { [ split ' ' ] } <$fh>;
	close $fh;
	return @r;
}

# "2026-11-27 10:53:12,123 INFO: msg" -> epoch seconds of the first line
# of a Patroni log matching $re
sub patroni_log_time
{
	my ($log, $re) = @_;
	open my $fh, '<', $log or return undef;
	while (my $l = <$fh>)
	{
		next unless $l =~ $re;
		next unless $l =~ /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d),(\d{3}) /;
		close $fh;
		return timelocal($6, $5, $4, $3, $2 - 1, $1) + $7 / 1000;
	}
	close $fh;
	return undef;
}

# A fresh two-node cluster, node1 leader with the extension and a table,
# node2 streaming with rpo_state 'ok' and a recorded contact with node1.
sub make_cluster
{
	my ($dir, $scope, $gate) = @_;
	my $c = PatroniCluster->new(
		dir => $dir, scripts => $scripts, scope => $scope,
		pre_promote => $gate, ttl => $ttl, params => \%params);
	$c->start_etcd;
	$c->add_node('node1');
	$c->wait_for(sub { $c->is_leader('node1') }, $ready_timeout, 'node1 leader');
	$c->sql('node1', 'CREATE EXTENSION tensafe_dr');
	$c->sql('node1', 'CREATE TABLE rto (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())');
	$c->add_node('node2');
	$c->wait_for(sub { $c->is_replica('node2') }, $ready_timeout, 'node2 replica');
	# rpo_state judges the live receiver; the gate, once the primary is
	# gone, judges from the last contact recorded in a worker sample
	$c->wait_for(sub {
		$c->sql('node2', q{SELECT (SELECT rpo_state FROM dr_status()) = 'ok'
			AND EXISTS (SELECT FROM dr_samples(1) WHERE last_primary_contact IS NOT NULL)}) eq 't'
	}, $ready_timeout, 'node2 rpo_state ok with a recorded contact');
	return $c;
}

my @results;    # { arm, rto, ro, lock, gate_s, gate_start, refused }

# The installed library, checked at every round: a build installed by
# someone else meanwhile is loaded by the clusters started after it.
my $so = '/usr/lib/postgresql/15/lib/tensafe_dr.so';
sub lib_id
{
	open my $fh, '<', $so or return 'missing';
	binmode $fh;
	return substr(Digest::MD5->new->addfile($fh)->hexdigest, 0, 12);
}
my $lib_start = lib_id();

sub one_round
{
	my ($i, $gate) = @_;
	my $arm = $gate ? 'gate' : 'no gate';
	my $dir = "$work/round$i";
	unlink $gate_log;
	my $lib = lib_id();
	out("  WARNING: round $i loads another tensafe_dr.so ($lib, was $lib_start)") if $lib ne $lib_start;
	my $c = make_cluster($dir, "rto$i", $gate);
	my $replica = 'node2';

	my $t0 = time;
	$c->kill9_node('node1');
	my $t_kill_done = time;
	my ($t_ro, $t_rw);
	while (time - $t0 < $failover_timeout)
	{
		my $next = time + 0.1;
		my $v = $c->sql($replica, 'SELECT NOT pg_is_in_recovery()', 1);
		if (defined $v && $v eq 't')
		{
			$t_ro = time;
			last;
		}
		my $wait = $next - time;
		usleep(int($wait * 1e6)) if $wait > 0;
	}
	die "round $i ($arm): node2 still in recovery ${failover_timeout}s after the kill\n"
	  unless defined $t_ro;
	while (time - $t0 < $failover_timeout)
	{
		if (defined $c->sql($replica, 'INSERT INTO rto DEFAULT VALUES', 1))
		{
			$t_rw = time;
			last;
		}
		usleep(100_000);
	}
	die "round $i ($arm): no INSERT accepted on node2 ${failover_timeout}s after the kill\n"
	  unless defined $t_rw;

	my $plog = "$dir/node2/patroni.log";
	my $t_lock = patroni_log_time($plog, qr/promoted self to leader by acquiring session lock/);
	my @g = gate_times();
	my $refused = grep { $_->[2] != 0 } @g;
	my $ok_gate = (grep { $_->[2] == 0 } @g)[-1];
	my $checks = $gate
	  ? $c->sql($replica, q{SELECT count(*) FILTER (WHERE (details->>'promotable')::boolean) || '/' || count(*)
		FROM dr_events WHERE event_type = 'PROMOTE_CHECK'}, 1) : '';
	my %r = (
		i => $i, arm => $arm, gate => $gate,
		rto => $t_rw - $t0,
		ro => $t_ro - $t0,
		kill => $t_kill_done - $t0,
		lock => defined $t_lock ? $t_lock - $t0 : undef,
		gate_s => $ok_gate ? $ok_gate->[1] - $ok_gate->[0] : undef,
		gate_start => $ok_gate ? $ok_gate->[0] - $t0 : undef,
		runs => scalar(@g), refused => $refused,
		checks => $checks // '?',
	);
	$r{after_lock} = $r{rto} - $r{lock} if defined $r{lock};
	push @results, \%r;
	out(sprintf('  round %2d  %-7s  RTO %6.3f s   (read-write %6.3f, lock taken %s, lock->write %s%s)',
		$i, $arm, $r{rto}, $r{ro}, f3($r{lock}), f3($r{after_lock}),
		$gate ? sprintf(', gate ran %s s from %s, %d run(s), %d refused, PROMOTE_CHECK promotable/all %s',
			f3($r{gate_s}), f3($r{gate_start}), $r{runs}, $r{refused}, $r{checks}) : ''));

	$c->stop_all;
	remove_tree($dir);
	return;
}

# The gate's own run time against a healthy standby, and two psql
# connections for comparison (the script opens two).
sub gate_direct
{
	my $dir = "$work/direct";
	my $c = make_cluster($dir, 'rtodirect', 1);
	my $port = $c->{nodes}{node2}{port};
	my $dsn = "host=127.0.0.1 port=$port user=postgres dbname=postgres";
	my (@gate, @psql, @codes);
	for my $k (1 .. $gate_runs)
	{
		my ($o, $e);
		my $t = time;
		IPC::Run::run([ "$real_scripts/tensafe_dr_pre_promote", '--dsn', $dsn ],
			'>', \$o, '2>', \$e, IPC::Run::timeout(60));
		push @gate, time - $t;
		push @codes, $? >> 8;
		$t = time;
		IPC::Run::run([ 'psql', '-X', '-q', '-A', '-t', $dsn, '-c', 'SELECT 1' ],
			'>', \$o, '2>', \$e, IPC::Run::timeout(60));
		push @psql, time - $t;
	}
	my @s = sort { $a <=> $b } @gate;
	my $nonzero = grep { $_ != 0 } @codes;
	out(sprintf('  tensafe_dr_pre_promote --dsn ... on a healthy standby, %d runs: median %.1f ms, min %.1f, max %.1f; exit codes non-zero: %d',
		$gate_runs, 1000 * median(@gate), 1000 * $s[0], 1000 * $s[-1], $nonzero));
	@s = sort { $a <=> $b } @psql;
	out(sprintf('  for comparison, psql -c "SELECT 1" (one connection): median %.1f ms, min %.1f, max %.1f',
		1000 * median(@psql), 1000 * $s[0], 1000 * $s[-1]));
	# the check itself, server side (its journal append is fsync'd), in
	# one session: \timing of each call
	my ($o, $e);
	IPC::Run::run([ 'psql', '-X', '-q', '-A', '-t', $dsn, '-c', '\timing on',
		map { ('-c', 'SELECT promotable FROM dr_promote_check()') } 1 .. $gate_runs ],
		'>', \$o, '2>', \$e, IPC::Run::timeout(120));
	my @ms = sort { $a <=> $b } ($o // '') =~ /^Time: ([\d.]+) ms/mg;
	out(sprintf('  SELECT ... FROM dr_promote_check() alone (psql \\timing, one session, %d calls): median %.1f ms, min %.1f, max %.1f',
		scalar @ms, median(@ms), $ms[0], $ms[-1])) if @ms;
	$c->stop_all;
	remove_tree($dir);
	return median(@gate);
}

out("rounds: $rounds per arm, interleaved gate / no gate; ttl $ttl, loop_wait 2, retry_timeout 3;");
out('settings: ' . join(', ', map { "$_ = $params{$_}" } sort keys %params));
out('');
my $n = 0;
for my $k (1 .. $rounds)
{
	one_round(++$n, 1);
	one_round(++$n, 0);
}

my (%med, %med_lock, %med_after, %med_ro);
for my $arm ('gate', 'no gate')
{
	my @r = grep { $_->{arm} eq $arm } @results;
	$med{$arm} = median(map { $_->{rto} } @r);
	$med_ro{$arm} = median(map { $_->{ro} } @r);
	$med_lock{$arm} = median(map { $_->{lock} } @r);
	$med_after{$arm} = median(map { $_->{after_lock} } @r);
	my @v = sort { $a <=> $b } map { $_->{rto} } @r;
	out('');
	out(sprintf('  %-7s RTO median %.3f s (min %.3f, max %.3f); kill -> lock taken median %s s; lock -> write accepted median %s s',
		$arm, $med{$arm}, $v[0], $v[-1], f3($med_lock{$arm}), f3($med_after{$arm})));
}
my @g = grep { $_->{gate} && defined $_->{gate_s} } @results;
out('');
out(sprintf('  RTO: gate - no gate = %+.3f s (ratio %.3f)', $med{gate} - $med{'no gate'},
	$med{gate} / $med{'no gate'}));
if (defined $med_after{gate} && defined $med_after{'no gate'})
{
	out(sprintf('  lock -> write accepted (the part after Patroni decides to promote, without the ttl wait): gate - no gate = %+.3f s',
		$med_after{gate} - $med_after{'no gate'}));
}
out(sprintf('  gate run time inside the failovers (wrapper): median %s s over %d rounds',
	f3(median(map { $_->{gate_s} } @g)), scalar @g)) if @g;
my $refused = 0;
$refused += $_->{refused} for @results;
out("  WARNING: the gate refused $refused time(s); those rounds include Patroni's backoff") if $refused;
out('');
out('direct cost of the gate:');
gate_direct() if $gate_runs > 0;
