# Point-in-time recovery (runbook 4.1): the LSN/time map, restore points,
# dr_pitr_plan() to a time and to a restore point, real restores of new
# instances from a verified pg_basebackup with the plan's settings and the
# WAL archive, refused targets (future, before the oldest backup, unknown
# restore point, a WAL segment removed from the archive), and pgBackRest's
# backups imported from a real `pgbackrest info --output=json`.
use strict;
use warnings;

use File::Copy qw(move);
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::RecursiveCopy;
use PostgreSQL::Test::Utils;
use Test::More;
use DrTest;

my $root = PostgreSQL::Test::Utils::tempdir();
my $archive = "$root/archive";
make_path($archive);

my $primary = new_primary('pitr_primary', <<"CONF");
archive_mode = on
archive_command = 'test ! -f "$archive/%f" && cp "%p" "$archive/%f"'
tensafe_dr.wal_archive_dir = '$archive'
tensafe_dr.backup_root = '$root'
tensafe_dr.history_interval = '1s'
CONF
my $psql = sub { $primary->safe_psql('postgres', $_[0]) };

# run SQL expected to fail; returns (sqlstate, stderr)
sub fails
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	my ($state) = $err =~ /ERROR:  ([0-9A-Z]{5}):/;
	return ($state // "none (ret $ret)", $err);
}

# switch WAL and wait until the segment just finished is archived
sub switch_and_archive
{
	my ($node) = @_;
	my $seg = $node->safe_psql('postgres',
		'SELECT pg_walfile_name(pg_switch_wal())');
	ok(defined wait_until($node,
		"SELECT coalesce(last_archived_wal >= '$seg', false) FROM pg_stat_archiver", 't', 30),
		"segment $seg archived");
	return $seg;
}

###############################################################################
# LSN <-> time map.
###############################################################################
ok(defined wait_until($primary, 'SELECT count(*) >= 3 FROM dr_wal_positions', 't', 30),
	'the worker samples WAL positions into dr_wal_positions');
$psql->('CREATE TABLE accounts (id int PRIMARY KEY, owner text)');
$psql->("INSERT INTO accounts SELECT g, 'old ' || g FROM generate_series(1, 100) g");
my $t_before_backup = $psql->('SELECT clock_timestamp()');
# A position sample after that time, taken before the backup, is what shows
# the time to be before the backup's end: without it, a backup ending in the
# same second would leave it "not known to be after the end" (see below).
ok(defined wait_until($primary,
	"SELECT count(*) > 0 FROM dr_wal_positions WHERE sampled_at > '$t_before_backup'", 't', 30),
	'a position sample dates the time noted before the backup');

###############################################################################
# A verified base backup.
###############################################################################
my $base = "$root/base1";
command_ok([ 'pg_basebackup', '-d', $primary->connstr('postgres'), '-D', $base,
		'-X', 'stream', '-c', 'fast', '--manifest-checksums=CRC32C' ],
	'pg_basebackup (plain, with manifest)');
switch_and_archive($primary);
my $verified = $psql->(
	"SELECT count(*) FROM dr_verify_backup('$base')");
is($verified, '0', 'dr_verify_backup: no problems');
is($psql->("SELECT verification_ok, source, timeline FROM dr_backups WHERE path LIKE '%base1'"),
	't|pg_basebackup|1', 'backup recorded in dr_backups as verified');

# The backup's end is dated to the second by its STOP TIME and to the sample
# interval by the WAL-position samples: a time target can be planned from it
# once a sample shows the WAL past its stop LSN (or a whole second after its
# STOP TIME).  Wait for that sample before noting the target time.
ok(defined wait_until($primary, q{
	SELECT count(*) > 0 FROM dr_wal_positions
	 WHERE lsn >= (SELECT stop_lsn FROM dr_backups WHERE path LIKE '%base1')}, 't', 30),
	'a position sample dates the end of the backup');

###############################################################################
# 4.1: rows inserted, the time noted (and a restore point), rows deleted.
###############################################################################
$psql->("INSERT INTO accounts SELECT g, 'precious ' || g FROM generate_series(1001, 1050) g");
my ($t_good, $lsn_good) = split /\|/,
  $psql->('SELECT clock_timestamp(), pg_current_wal_insert_lsn()');
my $rp_lsn = $psql->("SELECT dr_create_restore_point('before_delete')");
like($rp_lsn, qr{^[0-9A-F]+/[0-9A-F]+$}, "restore point at $rp_lsn");
is($psql->("SELECT lsn = '$rp_lsn', timeline, created_by = current_user FROM dr_restore_points WHERE name = 'before_delete'"),
	't|1|t', 'dr_restore_points records it');
is($psql->("SELECT details->>'name', details->>'lsn' FROM dr_events WHERE event_type = 'RESTORE_POINT'"),
	"before_delete|$rp_lsn", 'RESTORE_POINT event recorded');
my ($state) = fails($primary, "SELECT dr_create_restore_point('before_delete')");
is($state, '42710', 'duplicate restore point name refused with 42710');

ok(defined wait_until($primary,
	"SELECT count(*) > 0 FROM dr_wal_positions WHERE sampled_at > '$t_good'", 't', 30),
	'a position sample after the noted time');
$psql->("DELETE FROM accounts WHERE id > 1000");    # the accident
is($psql->('SELECT count(*) FROM accounts'), '100', 'rows deleted on the primary');
switch_and_archive($primary);

# The map: round trips within one sample interval (1 s).
my ($dt, $lsn_ok) = split /\|/, $psql->(qq{
	SELECT abs(extract(epoch FROM dr_time_at('$lsn_good') - '$t_good'::timestamptz)) <= 1.5,
	       dr_lsn_at('$t_good') BETWEEN
	         (SELECT max(lsn) FROM dr_wal_positions WHERE sampled_at <= '$t_good') AND
	         (SELECT min(lsn) FROM dr_wal_positions WHERE sampled_at >= '$t_good')});
is($dt, 't', 'dr_time_at(lsn noted) is within the sample interval of the noted time');
is($lsn_ok, 't', 'dr_lsn_at(noted time) lies between the surrounding samples');
is($psql->(q{
	SELECT bool_and(dr_time_at(lsn) <= sampled_at AND dr_lsn_at(sampled_at) = lsn)
	  FROM (SELECT * FROM dr_wal_positions ORDER BY sampled_at DESC OFFSET 1 LIMIT 5) s}),
	't', 'dr_lsn_at/dr_time_at reproduce the samples themselves');

###############################################################################
# Plan to the noted time and restore a new instance with it.
###############################################################################
my $plan = $psql->(qq{
	SELECT feasible, backup_path LIKE '%base1', target_type, wal_segments_needed > 0,
	       cardinality(wal_segments_missing), replay_bytes > 0,
	       recovery_conf LIKE '%recovery_target_time = %', recovery_conf LIKE '%restore_command = ''cp %'
	  FROM dr_pitr_plan('$t_good')});
is($plan, 't|t|time|t|0|t|t|t', 'dr_pitr_plan(time): feasible, the verified backup, WAL all there');
my $conf_time = $psql->("SELECT recovery_conf FROM dr_pitr_plan('$t_good')");
note($conf_time);
like($conf_time, qr/recovery_target_action = 'promote'/, 'promotes at the target');
like($conf_time, qr/recovery_target_timeline = '1'/, 'on the backup\'s timeline');

# restore_from(name, recovery_conf) -> started node, recovered and promoted
sub restore_from
{
	my ($name, $recovery_conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	rmdir $node->data_dir;
	PostgreSQL::Test::RecursiveCopy::copypath($base, $node->data_dir);
	chmod(0700, $node->data_dir);
	$node->append_conf('postgresql.conf', sprintf(
		"port = %d\nunix_socket_directories = '%s'\narchive_mode = off\n",
		$node->port, $node->host));
	$node->append_conf('postgresql.auto.conf', $recovery_conf);
	$node->append_conf('recovery.signal', '');
	$node->start;
	ok(defined wait_until($node, 'SELECT pg_is_in_recovery()', 'f', 60),
		"$name: recovery finished and promoted");
	return $node;
}

my $restored = restore_from('pitr_restored_time', $conf_time);
is($restored->safe_psql('postgres', "SELECT count(*) FROM accounts WHERE id > 1000"),
	'50', 'restored to the noted time: the deleted rows are back');
is($restored->safe_psql('postgres', 'SELECT count(*) FROM accounts'), '150',
	'and the old ones are there');
$restored->stop;

###############################################################################
# Plan to the restore point by name.
###############################################################################
my $conf_name = $psql->("SELECT recovery_conf FROM dr_pitr_plan('before_delete')");
like($conf_name, qr/recovery_target_name = 'before_delete'/, 'plan to the restore point name');
is($psql->("SELECT target_type, target_lsn = '$rp_lsn' FROM dr_pitr_plan('before_delete')"),
	'name|t', 'the target is the restore point');
is($psql->("SELECT target_type FROM dr_pitr_plan('$rp_lsn')"), 'lsn', "an LSN text target");
my $restored2 = restore_from('pitr_restored_name', $conf_name);
is($restored2->safe_psql('postgres', "SELECT count(*) FROM accounts WHERE id > 1000"),
	'50', 'restored to the restore point: the deleted rows are back');
$restored2->stop;

###############################################################################
# Impossible targets are refused, with the reason.
###############################################################################
my $err;
($state, $err) = fails($primary, "SELECT * FROM dr_pitr_plan(now() + interval '1 hour')");
is($state, '22023', 'a target in the future: 22023');
like($err, qr/is in the future/, '... says so');
($state, $err) = fails($primary, "SELECT * FROM dr_pitr_plan('$t_before_backup')");
is($state, '22023', 'a target before the oldest verified backup: 22023');
like($err, qr/before the end of the oldest verified backup/, '... says so');
($state, $err) = fails($primary, "SELECT * FROM dr_pitr_plan('no_such_point')");
is($state, '42704', 'an unknown restore point: 42704');

# A time inside the interval the backup's end is known to lie in (after the
# last sample before its stop LSN and its STOP TIME, by the first sample
# after it or a second after STOP TIME) is refused as not known to be after
# the end, with the earliest time that can be planned; that time plans.
my ($mid, $by) = split /\|/, $psql->(q{
	SELECT w.ended_after + (w.ended_by - w.ended_after) / 2, w.ended_by
	  FROM dr_backups b, dr_pitr_backup_end_window(b) w WHERE b.path LIKE '%base1'});
($state, $err) = fails($primary, "SELECT * FROM dr_pitr_plan('$mid'::timestamptz)");
is($state, '22023', "a time within the backup's end window ($mid): 22023");
like($err, qr/not known to be after the end of the oldest verified backup/, '... says it is not known to be after the end');
like($err, qr/HINT:  Choose a target time at or after \Q$by\E/, '... and names the earliest time that can be planned');
is($psql->("SELECT backup_path LIKE '%base1' FROM dr_pitr_plan('$by'::timestamptz, refuse => false)"), 't',
	'that earliest time is planned from the backup');

# A WAL segment between the backup and the target goes missing from the archive.
my ($first, $last) = split /\|/,
  $psql->("SELECT first_segment, last_segment FROM dr_pitr_plan('$t_good')");
my @segs = sort grep { /^[0-9A-F]{24}$/ && $_ ge $first && $_ le $last }
  map { s{.*/}{}r } glob("$archive/*");
my $victim = $segs[ int(@segs / 2) ];
ok(defined $victim, "segment $victim to remove (needed: $first .. $last)");
move("$archive/$victim", "$root/$victim.aside") or die "move: $!";
($state, $err) = fails($primary, "SELECT * FROM dr_pitr_plan('$t_good')");
is($state, '58P01', 'a WAL gap: 58P01');
like($err, qr/DETAIL:  Missing from \S+: \Q$victim\E/, 'the missing segment is named');
is($psql->("SELECT feasible, wal_segments_missing = ARRAY['$victim'], sqlstate FROM dr_pitr_plan('$t_good', refuse => false)"),
	"f|t|58P01", 'refuse => false: the same as a row');
move("$root/$victim.aside", "$archive/$victim") or die "move back: $!";
is($psql->("SELECT feasible FROM dr_pitr_plan('$t_good')"), 't', 'feasible again once it is back');

# Read-only callers: dr_monitor may plan, not create restore points.
$psql->('CREATE ROLE pitr_watcher LOGIN IN ROLE dr_monitor');
is($primary->safe_psql('postgres', "SET ROLE pitr_watcher; SELECT feasible FROM dr_pitr_plan('$t_good')"),
	't', 'dr_monitor can plan');
($state) = fails($primary, "SET ROLE pitr_watcher; SELECT dr_create_restore_point('x')");
is($state, '42501', 'dr_monitor cannot create restore points');

###############################################################################
# A standby refuses restore points (25006) and can still plan.
###############################################################################
my $standby = new_standby($primary, 'pitr_standby');
($state, $err) = fails($standby, "SELECT dr_create_restore_point('on_standby')");
is($state, '25006', 'restore point on a standby: 25006');
like($err, qr/HINT:  Create it on the primary/, '... with a hint');
is($standby->safe_psql('postgres', "SELECT feasible FROM dr_pitr_plan('before_delete')"), 't',
	'the standby plans from the replicated catalog');

###############################################################################
# After a failover: the target on the new timeline, the backup on the old one.
# The standby inherited archive_mode/archive_command: once promoted it
# archives timeline 2 (and 00000002.history) into the same archive.
###############################################################################
$primary->stop;
# A standby offers again the segments it got with its base backup, which the
# primary archived already: skip those instead of failing on them forever.
$standby->append_conf('postgresql.conf',
	qq{archive_command = 'test -f "$archive/%f" || cp "%p" "$archive/%f"'\n});
$standby->reload;
$standby->promote;
ok(defined wait_until($standby, 'SELECT pg_is_in_recovery()', 'f', 30), 'standby promoted');
ok(defined wait_until($standby,
	"SELECT count(*) > 0 FROM dr_wal_positions WHERE timeline = 2", 't', 30),
	'the new primary samples positions on timeline 2');
my $sb = sub { $standby->safe_psql('postgres', $_[0]) };
$sb->("INSERT INTO accounts SELECT g, 'after failover ' || g FROM generate_series(2001, 2020) g");
my $t_tl2 = $sb->('SELECT clock_timestamp()');
ok(defined wait_until($standby,
	"SELECT count(*) > 0 FROM dr_wal_positions WHERE sampled_at > '$t_tl2'", 't', 30),
	'a position sample after the noted time on timeline 2');
$sb->('DELETE FROM accounts WHERE id > 2000');
switch_and_archive($standby);
ok(-f "$archive/00000002.history", 'timeline 2 history file archived');

my $plan_tl2 = $sb->(qq{
	SELECT feasible, timeline, backup_path LIKE '%base1', cardinality(wal_segments_missing),
	       first_segment LIKE '00000001%', last_segment LIKE '00000002%',
	       recovery_conf LIKE '%recovery_target_timeline = ''2''%'
	  FROM dr_pitr_plan('$t_tl2')});
is($plan_tl2, 't|2|t|0|t|t|t',
	'dr_pitr_plan across the failover: the timeline-1 backup, WAL of both timelines, target timeline 2');
my $conf_tl2 = $sb->("SELECT recovery_conf FROM dr_pitr_plan('$t_tl2')");
my $restored3 = restore_from('pitr_restored_tl2', $conf_tl2);
is($restored3->safe_psql('postgres', 'SELECT count(*) FROM accounts WHERE id > 2000'), '20',
	'restored across the timeline switch: the rows deleted on timeline 2 are back');
is($restored3->safe_psql('postgres', 'SELECT count(*) FROM accounts WHERE id BETWEEN 1001 AND 1050'), '0',
	'and the timeline-1 deletion stays replayed');
$restored3->stop;

move("$archive/00000002.history", "$root/00000002.history.aside") or die "move: $!";
($state, $err) = fails($standby, "SELECT * FROM dr_pitr_plan('$t_tl2')");
is($state, '58P01', 'history file missing from the archive: 58P01');
like($err, qr/timeline history file "00000002.history" is not in the WAL archive/, '... named');
move("$root/00000002.history.aside", "$archive/00000002.history") or die "move back: $!";
$standby->stop;

###############################################################################
# pgBackRest: a real stanza, a real backup, imported into dr_backups.
###############################################################################
SKIP:
{
	skip 'pgbackrest not installed', 9 unless system('pgbackrest version >/dev/null 2>&1') == 0;

	my $pgbr = PostgreSQL::Test::Cluster->new('pitr_pgbr');
	my $cfg = "$root/pgbackrest.conf";
	$pgbr->init(allows_streaming => 1);
	open my $fh, '>', $cfg or die "$cfg: $!";
	print $fh <<"INI";
[global]
repo1-path=$root/pgbr-repo
log-path=$root/pgbr-log
lock-path=$root/pgbr-lock
log-level-file=off
log-level-console=warn
start-fast=y

[main]
pg1-path=@{[ $pgbr->data_dir ]}
pg1-port=@{[ $pgbr->port ]}
pg1-socket-path=@{[ $pgbr->host ]}
INI
	close $fh;
	$pgbr->append_conf('postgresql.conf', <<"CONF");
shared_preload_libraries = 'tensafe_dr'
tensafe_dr.database = 'postgres'
archive_mode = on
archive_command = 'pgbackrest --config=$cfg --stanza=main archive-push "%p"'
CONF
	$pgbr->start;
	$pgbr->safe_psql('postgres', 'CREATE EXTENSION tensafe_dr');
	command_ok([ 'pgbackrest', "--config=$cfg", '--stanza=main', 'stanza-create' ], 'pgbackrest stanza-create');
	command_ok([ 'pgbackrest', "--config=$cfg", '--stanza=main', '--type=full', 'backup' ], 'pgbackrest backup');
	my ($info) = run_command([ 'pgbackrest', "--config=$cfg", '--output=json', 'info' ]);
	like($info, qr/"label"/, 'pgbackrest info --output=json');

	my $import = "SELECT dr_import_pgbackrest(\$json\$$info\$json\$::jsonb)";
	is($pgbr->safe_psql('postgres', $import), '1', 'one backup imported');
	is($pgbr->safe_psql('postgres', $import), '1', 'imported again (upsert)');
	is($pgbr->safe_psql('postgres', q{
		SELECT count(*), bool_and(source = 'pgbackrest' AND path = 'main' AND label ~ 'F$'
		         AND timeline = 1 AND start_lsn < stop_lsn AND start_time <= stop_time
		         AND size_bytes > 0 AND verification_ok
		         AND system_identifier = (SELECT system_identifier FROM pg_control_system())
		         AND details->>'archive_max' IS NOT NULL)
		  FROM dr_backups}), '1|t', 'dr_backups has it, with LSNs, times, size, timeline, system id');

	my $stop = $pgbr->safe_psql('postgres', 'SELECT stop_lsn FROM dr_backups');
	like($pgbr->safe_psql('postgres', "SELECT recovery_conf FROM dr_pitr_plan('$stop'::pg_lsn)"),
		qr/restore_command = 'pgbackrest --stanza=main archive-get %f "%p"'/,
		'a plan from the pgBackRest backup uses archive-get');
	$pgbr->safe_psql('postgres', 'CREATE TABLE later AS SELECT g FROM generate_series(1, 100000) g');
	my $later = $pgbr->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	($state, $err) = fails($pgbr, "SELECT * FROM dr_pitr_plan('$later')");
	is($state, '58P01', 'WAL beyond the archive pgBackRest reported: 58P01');
	$pgbr->stop;
}

$primary->stop;
done_testing();
