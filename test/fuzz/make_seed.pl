#!/usr/bin/perl
# make_seed.pl MANIFEST NFILES [v2] > seed
# A smaller, still valid manifest from a real one: its first NFILES file
# entries, its WAL ranges, and a recomputed Manifest-Checksum.  With "v2",
# a version 2 manifest (System-Identifier, and the first path as
# Encoded-Path), as PostgreSQL 17 writes.
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);

my ($path, $n, $v2) = @ARGV;
open my $fh, '<', $path or die "$path: $!";
my @lines = <$fh>;
close $fh;
my (@files, @rest);
my $in_files = 0;
for my $l (@lines)
{
	if ($l =~ /^"Files": \[/) { $in_files = 1; next; }
	if ($in_files && $l =~ /^\{ "Path"/) { push @files, $l; next; }
	if ($in_files && $l =~ /^\],/) { $in_files = 0; next; }
	push @rest, $l unless $in_files;
}
my @keep = @files[0 .. ($n > @files ? $#files : $n - 1)];
s/\},?\n$/},\n/ for @keep;
$keep[-1] =~ s/\},\n$/}\n/;
if ($v2)
{
	$keep[0] =~ s/"Path": "([^"]*)"/'"Encoded-Path": "' . unpack('H*', $1) . '"'/e;
}
my $head = shift @rest;    # { "PostgreSQL-Backup-Manifest-Version": 1,
$head =~ s/Version": 1,/Version": 2,\n"System-Identifier": 7712800303631917663,/ if $v2;
my @tail = grep { !/^"Manifest-Checksum"/ } @rest;
my $body = $head . "\"Files\": [\n" . join('', @keep) . "],\n" . join('', @tail);
print $body, '"Manifest-Checksum": "', sha256_hex($body), "\"}\n";
