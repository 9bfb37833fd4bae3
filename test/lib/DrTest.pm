# DrTest — helpers shared by tensafe_dr's TAP tests.
#
# Nodes are PostgreSQL::Test::Cluster instances with the library preloaded
# and the worker pointed at database "postgres".  Waiting is always polling
# a condition with a deadline (wait_until); nothing sleeps and hopes.
package DrTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

our @EXPORT = qw(new_primary new_standby wait_until status_of postmaster_pid
  worker_pid kill9_and_restart copy_dir edit_file);

# Settings every test node gets; $extra is appended after them.
my $base_conf = <<'CONF';
shared_preload_libraries = 'tensafe_dr'
tensafe_dr.database = 'postgres'
tensafe_dr.sample_interval = '1s'
tensafe_dr.heartbeat_interval = '1s'
autovacuum = off
wal_receiver_status_interval = '1s'
# A standby cloned by new_standby streams from the backup's start without a
# slot: on a loaded machine the primary recycled that segment before the
# standby connected ("requested WAL segment ... has already been removed",
# 005 stuck in breach).  Keep enough WAL for the clone to catch up.
wal_keep_size = '256MB'
log_min_messages = info
# PostgreSQL's default; the TAP framework turns it off
restart_after_crash = on
# No DRILL_OVERDUE / POSTMORTEM_DUE events (a fresh node's drills are all
# overdue) unless a test asks for them: 029_archive_slots.pl does.
tensafe_dr.due_check_interval = 0
CONF

# new_primary(name, extra_conf) -> started primary with the extension created
sub new_primary
{
	my ($name, $extra) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 1);
	$node->append_conf('postgresql.conf', $base_conf . ($extra // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION tensafe_dr');
	return $node;
}

# new_standby(primary, name, extra_conf) -> started streaming standby,
# caught up with the primary
sub new_standby
{
	my ($primary, $name, $extra) = @_;
	my $backup = "${name}_backup";
	$primary->backup($backup);
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init_from_backup($primary, $backup, has_streaming => 1);
	$node->append_conf('postgresql.conf', $extra) if defined $extra;
	$node->start;
	$primary->wait_for_catchup($node, 'replay', $primary->lsn('flush'));
	return $node;
}

# wait_until(node, sql, expected, timeout_s[, on_each]) -> seconds waited, or
# undef on timeout.  Polls every 100 ms; on_each gets each result.
sub wait_until
{
	my ($node, $sql, $expected, $timeout, $on_each) = @_;
	my $start = time;
	while (1)
	{
		my ($ret, $out, $err) = $node->psql('postgres', $sql);
		$on_each->($out) if $on_each && $ret == 0;
		return time - $start if $ret == 0 && $out eq $expected;
		if (time - $start > $timeout)
		{
			diag("wait_until timed out after ${timeout}s: $sql\n  last: '$out' $err");
			return undef;
		}
		usleep(100_000);
	}
}

# status_of(node) -> hashref of dr_status() with lags in seconds
sub status_of
{
	my ($node) = @_;
	my @cols = qw(role rpo_state rpo_lag_s replay_lag_s receiver_status
	  last_primary_contact standbys replay_paused worker_pid timeline state_reason);
	my $out = $node->safe_psql('postgres', q{
		SELECT role, rpo_state,
		       coalesce(extract(epoch FROM rpo_lag)::text, ''),
		       coalesce(extract(epoch FROM replay_lag)::text, ''),
		       coalesce(receiver_status, ''), coalesce(last_primary_contact::text, ''),
		       standbys, coalesce(replay_paused::text, ''), coalesce(worker_pid::text, ''),
		       timeline, coalesce(state_reason, '')
		  FROM dr_status()}, extra_params => [ '-F', "\t" ]);
	my %s;
	@s{@cols} = split /\t/, $out, -1;
	return \%s;
}

sub postmaster_pid
{
	my ($node) = @_;
	open my $fh, '<', $node->data_dir . '/postmaster.pid' or die "no postmaster.pid: $!";
	my $pid = <$fh>;
	close $fh;
	chomp $pid;
	return $pid;
}

# kill9_and_restart(node): SIGKILL the postmaster, wait (bounded) until it
# and its children are gone, start again.
sub kill9_and_restart
{
	my ($node) = @_;
	my $pid = postmaster_pid($node);
	$node->kill9;
	my $deadline = time + 30;
	while (time < $deadline)
	{
		last if !kill(0, $pid) && $node->start(fail_ok => 1);
		usleep(200_000);
	}
	die "node did not restart after kill -9" unless $node->safe_psql('postgres', 'SELECT 1') eq '1';
}

sub worker_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(worker_pid, 0) FROM dr_status()");
}

# copy_dir(from, to): a copy of a backup (or any tree) to damage, cp -a
sub copy_dir
{
	my ($from, $to) = @_;
	system('cp', '-a', $from, $to) == 0 or die "cp -a $from $to failed";
	return $to;
}

# edit_file(path, sub { ...; return $new_bytes }): rewrite a file's bytes
sub edit_file
{
	my ($path, $edit) = @_;
	open my $fh, '<', $path or die "$path: $!";
	binmode $fh;
	local $/;
	my $data = <$fh>;
	close $fh;
	$data = $edit->($data);
	open $fh, '>', $path or die "$path: $!";
	binmode $fh;
	print $fh $data;
	close $fh;
}

1;
