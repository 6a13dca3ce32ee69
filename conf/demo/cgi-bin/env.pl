#!/usr/bin/perl
# env.pl -- a CGI/1.1 example in Perl, run by execd.
#
# Answers text/plain: every environment variable execd set, sorted, then
# the request body's size.  Tests use it to check the meta-variables
# (QUERY_STRING, PATH_INFO, HTTP_*, the absent HTTP_PROXY ...).
use strict;
use warnings;

binmode STDIN;
my ($bytes, $buf) = (0, '');
while (my $n = read(STDIN, $buf, 65536)) {
    $bytes += $n;
}

print "Content-Type: text/plain; charset=utf-8\r\n\r\n";
for my $name (sort keys %ENV) {
    print "$name=$ENV{$name}\n";
}
print "body-bytes: $bytes\n";
