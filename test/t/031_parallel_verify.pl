# Parallel backup verification (tensafe_dr.verify_workers, verify_parallel.c):
# with two workers dr_verify_backup() finds exactly what the serial path
# finds (a flipped byte in one file among many, a missing file, a size
# mismatch, a file below a followed tablespace link), and the workers did
# the checksumming; a worker's error reaches the leader with its SQLSTATE;
# with max_worker_processes exhausted the verification runs serially and
# says so; a cancel of the leader stops every worker, and a worker
# terminated on its own fails the verification instead of leaving files
# unchecked; the leader's exit stops them too.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use DrTest;

my $root = PostgreSQL::Test::Utils::tempdir();
my $tsdir = PostgreSQL::Test::Utils::tempdir();
my $pg_bin = '/usr/lib/postgresql/15/bin';

my $primary = new_primary('primary', <<"CONF");
tensafe_dr.backup_root = '$root'
CONF
# many files: forty small tables (heap, FSM, VM, TOAST, indexes), one in a tablespace
$primary->safe_psql('postgres', "CREATE TABLESPACE ts LOCATION '$tsdir'");
$primary->safe_psql('postgres', join("\n", map {
	"CREATE TABLE t$_ AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 2000 * $_) g;"
	. "CREATE INDEX ON t$_ (id); VACUUM t$_;" } 1 .. 40)
	. "CREATE TABLE in_ts TABLESPACE ts AS SELECT g AS id FROM generate_series(1, 50000) g;");
my $ts_rel = $primary->safe_psql('postgres', q{SELECT pg_relation_filepath('in_ts')});
my $big_rel = $primary->safe_psql('postgres', q{SELECT pg_relation_filepath('t40')});
my $mid_rel = $primary->safe_psql('postgres', q{SELECT pg_relation_filepath('t20')});
my $small_rel = $primary->safe_psql('postgres', q{SELECT pg_relation_filepath('t3')});
my $grown_rel = $primary->safe_psql('postgres', q{SELECT pg_relation_filepath('t5')});
$primary->safe_psql('postgres', 'CHECKPOINT');

my $sha = "$root/sha256";
command_ok([ "$pg_bin/pg_basebackup", '-D', $sha, '-h', $primary->host, '-p', $primary->port,
	'-Fp', '-X', 'stream', '-c', 'fast', '--manifest-checksums=SHA256',
	'-T', "$tsdir=$root/sha256_ts" ], 'pg_basebackup with a tablespace');
my $crc = "$root/crc32c";
command_ok([ "$pg_bin/pg_basebackup", '-D', $crc, '-h', $primary->host, '-p', $primary->port,
	'-Fp', '-X', 'stream', '-c', 'fast', '--manifest-checksums=CRC32C',
	'-T', "$tsdir=$root/crc32c_ts" ], 'pg_basebackup, CRC-32C');

# verify(dir, workers) -> (rows "file|problem" in result order, details->>'workers')
sub verify
{
	my ($dir, $workers) = @_;
	my $out = $primary->safe_psql('postgres', qq{
		SET tensafe_dr.verify_workers = $workers;
		SELECT (v).details->>'workers', array_to_string((v).problem_files, E'\\x01'),
		       array_to_string((v).problem_texts, E'\\x01')
		  FROM (SELECT dr_verify_backup_internal('$dir') AS v) s});
	my ($used, $files, $problems) = split /\|/, $out, 3;
	my @f = split /\x01/, $files // '';
	my @p = split /\x01/, $problems // '';
	return ([ map { "$f[$_]|$p[$_]" } 0 .. $#f ], $used);
}



my $nfiles = $primary->safe_psql('postgres',
	"SELECT (details->>'files')::int > 300 FROM dr_verify_backup_internal('$sha')");
is($nfiles, 't', 'the backup has hundreds of files');

###############################################################################
# Clean backups: no problems, and two workers did the checksumming.
###############################################################################
for my $dir ($sha, $crc)
{
	my ($rows, $used) = verify($dir, 2);
	is_deeply($rows, [], "clean backup ($dir): no problems with two workers");
	is($used, '2', 'both workers took part');
	($rows, $used) = verify($dir, 0);
	is_deeply($rows, [], 'no problems serially');
	is($used, '0', 'serial: no worker');
}

###############################################################################
# Damage: parallel finds exactly what serial finds.
###############################################################################
my $bad = "$root/damaged";
copy_dir($sha, $bad);
# the tablespace link must point at this copy's own tablespace directory
copy_dir("$root/sha256_ts", "$root/damaged_ts");
{
	my ($oid) = $ts_rel =~ m{pg_tblspc/(\d+)/} or die "no tablespace in $ts_rel";
	unlink "$bad/pg_tblspc/$oid" or die;
	symlink("$root/damaged_ts", "$bad/pg_tblspc/$oid") or die;
}
# a flipped byte in the largest table, in a middle one and in the tablespace
for my $rel ($big_rel, $mid_rel, $ts_rel)
{
	edit_file("$bad/$rel", sub { my $x = shift; substr($x, 5000, 1) = chr(ord(substr($x, 5000, 1)) ^ 0x01); $x });
}
unlink "$bad/$small_rel" or die;                                   # missing
edit_file("$bad/$grown_rel", sub { $_[0] . "x" });                # size mismatch
my ($serial, $su) = verify($bad, 0);
my ($parallel, $pu) = verify($bad, 2);
is($su, '0', 'damaged: the serial run used no worker');
is($pu, '2', 'damaged: the parallel run used two workers');
is_deeply($parallel, $serial, 'parallel and serial verifications list the same rows');
my $grown = -s "$bad/$grown_rel";
is_deeply([ sort @$parallel ], [ sort(
	"$big_rel|checksum mismatch",
	"$mid_rel|checksum mismatch",
	"$ts_rel|checksum mismatch",
	"$small_rel|missing",
	"$grown_rel|size $grown, manifest says " . ($grown - 1)) ],
	'the flipped bytes (one below the tablespace link), the missing file and the size mismatch');

###############################################################################
# A worker's error reaches the leader (test hook: a file of that name).
###############################################################################
my $hooked = "$root/hooked";
copy_dir($crc, $hooked);
system('cp', '-a', "$root/crc32c_ts", "$root/hooked_ts") == 0 or die;
{
	my ($oid) = $ts_rel =~ m{pg_tblspc/(\d+)/};
	unlink "$hooked/pg_tblspc/$oid" or die;
	symlink("$root/hooked_ts", "$hooked/pg_tblspc/$oid") or die;
}
open my $hfh, '>', "$hooked/global/tensafe_dr_test_worker_error" or die;
print $hfh "x";
close $hfh;
edit_file("$hooked/backup_manifest", sub {
	my $x = shift;
	$x =~ s/"Files": \[\n/"Files": [\n{ "Path": "global\/tensafe_dr_test_worker_error", "Size": 1, "Last-Modified": "2026-01-01 00:00:00 GMT", "Checksum-Algorithm": "CRC32C", "Checksum": "00000000" },\n/ or die;
	$x;
});
{
	my ($ret, $out, $err) = $primary->psql('postgres', qq{
		\\set VERBOSITY verbose
		SET tensafe_dr.verify_workers = 2;
		SELECT count(*) FROM dr_verify_backup('$hooked')});
	like($err, qr/ERROR:\s+XX001: tensafe_dr: test error in a verification worker at "global\/tensafe_dr_test_worker_error"/,
		"a worker's error is raised by the leader with its SQLSTATE");
	like($err, qr/DETAIL:\s+Raised by backup verification worker \d \(PID \d+\)/, 'naming the worker');
	my ($rows) = verify($hooked, 0);
	like(join("\n", @$rows), qr{global/tensafe_dr_test_worker_error\|checksum mismatch},
		'serially the hook does not fire (it is in the workers only)');
}

###############################################################################
# max_worker_processes exhausted: serial fallback, said so, same answer.
###############################################################################
$primary->append_conf('postgresql.conf', "max_worker_processes = 2\nmax_logical_replication_workers = 0\n");
$primary->restart;
{
	my ($ret, $out, $err) = $primary->psql('postgres', qq{
		SET tensafe_dr.verify_workers = 2;
		SELECT (v).details->>'workers', (v).details->>'workers_requested', cardinality((v).problem_files)
		  FROM (SELECT dr_verify_backup_internal('$bad') AS v) s});
	is($ret, 0, 'the verification succeeds without workers');
	is($out, '0|2|5', 'serially (details: 0 workers of 2 requested), the same five problems');
	like($err, qr/NOTICE:  backup verification runs serially: no background worker slot is free/,
		'a NOTICE says it ran serially');
	my ($fallback) = verify($bad, 2);
	is_deeply($fallback, $serial, 'the fallback lists the same rows as serial');
}
$primary->append_conf('postgresql.conf', "max_worker_processes = 8\nmax_logical_replication_workers = 4\n");
$primary->restart;

###############################################################################
# Cancel: the leader's cancel stops every worker.
###############################################################################
my $big = "$root/big";
copy_dir($crc, $big);
system('cp', '-a', "$root/crc32c_ts", "$root/big_ts") == 0 or die;
{
	my ($oid) = $ts_rel =~ m{pg_tblspc/(\d+)/};
	unlink "$big/pg_tblspc/$oid" or die;
	symlink("$root/big_ts", "$big/pg_tblspc/$oid") or die;
	# two sparse 40 GB files hashed with SHA-256: one for each worker, long to read
	my $size = 40 * 1024 * 1024 * 1024;
	for my $n (1, 2)
	{
		open my $fh, '>', "$big/bigfile$n" or die;
		truncate($fh, $size) or die;
		close $fh;
	}
	edit_file("$big/backup_manifest", sub {
		my $x = shift;
		my $entries = join '', map {
			qq[{ "Path": "bigfile$_", "Size": $size, "Last-Modified": "2026-01-01 00:00:00 GMT", "Checksum-Algorithm": "SHA256", "Checksum": "${\('0' x 64)}" },\n]
		} 1, 2;
		$x =~ s/"Files": \[\n/"Files": [\n$entries/ or die;
		$x;
	});
}
my $workers_sql = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tensafe_dr verify'};

# start_big() -> IPC::Run handle and refs to its output; waits for both workers
sub start_big
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ "$pg_bin/psql", '-XAtq', '-d', $primary->connstr('postgres'),
		'-c', 'SET tensafe_dr.verify_workers = 2', '-c', "SELECT count(*) FROM dr_verify_backup('$big')" ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(300));
	my $seen = wait_until($primary, qq{SELECT ($workers_sql) = 2 AND
		(SELECT bytes_done > 0 FROM dr_verify_progress() WHERE path = '$big')}, 't', 60);
	return ($h, \$out, \$err, $seen);
}

{
	my ($h, $out, $err, $seen) = start_big();
	ok(defined $seen, 'two verification workers run, and the progress view counts their bytes');
	my $t0 = time;
	$primary->safe_psql('postgres',
		"SELECT pg_cancel_backend(pid) FROM dr_verify_progress() WHERE path = '$big'");
	$h->finish;
	like($$err, qr/canceling statement due to user request/, 'the leader is cancelled');
	my $gone = wait_until($primary, $workers_sql, '0', 30);
	ok(defined $gone, 'every worker is gone after the cancel');
	note(sprintf('workers gone %.2f s after the cancel', time - $t0));
	is($primary->safe_psql('postgres', 'SELECT count(*) FROM dr_verify_progress()'), '0',
		'the progress slot is freed');
}

###############################################################################
# The leader terminated (FATAL, its exit): the workers stop too.
###############################################################################
{
	my ($h, $out, $err, $seen) = start_big();
	ok(defined $seen, 'two workers run for a leader about to be terminated');
	$primary->safe_psql('postgres',
		"SELECT pg_terminate_backend(pid) FROM dr_verify_progress() WHERE path = '$big'");
	$h->finish;
	like($$err, qr/terminating connection due to administrator command/, 'the leader is terminated');
	ok(defined wait_until($primary, $workers_sql, '0', 30), 'and its workers are gone');
}

###############################################################################
# A worker terminated on its own: the verification fails, the other stops.
###############################################################################
{
	my ($h, $out, $err, $seen) = start_big();
	ok(defined $seen, 'two workers run again');
	$primary->safe_psql('postgres', qq{
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		 WHERE backend_type = 'tensafe_dr verify' ORDER BY pid LIMIT 1});
	$h->finish;
	like($$err, qr/ERROR:  backup verification worker \d \(PID \d+\) exited before finishing its files/,
		'a terminated worker fails the verification instead of leaving files unchecked');
	ok(defined wait_until($primary, $workers_sql, '0', 30), 'and the other worker is stopped');
}

# the server is healthy after all this: a clean verification still passes in parallel
my ($rows, $used) = verify($sha, 2);
is_deeply($rows, [], 'a later parallel verification is clean');
is($used, '2', 'with two workers');

done_testing();
