# PatroniCluster — a real etcd + Patroni cluster on 127.0.0.1 for tests and
# benchmarks.  Every process is started by this module, remembered by PID,
# and killed by PID in stop_all() (also called from END, so a failing test
# leaves nothing behind).  Runs as the postgres user (prove does).
package PatroniCluster;

use strict;
use warnings;

use File::Path qw(make_path);
use HTTP::Tiny;
use JSON::PP;
use POSIX ':sys_wait_h';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(time usleep);

my @all;    # every cluster made, for END

our $bindir = '/usr/lib/postgresql/15/bin';

sub free_port { return PostgreSQL::Test::Cluster::get_free_port(); }

# new(dir, scripts_dir, %opts): opts->{nodes} (default 2), {extra_dcs_params}
sub new
{
	my ($class, %o) = @_;
	my $self = bless {
		dir => $o{dir},
		scripts => $o{scripts},
		scope => $o{scope} // 'drtest',
		pids => {},
		nodes => {},
		params => $o{params} // {},
		pre_promote => $o{pre_promote} // 1,
		ttl => $o{ttl} // 10,
		loop_wait => $o{loop_wait} // 2,
		# a standby cluster (two-region tests): {host, port} of the
		# upstream region's primary, written into bootstrap.dcs
		standby_cluster => $o{standby_cluster},
	}, $class;
	make_path($self->{dir});
	push @all, $self;
	return $self;
}

sub spawn
{
	my ($self, $key, $log, @cmd) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		# a child that fails must not run the parent's END blocks (they
		# stop every cluster): say why and _exit
		open STDOUT, '>>', $log or POSIX::_exit(127);
		open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
		setpgrp(0, 0);
		exec(@cmd) or print STDERR "exec $cmd[0]: $!\n";
		POSIX::_exit(127);
	}
	$self->{pids}{$key} = $pid;
	return $pid;
}

sub start_etcd
{
	my ($self) = @_;
	# a restart (after kill_all9) keeps the ports the nodes know
	my ($client, $peer) = ($self->{etcd_port} // free_port(), $self->{etcd_peer} // free_port());
	$self->{etcd_port} = $client;
	$self->{etcd_peer} = $peer;
	$self->spawn('etcd', "$self->{dir}/etcd.log", 'etcd', '--name', 'e1',
		'--data-dir', "$self->{dir}/etcd",
		'--listen-client-urls', "http://127.0.0.1:$client",
		'--advertise-client-urls', "http://127.0.0.1:$client",
		'--listen-peer-urls', "http://127.0.0.1:$peer",
		'--initial-advertise-peer-urls', "http://127.0.0.1:$peer",
		'--initial-cluster', "e1=http://127.0.0.1:$peer");
	$self->wait_for(sub {
		my $r = HTTP::Tiny->new(timeout => 1)->get("http://127.0.0.1:$client/health");
		return $r->{success} && $r->{content} =~ /true/;
	}, 30, 'etcd healthy');
}

sub node_yaml
{
	my ($self, $name) = @_;
	my $n = $self->{nodes}{$name};
	my $dsn = "host=127.0.0.1 port=$n->{port} user=postgres dbname=postgres";
	my $cb = "$self->{scripts}/tensafe_dr_callback --dsn '$dsn' --spool $n->{dir}/callback.spool";
	my $params = join('', map { "    $_: '$self->{params}{$_}'\n" } sort keys %{ $self->{params} });
	my $pre = $self->{pre_promote}
	  ? "  pre_promote: \"$self->{scripts}/tensafe_dr_pre_promote --dsn '$dsn'\"\n" : '';
	my $sc = $self->{standby_cluster}
	  ? "    standby_cluster:\n      host: $self->{standby_cluster}{host}\n"
	  . "      port: $self->{standby_cluster}{port}\n      create_replica_methods:\n      - basebackup\n"
	  : '';
	return <<"YAML";
scope: $self->{scope}
name: $name
log:
  level: INFO
restapi:
  listen: 127.0.0.1:$n->{rest}
  connect_address: 127.0.0.1:$n->{rest}
etcd3:
  hosts: 127.0.0.1:$self->{etcd_port}
bootstrap:
  dcs:
    ttl: $self->{ttl}
    loop_wait: $self->{loop_wait}
    retry_timeout: 3
    maximum_lag_on_failover: 16777216
$sc    postgresql:
      use_pg_rewind: true
      parameters:
        wal_log_hints: 'on'
        max_wal_senders: 10
        hot_standby: 'on'
        wal_receiver_status_interval: '1s'
  initdb:
  - encoding: UTF8
  - auth: trust
  pg_hba:
  - local all all trust
  - host all all 127.0.0.1/32 trust
  - host replication all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:$n->{port}
  connect_address: 127.0.0.1:$n->{port}
  data_dir: $n->{dir}/data
  bin_dir: $bindir
  pgpass: $n->{dir}/pgpass
  basebackup:
    checkpoint: fast
  authentication:
    superuser: {username: postgres, password: postgres}
    replication: {username: postgres, password: postgres}
    rewind: {username: postgres, password: postgres}
  parameters:
    unix_socket_directories: '$n->{dir}'
    shared_preload_libraries: 'tensafe_dr'
    tensafe_dr.database: 'postgres'
    tensafe_dr.node_name: '$name'
$params  callbacks:
    on_start: "$cb"
    on_stop: "$cb"
    on_restart: "$cb"
    on_reload: "$cb"
    on_role_change: "$cb"
$pre
YAML
}

sub add_node
{
	my ($self, $name) = @_;
	my $dir = "$self->{dir}/$name";
	make_path($dir);
	chmod 0700, $dir;
	$self->{nodes}{$name} = { dir => $dir, port => free_port(), rest => free_port() };
	open my $fh, '>', "$dir/patroni.yml" or die $!;
	print $fh $self->node_yaml($name);
	close $fh;
	$self->start_node($name);
}

sub start_node
{
	my ($self, $name) = @_;
	my $n = $self->{nodes}{$name};
	$self->spawn("patroni_$name", "$n->{dir}/patroni.log", 'patroni', "$n->{dir}/patroni.yml");
}

sub rest
{
	my ($self, $name, $path) = @_;
	my $r = HTTP::Tiny->new(timeout => 2)->get("http://127.0.0.1:$self->{nodes}{$name}{rest}$path");
	return $r;
}

sub is_leader { my ($s, $n) = @_; return $s->rest($n, '/primary')->{status} == 200; }
sub is_replica { my ($s, $n) = @_; return $s->rest($n, '/replica')->{status} == 200; }

sub wait_for
{
	my ($self, $cond, $timeout, $what) = @_;
	my $start = time;
	while (time - $start < $timeout)
	{
		return time - $start if eval { $cond->() };
		usleep(200_000);
	}
	die "timed out after ${timeout}s waiting for: $what";
}

# psql against a node; dies on error unless $ok_fail
sub sql
{
	my ($self, $name, $query, $ok_fail) = @_;
	my $n = $self->{nodes}{$name};
	my ($stdout, $stderr);
	my $ok = IPC::Run::run([ "$bindir/psql", '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-h', '127.0.0.1', '-p', $n->{port}, '-U', 'postgres', '-d', 'postgres', '-c', $query ],
		'>', \$stdout, '2>', \$stderr, IPC::Run::timeout(30));
	chomp $stdout if defined $stdout;
	die "psql on $name failed: $stderr" if !$ok && !$ok_fail;
	return $ok ? $stdout : undef;
}

sub postmaster_pid
{
	my ($self, $name) = @_;
	open my $fh, '<', "$self->{nodes}{$name}{dir}/data/postmaster.pid" or return undef;
	my $pid = <$fh>;
	chomp $pid;
	return $pid;
}

# kill -9 a node's Patroni and postmaster (and wait until both are gone)
sub kill9_node
{
	my ($self, $name) = @_;
	my $pp = $self->{pids}{"patroni_$name"};
	my $pm = $self->postmaster_pid($name);
	kill 'KILL', $pp if $pp;
	kill 'KILL', $pm if $pm;
	waitpid($pp, 0) if $pp;
	delete $self->{pids}{"patroni_$name"};
	$self->wait_for(sub { !$pm || !kill(0, $pm) }, 30, "postmaster $pm gone") if $pm;
}

# The cluster's dynamic configuration in the DCS, changed through a node's
# REST API (PATCH /config; a key set to undef is removed, as taking
# standby_cluster out promotes a standby cluster).  Returns the new config.
sub patch_config
{
	my ($self, $name, $patch) = @_;
	my $r = HTTP::Tiny->new(timeout => 10)->request('PATCH',
		"http://127.0.0.1:$self->{nodes}{$name}{rest}/config",
		{ content => JSON::PP::encode_json($patch), headers => { 'Content-Type' => 'application/json' } });
	die "PATCH /config on $name: $r->{status} $r->{content}" unless $r->{success};
	return JSON::PP::decode_json($r->{content});
}

# kill -9, in one step, every process of this cluster: the Patroni daemons,
# their postmasters and etcd (a lost region); then wait until all are gone.
sub kill_all9
{
	my ($self) = @_;
	my @pids = values %{ $self->{pids} };
	my @pm = grep { defined } map { $self->postmaster_pid($_) } keys %{ $self->{nodes} };
	kill 'KILL', @pids, @pm;
	my $t = time;
	waitpid($_, 0) for @pids;
	$self->{pids} = {};
	$self->wait_for(sub { !grep { kill(0, $_) } @pm }, 30, 'postmasters gone');
	return $t;    # when the signals went out
}

sub patronictl
{
	my ($self, $name, @args) = @_;
	my ($out, $err);
	IPC::Run::run([ 'patronictl', '-c', "$self->{nodes}{$name}{dir}/patroni.yml", @args ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(120));
	return ($out // '') . ($err // '');
}

# Patroni's own view (DCS member list, as patronictl shows it): true when
# $name is listed as a replica that is streaming (or "running" on versions
# without that state) with a known lag.  Our view (the REST /replica check,
# dr_status()) settles before Patroni's: wait for this before asking Patroni
# to switch over to $name.
sub is_switchover_candidate
{
	my ($self, $name) = @_;
	my $json;
	IPC::Run::run([ 'patronictl', '-c', "$self->{nodes}{$name}{dir}/patroni.yml", 'list', '-f', 'json' ],
		'>', \$json, '2>', \my $err, IPC::Run::timeout(30)) or return 0;
	my $members = eval { JSON::PP::decode_json($json) } or return 0;
	for my $m (@$members)
	{
		next unless $m->{Member} eq $name;
		return 0 if $m->{Role} =~ /leader/i;
		return 0 unless ($m->{State} // '') =~ /^(streaming|running)$/;
		return defined $m->{'Lag in MB'} && $m->{'Lag in MB'} =~ /^\d+$/;
	}
	return 0;
}

sub stop_all
{
	my ($self) = @_;
	for my $key (grep { /^patroni_/ } keys %{ $self->{pids} })
	{
		kill 'TERM', $self->{pids}{$key};
	}
	my $deadline = time + 20;
	for my $key (keys %{ $self->{pids} })
	{
		next unless $key =~ /^patroni_/;
		my $pid = $self->{pids}{$key};
		while (time < $deadline && waitpid($pid, WNOHANG) == 0) { usleep(100_000) }
		kill 'KILL', $pid if kill(0, $pid);
		delete $self->{pids}{$key};
	}
	# postmasters whose Patroni died first
	for my $name (keys %{ $self->{nodes} })
	{
		my $pm = $self->postmaster_pid($name);
		kill 'KILL', $pm if $pm && kill(0, $pm);
	}
	if (my $e = delete $self->{pids}{etcd})
	{
		kill 'KILL', $e;
		waitpid($e, 0);
	}
}

END
{
	local $?;    # keep the test's exit status: waitpid below would overwrite it
	$_->stop_all for @all;
}

1;
