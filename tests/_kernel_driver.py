"""Bridge between tests/_kernel.ts and a real Jupyter kernel.

Run with Debian's Python (/usr/bin/python3), which can import jupyter_client.
Starts the kernel named by --kernel (found through JUPYTER_PATH) in --cwd, then
speaks JSON lines:

  stdin  {"op": "execute", "code": str, "stop_on_error": bool}
         {"op": "interrupt", "mode": "frontend" | "message" | "signal"}
                 what a frontend's Interrupt does (the kernelspec's
                 interrupt_mode), an interrupt_request on the control
                 channel, or SIGINT to the kernel's process group
         {"op": "shutdown"}
  stdout {"type": "ready", "t": ms, "kernel_info": {...}}
         {"type": "sent", "t": ms, "msg_id": str}      one per execute, in order
         {"type": "interrupted", "t": ms}              once the interrupt was sent
         {"type": "iopub" | "reply", "t": ms, "msg": {...}}
         {"type": "died", "t": ms, "exit_code": int | None}
         {"type": "error", "message": str}
         {"type": "shutdown", "t": ms}

Every "t" is wall-clock epoch milliseconds taken when the driver sent or
received the message, so Deno's Date.now() is on the same clock. The kernel
dies with this driver (PR_SET_PDEATHSIG), and stdin reaching end-of-file shuts
it down, so a crashed test run leaves no kernel behind.
"""

import argparse
import ctypes
import json
import os
import shutil
import signal
import sys
import time

import zmq
from jupyter_client.manager import KernelManager

PR_SET_PDEATHSIG = 1


def now_ms() -> float:
    return time.time() * 1000


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass  # not glibc Linux: stdin EOF and SIGTERM still shut the kernel down


def plain(msg: dict) -> dict:
    return {
        "header": msg["header"],
        "parent_header": msg["parent_header"],
        "msg_type": msg["header"]["msg_type"],
        "metadata": msg.get("metadata", {}),
        "content": msg["content"],
    }


def exit_code(km: KernelManager):
    process = getattr(km.provisioner, "process", None)
    return process.poll() if process is not None else None


def recv_all(km: KernelManager, sock: zmq.Socket) -> list:
    out = []
    while True:
        try:
            _, msg = km.session.recv(sock, mode=zmq.NOBLOCK)
        except zmq.ZMQError:
            return out
        if msg is None:
            return out
        out.append(msg)


def handshake(km: KernelManager, shell, iopub, timeout_s: float) -> dict:
    """Waits until the kernel answers kernel_info and iopub delivers to us."""
    deadline = time.monotonic() + timeout_s
    poller = zmq.Poller()
    poller.register(shell, zmq.POLLIN)
    poller.register(iopub, zmq.POLLIN)
    info, iopub_seen, ids = None, False, set()
    while time.monotonic() < deadline:
        if not km.is_alive():
            raise RuntimeError(f"kernel exited during start (exit code {exit_code(km)})")
        if info is None or not iopub_seen:
            msg = km.session.msg("kernel_info_request", {})
            ids.add(msg["header"]["msg_id"])
            km.session.send(shell, msg)
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            events = dict(poller.poll(100))
            for msg in recv_all(km, shell) if shell in events else []:
                if msg["parent_header"].get("msg_id") in ids:
                    info = msg["content"]
            for msg in recv_all(km, iopub) if iopub in events else []:
                iopub_seen = True
            if info is not None and iopub_seen:
                # Drain the rest of the handshake's status messages.
                time.sleep(0.05)
                recv_all(km, iopub)
                return info
    raise TimeoutError(f"kernel did not answer kernel_info within {timeout_s} s")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kernel", required=True)
    parser.add_argument("--cwd", required=True)
    parser.add_argument("--start-timeout", type=float, default=60)
    parser.add_argument("--remove-on-exit", help="directory to delete at exit")
    args = parser.parse_args()

    def on_term(signum, frame):
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, on_term)
    km = KernelManager(kernel_name=args.kernel)
    try:
        km.start_kernel(cwd=args.cwd, preexec_fn=die_with_parent)
        shell, iopub = km.connect_shell(), km.connect_iopub()
        info = handshake(km, shell, iopub, args.start_timeout)
        emit({"type": "ready", "t": now_ms(), "kernel_info": info})
        return serve(km, shell, iopub)
    except Exception as error:  # reported to Deno, which fails the test with it
        emit({"type": "error", "message": f"{type(error).__name__}: {error}"})
        return 1
    finally:
        if km.has_kernel:
            try:
                km.shutdown_kernel(now=False)
            except Exception:
                km.shutdown_kernel(now=True)
        if args.remove_on_exit:
            shutil.rmtree(args.remove_on_exit, ignore_errors=True)
        emit({"type": "shutdown", "t": now_ms()})


def serve(km: KernelManager, shell, iopub) -> int:
    poller = zmq.Poller()
    poller.register(shell, zmq.POLLIN)
    poller.register(iopub, zmq.POLLIN)
    poller.register(sys.stdin.fileno(), zmq.POLLIN)
    pending = b""
    control = None
    next_alive_check = 0.0
    while True:
        events = dict(poller.poll(200))
        # iopub first: a cell's output is published before its reply is sent.
        if iopub in events:
            for msg in recv_all(km, iopub):
                emit({"type": "iopub", "t": now_ms(), "msg": plain(msg)})
        if shell in events:
            for msg in recv_all(km, shell):
                emit({"type": "reply", "t": now_ms(), "msg": plain(msg)})
        if sys.stdin.fileno() in events:
            chunk = os.read(sys.stdin.fileno(), 1 << 20)
            if not chunk:
                return 0  # Deno went away: shut down
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if not line.strip():
                    continue
                command = json.loads(line)
                if command["op"] == "shutdown":
                    return 0
                if command["op"] == "interrupt":
                    mode = command.get("mode", "frontend")
                    if mode == "frontend":
                        km.interrupt_kernel()
                    elif mode == "signal":
                        km.signal_kernel(signal.SIGINT)
                    else:
                        control = control or km.connect_control()
                        km.session.send(control, km.session.msg("interrupt_request", {}))
                    emit({"type": "interrupted", "t": now_ms()})
                if command["op"] == "execute":
                    msg = km.session.msg("execute_request", {
                        "code": command["code"],
                        "silent": False,
                        "store_history": True,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": bool(command.get("stop_on_error", False)),
                    })
                    km.session.send(shell, msg)
                    emit({"type": "sent", "t": now_ms(), "msg_id": msg["header"]["msg_id"]})
        if time.monotonic() >= next_alive_check:
            next_alive_check = time.monotonic() + 0.5
            if not km.is_alive():
                emit({"type": "died", "t": now_ms(), "exit_code": exit_code(km)})
                return 1


if __name__ == "__main__":
    sys.exit(main())
