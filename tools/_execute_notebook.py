"""Executes a notebook headlessly with nbclient, like `jupyter nbconvert --execute`.

Run with Debian's Python (/usr/bin/python3):

    _execute_notebook.py IN.ipynb OUT.ipynb --kernel NAME [--grace S] [--linger S]

Two differences from plain nbclient, both for the Deno kernel:

* The Deno kernel (2.9.6) sometimes publishes a cell's execute_result a few
  milliseconds after that cell's `idle` status; nbclient stops listening at
  `idle` and drops it. Here each cell keeps listening for --grace seconds.
* nbclient applies `update_display_data` (a bgjobs live panel) only while a
  cell runs. Here updates are applied during the grace periods and for
  --linger seconds after the last cell, so panels show their final state.

The kernel runs in the notebook's directory; timings go to metadata.execution.
"""

import argparse
import asyncio
import os
import queue
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete
from nbclient.util import ensure_async


class LingeringClient(NotebookClient):
    grace_s = 0.05
    linger_s = 1.0

    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        await super()._async_poll_output_msg(parent_msg_id, cell, cell_index)
        await self._drain(self.grace_s, parent_msg_id, cell, cell_index)

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        result = await super().async_execute_cell(cell, cell_index, *args, **kwargs)
        if cell_index == len(self.nb.cells) - 1:
            await self._drain(self.linger_s)
        return result

    async def _drain(self, seconds, parent_msg_id=None, cell=None, cell_index=None):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (remaining := deadline - loop.time()) > 0:
            try:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=remaining))
            except (queue.Empty, asyncio.TimeoutError):
                return
            if parent_msg_id and msg["parent_header"].get("msg_id") == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    pass
            elif msg["msg_type"] == "update_display_data":
                display_id = msg["content"].get("transient", {}).get("display_id")
                if display_id:
                    self._update_display_id(display_id, msg)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--kernel", required=True)
    parser.add_argument("--timeout", type=int, default=180, help="per cell, seconds")
    parser.add_argument("--grace", type=float, default=0.05)
    parser.add_argument("--linger", type=float, default=1.0)
    args = parser.parse_args()

    nb = nbformat.read(args.input, as_version=4)
    client = LingeringClient(
        nb,
        kernel_name=args.kernel,
        timeout=args.timeout,
        allow_errors=True,
        record_timing=True,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(args.input))}},
    )
    client.grace_s, client.linger_s = args.grace, args.linger
    client.execute()
    nbformat.write(nb, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
