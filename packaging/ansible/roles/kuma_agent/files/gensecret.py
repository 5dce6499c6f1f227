"""Writes one new cluster secret on the control node, never over an existing file.

    gensecret.py keyring PATH   a gossip keyring: one random 32-byte key, base64, in the
                                JSON list form the agent itself writes its keyring file in
                                (so the file the play places stays equal to the agent's
                                after a rotation, and re-running changes nothing)
    gensecret.py password PATH  the NATS route password: 24 random bytes as hex (the
                                README's `openssl rand -hex 24`)

The file is created with mode 0600 whatever the umask (O_EXCL: an existing secret is
never replaced; the play runs this only when the file is missing).
"""
import base64
import json
import os
import sys


def main(argv):
    if len(argv) != 3 or argv[1] not in ("keyring", "password"):
        sys.stderr.write("usage: gensecret.py keyring|password PATH\n")
        return 2
    kind, path = argv[1], argv[2]
    if kind == "keyring":
        data = json.dumps([base64.b64encode(os.urandom(32)).decode("ascii")], indent=2)
    else:
        data = os.urandom(24).hex() + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
