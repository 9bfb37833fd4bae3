# A fence belongs to the node that was fenced (issue 13, part 6).
#
# Before 1.2 the fence file (pg_tensafe_dr/fenced) travelled with every copy
# of the data directory: a clone taken with pg_basebackup while the primary
# was fenced came up fenced after its own promotion, though nobody fenced it,
# and pg_rewind copied it too.  The file now holds the data directory's
# identity and fences only the directory that wrote it.  Checked:
#   - the fenced primary stays fenced across a restart (its own file);
#   - a pg_basebackup clone of it, promoted, is not fenced and takes writes,
#     and says why in its log;
#   - a standby that diverged (promoted on its own) and is then rewound with
#     pg_rewind from the fenced node gets the fenced node's file and is not
#     fenced either; after a restart as a standby and a promotion it writes;
#   - a 1.1-format (empty) fence file still fences.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DrTest;

my $bindir = '/usr/lib/postgresql/15/bin';
my $primary = new_primary('fc_primary', "wal_log_hints = on\nwal_keep_size = '256MB'\n");  # the rewound node replays from before the fork
$primary->safe_psql('postgres', 'CREATE TABLE t (id int)');
my $standby = new_standby($primary, 'fc_standby');

sub fenced { return $_[0]->safe_psql('postgres', 'SELECT fenced FROM dr_status()') }
sub writes
{
	my ($node) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', 'INSERT INTO t VALUES (1)');
	return $ret == 0 ? 'ok' : ($err =~ /read-only/ ? 'read-only' : $err);
}

###############################################################################
# The fenced node keeps its fence across a restart.
###############################################################################
$primary->safe_psql('postgres', q{SELECT dr_fence('failback test')});
is(fenced($primary), 't', 'primary fenced');
is(writes($primary), 'read-only', 'a write on the fenced primary is refused');
$primary->restart;
is(fenced($primary), 't', 'still fenced after a restart: the file is its own');
like(slurp_file($primary->data_dir . '/pg_tensafe_dr/fenced'), qr/^host=.*\ndata_directory_inode=\d+\n\z/,
	'the fence file names the data directory that wrote it');

###############################################################################
# pg_basebackup of the fenced primary: the clone is not fenced.
###############################################################################
$primary->backup('fenced_bk');
ok(-f $primary->backup_dir . '/fenced_bk/pg_tensafe_dr/fenced', 'the backup carries the fence file');
my $clone = PostgreSQL::Test::Cluster->new('fc_clone');
$clone->init_from_backup($primary, 'fenced_bk', has_streaming => 1);
$clone->start;
is(fenced($clone), 'f', 'the clone (a standby) is not fenced');
$clone->promote;
ok(defined wait_until($clone, 'SELECT NOT pg_is_in_recovery()', 't', 30), 'clone promoted');
is(fenced($clone), 'f', 'the promoted clone is not fenced');
is(writes($clone), 'ok', 'the promoted clone takes writes');
like(slurp_file($clone->logfile), qr/ignoring fence file "pg_tensafe_dr\/fenced" copied from another data directory/,
	"the clone's log says why the copied fence is ignored");
$clone->stop;

###############################################################################
# pg_rewind from the fenced node: the rewound node is not fenced.
###############################################################################
$standby->promote;    # diverges: its own timeline
ok(defined wait_until($standby, 'SELECT NOT pg_is_in_recovery()', 't', 30), 'standby promoted on its own');
$standby->safe_psql('postgres', 'CREATE TABLE diverged (id int)');
$standby->stop;
# pg_rewind copies the configuration files too: keep the standby's own (its
# port), as PostgreSQL's own pg_rewind tests do.
my $conf = slurp_file($standby->data_dir . '/postgresql.conf');
command_ok([ "$bindir/pg_rewind", '--target-pgdata', $standby->data_dir,
		'--source-server', $primary->connstr('postgres') ],
	'pg_rewind of the diverged standby from the fenced primary');
ok(-f $standby->data_dir . '/pg_tensafe_dr/fenced', 'pg_rewind copied the fence file');
open my $cf, '>', $standby->data_dir . '/postgresql.conf' or die $!;
print $cf $conf;
close $cf;
$standby->enable_streaming($primary);
$standby->start;
is(fenced($standby), 'f', 'the rewound node, a standby again, is not fenced');
$standby->promote;
ok(defined wait_until($standby, 'SELECT NOT pg_is_in_recovery()', 't', 30), 'rewound node promoted');
is(fenced($standby), 'f', 'the promoted rewound node is not fenced');
is(writes($standby), 'ok', 'and takes writes');

###############################################################################
# A 1.1-format fence file (empty) still fences; dr_unfence() lifts it.
###############################################################################
$standby->stop;
open my $fh, '>', $standby->data_dir . '/pg_tensafe_dr/fenced' or die $!;
close $fh;
$standby->start;
is(fenced($standby), 't', 'an empty (1.1) fence file still fences');
$standby->safe_psql('postgres', 'SELECT dr_unfence()');
is(writes($standby), 'ok', 'dr_unfence() lifts it');

$primary->safe_psql('postgres', 'SELECT dr_unfence()');
is(writes($primary), 'ok', 'the primary, unfenced, writes again');
done_testing();
