# pg_upgrade of a cluster with tensafe_dr (issue 13, part 1).
#
# A real pg_upgrade, 15 -> 15 (the same code path as a major upgrade: both
# clusters run in binary-upgrade mode and the schema is dumped and restored
# with pg_dump --binary-upgrade), of a primary with the library preloaded and
# the extension holding events, an incident, configuration rows and WAL
# position samples.  Before the fix the workers connected during the
# binary-upgrade run and the restore failed with "database "postgres" is being
# accessed by other users".  Checked: pg_upgrade succeeds; no tensafe_dr
# worker ran in binary-upgrade mode; every table of the extension has the
# same rows afterwards; both workers run on the upgraded cluster and work.
use strict;
use warnings;

use File::Temp qw(tempdir);
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DrTest;

my $bindir = '/usr/lib/postgresql/15/bin';
my $conf = <<"CONF";
tensafe_dr.history_interval = '1s'
tensafe_dr.webhook_max_attempts = 1
tensafe_dr.webhook_connect_timeout = '1s'
CONF

my $old = new_primary('pgu_old', $conf);
my $sql = sub { $old->safe_psql('postgres', $_[0]) };

# Data in the extension's tables: events, an incident with an update, a
# changed escalation level, a webhook channel, a drill, position samples.
$sql->(q{SELECT dr_record_event('UPGRADE_NOTE', '{"n": 1}')});
my $incident = $sql->(q{SELECT dr_declare(2, 'before pg_upgrade')});
$sql->("SELECT dr_acknowledge($incident, 'on-call')");
$sql->(q{UPDATE dr_escalation_policy SET description = 'changed before pg_upgrade' WHERE level = 1});
$sql->(q{SELECT dr_webhook_add('pgu', 'http://127.0.0.1:9/hook', 'pgu-secret-0123456789abcdef')});
$sql->(q{SELECT dr_drill_start('tabletop', 'before pg_upgrade')});
ok(defined wait_until($old, 'SELECT count(*) >= 2 FROM dr_wal_positions', 't', 30),
	'the worker sampled WAL positions');

# Every table of the extension -> md5 of its rows in a stable order.
sub table_digests
{
	my ($node) = @_;
	my %d;
	for my $rel (split /\n/, $node->safe_psql('postgres', q{
		SELECT c.relname FROM pg_depend d
		  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'tensafe_dr'
		  JOIN pg_class c ON c.oid = d.objid AND c.relkind = 'r'
		 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
		   AND d.deptype = 'e' ORDER BY 1}))
	{
		$d{$rel} = $node->safe_psql('postgres',
			"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM $rel t");
	}
	return \%d;
}
# Digests are taken with no worker running, so nothing moves between them:
# in binary-upgrade mode (postgres -b, as pg_upgrade starts both clusters),
# which is also where no tensafe_dr worker may start.
sub start_binary_upgrade
{
	my ($node) = @_;
	PostgreSQL::Test::Utils::system_or_bail("$bindir/pg_ctl", '-w', '-D', $node->data_dir,
		'-l', $node->logfile, '-o', '-b', 'start');
}
sub stop_binary_upgrade
{
	my ($node) = @_;
	PostgreSQL::Test::Utils::system_or_bail("$bindir/pg_ctl", '-w', '-D', $node->data_dir, '-m', 'fast', 'stop');
}
# True if a tensafe_dr worker showed up within a few seconds (they start
# right after the postmaster is ready, and sample every second).
sub any_worker_within
{
	my ($node, $seconds) = @_;
	my $deadline = time + $seconds;
	while (time < $deadline)
	{
		return 1 if $node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
			WHERE backend_type LIKE 'tensafe_dr%'}) ne '0';
		select(undef, undef, undef, 0.2);
	}
	return 0;
}

my $version = $sql->(q{SELECT extversion FROM pg_extension WHERE extname = 'tensafe_dr'});
$old->stop;
start_binary_upgrade($old);
ok(!any_worker_within($old, 5), 'no tensafe_dr worker starts in binary-upgrade mode');
my $before = table_digests($old);
stop_binary_upgrade($old);

my $new = PostgreSQL::Test::Cluster->new('pgu_new');
$new->init;
$new->append_conf('postgresql.conf', <<"CONF" . $conf);
shared_preload_libraries = 'tensafe_dr'
tensafe_dr.database = 'postgres'
tensafe_dr.sample_interval = '1s'
tensafe_dr.heartbeat_interval = '1s'
log_min_messages = info
CONF

# pg_upgrade writes its logs below the new data directory and wants a
# writable current directory.
my $workdir = tempdir(DIR => PostgreSQL::Test::Utils::tempdir());
chdir $workdir or die "chdir: $!";
my ($stdout, $stderr);
my $ok = IPC::Run::run([ "$bindir/pg_upgrade", '--no-sync',
		'-b', $bindir, '-B', $bindir,
		'-d', $old->data_dir, '-D', $new->data_dir,
		'-p', $old->port, '-P', $new->port,
		'-s', $new->host ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'pg_upgrade of a cluster with tensafe_dr succeeds')
  or diag("$stdout\n$stderr\n" . join("\n", map { "---- $_\n" . slurp_file($_) }
	glob($new->data_dir . '/pg_upgrade_output.d/*/log/*.log')));
unlike($stdout . $stderr, qr/being accessed by other users/, 'no database held open by a worker');

start_binary_upgrade($new);
my $after = table_digests($new);
stop_binary_upgrade($new);
$new->start;
is($new->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'tensafe_dr'}),
	$version, "extension version $version kept");
is_deeply([ sort keys %$after ], [ sort keys %$before ], 'the same tables');
for my $rel (sort keys %$before)
{
	is($after->{$rel}, $before->{$rel}, "$rel: the same rows after pg_upgrade ($before->{$rel})");
}
is($new->safe_psql('postgres', "SELECT acknowledged_by, resolved_at IS NULL FROM dr_incidents WHERE id = $incident"),
	'on-call|t', 'the acknowledged incident is still open');
is($new->safe_psql('postgres', q{SELECT count(*) FROM dr_webhooks WHERE name = 'pgu' AND secret = 'pgu-secret-0123456789abcdef'}),
	'1', 'the webhook channel and its secret kept');

# The workers run on the upgraded cluster, and work.
ok(defined wait_until($new, q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type IN ('tensafe_dr', 'tensafe_dr notifier')}, '2', 30),
	'both workers run after the upgrade');
my $n = $new->safe_psql('postgres', 'SELECT count(*) FROM dr_wal_positions');
ok(defined wait_until($new, "SELECT count(*) > $n FROM dr_wal_positions", 't', 30),
	'the worker samples into the upgraded database');
ok($new->safe_psql('postgres', q{SELECT dr_record_event('AFTER_UPGRADE') IS NOT NULL}) eq 't',
	'events can be recorded after the upgrade');
isnt(worker_pid($new), '0', 'dr_status() sees the worker');

$new->stop;
done_testing();
