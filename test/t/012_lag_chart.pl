# dr_lag_chart on a real primary + streaming standby:
#   - replay paused under writes makes real lag history (replay_lag past
#     rpo_max, rpo_lag small), an incident is declared and resolved meanwhile;
#   - the chart is well-formed XML (xmllint), renders with librsvg
#     (rsvg-convert) to a PNG of the requested size, and the rendered pixels
#     show the RPO target and max lines at the rows the y scale gives, both
#     series peaking at the rows of the largest lags in dr_lag_history, and
#     the incident band between its declaration and resolution only;
#   - dr_postmortem(incident, true) embeds a chart that renders too;
#   - a dr_monitor member may draw it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Compress::Zlib ();
use MIME::Base64 ();
use DrTest;

for my $tool (qw(xmllint rsvg-convert))
{
	BAIL_OUT("$tool not found: test/setup.sh installs it (libxml2-utils, librsvg2-bin)")
	  unless system("command -v $tool >/dev/null 2>&1") == 0;
}

my $objectives = "tensafe_dr.rpo_target = '4s'\ntensafe_dr.rpo_max = '8s'\n"
  . "tensafe_dr.history_interval = '1s'\n";
my $primary = new_primary('primary', $objectives);
$primary->safe_psql('postgres',
	'CREATE TABLE load (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())');
my $standby = new_standby($primary, 'standby');
my $write = sub { $primary->safe_psql('postgres', 'INSERT INTO load DEFAULT VALUES') };

my $from = $primary->safe_psql('postgres', 'SELECT now()');
my $in_range = "sampled_at >= '$from'";
ok(defined wait_until($primary,
		"SELECT count(*) >= 3 FROM dr_lag_history WHERE $in_range AND standby_name = 'standby'",
		't', 30, $write),
	'the worker samples the standby into dr_lag_history');

###############################################################################
# Real lag: replay paused under writes; an incident declared meanwhile.
###############################################################################
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
ok(defined wait_until($primary,
		"SELECT max(replay_lag) >= '5 s' FROM dr_lag_history WHERE $in_range",
		't', 60, $write),
	'paused replay: replay_lag in the history passes 5 s');
my $title = q{replay stalled <1> & "quoted"};
my $incident = $primary->safe_psql('postgres', "SELECT dr_declare(2, \$t\$$title\$t\$)");
ok(defined wait_until($primary,
		"SELECT max(replay_lag) >= '10 s' FROM dr_lag_history WHERE $in_range",
		't', 60, $write),
	'paused replay: replay_lag in the history passes 10 s (past rpo_max)');
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_resume()');
ok(defined wait_until($primary,
		"SELECT replay_lag < '2 s' FROM dr_lag_history ORDER BY sampled_at DESC LIMIT 1",
		't', 60, $write),
	'resumed: the history shows the standby caught up');
$primary->safe_psql('postgres', "SELECT dr_resolve($incident, 'replay resumed')");
my $resolved_at = $primary->safe_psql('postgres', "SELECT resolved_at FROM dr_incidents WHERE id = $incident");
ok(defined wait_until($primary,
		"SELECT count(*) >= 3 FROM dr_lag_history WHERE sampled_at > '$resolved_at'",
		't', 30, $write),
	'a few samples after the resolution');
my $to = $primary->safe_psql('postgres', 'SELECT now()');

my ($max_rpo, $max_replay, $n_samples, $t_declared, $t_resolved, $t0, $t1) = split /\|/,
  $primary->safe_psql('postgres', qq{
	SELECT extract(epoch FROM max(rpo_lag)), extract(epoch FROM max(replay_lag)), count(*),
	       (SELECT extract(epoch FROM declared_at) FROM dr_incidents WHERE id = $incident),
	       (SELECT extract(epoch FROM resolved_at) FROM dr_incidents WHERE id = $incident),
	       extract(epoch FROM '$from'::timestamptz), extract(epoch FROM '$to'::timestamptz)
	  FROM dr_lag_history WHERE sampled_at BETWEEN '$from' AND '$to'});
cmp_ok($max_replay, '>=', 10, "history: replay_lag peaked at $max_replay s");
cmp_ok($max_rpo, '<', 3, "history: rpo_lag stayed below 3 s (max $max_rpo s): WAL was received");

###############################################################################
# The chart: well-formed, renders, and the pixels are where the data says.
###############################################################################
my ($width, $height) = (800, 400);
my $svg = $primary->safe_psql('postgres',
	"SELECT dr_lag_chart('$from', '$to', $width, $height, 200)");
my $dir = PostgreSQL::Test::Utils::tempdir;
write_file("$dir/chart.svg", $svg);
is(system('xmllint', '--noout', "$dir/chart.svg"), 0, 'xmllint: the chart is well-formed XML');
unlike($svg, qr/<1>|& "/, 'the incident title is not raw markup');
like($svg, qr/replay stalled &lt;1&gt; &amp; &quot;quoted&quot;/, 'the incident title is escaped');
like($svg, qr/class="series rpo-lag" data-standby="standby"/, 'rpo_lag series of the standby');
like($svg, qr/class="series replay-lag" data-standby="standby"/, 'replay_lag series of the standby');
like($svg, qr/RPO target 4s/, 'legend names the RPO target');

is(system('rsvg-convert', '-o', "$dir/chart.png", "$dir/chart.svg"), 0, 'rsvg-convert renders it to PNG');
my $img = read_png("$dir/chart.png");
is("$img->{w}x$img->{h}", "${width}x$height", 'PNG has the requested size');

my %plot;
$svg =~ /<rect id="plot-area" ([^>]*)>/ or die 'no plot-area in the chart';
my $attrs = $1;
$plot{$1} = $2 while $attrs =~ /([\w-]+)="([^"]*)"/g;
my ($px, $py, $pw, $ph, $ymax) = @plot{qw(x y width height data-y-max-seconds)};
note("plot area $px,$py ${pw}x$ph, y axis 0..$ymax s, range $t0..$t1");
my $y_of = sub { $py + $ph * (1 - $_[0] / $ymax) };
my $x_of = sub { $px + $pw * ($_[0] - $t0) / ($t1 - $t0) };

my %color = (
	target => [ 0xe6, 0x9f, 0x00 ],
	max => [ 0xd6, 0x27, 0x28 ],
	rpo => [ 0x1f, 0x77, 0xb4 ],
	replay => [ 0x6b, 0xae, 0xd6 ],
	band => [ 0xfd, 0xe2, 0xe2 ],);

# columns of the plot whose pixels in rows y-2 .. y+1 include the colour
my $line_columns = sub {
	my ($c, $y) = @_;
	my $n = 0;
	for my $x ($px + 1 .. $px + $pw - 2)
	{
		$n++ if grep { is_color($img, $x, $_, $c, 12) } int($y) - 2 .. int($y) + 1;
	}
	return $n;
};
for my $line ([ 'target', 4 ], [ 'max', 8 ])
{
	my ($name, $secs) = @$line;
	my $y = $y_of->($secs);
	my $on = $line_columns->($color{$name}, $y);
	cmp_ok($on, '>=', 0.8 * $pw, sprintf('RPO %s line (%s s) drawn at row %.1f across the plot (%d of %d columns)',
			$name, $secs, $y, $on, $pw));
	my $off = $line_columns->($color{$name}, $y + 12) + $line_columns->($color{$name}, $y - 12);
	cmp_ok($off, '<=', 2, "RPO $name colour absent 12 px above and below ($off columns)");
}

# The series: present, and their highest pixel is at the row of the largest
# lag in dr_lag_history (the line is 2 px wide, antialiased: 3 px slack).
for my $s ([ 'replay', $max_replay ], [ 'rpo', $max_rpo ])
{
	my ($name, $peak) = @$s;
	my ($count, $top) = (0, undef);
	for my $y ($py + 1 .. $py + $ph - 1)
	{
		for my $x ($px + 1 .. $px + $pw - 1)
		{
			next unless is_color($img, $x, $y, $color{$name}, 40);
			$count++;
			$top //= $y;
		}
	}
	cmp_ok($count, '>=', 30, "$name series colour appears in the plot ($count px)");
	my $expect = $y_of->($peak);
	ok(defined $top && abs($top - $expect) <= 3,
		sprintf('%s series peaks at row %s, the row of %.2f s is %.1f', $name, $top // 'none', $peak, $expect));
}

# The incident band: inside [declared, resolved], not outside it.
my ($xd, $xr) = ($x_of->($t_declared), $x_of->($t_resolved));
my $band_in_column = sub {
	my ($x) = @_;
	return scalar grep { is_color($img, int($x), $_, $color{band}, 3) } $py + 1 .. $py + $ph - 1;
};
# Several columns inside the band: a vertical grid line (drawn over the bands)
# may cover any one column from top to bottom, as it did when the middle
# column fell on one (0 px).
my ($mid, $mid_x) = (-1, undef);
for my $f (0.3, 0.4, 0.5, 0.6, 0.7)
{
	my $x = $xd + $f * ($xr - $xd);
	my $n = $band_in_column->($x);
	($mid, $mid_x) = ($n, $x) if $n > $mid;
}
cmp_ok($mid, '>=', 0.5 * $ph, sprintf('incident band shaded between x=%.0f and x=%.0f (%d px in the best of 5 inner columns, x=%.0f)', $xd, $xr, $mid, $mid_x))
  or diag("the chart's incident elements:\n" . join("\n", $svg =~ /(<rect class="incident"[^>]*>)/g)
	. "\nthe chart is kept as " . do { my $keep = "$ENV{TESTDIR}/tmp_check/log/012_lag_chart_failed.svg"; write_file($keep, $svg); $keep });
if ($xd - 8 > $px)
{
	is($band_in_column->($xd - 8), 0, 'no band before the declaration');
}
if ($xr + 8 < $px + $pw)
{
	is($band_in_column->($xr + 8), 0, 'no band after the resolution');
}

###############################################################################
# The post-mortem's chart, and who may draw.
###############################################################################
my $pm = $primary->safe_psql('postgres', "SELECT dr_postmortem($incident, true)");
like($pm, qr/^## Replication Lag$/m, 'post-mortem has a Replication Lag section');
ok($pm =~ m{\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)}, 'post-mortem embeds an SVG data URI');
write_file("$dir/postmortem.svg", MIME::Base64::decode_base64($1 // ''));
is(system('xmllint', '--noout', "$dir/postmortem.svg"), 0, "the post-mortem's chart is well-formed");
is(system('rsvg-convert', '-o', "$dir/postmortem.png", "$dir/postmortem.svg"), 0, "the post-mortem's chart renders");
like(MIME::Base64::decode_base64($1 // ''), qr/class="series replay-lag"/, "the post-mortem's chart has the lag series");
is($primary->safe_psql('postgres', "SELECT dr_postmortem($incident) = dr_postmortem($incident, false)"),
	't', 'dr_postmortem(incident) is the 1.0 text, without chart');

$primary->safe_psql('postgres', 'CREATE ROLE chart_watcher LOGIN IN ROLE dr_monitor');
my ($ret, $out, $err) = $primary->psql('postgres',
	"SELECT length(dr_lag_chart('$from', '$to')) > 1000", extra_params => [ '-U', 'chart_watcher' ]);
is("$ret $out", '0 t', "a dr_monitor member draws the chart $err");

$standby->stop;
$primary->stop;
done_testing();

###############################################################################

sub write_file
{
	my ($path, $text) = @_;
	open my $fh, '>:raw', $path or die "$path: $!";
	print $fh $text;
	close $fh or die "$path: $!";
}

# is_color(img, x, y, [r,g,b], tolerance): every channel within tolerance
sub is_color
{
	my ($img, $x, $y, $c, $tol) = @_;
	return 0 if $x < 0 || $y < 0 || $x >= $img->{w} || $y >= $img->{h};
	my ($r, $g, $b) = unpack('C3', substr($img->{rows}[$y], $x * $img->{bpp}, 3));
	return abs($r - $c->[0]) <= $tol && abs($g - $c->[1]) <= $tol && abs($b - $c->[2]) <= $tol;
}

# read_png(path) -> { w, h, bpp, rows => [ raw RGB(A) row strings ] }
# A minimal decoder (8-bit RGB or RGBA, not interlaced: what rsvg-convert
# writes), so that the test reads pixels without another image library.
sub read_png
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "$path: $!";
	my $data = do { local $/; <$fh> };
	close $fh;
	die "$path is not a PNG" unless substr($data, 0, 8) eq "\x89PNG\r\n\x1a\n";
	my ($pos, $idat, %h) = (8, '');
	while ($pos + 8 <= length $data)
	{
		my ($len, $type) = unpack('N a4', substr($data, $pos, 8));
		my $body = substr($data, $pos + 8, $len);
		$pos += 12 + $len;
		if ($type eq 'IHDR')
		{
			@h{qw(w h depth ctype comp filter interlace)} = unpack('N N C C C C C', $body);
		}
		$idat .= $body if $type eq 'IDAT';
		last if $type eq 'IEND';
	}
	die "unsupported PNG (depth $h{depth}, colour type $h{ctype}, interlace $h{interlace})"
	  unless $h{depth} == 8 && ($h{ctype} == 6 || $h{ctype} == 2) && !$h{interlace};
	my $bpp = $h{ctype} == 6 ? 4 : 3;
	my $raw = Compress::Zlib::uncompress($idat) // die "$path: bad image data";
	my $stride = $h{w} * $bpp;
	my @prev = (0) x $stride;
	my @rows;
	for my $y (0 .. $h{h} - 1)
	{
		my $ft = ord substr($raw, $y * ($stride + 1), 1);
		my @cur = unpack('C*', substr($raw, $y * ($stride + 1) + 1, $stride));
		for my $i (0 .. $stride - 1)
		{
			my $a = $i >= $bpp ? $cur[ $i - $bpp ] : 0;
			my $b = $prev[$i];
			my $c = $i >= $bpp ? $prev[ $i - $bpp ] : 0;
			my $p =
			    $ft == 0 ? 0
			  : $ft == 1 ? $a
			  : $ft == 2 ? $b
			  : $ft == 3 ? ($a + $b) >> 1
			  : paeth($a, $b, $c);
			$cur[$i] = ($cur[$i] + $p) & 255;
		}
		push @rows, pack('C*', @cur);
		@prev = @cur;
	}
	return { w => $h{w}, h => $h{h}, bpp => $bpp, rows => \@rows };
}

sub paeth
{
	my ($a, $b, $c) = @_;
	my $p = $a + $b - $c;
	my ($pa, $pb, $pc) = (abs($p - $a), abs($p - $b), abs($p - $c));
	return $pa <= $pb && $pa <= $pc ? $a : $pb <= $pc ? $b : $c;
}
