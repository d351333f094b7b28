#!/usr/bin/perl
# drkit SRA entry point. SRM runs "perl command.pl" with no arguments and the request XML on
# stdin; this shim hands stdin unchanged to "python -m sra" and returns its exit code.
#
# Two layouts:
# - packaged ("drkit sra package"): command.pl at the SRA folder's root, beside sra/ and lib/.
#   Python runs with -S and PYTHONPATH=<folder>:<folder>/lib only, so nothing installed on the
#   machine is used but the interpreter and its standard library.
# - checkout: command.pl in <repo>/sra/; the repository root goes on PYTHONPATH.
# Interpreter: $DRKIT_PYTHON, else a .venv in the root (bin/python or Scripts\python.exe), else
# python3 on the PATH.
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Spec;
use Cwd qw(abs_path);

my $here = dirname(abs_path(__FILE__));
my $packaged = -d File::Spec->catdir($here, 'lib') && -d File::Spec->catdir($here, 'sra');
my $root = $packaged ? $here : abs_path(File::Spec->catdir($here, File::Spec->updir()));
my $python = $ENV{DRKIT_PYTHON};
if (!defined $python || $python eq '') {
    my $venv = File::Spec->catfile($root, '.venv', 'bin', 'python');
    my $venv_win = File::Spec->catfile($root, '.venv', 'Scripts', 'python.exe');
    $python = -x $venv ? $venv : -e $venv_win ? $venv_win : 'python3';
}
my $sep = $^O eq 'MSWin32' ? ';' : ':';
my @args = ('-m', 'sra');
if ($packaged) {
    $ENV{PYTHONPATH} = $root . $sep . File::Spec->catdir($root, 'lib');
    unshift @args, '-S';
} else {
    $ENV{PYTHONPATH} = defined $ENV{PYTHONPATH} && $ENV{PYTHONPATH} ne ''
        ? $root . $sep . $ENV{PYTHONPATH} : $root;
}
# stdin is inherited unchanged by the child.
my $rc = system { $python } $python, @args;
if ($rc == -1) {
    print STDERR "drkit SRA: cannot run $python: $!\n";
    exit 127;
}
exit($rc & 127 ? 128 + ($rc & 127) : $rc >> 8);
