#!/usr/bin/python3
"""faultsmtp - a small SMTP server that misbehaves on purpose.

For labmail's integration tests: each mode plays one way a real server
can answer (or fail to).  Loopback only; standard library only.

    faultsmtp.py --port 0 --mode ok [--save DIR]

prints "ready PORT" once listening, then serves until killed.

Modes:
  ok             a correct server: accepts everything, queues as ABC123
  greet421       says 421 instead of 220 and hangs up
  rcpt550        550 5.1.1 on every RCPT
  rcpt550-first  550 5.1.1 on the first RCPT of a transaction only
  rcpt550-long   550 on every RCPT, in the longest reply a client takes:
                 64 lines of 4,010 octets, mostly "<"
  data552        552 5.3.4 after the final "."
  close          hangs up after reading MAIL FROM, without a reply
  closedot       reads the whole message, then hangs up without a reply
  shortid        a correct server whose queue id is "2", as in "250"
  garbage        answers EHLO with a line that is no SMTP reply
  silent         accepts the connection and never says a word
  size100        advertises SIZE 100 (and enforces it)
  noehlo         500 to EHLO, accepts HELO
  noquit         a correct server that never answers QUIT
"""

import argparse
import itertools
import os
import socket
import socketserver
import sys
import threading

MODES = ("ok", "greet421", "rcpt550", "rcpt550-first", "rcpt550-long",
         "data552", "close", "silent", "size100", "noehlo", "noquit", "closedot", "shortid", "garbage")
LOOPBACK = "127.0.0.1"
LINE_MAX = 65536        # bytes per line we read; more is a client bug
QUEUE_ID = "ABC123"


class Handler(socketserver.StreamRequestHandler):
    """One SMTP connection, played according to the server's mode."""

    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def readline(self):
        """One line as bytes with its line end, or b"" at end of file."""
        return self.rfile.readline(LINE_MAX)

    def handle(self):
        mode = self.server.mode
        if mode == "silent":
            while self.rfile.read(4096):        # until the client leaves
                pass
            return
        if mode == "greet421":
            self.reply("421 4.3.2 faultsmtp: service not available")
            return
        self.reply("220 localhost ESMTP faultsmtp")
        self.mail_from = None
        self.rcpts = 0
        self.rcpt_seen = 0
        while True:
            line = self.readline()
            if not line:
                return
            words = line.decode("utf-8", "replace").rstrip("\r\n").split(" ", 1)
            verb = words[0].upper()
            arg = words[1] if len(words) > 1 else ""
            if verb == "QUIT" and mode == "noquit":
                continue                # until the client leaves
            if verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            if self.command(verb, arg) is False:
                return

    def command(self, verb, arg):
        """Answer one command; False to hang up."""
        mode = self.server.mode
        if verb == "EHLO":
            if mode == "garbage":
                self.reply("HTTP/1.1 400 Bad Request")
                return None
            if mode == "noehlo":
                self.reply("500 5.5.2 Error: command not recognized")
                return None
            size = 100 if mode == "size100" else 10240000
            self.reply("250-localhost\r\n250-PIPELINING\r\n"
                       f"250-SIZE {size}\r\n250-8BITMIME\r\n250 SMTPUTF8")
        elif verb == "HELO":
            self.reply("250 localhost")
        elif verb == "MAIL":
            if mode == "close":
                return False
            self.mail_from = arg
            self.rcpts = self.rcpt_seen = 0
            self.reply("250 2.1.0 Ok")
        elif verb == "RCPT":
            if self.mail_from is None:
                self.reply("503 5.5.1 Error: need MAIL command")
                return None
            self.rcpt_seen += 1
            if mode == "rcpt550" or (mode == "rcpt550-first" and
                                     self.rcpt_seen == 1):
                self.reply(f"550 5.1.1 {arg[3:]}: Recipient address "
                           "rejected: User unknown in local recipient table")
                return None
            if mode == "rcpt550-long":
                line = "5.1.1 " + "<" * 4000
                self.reply("\r\n".join(["550-" + line] * 63 +
                                        ["550 " + line]))
                return None
            self.rcpts += 1
            self.reply("250 2.1.5 Ok")
        elif verb == "DATA":
            if self.rcpts == 0:
                self.reply("554 5.5.1 Error: no valid recipients")
                return None
            self.reply("354 End data with <CR><LF>.<CR><LF>")
            return self.data()
        elif verb == "RSET":
            self.mail_from = None
            self.reply("250 2.0.0 Ok")
        elif verb == "NOOP":
            self.reply("250 2.0.0 Ok")
        else:
            self.reply("502 5.5.2 Error: command not recognized")
        return None

    def data(self):
        """Read the message up to the "." line and answer it."""
        raw = bytearray()
        while True:
            line = self.readline()
            if not line:
                return False
            raw += line
            if line in (b".\r\n", b".\n"):
                break
        self.mail_from = None
        if self.server.save_dir is not None:
            self.server.save(bytes(raw))
        size = len(raw) - 3
        if self.server.mode == "closedot":
            return False
        if self.server.mode == "data552" or (
                self.server.mode == "size100" and size > 100):
            self.reply("552 5.3.4 Message too big")
        else:
            qid = "2" if self.server.mode == "shortid" else QUEUE_ID
            self.reply(f"250 2.0.0 Ok: queued as {qid}")
        return None


class Server(socketserver.ThreadingTCPServer):
    """Serves each connection on a thread of its own."""

    allow_reuse_address = True
    daemon_threads = True
    # socketserver's default backlog is 5: a burst of connections (the
    # concurrency tests open 70 at once) would overflow it, and the
    # kernel then retries the handshakes for seconds.
    request_queue_size = socket.SOMAXCONN

    def __init__(self, host, port, mode, save_dir):
        super().__init__((host, port), Handler)
        self.mode = mode
        self.save_dir = save_dir
        self.counter = itertools.count(1)
        self.lock = threading.Lock()

    def save(self, raw):
        """Keep a message as received on the wire, dots still doubled."""
        with self.lock:
            n = next(self.counter)
        path = os.path.join(self.save_dir, f"msg-{n}.eml")
        with open(path, "wb") as f:
            f.write(raw)


def main():
    p = argparse.ArgumentParser(description="fault-injecting SMTP server")
    p.add_argument("--port", type=int, required=True, help="0: any free port")
    p.add_argument("--mode", choices=MODES, required=True)
    p.add_argument("--host", default=LOOPBACK)
    p.add_argument("--save", metavar="DIR", help="write each message here")
    args = p.parse_args()
    # A test server that accepts anything must never be reachable from
    # the network: an open relay of test mail at best.
    if args.host != LOOPBACK:
        p.error(f"only {LOOPBACK} is allowed for --host")
    if args.save is not None and not os.path.isdir(args.save):
        p.error(f"--save: {args.save} is not a directory")
    server = Server(args.host, args.port, args.mode, args.save)
    print(f"ready {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
