"""The command line of the benchmark scripts: their own options, then `--` and the
arguments every agent they start gets (argparse alone would refuse those)."""
import sys


def split(argv=None):
    """(the script's own arguments, the agents' arguments after `--`)."""
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        return argv, []
    at = argv.index("--")
    return argv[:at], argv[at + 1:]
