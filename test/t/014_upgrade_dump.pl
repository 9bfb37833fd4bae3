# Upgrades and dumps of the extension's own data (issue 7).
#
# 1. From every released version (an installed version other than
#    default_version with an update path to it): a database with real data
#    in every table is updated with ALTER EXTENSION ... UPDATE; the data
#    survive (hash per table, over the columns the old version had), and the
#    updated extension equals a fresh install of the default version: member
#    objects, function definitions, SECURITY DEFINER and SET clauses, views,
#    columns, constraints, indexes, triggers, sequences, types, comments,
#    ACLs, initial privileges, pg_extension_config_dump registrations, and
#    pg_dump --binary-upgrade --schema-only (which writes every member).  A
#    dump of the old version restores into the current one.
# 2. Standby: ALTER EXTENSION UPDATE is refused there (25006); the standby
#    follows the primary's update by WAL; both workers keep running (same
#    PIDs) and keep working (new samples after the update, no worker error).
# 3. pg_dump -Fc / pg_restore of the worker's database into a fresh server
#    with the library preloaded: pg_restore reports no error; every table
#    registered with pg_extension_config_dump (configuration and history)
#    is equal row by row to the source in pg_dump's own snapshot; secrets
#    survive; sequences continue; the restore queues no notification; the
#    restored database works (dr_status, dr_record_event, the worker samples
#    into it).  pg_dump as a dr_monitor login fails on the secrets and
#    succeeds without them.
use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use Digest::SHA;
use File::Temp qw(tempfile);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use DrTest;

my $pg_bin = '/usr/lib/postgresql/15/bin';
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $dead_port = PostgreSQL::Test::Cluster::get_free_port();    # nobody listens

# Tables whose rows pg_dump may leave out, with the reason.  Every other
# table of the extension must be registered with pg_extension_config_dump.
my %not_dumped = ();

my $conf = <<"CONF";
tensafe_dr.history_interval = '1s'
tensafe_dr.webhook_max_attempts = 1
tensafe_dr.webhook_connect_timeout = '1s'
wal_level = replica
CONF

my $primary = new_primary('upg_primary', $conf);
my $restore = new_primary('upg_restore', $conf);

my $default = $primary->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'tensafe_dr'");
my @released = split /\n/, $primary->safe_psql('postgres', qq{
	SELECT v.version
	  FROM pg_available_extension_versions v
	  JOIN pg_extension_update_paths('tensafe_dr') p ON p.source = v.version
	 WHERE v.name = 'tensafe_dr' AND p.target = '$default' AND p.path IS NOT NULL
	   AND v.version <> '$default'
	 ORDER BY string_to_array(v.version, '.')::int[]});
note "default version $default; released versions with an update path: @released";
ok((grep { $_ eq '1.0' } @released), 'released version 1.0 has an update path to the default version');

# A real backup to verify and register in every database.
$primary->backup('bk');
my $bk = $primary->backup_dir . '/bk';
$primary->append_conf('postgresql.conf', "tensafe_dr.backup_root = '" . $primary->backup_dir . "'\n");
$primary->reload;
my $manifest_sha = Digest::SHA->new(256)->addfile("$bk/backup_manifest")->hexdigest;

########################################################################
# Helpers
########################################################################

sub sqlstate
{
	my ($node, $db, $sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, "\\set VERBOSITY verbose\n$sql");
	return $err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : '';
}

# Prints a unified diff of two texts; true when they are equal.
sub same_text
{
	my ($name, $got, $want, $got_label, $want_label) = @_;
	return ok(1, $name) if $got eq $want;
	my ($fa, $a) = tempfile(DIR => $tmp);
	my ($fb, $b) = tempfile(DIR => $tmp);
	print $fa $want;
	print $fb $got;
	close $fa;
	close $fb;
	my $diff = `diff -u --label '$want_label' --label '$got_label' '$a' '$b' | head -300`;
	ok(0, $name);
	diag($diff);
	return 0;
}

# Every table of the extension: name -> [columns in order]
sub ext_tables
{
	my ($node, $db) = @_;
	my %t;
	for my $line (split /\n/, $node->safe_psql($db, q{
		SELECT c.relname, string_agg(quote_ident(a.attname), ',' ORDER BY a.attnum)
		  FROM pg_depend d
		  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'tensafe_dr'
		  JOIN pg_class c ON c.oid = d.objid AND c.relkind = 'r'
		  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
		   AND d.deptype = 'e'
		 GROUP BY c.relname ORDER BY 1}))
	{
		my ($rel, $cols) = split /\|/, $line;
		$t{$rel} = [ split /,/, $cols ];
	}
	return \%t;
}

# Tables and sequences registered for pg_dump: name -> WHERE condition
sub dumped_config
{
	my ($node, $db) = @_;
	my %c;
	for my $line (split /\n/, $node->safe_psql($db, q{
		SELECT c.relname, x.cond
		  FROM pg_extension e,
		       unnest(e.extconfig, e.extcondition) AS x(rel, cond)
		  JOIN pg_class c ON c.oid = x.rel
		 WHERE e.extname = 'tensafe_dr' ORDER BY 1}))
	{
		my ($rel, $cond) = split /\|/, $line, 2;
		$c{$rel} = $cond // '';
	}
	return \%c;
}

sub rows_sql
{
	my ($table, $cols, $filter) = @_;
	my $list = join(', ', @$cols);
	return "SELECT count(*) || E' rows\\n' || coalesce(string_agg(r, E'\\n' ORDER BY r), '') "
	  . "FROM (SELECT ROW($list)::text AS r FROM $table " . ($filter // '') . ") x";
}

# table -> "N rows\n<sorted rows>" for the given tables/columns/filters
sub table_rows
{
	my ($node, $db, $tables, $filters) = @_;
	my %r;
	for my $t (sort keys %$tables)
	{
		$r{$t} = $node->safe_psql($db, rows_sql($t, $tables->{$t}, $filters ? $filters->{$t} : ''));
	}
	return \%r;
}

sub compare_rows
{
	my ($what, $got, $want, $got_label, $want_label) = @_;
	for my $t (sort keys %$want)
	{
		my ($n) = $want->{$t} =~ /^(\d+) rows/;
		if (md5_hex($got->{$t} // '') eq md5_hex($want->{$t}))
		{
			pass("$what: $t equal ($n rows, same hash)");
		}
		else
		{
			same_text("$what: $t equal", ($got->{$t} // '(missing)') . "\n", "$want->{$t}\n",
				$got_label // 'after', $want_label // 'before');
		}
	}
}

# Real data through the API of the oldest version, plus direct inserts where
# the API needs infrastructure this database lacks (a standby for lag samples).
sub populate
{
	my ($node, $db, $tag, $url) = @_;
	$node->safe_psql($db, qq{
		SELECT dr_webhook_add('ops', '$url', 'secret-ops-$tag-0123456789');
		SELECT dr_webhook_add('audit', 'https://user:pw\@example.invalid/a', 'secret-audit-$tag-0123456789',
		                      ARRAY['DR_INITIATED', 'DR_COMPLETE']);
		SELECT dr_webhook_disable('audit');
		UPDATE dr_escalation_policy SET channel = 'ops', response_time = '10 min' WHERE level = 1;
		UPDATE dr_escalation_policy SET channel = 'audit' WHERE level = 2;
		UPDATE dr_drill_kinds SET frequency = '14 days' WHERE kind = 'tabletop';
		INSERT INTO dr_drill_kinds VALUES ('restore_test', '7 days', '1 hour', 'None', false);
		UPDATE dr_notification_templates SET subject = '[INCIDENT] $tag' WHERE event_type = 'DR_INITIATED';
		INSERT INTO dr_notification_templates VALUES ('BACKUP_CHECK', 'backup on {{node}}', 'details: {{details}}');
		SELECT dr_record_event('TEST_$tag', '{"n": 1, "tag": "$tag"}', 2);
	});
	my $inc = $node->safe_psql($db, "SELECT dr_declare(2, 'incident $tag')");
	$node->safe_psql($db, qq{
		SELECT dr_acknowledge($inc, 'tester');
		SELECT * FROM dr_resolve($inc, 'resolved ($tag)');
		SELECT dr_declare(3, 'open incident $tag');
	});
	my $drill = $node->safe_psql($db, "SELECT dr_drill_start('restore_test', 'drill $tag (a kind added by the user: restored before its drills)')");
	$node->safe_psql($db, qq{
		SELECT count(*) FROM dr_drill_finish($drill, true, 0, false, 'drill ok');
		SELECT dr_create_restore_point('rp_$tag');
		SELECT dr_positions_sample('1 day');
		INSERT INTO dr_lag_samples VALUES
		    (now() - interval '1 min', 'n1', 'standby1', '10.0.0.2', '1 s', '2 s', 1234, 'ok');
		SELECT count(*) FROM dr_verify_backup('$bk');
		SELECT dr_register_artifact('$bk/backup_manifest', '$manifest_sha', '{"kind": "manifest"}');
	});
}

# Every table of the extension holds rows after populate (so the checks
# below check something).
sub all_tables_have_rows
{
	my ($what, $rows) = @_;
	my @empty = grep { $rows->{$_} =~ /^0 rows/ } sort keys %$rows;
	is("@empty", '', "$what: every table of the extension has rows");
}

# The extension as the catalogs describe it, one fact per line.
my $fingerprint_sql = <<'SQL';
WITH ext AS (SELECT oid, extconfig, extcondition FROM pg_extension WHERE extname = 'tensafe_dr'),
m AS (SELECT d.classid, d.objid, d.objsubid
        FROM pg_depend d, ext
       WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
rels AS (SELECT c.* FROM pg_class c JOIN m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
         UNION
         SELECT c.* FROM pg_type t JOIN m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
           JOIN pg_class c ON c.oid = t.typrelid),
facts(k, line) AS (
    SELECT '1 member', 'member ' || pg_describe_object(classid, objid, objsubid) FROM m
  UNION ALL
    SELECT '2 config', 'dumped ' || x.rel::regclass::text || ' ' || coalesce(x.cond, '')
      FROM ext, unnest(ext.extconfig, ext.extcondition) AS x(rel, cond)
  UNION ALL
    SELECT '3 function ' || p.oid::regprocedure::text,
           format('function %s kind=%s secdef=%s leakproof=%s strict=%s volatile=%s parallel=%s config=%s owner=%s acl=%s',
                  p.oid::regprocedure, p.prokind, p.prosecdef, p.proleakproof, p.proisstrict,
                  p.provolatile, p.proparallel, coalesce(array_to_string(p.proconfig, ';'), '-'),
                  p.proowner::regrole, pg_temp.acl_text(p.proacl))
           || CASE WHEN p.prokind <> 'a' THEN E'\n' || pg_get_functiondef(p.oid) ELSE '' END
      FROM pg_proc p JOIN m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
  UNION ALL
    SELECT '4 relation ' || c.relname,
           format('relation %s kind=%s persistence=%s owner=%s acl=%s options=%s rls=%s',
                  c.relname, c.relkind, c.relpersistence, c.relowner::regrole, pg_temp.acl_text(c.relacl),
                  coalesce(array_to_string(c.reloptions, ','), '-'), c.relrowsecurity)
      FROM rels c
  UNION ALL
    SELECT '4 relation ' || c.relname || ' column ' || lpad(a.attnum::text, 4, '0'),
           format('column %s.%s %s notnull=%s default=%s identity=%s generated=%s collation=%s acl=%s',
                  c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-'), a.attidentity, a.attgenerated,
                  a.attcollation, pg_temp.acl_text(a.attacl))
      FROM rels c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
  UNION ALL
    SELECT '4 relation ' || c.relname || ' constraint ' || co.conname,
           format('constraint %s.%s %s', c.relname, co.conname, pg_get_constraintdef(co.oid))
      FROM rels c JOIN pg_constraint co ON co.conrelid = c.oid
  UNION ALL
    SELECT '4 relation ' || c.relname || ' index ' || i.indexrelid::regclass::text,
           'index ' || pg_get_indexdef(i.indexrelid)
      FROM rels c JOIN pg_index i ON i.indrelid = c.oid
  UNION ALL
    SELECT '4 relation ' || c.relname || ' trigger ' || t.tgname,
           format('trigger %s enabled=%s', pg_get_triggerdef(t.oid), t.tgenabled)
      FROM rels c JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal
  UNION ALL
    SELECT '4 relation ' || c.relname || ' view', 'view ' || c.relname || E'\n' || pg_get_viewdef(c.oid)
      FROM rels c WHERE c.relkind IN ('v', 'm')
  UNION ALL
    SELECT '4 relation ' || c.relname || ' rule ' || r.rulename, 'rule ' || pg_get_ruledef(r.oid)
      FROM rels c JOIN pg_rewrite r ON r.ev_class = c.oid AND r.rulename <> '_RETURN'
  UNION ALL
    SELECT '4 relation ' || c.relname || ' policy ' || p.polname,
           format('policy %s.%s cmd=%s roles=%s using=%s check=%s', c.relname, p.polname, p.polcmd,
                  p.polroles::regrole[], pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
      FROM rels c JOIN pg_policy p ON p.polrelid = c.oid
  UNION ALL
    SELECT '4 relation ' || c.relname || ' sequence',
           format('sequence %s type=%s start=%s inc=%s min=%s max=%s cache=%s cycle=%s', c.relname,
                  s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
      FROM rels c JOIN pg_sequence s ON s.seqrelid = c.oid
  UNION ALL
    SELECT '5 type ' || t.oid::regtype::text,
           format('type %s type=%s owner=%s acl=%s base=%s notnull=%s default=%s enum=%s checks=%s',
                  t.oid::regtype, t.typtype, t.typowner::regrole, pg_temp.acl_text(t.typacl),
                  nullif(t.typbasetype, 0)::regtype, t.typnotnull, t.typdefault,
                  (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),
                  (SELECT string_agg(pg_get_constraintdef(co.oid), ',' ORDER BY co.conname)
                     FROM pg_constraint co WHERE co.contypid = t.oid))
      FROM pg_type t JOIN m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
  UNION ALL
    SELECT '6 comment ' || pg_describe_object(d.classoid, d.objoid, d.objsubid),
           'comment ' || pg_describe_object(d.classoid, d.objoid, d.objsubid) || ': ' || d.description
      FROM m JOIN pg_description d ON d.classoid = m.classid AND d.objoid = m.objid
  UNION ALL
    SELECT '7 initpriv ' || pg_describe_object(i.classoid, i.objoid, i.objsubid),
           format('initpriv %s %s %s', pg_describe_object(i.classoid, i.objoid, i.objsubid),
                  i.privtype, pg_temp.acl_text(i.initprivs))
      FROM pg_init_privs i JOIN m ON m.classid = i.classoid AND m.objid = i.objoid
)
SELECT line FROM facts ORDER BY k, line
SQL

my $acl_text_sql = <<'SQL';
CREATE FUNCTION pg_temp.acl_text(acl aclitem[]) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN acl IS NULL THEN 'default' ELSE coalesce((
        SELECT string_agg(x, ',' ORDER BY x) FROM (
            SELECT format('%s=%s%s', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
                          a.privilege_type, CASE WHEN a.is_grantable THEN '*' ELSE '' END) AS x
              FROM aclexplode(acl) a) y), 'none') END
$$;
SQL

sub fingerprint
{
	my ($node, $db) = @_;
	return $node->safe_psql($db, "$acl_text_sql\n$fingerprint_sql") . "\n";
}

# pg_dump --binary-upgrade --schema-only writes every member object; OIDs,
# xids, the per-run restrict key and the state of dumped sequences differ
# between two databases.
sub schema_dump
{
	my ($node, $db) = @_;
	my ($stdout, $stderr);
	my $ok = IPC::Run::run([ "$pg_bin/pg_dump", '--binary-upgrade', '--schema-only',
		'-d', $node->connstr($db) ], '>', \$stdout, '2>', \$stderr);
	die "pg_dump --binary-upgrade $db failed: $stderr" unless $ok;
	my @lines = grep {
		!/^\\(un)?restrict / && !/binary_upgrade_set_next_/ && !/^-- Dumped (from|by)/
	} split /\n/, $stdout;
	s/(binary_upgrade_create_empty_extension\(.*?)'\{[0-9,]*\}'/$1'{OIDS}'/ for @lines;
	s/relfrozenxid = '\d+', relminmxid = '\d+'/relfrozenxid = 'X', relminmxid = 'X'/ for @lines;
	s/WHERE oid = '\d+'/WHERE oid = 'OID'/ for @lines;
	# the state of sequences registered with pg_extension_config_dump is data
	s/(pg_catalog\.setval\('[^']+', )\d+, (true|false)\)/$1N, X)/ for @lines;
	return join("\n", @lines) . "\n";
}

sub run_ok
{
	my ($name, @cmd) = @_;
	my ($out, $err);
	my $ok = IPC::Run::run(\@cmd, '>', \$out, '2>', \$err);
	ok($ok, $name) or diag("@cmd\n$err");
	return ($ok, $out, $err);
}

# Log lines of an error or a worker exit.  The windows checked run no
# failing statement of the test's own, so any error is the workers'
# (they log SPI errors as they come, without their own name on the line).
sub worker_errors
{
	my ($log) = @_;
	return grep { /\b(ERROR|FATAL|PANIC):|terminated by signal|exited with exit code/ } split /\n/, $log;
}

sub wait_ok
{
	my ($node, $sql, $expected, $timeout, $name) = @_;
	ok(defined wait_until($node, $sql, $expected, $timeout), $name);
}

########################################################################
# 1. ALTER EXTENSION UPDATE from every released version
########################################################################

$primary->safe_psql('postgres', 'CREATE DATABASE fresh');
$primary->safe_psql('fresh', 'CREATE EXTENSION tensafe_dr');
my $fresh_fp = fingerprint($primary, 'fresh');
my $fresh_dump = schema_dump($primary, 'fresh');
like($fresh_fp, qr/^member function dr_status\(\)/m, 'the fingerprint lists the members');
like($fresh_dump, qr/ALTER EXTENSION tensafe_dr ADD FUNCTION public\.dr_status\(/,
	'pg_dump --binary-upgrade writes the members');

my %old_dumps;
for my $v (@released)
{
	(my $tag = "v$v") =~ s/\W/_/g;
	my $db = "up_$tag";
	$primary->safe_psql('postgres', "CREATE DATABASE $db");
	$primary->safe_psql($db, "CREATE EXTENSION tensafe_dr VERSION '$v'");
	is($primary->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'tensafe_dr'"),
		$v, "$v: created at version $v");
	populate($primary, $db, $tag, 'http://127.0.0.1:' . $dead_port . '/hook');
	my $old_tables = ext_tables($primary, $db);
	my $before = table_rows($primary, $db, $old_tables);
	all_tables_have_rows("$v before the update", $before);
	my $old_config = dumped_config($primary, $db);
	my $max_event = $primary->safe_psql($db, 'SELECT max(id) FROM dr_event_log');
	# the templates there are now: an update (and a restore into the current
	# version) may add the templates of new event types, never change these
	my $templates = $primary->safe_psql($db,
		q{SELECT string_agg(quote_literal(event_type), ',' ORDER BY 1) FROM dr_notification_templates});

	# a dump of the released version, restored into the current one below
	my $file = "$tmp/$db.dump";
	run_ok("$v: pg_dump -Fc", "$pg_bin/pg_dump", '-Fc', '-f', $file, '-d', $primary->connstr($db));
	$old_dumps{$v} = { file => $file, config => $old_config, tables => $old_tables, templates => $templates,
		rows => table_rows($primary, $db,
			{ map { $_ => $old_tables->{$_} } grep { $old_tables->{$_} } keys %$old_config }, $old_config) };

	# the event counters a reader sees (1.1 counted the log; 1.2 keeps
	# counters, seeded by the update): the same before and after
	my $counters_sql = q{SELECT string_agg(metric || coalesce(labels->>'type', labels->>'objective') || '=' || value, ',' ORDER BY 1)
	                       FROM dr_metrics_rows() WHERE metric IN ('tensafe_dr_events_total', 'tensafe_dr_breaches_total')};
	my $has_metrics = $primary->safe_psql($db, "SELECT to_regprocedure('dr_metrics_rows(text)') IS NOT NULL") eq 't';
	my $counters_before = $has_metrics ? $primary->safe_psql($db, $counters_sql) : undef;

	$primary->safe_psql($db, 'ALTER EXTENSION tensafe_dr UPDATE');
	is($primary->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'tensafe_dr'"),
		$default, "$v: ALTER EXTENSION UPDATE reaches $default");
	is($primary->safe_psql($db, q{
		SELECT count(*) FROM (SELECT event_type, count(*) AS n FROM dr_event_log GROUP BY 1) l
		  FULL JOIN dr_event_totals t USING (event_type) WHERE l.n IS DISTINCT FROM t.events}),
		'0', "$v: the update seeds the event counters from the log");
	is($primary->safe_psql($db, $counters_sql), $counters_before,
		"$v: tensafe_dr_events_total and _breaches_total read the same after the update")
		if $has_metrics;

	my $added = $primary->safe_psql($db, "SELECT coalesce(string_agg(event_type, ',' ORDER BY 1), '')
		FROM dr_notification_templates WHERE event_type NOT IN ($templates)");
	is($primary->safe_psql('fresh', "SELECT count(*) FROM unnest(string_to_array('$added', ',')) a
		WHERE a NOT IN (SELECT event_type FROM dr_notification_templates)"), '0',
		"$v: the templates the update added ($added) are those of a fresh $default");
	my $after = table_rows($primary, $db, $old_tables,
		{ dr_notification_templates => "WHERE event_type IN ($templates)" });
	compare_rows("$v update keeps data", $after, $before);

	same_text("$v updated = fresh $default: catalog fingerprint",
		fingerprint($primary, $db), $fresh_fp, "updated from $v", "fresh $default");
	same_text("$v updated = fresh $default: pg_dump --binary-upgrade --schema-only",
		schema_dump($primary, $db), $fresh_dump, "updated from $v", "fresh $default");

	# and it works
	my $id = $primary->safe_psql($db, "SELECT dr_record_event('AFTER_UPDATE', '{}')");
	cmp_ok($id, '>', $max_event, "$v: an event recorded after the update gets a new id");
	is($primary->safe_psql($db, 'SELECT role FROM dr_status()'), 'primary', "$v: dr_status() after the update");
	is($primary->safe_psql($db, "SELECT count(*) FROM dr_drill_schedule WHERE kind = 'restore_test'"),
		'1', "$v: views see the old configuration");
}

# A dump made by a released version restores into the current version.
for my $v (@released)
{
	(my $tag = "v$v") =~ s/\W/_/g;
	my $d = $old_dumps{$v};
	$restore->safe_psql('postgres', "CREATE DATABASE from_$tag");
	run_ok("$v dump: pg_restore into $default without error", "$pg_bin/pg_restore",
		'-d', $restore->connstr("from_$tag"), $d->{file});
	is($restore->safe_psql("from_$tag", "SELECT extversion FROM pg_extension WHERE extname = 'tensafe_dr'"),
		$default, "$v dump: restored as version $default");
	my %cols = map { $_ => $d->{tables}{$_} } grep { $d->{tables}{$_} } keys %{ $d->{config} };
	my %filters = %{ $d->{config} };
	# templates of event types new since $v come with the current version
	$filters{dr_notification_templates} = ($filters{dr_notification_templates}
		? "$filters{dr_notification_templates} AND" : 'WHERE') . " event_type IN ($d->{templates})"
		if exists $filters{dr_notification_templates};
	compare_rows("$v dump restored into $default", table_rows($restore, "from_$tag", \%cols, \%filters),
		$d->{rows}, 'restored', "dumped from $v");
}

########################################################################
# 2. Standby: the update comes by WAL; the workers keep running
########################################################################

my ($oldest) = @released;
$primary->safe_psql('postgres', "DROP EXTENSION tensafe_dr; CREATE EXTENSION tensafe_dr VERSION '$oldest'");
my $old_log_offset = -s $primary->logfile;
my $standby = new_standby($primary, 'upg_standby', $conf);
populate($primary, 'postgres', 'src', 'http://127.0.0.1:' . $dead_port . '/hook');

wait_ok($primary, 'SELECT count(*) >= 2 FROM dr_lag_samples WHERE standby_name IS NOT NULL', 't', 60,
	'the worker records lag history for the standby (version ' . $oldest . ')');
my $p_worker = worker_pid($primary);
my $s_worker = worker_pid($standby);
ok($p_worker > 0 && $s_worker > 0, 'workers run on primary and standby');

is(sqlstate($standby, 'postgres', 'ALTER EXTENSION tensafe_dr UPDATE'), '25006',
	'ALTER EXTENSION UPDATE on the standby: read-only transaction (25006)');

my $log_offset = -s $primary->logfile;
# the new library's worker on the old version's SQL objects, until the update
is(join("\n", worker_errors(slurp_file($primary->logfile, $old_log_offset))), '',
	"upg_primary: no worker error while the library runs with version $oldest objects");
my $s_log_offset = -s $standby->logfile;
my $update_at = $primary->safe_psql('postgres', 'SELECT clock_timestamp()');
$primary->safe_psql('postgres', 'ALTER EXTENSION tensafe_dr UPDATE');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is($standby->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'tensafe_dr'"),
	$default, "the standby follows the primary to $default");

wait_ok($primary, "SELECT count(*) > 0 FROM dr_lag_samples WHERE sampled_at > '$update_at' AND standby_name IS NOT NULL",
	't', 60, 'the primary worker samples lag after the update');
wait_ok($primary, "SELECT count(*) > 0 FROM dr_wal_positions WHERE sampled_at > '$update_at'",
	't', 60, 'the primary worker samples WAL positions after the update');
is(worker_pid($primary), $p_worker, 'the primary worker kept running across the update');
is(worker_pid($standby), $s_worker, 'the standby worker kept running across the update');
my $st = status_of($standby);
is($st->{role}, 'standby', 'dr_status() on the standby after the update');
is($st->{receiver_status}, 'streaming', 'the standby streams after the update');
is($standby->safe_psql('postgres', "SELECT dr_record_event('STANDBY_AFTER_UPDATE') IS NULL"), 't',
	'dr_record_event journals on the standby after the update');
for ([ $primary, $log_offset ], [ $standby, $s_log_offset ])
{
	my ($node, $off) = @$_;
	is(join("\n", worker_errors(slurp_file($node->logfile, $off))), '',
		$node->name . ': no worker error in the log since the update');
}

########################################################################
# 3. pg_dump / pg_restore of the worker's database
########################################################################

# history under the default version too; deliveries to a dead port fail
# after one attempt, so the outbox history has rows pg_dump keeps
populate_more();
sub populate_more
{
	$primary->safe_psql('postgres', q{
		SELECT dr_record_event('AFTER_UPDATE', '{"x": [1, 2]}', 1);
		SELECT dr_create_restore_point('rp_after_update');
		-- an entry as 1.1's rules journalled it, which the flush sets aside
		-- (dr_event_rejects, 1.2)
		SELECT dr_journal_append(jsonb_build_object(
		    'occurred_at', clock_timestamp(), 'event_type', 'DR_INITIATED',
		    'system_identifier', (SELECT system_identifier FROM pg_control_system()),
		    'details', '{"level": "x"}'::jsonb));
		SELECT dr_standby_set('upg_standby', 'eu-west', 'dr');
	});
	wait_ok($primary, 'SELECT count(*) FROM dr_event_rejects', '1', 30,
		'the worker set the bad journal entry aside');
}
wait_ok($primary, "SELECT count(*) > 0 AND bool_and(status = 'failed') FROM dr_outbox WHERE channel = 'ops'",
	't', 60, 'the notifier has tried (and failed) the deliveries');

my $config = dumped_config($primary, 'postgres');
my $tables = ext_tables($primary, 'postgres');
for my $t (sort keys %$tables)
{
	ok(exists $config->{$t} || exists $not_dumped{$t},
		"table $t is registered with pg_extension_config_dump (or listed as not dumped)");
}
is(join(' ', grep { !exists $config->{$_} } map { "${_}_id_seq" } grep { exists $config->{$_} && grep { $_ eq 'id' } @{ $tables->{$_} } } sort keys %$tables),
	'', 'the id sequence of every dumped table is dumped too');
my %dumped_tables = map { $_ => $tables->{$_} } grep { $tables->{$_} } keys %$config;
all_tables_have_rows('source', table_rows($primary, 'postgres', \%dumped_tables, $config));

# Hashes and pg_dump in one snapshot (the worker keeps writing)
my $session = $primary->background_psql('postgres');
$session->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
my $snapshot = $session->query_safe('SELECT pg_export_snapshot()');
my %source;
for my $t (sort keys %dumped_tables)
{
	$source{$t} = $session->query_safe(rows_sql($t, $dumped_tables{$t}, $config->{$t}));
}
my %source_max;
for my $t (grep { exists $config->{"${_}_id_seq"} } sort keys %dumped_tables)
{
	$source_max{$t} = $session->query_safe("SELECT coalesce(max(id), 0) FROM $t");
}
my $dump = "$tmp/postgres.dump";
run_ok('pg_dump -Fc of the worker database', "$pg_bin/pg_dump", '-Fc', "--snapshot=$snapshot",
	'-f', $dump, '-d', $primary->connstr('postgres'));
$session->query_safe('COMMIT');
$session->quit;

$restore->safe_psql('postgres', 'CREATE DATABASE restored');
my (undef, undef, $restore_err) = run_ok('pg_restore into a fresh server: no error',
	"$pg_bin/pg_restore", '-d', $restore->connstr('restored'), $dump);
is($restore->safe_psql('restored', "SELECT extversion FROM pg_extension WHERE extname = 'tensafe_dr'"),
	$default, "restored at version $default");
my $outbox_pending = $restore->safe_psql('restored', "SELECT count(*) FROM dr_outbox WHERE status = 'pending'");
compare_rows('restored', table_rows($restore, 'restored', \%dumped_tables, $config), \%source,
	'restored', 'source (pg_dump snapshot)');
is($outbox_pending, '0', 'the restore queued no notification for restored events');
# the event counters come with the dump (compared row by row above), and
# the restored events were not counted again on top of them
ok(exists $dumped_tables{dr_event_counters}, 'dr_event_counters is dumped and compared');
is($restore->safe_psql('restored', q{
	SELECT count(*) FROM (SELECT event_type, count(*) AS n FROM dr_event_log GROUP BY 1) l
	  FULL JOIN dr_event_totals t USING (event_type) WHERE t.events IS DISTINCT FROM l.n}),
	'0', 'restored counters: each type exactly its restored events (nothing pruned), not doubled');
is($restore->safe_psql('restored', "SELECT secret FROM dr_webhooks WHERE name = 'ops'"),
	'secret-ops-src-0123456789', 'webhook secrets are configuration: restored');
is($restore->safe_psql('restored', "SELECT channel || ' ' || response_time FROM dr_escalation_policy WHERE level = 1"),
	'ops 00:10:00', 'a changed seeded row (escalation level 1) is restored, not the default');
is($restore->safe_psql('restored', "SELECT count(*) FROM dr_notifications WHERE status = 'failed'"),
	$primary->safe_psql('postgres', "SELECT count(*) FROM dr_outbox WHERE status = 'failed'"),
	'the notification history is restored');

for my $t (sort keys %source_max)
{
	my $next = $restore->safe_psql('restored', "SELECT nextval('${t}_id_seq')");
	cmp_ok($next, '>', $source_max{$t}, "sequence of $t continues after the restored ids");
}
my $new_event = $restore->safe_psql('restored', "SELECT dr_record_event('AFTER_RESTORE', '{}')");
cmp_ok($new_event, '>', $source_max{dr_event_log}, 'a new event gets a higher id than the restored ones');
is($restore->safe_psql('restored', "SELECT count(*) FROM dr_outbox WHERE status = 'pending' AND event_id = $new_event"),
	'1', 'a new event is queued for the restored webhook channel');
is($restore->safe_psql('restored', 'SELECT role FROM dr_status()'), 'primary', 'dr_status() in the restored database');
is($restore->safe_psql('restored',
	"SELECT string_agg(kind || '=' || frequency, ',' ORDER BY kind) FROM dr_drill_kinds WHERE kind IN ('tabletop', 'restore_test')"),
	'restore_test=7 days,tabletop=14 days', 'the drill schedule configuration is restored');

# The same dump as the worker's own database on the fresh server: the worker
# picks it up.
$restore->safe_psql('postgres', 'DROP EXTENSION tensafe_dr');
run_ok('pg_restore into the worker database: no error', "$pg_bin/pg_restore",
	'-d', $restore->connstr('postgres'), $dump);
my $restored_at = $restore->safe_psql('postgres', 'SELECT clock_timestamp()');
wait_ok($restore, "SELECT count(*) > 0 FROM dr_wal_positions WHERE sampled_at > '$restored_at'", 't', 60,
	'the worker samples into the restored database');
ok(worker_pid($restore) > 0, 'the worker runs on the restored server');
cmp_ok($restore->safe_psql('postgres', "SELECT dr_record_event('AFTER_RESTORE', '{}')"), '>',
	$source_max{dr_event_log}, 'a new event in the restored worker database gets a higher id');

# A dump without the secrets' table: the channels are gone after the
# restore, so the escalation levels that name them fail their foreign key
# (that table keeps its defaults); everything else is restored.
{
	my $file = "$tmp/nosecrets.dump";
	run_ok('pg_dump --exclude-table-data=dr_webhooks', "$pg_bin/pg_dump", '-Fc',
		'--exclude-table-data=dr_webhooks', '-f', $file, '-d', $primary->connstr('postgres'));
	$restore->safe_psql('postgres', 'CREATE DATABASE nosecrets');
	my ($out, $err);
	my $ok = IPC::Run::run([ "$pg_bin/pg_restore", '-d', $restore->connstr('nosecrets'), $file ],
		'>', \$out, '2>', \$err);
	ok(!$ok, 'restore without dr_webhooks reports an error');
	like($err, qr/COPY failed for table "dr_escalation_policy".*foreign key/s, '... the escalation channels\' foreign key');
	is($restore->safe_psql('nosecrets', 'SELECT count(*) FROM dr_webhooks'), '0', '... no channel, no secret');
	is($restore->safe_psql('nosecrets', 'SELECT count(*) FROM dr_escalation_policy WHERE channel IS NOT NULL'), '0',
		'... the escalation policy keeps its defaults');
	my ($events) = $source{dr_event_log} =~ /^(\d+) rows/;
	cmp_ok($restore->safe_psql('nosecrets', 'SELECT count(*) FROM dr_event_log'), '>=', $events,
		'... the history is restored');
}

# pg_dump as a dr_admin login: everything, secrets included.
$primary->safe_psql('postgres', 'CREATE ROLE dump_admin LOGIN IN ROLE dr_admin');
{
	my (undef, $out) = run_ok('pg_dump as a dr_admin login', "$pg_bin/pg_dump",
		'-d', $primary->connstr('postgres') . ' user=dump_admin');
	like($out // '', qr/secret-ops-src-0123456789/, '... writes the webhook secrets');
	like($out // '', qr/COPY public\.dr_outbox /, '... and the notification history');
}

# pg_dump as a dr_monitor login: the secrets are not readable, so a plain
# dump fails; without the secrets' table (and the outbox, dr_admin's) it works.
$primary->safe_psql('postgres', 'CREATE ROLE watcher LOGIN IN ROLE dr_monitor');
{
	my ($out, $err);
	my $ok = IPC::Run::run([ "$pg_bin/pg_dump", '-d', $primary->connstr('postgres') . ' user=watcher' ],
		'>', \$out, '2>', \$err);
	ok(!$ok, 'pg_dump as dr_monitor fails');
	like($err, qr/permission denied for table dr_webhooks/, '... on the webhook secrets');
	unlike($out // '', qr/secret-ops-src/, '... without writing a secret');
	($out, $err) = ('', '');
	$ok = IPC::Run::run([ "$pg_bin/pg_dump", '--exclude-table-data=dr_webhooks', '--exclude-table-data=dr_outbox',
		'-d', $primary->connstr('postgres') . ' user=watcher' ], '>', \$out, '2>', \$err);
	ok($ok, 'pg_dump as dr_monitor without dr_webhooks and dr_outbox data works') or diag($err);
	unlike($out, qr/secret-ops-src/, '... and holds no secret');
	like($out, qr/TEST_src/, '... but the event history');
}

done_testing();
