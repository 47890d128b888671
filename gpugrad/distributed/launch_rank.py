"""One rank's entry point under ``gpugrad.distributed.run``: MPI first, then the script.

MPI is initialised before the script runs so that any uncaught error, even one raised
before ``init_process_group``, prints its traceback and aborts the whole job (MPI_Abort):
a rank that exits otherwise leaves the others waiting in their next collective.
"""

from __future__ import annotations

import runpy
import sys
import time
import traceback


def _abort(MPI, code: int) -> None:  # noqa: N803 - the module's own name
    sys.stdout.flush()
    sys.stderr.flush()
    # mpiexec forwards each rank's output through its proxy, and Abort kills the job at
    # once: a moment lets the proxy pass the traceback on before it goes
    time.sleep(0.3)
    MPI.COMM_WORLD.Abort(code)


def main(argv: list[str]) -> None:
    from .mpi_engine import load_mpi

    MPI = load_mpi()  # noqa: N806
    module = argv[0] == "-m"
    target, args = (argv[1], argv[2:]) if module else (argv[0], argv[1:])
    sys.argv = [target, *args]
    try:
        if module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            sys.path.insert(0, str(__import__("pathlib").Path(target).resolve().parent))
            runpy.run_path(target, run_name="__main__")
    except SystemExit as e:
        code = e.code
        if code not in (None, 0):
            if not isinstance(code, int):
                print(code, file=sys.stderr)
                code = 1
            rank = MPI.COMM_WORLD.Get_rank()
            print(f"gpugrad.distributed.run: rank {rank} exited with {code}", file=sys.stderr)
            _abort(MPI, code)
    except BaseException as e:
        traceback.print_exc()
        rank = MPI.COMM_WORLD.Get_rank()
        print(
            f"gpugrad.distributed.run: rank {rank} failed ({type(e).__name__}); ending the job",
            file=sys.stderr,
        )
        _abort(MPI, 1)


if __name__ == "__main__":
    main(sys.argv[1:])
