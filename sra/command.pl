#!/usr/bin/perl
# drkit SRA entry point. SRM runs "perl command.pl" with no arguments and the request XML on
# stdin; this shim hands stdin unchanged to "python -m sra" and returns its exit code.
# Interpreter: $DRKIT_PYTHON, else the venv beside the repository (../.venv/bin/python relative
# to this file), else python3 on the PATH. The repository root goes on PYTHONPATH so that the
# "sra" package is importable wherever SRM installed it.
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Spec;
use Cwd qw(abs_path);

my $here = dirname(abs_path(__FILE__));
my $root = abs_path(File::Spec->catdir($here, File::Spec->updir()));
my $python = $ENV{DRKIT_PYTHON};
if (!defined $python || $python eq '') {
    my $venv = File::Spec->catfile($root, '.venv', 'bin', 'python');
    my $venv_win = File::Spec->catfile($root, '.venv', 'Scripts', 'python.exe');
    $python = -x $venv ? $venv : -e $venv_win ? $venv_win : 'python3';
}
my $sep = $^O eq 'MSWin32' ? ';' : ':';
$ENV{PYTHONPATH} = defined $ENV{PYTHONPATH} && $ENV{PYTHONPATH} ne ''
    ? $root . $sep . $ENV{PYTHONPATH} : $root;
# stdin is inherited unchanged by the child.
my $rc = system { $python } $python, '-m', 'sra';
if ($rc == -1) {
    print STDERR "drkit SRA: cannot run $python: $!\n";
    exit 127;
}
exit($rc & 127 ? 128 + ($rc & 127) : $rc >> 8);
