"""The command lines' wing: what ``python -m runtime.predict``, ``runtime.verify`` and
``runtime.batch`` (and the ``train`` and ``export`` command lines) share, apart from the
library they call.

- ``args``: the one-line parser, the exit statuses and ``run_main``, which turns every
  error into one line on standard error and its status;
- ``interrupts``: a signal ends ``runtime.predict`` quietly, leaving no temporary file;
- ``streams``: standard input, the progress line, native libraries' stderr held quiet;
- ``output``: where results go: standard output, or a file written atomically;
- ``formats``: the text, csv and jsonl renderings of counts.
"""
