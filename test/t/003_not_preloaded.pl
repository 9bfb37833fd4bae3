# Without shared_preload_libraries the library refuses to load, with a clear
# error and SQLSTATE 55000, both for CREATE EXTENSION and for dr_status() on
# a server whose configuration lost the library.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('plain');
$node->init;
$node->start;

my ($ret, $out, $err) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nCREATE EXTENSION tensafe_dr;");
isnt($ret, 0, 'CREATE EXTENSION fails without preload');
like($err, qr/ERROR:  55000: tensafe_dr must be loaded via shared_preload_libraries/,
	'error names the cause, with SQLSTATE 55000');
like($err, qr/HINT:  Add tensafe_dr to shared_preload_libraries/, 'hint says what to do');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_extension WHERE extname = 'tensafe_dr'"), 0,
	'nothing half-created');

# With the library: create the extension, then lose the preload.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'tensafe_dr'\n");
$node->restart;
$node->safe_psql('postgres', 'CREATE EXTENSION tensafe_dr');
is($node->safe_psql('postgres', 'SELECT role FROM dr_status()'), 'primary',
	'works when preloaded');

$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->restart;
($ret, $out, $err) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT * FROM dr_status();");
isnt($ret, 0, 'dr_status() fails once the library is no longer preloaded');
like($err, qr/ERROR:  55000: tensafe_dr must be loaded via shared_preload_libraries/,
	'same clear error from dr_status()');
($ret, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM dr_replicas;");
isnt($ret, 0, 'dr_replicas fails too');
like($err, qr/must be loaded via shared_preload_libraries/, 'with the same message');

# Server start with an inconsistent pair in the file: a WARNING, and the
# server still starts (a typo in an objective must not keep the DB down).
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'tensafe_dr'\ntensafe_dr.rpo_target = '20min'\n");
$node->restart;
ok($node->log_contains('tensafe_dr objectives are inconsistent'),
	'inconsistent objectives at start are reported');
is($node->safe_psql('postgres', 'SELECT extract(epoch FROM rpo_target)::int FROM dr_status()'),
	'900', 'judged against the smaller value, rpo_max');

$node->stop;
done_testing();
