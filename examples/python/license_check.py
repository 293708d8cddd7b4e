"""What a Python application does at start-up with the koolicense SDK, through ctypes (no
compiled extension): open the client with the embedded public keys, activate once, then call
kl_is_genuine on every start.

    python3 license_check.py SERVER_URL DATA_DIR KEYS_FILE [CODE [FINGERPRINT]]

With a CODE (not empty) it activates first; FINGERPRINT replaces this machine's.

The library is found through KOOLICENSE_CLIENT_LIB (a path to libkoolicense_client.so), else by
the system's loader. The program prints one line per call and exits with the last status.
"""

import ctypes
import os
import sys

STATUS_OK, STATUS_GRACE = 0, 1


def load():
    lib = ctypes.CDLL(os.environ.get("KOOLICENSE_CLIENT_LIB", "libkoolicense_client.so"))
    c_str, handle = ctypes.c_char_p, ctypes.c_void_p
    signatures = {
        "kl_open": ([c_str, c_str, c_str], handle),
        "kl_open_error": ([], c_str),
        "kl_close": ([handle], None),
        "kl_set_option": ([handle, c_str, c_str], ctypes.c_int),
        "kl_set_fingerprint": ([handle, c_str], ctypes.c_int),
        "kl_activate": ([handle, c_str], ctypes.c_int),
        "kl_is_genuine": ([handle], ctypes.c_int),
        # Returned strings the caller frees are taken as raw pointers, then freed.
        "kl_license_json": ([handle], ctypes.c_void_p),
        "kl_last_error": ([handle], c_str),
        "kl_status_name": ([ctypes.c_int], c_str),
        "kl_string_free": ([ctypes.c_void_p], None),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = argtypes, restype
    return lib


def report(lib, client, call, status):
    line = f"{call} {lib.kl_status_name(status).decode()}"
    if status != STATUS_OK:
        line += f" ({lib.kl_last_error(client).decode()})"
    print(line, flush=True)
    return status


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 16
    server, data_dir, keys_file = argv[1:4]
    lib = load()
    with open(keys_file, "rb") as f:
        keys = f.read()
    client = lib.kl_open(server.encode(), data_dir.encode(), keys)
    if not client:
        print(f"kl_open: {lib.kl_open_error().decode()}", file=sys.stderr)
        return 16
    try:
        lib.kl_set_option(client, b"timeout_ms", b"3000")
        if len(argv) > 5:
            report(lib, client, "kl_set_fingerprint", lib.kl_set_fingerprint(client, argv[5].encode()))
        if len(argv) > 4 and argv[4]:
            activated = report(lib, client, "kl_activate", lib.kl_activate(client, argv[4].encode()))
            if activated != STATUS_OK:
                return activated
        status = report(lib, client, "kl_is_genuine", lib.kl_is_genuine(client))
        payload = lib.kl_license_json(client)
        if payload:
            print("license " + ctypes.string_at(payload).decode(), flush=True)
            lib.kl_string_free(payload)
        return status
    finally:
        lib.kl_close(client)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
