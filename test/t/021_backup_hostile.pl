# Hostile backups and paths (issue 13, items 7 and 8), run as a dr_admin
# member (the least privileged role that may call dr_verify_backup(),
# dr_file_sha256() and dr_verify_artifact()):
#  - a manifest whose WAL range ends at FFFFF/0 is answered in seconds with a
#    bounded list and the true count, the backend's peak memory staying flat;
#    WAL ranges that disagree with backup_label or pg_control are refused;
#  - a 2 GB (sparse) manifest is refused without being read;
#  - many problems: 100 listed, one row with the rest, the true count recorded;
#  - dr_file_sha256() against a symbolic link swapped in and out of place
#    never returns the hash of the file outside the root;
#  - a backup's pg_wal that is a symbolic link out of the root is not
#    followed (one under the root is);
#  - through a symbolic link to /etc, existing and missing files get the same
#    error, as does any path outside; a FIFO is refused without blocking.
use strict;
use warnings;

use Digest::SHA;
use File::Path qw(make_path);
use POSIX qw(mkfifo);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use DrTest;

my $root = PostgreSQL::Test::Utils::tempdir();
my $outside = PostgreSQL::Test::Utils::tempdir();
my $pg_bin = '/usr/lib/postgresql/15/bin';

my $primary = new_primary('primary', <<"CONF");
tensafe_dr.backup_root = '$root'
CONF
$primary->safe_psql('postgres', q{
	CREATE ROLE backup_admin LOGIN IN ROLE dr_admin;
	CREATE TABLE filler AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g;
	-- dr_file_sha256() without stopping at the first error (runs as the caller)
	CREATE FUNCTION try_sha(p text) RETURNS text LANGUAGE plpgsql AS $$
	BEGIN
		RETURN dr_file_sha256(p);
	EXCEPTION WHEN others THEN
		RETURN 'error ' || SQLSTATE || ' ' || SQLERRM;
	END $$;
});

my $base = "$root/base";
command_ok([ "$pg_bin/pg_basebackup", '-D', $base, '-h', $primary->host,
	'-p', $primary->port, '-Fp', '-X', 'stream', '-c', 'fast', '-l', 'hostile base' ],
	'pg_basebackup');

sub copy_backup
{
	my ($to) = @_;
	return copy_dir($base, $to);
}


# rewrite the manifest and give it a fresh, valid Manifest-Checksum
sub rewrite_manifest
{
	my ($dir, $edit) = @_;
	edit_file("$dir/backup_manifest", sub {
		my $x = shift;
		$x =~ s/"Manifest-Checksum": "[0-9a-f]{64}"\}\n\z//s or die "no checksum line";
		$x = $edit->($x);
		return $x . '"Manifest-Checksum": "' . Digest::SHA::sha256_hex($x) . "\"}\n";
	});
}

# In one session as backup_admin: run $sql, then read the backend's peak
# resident memory (VmHWM, kB).  Returns (output lines, kB, seconds).
sub run_measured
{
	my ($sql) = @_;
	my $t0 = time;
	my $out = $primary->safe_psql('postgres', qq{
		SET statement_timeout = '120s';
		SET ROLE backup_admin;
		$sql;
		RESET ROLE;
		SELECT 'VmHWM ' || (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\\s+(\\d+)'))[1];
	});
	my $secs = time - $t0;
	my @lines = split /\n/, $out;
	my ($hwm) = map { /^VmHWM (\d+)$/ ? $1 : () } @lines;
	return ([ grep { !/^VmHWM / } @lines ], $hwm, $secs);
}

sub sqlstate_and_message
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $primary->psql('postgres',
		"\\set VERBOSITY verbose\nSET ROLE backup_admin;\n$sql");
	my ($code, $msg) = $err =~ /ERROR:\s+([0-9A-Z]{5}):\s+(.*)/ ? ($1, $2) : ('', $err);
	return ($code, $msg);
}

###############################################################################
# Baseline: the clean backup, its peak memory.
###############################################################################
my ($rows, $hwm_base, $secs_base) = run_measured("SELECT file || '|' || problem FROM dr_verify_backup('$base')");
is_deeply($rows, [], 'the clean backup verifies with no problems');
ok($hwm_base > 0, "baseline backend peak memory read: $hwm_base kB");

###############################################################################
# Item 7: a WAL range ending at FFFFF/0.
###############################################################################
my $huge = copy_backup("$root/huge_wal_range");
rewrite_manifest($huge, sub {
	my $x = shift;
	$x =~ s/("End-LSN": ")[0-9A-F]+\/[0-9A-F]+"/${1}FFFFF\/0"/ or die "no End-LSN";
	$x;
});
my ($hrows, $hwm_huge, $secs_huge) = run_measured(
	"SELECT file || '|' || problem FROM dr_verify_backup('$huge')");
diag(sprintf('FFFFF/0 range: %.2f s, peak %d kB (baseline %d kB, %.2f s)',
	$secs_huge, $hwm_huge, $hwm_base, $secs_base));
cmp_ok($secs_huge, '<', 20, 'a WAL range ending at FFFFF/0 is answered within 20 s');
cmp_ok($hwm_huge - $hwm_base, '<', 32 * 1024,
	'and the backend peak memory stays within 32 MB of a clean verification');
is(scalar(@$hrows), 101, '100 problems listed and one row summing up the rest');
like($hrows->[0], qr/^[0-9A-F]{24}\|WAL segment [0-9A-F]{24} missing/, 'the listed ones name missing segments');
my ($more) = $hrows->[-1] =~ /^\(not listed\)\|(\d+) more problems not listed$/;
ok(defined $more && $more > 268_000_000, 'the last row counts the rest: ' . ($more // $hrows->[-1]));
is($primary->safe_psql('postgres', qq{
	SELECT problems = 2147483647 OR problems > 268000000,
	       (details->>'wal_segments_missing')::bigint > 268000000,
	       (details->>'problems')::bigint = (details->>'wal_segments_missing')::bigint,
	       jsonb_array_length(details->'first_problems')
	  FROM dr_backups WHERE path = '$huge'}),
	't|t|t|100', 'the catalog records the true count, and the first 100 problems');

# WAL ranges the backup contradicts: not checked, one problem.
my ($label_start) = $primary->safe_psql('postgres',
	"SELECT start_lsn FROM dr_backups WHERE path = '$base'");
my $moved = copy_backup("$root/wal_range_moved");
rewrite_manifest($moved, sub {
	my $x = shift;
	$x =~ s/("Start-LSN": ")[0-9A-F]+\/[0-9A-F]+"/${1}0\/1000000"/ or die "no Start-LSN";
	$x;
});
my @mrows = split /\n/, $primary->safe_psql('postgres',
	"SET ROLE backup_admin; SELECT file || '|' || problem FROM dr_verify_backup('$moved')");
is_deeply(\@mrows,
	[ "backup_manifest|WAL-Ranges start at 0/1000000 on timeline 1, backup_label says $label_start on timeline 1; WAL not checked" ],
	'a WAL range starting elsewhere than backup_label says: refused, not checked');
is($primary->safe_psql('postgres', "SELECT details->>'wal_checked', details->>'wal_segments_needed' FROM dr_backups WHERE path = '$moved'"),
	'false|0', 'recorded as not checked');

my $early = copy_backup("$root/wal_range_early_end");
rewrite_manifest($early, sub {
	my $x = shift;
	$x =~ s/("End-LSN": ")[0-9A-F]+\/[0-9A-F]+"/${1}$label_start"/ or die "no End-LSN";
	$x;
});
@mrows = split /\n/, $primary->safe_psql('postgres',
	"SET ROLE backup_admin; SELECT file || '|' || problem FROM dr_verify_backup('$early')");
is(scalar(@mrows), 1, 'a WAL range ending before the backup\'s checkpoint: one problem');
like($mrows[0], qr/^backup_manifest\|WAL-Ranges end at \Q$label_start\E, before the checkpoint at [0-9A-F]+\/[0-9A-F]+ the backup's pg_control records; WAL not checked$/,
	'saying so');

###############################################################################
# Item 7: a 2 GB manifest is refused before it is read.
###############################################################################
my $bigm = copy_backup("$root/big_manifest");
truncate("$bigm/backup_manifest", 2 * 1024 * 1024 * 1024) or die "truncate: $!";
my ($brows, $hwm_big, $secs_big) = run_measured(
	"SELECT file || '|' || problem FROM dr_verify_backup('$bigm')");
diag(sprintf('2 GB manifest: %.2f s, peak %d kB', $secs_big, $hwm_big));
is_deeply($brows,
	[ 'backup_manifest|the manifest is 2147483648 bytes, more than tensafe_dr.max_manifest_size (268435456 bytes); not read' ],
	'a 2 GB manifest is refused with one problem');
cmp_ok($secs_big, '<', 5, 'quickly (not read)');
cmp_ok($hwm_big - $hwm_base, '<', 16 * 1024, 'the backend peak memory stays flat');
my ($set_code) = sqlstate_and_message("SET tensafe_dr.max_manifest_size = '4GB'");
is($set_code, '42501', 'a dr_admin cannot raise tensafe_dr.max_manifest_size');
# The limit is the superuser's: a valid 1.5 MB manifest (padded with JSON
# whitespace, checksum recomputed) passes by default and is refused under 1 MB.
my $padded = copy_backup("$root/padded_manifest");
rewrite_manifest($padded, sub { my $x = shift; $x =~ s/\n"WAL-Ranges"/("\n" x 1_500_000) . '"WAL-Ranges"'/e or die; $x });
is($primary->safe_psql('postgres', "SET ROLE backup_admin; SELECT count(*) FROM dr_verify_backup('$padded')"),
	'0', 'a valid 1.5 MB manifest verifies under the default limit');
is($primary->safe_psql('postgres', qq{
	SET tensafe_dr.max_manifest_size = '1MB';
	SET ROLE backup_admin;
	SELECT file || '|' || problem FROM dr_verify_backup('$padded')}),
	'backup_manifest|the manifest is ' . (-s "$padded/backup_manifest") . ' bytes, more than tensafe_dr.max_manifest_size (1048576 bytes); not read',
	'and is refused, unread, under a 1 MB limit a superuser set');

###############################################################################
# Many problems: capped at 100, the rest counted.
###############################################################################
my $many = copy_backup("$root/many_problems");
for my $i (1 .. 300)
{
	open my $fh, '>', sprintf("%s/global/extra_%03d", $many, $i) or die;
	print $fh 'x';
	close $fh;
}
my @prows = split /\n/, $primary->safe_psql('postgres',
	"SET ROLE backup_admin; SELECT file || '|' || problem FROM dr_verify_backup('$many')");
is(scalar(@prows), 101, '300 extra files: 101 rows');
is(scalar(grep { /^global\/extra_\d{3}\|not in manifest$/ } @prows), 100, '100 of them listed');
is($prows[-1], '(not listed)|200 more problems not listed', 'and the last row counts the other 200');
is($primary->safe_psql('postgres', "SELECT problems, details->>'problems', details->>'problems_listed', verification_ok FROM dr_backups WHERE path = '$many'"),
	'300|300|100|f', 'dr_backups has the true count');

###############################################################################
# Item 8: a symbolic link swapped in and out while dr_file_sha256() runs.
###############################################################################
my $secret = "$outside/secret";
open my $sfh, '>', $secret or die;
print $sfh "outside the root\n";
close $sfh;
my $secret_hash = Digest::SHA->new(256)->addfile($secret)->hexdigest;
my $inside_text = "inside the root\n";
my $inside_hash = Digest::SHA::sha256_hex($inside_text);
make_path("$root/race");
my $target = "$root/race/f";
open my $ifh, '>', $target or die;
print $ifh $inside_text;
close $ifh;

my $swapper = fork();
die "fork: $!" unless defined $swapper;
if ($swapper == 0)
{
	# swap "f" between a symbolic link to the outside file and a regular file
	my $stop = time + 60;
	my $n = 0;
	while (time < $stop)
	{
		symlink($secret, "$root/race/l.tmp") or exit 1;
		rename("$root/race/l.tmp", $target) or exit 1;
		open my $fh, '>', "$root/race/r.tmp" or exit 1;
		print $fh $inside_text;
		close $fh;
		rename("$root/race/r.tmp", $target) or exit 1;
		$n++;
	}
	exit 0;
}
my $tries = 20000;
my $race = $primary->safe_psql('postgres', qq{
	SET ROLE backup_admin;
	SELECT coalesce(sum((h = '$secret_hash')::int), 0) || '|' ||
	       coalesce(sum((h = '$inside_hash')::int), 0) || '|' ||
	       coalesce(sum((h LIKE 'error 42501 %')::int), 0) || '|' ||
	       count(*)
	  FROM (SELECT try_sha('$target') AS h FROM generate_series(1, $tries)) s});
kill 'KILL', $swapper;
waitpid($swapper, 0);
my ($got_secret, $got_inside, $got_refused, $total) = split /\|/, $race;
diag("symlink race: $total tries, $got_inside inside hashes, $got_refused refusals, $got_secret outside hashes");
is($total, $tries, "$tries calls made");
is($got_secret, 0, 'the hash of the file outside the root is never returned');
ok($got_inside > 0 && $got_refused > 0,
	'both states were hit (the race was exercised): inside hash and 42501');
is($got_inside + $got_refused, $tries, 'every call either hashed the inside file or was refused as outside');
my ($fds) = $primary->safe_psql('postgres', qq{
	SET ROLE backup_admin;
	SELECT count(*) FROM (SELECT try_sha('$root/race') FROM generate_series(1, 2000) g) s;
	RESET ROLE;
	SELECT count(*) FROM pg_ls_dir('/proc/self/fd')}) =~ /(\d+)\s*\z/;
cmp_ok($fds, '<', 100, "no descriptor leaks across 2000 errors raised with the file open and caught ($fds open)");

###############################################################################
# Item 8: a backup's pg_wal that is a symbolic link.
###############################################################################
my $walout = copy_backup("$root/pg_wal_outside");
system('mv', "$walout/pg_wal", "$outside/wal_of_backup") == 0 or die;
symlink("$outside/wal_of_backup", "$walout/pg_wal") or die;
my @wrows = split /\n/, $primary->safe_psql('postgres',
	"SET ROLE backup_admin; SELECT file || '|' || problem FROM dr_verify_backup('$walout')");
ok((grep { $_ eq 'pg_wal|symbolic link points outside tensafe_dr.backup_root (not followed)' } @wrows),
	'a pg_wal symbolic link out of the root is reported');
ok((grep { /^[0-9A-F]{24}\|WAL segment .* missing/ } @wrows),
	'and its segments count as missing (not read through the link)');

my $walin = copy_backup("$root/pg_wal_inside");
system('mv', "$walin/pg_wal", "$root/wal_of_backup") == 0 or die;
symlink("$root/wal_of_backup", "$walin/pg_wal") or die;
is($primary->safe_psql('postgres',
	"SET ROLE backup_admin; SELECT count(*) FROM dr_verify_backup('$walin')"), '0',
	'a pg_wal symbolic link to a directory under the root (pg_basebackup --waldir) is followed');

# A tablespace mapped under the root: its pg_tblspc link is followed through
# the same walk, and its files are checksummed there.
my $ts_dir = "$outside/ts_primary";
mkdir $ts_dir or die;
$primary->safe_psql('postgres', qq{
	CREATE TABLESPACE ts LOCATION '$ts_dir';
	CREATE TABLE in_ts TABLESPACE ts AS SELECT g FROM generate_series(1, 1000) g;
	CHECKPOINT});
my $relpath = $primary->safe_psql('postgres', "SELECT pg_relation_filepath('in_ts')");
command_ok([ "$pg_bin/pg_basebackup", '-D', "$root/with_ts", '-h', $primary->host,
	'-p', $primary->port, '-Fp', '-X', 'stream', '-c', 'fast', '-T', "$ts_dir=$root/with_ts_space" ],
	'pg_basebackup of a cluster with a tablespace, mapped under the root');
is($primary->safe_psql('postgres',
	"SET ROLE backup_admin; SELECT count(*) FROM dr_verify_backup('$root/with_ts')"), '0',
	'it verifies: the pg_tblspc link to a directory under the root is followed');
(my $in_space = $relpath) =~ s{^pg_tblspc/\d+/}{} or die "unexpected relation path $relpath";
edit_file("$root/with_ts_space/$in_space", sub { my $x = shift; substr($x, 100, 1) = chr(ord(substr($x, 100, 1)) ^ 0xff); $x });
is($primary->safe_psql('postgres',
	"SET ROLE backup_admin; SELECT file || '|' || problem FROM dr_verify_backup('$root/with_ts')"),
	"$relpath|checksum mismatch", 'a byte flipped in the tablespace is found through the link');

###############################################################################
# Item 8: one answer for everything outside.
###############################################################################
symlink('/etc', "$root/etc_link") or die;
symlink('/etc/no_such_file_dr', "$root/dangling") or die;
symlink('/etc/passwd', "$root/passwd_link") or die;
my %outside_calls = (
	'an existing file through a link to /etc' => "$root/etc_link/passwd",
	'a missing file through a link to /etc'   => "$root/etc_link/no_such_file_dr",
	'a missing directory through a link'      => "$root/etc_link/no_such_dir/x",
	'a link to an existing file'              => "$root/passwd_link",
	'a dangling link'                         => "$root/dangling",
	'an existing file outside'                => '/etc/passwd',
	'a missing file outside'                  => '/etc/no_such_file_dr',
	'a ".." escape'                           => "$root/../etc/passwd",
);
for my $what (sort keys %outside_calls)
{
	my $p = $outside_calls{$what};
	for my $fn ('dr_file_sha256', 'dr_verify_artifact', 'dr_verify_backup')
	{
		my $sql = $fn eq 'dr_file_sha256' ? "SELECT dr_file_sha256('$p')" : "SELECT * FROM $fn('$p')";
		my ($code, $msg) = sqlstate_and_message($sql);
		is("$code $msg", "42501 path \"$p\" is outside tensafe_dr.backup_root",
			"$fn: $what: the one outside error");
	}
}
my ($code_in, $msg_in) = sqlstate_and_message("SELECT dr_file_sha256('$root/no_such_file_dr')");
is("$code_in $msg_in", "58P01 could not open \"$root/no_such_file_dr\": No such file or directory",
	'a missing file inside the root, on a path without links: 58P01');

mkfifo("$root/fifo", 0600) or die "mkfifo: $!";
my $t0 = time;
my ($code_fifo, $msg_fifo) = sqlstate_and_message("SELECT dr_file_sha256('$root/fifo')");
is("$code_fifo $msg_fifo", "22023 \"$root/fifo\" is not a regular file", 'a FIFO is refused');
cmp_ok(time - $t0, '<', 10, 'without blocking on it');

$primary->stop;
done_testing();
