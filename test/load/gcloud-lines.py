"""gcloud's own command-line checks for many command lines in one interpreter.

Each gcloud process spends about a second of CPU building its command tree; gcloud's CLI object is
made to execute one command line after another (its own tests do), so it is built once here.
Usage: python3 -S gcloud-lines.py GCLOUD_ROOT < lines.json, where lines.json is a list of argument
lists (the words after `gcloud`). Prints a JSON list, one {"code", "stderr"} per line: the exit
status `gcloud ARGS` would have (2 for a command line its parser refuses) and what it wrote to stderr.
"""
import json
import os
import sys
import tempfile

ROOT = sys.argv[1]
sys.path.insert(0, os.path.join(ROOT, 'lib'))
import gcloud  # noqa: E402  lib/gcloud.py: puts gcloud's vendored packages first on sys.path

sys.path = gcloud.reorder_sys_path(sys.path)
gcloud._fix_google_module()
gcloud_main = gcloud._import_gcloud_main()
from googlecloudsdk.core.credentials import creds_context_managers  # noqa: E402

lines = json.load(sys.stdin)
cli = gcloud_main.CreateCLI([])
saved_out, saved_err = os.dup(1), os.dup(2)
results = []
for args in lines:
    with tempfile.TemporaryFile() as err, open(os.devnull, 'w') as null:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(null.fileno(), 1)
        os.dup2(err.fileno(), 2)
        code = 0
        try:
            with creds_context_managers.CredentialProvidersManager(None):
                result = cli.Execute(args)
                if result is not None and not isinstance(result, (str, bytes, dict)):
                    for _ in result:
                        pass
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except BaseException as error:  # pylint: disable=broad-except
            code = 1
            sys.stderr.write('{}: {}\n'.format(type(error).__name__, error))
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
        err.seek(0)
        results.append({'code': code, 'stderr': err.read().decode('utf-8', 'replace')})
sys.stdout.write(json.dumps(results) + '\n')
