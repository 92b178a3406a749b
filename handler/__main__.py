import sys

from handler import log

# stdout carries the command's JSON records, one per file; a log line (such as the one "metric-fallback"
# warning, logged when the quality modules are imported) goes to stderr, so it is set before they are.
log.use_stream(sys.stderr)

from handler.cli import main  # noqa: E402

sys.exit(main())
