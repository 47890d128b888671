"""``python -m gpugrad.as_torch [-m module | -c code | script.py] [args...]``: run a PyTorch
program with gpugrad standing in for torch, as ``python`` would run it (``__main__``,
``sys.argv``, ``sys.path[0]``, ``__file__``, tracebacks that start in the script)."""

from __future__ import annotations

import builtins
import importlib.machinery
import os
import runpy
import sys
import types
import zipfile

from . import install
from .alias import gpugrad_name, is_torch_name

USAGE = "usage: python -m gpugrad.as_torch [-m module | -c code | script.py] [args ...]"


def _report(exc: BaseException, skip: set[str]) -> None:
    """Print ``exc`` through sys.excepthook without the runner's own frames, as python does."""
    tb = exc.__traceback__
    while tb is not None and (
        tb.tb_frame.f_code.co_filename in skip
        or tb.tb_frame.f_code.co_filename.startswith("<frozen runpy")
    ):
        tb = tb.tb_next
    if tb is not None:  # the default hook prints exc.__traceback__, whatever it is given
        exc.__traceback__ = tb
    sys.excepthook(type(exc), exc, exc.__traceback__)


def _run_script(path: str) -> None:
    """Run a file as ``python path`` does: a fresh ``__main__`` that stays registered after
    the script ends (atexit handlers and pickling of its classes find it), its directory
    first on sys.path, ``__file__`` absolute, ``sys.argv[0]`` as given."""
    sys.path[0] = os.path.dirname(path)
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec")
    main_module = types.ModuleType("__main__")
    main_module.__file__ = path
    main_module.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    main_module.__builtins__ = builtins
    sys.modules["__main__"] = main_module
    exec(code, main_module.__dict__)


def _spawned_children_run_as_torch(main: str) -> None:
    """Children started with 'spawn' / 'forkserver' re-import ``__main__``: they do it through
    spawned_main, which installs the alias first (``main`` is what it then runs)."""
    from multiprocessing import spawn

    from .spawned_main import ENV

    os.environ[ENV] = main  # children inherit the environment
    plain = spawn.get_preparation_data

    def get_preparation_data(name: str) -> dict:
        data = plain(name)
        data.pop("init_main_from_path", None)
        data["init_main_from_name"] = "gpugrad.as_torch.spawned_main"
        return data

    spawn.get_preparation_data = get_preparation_data


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] in ("-m", "-c") and len(argv) < 2:
        print(f"Argument expected for the {argv[0]} option\n{USAGE}", file=sys.stderr)
        return 2
    install()
    skip = {main.__code__.co_filename, runpy.__file__}
    try:
        if argv[0] == "-m":
            module, args = argv[1], argv[2:]
            if is_torch_name(module):  # -m torch.utils.collect_env: gpugrad's own module
                module = gpugrad_name(module)
                if module == "gpugrad.distributed.run":  # torchrun: its ranks run as torch too
                    args = ["--as-torch", *args]
            sys.argv = [module, *args]  # run_module puts the module's file in argv[0]
            _spawned_children_run_as_torch(f"module:{module}")
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        elif argv[0] == "-c":
            sys.argv = ["-c", *argv[2:]]
            _spawned_children_run_as_torch("")
            sys.path[0] = ""
            main_module = types.ModuleType("__main__")
            sys.modules["__main__"] = main_module  # the code's own, as under python -c
            exec(compile(argv[1], "<string>", "exec"), main_module.__dict__)
        else:
            script = argv[0]
            if not os.path.exists(script):
                print(
                    f"{sys.executable}: can't open file {os.path.abspath(script)!r}: "
                    "[Errno 2] No such file or directory",
                    file=sys.stderr,
                )
                return 2
            sys.argv = list(argv)
            _spawned_children_run_as_torch(f"path:{os.path.abspath(script)}")
            if os.path.isdir(script) or zipfile.is_zipfile(script):
                runpy.run_path(script, run_name="__main__")  # its __main__.py, path put first
            else:
                _run_script(os.path.abspath(script))
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - reported as python reports an uncaught one
        if isinstance(e, KeyboardInterrupt):
            raise
        _report(e, skip)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
