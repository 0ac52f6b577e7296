"""Runs the code blocks of one markdown file in order (the docs test starts it; stdlib only).

``python docrun.py PLAN RESULT``: PLAN is JSON ``{"file": path, "blocks": [{"line", "lang",
"code", "action"}, ...]}``. Python blocks run in one module namespace, shared like notebook
cells, compiled with the markdown file's name and line numbers so a traceback points into the
guide. Bash blocks run with ``bash -c`` (``set -eo pipefail`` first) in the current directory.
At the first failure the block's line and error go to RESULT (JSON) and the process exits 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
import types


def _fail(result: str, block: dict, error: str) -> None:
    with open(result, "w", encoding="utf-8") as f:
        json.dump({"line": block["line"], "lang": block["lang"], "error": error}, f)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


def main(plan_path: str, result: str) -> None:
    with open(plan_path, encoding="utf-8") as f:
        plan = json.load(f)
    md = plan["file"]
    # a user's script sees its own folder first, not this harness's
    sys.path[0] = os.getcwd()
    module = types.ModuleType("__main__")
    module.__file__ = md
    sys.modules["__main__"] = module
    for block in plan["blocks"]:
        print(f"--- {os.path.basename(md)}:{block['line']} ({block['lang']})", file=sys.stderr,
              flush=True)
        if block["action"] == "python":
            # pad so that line numbers in tracebacks are the markdown file's
            source = "\n" * (block["line"] - 1) + block["code"]
            try:
                exec(compile(source, md, "exec"), module.__dict__)
            except BaseException as e:  # SystemExit too: a guide's block must not exit
                tb = e.__traceback__.tb_next if e.__traceback__ else None  # not this frame
                _fail(result, block, "".join(traceback.format_exception(type(e), e, tb)))
        else:
            sys.stdout.flush()
            sys.stderr.flush()
            try:
                run = subprocess.run(["bash", "-c", "set -eo pipefail\n" + block["code"]],
                                     capture_output=True, text=True, timeout=120, check=False,
                                     stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                _fail(result, block, "the bash block did not finish within 120 s")
            sys.stdout.write(run.stdout)
            sys.stderr.write(run.stderr)
            if run.returncode != 0:
                _fail(result, block, f"bash exited with {run.returncode}\n--- stdout ---\n"
                      f"{run.stdout[-2000:]}\n--- stderr ---\n{run.stderr[-3000:]}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
