# TwoRegion — the runbook's architecture (1.2) on 127.0.0.1, for tests,
# benchmarks and by hand:
#
#   region A (us-east-1): etcd A + Patroni cluster "regiona" (a1 leader, a2)
#        |  cross-region link: a TCP forwarder (tcp_proxy.py) to A's leader
#        v
#   region B (us-west-2): etcd B + Patroni *standby cluster* "regionb":
#        b1 standby leader (streams from A through the link),
#        b2 replica cascading from b1.
#
# The link is cut in one step (cut_link: kill -9 of the forwarder, which
# closes every connection through it and stops accepting), and region A is
# lost in one step (PatroniCluster::kill_all9).  Every process is started
# here or by PatroniCluster, remembered by PID and killed by PID in
# stop_all(), also called from END (a test's failure, or its exit on
# SIGINT/SIGTERM: install_signal_handlers), so nothing is left behind.
package TwoRegion;

use strict;
use warnings;

use File::Path qw(make_path);
use IO::Socket::INET;
use POSIX ();
use PatroniCluster;
use PostgreSQL::Test::Cluster;
use Time::HiRes qw(time usleep);

my @all;

# Settings every node of both regions gets (2-core machine: small).
my %common = (
	'shared_buffers' => '16MB',
	'max_connections' => '30',
	'wal_keep_size' => '128MB',
	'tensafe_dr.sample_interval' => '1s',
	'tensafe_dr.heartbeat_interval' => '1s',
);

# new(dir => ..., scripts => ..., params => {...}): nothing started yet.
sub new
{
	my ($class, %o) = @_;
	my $self = bless { dir => $o{dir}, scripts => $o{scripts}, pids => {},
		params => { %common, %{ $o{params} // {} } },
		pre_promote => $o{pre_promote} // 1 }, $class;
	make_path($self->{dir});
	push @all, $self;
	return $self;
}

# Exit (running every END block: both regions are stopped) on Ctrl-C.
sub install_signal_handlers
{
	# PIPE: prove (reading our output) gone; dying of it would skip END
	$SIG{INT} = $SIG{TERM} = $SIG{HUP} = $SIG{PIPE} = sub { print STDERR "interrupted: cleaning up\n"; exit 130; };
}

# spawn(key, log, cmd...): PatroniCluster's, remembered in $self->{pids}
sub spawn { return PatroniCluster::spawn(@_); }

sub stop
{
	my ($self, $key) = @_;
	my $pid = delete $self->{pids}{$key} or return;
	kill 'KILL', $pid;
	waitpid($pid, 0);
}

# A link: 127.0.0.1:<port> -> 127.0.0.1:$target_port, under $key ('link',
# region B -> region A, by default); returns its port, kept across restarts.
sub start_link
{
	my ($self, $target_port, $key) = @_;
	$key //= 'link';
	my $port = $self->{link_ports}{$key} //= PostgreSQL::Test::Cluster::get_free_port();
	$self->{link_port} = $port if $key eq 'link';
	$self->spawn($key, "$self->{dir}/$key.log", 'python3', "$ENV{TESTDIR}/test/lib/tcp_proxy.py",
		$port, $target_port);
	my $deadline = time + 15;
	while (time < $deadline)
	{
		return $port if IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
		usleep(50_000);
	}
	die "$key did not start";
}

# Cut the link in one step; returns the time of the cut.
sub cut_link
{
	my ($self) = @_;
	my $t = time;
	$self->stop('link');
	return $t;
}

sub region_params
{
	my ($self, $region) = @_;
	return { %{ $self->{params} }, 'tensafe_dr.region' => $region };
}

# Region A: etcd + a1 (leader, with the extension and the drill table) + a2.
sub start_region_a
{
	my ($self) = @_;
	my $a = $self->{a} = PatroniCluster->new(dir => "$self->{dir}/a", scripts => $self->{scripts},
		scope => 'regiona', params => $self->region_params('us-east-1'),
		pre_promote => $self->{pre_promote});
	$a->start_etcd;
	$a->add_node('a1');
	$a->wait_for(sub { $a->is_leader('a1') }, 90, 'a1 leader');
	$a->sql('a1', 'CREATE EXTENSION tensafe_dr');
	$a->sql('a1', 'CREATE TABLE drill_rows (id bigint PRIMARY KEY, at timestamptz NOT NULL)');
	$a->add_node('a2');
	$a->wait_for(sub { $a->is_replica('a2') }, 90, 'a2 replica');
	return $a;
}

# A standby cluster of two nodes ($n1 standby leader streaming from
# 127.0.0.1:$upstream_port, $n2 cascading from $n1), with its own etcd.
sub start_standby_region
{
	my ($self, $subdir, $scope, $region, $upstream_port, $n1, $n2) = @_;
	my $c = PatroniCluster->new(dir => "$self->{dir}/$subdir", scripts => $self->{scripts},
		scope => $scope, params => $self->region_params($region),
		pre_promote => $self->{pre_promote},
		standby_cluster => { host => '127.0.0.1', port => $upstream_port });
	push @{ $self->{extra} }, $c;
	$c->start_etcd;
	$c->add_node($n1);
	$c->wait_for(sub { $c->rest($n1, '/standby-leader')->{status} == 200 }, 120, "$n1 standby leader");
	$c->add_node($n2);
	$c->wait_for(sub { $c->is_replica($n2) && upstream_port($c, $n2) == $c->{nodes}{$n1}{port} },
		120, "$n2 replica streaming from $n1");
	return $c;
}

# Region B: a standby cluster of A, through the link: b1 standby leader, b2
# cascading from b1.
sub start_region_b
{
	my ($self) = @_;
	$self->start_link($self->{a}{nodes}{a1}{port}) unless $self->{pids}{link};
	return $self->{b} = $self->start_standby_region('b', 'regionb', 'us-west-2', $self->{link_port}, 'b1', 'b2');
}

# Failback, 3.2 step 1 by re-cloning: region A rebuilt (new etcd, new data
# directories) as a standby cluster of region B's leader $leader, through a
# link of its own ('link_ba').
sub rebuild_region_a
{
	my ($self, $leader) = @_;
	my $port = $self->start_link($self->{b}{nodes}{$leader}{port}, 'link_ba');
	return $self->{a_back} = $self->start_standby_region('a_back', 'regiona', 'us-east-1', $port, 'a1', 'a2');
}

# The port a node's WAL receiver streams from (0: not streaming).
# upstream_port($cluster, $name), or as a method for region B's nodes.
sub upstream_port
{
	my ($c, $name) = @_;
	$c = $c->{b} if ref($c) eq __PACKAGE__;
	return $c->sql($name, "SELECT coalesce((SELECT sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'), 0)") + 0;
}

# The writer: commits numbered rows, one per transaction, about every 10 ms,
# into region A's leader, and appends "id|epoch of the row" to $ackfile once
# each commit is acknowledged.  It ends by itself when its connection dies.
sub start_writer
{
	my ($self, $port, $ackfile, $first, $key) = @_;
	$first //= 1;
	$key //= 'writer';
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		setpgrp(0, 0);
		open STDOUT, '>', $ackfile or POSIX::_exit(127);
		open STDERR, '>', "$ackfile.err" or POSIX::_exit(127);
		# never exit(): that would run the END blocks inherited from the test
		$SIG{PIPE} = sub { POSIX::_exit(0) };
		# stdbuf -oL: psql writing to a file buffers its output by blocks, and
		# the acknowledgements of the last seconds before a kill would be
		# missing from the file (a measured loss too small, or negative)
		open my $psql, '|-', 'stdbuf', '-oL', "$PatroniCluster::bindir/psql", '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
			'-h', '127.0.0.1', '-p', $port, '-U', 'postgres', '-d', 'postgres' or POSIX::_exit(1);
		select((select($psql), $| = 1)[0]);
		for (my $i = $first;; $i++)
		{
			print $psql "INSERT INTO drill_rows VALUES ($i, clock_timestamp()) RETURNING id, extract(epoch FROM at);\n"
			  or POSIX::_exit(0);
			usleep(10_000);
		}
	}
	$self->{pids}{$key} = $pid;
	return $pid;
}

# Acknowledged rows: { id => epoch }.
sub acked
{
	my ($self, $ackfile) = @_;
	my %a;
	open my $fh, '<', $ackfile or return \%a;
	while (<$fh>) { $a{$1} = $2 if /^(\d+)\|([\d.]+)$/ }
	return \%a;
}

sub stop_all
{
	my ($self) = @_;
	$self->stop($_) for keys %{ $self->{pids} };
	$_->stop_all for grep { defined } @{ $self->{extra} // [] }, $self->{b}, $self->{a};
}

END
{
	local $?;
	$_->stop_all for @all;
}

1;
